package cache

import "github.com/spanflow/spanflow/bpf"

// Pending is what one direction of a flow holds since the flow was last
// exported: the counts a crash must not lose. Times are wall-clock Unix ns.
type Pending struct {
	Packets, Bytes uint64
	FirstNs        int64
	LastNs         int64
	TCPFlags       uint8
}

// Pending returns the counts direction key holds since its flow's last
// export; ok is false when the table holds no packet for it.
func (t *Table) Pending(key bpf.FlowKey) (p Pending, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var i int32
	var found, fwd bool
	if t.cfg.Bidirectional {
		look := canonical(key)
		i, fwd, found = t.findPair(&look, &key)
	} else {
		i, _, found = t.index.find(&key, &t.slab)
	}
	if !found {
		return p, false
	}
	f := t.slab.flow(i)
	switch {
	case !t.slab.bidir:
		p = Pending{Packets: f.packets, Bytes: f.bytes, FirstNs: f.startNs, LastNs: f.lastNs, TCPFlags: f.flags}
	case fwd:
		s := t.slab.side(i)
		p = Pending{Packets: f.packets, Bytes: f.bytes, FirstNs: s.fwdStartNs, LastNs: s.fwdLastNs, TCPFlags: f.flags}
	default:
		s := t.slab.side(i)
		p = Pending{Packets: s.revPackets, Bytes: s.revBytes, FirstNs: s.revStartNs, LastNs: s.revLastNs, TCPFlags: s.revFlags}
	}
	return p, p.Packets > 0
}
