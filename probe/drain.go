package probe

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
)

// Reading a large idle slot with one thread is bound by the kernel walking
// and copying it (about half a microsecond an entry on a big map). A hash
// map's batch cursor is a bucket number, so the walk splits: each worker
// starts at its own bucket and stops once its cursor passes the next
// worker's start. Its last batch may run past that start:
//   - with lookup-and-delete an entry is returned by whichever worker
//     reaches its bucket first, once (a bucket is locked while read and
//     emptied), so nothing is lost or doubled;
//   - with a plain lookup both workers return the buckets of the overrun,
//     so the next worker's copies of the keys in the last batch are
//     dropped (an idle slot does not change between the two reads).

// Batch commands of bpf(2); cilium/ebpf's cursor is opaque, so the split
// walk issues them itself.
const (
	cmdLookupBatch          = 24 // BPF_MAP_LOOKUP_BATCH
	cmdLookupAndDeleteBatch = 25 // BPF_MAP_LOOKUP_AND_DELETE_BATCH
)

// batchAttr is the batch part of union bpf_attr.
type batchAttr struct {
	inBatch, outBatch uint64
	keys, values      uint64
	count, mapFD      uint32
	elemFlags, flags  uint64
}

// parallelMinEntries is the slot size from which reading is split; below
// it one thread finishes before a second would have started.
const parallelMinEntries = 1 << 16

// worker is one reader of a bucket range, with its own buffers.
type worker struct {
	keys    []bpf.FlowKey
	values  []bpf.FlowValue
	dst     []cache.Delta
	last    int  // index in dst where the last batch began
	overran bool // the last batch went past the range's end
}

// splitRead reads slot fd (of maxEntries) with cmd (lookup-and-delete to
// drain, lookup to read), one worker per CPU, and appends the Deltas to dst.
func (p *Probe) splitRead(fd int, maxEntries uint32, cmd uintptr, dst []cache.Delta) ([]cache.Delta, error) {
	buckets := uint32(1)
	for buckets < maxEntries { // the kernel rounds a hash map up to a power of two
		buckets <<= 1
	}
	n := min(runtime.NumCPU(), 8)
	if len(p.workers) < n {
		p.workers = make([]worker, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for w := range n {
		from, to := buckets/uint32(n)*uint32(w), buckets/uint32(n)*uint32(w+1)
		if w == n-1 {
			to = buckets
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = p.workers[w].walk(fd, cmd, from, to, buckets, p.ncpu, len(p.keys))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return dst, fmt.Errorf("read flow slot: %w", err)
	}
	// An overrun can reach into any later range (a sparse map is read to
	// its end in one batch), so its keys are checked against all of them.
	var overrun map[bpf.FlowKey]struct{}
	for w := range n {
		wk := &p.workers[w]
		for i := range wk.dst {
			if _, dup := overrun[wk.dst[i].Key]; !dup {
				dst = append(dst, wk.dst[i])
			}
		}
		if cmd == cmdLookupBatch && wk.overran {
			if overrun == nil {
				overrun = make(map[bpf.FlowKey]struct{}, len(wk.dst)-wk.last)
			}
			for _, d := range wk.dst[wk.last:] {
				overrun[d.Key] = struct{}{}
			}
		}
	}
	return dst, nil
}

// walk reads buckets [from, to) of end — and possibly past to: the last
// batch ends where it ends.
func (w *worker) walk(fd int, cmd uintptr, from, to, end uint32, ncpu, batch int) error {
	if len(w.keys) < batch {
		w.keys, w.values = make([]bpf.FlowKey, batch), make([]bpf.FlowValue, batch*ncpu)
	}
	w.dst, w.last, w.overran = w.dst[:0], 0, false
	in, out := from, uint32(0)
	for {
		attr := batchAttr{
			inBatch:  uint64(uintptr(unsafe.Pointer(&in))),
			outBatch: uint64(uintptr(unsafe.Pointer(&out))),
			keys:     uint64(uintptr(unsafe.Pointer(&w.keys[0]))),
			values:   uint64(uintptr(unsafe.Pointer(&w.values[0]))),
			count:    uint32(len(w.keys)),
			mapFD:    uint32(fd),
		}
		_, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(w)
		if errno == unix.ENOSPC { // a bucket holds more than the batch
			w.keys, w.values = make([]bpf.FlowKey, 2*len(w.keys)), make([]bpf.FlowValue, 2*len(w.values))
			continue
		}
		if errno != 0 && errno != unix.ENOENT {
			return errno
		}
		w.last = len(w.dst)
		for i := range int(attr.count) {
			w.dst = append(w.dst, sumCPUs(&w.keys[i], w.values[i*ncpu:(i+1)*ncpu]))
		}
		if errno == unix.ENOENT { // the end of the map: past to, unless to is the end
			w.overran = to < end
			return nil
		}
		if out >= to {
			w.overran = out > to
			return nil
		}
		in = out
	}
}
