package prefixes

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gaissmai/bart"
)

// TestTrieAgainstBart: in random tables of nested prefixes of every
// length, lookups one at a time and in batches find what bart finds.
func TestTrieAgainstBart(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var tab Table
		var ref bart.Table[Route]
		var pfxs []netip.Prefix
		for range r.IntN(3000) {
			p := testPrefix(r)
			rt := Route{Origin: r.Uint32N(8), Peer: r.Uint32N(20), Bits: uint8(p.Bits())} // few ASes: duplicates differ or not
			tab.insert(p, rt.Origin, rt.Peer)
			ref.Insert(p, rt)
			pfxs = append(pfxs, p)
		}
		if err := tab.build(); err != nil {
			t.Fatal(err)
		}
		if tab.Len4() != ref.Size4() || tab.Len6() != ref.Size6() {
			t.Fatalf("round %d: %d IPv4 and %d IPv6 prefixes, want %d and %d", round, tab.Len4(), tab.Len6(), ref.Size4(), ref.Size6())
		}
		var addrs []netip.Addr
		for _, p := range pfxs {
			first, last := p.Addr(), lastAddr(p)
			addrs = append(addrs, first, last, first.Prev(), last.Next(), randomHost(r, p))
		}
		for range 200 {
			addrs = append(addrs, randomHost(r, netip.MustParsePrefix("0.0.0.0/0")), randomHost(r, netip.MustParsePrefix("::/0")))
		}
		for _, a := range addrs[:min(len(addrs), 300)] {
			if a.Is4() {
				addrs = append(addrs, netip.AddrFrom16(a.As16())) // IPv4-mapped
			} else if a.IsValid() {
				addrs = append(addrs, a.WithZone("eth0"))
			}
		}
		addrs = append(addrs, netip.Addr{})

		leaves := make([]leaf, len(addrs))
		for i := 0; i < len(addrs); {
			n := min(1+r.IntN(batch), len(addrs)-i)
			tab.lookupMany(addrs[i:i+n], leaves[i:i+n])
			i += n
		}
		for i, a := range addrs {
			want, wantOK := ref.Lookup(a.Unmap())
			got, ok := tab.Lookup(a)
			if got != want || ok != wantOK {
				t.Fatalf("round %d: Lookup(%s) = %+v %v, want %+v %v", round, a, got, ok, want, wantOK)
			}
			if got, ok := tab.route(leaves[i]); got != want || ok != wantOK {
				t.Fatalf("round %d: lookupMany(%s) = %+v %v, want %+v %v", round, a, got, ok, want, wantOK)
			}
		}
	}
}

// testPrefix is a prefix of any length, mostly in a few small regions so
// that prefixes nest and share nodes, tails and runs.
func testPrefix(r *rand.Rand) netip.Prefix {
	regions := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("10.20.0.0/20"),
		netip.MustParsePrefix("198.18.0.0/28"),
		netip.MustParsePrefix("255.255.0.0/16"),
		netip.MustParsePrefix("::/0"),
		netip.MustParsePrefix("2001:db8::/40"),
		netip.MustParsePrefix("2001:db8:0:1::/100"),
		netip.MustParsePrefix("ffff:ffff::/32"),
	}
	region := regions[r.IntN(len(regions))]
	bits := r.IntN(region.Addr().BitLen() + 1)
	if r.IntN(4) > 0 { // mostly inside the region
		bits = region.Bits() + r.IntN(region.Addr().BitLen()-region.Bits()+1)
	}
	return netip.PrefixFrom(randomHost(r, region), bits).Masked()
}

func TestEmptyTable(t *testing.T) {
	var zero Table
	built := Table{}
	if err := built.build(); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []*Table{&zero, &built} {
		for _, a := range []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), {}} {
			if rt, ok := tab.Lookup(a); ok {
				t.Errorf("%s: found %+v in an empty table", a, rt)
			}
			leaves := []leaf{7}
			if tab.lookupMany([]netip.Addr{a}, leaves); leaves[0] != 0 {
				t.Errorf("%s: leaf %d in an empty table", a, leaves[0])
			}
		}
	}
}
