package agent

import (
	"context"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

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
type keeper struct {
	ledger *probe.Ledger
	probe  *probe.Probe
	table  *cache.Table
	clock  *cache.MonotonicClock
	epoch  uint32
	keys   []bpf.FlowKey
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

	idle := 1 - k.probe.ActiveSlotIndex()
	if k.epoch, err = k.ledger.SlotEpoch(idle); err != nil {
		return 0, 0, err
	}
	read, err := k.probe.ReadSlot(idle, deltas[:0])
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
	if err := k.record(fresh); err != nil {
		return 0, 0, err
	}
	return len(entries), len(fresh), k.probe.ClearSlot(idle)
}

// harvest drains the active slot into the table, durably.
func (k *keeper) harvest(dst []cache.Delta) ([]cache.Delta, error) {
	var err error
	if k.epoch, err = k.ledger.BeginDrain(k.probe.ActiveSlotIndex()); err != nil {
		return dst, err
	}
	old, err := k.probe.Flip()
	if err != nil {
		return dst, err
	}
	if dst, err = k.probe.ReadSlot(old, dst[:0]); err != nil {
		return dst, err
	}
	if err := k.record(dst); err != nil {
		return dst, err
	}
	return dst, k.probe.ClearSlot(old)
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

// exported makes the ledger forget records once they were sent: each
// direction keeps only what the table gathered since (a flow that goes on).
func (k *keeper) exported(recs []cache.Record) error {
	k.keys = k.keys[:0]
	for i := range recs {
		key := recordKey(&recs[i])
		k.keys = append(k.keys, key)
		if rev, ok := cache.ReverseKey(key); ok && recs[i].Bidirectional {
			k.keys = append(k.keys, rev)
		}
	}
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

// recordKey rebuilds the datapath key of a record's forward direction.
func recordKey(r *cache.Record) bpf.FlowKey {
	k := bpf.FlowKey{
		SrcAddr: r.SrcAddr.As16(), DstAddr: r.DstAddr.As16(), SrcPort: r.SrcPort, DstPort: r.DstPort,
		Ifindex: r.InIfIndex, VlanId: r.VLAN, InnerVlanId: r.InnerVLAN, Proto: r.Proto, Tos: r.ToS, IpVersion: r.IPVersion,
	}
	return k
}

// syncExport waits, bounded, until every stream sent what it was given.
func (p *pipeline) sync(limit time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for _, s := range p.streams {
		s.Sync(ctx)
	}
}
