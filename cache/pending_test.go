package cache

import (
	"testing"
	"time"

	"github.com/spanflow/spanflow/bpf"
)

func TestPendingReportsEachDirectionSinceLastExport(t *testing.T) {
	for _, bidir := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Bidirectional = bidir
		clock := NewCaptureClock(boot)
		tab, err := NewTable(cfg, clock)
		if err != nil {
			t.Fatal(err)
		}
		a := key(6, "198.18.0.1:1000", "198.18.0.2:80")
		b := key(6, "198.18.0.2:80", "198.18.0.1:1000")
		ns := func(d time.Duration) uint64 { return uint64(boot.Add(d).UnixNano()) }
		tab.Merge([]Delta{
			{Key: a, Packets: 2, Bytes: 100, FirstNs: ns(time.Second), LastNs: ns(2 * time.Second), TCPFlags: 0x02},
			{Key: b, Packets: 1, Bytes: 60, FirstNs: ns(3 * time.Second), LastNs: ns(3 * time.Second), TCPFlags: 0x12},
		})
		pa, okA := tab.Pending(a)
		pb, okB := tab.Pending(b)
		if !okA || !okB {
			t.Fatalf("bidir=%v: pending found a=%v b=%v", bidir, okA, okB)
		}
		if pa.Packets != 2 || pa.Bytes != 100 || pa.TCPFlags != 0x02 || pa.FirstNs != int64(ns(time.Second)) || pa.LastNs != int64(ns(2*time.Second)) {
			t.Errorf("bidir=%v: pending a = %+v", bidir, pa)
		}
		if pb.Packets != 1 || pb.Bytes != 60 || pb.TCPFlags != 0x12 || pb.FirstNs != int64(ns(3*time.Second)) {
			t.Errorf("bidir=%v: pending b = %+v", bidir, pb)
		}
		// After the flush nothing is pending any more.
		tab.Flush(nil)
		if _, ok := tab.Pending(a); ok {
			t.Errorf("bidir=%v: pending after flush", bidir)
		}
	}
}

func TestReverseKeyPairsAsCanonicalDoes(t *testing.T) {
	for _, tc := range []struct {
		k    bpf.FlowKey
		pair bool
	}{
		{key(6, "198.18.0.1:1000", "198.18.0.2:80"), true},
		{icmpKey(1, "198.18.0.1", "198.18.0.2", 8, 0), true},
		{icmpKey(1, "198.18.0.2", "198.18.0.1", 0, 0), true},
		{icmpKey(58, "2001:db8::1", "2001:db8::2", 128, 0), true},
		{icmpKey(1, "198.18.0.1", "198.18.0.2", 13, 0), true},
		{icmpKey(1, "198.18.0.1", "198.18.0.2", 3, 1), false},
	} {
		r, ok := ReverseKey(tc.k)
		if ok != tc.pair {
			t.Errorf("%+v: pairs = %v, want %v", tc.k, ok, tc.pair)
			continue
		}
		if ok && (canonical(r) != canonical(tc.k) || r == tc.k) {
			t.Errorf("%+v: reverse %+v does not share its canonical key", tc.k, r)
		}
		if back, _ := ReverseKey(r); ok && back != tc.k {
			t.Errorf("%+v: reverse of reverse is %+v", tc.k, back)
		}
	}
}

// TestFlowAtUnixEpochIsExported: a capture stamped at Unix time 0 (some
// test captures are) still makes records.
func TestFlowAtUnixEpochIsExported(t *testing.T) {
	epoch := time.Unix(0, 0)
	clock := NewCaptureClock(epoch)
	tab, err := NewTable(DefaultConfig(), clock)
	if err != nil {
		t.Fatal(err)
	}
	k := key(17, "198.18.0.1:4500", "198.18.0.2:4500")
	tab.Merge([]Delta{{Key: k, Packets: 3, Bytes: 300}})
	recs := tab.Flush(nil)
	if len(recs) != 1 || recs[0].Packets != 3 || !recs[0].Start.Equal(epoch) {
		t.Fatalf("records = %+v, want one of 3 packets starting at the epoch", recs)
	}
	if s := tab.Stats(); !s.Since.Equal(epoch) {
		t.Errorf("statistics since %v, want the epoch", s.Since)
	}
}

// TestCaptureClockFollowsOnlyLargeStepsBack: reordering of up to a second
// leaves the clock alone; a capture spliced from an earlier one moves it
// back, so the earlier part ages among its own packets.
func TestCaptureClockFollowsOnlyLargeStepsBack(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := NewCaptureClock(t0)
	c.Advance(t0.Add(10 * time.Second))
	c.Advance(t0.Add(10*time.Second - CaptureStepBack)) // reordering
	if got := c.Now(); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("after a step back of %v: now %v", CaptureStepBack, got)
	}
	c.Advance(t0) // splice
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("after a step back of 10 s: now %v, want %v", got, t0)
	}

	// A flow of the earlier part, whose packets are 5 s apart, stays one
	// record though the capture showed a later time first.
	tab, err := NewTable(DefaultConfig(), NewCaptureClock(t0.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	late := key(17, "198.18.0.1:1", "198.18.0.2:2")
	early := key(17, "198.18.0.3:3", "198.18.0.4:4")
	ns := func(d time.Duration) uint64 { return uint64(t0.Add(d).UnixNano()) }
	var recs []Record
	err = Replay(tab, tab.clock.(*CaptureClock), func(yield func(time.Time, Delta) bool) {
		for _, p := range []struct {
			at time.Duration
			k  bpf.FlowKey
		}{{time.Hour, late}, {0, early}, {5 * time.Second, early}} {
			if !yield(t0.Add(p.at), Delta{Key: p.k, Packets: 1, Bytes: 100, FirstNs: ns(p.at), LastNs: ns(p.at)}) {
				return
			}
		}
	}, func(r []Record) error { recs = append(recs, r...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.SrcPort == 3 {
			n++
			if r.Packets != 2 {
				t.Errorf("early flow record with %d packets, want both in one", r.Packets)
			}
		}
	}
	if n != 1 {
		t.Fatalf("early flow in %d records, want 1: %+v", n, recs)
	}
}
