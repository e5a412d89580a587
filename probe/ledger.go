package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
)

// Ledger is a pinned BPF hash, written and read only by spanflow (no
// program uses it), holding for each flow direction the counts harvested
// from the kernel but not yet exported. It lives in the pin directory, so
// a spanflow killed at any moment restarts with them: the counts are
// never only in the memory of a dead process.
//
// Each entry carries the epoch of the slot drain that last wrote it. A
// drain interrupted by a crash is finished after restart under the same
// epoch, and an entry already written by it is not added twice.
type Ledger struct {
	entries *ebpf.Map // bpf.FlowKey → LedgerValue
	meta    *ebpf.Map // 0 → ledgerMeta
	keys    []bpf.FlowKey
	values  []LedgerValue
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

// OpenLedger opens the ledger pinned in dir, creating it empty. It holds
// up to maxFlows directions (the flow cache's size, twice when flows are
// bidirectional). A ledger made for another size is refused, or with
// replace discarded (its unexported counts are lost).
func OpenLedger(dir string, maxFlows uint32, replace bool) (*Ledger, error) {
	spec := &ebpf.MapSpec{
		Name: ledgerMap, Type: ebpf.Hash, KeySize: uint32(unsafe.Sizeof(bpf.FlowKey{})), ValueSize: uint32(unsafe.Sizeof(LedgerValue{})), MaxEntries: maxFlows,
		Flags: unix.BPF_F_NO_PREALLOC, Pinning: ebpf.PinByName,
	}
	entries, err := ebpf.NewMapWithOptions(spec, ebpf.MapOptions{PinPath: dir})
	if errors.Is(err, ebpf.ErrMapIncompatible) && replace {
		os.Remove(filepath.Join(dir, ledgerMap))
		os.Remove(filepath.Join(dir, ledgerMetaMap))
		entries, err = ebpf.NewMapWithOptions(spec, ebpf.MapOptions{PinPath: dir})
	}
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return nil, fmt.Errorf("ledger in %s was made for another flow cache size: restart with the same --max-flows, or use --replace to discard it (its unexported counts are lost)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	meta, err := ebpf.NewMapWithOptions(&ebpf.MapSpec{
		Name: ledgerMetaMap, Type: ebpf.Array, KeySize: 4, ValueSize: 16, MaxEntries: 1, Pinning: ebpf.PinByName,
	}, ebpf.MapOptions{PinPath: dir})
	if err != nil {
		entries.Close()
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return &Ledger{entries: entries, meta: meta}, nil
}

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
	out := map[bpf.FlowKey]LedgerValue{}
	var (
		k bpf.FlowKey
		v LedgerValue
	)
	it := l.entries.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	return out, nil
}

// Put queues one entry for Write.
func (l *Ledger) Put(k bpf.FlowKey, v LedgerValue) {
	l.keys = append(l.keys, k)
	l.values = append(l.values, v)
}

// Write stores the queued entries.
func (l *Ledger) Write() error {
	if len(l.keys) == 0 {
		return nil
	}
	_, err := l.entries.BatchUpdate(l.keys, l.values, nil)
	l.keys, l.values = l.keys[:0], l.values[:0]
	if err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	return nil
}

// Delete removes the entries of exported flow directions.
func (l *Ledger) Delete(keys []bpf.FlowKey) error {
	var errs []error
	for i := range keys {
		if err := l.entries.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete from ledger: %w", err)
	}
	return nil
}

// Close releases the ledger; it stays pinned.
func (l *Ledger) Close() error {
	return errors.Join(l.entries.Close(), l.meta.Close())
}
