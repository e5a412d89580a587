package cache

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/bpf"
)

func TestBidirectionalPairing(t *testing.T) {
	ms := time.Millisecond
	echoReq := icmpKey(protoICMP, "198.18.0.1", "198.18.0.2", 8, 0)
	echoRep := icmpKey(protoICMP, "198.18.0.2", "198.18.0.1", 0, 0)
	unreach := icmpKey(protoICMP, "198.18.0.2", "198.18.0.1", 3, 3)
	v6Req := icmpKey(protoICMPv6, "2001:db8::1", "2001:db8::2", 128, 0)
	v6Rep := icmpKey(protoICMPv6, "2001:db8::2", "2001:db8::1", 129, 0)
	otherIf := tcpBA
	otherIf.Ifindex = 3
	abOn3 := tcpAB
	abOn3.Ifindex = 3
	otherToS := tcpBA
	otherToS.Tos = 0x10

	tests := []struct {
		name    string
		batches [][]Delta
		want    []summary
	}{
		{
			name:    "the side that sent first, in an earlier harvest, is forward",
			batches: [][]Delta{{pkt(tcpBA, 1*s, 40, ack)}, {pkt(tcpAB, 2*s, 60, ack)}},
			want: []summary{{Flow: "6 198.18.0.2:23 > 198.18.0.1:40000", Packets: 1, Bytes: 40, Flags: ack, Start: 1 * s, End: 1 * s,
				RevPackets: 1, RevBytes: 60, RevFlags: ack, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced}},
		},
		{
			name: "in one harvest a SYN without ACK names the initiator, whatever the order",
			batches: [][]Delta{{
				{Key: tcpBA, Packets: 2, Bytes: 100, FirstNs: uint64(1 * ms), LastNs: uint64(3 * ms), TCPFlags: syn | ack},
				{Key: tcpAB, Packets: 1, Bytes: 60, FirstNs: uint64(2 * ms), LastNs: uint64(2 * ms), TCPFlags: syn},
			}},
			want: []summary{{Flow: fTCPAB, Packets: 1, Bytes: 60, Flags: syn, Start: 2 * ms, End: 2 * ms,
				RevPackets: 2, RevBytes: 100, RevFlags: syn | ack, RevStart: 1 * ms, RevEnd: 3 * ms, Reason: EndForced}},
		},
		{
			name: "in one harvest without a lone SYN the earlier first packet names the initiator",
			batches: [][]Delta{{
				{Key: tcpBA, Packets: 2, Bytes: 100, FirstNs: uint64(2 * ms), LastNs: uint64(4 * ms), TCPFlags: syn | ack},
				{Key: tcpAB, Packets: 3, Bytes: 180, FirstNs: uint64(1 * ms), LastNs: uint64(5 * ms), TCPFlags: syn | ack},
			}},
			want: []summary{{Flow: fTCPAB, Packets: 3, Bytes: 180, Flags: syn | ack, Start: 1 * ms, End: 5 * ms,
				RevPackets: 2, RevBytes: 100, RevFlags: syn | ack, RevStart: 2 * ms, RevEnd: 4 * ms, Reason: EndForced}},
		},
		{
			name:    "echo request and reply pair; an unreachable stays alone",
			batches: [][]Delta{{pkt(echoReq, 1*s, 84, 0)}, {pkt(echoRep, 2*s, 84, 0), pkt(unreach, 2*s, 56, 0)}},
			want: []summary{
				{Flow: "1 198.18.0.1:0 > 198.18.0.2:2048", Packets: 1, Bytes: 84, Start: 1 * s, End: 1 * s,
					RevPackets: 1, RevBytes: 84, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced},
				{Flow: "1 198.18.0.2:0 > 198.18.0.1:771", Packets: 1, Bytes: 56, Start: 2 * s, End: 2 * s, Reason: EndForced},
			},
		},
		{
			name:    "an ICMPv6 echo reply seen first is the forward side",
			batches: [][]Delta{{pkt(v6Rep, 1*s, 104, 0)}, {pkt(v6Req, 2*s, 104, 0)}},
			want: []summary{{Flow: "58 [2001:db8::2]:0 > [2001:db8::1]:33024", Packets: 1, Bytes: 104, Start: 1 * s, End: 1 * s,
				RevPackets: 1, RevBytes: 104, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced}},
		},
		{
			// A tap or a router: each direction on its own interface.
			name:    "directions seen on different interfaces pair",
			batches: [][]Delta{{pkt(tcpAB, 1*s, 60, ack)}, {pkt(otherIf, 2*s, 40, ack)}},
			want: []summary{{Flow: fTCPAB, Packets: 1, Bytes: 60, Flags: ack, Start: 1 * s, End: 1 * s,
				RevPackets: 1, RevBytes: 40, RevFlags: ack, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced}},
		},
		{
			// A server marking its answers (wireshark-wiki http.pcap: 0x00 one way, 0x10 the other).
			name:    "directions with different ToS pair",
			batches: [][]Delta{{pkt(tcpAB, 1*s, 60, ack)}, {pkt(otherToS, 2*s, 40, ack)}},
			want: []summary{{Flow: fTCPAB, Packets: 1, Bytes: 60, Flags: ack, Start: 1 * s, End: 1 * s,
				RevPackets: 1, RevBytes: 40, RevFlags: ack, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced}},
		},
		{
			// Two span ports that each carry both directions: two biflows,
			// not one that counts every packet twice.
			name: "two interfaces carrying both directions make two biflows",
			batches: [][]Delta{{pkt(tcpAB, 1*s, 60, ack), pkt(abOn3, 1*s, 60, ack)},
				{pkt(tcpBA, 2*s, 40, ack), pkt(otherIf, 2*s, 40, ack)}},
			want: []summary{
				{Flow: fTCPAB, Packets: 1, Bytes: 60, Flags: ack, Start: 1 * s, End: 1 * s,
					RevPackets: 1, RevBytes: 40, RevFlags: ack, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced},
				{Flow: fTCPAB, Packets: 1, Bytes: 60, Flags: ack, Start: 1 * s, End: 1 * s,
					RevPackets: 1, RevBytes: 40, RevFlags: ack, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced},
			},
		},
		{
			// Once paired, a direction keeps its own key: a re-marked
			// reverse packet does not join the pair.
			name:    "a reverse direction whose ToS changes starts a flow of its own",
			batches: [][]Delta{{pkt(tcpAB, 1*s, 60, ack)}, {pkt(tcpBA, 2*s, 40, ack)}, {pkt(otherToS, 2*s, 40, ack)}},
			want: []summary{
				{Flow: fTCPAB, Packets: 1, Bytes: 60, Flags: ack, Start: 1 * s, End: 1 * s,
					RevPackets: 1, RevBytes: 40, RevFlags: ack, RevStart: 2 * s, RevEnd: 2 * s, Reason: EndForced},
				{Flow: "6 198.18.0.2:23 > 198.18.0.1:40000", Packets: 1, Bytes: 40, Flags: ack, Start: 2 * s, End: 2 * s, Reason: EndForced},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Bidirectional = true
			clock := &fakeClock{mono: 3 * s}
			tb := newTestTable(t, cfg, clock)
			for _, b := range tc.batches {
				tb.Merge(b)
			}
			got := tb.Flush(nil)
			for _, r := range got {
				if !r.Bidirectional {
					t.Errorf("record %v not marked bidirectional", r)
				}
			}
			if diff := cmp.Diff(tc.want, summarize(got)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBidirectionalFINFromBothSidesEndsFlow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bidirectional = true
	clock := &fakeClock{}
	tb := newTestTable(t, cfg, clock)
	steps := []struct {
		at     time.Duration
		deltas []Delta
		want   int
	}{
		{at: 1 * s, deltas: []Delta{pkt(tcpAB, 1*s, 40, fin|ack)}},
		{at: 2*s + 1}, // one FIN: the other side may still send (half close)
		{at: 5 * s, deltas: []Delta{pkt(tcpBA, 5*s, 40, fin|ack)}},
		{at: 6*s - 1},
		{at: 6 * s, want: 1},
	}
	for i, st := range steps {
		clock.mono = st.at
		tb.Merge(st.deltas)
		got := tb.Expire(nil)
		if len(got) != st.want {
			t.Fatalf("step %d: %d records, want %d", i, len(got), st.want)
		}
		if st.want == 1 && (got[0].EndReason != EndOfFlow || got[0].Packets != 1 || got[0].RevPackets != 1) {
			t.Fatalf("step %d: record %+v, want end of flow with one packet each way", i, got[0])
		}
	}
}

// conversation is one A↔B exchange of the property tests.
type conversation struct{ fwd, rev bpf.FlowKey }

func randomConversations(rng *rand.Rand, n int) []conversation {
	var cs []conversation
	for len(cs) < n {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + rng.IntN(4))})
		b := netip.AddrFrom4([4]byte{198, 19, 0, byte(1 + rng.IntN(4))})
		if rng.IntN(3) == 0 {
			a = netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", 1+rng.IntN(4)))
			b = netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", 1+rng.IntN(4)))
		}
		var c conversation
		switch rng.IntN(4) {
		case 0: // ping
			proto, req, rep := uint8(protoICMP), uint8(8), uint8(0)
			if a.Is6() {
				proto, req, rep = protoICMPv6, 128, 129
			}
			c.fwd = icmpKey(proto, a.String(), b.String(), req, 0)
			c.rev = icmpKey(proto, b.String(), a.String(), rep, 0)
		default:
			proto := uint8(protoTCP)
			if rng.IntN(2) == 0 {
				proto = protoUDP
			}
			ap := netip.AddrPortFrom(a, uint16(1024+rng.IntN(4)))
			bp := netip.AddrPortFrom(b, uint16([]int{23, 53, 80}[rng.IntN(3)]))
			c.fwd = key(proto, ap.String(), bp.String())
			c.rev = key(proto, bp.String(), ap.String())
		}
		cs = append(cs, c)
	}
	return cs
}

// TestPairingPreservesEveryPacket drives random traffic through tables in
// both modes, with random harvest batching, expiry calls, TCP flags and
// small tables (emergency expiry), and checks that every packet and byte
// of every one-way key ends up in exactly one direction of one record.
func TestPairingPreservesEveryPacket(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		checkConservation(t, seed, false)
		checkConservation(t, seed, true)
	}
}

// FuzzTableConservesPackets lets `go test -fuzz` look for a seed that
// loses or duplicates a packet.
func FuzzTableConservesPackets(f *testing.F) {
	f.Add(uint64(1), false)
	f.Add(uint64(2), true)
	f.Fuzz(checkConservation)
}

func checkConservation(t *testing.T, seed uint64, bidir bool) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	cfg := DefaultConfig()
	cfg.Bidirectional = bidir
	cfg.MaxFlows = 2 + rng.IntN(20)
	cfg.InactiveTimeout = time.Duration(1+rng.IntN(10)) * s
	cfg.ActiveTimeout = time.Duration(1+rng.IntN(30)) * s
	cfg.FINGrace = time.Duration(rng.IntN(2)) * s
	clock := &fakeClock{}
	tb := newTestTable(t, cfg, clock)
	convs := randomConversations(rng, 1+rng.IntN(12))

	sent := map[bpf.FlowKey][2]uint64{}
	var recs []Record
	now := time.Duration(0)
	for range 1 + rng.IntN(40) { // harvests
		var batch []Delta
		for range rng.IntN(10) {
			c := convs[rng.IntN(len(convs))]
			k := c.fwd
			if rng.IntN(2) == 0 {
				k = c.rev
			}
			first := now + time.Duration(rng.IntN(1000))*time.Millisecond
			d := Delta{Key: k, Packets: uint64(1 + rng.IntN(5)), FirstNs: uint64(first),
				LastNs: uint64(first + time.Duration(rng.IntN(500))*time.Millisecond)}
			d.Bytes = d.Packets * uint64(40+rng.IntN(1460))
			if k.Proto == protoTCP {
				d.TCPFlags = uint8(rng.IntN(32)) | ack
			}
			batch = append(batch, d)
			v := sent[k]
			sent[k] = [2]uint64{v[0] + d.Packets, v[1] + d.Bytes}
		}
		now += time.Duration(rng.IntN(3000)) * time.Millisecond
		clock.mono = now + 1500*time.Millisecond
		tb.Merge(batch)
		if rng.IntN(3) > 0 {
			recs = tb.Expire(recs)
		}
	}
	recs = tb.Flush(recs)

	got := map[bpf.FlowKey][2]uint64{}
	for _, r := range recs {
		if r.Packets+r.RevPackets == 0 {
			t.Fatalf("seed %d: empty record %+v", seed, r)
		}
		if r.Bidirectional != bidir {
			t.Fatalf("seed %d: record bidirectional=%v in a table with %v", seed, r.Bidirectional, bidir)
		}
		fwd := r.Key()
		v := got[fwd]
		got[fwd] = [2]uint64{v[0] + r.Packets, v[1] + r.Bytes}
		if r.RevPackets > 0 {
			rev := reverseOf(fwd)
			v := got[rev]
			got[rev] = [2]uint64{v[0] + r.RevPackets, v[1] + r.RevBytes}
		}
	}
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Fatalf("seed %d bidirectional=%v: per-key packets, bytes (-sent +exported):\n%s", seed, bidir, diff)
	}
	if tb.Len() != 0 {
		t.Fatalf("seed %d: %d flows left after flush", seed, tb.Len())
	}
}

// reverseOf is the key of the answers to k, written independently of
// canonical: for an echo the reply type, else the mirrored endpoints.
func reverseOf(k bpf.FlowKey) bpf.FlowKey {
	k.SrcAddr, k.DstAddr = k.DstAddr, k.SrcAddr
	switch {
	case k.Proto == protoICMP || k.Proto == protoICMPv6:
		answer := map[uint16]uint16{8 << 8: 0, 0: 8 << 8, 128 << 8: 129 << 8, 129 << 8: 128 << 8}
		k.DstPort = answer[k.DstPort]
	default:
		k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	}
	return k
}

// TestBiflowCarriesEachDirectionsInterfaceAndToS: the forward direction's
// capture interface is the biflow's input, the reverse direction's its
// output (on a mirror port, where no route says otherwise), and each
// direction keeps its own ToS.
func TestBiflowCarriesEachDirectionsInterfaceAndToS(t *testing.T) {
	fwd := key(protoTCP, "198.18.0.1:40000", "198.18.0.2:80")
	rev := key(protoTCP, "198.18.0.2:80", "198.18.0.1:40000")
	fwd.Ifindex, rev.Ifindex, rev.Tos = 4, 7, 0x10
	cfg := DefaultConfig()
	cfg.Bidirectional = true
	tb := newTestTable(t, cfg, &fakeClock{mono: 3 * time.Second})
	tb.Merge([]Delta{pkt(fwd, time.Second, 60, 0x02)})
	tb.Merge([]Delta{pkt(rev, 2*time.Second, 60, 0x12)})
	recs := tb.Flush(nil)
	if len(recs) != 1 {
		t.Fatalf("%d records, want one biflow: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.InIfIndex != 4 || r.OutIfIndex != 7 || r.RevIfIndex != 7 || r.ToS != 0 || r.RevToS != 0x10 {
		t.Errorf("in %d out %d rev-if %d tos %#x rev-tos %#x; want 4, 7, 7, 0, 0x10", r.InIfIndex, r.OutIfIndex, r.RevIfIndex, r.ToS, r.RevToS)
	}
	if k, ok := r.RevKey(); !ok || k != rev {
		t.Errorf("RevKey %+v %v, want the reverse direction's own key %+v", k, ok, rev)
	}
}
