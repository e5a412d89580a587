package prefixes

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// trie is the lookup index, built once from the loaded prefixes and never
// changed (a reload builds a new Table).
//
// It is flat so that a lookup is a few dependent memory reads, with no
// pointers or interfaces to chase: dir is indexed by the family and the
// top 16 bits of the address; each further 8 bits are a node of 256
// leaves. A node stores only the leaves that differ from their left
// neighbour, found by popcount over a 256-bit map. Each leaf already
// holds the longest route covering it (routes are pushed down when
// building), so a lookup never backtracks, and the route itself, so that
// the leaf is the answer. Where a block holds a single longer prefix
// (most IPv6 routes), a tail compares the rest of the address with it at
// once instead of a node per 8 bits.
type trie struct {
	dir    *[dirLen]leaf
	nodes  []node
	leaves []leaf
	tails  []tail

	slots *[14][256]leaf // while building: the leaves of a node at each depth below dir
}

const (
	// dir holds IPv4, then IPv6, then one slot that stays 0: where
	// addresses of neither family (the zero Addr) look up nothing.
	dir6   = 1 << 16
	noDir  = 2 << 16
	dirLen = noDir + 1
)

// A leaf is 0 (no route); a route: its origin AS, the index of its peer
// AS in Table.peers and its length + 1; or isNode or isTail | the index
// of the node for the next 8 bits or of the tail.
type leaf uint64

const (
	isNode    leaf = 1 << 63
	isTail    leaf = 1 << 62
	lenShift       = 54 // 8 bits
	peerShift      = 32 // 22 bits
	maxPeers       = 1 << 22
)

func routeLeaf(origin, peer uint32, bits uint8) leaf {
	return leaf(bits+1)<<lenShift | leaf(peer)<<peerShift | leaf(origin)
}

func (l leaf) origin() uint32 { return uint32(l) }
func (l leaf) peer() uint32   { return uint32(l>>peerShift) & (maxPeers - 1) }
func (l leaf) bits() uint8    { return uint8(l>>lenShift) - 1 }

type node struct {
	runs   [4]uint64 // bit k set: leaf k differs from leaf k-1 (bit 0 always)
	first  uint32    // index in leaves of the node's first stored leaf
	before [4]uint8  // set bits of runs in the words before each word
}

// at is the index in leaves of the node's leaf k: its run's stored leaf.
func (n *node) at(k uint8) uint32 {
	w := k >> 6 & 3
	upTo := n.runs[w] << (63 - (k & 63)) // the bits of runs up to k in word w
	return n.first + uint32(n.before[w]) + uint32(bits.OnesCount64(upTo)) - 1
}

// tail is the one prefix in a block, as in entry; its length is in's.
type tail struct {
	hi, lo  uint64
	in, out leaf // the leaf of an address in the prefix, and of one not
}

func (t *tail) leaf(k *key) leaf {
	bits := t.in.bits()
	hiMask := ^uint64(0) << (64 - min(bits, 64)) // a shift of 64 gives 0
	loMask := ^uint64(0) << (128 - max(bits, 64))
	if (k.hi^t.hi)&hiMask|(k.lo^t.lo)&loMask == 0 {
		return t.in
	}
	return t.out
}

// key is an address as the trie reads it: its slot in dir, and the
// address left-aligned as in entry.
type key struct {
	hi, lo uint64
	dir    uint32
}

func keyOf(addr netip.Addr) key {
	switch addr = addr.Unmap(); {
	case addr.Is4():
		a := addr.As4()
		x := binary.BigEndian.Uint32(a[:])
		return key{dir: x >> 16, hi: uint64(x) << 32}
	case addr.Is6():
		a := addr.As16()
		hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
		return key{dir: dir6 | uint32(hi>>48), hi: hi, lo: lo}
	}
	return key{dir: noDir}
}

// octet is the 8 bits of k's address from bit at, which a node reads.
func (k *key) octet(at uint) uint8 {
	if at < 64 {
		return uint8(k.hi >> (56 - at))
	}
	return uint8(k.lo >> (120 - at))
}

// lookup returns the leaf of k.
func (t *trie) lookup(k key) leaf {
	if t.dir == nil {
		return 0 // an empty table
	}
	v := t.dir[k.dir]
	for at := uint(16); v&isNode != 0; at += 8 {
		v = t.leaves[t.nodes[uint32(v)].at(k.octet(at))]
	}
	if v&isTail != 0 {
		v = t.tails[uint32(v)].leaf(&k)
	}
	return v
}

// lookupMany sets leaves[i] to the leaf of ks[i], for at most batch keys.
// It reads a level of the trie at a time for all of them, and each level
// in two passes, nodes then leaves; the tails last. No read in a pass
// waits on another, so the CPU has dozens in flight, where one lookup at
// a time waits for each read in turn (a full table is bigger than the
// CPU's caches: most reads go to memory).
func (t *trie) lookupMany(ks []key, leaves []leaf) {
	leaves = leaves[:len(ks)]
	if t.dir == nil {
		clear(leaves)
		return
	}
	var down, tails [batch]uint16 // the keys still going down, and at a tail
	var at [batch]uint32          // their leaves' index in t.leaves
	n, nt := 0, 0
	for i := range ks {
		leaves[i] = t.dir[ks[i].dir]
		down[n], tails[nt] = uint16(i), uint16(i)
		n += int(leaves[i] >> 63)      // 1 if isNode
		nt += int(leaves[i] >> 62 & 1) // 1 if isTail
	}
	for bit := uint(16); n > 0; bit += 8 {
		for j, i := range down[:n] {
			at[j] = t.nodes[uint32(leaves[i])].at(ks[i].octet(bit))
		}
		for j, i := range down[:n] {
			leaves[i] = t.leaves[at[j]]
		}
		m := 0
		for _, i := range down[:n] {
			down[m], tails[nt] = i, i
			m += int(leaves[i] >> 63)
			nt += int(leaves[i] >> 62 & 1)
		}
		n = m
	}
	for _, i := range tails[:nt] {
		leaves[i] = t.tails[uint32(leaves[i])].leaf(&ks[i])
	}
}

// entry is a prefix while the table is built.
type entry struct {
	hi, lo uint64 // the masked address, left-aligned: IPv4 in the top 32 bits of hi
	origin uint32
	peer   uint32 // the peer AS; once numbered, its index in Table.peers
	seq    uint32 // order of insertion: of two equal prefixes the later wins
	bits   uint8
}

func (e *entry) leaf() leaf { return routeLeaf(e.origin, e.peer, e.bits) }

// compareEntries sorts by address, then length: a prefix comes before
// the prefixes it holds.
func compareEntries(a, b entry) int {
	switch {
	case a.hi != b.hi:
		return cmp.Compare(a.hi, b.hi)
	case a.lo != b.lo:
		return cmp.Compare(a.lo, b.lo)
	case a.bits != b.bits:
		return cmp.Compare(a.bits, b.bits)
	}
	return cmp.Compare(a.seq, b.seq)
}

// dedup sorts es and keeps the last given of each prefix.
func dedup(es []entry) []entry {
	slices.SortFunc(es, compareEntries)
	out := es[:0]
	for i, e := range es {
		if i+1 < len(es) && es[i+1].hi == e.hi && es[i+1].lo == e.lo && es[i+1].bits == e.bits {
			continue
		}
		out = append(out, e)
	}
	return out
}

// buildTrie indexes the IPv4 and IPv6 prefixes, each sorted and
// deduplicated.
func buildTrie(v4, v6 []entry) trie {
	if len(v4)+len(v6) == 0 {
		return trie{}
	}
	t := trie{dir: new([dirLen]leaf), slots: new([14][256]leaf)}
	t.leaves = make([]leaf, 0, 2*(len(v4)+len(v6))) // about what a table needs
	t.fill(t.dir[:dir6], v4, 0, 16, 0)
	t.fill(t.dir[dir6:noDir], v6, 0, 16, 0)
	// Exact sizes: the table is kept for as long as it is in use.
	t.nodes, t.leaves, t.tails = slices.Clone(t.nodes), slices.Clone(t.leaves), slices.Clone(t.tails)
	t.slots = nil
	return t
}

// fill sets slots, the 2^width blocks of addresses at bits [off,
// off+width) of the block holding es, to their leaves. Every prefix in es
// lies in that block and is at least off bits long; inherit is the leaf
// of the longest prefix holding the whole block.
func (t *trie) fill(slots []leaf, es []entry, off, width int, inherit leaf) {
	for k := range slots {
		slots[k] = inherit
	}
	end := off + width
	for i := 0; i < len(es); {
		k := es[i].bitsAt(off, width)
		if int(es[i].bits) <= end {
			// Covers whole slots. Sorted order paints a prefix before
			// the ones it holds, so the longest match is painted last.
			n := 1 << (end - int(es[i].bits))
			for j := k; j < k+n; j++ {
				slots[j] = es[i].leaf()
			}
			i++
			continue
		}
		// The longer prefixes in slot k follow each other, after the
		// prefixes covering the slot: they go in a tail or a node.
		j := i + 1
		for j < len(es) && es[j].bitsAt(off, width) == k {
			j++
		}
		if j == i+1 {
			slots[k] = t.tail(es[i], slots[k])
		} else {
			slots[k] = t.node(es[i:j], end, slots[k])
		}
		i = j
	}
}

// node builds the node for bits [off, off+8) and returns its leaf.
func (t *trie) node(es []entry, off int, inherit leaf) leaf {
	slots := &t.slots[off/8-2]
	t.fill(slots[:], es, off, 8, inherit)
	n := node{first: uint32(len(t.leaves))}
	for k, v := range slots {
		if k == 0 || v != slots[k-1] {
			n.runs[k>>6] |= 1 << (k & 63)
			t.leaves = append(t.leaves, v)
		}
	}
	for w := 1; w < 4; w++ {
		n.before[w] = n.before[w-1] + uint8(bits.OnesCount64(n.runs[w-1]))
	}
	t.nodes = append(t.nodes, n)
	return isNode | leaf(len(t.nodes)-1)
}

// tail adds the tail of e, in a block with the leaf inherit, and
// returns its leaf.
func (t *trie) tail(e entry, inherit leaf) leaf {
	t.tails = append(t.tails, tail{hi: e.hi, lo: e.lo, in: e.leaf(), out: inherit})
	return isTail | leaf(len(t.tails)-1)
}

// bitsAt is the width bits of e's address from bit off.
func (e *entry) bitsAt(off, width int) int {
	var x uint64
	if off < 64 {
		x = e.hi<<off | e.lo>>(64-off) // a shift of 64 gives 0
	} else {
		x = e.lo << (off - 64)
	}
	return int(x >> (64 - width))
}
