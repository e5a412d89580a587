package prefixes

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/mrt"
)

var update = flag.Bool("update", false, "rewrite testdata/rib.mrt with gobgp's MRT writer")

// ribPath is one RIB entry of the fixture: the peer's index and the AS
// path's segments.
type ribPath struct {
	peer uint16
	segs []bgp.AsPathParamInterface
}

func seq(as ...uint32) bgp.AsPathParamInterface {
	return bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as)
}

func set(as ...uint32) bgp.AsPathParamInterface {
	return bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, as)
}

// buildRIB writes a small TABLE_DUMP_V2 dump with gobgp's MRT encoder, as
// a collector would: a PEER_INDEX_TABLE of two peers, then one RIB record
// per prefix. What each record says is in TestMRT's expectations.
func buildRIB(t testing.TB) []byte {
	t.Helper()
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	peers := []*mrt.Peer{
		mrt.NewPeer(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.1"), 64510, true),
		mrt.NewPeer(netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8:ff::2"), 4200000010, true),
	}
	var out bytes.Buffer
	write := func(sub mrt.MRTSubTypeTableDumpv2, body mrt.Body) {
		m, err := mrt.NewMRTMessage(when, mrt.TABLE_DUMPv2, sub, body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	write(mrt.PEER_INDEX_TABLE, mrt.NewPeerIndexTable(netip.MustParseAddr("192.0.2.254"), "spanflow-test", peers))

	routes := []struct {
		prefix string
		paths  []ribPath
	}{
		{"198.18.0.0/15", []ribPath{{0, []bgp.AsPathParamInterface{seq(64510, 64520, 64500)}}}},
		{"198.18.0.0/24", []ribPath{
			{1, []bgp.AsPathParamInterface{seq(4200000010, 4200000001)}},
			{0, []bgp.AsPathParamInterface{seq(64510, 64999)}},
		}},
		{"198.18.0.128/25", []ribPath{{0, []bgp.AsPathParamInterface{seq(64510, 64520), set(64531, 64532)}}}},
		{"198.19.0.0/16", []ribPath{{0, nil}}}, // the peer's own route: empty path
		{"2001:db8::/32", []ribPath{{1, []bgp.AsPathParamInterface{seq(4200000010, 64502)}}}},
		{"2001:db8:1::/48", []ribPath{{0, []bgp.AsPathParamInterface{seq(64510, 64510, 65551)}}}},
	}
	for i, r := range routes {
		pfx := netip.MustParsePrefix(r.prefix)
		nlri, err := bgp.NewIPAddrPrefix(pfx)
		if err != nil {
			t.Fatal(err)
		}
		family, sub := bgp.RF_IPv4_UC, mrt.RIB_IPV4_UNICAST
		if pfx.Addr().Is6() {
			family, sub = bgp.RF_IPv6_UC, mrt.RIB_IPV6_UNICAST
		}
		var entries []*mrt.RibEntry
		for _, p := range r.paths {
			attrs := []bgp.PathAttributeInterface{
				bgp.NewPathAttributeOrigin(0),
				bgp.NewPathAttributeAsPath(p.segs),
			}
			if family == bgp.RF_IPv6_UC {
				mp, err := bgp.NewPathAttributeMpReachNLRI(family, []bgp.PathNLRI{{NLRI: nlri}}, netip.MustParseAddr("2001:db8:ff::2"))
				if err != nil {
					t.Fatal(err)
				}
				attrs = append(attrs, mp)
			} else {
				nh, err := bgp.NewPathAttributeNextHop(netip.MustParseAddr("192.0.2.1"))
				if err != nil {
					t.Fatal(err)
				}
				attrs = append(attrs, nh)
			}
			entries = append(entries, mrt.NewRibEntry(p.peer, uint32(when.Unix()), 0, attrs, false))
		}
		// gobgp's Rib.Serialize writes an AFI/SAFI before an IPv6
		// unicast prefix, which RFC 6396 4.3.2 (and its own parser)
		// has only in RIB_GENERIC: with no family it writes none.
		write(sub, mrt.NewRib(uint32(i), 0, nlri, entries))
	}
	return out.Bytes()
}

// TestMRTFixture keeps testdata/rib.mrt what buildRIB writes (go test
// -run TestMRTFixture -update rewrites it) and checks gobgp reads every
// record of it back.
func TestMRTFixture(t *testing.T) {
	want := buildRIB(t)
	if *update {
		if err := os.WriteFile("testdata/rib.mrt", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("testdata/rib.mrt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("testdata/rib.mrt differs from what buildRIB writes: run go test -run TestMRTFixture -update")
	}
	for data := got; len(data) > 0; {
		h, err := mrt.ParseHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mrt.ParseBody(data[mrt.MRT_COMMON_HEADER_LEN:], h); err != nil {
			t.Fatal(err)
		}
		data = data[mrt.MRT_COMMON_HEADER_LEN+int(h.Len):]
	}
}
