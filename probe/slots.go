package probe

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/cache"
)

// The steps of a durable harvest, for a caller that records what it
// harvested (the ledger) before the kernel forgets it: Flip, ReadSlot,
// then ClearSlot. Harvest does all three at once.

// ActiveSlot is the index (0 or 1) of the slot the program writes.
func (p *Probe) ActiveSlotIndex() int { return p.active }

// Flip makes the other slot active and returns the index of the one that
// was; it returns once no program still writes that one.
func (p *Probe) Flip() (int, error) {
	old := p.active
	if err := p.slot.Update(uint32(0), p.slots[1-old], ebpf.UpdateAny); err != nil {
		return old, fmt.Errorf("flip flow slot: %w", err)
	}
	p.active = 1 - old
	return old, nil
}

// ReadSlot appends one Delta per flow in slot i, which must be idle, and
// leaves the slot as it was.
func (p *Probe) ReadSlot(i int, dst []cache.Delta) ([]cache.Delta, error) {
	if i == p.active {
		return dst, errors.New("read flow slot: it is the active one")
	}
	p.readKeys = p.readKeys[:0]
	m := p.slots[i]
	if m.MaxEntries() < parallelMinEntries || runtime.NumCPU() == 1 {
		return p.batchRead(m, m.BatchLookup, dst, &p.readKeys)
	}
	start := len(dst)
	dst, err := p.splitRead(m.FD(), m.MaxEntries(), cmdLookupBatch, dst)
	for i := start; i < len(dst); i++ {
		p.readKeys = append(p.readKeys, dst[i].Key)
	}
	return dst, err
}

// ClearSlot deletes from idle slot i what ReadSlot read of it. Nothing
// writes an idle slot, so that empties it.
func (p *Probe) ClearSlot(i int) error {
	if i == p.active {
		return errors.New("clear flow slot: it is the active one")
	}
	// Disjoint key sets delete in parallel as safely as in sequence.
	parts := 1
	if len(p.readKeys) >= parallelMinEntries {
		parts = min(runtime.NumCPU(), 8)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	per := (len(p.readKeys) + parts - 1) / max(parts, 1)
	for w := range parts {
		part := p.readKeys[min(w*per, len(p.readKeys)):min((w+1)*per, len(p.readKeys))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(part) > 0 {
				chunk := part[:min(len(part), len(p.keys))]
				if _, err := p.slots[i].BatchDelete(chunk, nil); err != nil {
					errs[w] = fmt.Errorf("clear flow slot: %w", err)
					return
				}
				part = part[len(chunk):]
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.readKeys = p.readKeys[:0]
	return nil
}
