package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
)

// Ledger holds, for each flow direction, the counts harvested from the
// kernel but not yet exported. It lives in the pin directory, so a
// spanflow killed at any moment restarts with them: the counts are never
// only in the memory of a dead process.
//
// It is a pinned BPF array (no program uses it) that spanflow maps into
// its memory, so writing an entry costs a memory store, not a system
// call: a harvest of a full slot writes tens of thousands per flip. An
// entry is written copy-on-write: the new copy goes into a free cell and
// is published by its version, written last; then the old cell is freed.
// A process killed between two stores leaves either the old copy alone or
// both, and Load keeps the newer.
//
// Each entry carries the epoch of the slot drain that last wrote it. A
// drain interrupted by a crash is finished after restart under the same
// epoch, and an entry already written by it is not added twice.
type Ledger struct {
	cells    *ebpf.Map // cell index → ledgerCell
	meta     *ebpf.Map // 0 → ledgerMeta
	mem      []byte    // cells, mapped
	table    []ledgerCell
	index    map[bpf.FlowKey]uint32 // key → its live cell
	free     []uint32               // cells not in use
	version  uint64                 // the last version written
	putFails int                    // Puts since the last Write that found no free cell
}

// LedgerValue is one direction's unexported counts. Times are wall Unix ns.
type LedgerValue struct {
	Packets  uint64
	Bytes    uint64
	FirstNs  int64
	LastNs   int64
	TCPFlags uint8
	_        [3]uint8
	Epoch    uint32
}

// ledgerCell is one entry; Version 0 marks a free cell.
type ledgerCell struct {
	Key     bpf.FlowKey
	Value   LedgerValue
	Version uint64
}

// ledgerMeta numbers the slot drains: NextEpoch is the next drain's, and
// SlotEpoch[i] the epoch under which slot i's contents are drained.
type ledgerMeta struct {
	NextEpoch uint32
	SlotEpoch [2]uint32
	_         uint32
}

const (
	ledgerMap     = "spanflow_ledger"
	ledgerMetaMap = "spanflow_ledger_meta"
)

func ledgerSpec(cells uint32) *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name: ledgerMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(unsafe.Sizeof(ledgerCell{})),
		MaxEntries: cells, Flags: unix.BPF_F_MMAPABLE, Pinning: ebpf.PinByName,
	}
}

// OpenLedger opens the ledger pinned in dir, creating it empty. It holds
// up to cells flow directions. A ledger of another size (or of an earlier
// layout) is resized: its entries are carried over when they fit, else it
// is refused, or with replace discarded (its unexported counts are lost).
func OpenLedger(dir string, cells uint32, replace bool) (*Ledger, error) {
	if cells == 0 {
		return nil, errors.New("open ledger: no cells")
	}
	path := filepath.Join(dir, ledgerMap)
	carried, err := loadForeignLedger(path, cells)
	if err != nil && !replace {
		return nil, err
	}
	if err != nil || carried != nil {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
	}
	m, err := ebpf.NewMapWithOptions(ledgerSpec(cells), ebpf.MapOptions{PinPath: dir})
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	meta, err := openLedgerMeta(dir, replace)
	if err != nil {
		m.Close()
		return nil, err
	}
	l := &Ledger{cells: m, meta: meta}
	if err := l.mapCells(); err != nil {
		l.Close()
		return nil, err
	}
	for k, v := range carried {
		l.Put(k, v)
	}
	return l, l.Write()
}

// loadForeignLedger returns the entries of a ledger pinned at path that
// differs from the one wanted (size or layout), nil when there is none or
// it is the one wanted; an error when its entries cannot be carried over.
func loadForeignLedger(path string, cells uint32) (map[bpf.FlowKey]LedgerValue, error) {
	old, err := ebpf.LoadPinnedMap(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	defer old.Close()
	want := ledgerSpec(cells)
	if old.Type() == want.Type && old.ValueSize() == want.ValueSize && old.MaxEntries() == cells {
		return nil, nil
	}
	entries, err := readForeignLedger(old)
	if err != nil {
		return nil, fmt.Errorf("ledger at %s is of another size or layout and cannot be read (%w): use --replace to discard it (its unexported counts are lost)", path, err)
	}
	if len(entries) > int(cells) {
		return nil, fmt.Errorf("ledger at %s holds %d unexported flow directions, more than the %d the new --max-flows leaves room for: restart with a larger --max-flows, or use --replace to discard them", path, len(entries), cells)
	}
	if entries == nil {
		entries = map[bpf.FlowKey]LedgerValue{}
	}
	return entries, nil
}

// readForeignLedger reads a ledger of another size, or of the earlier
// layout (a hash from flow key to LedgerValue).
func readForeignLedger(m *ebpf.Map) (map[bpf.FlowKey]LedgerValue, error) {
	out := map[bpf.FlowKey]LedgerValue{}
	switch {
	case m.Type() == ebpf.Hash && m.ValueSize() == uint32(unsafe.Sizeof(LedgerValue{})):
		var (
			k bpf.FlowKey
			v LedgerValue
		)
		it := m.Iterate()
		for it.Next(&k, &v) {
			out[k] = v
		}
		return out, it.Err()
	case m.Type() == ebpf.Array && m.ValueSize() == uint32(unsafe.Sizeof(ledgerCell{})):
		var (
			i uint32
			c ledgerCell
		)
		newest := map[bpf.FlowKey]uint64{}
		it := m.Iterate()
		for it.Next(&i, &c) {
			if c.Version > newest[c.Key] {
				newest[c.Key], out[c.Key] = c.Version, c.Value
			}
		}
		return out, it.Err()
	}
	return nil, fmt.Errorf("unknown layout: %v of %d-byte values", m.Type(), m.ValueSize())
}

func openLedgerMeta(dir string, replace bool) (*ebpf.Map, error) {
	spec := &ebpf.MapSpec{
		Name: ledgerMetaMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(unsafe.Sizeof(ledgerMeta{})), MaxEntries: 1, Pinning: ebpf.PinByName,
	}
	meta, err := ebpf.NewMapWithOptions(spec, ebpf.MapOptions{PinPath: dir})
	if errors.Is(err, ebpf.ErrMapIncompatible) && replace {
		os.Remove(filepath.Join(dir, ledgerMetaMap))
		meta, err = ebpf.NewMapWithOptions(spec, ebpf.MapOptions{PinPath: dir})
	}
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return nil, fmt.Errorf("ledger epochs in %s are of another layout: use --replace to discard the pinned state", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return meta, nil
}

// mapCells maps the cells into memory and indexes the live ones. Of two
// live copies of one key (a crash between publishing a copy and freeing
// the old one) the newer stays.
func (l *Ledger) mapCells() error {
	n := int(l.cells.MaxEntries())
	size := n * int(unsafe.Sizeof(ledgerCell{}))
	mem, err := unix.Mmap(l.cells.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map ledger: %w", err)
	}
	l.mem = mem
	l.table = unsafe.Slice((*ledgerCell)(unsafe.Pointer(&mem[0])), n)
	l.index = make(map[bpf.FlowKey]uint32)
	for i := n - 1; i >= 0; i-- {
		c := &l.table[i]
		if c.Version == 0 {
			l.free = append(l.free, uint32(i))
			continue
		}
		l.version = max(l.version, c.Version)
		if j, ok := l.index[c.Key]; ok {
			older := uint32(i)
			if l.table[j].Version < c.Version {
				older, l.index[c.Key] = j, uint32(i)
			}
			l.release(older)
			continue
		}
		l.index[c.Key] = uint32(i)
	}
	return nil
}

// release frees cell i.
func (l *Ledger) release(i uint32) {
	atomic.StoreUint64(&l.table[i].Version, 0)
	l.free = append(l.free, i)
}

// Len is the number of flow directions held.
func (l *Ledger) Len() int { return len(l.index) }

func (l *Ledger) readMeta() (ledgerMeta, error) {
	var m ledgerMeta
	if err := l.meta.Lookup(uint32(0), &m); err != nil {
		return m, fmt.Errorf("read ledger meta: %w", err)
	}
	if m.NextEpoch == 0 {
		m.NextEpoch = 1
	}
	return m, nil
}

// BeginDrain gives slot a new epoch, before it is flipped out and read.
func (l *Ledger) BeginDrain(slot int) (uint32, error) {
	m, err := l.readMeta()
	if err != nil {
		return 0, err
	}
	epoch := m.NextEpoch
	m.SlotEpoch[slot], m.NextEpoch = epoch, epoch+1
	if err := l.meta.Put(uint32(0), &m); err != nil {
		return 0, fmt.Errorf("write ledger meta: %w", err)
	}
	return epoch, nil
}

// SlotEpoch is the epoch slot's contents are drained under.
func (l *Ledger) SlotEpoch(slot int) (uint32, error) {
	m, err := l.readMeta()
	return m.SlotEpoch[slot], err
}

// Load returns every entry.
func (l *Ledger) Load() (map[bpf.FlowKey]LedgerValue, error) {
	out := make(map[bpf.FlowKey]LedgerValue, len(l.index))
	for k, i := range l.index {
		out[k] = l.table[i].Value
	}
	return out, nil
}

// Put stores one entry at once, durably. When every cell is taken it
// stores nothing, and the next Write says so.
func (l *Ledger) Put(k bpf.FlowKey, v LedgerValue) {
	if len(l.free) == 0 {
		l.putFails++
		return
	}
	i := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	c := &l.table[i]
	c.Key, c.Value = k, v
	l.version++
	atomic.StoreUint64(&c.Version, l.version) // publishes the copy
	if old, ok := l.index[k]; ok {
		l.release(old)
	}
	l.index[k] = i
}

// Write reports whether every Put since the last Write was stored.
func (l *Ledger) Write() error {
	n := l.putFails
	l.putFails = 0
	if n > 0 {
		return fmt.Errorf("write ledger: full (%d cells): %d flow directions kept in memory only", len(l.table), n)
	}
	return nil
}

// Delete removes the entries of exported flow directions.
func (l *Ledger) Delete(keys []bpf.FlowKey) error {
	for _, k := range keys {
		if i, ok := l.index[k]; ok {
			l.release(i)
			delete(l.index, k)
		}
	}
	return nil
}

// Close releases the ledger; it stays pinned.
func (l *Ledger) Close() error {
	var errs []error
	if l.mem != nil {
		errs = append(errs, unix.Munmap(l.mem))
		l.mem, l.table = nil, nil
	}
	if l.cells != nil {
		errs = append(errs, l.cells.Close())
	}
	if l.meta != nil {
		errs = append(errs, l.meta.Close())
	}
	return errors.Join(errs...)
}
