package probe

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
)

// The steps of a durable harvest, for a caller that records what it
// harvested (the ledger) before the kernel forgets it: Flip, ReadSlot,
// then ClearSlot. Harvest does all three at once.

// ActiveSlot is the index (0 or 1) of the slot the program writes.
func (p *Probe) ActiveSlotIndex() int { return p.active }

// Flip makes the other slot (and its overflow map) active and returns the
// index of the one that was; it returns once no program still writes that
// one. The new slot's fill level starts from zero.
func (p *Probe) Flip() (int, error) {
	old := p.active
	if err := p.slot.Update(bpf.SlotFlows, p.slots[1-old], ebpf.UpdateAny); err != nil {
		return old, fmt.Errorf("flip flow slot: %w", err)
	}
	p.active = 1 - old
	if err := p.installOverflow(); err != nil {
		// Both programs go on writing the old overflow map, which the
		// next flip that succeeds replaces: nothing counted is lost, it
		// comes a harvest late.
		p.active = old
		return old, err
	}
	if err := p.fill.Update(uint32(0), bpf.SlotFill{}, ebpf.UpdateAny); err != nil {
		return old, fmt.Errorf("reset fill level: %w", err)
	}
	return old, nil
}

// ReadSlot appends one Delta per flow in slot i, which must be idle, and
// leaves the slot as it was.
func (p *Probe) ReadSlot(i int, dst []cache.Delta) ([]cache.Delta, error) {
	if i == p.active {
		return dst, errors.New("read flow slot: it is the active one")
	}
	p.readKeys = p.readKeys[:0]
	dst, err := p.read(p.slots[i], dst)
	if err != nil {
		return dst, err
	}
	p.readFlows = len(p.readKeys)
	return p.read(p.overflow[i], dst)
}

// read appends one Delta per entry of m to dst, and its key to readKeys.
func (p *Probe) read(m *ebpf.Map, dst []cache.Delta) ([]cache.Delta, error) {
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

// ClearSlot deletes from idle slot i (and its overflow map) what ReadSlot
// read of it. Nothing writes an idle slot, so that empties it.
func (p *Probe) ClearSlot(i int) error {
	if i == p.active {
		return errors.New("clear flow slot: it is the active one")
	}
	if err := p.clearKeys(p.slots[i], p.readKeys[:p.readFlows]); err != nil {
		return err
	}
	if err := p.clearKeys(p.overflow[i], p.readKeys[p.readFlows:]); err != nil {
		return err
	}
	p.readKeys, p.readFlows = p.readKeys[:0], 0
	return nil
}

// clearKeys deletes keys from m, in parallel when they are many:
// disjoint key sets delete in parallel as safely as in sequence.
func (p *Probe) clearKeys(m *ebpf.Map, keys []bpf.FlowKey) error {
	parts := 1
	if len(keys) >= parallelMinEntries {
		parts = min(runtime.NumCPU(), 8)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	per := (len(keys) + parts - 1) / max(parts, 1)
	for w := range parts {
		part := keys[min(w*per, len(keys)):min((w+1)*per, len(keys))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(part) > 0 {
				chunk := part[:min(len(part), len(p.keys))]
				if _, err := m.BatchDelete(chunk, nil); err != nil {
					errs[w] = fmt.Errorf("clear flow slot: %w", err)
					return
				}
				part = part[len(chunk):]
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// FillSignals returns a channel that receives when the active slot's new
// flows reach FillSignal: the datapath asks for a harvest before the slot
// is full. Signals that come while one is pending merge into it. The
// channel closes with the probe.
func (p *Probe) FillSignals() (<-chan struct{}, error) {
	rd, err := ringbuf.NewReader(p.coll.Maps[bpf.MapFillSignal])
	if err != nil {
		return nil, fmt.Errorf("fill signal reader: %w", err)
	}
	p.closers = append(p.closers, rd.Close)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		for {
			if _, err := rd.Read(); err != nil {
				return // closed: the probe is closing
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, nil
}

// FillLevel returns how many new flows the active slot has taken since the
// last flip, as the datapath counts them.
func (p *Probe) FillLevel() (uint64, error) {
	var f bpf.SlotFill
	if err := p.fill.Lookup(uint32(0), &f); err != nil {
		return 0, fmt.Errorf("read fill level: %w", err)
	}
	return f.NewFlows, nil
}
