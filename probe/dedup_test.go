package probe

import (
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestXDPDropsDuplicatesAsTheReferenceDoes runs every generated case twice
// in a row — a mirror session that sends each packet twice — through the
// program with a dedup window and through offline mode's FrameSource with
// the same window: the second copy of each accounted packet must be a
// duplicate on both sides, every flow counted once, every other outcome
// counted twice. The cases are first reduced to those whose deduplicated
// bytes are unique, so that no case is a copy of another: the program's
// clock runs in real time, and two cases run microseconds apart.
func TestXDPDropsDuplicatesAsTheReferenceDoes(t *testing.T) {
	// The longest window: the copies run nanoseconds apart unless the
	// test is preempted between them, which must not fail it.
	const window = MaxDedupWindow
	p := openProbe(t, Options{DedupWindow: window})
	source := NewFrameSource(Options{DedupWindow: window})

	distinct := newDeduper(time.Hour)
	var frames [][]byte
	for _, c := range probetest.Cases() {
		if !runnable(c.Frame) {
			continue
		}
		parsed, pay := ParseFramePayload(layers.LinkTypeEthernet, c.Frame)
		if parsed.Reason == bpf.StatAccounted && distinct.duplicate(c.Frame, pay.IPOff, parsed.Key.IpVersion, 0) {
			continue
		}
		frames = append(frames, c.Frame)
	}

	ref := newAggregate()
	at := time.Unix(1_000_000, 0)
	var before Stats
	for _, f := range frames {
		// Both copies in one BPF_PROG_TEST_RUN, nanoseconds apart. An
		// interrupted run may go round once more: the stats say how many
		// copies the program saw, and the reference sees as many.
		if _, err := p.Program().Run(&ebpf.RunOptions{Data: f, Repeat: 2}); err != nil {
			t.Fatal(err)
		}
		after, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		copies := after.Total() - before.Total()
		before = after
		at = at.Add(time.Second) // cases far apart, copies together
		for range copies {
			s := source.Sample(Frame{LinkType: layers.LinkTypeEthernet, Timestamp: at, Data: f})
			if s.Packets > 0 {
				k := s.Key
				k.Ifindex = loIfindex
				ft := ref.Flows[k]
				ft.Packets += s.Packets
				ft.Bytes += s.Bytes
				ft.TCPFlags |= s.TCPFlags
				ref.Flows[k] = ft
			}
		}
	}
	deltas, stats, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	xdp := newAggregate()
	xdp.addDeltas(deltas)
	if diff := cmp.Diff(ref.Flows, xdp.Flows); diff != "" {
		t.Errorf("flows differ (-reference +xdp):\n%s", diff)
	}
	for r := range bpf.StatOutcomes {
		if stats[r].Packets != source.Reasons[r] {
			t.Errorf("outcome %d: xdp %d packets, reference %d", r, stats[r].Packets, source.Reasons[r])
		}
	}
	if dup, acc := stats[bpf.StatDuplicate].Packets, stats[bpf.StatAccounted].Packets; dup < 100 || dup < acc {
		t.Errorf("%d duplicates of %d accounted packets: each accounted case was sent at least twice", dup, acc)
	}
}

// TestDedupWindowEnds: a copy that comes after the window is a packet of
// its own, as a TCP retransmission is.
func TestDedupWindowEnds(t *testing.T) {
	d := newDeduper(time.Millisecond)
	frame := tcpFrame(t, "198.18.0.1", "198.18.0.2", 1000, 80, false, true, 10)
	parsed, pay := ParseFramePayload(layers.LinkTypeEthernet, frame)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, false}, {500 * time.Microsecond, true}, {1 * time.Millisecond, true}, {3 * time.Millisecond, false}, {3500 * time.Microsecond, true}} {
		if got := d.duplicate(frame, pay.IPOff, parsed.Key.IpVersion, int64(tc.at)); got != tc.want {
			t.Errorf("copy at %s: duplicate %v, want %v", tc.at, got, tc.want)
		}
	}
	// The same packet padded differently on the wire is still a copy: a
	// ping of 8 bytes leaves 12 of the 20 hashed bytes to the padding.
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 18, 0, 2}}
	ping := payloadFrame(t, eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
	ping = append(ping, make([]byte, 60-len(ping))...)
	padded := append([]byte(nil), ping...)
	copy(padded[len(padded)-12:], "leaked bytes")
	for i, f := range [][]byte{ping, padded} {
		if got := d.duplicate(f, ethernetHeaderLen, 4, int64(4*time.Millisecond)); got != (i == 1) {
			t.Errorf("ping %d (padding %x): duplicate %v", i, f[len(f)-12:], got)
		}
	}
	other := tcpFrame(t, "198.18.0.1", "198.18.0.2", 1001, 80, false, true, 10)
	if d.duplicate(other, pay.IPOff, 4, int64(4*time.Millisecond)) {
		t.Error("another flow's packet taken for a duplicate")
	}
}
