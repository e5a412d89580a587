// Package prefixes maps IP addresses to the AS numbers and prefix lengths
// of the routes covering them, for the AS and mask fields of flow records
// (NetFlow's "routing information" on a probe that is not the router).
//
// A Table is loaded from prefix-table files in three formats (see Load):
// plain "CIDR ASN" lines, ip2asn TSV ranges and MRT TABLE_DUMP_V2 RIB dumps
// (RouteViews, RIPE RIS), plain or gzip/bzip2-compressed. Lookups are
// longest-prefix matches in a bart table, IPv4 and IPv6. A Live holds the
// table in use and swaps in a reloaded one atomically.
package prefixes

import (
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"
)

// Route is what a table knows of one prefix.
type Route struct {
	Origin uint32 // the AS that originates the prefix (last AS of the AS path)
	Peer   uint32 // the neighbour AS the route is learned from (first AS of the path); 0 if unknown
	Bits   uint8  // the prefix length: the record's mask
}

// Table is an immutable longest-prefix-match table of Routes.
type Table struct {
	lpm   bart.Table[Route]
	files []string
}

// Lookup returns the Route of the longest prefix holding addr.
// IPv4-mapped IPv6 addresses are looked up as IPv4.
func (t *Table) Lookup(addr netip.Addr) (Route, bool) {
	return t.lpm.Lookup(addr.Unmap())
}

// Len4 and Len6 count the IPv4 and IPv6 prefixes.
func (t *Table) Len4() int { return t.lpm.Size4() }
func (t *Table) Len6() int { return t.lpm.Size6() }

// insert adds pfx; a prefix given twice keeps the last Route.
func (t *Table) insert(pfx netip.Prefix, origin, peer uint32) {
	pfx = pfx.Masked()
	t.lpm.Insert(pfx, Route{Origin: origin, Peer: peer, Bits: uint8(pfx.Bits())})
}

// String says what the table holds, for log lines.
func (t *Table) String() string {
	return fmt.Sprintf("%d IPv4 and %d IPv6 prefixes from %v", t.Len4(), t.Len6(), t.files)
}
