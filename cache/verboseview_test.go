package cache

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// verboseNames names the test's interfaces as the agent's ifName would.
func verboseNames(i uint32) string { return map[uint32]string{2: "eth0", 3: "eth3", 7: "eth7"}[i] }

// verboseEnrich stands for the export path's prefix table and kernel
// routes: 198.18.1.0/24 is AS 64500, the rest of 198.18.0.0/16 AS 64501,
// 198.19.0.0/16 AS 64510, 192.0.2.1/32 the router's own address (AS 0);
// a forwarded flow's next hop is 10.0.0.1.
func verboseEnrich(recs []Record) {
	lookup := func(a netip.Addr) (uint8, uint32) {
		switch {
		case netip.MustParsePrefix("198.18.1.0/24").Contains(a):
			return 24, 64500
		case netip.MustParsePrefix("198.18.0.0/16").Contains(a):
			return 16, 64501
		case netip.MustParsePrefix("198.19.0.0/16").Contains(a):
			return 16, 64510
		case a == netip.MustParseAddr("192.0.2.1"):
			return 32, 0
		}
		return 0, 0
	}
	for i := range recs {
		r := &recs[i]
		r.SrcMask, r.SrcAS = lookup(r.SrcAddr.Unmap())
		r.DstMask, r.DstAS = lookup(r.DstAddr.Unmap())
		if r.Out == OutIface {
			r.NextHop = netip.MustParseAddr("10.0.0.1")
		}
	}
}

// verboseTable holds, one-way:
//
//	A  TCP  198.18.1.10:1000 > 198.19.0.5:80  if 2 → eth7  ToS 0x28 flags 0x1B 10 pkts 4000 B 0–2 s
//	B  UDP  198.18.2.30:53 > 192.0.2.1:5353   if 3 → Local                      2 pkts  200 B 0–0.5 s
//	C  ICMP 198.18.9.9 > 203.0.113.9 echo     if 2 → Null                       3 pkts  252 B 2–4 s
//	D  UDP  [2001:db8::1]:1 > [2001:db8::2]:2 if 2 → unknown                    1 pkt   100 B
func verboseTable(t *testing.T) *Table {
	t.Helper()
	tb := newTestTable(t, DefaultConfig(), &fakeClock{})
	a := key(6, "198.18.1.10:1000", "198.19.0.5:80")
	a.Tos = 0x28
	b := key(17, "198.18.2.30:53", "192.0.2.1:5353")
	b.Ifindex = 3
	tb.Merge([]Delta{
		{Key: a, Packets: 10, Bytes: 4000, FirstNs: 0, LastNs: uint64(2 * s), TCPFlags: 0x1B, Out: OutIface, OutIfIndex: 7},
		{Key: b, Packets: 2, Bytes: 200, FirstNs: 0, LastNs: uint64(500 * time.Millisecond), Out: OutLocal},
		{Key: icmpKey(1, "198.18.9.9", "203.0.113.9", 8, 0), Packets: 3, Bytes: 252, FirstNs: uint64(2 * s), LastNs: uint64(4 * s), Out: OutNull},
		{Key: key(17, "[2001:db8::1]:1", "[2001:db8::2]:2"), Packets: 1, Bytes: 100},
	})
	return tb
}

// TestVerboseViewPrintsIOSLayout checks the two-line layout of IOS's
// show ip cache verbose flow, column by column (each line is 79
// characters, as IOS's): hex protocol, ToS, flags and ports, /masks and
// AS numbers from the enrich hook, Local and Null as DstIf, the next hop
// only where the flow is forwarded, B/Pk 4000/10 = 400, 252/3 = 84,
// 200/2 = 100; the smallest flow (D) left out by N = 3.
func TestVerboseViewPrintsIOSLayout(t *testing.T) {
	v := verboseTable(t).VerboseView(VerboseQuery{N: 3, Enrich: verboseEnrich, IfName: verboseNames})
	want := "3 of 4 flows shown, most bytes first\n" +
		"\n" +
		"SrcIf          SrcIPaddress    DstIf          DstIPaddress    Pr TOS Flgs  Pkts\n" +
		"Port Msk AS                    Port Msk AS    NextHop              B/Pk  Active\n" +
		"eth0           198.18.1.10     eth7           198.19.0.5      06 28  1B      10\n" +
		"03E8 /24 64500                 0050 /16 64510 10.0.0.1              400     2.0\n" +
		"\n" +
		"eth0           198.18.9.9      Null           203.0.113.9     01 00  00       3\n" +
		"0000 /16 64501                 0800 /0  0     -                      84     2.0\n" +
		"\n" +
		"eth3           198.18.2.30     Local          192.0.2.1       11 00  00       2\n" +
		"0035 /16 64501                 14E9 /32 0     -                     100     0.5\n"
	var b strings.Builder
	if err := v.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("show cache verbose 3 (-want +got):\n%s", diff)
	}
}

// TestVerboseViewWidensForIPv6AndSplitsBiflows: a biflow is two one-way
// rows, the reverse with the masks and AS numbers of its own addresses
// and no output interface or next hop (the table knows the forward
// direction's route only); an IPv6 address widens both address columns
// (and NextHop's) so the second line stays under the first.
func TestVerboseViewWidensForIPv6AndSplitsBiflows(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bidirectional = true
	tb := newTestTable(t, cfg, &fakeClock{})
	tb.Merge([]Delta{
		{Key: key(6, "198.18.1.10:1000", "198.19.0.5:80"), Packets: 10, Bytes: 4000, FirstNs: 0, LastNs: uint64(2 * s), Out: OutIface, OutIfIndex: 7},
		{Key: key(6, "198.19.0.5:80", "198.18.1.10:1000"), Packets: 6, Bytes: 3000, FirstNs: uint64(s), LastNs: uint64(3 * s)},
		{Key: key(17, "[2001:db8:aaaa::10]:1", "[2001:db8:bbbb::20]:2"), Packets: 1, Bytes: 100},
	})
	v := tb.VerboseView(VerboseQuery{N: 100, Enrich: verboseEnrich, IfName: verboseNames})
	// "2001:db8:aaaa::10" (17) widens the address columns and NextHop
	// from 15 to 17: 2 more spaces in every line.
	want := "3 of 3 flows shown, most bytes first\n" +
		"\n" +
		"SrcIf          SrcIPaddress      DstIf          DstIPaddress      Pr TOS Flgs  Pkts\n" +
		"Port Msk AS                      Port Msk AS    NextHop                B/Pk  Active\n" +
		"eth0           198.18.1.10       eth7           198.19.0.5        06 00  00      10\n" +
		"03E8 /24 64500                   0050 /16 64510 10.0.0.1                400     2.0\n" +
		"\n" +
		"eth0           198.19.0.5        -              198.18.1.10       06 00  00       6\n" +
		"0050 /16 64510                   03E8 /24 64500 -                       500     2.0\n" +
		"\n" +
		"eth0           2001:db8:aaaa::10 -              2001:db8:bbbb::20 11 00  00       1\n" +
		"0001 /0  0                       0002 /0  0     -                       100     0.0\n"
	var b strings.Builder
	if err := v.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("show cache verbose, bidirectional (-want +got):\n%s", diff)
	}
}
