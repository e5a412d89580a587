package agent

import (
	"errors"

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

// Ledger is the durable store of unexported counts (probe.Ledger): Put
// queues, Write stores what was queued, both survive the process.
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
	keys   []bpf.FlowKey
	// unconfirmed holds the keys of exported records whose sending was
	// not confirmed yet; bounded by maxUnconfirmed.
	unconfirmed    []bpf.FlowKey
	maxUnconfirmed int
	// forgotUnsent counts keys forgotten without a confirmed send because
	// unconfirmed was full.
	forgotUnsent uint64
}

func newKeeper(ledger Ledger, slots Slots, table *cache.Table, clock SourceClock, maxUnconfirmed int) *keeper {
	return &keeper{ledger: ledger, slots: slots, table: table, clock: clock, maxUnconfirmed: maxUnconfirmed}
}

// restore rebuilds the table from the ledger and finishes the drain of the
// idle slot that a crash may have interrupted.
func (k *keeper) restore(deltas []cache.Delta) (restored, leftover int, err error) {
	entries, err := k.ledger.Load()
	if err != nil {
		return 0, 0, err
	}
	deltas = deltas[:0]
	for key, v := range entries {
		deltas = append(deltas, cache.Delta{Key: key, Packets: v.Packets, Bytes: v.Bytes,
			FirstNs: k.clock.SourceNs(v.FirstNs), LastNs: k.clock.SourceNs(v.LastNs), TCPFlags: v.TCPFlags})
	}
	k.table.Merge(deltas)

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

func (k *keeper) put(key bpf.FlowKey) {
	if p, ok := k.table.Pending(key); ok {
		k.ledger.Put(key, probe.LedgerValue{Packets: p.Packets, Bytes: p.Bytes, FirstNs: p.FirstNs,
			LastNs: p.LastNs, TCPFlags: p.TCPFlags, Epoch: k.epoch})
	}
}

// exported is told which records were handed to the streams and whether
// everything handed so far was sent. Once sent, the ledger forgets them:
// each direction keeps only what the table gathered since (a flow that
// goes on). Records not confirmed sent stay in the ledger until a later
// call confirms them, so a crash meanwhile exports them again rather than
// never.
func (k *keeper) exported(recs []cache.Record, sent bool) error {
	for i := range recs {
		key := recs[i].Key()
		k.unconfirmed = append(k.unconfirmed, key)
		if rev, ok := cache.ReverseKey(key); ok && recs[i].Bidirectional {
			k.unconfirmed = append(k.unconfirmed, rev)
		}
	}
	if !sent && len(k.unconfirmed) <= k.maxUnconfirmed {
		return nil
	}
	if !sent {
		k.forgotUnsent += uint64(len(k.unconfirmed))
	}
	k.keys, k.unconfirmed = k.unconfirmed, k.keys[:0]
	var gone []bpf.FlowKey
	for _, key := range k.keys {
		if _, ok := k.table.Pending(key); ok {
			k.put(key)
		} else {
			gone = append(gone, key)
		}
	}
	if err := k.ledger.Write(); err != nil {
		return err
	}
	return k.ledger.Delete(gone)
}
