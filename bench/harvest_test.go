package bench

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

// BenchmarkHarvest64k and BenchmarkHarvest1M time probe.Harvest on a
// full slot: flip, batch lookup-and-delete of every entry, per-CPU sums,
// stats. Target ≥ 2 M entries/s.
func BenchmarkHarvest64k(b *testing.B) { benchHarvest(b, 1<<16, false) }
func BenchmarkHarvest1M(b *testing.B)  { benchHarvest(b, 1<<20, false) }

// The durable harvest of a pinned daemon reads the slot, and clears it
// only after the ledger holds what was read: Flip, ReadSlot, a ledger
// entry per flow, ClearSlot (the flow table's merge is priced in cache's
// BenchmarkMerge*). Each phase's median is reported too.
func BenchmarkHarvestDurable64k(b *testing.B) { benchHarvest(b, 1<<16, true) }
func BenchmarkHarvestDurable1M(b *testing.B)  { benchHarvest(b, 1<<20, true) }

// BenchmarkHarvestEmpty times a harvest with nothing to drain: what the
// flip's wait for running programs (an RCU grace period) and the stats
// read cost on their own, paid once per harvest interval.
func BenchmarkHarvestEmpty(b *testing.B) {
	probetest.RequireRoot(b)
	p := openProbe(b, probe.Options{})
	var dst []cache.Delta
	for b.Loop() {
		var err error
		if dst, _, err = p.Harvest(dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchHarvest fills the active slot of a probe sized n with n flows
// through BatchUpdate (untimed), then times the harvest that drains them.
// Each flow has counters on CPU 0 only, as a flow seen by one CPU does.
// entries/s is wall time, what the agent waits; entries/s-cpu divides by
// the CPU time of this process (all its threads: a big slot is drained by
// one worker per CPU), which leaves out the flip's sleep and the time
// other processes took on a shared machine.
// ms-flip is an empty harvest timed right after each full one: the flip's
// wait, paid once per harvest whatever the slot holds. Each is the median
// over the harvests, so one stall caused by another tenant does not decide.
func benchHarvest(b *testing.B, n int, durable bool) {
	probetest.RequireRoot(b)
	opts := probe.Options{MapEntries: uint32(n)}
	var ledger *probe.Ledger
	if durable {
		opts.PinDir = probe.DefaultPinDir + "-bench-harvest"
	}
	p := openProbe(b, opts)
	if durable {
		b.Cleanup(func() { p.Detach() })
		var err error
		if ledger, err = probe.OpenLedger(opts.PinDir, uint32(3*n+1), true); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ledger.Close() })
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]bpf.FlowKey, n)
	values := make([]bpf.FlowValue, n*ncpu)
	for i := range keys {
		k := &keys[i]
		k.SrcAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18}
		k.DstAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 19}
		binary.BigEndian.PutUint16(k.SrcAddr[14:], uint16(i))
		binary.BigEndian.PutUint16(k.DstAddr[14:], uint16(i>>16))
		k.SrcPort, k.DstPort, k.Proto, k.IpVersion, k.Ifindex = 40000, 443, 6, 4, 1
		values[i*ncpu] = bpf.FlowValue{Packets: 1, Bytes: 100, FirstNs: 1, LastNs: 2, TcpFlags: 0x10}
	}
	dst := make([]cache.Delta, 0, n)

	runtime.LockOSThread() // so that the thread's CPU clock sees every harvest syscall
	defer runtime.UnlockOSThread()
	var harvest, cpu, empty []float64 // seconds, one per harvest
	var phases durablePhases
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if got, err := p.ActiveSlot().BatchUpdate(keys, values, &ebpf.BatchOptions{}); err != nil || got != n {
			b.Fatalf("fill slot: %d of %d entries: %v", got, n, err)
		}
		b.StartTimer()
		start, startCPU := time.Now(), processCPU(b)
		if durable {
			dst, err = phases.harvest(p, ledger, dst[:0])
		} else {
			dst, _, err = p.Harvest(dst[:0])
		}
		harvest = append(harvest, time.Since(start).Seconds())
		cpu = append(cpu, (processCPU(b) - startCPU).Seconds())
		if err != nil || len(dst) != n {
			b.Fatalf("harvest: %d of %d flows: %v", len(dst), n, err)
		}
		b.StopTimer()
		start = time.Now()
		if _, _, err := p.Harvest(dst[:0]); err != nil {
			b.Fatal(err)
		}
		empty = append(empty, time.Since(start).Seconds())
		b.StartTimer()
	}
	b.ReportMetric(float64(n)/median(harvest), "entries/s")
	b.ReportMetric(float64(n)/median(cpu), "entries/s-cpu")
	b.ReportMetric(median(empty)*1000, "ms-flip")
	if durable {
		b.ReportMetric(median(phases.read)*1000, "ms-read")
		b.ReportMetric(median(phases.ledger)*1000, "ms-ledger")
		b.ReportMetric(median(phases.clear)*1000, "ms-clear")
	}
}

// processCPU returns the CPU time (user + system) of the whole process: a
// big slot is drained by several threads at once, so one thread's clock
// would undercount.
func processCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// durablePhases times the pinned daemon's harvest without its flow
// table: flip and read, one ledger entry per flow, clear. Seconds, one
// per harvest.
type durablePhases struct{ read, ledger, clear []float64 }

func (ph *durablePhases) harvest(p *probe.Probe, ledger *probe.Ledger, dst []cache.Delta) ([]cache.Delta, error) {
	start := time.Now()
	old, err := p.Flip()
	if err != nil {
		return dst, err
	}
	if dst, err = p.ReadSlot(old, dst); err != nil {
		return dst, err
	}
	read := time.Now()
	for i := range dst {
		d := &dst[i]
		ledger.Put(d.Key, probe.LedgerValue{Packets: d.Packets, Bytes: d.Bytes, FirstNs: int64(d.FirstNs), LastNs: int64(d.LastNs), TCPFlags: d.TCPFlags})
	}
	if err := ledger.Write(); err != nil {
		return dst, err
	}
	written := time.Now()
	err = p.ClearSlot(old)
	ph.read = append(ph.read, read.Sub(start).Seconds())
	ph.ledger = append(ph.ledger, written.Sub(read).Seconds())
	ph.clear = append(ph.clear, time.Since(written).Seconds())
	return dst, err
}
