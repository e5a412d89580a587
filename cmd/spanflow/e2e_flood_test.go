package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// burstFlow is the i-th flow of a burst: 198.18.x.y:port → 198.19.0.1:80.
func burstFlow(i int) (src netip.AddrPort, dst netip.AddrPort) {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 198<<24|18<<16|uint32(i/1000+1))
	return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(10000+i%1000)), netip.MustParseAddrPort("198.19.0.1:80")
}

// burstFrames makes packets frames of each of flows UDP flows, the flows
// interleaved (each round sends one packet of every flow).
func burstFrames(t *testing.T, flows, packets int) [][]byte {
	t.Helper()
	var out [][]byte
	for range packets {
		for i := range flows {
			src, dst := burstFlow(i)
			eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
			udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
			udp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				eth, ip, udp, gopacket.Payload(make([]byte, 18))); err != nil {
				t.Fatal(err)
			}
			out = append(out, buf.Bytes())
		}
	}
	return out
}

// TestE2EBurstOfNewFlowsIsHarvestedOnDemand sends, through a veth, a burst
// of 4 × --map-size new flows (twice over), far more than the slot holds,
// with a harvest interval longer than the test: only the datapath's fill
// signal makes spanflow harvest in time. Every packet must be in a full flow
// record — none in an overflow record, none lost — and `show stats` must
// count the harvests on demand. The flow cache holds fewer flows than the
// burst (--max-flows), so it ends a flow for each new one: those records
// must leave with the harvests on demand, not wait for the interval.
func TestE2EBurstOfNewFlowsIsHarvestedOnDemand(t *testing.T) {
	probetest.RequireRoot(t)
	const mapSize, flows, packets, maxFlows = 16384, 4 * 16384, 2, 8192
	s := probetest.NewReplayNet(t)
	bin := spanflowBinary(t)
	var out exportertest.Buffer
	control := e2eControlPath(t)
	cmd := exec.Command(bin, "-i", s.RxName, "--xdp-mode", "native", "--map-size", fmt.Sprint(mapSize),
		"--max-flows", fmt.Sprint(maxFlows),
		"--harvest-interval", "10s", "--print=json", "--classify=false", "--control", control, "--pin-dir", e2ePinDir(t))
	cmd.Stdout = &out
	d := &e2eDaemon{Proc: e2eStart(t, s.Capture, "spanflow", cmd), bin: bin, control: control}
	started := time.Now()
	if !exportertest.Within(15*time.Second, func() bool { _, err := d.show("stats"); return err == nil || !d.Running() }) || !d.Running() {
		t.Fatalf("spanflow not answering within 15 s; its log:\n%s", d.Out.String())
	}
	frames := burstFrames(t, flows, packets)
	// About 50 k new flows a second: a quarter of the slot fills in 80 ms,
	// all of it in 330 ms, far sooner than the 10 s interval, and slowly
	// enough for a harvester that shares this small machine with the
	// sender to flip in time. A new flow at every packet (each round of
	// the flows comes in a later slot than the round before).
	began := time.Now()
	for len(frames) > 0 {
		n := min(len(frames), 1000)
		if err := s.Sender.SendFrames(s.TxName, frames[:n]); err != nil {
			t.Fatal(err)
		}
		frames = frames[n:]
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("sent %d frames in %v", flows*packets, time.Since(began))
	var st struct {
		Packets      map[string]uint64
		FillHarvests uint64
	}
	// The last flows may sit in the slot until the 10 s interval: wait
	// for the harvests the burst asked for, then stop (which drains all).
	exportertest.Within(10*time.Second, func() bool { d.showJSON(t, &st, "stats"); return st.FillHarvests >= flows/mapSize })
	// Each packet was a new flow (its flow's first packet ended long
	// before its second): the cache ended all but maxFlows of them, and
	// all but the last endedLimit (16384) of those must be out already.
	early := strings.Count(out.String(), "\n")
	if time.Since(started) < 10*time.Second && early < flows*packets/2 {
		t.Errorf("%d records printed before the first interval, want ≥ %d: the cache's emergency expiries wait for the tick", early, flows*packets/2)
	}
	if code := d.Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("spanflow exited with %d:\n%s", code, d.Out.String())
	}
	if st.FillHarvests == 0 {
		t.Errorf("no harvest on demand: stats %+v", st)
	}

	got := map[netip.AddrPort]uint64{}
	var overflowed, stray uint64
	for _, r := range jsonLines[flowprint.JSON](t, "spanflow --print=json", []byte(out.String())) {
		switch {
		case r.Overflow:
			overflowed += r.Packets
		case r.Proto == 17 && r.DstAddr == netip.MustParseAddr("198.19.0.1"):
			got[netip.AddrPortFrom(r.SrcAddr, r.SrcPort)] += r.Packets
		default:
			stray += r.Packets // the kernel's own chatter
		}
	}
	missing := 0
	for i := range flows {
		src, _ := burstFlow(i)
		if got[src] != packets {
			missing++
			if missing <= 5 {
				t.Errorf("flow %s: %d packets in flow records, want %d", src, got[src], packets)
			}
		}
	}
	if missing > 0 || overflowed > 0 {
		t.Errorf("%d of %d flows incomplete, %d packets in overflow records (stray %d); harvests on demand %d; log:\n%s",
			missing, flows, overflowed, stray, st.FillHarvests, d.Out.String())
	}
}
