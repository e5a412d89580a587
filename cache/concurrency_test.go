package cache

import (
	"io"
	"sync"
	"testing"
	"time"
)

// TestTableServesViewsWhileMerging runs the harvest loop and the show
// commands at once; `go test -race` checks the locking, and the counts
// check that nothing was lost.
func TestTableServesViewsWhileMerging(t *testing.T) {
	clock := &CaptureClock{}
	tb := newTestTable(t, DefaultConfig(), clock)
	ds := benchDeltas(2000, 0)
	var wg sync.WaitGroup
	wg.Add(1)
	var exported uint64
	go func() {
		defer wg.Done()
		for round := range 50 {
			now := captureStart.Add(time.Duration(round) * time.Second)
			clock.Advance(now)
			batch := make([]Delta, len(ds))
			for i, d := range ds {
				d.FirstNs, d.LastNs = uint64(now.UnixNano()), uint64(now.UnixNano())
				batch[i] = d
			}
			tb.Merge(batch)
			for _, r := range tb.Expire(nil) {
				exported += r.Packets
			}
		}
		for _, r := range tb.Flush(nil) {
			exported += r.Packets
		}
	}()
	for range 50 {
		_ = tb.Stats().WriteText(io.Discard)
		_ = tb.TopTalkers(10, ByPackets).WriteText(io.Discard, nil)
	}
	wg.Wait()
	if want := uint64(50 * len(ds)); exported != want {
		t.Errorf("exported %d packets, want %d", exported, want)
	}
}
