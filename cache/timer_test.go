package cache

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/bpf"
)

// step moves the fake clock to at, merges deltas as one harvest, then
// expires (or flushes) and expects exactly want.
type step struct {
	at     time.Duration
	deltas []Delta
	flush  bool
	want   []summary
}

var (
	tcpAB  = key(protoTCP, "198.18.0.1:40000", "198.18.0.2:23")
	tcpBA  = key(protoTCP, "198.18.0.2:23", "198.18.0.1:40000")
	udpAB  = key(protoUDP, "198.18.0.1:5353", "198.18.0.2:53")
	udpAC  = key(protoUDP, "198.18.0.1:5353", "198.18.0.3:53")
	udpAD  = key(protoUDP, "198.18.0.1:5353", "198.18.0.4:53")
	udpAE  = key(protoUDP, "198.18.0.1:5353", "198.18.0.5:53")
	udpAF  = key(protoUDP, "198.18.0.1:5353", "198.18.0.6:53")
	fTCPAB = "6 198.18.0.1:40000 > 198.18.0.2:23"
	fUDPAB = "17 198.18.0.1:5353 > 198.18.0.2:53"
	fUDPAC = "17 198.18.0.1:5353 > 198.18.0.3:53"
	fUDPAD = "17 198.18.0.1:5353 > 198.18.0.4:53"
)

const (
	fin = tcpFIN
	syn = tcpSYN
	rst = tcpRST
	ack = tcpACK
)

func TestTableTimers(t *testing.T) {
	defaults := DefaultConfig()
	short := DefaultConfig()
	short.ActiveTimeout = 60 * s
	small := DefaultConfig()
	small.MaxFlows = 3
	noGrace := DefaultConfig()
	noGrace.FINGrace = 0

	tests := []struct {
		name  string
		cfg   Config
		steps []step
		stats func(Stats) (got, want any)
	}{
		{
			name: "idle flow expires exactly at the inactive timeout",
			cfg:  defaults,
			steps: []step{
				{at: 1 * s, deltas: []Delta{pkt(udpAB, 1*s, 60, 0)}},
				{at: 16*s - 1},
				{at: 16 * s, want: []summary{{Flow: fUDPAB, Packets: 1, Bytes: 60, Start: 1 * s, End: 1 * s, Reason: EndIdle}}},
			},
		},
		{
			name: "a packet 1ns before the deadline keeps the flow",
			cfg:  defaults,
			steps: []step{
				{at: 1 * s, deltas: []Delta{pkt(udpAB, 1*s, 60, 0)}},
				{at: 16*s - 1, deltas: []Delta{pkt(udpAB, 16*s-1, 40, 0)}},
				{at: 16 * s},
				{at: 31*s - 2},
				{at: 31*s - 1, want: []summary{{Flow: fUDPAB, Packets: 2, Bytes: 100, Start: 1 * s, End: 16*s - 1, Reason: EndIdle}}},
			},
		},
		{
			name: "a delta starting exactly at the deadline ends the old flow and starts a new one",
			cfg:  defaults,
			steps: []step{
				{at: 1 * s, deltas: []Delta{pkt(udpAB, 1*s, 60, 0)}},
				{at: 20 * s, deltas: []Delta{pkt(udpAB, 16*s, 70, 0)},
					want: []summary{{Flow: fUDPAB, Packets: 1, Bytes: 60, Start: 1 * s, End: 1 * s, Reason: EndIdle}}},
				{at: 31 * s, want: []summary{{Flow: fUDPAB, Packets: 1, Bytes: 70, Start: 16 * s, End: 16 * s, Reason: EndIdle}}},
			},
			stats: func(st Stats) (any, any) { return st.Added, uint64(2) },
		},
		{
			name: "active timeout splits a long flow, which counts again from zero",
			cfg:  short,
			steps: []step{
				{at: 59 * s, deltas: every(udpAB, 100, 0, 10*s, 20*s, 30*s, 40*s, 50*s, 59*s)},
				{at: 60*s - 1},
				{at: 60 * s, want: []summary{{Flow: fUDPAB, Packets: 7, Bytes: 700, Start: 0, End: 59 * s, Reason: EndActive}}},
				{at: 70 * s, deltas: every(udpAB, 50, 61*s, 70*s)},
				{at: 85*s - 1},
				{at: 85 * s, want: []summary{{Flow: fUDPAB, Packets: 2, Bytes: 100, Start: 61 * s, End: 70 * s, Reason: EndIdle}}},
			},
			stats: func(st Stats) (any, any) { return [2]uint64{st.Added, st.Expired.Active}, [2]uint64{1, 1} },
		},
		{
			name: "a delta starting at the active deadline is counted in the next segment",
			cfg:  short,
			steps: []step{
				{at: 56 * s, deltas: every(udpAB, 100, 0, 14*s, 28*s, 42*s, 56*s)},
				{at: 60 * s, deltas: []Delta{pkt(udpAB, 60*s, 10, 0)},
					want: []summary{{Flow: fUDPAB, Packets: 5, Bytes: 500, Start: 0, End: 56 * s, Reason: EndActive}}},
				{at: 70 * s, deltas: []Delta{pkt(udpAB, 70*s, 20, 0)}},
				{at: 85 * s, want: []summary{{Flow: fUDPAB, Packets: 2, Bytes: 30, Start: 60 * s, End: 70 * s, Reason: EndIdle}}},
			},
		},
		{
			name: "an entry emptied by the active timeout leaves silently when idle",
			cfg:  short,
			steps: []step{
				{at: 55 * s, deltas: every(udpAB, 100, 0, 14*s, 28*s, 42*s, 55*s)},
				{at: 60 * s, want: []summary{{Flow: fUDPAB, Packets: 5, Bytes: 500, Start: 0, End: 55 * s, Reason: EndActive}}},
				{at: 70*s - 1},
				{at: 70 * s},
			},
			stats: func(st Stats) (any, any) { return [2]uint64{uint64(st.Active), st.Expired.Idle}, [2]uint64{0, 0} },
		},
		{
			name: "TCP FIN ends the flow after the grace, late packets in the grace count",
			cfg:  defaults,
			steps: []step{
				{at: 0, deltas: []Delta{pkt(tcpAB, 0, 60, syn)}},
				{at: 1 * s, deltas: []Delta{pkt(tcpAB, 1*s, 500, ack)}},
				{at: 2 * s, deltas: []Delta{pkt(tcpAB, 2*s, 40, fin|ack)}},
				{at: 2500 * time.Millisecond, deltas: []Delta{pkt(tcpAB, 2500*time.Millisecond, 40, ack)}},
				{at: 3*s - 1},
				{at: 3 * s, want: []summary{{Flow: fTCPAB, Packets: 4, Bytes: 640, Flags: syn | ack | fin, Start: 0, End: 2500 * time.Millisecond, Reason: EndOfFlow}}},
			},
		},
		{
			name: "TCP RST ends the flow after the grace",
			cfg:  defaults,
			steps: []step{
				{at: 0, deltas: []Delta{pkt(tcpAB, 0, 60, syn)}},
				{at: 500 * time.Millisecond, deltas: []Delta{pkt(tcpAB, 500*time.Millisecond, 40, rst)}},
				{at: 1500*time.Millisecond - 1},
				{at: 1500 * time.Millisecond, want: []summary{{Flow: fTCPAB, Packets: 2, Bytes: 100, Flags: syn | rst, Start: 0, End: 500 * time.Millisecond, Reason: EndOfFlow}}},
			},
		},
		{
			name: "with no grace a FIN ends the flow at once; the next packet starts a new flow",
			cfg:  noGrace,
			steps: []step{
				{at: 2 * s, deltas: []Delta{pkt(tcpAB, 1*s, 60, ack), pkt(tcpAB, 2*s, 40, fin|ack)},
					want: []summary{{Flow: fTCPAB, Packets: 2, Bytes: 100, Flags: fin | ack, Start: 1 * s, End: 2 * s, Reason: EndOfFlow}}},
				{at: 3 * s, deltas: []Delta{pkt(tcpAB, 3*s, 40, ack)}},
				{at: 18 * s, want: []summary{{Flow: fTCPAB, Packets: 1, Bytes: 40, Flags: ack, Start: 3 * s, End: 3 * s, Reason: EndIdle}}},
			},
		},
		{
			name: "FIN flag on UDP is no end of flow",
			cfg:  defaults,
			steps: []step{
				{at: 0, deltas: []Delta{pkt(udpAB, 0, 60, fin)}},
				{at: 15*s - 1},
				{at: 15 * s, want: []summary{{Flow: fUDPAB, Packets: 1, Bytes: 60, Flags: fin, Start: 0, End: 0, Reason: EndIdle}}},
			},
		},
		{
			name: "emergency expiry takes the flow idle longest, not the stale heap top",
			cfg:  small,
			steps: []step{
				{at: 1 * s, deltas: []Delta{pkt(udpAB, 1*s, 10, 0)}},
				{at: 2 * s, deltas: []Delta{pkt(udpAC, 2*s, 20, 0)}},
				{at: 3 * s, deltas: []Delta{pkt(udpAD, 3*s, 30, 0)}},
				{at: 4 * s, deltas: []Delta{pkt(udpAB, 4*s, 11, 0)}},
				{at: 5 * s, deltas: []Delta{pkt(udpAE, 5*s, 50, 0)},
					want: []summary{{Flow: fUDPAC, Packets: 1, Bytes: 20, Start: 2 * s, End: 2 * s, Reason: EndLackOfResources}}},
				{at: 6 * s, deltas: []Delta{pkt(udpAF, 6*s, 60, 0)},
					want: []summary{{Flow: fUDPAD, Packets: 1, Bytes: 30, Start: 3 * s, End: 3 * s, Reason: EndLackOfResources}}},
			},
			stats: func(st Stats) (any, any) {
				return [3]uint64{st.Emergency, st.Expired.LackOfResources, uint64(st.Active)}, [3]uint64{2, 2, 3}
			},
		},
		{
			name: "emergency expiry takes a finished TCP flow before older idle ones",
			cfg:  small,
			steps: []step{
				{at: 1 * s, deltas: []Delta{pkt(udpAB, 1*s, 10, 0)}},
				{at: 2 * s, deltas: []Delta{pkt(udpAC, 2*s, 20, 0)}},
				{at: 3 * s, deltas: []Delta{pkt(tcpAB, 3*s, 40, fin)}},
				{at: 3 * s, deltas: []Delta{pkt(udpAD, 3*s, 30, 0)},
					want: []summary{{Flow: fTCPAB, Packets: 1, Bytes: 40, Flags: fin, Start: 3 * s, End: 3 * s, Reason: EndLackOfResources}}},
			},
		},
		{
			name: "a full table first ends flows whose timers already ran out, for their own reason",
			cfg:  small,
			steps: []step{
				{at: 3 * s, deltas: []Delta{pkt(udpAB, 1*s, 10, 0), pkt(udpAC, 2*s, 20, 0), pkt(udpAD, 3*s, 30, 0)}},
				{at: 17 * s, deltas: []Delta{pkt(udpAE, 17*s, 50, 0)}, want: []summary{
					{Flow: fUDPAB, Packets: 1, Bytes: 10, Start: 1 * s, End: 1 * s, Reason: EndIdle}, // made room
					{Flow: fUDPAC, Packets: 1, Bytes: 20, Start: 2 * s, End: 2 * s, Reason: EndIdle}, // Expire at 17 s
				}},
			},
			stats: func(st Stats) (any, any) {
				return [3]uint64{st.Emergency, st.Expired.Idle, uint64(st.Active)}, [3]uint64{0, 2, 2}
			},
		},
		{
			name: "flush ends every flow as forced, soonest deadline first",
			cfg:  defaults,
			steps: []step{
				{at: 1 * s, deltas: []Delta{pkt(udpAC, 2*s, 20, 0), pkt(udpAB, 1*s, 10, 0)}},
				{at: 5 * s, flush: true, want: []summary{
					{Flow: fUDPAB, Packets: 1, Bytes: 10, Start: 1 * s, End: 1 * s, Reason: EndForced},
					{Flow: fUDPAC, Packets: 1, Bytes: 20, Start: 2 * s, End: 2 * s, Reason: EndForced},
				}},
			},
			stats: func(st Stats) (any, any) { return [2]uint64{uint64(st.Active), st.Expired.Forced}, [2]uint64{0, 2} },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			tb := newTestTable(t, tc.cfg, clock)
			for i, st := range tc.steps {
				clock.mono = st.at
				tb.Merge(st.deltas)
				var got []Record
				if st.flush {
					got = tb.Flush(nil)
				} else {
					got = tb.Expire(nil)
				}
				if diff := cmp.Diff(st.want, summarize(got)); diff != "" {
					t.Fatalf("step %d (at %v): records (-want +got):\n%s", i, st.at, diff)
				}
			}
			if tc.stats != nil {
				got, want := tc.stats(tb.Stats())
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("stats (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestTableRecordCarriesKeyFieldsAndSampling(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SamplingInterval = 100
	cfg.SamplingRandom = true
	clock := &fakeClock{}
	tb := newTestTable(t, cfg, clock)
	k := tcpAB
	k.Tos, k.VlanId, k.InnerVlanId, k.Ifindex = 0x2e, 10, 20, 7
	tb.Merge([]Delta{{Key: k, Packets: 3, Bytes: 1500, FirstNs: uint64(1 * s), LastNs: uint64(2 * s), TCPFlags: ack}})
	got := tb.Flush(nil)
	if len(got) != 1 {
		t.Fatalf("got %d records, want 1", len(got))
	}
	r := got[0]
	want := Record{
		SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, SrcPort: 40000, DstPort: 23, Proto: protoTCP,
		ToS: 0x2e, IPVersion: 4, InIfIndex: 7, VLAN: 10, InnerVLAN: 20,
		Packets: 3, Bytes: 1500, TCPFlags: ack, Start: boot.Add(1 * s), End: boot.Add(2 * s),
		EndReason: EndForced, SamplingInterval: 100, SamplingRandom: true,
	}
	if diff := cmp.Diff(want, r, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if r.SrcAddr.String() != "198.18.0.1" || r.DstAddr.String() != "198.18.0.2" {
		t.Errorf("addresses %v > %v, want unmapped IPv4 198.18.0.1 > 198.18.0.2", r.SrcAddr, r.DstAddr)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{FINGrace: -1}.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, word := range []string{"inactive timeout", "active timeout", "fin grace", "max flows"} {
		if !contains(err.Error(), word) {
			t.Errorf("error %q does not name %q", err, word)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// every is one packet of size bytes at each of the times.
func every(k bpf.FlowKey, size uint64, at ...time.Duration) []Delta {
	var ds []Delta
	for _, a := range at {
		ds = append(ds, pkt(k, a, size, 0))
	}
	return ds
}
