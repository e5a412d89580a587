package decode

import (
	"container/list"
	"net/netip"
	"unsafe"
)

// Limits bound the memory a Decoder keeps for what exporters told it, in
// bytes: templates, and per export stream its sequence state, sampling
// and the names of its interfaces and applications. An exporter is an
// address: its ports, versions and domains share its budget, so one
// sender cannot crowd out the others, and a sender spoofing many
// addresses shares TotalBytes with them on the least recently used basis.
type Limits struct {
	ExporterBytes int // one exporter address
	TotalBytes    int // all exporters together
}

// DefaultLimits hold a real exporter's state many times over (a template
// takes a few hundred bytes, a name under 100; a router with 10,000
// interfaces needs about 1 MiB) and bound a hostile one at 4 MiB.
var DefaultLimits = Limits{ExporterBytes: 4 << 20, TotalBytes: 64 << 20}

// Estimated heap bytes of what the Decoder holds, map slots and list
// elements included; TestMemoryBoundsHoldOnTheHeap checks them against
// the runtime's own count.
const (
	exporterCost = 256
	streamCost   = 384
	templateCost = 256
	nameCost     = 128
	fieldCost    = int(unsafe.Sizeof(decField{}))
)

// memory is the Decoder's account of what each exporter holds, with two
// recency orders: exporters by the last datagram heard, and within each
// exporter its entries by last use.
type memory struct {
	limits    Limits
	total     int
	exporters map[netip.Addr]*exporterMem
	lru       list.List // of *exporterMem, most recently heard first
}

type exporterMem struct {
	addr    netip.Addr
	bytes   int       // exporterCost plus its entries' sizes
	entries list.List // of *memEntry, most recently used first
	elem    *list.Element
}

// memEntry is one thing an exporter holds: a template, or a stream with
// the names its options announced.
type memEntry struct {
	key   tplKey // id 0: the stream itself
	size  int
	owner *exporterMem // nil once evicted or released
	elem  *list.Element
}

// heard puts the exporter at addr first in the exporters' recency order.
func (d *Decoder) heard(addr netip.Addr) {
	if ex := d.mem.exporters[addr]; ex != nil {
		d.mem.lru.MoveToFront(ex.elem)
	}
}

// used puts e first in its exporter's recency order.
func (d *Decoder) used(e *memEntry) {
	if e != nil && e.owner != nil {
		e.owner.entries.MoveToFront(e.elem)
	}
}

// hold accounts for e, evicting the least recently used entries of its
// exporter, then of the least recently heard exporters, to make room. It
// returns false, holding nothing, when e alone exceeds an exporter's
// budget.
func (d *Decoder) hold(e *memEntry) bool {
	addr := e.key.from.Addr()
	if e.size+exporterCost > min(d.mem.limits.ExporterBytes, d.mem.limits.TotalBytes) {
		return false
	}
	ex := d.mem.exporters[addr]
	if ex != nil {
		d.mem.lru.MoveToFront(ex.elem)
		for ex.bytes+e.size > d.mem.limits.ExporterBytes {
			d.evict(ex.entries.Back().Value.(*memEntry))
		}
	}
	need := e.size
	if ex == nil {
		need += exporterCost
	}
	if !d.makeRoom(need, nil) {
		return false
	}
	if ex == nil {
		ex = &exporterMem{addr: addr, bytes: exporterCost}
		ex.elem = d.mem.lru.PushFront(ex)
		d.mem.exporters[addr] = ex
		d.mem.total += exporterCost
	}
	e.owner, e.elem = ex, ex.entries.PushFront(e)
	ex.bytes += e.size
	d.mem.total += e.size
	return true
}

// grow adds delta bytes to e (a name learnt or replaced), evicting other
// entries to make room but never e itself; false when there is no room.
func (d *Decoder) grow(e *memEntry, delta int) bool {
	ex := e.owner
	if ex == nil {
		return false // evicted while its datagram was being read
	}
	d.used(e)
	d.mem.lru.MoveToFront(ex.elem)
	for delta > 0 && ex.bytes+delta > d.mem.limits.ExporterBytes {
		victim := ex.entries.Back().Value.(*memEntry)
		if victim == e {
			return false
		}
		d.evict(victim)
	}
	if delta > 0 && !d.makeRoom(delta, e) {
		return false
	}
	e.size += delta
	ex.bytes += delta
	d.mem.total += delta
	return true
}

// makeRoom evicts from the least recently heard exporters until need more
// bytes fit in TotalBytes, never keep; false if only keep is left.
func (d *Decoder) makeRoom(need int, keep *memEntry) bool {
	for d.mem.total+need > d.mem.limits.TotalBytes {
		ex := d.mem.lru.Back().Value.(*exporterMem)
		if ex.entries.Len() == 0 {
			d.mem.lru.Remove(ex.elem)
			delete(d.mem.exporters, ex.addr)
			d.mem.total -= ex.bytes
			continue
		}
		victim := ex.entries.Back().Value.(*memEntry)
		if victim == keep {
			return false
		}
		d.evict(victim)
	}
	return true
}

// evict forgets what e holds to make room for something else, and counts it.
func (d *Decoder) evict(e *memEntry) {
	if e.key.id == 0 {
		delete(d.streams, e.key.streamKey)
		d.stats.StreamsEvicted++
	} else {
		delete(d.templates, e.key)
		d.stats.TemplatesEvicted++
	}
	d.release(e)
}

// release stops accounting for e. Its exporter stays, empty, until its
// room is needed.
func (d *Decoder) release(e *memEntry) {
	ex := e.owner
	if ex == nil {
		return
	}
	ex.entries.Remove(e.elem)
	ex.bytes -= e.size
	d.mem.total -= e.size
	e.owner, e.elem = nil, nil
}

// Memory returns the bytes the Decoder holds by its estimate, and for how
// many exporters.
func (d *Decoder) Memory() (bytes, exporters int) {
	return d.mem.total, len(d.mem.exporters)
}
