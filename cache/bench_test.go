package cache

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/spanflow/spanflow/bpf"
)

// benchDeltas returns n one-packet deltas of n distinct IPv4 UDP flows,
// stamped at mono time at.
func benchDeltas(n int, at time.Duration) []Delta {
	ds := make([]Delta, n)
	for i := range ds {
		var k bpf.FlowKey
		k.SrcAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: byte(i >> 8), 15: byte(i)}
		k.DstAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 19, 14: byte(i >> 16), 15: byte(i >> 24)}
		k.SrcPort, k.DstPort = uint16(1024+i%50000), 53
		k.Proto, k.IpVersion, k.Ifindex = protoUDP, 4, 2
		ds[i] = Delta{Key: k, Packets: 1, Bytes: 100, FirstNs: uint64(at), LastNs: uint64(at)}
	}
	return ds
}

const benchBatch = 4096 // deltas per Merge, about one harvest of a busy port

func mergeAll(tb *Table, ds []Delta) {
	for i := 0; i < len(ds); i += benchBatch {
		tb.Merge(ds[i:min(i+benchBatch, len(ds))])
	}
}

// BenchmarkMergeExisting merges deltas into flows already in the table,
// in random order: the steady state of a harvest. One op is one delta.
func BenchmarkMergeExisting(b *testing.B) {
	for _, tc := range []struct {
		flows int
		bidir bool
	}{{64 << 10, false}, {1 << 20, false}, {1 << 20, true}} {
		b.Run(fmt.Sprintf("flows=%d/bidir=%v", tc.flows, tc.bidir), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MaxFlows, cfg.Bidirectional = tc.flows, tc.bidir
			tb := newTestTable(b, cfg, &fakeClock{mono: 1 * s})
			ds := benchDeltas(tc.flows, 1*s)
			mergeAll(tb, ds)
			// A harvest drains the kernel map in its hash order, not
			// in the order the flows were created.
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
			runtime.GC() // not the setup's garbage
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += benchBatch {
				j := i % tc.flows
				tb.Merge(ds[j:min(j+benchBatch, tc.flows, j+b.N-i)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "merges/s")
		})
	}
}

// BenchmarkMergeNewFlows creates flows in an empty table. One op is one
// new flow.
func BenchmarkMergeNewFlows(b *testing.B) {
	const flows = 1 << 20
	cfg := DefaultConfig()
	cfg.MaxFlows = flows
	ds := benchDeltas(flows, 1*s)
	b.ReportAllocs()
	b.ResetTimer()
	var tb *Table
	for i := 0; i < b.N; i += benchBatch {
		if i%flows == 0 {
			b.StopTimer()
			tb = nil
			runtime.GC()
			tb = newTestTable(b, cfg, &fakeClock{mono: 1 * s})
			b.StartTimer()
		}
		j := i % flows
		tb.Merge(ds[j:min(j+benchBatch, flows, j+b.N-i)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "merges/s")
}

// BenchmarkExpire times the idle expiry of a whole 1M-flow table (one op
// is one expired flow, record included) and an Expire call that finds
// nothing due in the same table, which must not depend on its size.
func BenchmarkExpire(b *testing.B) {
	const flows = 1 << 20
	cfg := DefaultConfig()
	cfg.MaxFlows = flows
	ds := benchDeltas(flows, 1*s)
	b.Run("per-expired-flow", func(b *testing.B) {
		b.ReportAllocs()
		recs := make([]Record, 0, flows)
		done := 0
		b.StopTimer()
		for done < b.N {
			clock := &fakeClock{mono: 1 * s}
			tb := newTestTable(b, cfg, clock)
			mergeAll(tb, ds[:min(flows, b.N-done)])
			clock.mono = 16 * s
			runtime.GC()
			b.StartTimer()
			recs = tb.Expire(recs[:0])
			b.StopTimer()
			done += len(recs)
		}
	})
	for _, n := range []int{64 << 10, flows} {
		b.Run(fmt.Sprintf("nothing-due/flows=%d", n), func(b *testing.B) {
			clock := &fakeClock{mono: 1 * s}
			tb := newTestTable(b, cfg, clock)
			mergeAll(tb, ds[:n])
			clock.mono = 2 * s
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				tb.Expire(nil)
			}
		})
	}
}

// BenchmarkMemoryPerFlow1M measures the Go heap a table of 1M active
// flows holds (runtime.MemStats.HeapAlloc after a GC, before and after),
// in both modes.
func BenchmarkMemoryPerFlow1M(b *testing.B) {
	const flows = 1 << 20
	ds := benchDeltas(flows, 1*s)
	for _, bidir := range []bool{false, true} {
		b.Run(fmt.Sprintf("bidir=%v", bidir), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MaxFlows, cfg.Bidirectional = flows, bidir
			var perFlow float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tb := newTestTable(b, cfg, &fakeClock{mono: 1 * s})
				mergeAll(tb, ds)
				runtime.GC()
				runtime.ReadMemStats(&after)
				if tb.Len() != flows {
					b.Fatalf("table holds %d flows, want %d", tb.Len(), flows)
				}
				perFlow = float64(after.HeapAlloc-before.HeapAlloc) / flows
				runtime.KeepAlive(tb)
			}
			b.ReportMetric(perFlow, "bytes/flow")
		})
	}
}

// BenchmarkMemoryLatencyBaseline is the yardstick for the 1M-flow merge:
// one dependent random read (pointer chase) in a 128 MiB array, i.e. one
// cache and TLB miss on this machine. A merge into a table far larger
// than the caches cannot beat about one of these.
func BenchmarkMemoryLatencyBaseline(b *testing.B) {
	next := make([]uint32, 32<<20)
	perm := rand.New(rand.NewPCG(3, 4)).Perm(len(next))
	for i := range perm {
		next[perm[i]] = uint32(perm[(i+1)%len(perm)])
	}
	b.ResetTimer()
	p := uint32(0)
	for range b.N {
		p = next[p]
	}
	runtime.KeepAlive(p)
}

// BenchmarkReplay is offline mode's cost per packet: 10k flows, packets
// 1 ms apart, Expire before every Merge as Replay does. One op is one
// packet.
func BenchmarkReplay(b *testing.B) {
	keys := benchDeltas(10_000, 0)
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	packets := func(yield func(time.Time, Delta) bool) {
		for i := range b.N {
			ts := start.Add(time.Duration(i) * time.Millisecond)
			d := keys[i%len(keys)]
			d.FirstNs, d.LastNs = uint64(ts.UnixNano()), uint64(ts.UnixNano())
			if !yield(ts, d) {
				return
			}
		}
	}
	clock := NewCaptureClock(time.Time{})
	tb := newTestTable(b, DefaultConfig(), clock)
	var records int
	b.ReportAllocs()
	b.ResetTimer()
	err := Replay(tb, clock, packets, func(rs []Record) error { records += len(rs); return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
