package bench

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

// Sizes behind the kernel's memlock of a preallocated per-CPU hash
// (htab_map_mem_usage): each of max_entries elements holds a fixed header
// (struct htab_elem), the key rounded up to 8 bytes and a pointer to its
// per-CPU value; the value, rounded up to 8 bytes, is stored once per
// possible CPU; and the table has one 16-byte bucket per entry, rounded up
// to a power of two.
const (
	flowKeySize   = int(unsafe.Sizeof(bpf.FlowKey{}))
	flowValueSize = int(unsafe.Sizeof(bpf.FlowValue{}))
	pointerSize   = 8
	bucketSize    = 16 // struct bucket: list head + spinlock
	manyCPUs      = 64
)

// BenchmarkFlowSlotMemory reads the memlock of a flow slot map on this
// machine, divides it by max_entries, and projects it to a 64-CPU host
// with the formula above; the element header is what the measurement
// leaves once the formula's other terms are taken out. Target ≤ 256 bytes
// per slot here. A probe has two slots, so its kernel memory per flow of
// capacity is twice the per-slot figure.
func BenchmarkFlowSlotMemory(b *testing.B) {
	probetest.RequireRoot(b)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	for _, entries := range []uint32{1 << 16, 1 << 20} {
		p := openProbe(b, probe.Options{MapEntries: entries})
		info, err := p.ActiveSlot().Info()
		if err != nil {
			b.Fatal(err)
		}
		memlock, ok := info.Memlock()
		if !ok {
			b.Fatal("kernel reports no memlock for the flow slot")
		}
		p.Close()

		perSlot := float64(memlock) / float64(entries)
		buckets := float64(bucketSize) // entries is a power of two here
		header := perSlot - buckets - round8(flowKeySize) - pointerSize - float64(ncpu)*round8(flowValueSize)
		at := func(cpus int) float64 {
			return header + round8(flowKeySize) + pointerSize + float64(cpus)*round8(flowValueSize) + buckets
		}
		b.Run(fmt.Sprintf("%dk", entries>>10), func(b *testing.B) {
			b.ReportMetric(0, "ns/op") // report-only: this loop times nothing
			b.ReportMetric(perSlot, "B/slot")
			b.ReportMetric(float64(ncpu), "cpus")
			b.ReportMetric(header, "B-elem-header")
			b.ReportMetric(at(manyCPUs), "B/slot-64cpu")
			b.ReportMetric(2*at(manyCPUs)*float64(entries)/(1<<20), "MiB-probe-64cpu")
		})
	}
}

func round8(n int) float64 { return float64((n + 7) &^ 7) }
