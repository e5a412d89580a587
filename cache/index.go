package cache

import (
	"hash/maphash"

	"github.com/spanflow/spanflow/bpf"
)

// index finds a flow's slab entry by key. It is a hash table with open
// addressing and linear probing over a power-of-two array of 8-byte slots
// (slab reference + 32-bit hash); the keys themselves live only in the
// slab. A Go map[bpf.FlowKey]int32 would store every 48-byte key a second
// time and, at a million flows, cost about 110 bytes a flow against this
// index's 11–16 (and a cache miss more per lookup).
//
// Slots are kept at most 3/4 full; the array doubles beyond that. A
// removal shifts the following entries of the probe run back (Knuth's
// algorithm R), so there are no tombstones and lookups stay short.
type index struct {
	slots []slot
	n     int
	seed  maphash.Seed
}

type slot struct {
	ref  uint32 // slab index + 1; 0 = empty
	hash uint32 // low bits pick the home slot; all of it filters probes
}

const minIndexSlots = 16

func newIndex() index {
	return index{slots: make([]slot, minIndexSlots), seed: maphash.MakeSeed()}
}

func (x *index) hash(k *bpf.FlowKey) uint32 {
	return uint32(maphash.Comparable(x.seed, *k))
}

// find returns the slab index of the flow stored under k, and the slot
// where it is (or where the probe ended). Bidirectional mode, where
// several flows may share a canonical key, looks up with Table.findPair.
func (x *index) find(k *bpf.FlowKey, s *slab) (i int32, at int, ok bool) {
	h := x.hash(k)
	mask := len(x.slots) - 1
	for at = int(h) & mask; x.slots[at].ref != 0; at = (at + 1) & mask {
		sl := x.slots[at]
		if sl.hash != h {
			continue
		}
		i = int32(sl.ref - 1)
		if s.flow(i).key == *k {
			return i, at, true
		}
	}
	return -1, at, false
}

// slotOf returns the slot that holds slab index i, stored under k.
func (x *index) slotOf(k *bpf.FlowKey, i int32) (at int, ok bool) {
	h := x.hash(k)
	mask := len(x.slots) - 1
	for at = int(h) & mask; x.slots[at].ref != 0; at = (at + 1) & mask {
		if x.slots[at].ref == uint32(i)+1 {
			return at, true
		}
	}
	return at, false
}

// insert stores slab index i under k, which must not be present.
func (x *index) insert(k *bpf.FlowKey, i int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.put(slot{ref: uint32(i) + 1, hash: x.hash(k)})
	x.n++
}

func (x *index) put(s slot) {
	mask := len(x.slots) - 1
	at := int(s.hash) & mask
	for x.slots[at].ref != 0 {
		at = (at + 1) & mask
	}
	x.slots[at] = s
}

func (x *index) grow() {
	old := x.slots
	x.slots = make([]slot, 2*len(old))
	for _, s := range old {
		if s.ref != 0 {
			x.put(s)
		}
	}
}

// removeAt empties slot at, moving later entries of its probe run back
// into the hole when their home slot allows it.
func (x *index) removeAt(at int) {
	mask := len(x.slots) - 1
	hole := at
	for j := (hole + 1) & mask; x.slots[j].ref != 0; j = (j + 1) & mask {
		home := int(x.slots[j].hash) & mask
		// The entry at j may fill the hole unless its home lies
		// cyclically in (hole, j].
		if (j-home)&mask >= (j-hole)&mask {
			x.slots[hole] = x.slots[j]
			hole = j
		}
	}
	x.slots[hole] = slot{}
	x.n--
}
