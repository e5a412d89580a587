package cache

import (
	"iter"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// captureStart is the start of the synthetic capture.
var captureStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

type capturedPacket struct {
	at time.Duration // since captureStart
	d  Delta         // timestamps filled in by capture()
}

// lecture is a small capture in the spirit of a NetFlow lecture: a telnet
// session with a clean close, a DNS query, two pings, one jumbo UDP
// datagram, and a last packet 20 s in that lets the idle timers run.
func lecture() []capturedPacket {
	ms := time.Millisecond
	aTel, bTel := key(protoTCP, "198.18.0.1:40000", "198.18.0.2:23"), key(protoTCP, "198.18.0.2:23", "198.18.0.1:40000")
	q, r := key(protoUDP, "198.18.0.3:5353", "198.18.0.4:53"), key(protoUDP, "198.18.0.4:53", "198.18.0.3:5353")
	req, rep := icmpKey(protoICMP, "198.18.0.1", "198.18.0.2", 8, 0), icmpKey(protoICMP, "198.18.0.2", "198.18.0.1", 0, 0)
	jumbo := key(protoUDP, "198.18.0.5:1000", "198.18.0.6:2000")
	last := key(protoUDP, "198.18.0.7:1", "198.18.0.8:2")
	p := func(at time.Duration, k Delta) capturedPacket { return capturedPacket{at: at, d: k} }
	one := func(k Delta) Delta { return k }
	return []capturedPacket{
		p(0, one(Delta{Key: aTel, Bytes: 60, TCPFlags: syn})),
		p(50*ms, one(Delta{Key: bTel, Bytes: 60, TCPFlags: syn | ack})),
		p(100*ms, one(Delta{Key: aTel, Bytes: 52, TCPFlags: ack})),
		p(500*ms, one(Delta{Key: q, Bytes: 60})),
		p(520*ms, one(Delta{Key: r, Bytes: 140})),
		p(1000*ms, one(Delta{Key: aTel, Bytes: 100, TCPFlags: ack | 0x08})),
		p(1050*ms, one(Delta{Key: bTel, Bytes: 52, TCPFlags: ack})),
		p(2000*ms, one(Delta{Key: aTel, Bytes: 52, TCPFlags: fin | ack})),
		p(2050*ms, one(Delta{Key: bTel, Bytes: 52, TCPFlags: fin | ack})),
		p(3000*ms, one(Delta{Key: req, Bytes: 84})),
		p(3001*ms, one(Delta{Key: rep, Bytes: 84})),
		p(4000*ms, one(Delta{Key: req, Bytes: 84})),
		p(4001*ms, one(Delta{Key: rep, Bytes: 84})),
		p(5000*ms, one(Delta{Key: jumbo, Bytes: 9000})),
		p(20000*ms, one(Delta{Key: last, Bytes: 40})),
	}
}

// capture yields the packets as an offline parser would: one-packet
// deltas stamped with their Unix ns capture time.
func capture(pkts []capturedPacket) iter.Seq2[time.Time, Delta] {
	return func(yield func(time.Time, Delta) bool) {
		for _, p := range pkts {
			ts := captureStart.Add(p.at)
			d := p.d
			d.Packets, d.FirstNs, d.LastNs = 1, uint64(ts.UnixNano()), uint64(ts.UnixNano())
			if !yield(ts, d) {
				return
			}
		}
	}
}

func replayLecture(t *testing.T, cfg Config) (*Table, []Record) {
	t.Helper()
	clock := NewCaptureClock(time.Time{})
	tb := newTestTable(t, cfg, clock)
	var recs []Record
	err := Replay(tb, clock, capture(lecture()), func(rs []Record) error {
		recs = append(recs, rs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb, recs
}

func TestReplayAgesTheCaptureByItsOwnTimestamps(t *testing.T) {
	_, recs := replayLecture(t, DefaultConfig())
	type out struct {
		Src     string
		Packets uint64
		Reason  EndReason
		End     time.Duration
	}
	var got []out
	for _, r := range recs {
		got = append(got, out{r.SrcAddr.String(), r.Packets, r.EndReason, r.End.Sub(captureStart)})
	}
	ms := time.Millisecond
	want := []out{
		{"198.18.0.1", 4, EndOfFlow, 2000 * ms}, // FIN at 2 s + 1 s grace, seen by the ping at 3 s
		{"198.18.0.2", 3, EndOfFlow, 2050 * ms}, // seen at 3.001 s
		{"198.18.0.3", 1, EndIdle, 500 * ms},    // all four idle at 15.5…20 s, seen by the packet at 20 s
		{"198.18.0.4", 1, EndIdle, 520 * ms},
		{"198.18.0.1", 2, EndIdle, 4000 * ms},
		{"198.18.0.2", 2, EndIdle, 4001 * ms},
		{"198.18.0.5", 1, EndIdle, 5000 * ms}, // exactly at 5 s + 15 s
		{"198.18.0.7", 1, EndForced, 20000 * ms},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestReplayRefusesAnotherClockAndStopsOnEmitError(t *testing.T) {
	tb := newTestTable(t, DefaultConfig(), NewCaptureClock(time.Time{}))
	if err := Replay(tb, NewCaptureClock(time.Time{}), capture(lecture()), func([]Record) error { return nil }); err == nil {
		t.Error("Replay with a clock that is not the table's: want an error")
	}
	clock := NewCaptureClock(time.Time{})
	tb = newTestTable(t, DefaultConfig(), clock)
	stop := errString("collector gone")
	calls := 0
	err := Replay(tb, clock, capture(lecture()), func([]Record) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Replay returned %v after %d emits, want %v after 1", err, calls, stop)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestStatsOnTheLectureCapture(t *testing.T) {
	tb, _ := replayLecture(t, DefaultConfig())
	st := tb.Stats()

	// Hand-counted: 60-byte SYN, SYN-ACK and DNS query, four 52-byte
	// telnet ACK/FINs and the 40-byte last packet are ≤ 64; four 84-byte
	// pings ≤ 96; the 100-byte telnet data ≤ 128; the 140-byte DNS answer
	// ≤ 160; the 9000-byte datagram above 4608.
	var wantSizes [NumSizeBuckets]uint64
	wantSizes[1], wantSizes[2], wantSizes[3], wantSizes[4], wantSizes[26] = 8, 4, 1, 1, 1
	if diff := cmp.Diff(wantSizes, st.Sizes); diff != "" {
		t.Errorf("size distribution (-want +got):\n%s", diff)
	}

	ms := time.Millisecond
	want := map[string]ProtocolStats{
		// 4+3 packets, 264+164 bytes; each side 2 s long; FIN grace 1 s.
		"TCP-Telnet": {Flows: 2, Packets: 7, Bytes: 428, Active: 4 * s, Idle: 2 * s},
		// Single packets; each idle the full 15 s.
		"UDP-DNS": {Flows: 2, Packets: 2, Bytes: 200, Active: 0, Idle: 30 * s},
		// Two pings each way, 1 s apart.
		"ICMP": {Flows: 2, Packets: 4, Bytes: 336, Active: 2 * s, Idle: 30 * s},
		// The jumbo datagram (idle 15 s) and the last packet (flushed at once).
		"UDP-other": {Flows: 2, Packets: 2, Bytes: 9040, Active: 0, Idle: 15 * s},
	}
	for _, p := range st.Protocols {
		w := want[p.Name]
		w.Name = p.Name
		if diff := cmp.Diff(w, p); diff != "" {
			t.Errorf("protocol %s (-want +got):\n%s", p.Name, diff)
		}
	}
	cache := []any{st.Added, st.Active, st.Expired, st.Emergency, st.Period()}
	wantCache := []any{uint64(8), 0, Expired{Idle: 5, EndOfFlow: 2, Forced: 1}, uint64(0), 20000 * ms}
	if diff := cmp.Diff(wantCache, cache); diff != "" {
		t.Errorf("added, active, expired, emergency, period (-want +got):\n%s", diff)
	}
	telnet := st.Protocols[0]
	derived := []float64{telnet.FlowsPerSec(st.Period()), telnet.PacketsPerFlow(), telnet.BytesPerPacket(),
		telnet.PacketsPerSec(st.Period()), telnet.ActivePerFlow(), telnet.IdlePerFlow()}
	if diff := cmp.Diff([]float64{0.1, 3.5, 428.0 / 7, 0.35, 2, 1}, derived); diff != "" {
		t.Errorf("telnet flows/s, packets/flow, bytes/packet, packets/s, active, idle (-want +got):\n%s", diff)
	}
}

func TestStatsCountOneWayFlowsInBothModes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bidirectional = true
	tb, recs := replayLecture(t, cfg)
	st := tb.Stats()
	if len(recs) != 5 {
		t.Errorf("bidirectional records = %d, want 5 (telnet, dns, ping, jumbo, last)", len(recs))
	}
	var flows, packets uint64
	for _, p := range st.Protocols {
		flows += p.Flows
		packets += p.Packets
	}
	if flows != 8 || packets != 15 {
		t.Errorf("protocol table counts %d flows, %d packets; want 8 one-way flows, 15 packets", flows, packets)
	}
}

func TestCacheTextLooksLikeTheRouter(t *testing.T) {
	tb, _ := replayLecture(t, DefaultConfig())
	var b strings.Builder
	if err := tb.Stats().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `IP packet size distribution (15 total packets):
   1-32   64   96  128  160  192  224  256  288  320  352  384  416  448  480
   .000 .533 .267 .067 .067 .000 .000 .000 .000 .000 .000 .000 .000 .000 .000

    512  544  576 1024 1536 2048 2560 3072 3584 4096 4608 >4608
   .000 .000 .000 .000 .000 .000 .000 .000 .000 .000 .000  .067

IP Flow Cache, 65536 entries, unidirectional
  0 active, 65536 inactive, 8 added
  0 emergency expiries (lack of resources)
  Active flows timeout in 30 minutes
  Inactive flows timeout in 15 seconds
  Flows exported: 5 inactive, 0 active, 2 end of flow, 1 forced, 0 lack of resources
  statistics since 2026-12-01T00:00:00Z (20s)

Protocol         Total    Flows   Packets Bytes  Packets Active(Sec) Idle(Sec)
--------         Flows     /Sec     /Flow  /Pkt     /Sec       /Flow     /Flow
TCP-Telnet           2      0.1         3    61      0.3         2.0       1.0
UDP-DNS              2      0.1         1   100      0.1         0.0      15.0
UDP-other            2      0.1         1  4520      0.1         0.0       7.5
ICMP                 2      0.1         2    84      0.2         1.0      15.0
Total:               8      0.4         1   666      0.8         0.8       9.6
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("show cache text (-want +got):\n%s", diff)
	}
}

// TestOfflineAgesAsLive replays the lecture offline and feeds the same
// packets live-style (monotonic stamps, fake boot offset, Merge then
// Expire per harvest); the records must be identical.
func TestOfflineAgesAsLive(t *testing.T) {
	for _, bidir := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Bidirectional = bidir
		_, offline := replayLecture(t, cfg)

		clock := &fakeClock{}
		tb := newTestTable(t, cfg, clock)
		var live []Record
		for _, p := range lecture() {
			at := captureStart.Add(p.at).Sub(boot) // the same instant, as monotonic ns
			clock.mono = at
			d := p.d
			d.Packets, d.FirstNs, d.LastNs = 1, uint64(at), uint64(at)
			tb.Merge([]Delta{d})
			live = tb.Expire(live)
		}
		live = tb.Flush(live)
		if diff := cmp.Diff(offline, live, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("bidirectional=%v: offline vs live records (-offline +live):\n%s", bidir, diff)
		}
	}
}
