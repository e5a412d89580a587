package cache

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// aggViewTable holds four IPv4 flows and one IPv6 flow:
//
//	A  TCP 198.18.1.10:1000 > 198.19.0.5:80     if 2  10 pkts 4000 B  0–2 s
//	B  TCP 198.18.1.20:1001 > 198.19.0.5:80     if 2   5 pkts 1000 B  1–1.5 s
//	C  UDP 198.18.2.30:53   > 198.19.7.7:5353   if 3   2 pkts  200 B  0–0.5 s
//	D  TCP 198.18.9.9:1000  > 198.19.0.5:80     if 2   3 pkts  300 B  2–4 s
//	E  UDP [2001:db8::1]:1  > [2001:db8::2]:2   if 2   1 pkt   100 B
func aggViewTable(t *testing.T, bidir bool) *Table {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Bidirectional = bidir
	tb := newTestTable(t, cfg, &fakeClock{})
	span := func(k string, proto uint8, ifindex uint32, packets, bytes uint64, from, to time.Duration) Delta {
		src, dst, _ := strings.Cut(k, " > ")
		fk := key(proto, src, dst)
		fk.Ifindex = ifindex
		return Delta{Key: fk, Packets: packets, Bytes: bytes, FirstNs: uint64(from), LastNs: uint64(to)}
	}
	tb.Merge([]Delta{
		span("198.18.1.10:1000 > 198.19.0.5:80", 6, 2, 10, 4000, 0, 2*s),
		span("198.18.1.20:1001 > 198.19.0.5:80", 6, 2, 5, 1000, s, 1500*time.Millisecond),
		span("198.18.2.30:53 > 198.19.7.7:5353", 17, 3, 2, 200, 0, 500*time.Millisecond),
		span("198.18.9.9:1000 > 198.19.0.5:80", 6, 2, 3, 300, 2*s, 4*s),
		span("[2001:db8::1]:1 > [2001:db8::2]:2", 17, 2, 1, 100, 0, 0),
	})
	return tb
}

func TestAggregationViewProtocolPort(t *testing.T) {
	v, err := aggViewTable(t, false).AggregationView(SchemeProtocolPort, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A and D share protocol and ports: 13 packets, 4300 bytes (330 a
	// packet), first packet at 0 s, last at 4 s.
	want := `IP flow aggregation cache "protocol-port" of the flows now in the cache: 3 aggregates of 4 flows
  1 IPv6 flows left out: aggregation caches (v8) carry IPv4 only

Pr  SrcP  DstP  Flows  Pkts  B/Pk  Active
06  03E8  0050  2      13    330   4.0
06  03E9  0050  1      5     200   0.5
11  0035  14E9  1      2     100   0.5
`
	var b strings.Builder
	if err := v.WriteText(&b, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("show cache aggregation protocol-port (-want +got):\n%s", diff)
	}
}

// TestAggregationViewPrefixUsesTheEnrichedRecords: masks, AS numbers and
// the output interface come from the export path's enrichment, so the
// view folds by them.
func TestAggregationViewPrefixUsesTheEnrichedRecords(t *testing.T) {
	enrich := func(recs []Record) {
		in24 := netip.MustParsePrefix("198.18.1.0/24")
		for i := range recs {
			r := &recs[i]
			if !r.SrcAddr.Unmap().Is4() {
				continue
			}
			r.SrcMask, r.SrcAS = 16, 64501
			if in24.Contains(r.SrcAddr.Unmap()) {
				r.SrcMask, r.SrcAS = 24, 64500
			}
			r.DstMask, r.DstAS, r.OutIfIndex = 16, 64510, 7
		}
	}
	v, err := aggViewTable(t, false).AggregationView(SchemePrefix, enrich)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{2: "span0", 3: "span1", 7: "Gi0/7"}
	// A and B: 198.18.1.0/24 → 15 packets, 5000 bytes (333 a packet),
	// 0–2 s. C and D share their prefixes but not the input interface.
	want := `IP flow aggregation cache "prefix" of the flows now in the cache: 3 aggregates of 4 flows
  1 IPv6 flows left out: aggregation caches (v8) carry IPv4 only

Src If  Src Prefix  Msk  AS     Dst If  Dst Prefix  Msk  AS     Flows  Pkts  B/Pk  Active
span0   198.18.1.0  /24  64500  Gi0/7   198.19.0.0  /16  64510  2      15    333   2.0
span0   198.18.0.0  /16  64501  Gi0/7   198.19.0.0  /16  64510  1      3     100   2.0
span1   198.18.0.0  /16  64501  Gi0/7   198.19.0.0  /16  64510  1      2     100   0.5
`
	var b strings.Builder
	if err := v.WriteText(&b, func(i uint32) string { return names[i] }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("show cache aggregation prefix (-want +got):\n%s", diff)
	}
}

func TestAggregationViewHeadsEachSchemesColumns(t *testing.T) {
	tb := aggViewTable(t, false)
	for scheme, head := range map[Scheme]string{
		SchemeAS:                   "Src If  Src AS  Dst If  Dst AS  Flows  Pkts  B/Pk  Active",
		SchemeSourcePrefix:         "Src If  Src Prefix  Msk  AS  Flows  Pkts  B/Pk  Active",
		SchemeDestinationPrefix:    "Dst If  Dst Prefix  Msk  AS  Flows  Pkts  B/Pk  Active",
		SchemeDestination:          "Dst If  DstIPaddress  TOS  Flows  Pkts  B/Pk  Active",
		SchemeSourceDestination:    "Src If  SrcIPaddress  Dst If  DstIPaddress  TOS  Flows  Pkts  B/Pk  Active",
		SchemeFullFlow:             "Src If  SrcIPaddress  Dst If  DstIPaddress  Pr  TOS  SrcP  DstP  Flows  Pkts  B/Pk  Active",
		SchemeASToS:                "Src If  Src AS  Dst If  Dst AS  TOS  Flows  Pkts  B/Pk  Active",
		SchemeProtocolPortToS:      "Src If  Dst If  Pr  TOS  SrcP  DstP  Flows  Pkts  B/Pk  Active",
		SchemeSourcePrefixToS:      "Src If  Src Prefix  Msk  AS  TOS  Flows  Pkts  B/Pk  Active",
		SchemeDestinationPrefixToS: "Dst If  Dst Prefix  Msk  AS  TOS  Flows  Pkts  B/Pk  Active",
		SchemePrefixToS:            "Src If  Src Prefix  Msk  AS  Dst If  Dst Prefix  Msk  AS  TOS  Flows  Pkts  B/Pk  Active",
		SchemePrefixPort:           "Src If  Src Prefix  Msk  Dst If  Dst Prefix  Msk  Pr  TOS  SrcP  DstP  Flows  Pkts  B/Pk  Active",
	} {
		v, err := tb.AggregationView(scheme, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := v.WriteText(&b, nil); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		if got := strings.Join(strings.Fields(lines[3]), " "); got != strings.Join(strings.Fields(head), " ") {
			t.Errorf("%s: header %q, want %q", scheme, lines[3], head)
		}
	}
}

// TestAggregationViewSplitsBiflows: v8 counts one-way flows, so a biflow
// is folded in as its two directions.
func TestAggregationViewSplitsBiflows(t *testing.T) {
	v, err := aggViewTable(t, false).AggregationView(SchemeSourceDestination, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Flows != 4 || v.Skipped != 1 || len(v.Aggregates) != 4 {
		t.Fatalf("unidirectional source-destination: %d flows, %d skipped, %d aggregates; want 4, 1, 4", v.Flows, v.Skipped, len(v.Aggregates))
	}

	cfg := DefaultConfig()
	cfg.Bidirectional = true
	tb := newTestTable(t, cfg, &fakeClock{})
	fwd := key(6, "198.18.1.10:1000", "198.19.0.5:80")
	rev := key(6, "198.19.0.5:80", "198.18.1.10:1000")
	tb.Merge([]Delta{
		{Key: fwd, Packets: 3, Bytes: 300, FirstNs: 0, LastNs: uint64(s)},
		{Key: rev, Packets: 2, Bytes: 1000, FirstNs: uint64(s / 2), LastNs: uint64(3 * s)},
	})
	v, err = tb.AggregationView(SchemeSourceDestination, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("198.19.0.5")
	want := []AggregateRow{
		{AggregateKey: AggregateKey{SrcAddr: b, DstAddr: a, InIfIndex: 2}, Flows: 1, Packets: 2, Bytes: 1000,
			Start: boot.Add(s / 2), End: boot.Add(3 * s)},
		{AggregateKey: AggregateKey{SrcAddr: a, DstAddr: b, InIfIndex: 2}, Flows: 1, Packets: 3, Bytes: 300,
			Start: boot, End: boot.Add(s)},
	}
	if diff := cmp.Diff(want, v.Aggregates, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" || v.Flows != 2 {
		t.Errorf("bidirectional source-destination, %d flows (-want +got):\n%s", v.Flows, diff)
	}
}

func TestAggregationViewRefusesAnInvalidScheme(t *testing.T) {
	if _, err := aggViewTable(t, false).AggregationView(Scheme(15), nil); err == nil || !strings.Contains(err.Error(), "1–14") {
		t.Errorf("scheme 15: %v; want an error naming 1–14", err)
	}
}
