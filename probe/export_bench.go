package probe

import "github.com/cilium/ebpf"

// ActiveSlot returns the flow slot the program writes now. It is a hook
// for package bench, which fills the slot with BatchUpdate to time Harvest
// and reads its memlock to price a flow slot; the agent never needs it.
func (p *Probe) ActiveSlot() *ebpf.Map { return p.slots[p.active] }
