package cache

import (
	"fmt"
	"sync"
	"time"

	"github.com/spanflow/spanflow/bpf"
)

// Table is the authoritative flow table. Merge adds what the datapath (or
// the offline parser) counted; Expire hands back the flows whose timers
// ran out; Flush ends everything. All methods are safe for concurrent use
// (the harvest loop merges while `spanflow show` reads the views).
//
// Timers, in wall-clock ns of the Clock's timebase:
//   - inactive: a flow ends (EndIdle) once now − last packet ≥ InactiveTimeout;
//   - active: a flow is exported (EndActive) once now − first packet of
//     its current segment ≥ ActiveTimeout, then stays and counts from zero;
//   - end of flow: a TCP flow that saw RST, or FIN (in both directions
//     when bidirectional), ends (EndOfFlow) FINGrace after that packet;
//   - lack of resources: a new flow in a full table first forces out the
//     flow whose timer would run out soonest (for equal timeouts: the one
//     idle longest), counted as an emergency expiry (a flow already past
//     its deadline ends for its own reason instead);
//   - forced: Flush ends every flow.
//
// When several timers run out at the same instant, end of flow wins over
// idle, and idle over active. A Delta that starts at or after its flow's
// deadline first ends that flow and then starts a new one, so an Expire
// that comes late never lets packets on both sides of a timeout share a
// record.
type Table struct {
	mu      sync.Mutex
	cfg     Config
	clock   Clock
	index   index // key (canonical key when bidirectional) → slab index
	slab    slab
	heap    timerHeap
	pending []Record // ended by Merge, handed out by the next Expire or Flush
	gen     uint32   // Merge calls so far: tells flows born in this batch
	stats   counters
}

// NewTable returns an empty table aged by clock.
func NewTable(cfg Config, clock Clock) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flow cache config: %w", err)
	}
	if clock == nil {
		return nil, fmt.Errorf("flow cache needs a clock")
	}
	return &Table{
		cfg:   cfg,
		clock: clock,
		index: newIndex(),
		slab:  slab{bidir: cfg.Bidirectional},
	}, nil
}

// Config returns the table's configuration.
func (t *Table) Config() Config { return t.cfg }

// Len returns the number of flows in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.index.n
}

// Merge adds deltas to their flows, creating flows as needed. Flows ended
// while merging (a delta past its flow's deadline, emergency expiry) wait
// for the next Expire or Flush. Deltas with no packets are ignored.
func (t *Table) Merge(deltas []Delta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	now := t.clock.Now().UnixNano()
	if !t.stats.since {
		t.stats.sinceNs, t.stats.since = now, true
	}
	for i := range deltas {
		t.merge(&deltas[i], now)
	}
}

func (t *Table) merge(d *Delta, now int64) {
	if d.Packets == 0 {
		return
	}
	first := t.clock.Wall(d.FirstNs).UnixNano()
	last := t.clock.Wall(d.LastNs).UnixNano()
	if last < first {
		last = first
	}
	t.stats.addSizes(d.Packets, d.Bytes)

	key := d.Key
	var i int32
	var ok bool
	fwd := true
	if t.cfg.Bidirectional {
		key = canonical(key)
		i, fwd, ok = t.findPair(&key, &d.Key)
	} else {
		i, _, ok = t.index.find(&key, &t.slab)
	}
	if ok {
		if at, why := t.due(i); at <= first {
			// The flow's timer ran out before this delta began.
			ok = !t.end(i, why, at, &t.pending)
		}
	}
	fresh := !ok
	if fresh {
		fwd = true
		if t.index.n >= t.cfg.MaxFlows {
			t.evict(now)
		}
		i = t.slab.alloc()
		t.slab.flow(i).key = d.Key
		t.slab.flow(i).startNs = emptySegment
		if t.slab.bidir {
			t.slab.side(i).born = t.gen
		}
		t.index.insert(&key, i)
		t.stats.added++
	}

	f := t.slab.flow(i)
	if t.slab.bidir {
		fwd = t.addBidir(i, d, fwd, first, last)
	} else {
		f.packets += d.Packets
		f.bytes += d.Bytes
		f.flags |= d.TCPFlags
	}
	if f.startNs == emptySegment || first < f.startNs {
		f.startNs = first
	}
	if last > f.lastNs {
		f.lastNs = last
	}
	if fwd && d.Out != OutUnknown { // the latest route wins: routes change
		f.out, f.outIf = d.Out, d.OutIfIndex
	}
	ending := t.noteTCPEnd(f, d.TCPFlags, fwd, last)

	switch {
	case fresh:
		at, _ := t.due(i)
		t.heap.push(at, i, &t.slab)
	case ending:
		// Only a FIN or RST can move a deadline earlier; the heap must
		// know. Any other merge leaves the heap's deadline stale (early).
		if at, _ := t.due(i); at < t.heap[f.heapIdx].at {
			t.heap.set(int(f.heapIdx), at, &t.slab)
		}
	}
}

// addBidir adds d to its direction (fwd: the forward one, as findPair
// said) and reports whether that is, after all, the forward one.
func (t *Table) addBidir(i int32, d *Delta, fwd bool, first, last int64) bool {
	f, s := t.slab.flow(i), t.slab.side(i)
	if !fwd && s.revPackets == 0 && s.born == t.gen &&
		initiatorIsOther(f.flags, s.fwdStartNs, d.TCPFlags, first) {
		swapDirections(f, s)
		s.rev = reverseID{ifindex: f.key.Ifindex, tos: f.key.Tos, known: true}
		f.key = d.Key
		fwd = true
	}
	if !fwd && !s.rev.known {
		s.rev = reverseID{ifindex: d.Key.Ifindex, tos: d.Key.Tos, known: true}
	}
	if fwd {
		if f.packets == 0 || first < s.fwdStartNs {
			s.fwdStartNs = first
		}
		s.fwdLastNs = max(s.fwdLastNs, last)
		f.packets += d.Packets
		f.bytes += d.Bytes
		f.flags |= d.TCPFlags
		return true
	}
	if s.revPackets == 0 || first < s.revStartNs {
		s.revStartNs = first
	}
	s.revLastNs = max(s.revLastNs, last)
	s.revPackets += d.Packets
	s.revBytes += d.Bytes
	s.revFlags |= d.TCPFlags
	return false
}

func swapDirections(f *flow, s *side) {
	f.out, f.outIf = OutUnknown, 0 // the old forward's route; the new one's comes with its delta
	f.packets, s.revPackets = s.revPackets, f.packets
	f.bytes, s.revBytes = s.revBytes, f.bytes
	f.flags, s.revFlags = s.revFlags, f.flags
	s.fwdStartNs, s.revStartNs = s.revStartNs, s.fwdStartNs
	s.fwdLastNs, s.revLastNs = s.revLastNs, s.fwdLastNs
	fin := f.state & (stateFwdFIN | stateRevFIN)
	f.state &^= stateFwdFIN | stateRevFIN
	if fin&stateFwdFIN != 0 {
		f.state |= stateRevFIN
	}
	if fin&stateRevFIN != 0 {
		f.state |= stateFwdFIN
	}
}

// noteTCPEnd starts the FIN grace of a TCP flow: at RST, or at FIN (from
// both sides when bidirectional). It reports whether the grace started.
func (t *Table) noteTCPEnd(f *flow, flags uint8, fwd bool, lastNs int64) bool {
	if f.key.Proto != protoTCP || f.endNs != 0 || flags&(tcpFIN|tcpRST) == 0 {
		return false
	}
	if t.slab.bidir && flags&tcpRST == 0 {
		if fwd {
			f.state |= stateFwdFIN
		} else {
			f.state |= stateRevFIN
		}
		if f.state&(stateFwdFIN|stateRevFIN) != stateFwdFIN|stateRevFIN {
			return false
		}
	}
	f.endNs = lastNs
	return true
}

// due returns when flow i's timer runs out, and why.
func (t *Table) due(i int32) (int64, EndReason) {
	f := t.slab.flow(i)
	at, why := f.lastNs+int64(t.cfg.InactiveTimeout), EndIdle
	if f.endNs != 0 {
		if e := f.endNs + int64(t.cfg.FINGrace); e <= at {
			at, why = e, EndOfFlow
		}
	}
	if f.startNs != emptySegment {
		if a := f.startNs + int64(t.cfg.ActiveTimeout); a < at {
			at, why = a, EndActive
		}
	}
	return at, why
}

// Expire ends every flow whose timer ran out by the clock's now and
// appends their records (and those Merge ended) to dst.
func (t *Table) Expire(dst []Record) []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	dst = t.takePending(dst)
	now := t.clock.Now().UnixNano()
	for len(t.heap) > 0 && t.heap[0].at <= now {
		i := t.heap[0].idx
		at, why := t.due(i)
		if at > now {
			t.heap.set(0, at, &t.slab) // stale deadline: re-arm
			continue
		}
		t.end(i, why, at, &dst)
	}
	return dst
}

// Flush ends every flow (EndForced), as at shutdown, and appends all
// pending records to dst.
func (t *Table) Flush(dst []Record) []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	dst = t.takePending(dst)
	now := t.clock.Now().UnixNano()
	for len(t.heap) > 0 {
		t.end(t.heap[0].idx, EndForced, now, &dst)
	}
	return dst
}

// takePending moves the records Merge ended to dst.
func (t *Table) takePending(dst []Record) []Record {
	dst = append(dst, t.pending...)
	clear(t.pending)
	t.pending = t.pending[:0]
	return dst
}

// evict makes room for a new flow: the flow whose true deadline is the
// earliest leaves. If that deadline has already passed (Expire has not
// run yet), the flow ends for its own reason; otherwise it is forced out
// with EndLackOfResources and counted as an emergency expiry.
func (t *Table) evict(now int64) {
	for {
		top := t.heap[0]
		at, why := t.due(top.idx)
		switch {
		case at != top.at:
			t.heap.set(0, at, &t.slab) // stale: re-arm and look again
		case at <= now:
			if t.end(top.idx, why, at, &t.pending) {
				return
			} // an active timeout keeps the entry: look again
		default:
			t.stats.emergency++
			t.end(top.idx, EndLackOfResources, now, &t.pending)
			return
		}
	}
}

// end appends flow i's current segment (if it has packets) to out with
// reason why at time atNs, and reports whether the entry left the table:
// an active timeout keeps the entry, empty, to count on from zero.
func (t *Table) end(i int32, why EndReason, atNs int64, out *[]Record) (removed bool) {
	f := t.slab.flow(i)
	if f.startNs != emptySegment {
		*out = append(*out, t.record(i))
		r := &(*out)[len(*out)-1]
		r.EndReason = why
		if r.Overflow {
			r.EndReason = EndLackOfResources
		}
		r.ClampMasks()
		t.stats.ended(r, atNs)
	}
	if why == EndActive {
		f.startNs, f.packets, f.bytes, f.flags = emptySegment, 0, 0, 0
		if t.slab.bidir {
			s := t.slab.side(i)
			*s = side{born: s.born, rev: s.rev}
		}
		at, _ := t.due(i)
		t.heap.set(int(f.heapIdx), at, &t.slab)
		return false
	}
	key := f.key
	if t.slab.bidir {
		key = canonical(key)
	}
	if at, ok := t.index.slotOf(&key, i); ok {
		t.index.removeAt(at)
	}
	t.heap.remove(int(f.heapIdx), &t.slab)
	t.slab.release(i)
	return true
}

// record builds the Record of flow i's current segment (EndReason unset).
func (t *Table) record(i int32) Record {
	f := t.slab.flow(i)
	k := &f.key
	r := Record{
		SrcAddr:          k.SrcIP(),
		DstAddr:          k.DstIP(),
		SrcPort:          k.SrcPort,
		DstPort:          k.DstPort,
		Proto:            k.Proto,
		ToS:              k.Tos,
		IPVersion:        k.IpVersion,
		InIfIndex:        k.Ifindex,
		VLAN:             k.VlanId,
		InnerVLAN:        k.InnerVlanId,
		Egress:           k.Direction&^bpf.FlowOverflow == uint8(bpf.DirEgress),
		Overflow:         k.Direction&bpf.FlowOverflow != 0,
		Packets:          f.packets,
		Bytes:            f.bytes,
		TCPFlags:         f.flags,
		Out:              f.out,
		OutIfIndex:       f.outIf,
		Start:            time.Unix(0, f.startNs),
		End:              time.Unix(0, f.lastNs),
		SamplingInterval: t.cfg.SamplingInterval,
		SamplingRandom:   t.cfg.SamplingRandom,
	}
	if !t.slab.bidir {
		return r
	}
	s := t.slab.side(i)
	r.Bidirectional = true
	s.fillReverse(&r)
	if f.packets > 0 {
		// Otherwise Start/End keep the segment's span: every record has
		// a valid time range even when only the responder spoke in it.
		r.Start, r.End = time.Unix(0, s.fwdStartNs), time.Unix(0, s.fwdLastNs)
	}
	if s.revPackets > 0 {
		r.RevPackets, r.RevBytes, r.RevTCPFlags = s.revPackets, s.revBytes, s.revFlags
		r.RevStart, r.RevEnd = time.Unix(0, s.revStartNs), time.Unix(0, s.revLastNs)
	}
	return r
}
