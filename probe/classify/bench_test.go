package classify_test

import (
	"testing"

	"github.com/spanflow/spanflow/probe/classify"
)

// BenchmarkClassifyRealHeads feeds the payload heads of every flow of the
// real captures through a reused Flow, with the shipped budgets, and
// reports heads per second. One op is one flow; heads/s counts the heads
// actually fed.
func BenchmarkClassifyRealHeads(b *testing.B) {
	set := loadReal(b)
	var fl classify.Flow
	fed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := set.list[i%len(set.list)]
		fl.Reset(f.key.proto, f.initiator.port, otherPort(f))
		for _, h := range f.heads {
			if !fl.Wants(h.dir) {
				continue
			}
			fed++
			if fl.Feed(h.dir, h.b, h.wire) {
				break
			}
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	if sec > 0 {
		b.ReportMetric(float64(fed)/sec, "heads/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(fed, 1)), "ns/head")
	}
}
