package probe

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/classify"
)

// segment is one TCP packet of 198.18.0.1:40000 ⇄ 198.18.0.2:9090; fromClient
// picks the direction.
func segment(t *testing.T, fromClient bool, syn, ack bool, payload []byte) []byte {
	t.Helper()
	src, dst := net.IP{198, 18, 0, 1}, net.IP{198, 18, 0, 2}
	sport, dport := layers.TCPPort(40000), layers.TCPPort(9090)
	if !fromClient {
		src, dst, sport, dport = dst, src, dport, sport
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: sport, DstPort: dport, SYN: syn, ACK: ack, PSH: len(payload) > 0, Window: 512}
	tcp.SetNetworkLayerForChecksum(ip)
	return payloadFrame(t, eth, ip, tcp, gopacket.Payload(payload))
}

// pending reads every sample in the ring, copying the heads.
func pending(t *testing.T, r *SampleReader) []AppSample {
	t.Helper()
	var out []AppSample
	err := r.ReadPending(func(s *AppSample) {
		c := *s
		c.Head = bytes.Clone(s.Head)
		out = append(out, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openSamples(t *testing.T, p *Probe) *SampleReader {
	t.Helper()
	r, err := p.Samples()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestSamplesFollowTheBudgetAcrossSlotFlips: each direction's first packet
// sends a note (or its head), payload packets send their heads up to the
// budget per direction, pure ACKs send nothing, and a flip of the flow slot
// neither resets the budget nor sends a second first note.
func TestSamplesFollowTheBudgetAcrossSlotFlips(t *testing.T) {
	p := openProbe(t, Options{Classify: true})
	r := openSamples(t, p)
	client := v4key("198.18.0.1", "198.18.0.2", 40000, 9090, 6, 0)
	server := v4key("198.18.0.2", "198.18.0.1", 9090, 40000, 6, 0)

	run(t, p, segment(t, true, true, false, nil)) // SYN
	run(t, p, segment(t, false, true, true, nil)) // SYN/ACK
	run(t, p, segment(t, true, false, true, nil)) // ACK
	got := pending(t, r)
	if len(got) != 2 || got[0].Key != client || !got[0].First || got[0].PayloadLen != 0 ||
		got[1].Key != server || !got[1].First || got[1].PayloadLen != 0 {
		t.Fatalf("handshake samples = %+v, want a first note per direction, client first", got)
	}

	budget := classify.Budget(6)
	for i := range budget + 2 {
		if i == 2 {
			if _, _, err := p.Harvest(nil); err != nil { // flip the slot mid-way
				t.Fatal(err)
			}
		}
		run(t, p, segment(t, true, false, true, []byte(fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", i))))
		run(t, p, segment(t, true, false, true, nil)) // pure ACKs are not samples
	}
	got = pending(t, r)
	if len(got) != budget {
		t.Fatalf("%d samples of client payload, want the budget %d: %+v", len(got), budget, got)
	}
	for i, s := range got {
		want := fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", i)
		if s.Key != client || s.First || string(s.Head) != want || s.PayloadLen != len(want) {
			t.Errorf("sample %d = %+v %q, want client head %q", i, s, s.Head, want)
		}
	}
	stats, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if n := stats[bpf.StatAppSampled].Packets; n != uint64(2+budget) {
		t.Errorf("stats count %d samples, %d were read", n, 2+budget)
	}
}

// appState is the datapath's sampling state of key, if it has one.
func appState(t *testing.T, p *Probe, key bpf.FlowKey) (st bpf.AppState, ok bool) {
	t.Helper()
	err := p.coll.Maps[bpf.MapAppState].Lookup(key, &st)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return st, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return st, true
}

// TestMarkClassifiedStopsAndForgetRestarts: once user space has the
// verdict the direction sends nothing more; a direction the datapath has
// not seen yet is not marked (no state made for it: it would take LRU
// room, and outlive a forget); once user space forgot the conversation,
// the same key begins again with a first sample.
func TestMarkClassifiedStopsAndForgetRestarts(t *testing.T) {
	p := openProbe(t, Options{Classify: true})
	r := openSamples(t, p)
	client := v4key("198.18.0.1", "198.18.0.2", 40000, 9090, 6, 0)
	server := v4key("198.18.0.2", "198.18.0.1", 9090, 40000, 6, 0)
	get := []byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")

	run(t, p, segment(t, true, false, true, get))
	if got := pending(t, r); len(got) != 1 || !got[0].First || !bytes.Equal(got[0].Head, get) {
		t.Fatalf("first payload packet gave %+v, want one first sample with its head", got)
	}
	if err := p.MarkClassified([]bpf.FlowKey{client, server}); err != nil {
		t.Fatal(err)
	}
	if _, ok := appState(t, p, server); ok {
		t.Fatal("MarkClassified made sampling state for a direction the datapath never saw")
	}
	run(t, p, segment(t, true, false, true, get))
	if got := pending(t, r); len(got) != 0 {
		t.Fatalf("after MarkClassified: %d samples of the marked direction, want none", len(got))
	}
	reply := []byte("HTTP/1.1 200 OK\r\n\r\n")
	run(t, p, segment(t, false, false, true, reply))
	if got := pending(t, r); len(got) != 1 || got[0].Key != server || !got[0].First {
		t.Fatalf("the reply's first packet gave %+v, want its first sample", got)
	}
	if err := p.ForgetSampling([]bpf.FlowKey{client, server}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Harvest(nil); err != nil { // a new slot: the flow's copies ask again
		t.Fatal(err)
	}
	run(t, p, segment(t, true, false, true, get))
	if got := pending(t, r); len(got) != 1 || !got[0].First {
		t.Fatalf("after ForgetSampling: %+v, want one first sample", got)
	}
}

// TestBatchesSkipMissingKeys: a key the datapath never had, between two
// it has, neither stops MarkClassified nor ForgetSampling short of the
// key after it, nor is made by them.
func TestBatchesSkipMissingKeys(t *testing.T) {
	p := openProbe(t, Options{Classify: true})
	client := v4key("198.18.0.1", "198.18.0.2", 40000, 9090, 6, 0)
	server := v4key("198.18.0.2", "198.18.0.1", 9090, 40000, 6, 0)
	never := v4key("198.18.0.3", "198.18.0.4", 40001, 9090, 6, 0)
	run(t, p, segment(t, true, true, false, nil))
	run(t, p, segment(t, false, true, true, nil))
	keys := []bpf.FlowKey{client, never, server}

	if err := p.MarkClassified(keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []bpf.FlowKey{client, server} {
		if st, ok := appState(t, p, k); !ok || st.Done == 0 {
			t.Errorf("%+v: state %+v (exists %v) after MarkClassified, want done", k, st, ok)
		}
	}
	if _, ok := appState(t, p, never); ok {
		t.Error("MarkClassified made state for a key the datapath never had")
	}

	if err := p.ForgetSampling(keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if st, ok := appState(t, p, k); ok {
			t.Errorf("%+v: state %+v left after ForgetSampling", k, st)
		}
	}
}

// TestFullSampleRingIsCountedNotSilent: with the ring full, packets are
// still accounted and every head that found no room is counted.
func TestFullSampleRingIsCountedNotSilent(t *testing.T) {
	p := openProbe(t, Options{Classify: true, SampleRing: MinSampleRing})
	r := openSamples(t, p)
	const flows = 300 // 576 bytes each: about 113 fit in 64 KiB
	for i := range flows {
		frame := tcpFrame(t, "198.18.0.1", "198.18.0.2", uint16(1000+i), 80, false, true, 100)
		run(t, p, frame)
	}
	read := len(pending(t, r))
	deltas, stats, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	sampled, dropped := stats[bpf.StatAppSampled].Packets, stats[bpf.StatAppDropped].Packets
	if len(deltas) != flows || stats[bpf.StatAccounted].Packets != flows {
		t.Errorf("%d flows, %d packets accounted, want %d", len(deltas), stats[bpf.StatAccounted].Packets, flows)
	}
	if dropped == 0 || sampled != uint64(read) || sampled+dropped != flows {
		t.Errorf("sampled %d (read %d) + dropped %d, want %d in all and some dropped", sampled, read, dropped, flows)
	}
}

// TestNoSamplingWithoutClassify: the default program hands out nothing
// and has no reader.
func TestNoSamplingWithoutClassify(t *testing.T) {
	p := openProbe(t, Options{})
	if _, err := p.Samples(); err == nil {
		t.Error("Samples without Options.Classify did not fail")
	}
	run(t, p, segment(t, true, false, true, []byte("GET / HTTP/1.1\r\n\r\n")))
	stats, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if n := stats[bpf.StatAppSampled].Packets + stats[bpf.StatAppDropped].Packets; n != 0 {
		t.Errorf("%d samples counted with classification off", n)
	}
}

// TestReadPendingReadsWhatWasThere: samples that come while ReadPending
// reads are left for the next call, so a busy datapath cannot keep it
// from returning.
func TestReadPendingReadsWhatWasThere(t *testing.T) {
	p := openProbe(t, Options{Classify: true})
	r := openSamples(t, p)
	const before, during = 5, 3
	flow := 0
	newFlow := func() {
		flow++
		run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", uint16(1000+flow), 80, false, true, 100))
	}
	for range before {
		newFlow()
	}
	read := 0
	err := r.ReadPending(func(*AppSample) {
		read++
		if read <= during {
			newFlow() // a sample comes while reading
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if read != before {
		t.Errorf("ReadPending read %d samples, want the %d in the ring when it began", read, before)
	}
	if rest := len(pending(t, r)); rest != during {
		t.Errorf("%d samples left for the next call, want %d", rest, during)
	}
}
