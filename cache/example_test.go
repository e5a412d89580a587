package cache_test

import (
	"fmt"
	"iter"
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
)

func udpKey(src, dst string) bpf.FlowKey {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return bpf.FlowKey{SrcAddr: s.Addr().As16(), DstAddr: d.Addr().As16(), SrcPort: s.Port(), DstPort: d.Port(), Proto: 17, IpVersion: 4}
}

// The live loop in cmd: merge each harvest, then expire. Live, the clock
// is cache.NewMonotonicClock(); here a CaptureClock stands in for it.
func ExampleTable() {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := cache.NewCaptureClock(start)
	table, err := cache.NewTable(cache.DefaultConfig(), clock)
	if err != nil {
		panic(err)
	}
	at := func(d time.Duration) uint64 { return uint64(start.Add(d).UnixNano()) }
	harvests := [][]cache.Delta{
		{{Key: udpKey("198.18.0.1:5353", "198.18.0.2:53"), Packets: 1, Bytes: 60, FirstNs: at(0), LastNs: at(0)}},
		nil, nil,
	}
	var recs []cache.Record
	for i, deltas := range harvests {
		clock.Advance(start.Add(time.Duration(i) * 10 * time.Second)) // 0 s, 10 s, 20 s
		table.Merge(deltas)
		recs = table.Expire(recs[:0])
		for _, r := range recs {
			fmt.Printf("at %2ds: %v > %v, %d packet, end reason %d\n", 10*i, r.SrcAddr, r.DstAddr, r.Packets, r.EndReason)
		}
	}
	recs = table.Flush(recs[:0]) // at shutdown
	fmt.Println("flushed", len(recs))
	// Output:
	// at 20s: 198.18.0.1 > 198.18.0.2, 1 packet, end reason 1
	// flushed 0
}

// Offline (-r FILE): the reader yields one-packet deltas stamped with the
// capture's Unix ns; Replay ages them by the capture's own time.
func ExampleReplay() {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	key := udpKey("198.18.0.1:5353", "198.18.0.2:53")
	packets := iter.Seq2[time.Time, cache.Delta](func(yield func(time.Time, cache.Delta) bool) {
		for _, sec := range []int{0, 1, 30} {
			ts := start.Add(time.Duration(sec) * time.Second)
			ns := uint64(ts.UnixNano())
			if !yield(ts, cache.Delta{Key: key, Packets: 1, Bytes: 60, FirstNs: ns, LastNs: ns}) {
				return
			}
		}
	})
	clock := cache.NewCaptureClock(time.Time{})
	table, err := cache.NewTable(cache.DefaultConfig(), clock)
	if err != nil {
		panic(err)
	}
	err = cache.Replay(table, clock, packets, func(recs []cache.Record) error {
		for _, r := range recs {
			fmt.Printf("%d packets %s–%s, end reason %d\n", r.Packets,
				r.Start.UTC().Format("15:04:05"), r.End.UTC().Format("15:04:05"), r.EndReason)
		}
		return nil
	})
	fmt.Println("error:", err)
	// Output:
	// 2 packets 00:00:00–00:00:01, end reason 1
	// 1 packets 00:00:30–00:00:30, end reason 4
	// error: <nil>
}
