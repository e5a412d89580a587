package prefixes

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// want is what a lookup of addr must give; bits 0 means no prefix covers it.
type want struct {
	addr         string
	origin, peer uint32
	bits         uint8
}

func checkLookups(t *testing.T, tab *Table, wants []want) {
	t.Helper()
	for _, w := range wants {
		rt, ok := tab.Lookup(netip.MustParseAddr(w.addr))
		if w.bits == 0 {
			if ok {
				t.Errorf("%s: found %+v, want no prefix", w.addr, rt)
			}
			continue
		}
		if !ok || rt != (Route{Origin: w.origin, Peer: w.peer, Bits: w.bits}) {
			t.Errorf("%s: got %+v (found %v), want origin %d peer %d /%d", w.addr, rt, ok, w.origin, w.peer, w.bits)
		}
	}
}

func load(t *testing.T, sources ...string) *Table {
	t.Helper()
	var srcs []Source
	for _, s := range sources {
		src, err := ParseSource(s)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	tab, err := Load(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

var plainWants = []want{
	{"198.18.0.5", 64501, 64510, 24},           // /24 inside the /15
	{"198.18.0.200", 4200000001, 0, 25},        // /25 inside the /24
	{"198.18.0.127", 64501, 64510, 24},         // just below the /25
	{"198.18.1.1", 64500, 0, 15},               // only the /15
	{"198.19.255.255", 64500, 0, 15},           // last address of the /15
	{"198.19.7.9", 64999, 0, 24},               // "AS64999"
	{"192.0.2.77", 65546, 0, 24},               // asdot 1.10
	{"198.20.0.0", 0, 0, 0},                    // just past the /15
	{"::ffff:198.18.0.5", 64501, 64510, 24},    // IPv4-mapped is IPv4
	{"2001:db8:1:2::3", 65551, 4200000010, 48}, // /48 inside the /32
	{"2001:db8:2::1", 64502, 0, 32},
	{"2001:db9::1", 0, 0, 0},
}

func TestPlain(t *testing.T) {
	tab := load(t, "testdata/plain.txt")
	checkLookups(t, tab, plainWants)
	if tab.Len4() != 5 || tab.Len6() != 2 {
		t.Errorf("%d IPv4 and %d IPv6 prefixes, want 5 and 2", tab.Len4(), tab.Len6())
	}
}

func TestIP2ASN(t *testing.T) {
	tab := load(t, "testdata/ip2asn.tsv")
	checkLookups(t, tab, []want{
		{"198.18.0.0", 64501, 0, 24},
		{"198.18.0.255", 64501, 0, 24},
		{"198.18.1.77", 64503, 0, 24}, // 198.18.1.0-198.18.2.127 = /24 + /25
		{"198.18.2.127", 64503, 0, 25},
		{"198.18.2.128", 0, 0, 0},
		{"198.18.3.1", 0, 0, 0}, // AS 0: not routed
		{"198.18.4.0", 0, 0, 0}, // 198.18.4.1-6 = .1/32 .2/31 .4/31 .6/32
		{"198.18.4.1", 4200000001, 0, 32},
		{"198.18.4.3", 4200000001, 0, 31},
		{"198.18.4.4", 4200000001, 0, 31},
		{"198.18.4.6", 4200000001, 0, 32},
		{"198.18.4.7", 0, 0, 0},
		{"2001:db8::1", 4200000002, 0, 48},
		{"2001:db8:1::fffe", 64504, 0, 112},
		{"2001:db8:1::1:0", 0, 0, 0},
	})
	if tab.Len4() != 7 || tab.Len6() != 2 {
		t.Errorf("%d IPv4 and %d IPv6 prefixes, want 7 and 2", tab.Len4(), tab.Len6())
	}
}

func TestIP2ASNU32(t *testing.T) {
	// ip2asn-v4-u32.tsv: the same rows with IPv4 as integers.
	path := filepath.Join(t.TempDir(), "u32.tsv")
	// 3323068416 = 198.18.0.0, 3323068671 = 198.18.0.255
	if err := os.WriteFile(path, []byte("3323068416\t3323068671\t64501\tZZ\tTEST-A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkLookups(t, load(t, path), []want{{"198.18.0.9", 64501, 0, 24}, {"198.18.1.0", 0, 0, 0}})
}

var mrtWants = []want{
	{"198.18.1.1", 64500, 64510, 15},           // path 64510 64520 64500
	{"198.18.0.5", 4200000001, 4200000010, 24}, // first entry: peer 1's path
	{"198.18.0.129", 64520, 64510, 25},         // 64510 64520 {64531,64532}: aggregated by 64520
	{"198.19.0.1", 64510, 64510, 16},           // empty path: the peer's own route
	{"2001:db8:2::1", 64502, 4200000010, 32},   // IPv6
	{"2001:db8:1::1", 65551, 64510, 48},        // prepending: 64510 64510 65551
	{"198.20.0.1", 0, 0, 0},
}

func TestMRT(t *testing.T) {
	tab := load(t, "testdata/rib.mrt")
	checkLookups(t, tab, mrtWants)
	if tab.Len4() != 4 || tab.Len6() != 2 {
		t.Errorf("%d IPv4 and %d IPv6 prefixes, want 4 and 2", tab.Len4(), tab.Len6())
	}
}

// TestCompressed reads gzip and bzip2 dumps (as RouteViews and RIS
// publish them), detected by content, not by name.
func TestCompressed(t *testing.T) {
	raw, err := os.ReadFile("testdata/rib.mrt")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	path := filepath.Join(t.TempDir(), "rib")
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	checkLookups(t, load(t, path), mrtWants)
	checkLookups(t, load(t, "testdata/rib.mrt.bz2"), mrtWants) // made with bzip2(1)
}

// TestExplicitFormat: FORMAT:FILE overrides detection, and a wrong
// format is refused, not misread.
func TestExplicitFormat(t *testing.T) {
	checkLookups(t, load(t, "plain:testdata/plain.txt"), plainWants)
	checkLookups(t, load(t, "mrt:testdata/rib.mrt"), mrtWants)
	if _, err := Load(Source{Path: "testdata/plain.txt", Format: MRT}); err == nil {
		t.Error("plain.txt read as MRT: no error")
	}
	if _, err := Load(Source{Path: "testdata/plain.txt", Format: IP2ASN}); err == nil {
		t.Error("plain.txt read as ip2asn: no error")
	}
	if s, err := ParseSource("dir:with/colon"); err != nil || s.Path != "dir:with/colon" || s.Format != Auto {
		t.Errorf("dir:with/colon: %+v %v", s, err)
	}
}

// TestLaterFileWins: with two files, a prefix in both takes the later one's AS.
func TestLaterFileWins(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("198.18.0.0/24 1\n198.18.1.0/24 2\n"), 0o644)
	os.WriteFile(b, []byte("198.18.0.0/24 3\n"), 0o644)
	checkLookups(t, load(t, a, b), []want{{"198.18.0.1", 3, 0, 24}, {"198.18.1.1", 2, 0, 24}})
}

// TestBrokenFiles: each broken file is refused with its name and line
// (or MRT record offset).
func TestBrokenFiles(t *testing.T) {
	raw, err := os.ReadFile("testdata/rib.mrt")
	if err != nil {
		t.Fatal(err)
	}
	cut := raw[:len(raw)-10]         // the last record is cut short
	badType := bytes.Clone(raw[:71]) // a PEER_INDEX_TABLE …
	badType[5] = 16                  // … said to be BGP4MP: an update file
	for _, c := range []struct {
		name, content, want string
	}{
		{"plain-prefix", "198.18.0.0/24 1\n# ok\n\n198.18.0.0/33 2\n", ":4: "},
		{"plain-asn", "198.18.0.0/24 1\n198.18.1.0/24 ASx\n", ":2: AS number \"ASx\""},
		{"plain-fields", "198.18.0.0/24\n", ":1: want CIDR"},
		{"plain-big-asn", "198.18.0.0/24 4294967296\n", ":1: AS number"},
		{"ip2asn-order", "198.18.0.9\t198.18.0.1\t1\tZZ\tx\n", ":1: range 198.18.0.9-198.18.0.1 ends before"},
		{"ip2asn-mixed", "198.18.0.0\t2001:db8::\t1\tZZ\tx\n", ":1: range mixes"},
		{"ip2asn-addr", "198.18.0.0\t198.18.0.255\t1\tZZ\tx\n198.18.1.0\tnope\t2\tZZ\ty\n", ":2: "},
		{"mrt-cut", string(cut), "MRT record at offset 390"},
		{"mrt-type", string(badType), "MRT record at offset 0 (uncompressed): MRT type 16"},
		{"mrt-empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name)
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Source{Path: path})
			if c.name == "mrt-empty" {
				// An empty file is an empty plain table, not an error.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want the file name and %q", err, c.want)
			}
		})
	}
	if _, err := Load(Source{Path: "testdata/missing"}); err == nil || !strings.Contains(err.Error(), "testdata/missing") {
		t.Errorf("missing file: %v", err)
	}
}

// TestRangePrefixes checks the range → CIDR conversion on random ranges
// against what a cover must be: in order, contiguous, exactly lo to hi,
// each prefix aligned and as large as the range allows.
func TestRangePrefixes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var lo, hi netip.Addr
		if i%2 == 0 {
			a, b := r.Uint32(), r.Uint32()
			if i%4 == 0 {
				b = a + r.Uint32N(5000)
			}
			lo, hi = u32(min(a, b)), u32(max(a, b))
		} else {
			var x [16]byte
			for j := range x {
				x[j] = byte(r.Uint32())
			}
			lo = netip.AddrFrom16(x)
			x[15-r.IntN(16)] ^= byte(r.Uint32())
			hi = netip.AddrFrom16(x)
			if hi.Less(lo) {
				lo, hi = hi, lo
			}
		}
		var got []netip.Prefix
		if err := rangePrefixes(lo, hi, func(p netip.Prefix) { got = append(got, p) }); err != nil {
			t.Fatal(err)
		}
		next := lo
		for k, p := range got {
			if p.Addr() != next || p.Masked() != p {
				t.Fatalf("%s-%s: prefix %d %s: not aligned at %s", lo, hi, k, p, next)
			}
			if parent := netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked(); p.Bits() > 0 &&
				parent.Addr() == p.Addr() && !hi.Less(lastAddr(parent)) {
				t.Fatalf("%s-%s: %s could be %s", lo, hi, p, parent)
			}
			next = lastAddr(p).Next()
		}
		if last := lastAddr(got[len(got)-1]); last != hi {
			t.Fatalf("%s-%s: cover ends at %s", lo, hi, last)
		}
	}
	// The whole space is one prefix.
	var got []netip.Prefix
	rangePrefixes(netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"), func(p netip.Prefix) { got = append(got, p) })
	if len(got) != 1 || got[0] != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("whole IPv4 space: %v", got)
	}
}

func u32(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
