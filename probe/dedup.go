package probe

import (
	"encoding/binary"
	"time"
)

// deduper is is_duplicate for offline mode: the same bytes hashed the same
// way, the capture's timestamps for the clock, and a map pruned of what the
// window has passed instead of an LRU.
type deduper struct {
	window    int64
	seen      map[uint64]int64
	lastPrune int64
}

func newDeduper(window time.Duration) *deduper {
	if window <= 0 {
		return nil
	}
	return &deduper{window: window.Nanoseconds(), seen: make(map[uint64]int64)}
}

// Bytes is_duplicate reads: the IP header (IPv4's first 20, IPv6's 40)
// and the 20 bytes after it, TTL/hop limit and IPv4 checksum zeroed.
const (
	dedupL3 = 40
	dedupL4 = 20
)

// duplicate reports whether the packet whose IP header is at frame[ipOff:]
// copies one seen within the window before ns, and remembers it if not.
func (d *deduper) duplicate(frame []byte, ipOff int, version uint8, ns int64) bool {
	var b [dedupL3 + dedupL4]byte
	l3 := 40
	if version == 4 {
		l3 = 20
	}
	if ipOff+l3 > len(frame) {
		return false // the datapath's load fails: not a duplicate
	}
	copy(b[:l3], frame[ipOff:])
	l4Off := ipOff + 40
	var ipEnd int
	if version == 4 {
		b[8], b[10], b[11] = 0, 0, 0
		l4Off = ipOff + int(b[0]&0x0f)*4
		ipEnd = ipOff + int(binary.BigEndian.Uint16(b[2:]))
	} else {
		b[7] = 0
		ipEnd = l4Off + int(binary.BigEndian.Uint16(b[4:]))
	}
	// Up to the packet's end, not the frame's: Ethernet padding may
	// differ between two copies of one packet.
	end := min(len(frame), ipEnd)
	if l4Off < end {
		copy(b[dedupL3:], frame[l4Off:min(end, l4Off+dedupL4)])
	}
	h := uint64(0xcbf29ce484222325) // FNV-1a, 64 bits
	for i, c := range b {
		if l3 == 20 && i >= 20 && i < dedupL3 {
			continue
		}
		h ^= uint64(c)
		h *= 0x100000001b3
	}
	if seen, ok := d.seen[h]; ok && ns-seen <= d.window && ns >= seen {
		return true
	}
	d.seen[h] = ns
	if ns-d.lastPrune > d.window {
		for k, t := range d.seen {
			if ns-t > d.window {
				delete(d.seen, k)
			}
		}
		d.lastPrune = ns
	}
	return false
}
