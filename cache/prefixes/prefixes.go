// Package prefixes maps IP addresses to the AS numbers and prefix lengths
// of the routes covering them, for the AS and mask fields of flow records
// (NetFlow's "routing information" on a probe that is not the router).
//
// A Table is loaded from prefix-table files in three formats (see Load):
// plain "CIDR ASN" lines, ip2asn TSV ranges and MRT TABLE_DUMP_V2 RIB dumps
// (RouteViews, RIPE RIS), plain or gzip/bzip2-compressed. Lookups are
// longest-prefix matches, IPv4 and IPv6, in a flat index built once per
// table (see trie). A Live holds the table in use and swaps in a reloaded
// one atomically.
package prefixes

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Route is what a table knows of one prefix.
type Route struct {
	Origin uint32 // the AS that originates the prefix (last AS of the AS path)
	Peer   uint32 // the neighbour AS the route is learned from (first AS of the path); 0 if unknown
	Bits   uint8  // the prefix length: the record's mask
}

// Table is an immutable longest-prefix-match table of Routes.
type Table struct {
	idx     trie
	peers   []uint32 // the peer ASes, indexed by the leaves
	n4, n6  int
	files   []string
	loading [2][]entry // IPv4 and IPv6 prefixes, until build
}

// Lookup returns the Route of the longest prefix holding addr.
// IPv4-mapped IPv6 addresses are looked up as IPv4.
func (t *Table) Lookup(addr netip.Addr) (Route, bool) {
	return t.route(t.idx.lookup(keyOf(addr)))
}

// route is the Route of a leaf.
func (t *Table) route(l leaf) (Route, bool) {
	if l == 0 {
		return Route{}, false
	}
	return Route{Origin: l.origin(), Peer: t.peers[l.peer()], Bits: l.bits()}, true
}

// batch is how many addresses lookupMany takes at a time.
const batch = 256

// lookupMany looks up every address of addrs, as Lookup does, and sets
// leaves[i] to the leaf of addrs[i] (see route): faster than one at a
// time, see trie.lookupMany. leaves must be as long as addrs.
func (t *Table) lookupMany(addrs []netip.Addr, leaves []leaf) {
	var ks [batch]key
	for len(addrs) > 0 {
		n := min(len(addrs), batch)
		for i, a := range addrs[:n] {
			ks[i] = keyOf(a)
		}
		t.idx.lookupMany(ks[:n], leaves[:n])
		addrs, leaves = addrs[n:], leaves[n:]
	}
}

// Len4 and Len6 count the IPv4 and IPv6 prefixes.
func (t *Table) Len4() int { return t.n4 }
func (t *Table) Len6() int { return t.n6 }

// insert adds pfx; a prefix given twice keeps the last Route.
func (t *Table) insert(pfx netip.Prefix, origin, peer uint32) {
	if !pfx.IsValid() {
		return
	}
	pfx = pfx.Masked()
	e := entry{bits: uint8(pfx.Bits()), origin: origin, peer: peer}
	family := 0
	if pfx.Addr().Is4() {
		a := pfx.Addr().As4()
		e.hi = uint64(binary.BigEndian.Uint32(a[:])) << 32
	} else {
		a := pfx.Addr().As16()
		e.hi, e.lo = binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
		family = 1
	}
	e.seq = uint32(len(t.loading[family]))
	t.loading[family] = append(t.loading[family], e)
}

// build indexes the inserted prefixes; the table is then complete.
func (t *Table) build() error {
	v4, v6 := dedup(t.loading[0]), dedup(t.loading[1])
	t.loading = [2][]entry{}
	peers := map[uint32]uint32{} // AS: index in t.peers
	for _, es := range [][]entry{v4, v6} {
		for i := range es {
			p, ok := peers[es[i].peer]
			if !ok {
				if len(t.peers) == maxPeers {
					return fmt.Errorf("more than %d different peer ASes", maxPeers)
				}
				p = uint32(len(t.peers))
				peers[es[i].peer] = p
				t.peers = append(t.peers, es[i].peer)
			}
			es[i].peer = p
		}
	}
	t.idx = buildTrie(v4, v6)
	t.n4, t.n6 = len(v4), len(v6)
	return nil
}

// String says what the table holds, for log lines.
func (t *Table) String() string {
	return fmt.Sprintf("%d IPv4 and %d IPv6 prefixes from %v", t.Len4(), t.Len6(), t.files)
}
