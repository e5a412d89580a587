package agent

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

// Slots is the part of the datapath the keeper drives: the two kernel
// flow slots (probe.Probe).
type Slots interface {
	ActiveSlotIndex() int
	Flip() (old int, err error)
	ReadSlot(slot int, dst []cache.Delta) ([]cache.Delta, error)
	ClearSlot(slot int) error
}

// Ledger is the durable store of unexported counts (probe.Ledger): what
// Put stores survives the process; Write reports whether every Put since
// the last Write was stored.
type Ledger interface {
	Load() (map[bpf.FlowKey]probe.LedgerValue, error)
	BeginDrain(slot int) (epoch uint32, err error)
	SlotEpoch(slot int) (uint32, error)
	Put(bpf.FlowKey, probe.LedgerValue)
	Write() error
	Delete([]bpf.FlowKey) error
}

// SourceClock turns a wall time stored in the ledger back into the
// datapath's clock (cache.MonotonicClock).
type SourceClock interface {
	SourceNs(wallNs int64) uint64
}

// keeper makes the live loop crash-proof when state is pinned: what a
// harvest takes out of the kernel goes into the pinned ledger before the
// kernel slot is cleared, and leaves the ledger only once exported. A
// spanflow killed at any moment restarts from the ledger and the slots.
//
// The loop per harvest: BeginDrain (epoch) → Flip → ReadSlot → Merge →
// ledger ← the table's pending counts of every touched direction →
// ClearSlot → Expire → export and wait until sent → ledger forgets what
// was exported. The only windows left are the microseconds between a
// datagram leaving and the ledger forgetting it (a crash there exports it
// twice) and between a flow ended by Merge and its export.
//
// When something fails the keeper prefers a count exported twice after a
// crash to a count lost or counted twice now: a ledger that cannot be
// written still lets the slot be cleared (the table has the counts; only
// their durability is missing until the next write), and records whose
// sending was not confirmed stay in the ledger until a later export is.
type keeper struct {
	ledger Ledger
	slots  Slots
	table  *cache.Table
	clock  SourceClock
	epoch  uint32
	// held is what the ledger keeps of records no stream confirmed yet,
	// by direction; handed lists the records behind it that the next
	// settled sync decides on. held is bounded by maxHeld directions.
	held    map[bpf.FlowKey]heldValue
	handed  []handedRecord
	maxHeld int
	touched []bpf.FlowKey // exported's buffer
	// lostRecords counts record directions a stream lost (kept in the
	// ledger for the next start); forgotUnsent those forgotten unsent
	// because held was full.
	// Atomic: show stats and /metrics read them.
	lostRecords, forgotUnsent atomic.Uint64
}

func newKeeper(ledger Ledger, slots Slots, table *cache.Table, clock SourceClock, maxHeld int) *keeper {
	return &keeper{ledger: ledger, slots: slots, table: table, clock: clock, maxHeld: maxHeld,
		held: map[bpf.FlowKey]heldValue{}}
}

// restore rebuilds the table from the ledger and finishes the drain of the
// idle slot that a crash may have interrupted.
func (k *keeper) restore(deltas []cache.Delta) (restored, leftover int, err error) {
	entries, err := k.ledger.Load()
	if err != nil {
		return 0, 0, err
	}
	deltas = deltas[:0]
	var empty []bpf.FlowKey
	for key, v := range entries {
		if v.Packets == 0 { // the table ignores it: no record would ever take it out
			empty = append(empty, key)
			continue
		}
		deltas = append(deltas, cache.Delta{Key: key, Packets: v.Packets, Bytes: v.Bytes,
			FirstNs: k.clock.SourceNs(v.FirstNs), LastNs: k.clock.SourceNs(v.LastNs), TCPFlags: v.TCPFlags})
	}
	k.table.Merge(deltas)
	if err := k.ledger.Delete(empty); err != nil {
		return 0, 0, err
	}

	idle := 1 - k.slots.ActiveSlotIndex()
	if k.epoch, err = k.ledger.SlotEpoch(idle); err != nil {
		return 0, 0, err
	}
	read, err := k.slots.ReadSlot(idle, deltas[:0])
	if err != nil {
		return 0, 0, err
	}
	fresh := read[:0]
	for _, d := range read {
		// An entry this drain already wrote holds the delta: skip it.
		if v, ok := entries[d.Key]; ok && k.epoch != 0 && v.Epoch == k.epoch {
			continue
		}
		fresh = append(fresh, d)
	}
	werr := k.record(fresh)
	if err := k.slots.ClearSlot(idle); err != nil {
		return 0, 0, err
	}
	return len(entries), len(fresh), werr
}

// harvest drains the active slot into the table, durably. A slot once
// read is always cleared, even when the ledger write failed: leaving it
// would count its packets again at the next drain.
func (k *keeper) harvest(dst []cache.Delta) ([]cache.Delta, error) {
	var err error
	if k.epoch, err = k.ledger.BeginDrain(k.slots.ActiveSlotIndex()); err != nil {
		return dst, err
	}
	old, err := k.slots.Flip()
	if err != nil {
		return dst, err
	}
	if dst, err = k.slots.ReadSlot(old, dst[:0]); err != nil {
		return dst, err
	}
	werr := k.record(dst)
	return dst, errors.Join(werr, k.slots.ClearSlot(old))
}

// record merges deltas and writes the pending counts of every direction
// they touched into the ledger under the current epoch.
func (k *keeper) record(deltas []cache.Delta) error {
	k.table.Merge(deltas)
	for i := range deltas {
		k.put(deltas[i].Key)
	}
	return k.ledger.Write()
}

// put writes what the ledger must keep of a direction: the counts of its
// records not confirmed delivered, and what the table gathered since. It
// reports false when there is nothing to keep.
func (k *keeper) put(key bpf.FlowKey) bool {
	h, held := k.held[key]
	p, pending := k.table.Pending(key)
	if !held && !pending {
		return false
	}
	v := h.v
	if pending {
		v = mergeValue(v, held, probe.LedgerValue{Packets: p.Packets, Bytes: p.Bytes, FirstNs: p.FirstNs,
			LastNs: p.LastNs, TCPFlags: p.TCPFlags})
	}
	v.Epoch = k.epoch
	k.ledger.Put(key, v)
	return true
}

// mergeValue adds b to a (a counts only when has).
func mergeValue(a probe.LedgerValue, has bool, b probe.LedgerValue) probe.LedgerValue {
	if !has {
		return b
	}
	a.Packets += b.Packets
	a.Bytes += b.Bytes
	a.FirstNs = min(a.FirstNs, b.FirstNs)
	a.LastNs = max(a.LastNs, b.LastNs)
	a.TCPFlags |= b.TCPFlags
	return a
}

// heldValue is what the ledger keeps of a direction's records that no
// stream confirmed yet: their counts summed, and how many records.
type heldValue struct {
	v probe.LedgerValue
	n int
}

// handedRecord is one direction of a record handed to the streams since
// the last settled sync.
type handedRecord struct {
	key bpf.FlowKey
	v   probe.LedgerValue
}

// exported is told which records were handed to the streams and what the
// streams said of everything handed since the last settled sync. Records
// leave the ledger only once delivered (every stream's transport took
// them): each direction then keeps only what the table gathered since (a
// flow that goes on). Records a stream lost stay in the ledger for the
// next start to export again; unsettled ones wait for a later sync.
func (k *keeper) exported(recs []cache.Record, out outcome) error {
	for i := range recs {
		r := &recs[i]
		if r.Packets > 0 {
			k.hand(r.Key(), r.Packets, r.Bytes, r.Start, r.End, r.TCPFlags)
		}
		if rev, ok := r.RevKey(); ok && r.RevPackets > 0 {
			k.hand(rev, r.RevPackets, r.RevBytes, r.RevStart, r.RevEnd, r.RevTCPFlags)
		}
	}
	touched := k.touched[:0]
	switch out {
	case delivered:
		for _, h := range k.handed {
			touched = append(touched, h.key)
			k.release(h)
		}
		k.handed = k.handed[:0]
	case lost:
		for _, h := range k.handed {
			touched = append(touched, h.key)
		}
		k.lostRecords.Add(uint64(len(k.handed)))
		k.handed = k.handed[:0]
	case unsettled:
		for i := range recs {
			touched = append(touched, recs[i].Key())
		}
	}
	if len(k.held) > k.maxHeld {
		// Bounded: a collector that never confirms cannot grow the
		// ledger without end. What is forgotten unsent is counted.
		k.forgotUnsent.Add(uint64(len(k.held)))
		for key := range k.held {
			touched = append(touched, key)
		}
		clear(k.held)
		k.handed = k.handed[:0]
	}
	k.touched = touched
	var gone []bpf.FlowKey
	for _, key := range touched {
		if !k.put(key) {
			gone = append(gone, key)
		}
	}
	if err := k.ledger.Write(); err != nil {
		return err
	}
	return k.ledger.Delete(gone)
}

// hand notes one direction of a record handed to the streams: the ledger
// holds its counts until a sync says they were delivered.
func (k *keeper) hand(key bpf.FlowKey, packets, bytes uint64, start, end time.Time, flags uint8) {
	v := probe.LedgerValue{Packets: packets, Bytes: bytes, FirstNs: int64(k.clock.SourceNs(start.UnixNano())),
		LastNs: int64(k.clock.SourceNs(end.UnixNano())), TCPFlags: flags}
	h, ok := k.held[key]
	k.held[key] = heldValue{v: mergeValue(h.v, ok, v), n: h.n + 1}
	k.handed = append(k.handed, handedRecord{key, v})
}

// release takes a delivered record's counts out of what is held.
func (k *keeper) release(r handedRecord) {
	h, ok := k.held[r.key]
	if !ok {
		return // forgotten at the bound meanwhile
	}
	if h.n <= 1 {
		delete(k.held, r.key)
		return
	}
	// The time span and flags stay as wide as all records were: the
	// records left behind are within it.
	h.n--
	h.v.Packets -= min(h.v.Packets, r.v.Packets)
	h.v.Bytes -= min(h.v.Bytes, r.v.Bytes)
	k.held[r.key] = h
}
