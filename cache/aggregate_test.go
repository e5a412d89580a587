package cache

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var aggEquateAddr = cmpopts.EquateComparable(netip.Addr{})

// The scheme numbers and Cisco cache names, as the issue lists them.
var aggSchemeNames = []struct {
	n    int
	name string
}{
	{1, "as"}, {2, "protocol-port"}, {3, "source-prefix"}, {4, "destination-prefix"},
	{5, "prefix"}, {6, "destination"}, {7, "source-destination"}, {8, "full-flow"},
	{9, "as-tos"}, {10, "protocol-port-tos"}, {11, "source-prefix-tos"},
	{12, "destination-prefix-tos"}, {13, "prefix-tos"}, {14, "prefix-port"},
}

func TestParseAggregationAcceptsNamesAndNumbers(t *testing.T) {
	if got := len(Schemes()); got != len(aggSchemeNames) {
		t.Fatalf("Schemes() has %d schemes, want 14", got)
	}
	for _, tc := range aggSchemeNames {
		for _, in := range []string{tc.name, strconv.Itoa(tc.n), " " + strings.ToUpper(tc.name) + " "} {
			s, err := ParseAggregation(in)
			if err != nil || int(s) != tc.n {
				t.Errorf("ParseAggregation(%q) = %d, %v; want %d", in, s, err, tc.n)
			}
		}
		if got := Scheme(tc.n).String(); got != tc.name {
			t.Errorf("Scheme(%d).String() = %q, want %q", tc.n, got, tc.name)
		}
	}
}

func TestParseAggregationRejectsOthersListingValidValues(t *testing.T) {
	for _, in := range []string{"", "0", "15", "256", "-1", "bgp-nexthop-tos", "as tos", "1.0"} {
		s, err := ParseAggregation(in)
		if err == nil {
			t.Errorf("ParseAggregation(%q) = %d, want an error", in, s)
			continue
		}
		for _, want := range []string{strconv.Quote(in), "1 as", "5 prefix", "14 prefix-port"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ParseAggregation(%q) error %q does not mention %q", in, err, want)
			}
		}
	}
	if s := Scheme(0); s.Valid() || s.String() != "scheme(0)" {
		t.Errorf("Scheme(0): valid %t, %q", s.Valid(), s)
	}
}

// aggKeyRecord sets every field a scheme may key on, with masks that are
// not byte-aligned so masking shows.
func aggKeyRecord() Record {
	return Record{
		SrcAddr: netip.MustParseAddr("198.18.77.129"), DstAddr: netip.MustParseAddr("198.19.200.9"),
		SrcPort: 40000, DstPort: 443, Proto: 6, ToS: 0x28, IPVersion: 4,
		InIfIndex: 3, OutIfIndex: 7, SrcAS: 64512, DstAS: 65001, SrcMask: 20, DstMask: 9,
		Packets: 10, Bytes: 1000, TCPFlags: 0x12,
	}
}

func TestSchemeKeyProjectsTheSchemesFields(t *testing.T) {
	a := netip.MustParseAddr
	srcNet, dstNet := a("198.18.64.0"), a("198.0.0.0") // /20 and /9
	src, dst := a("198.18.77.129"), a("198.19.200.9")
	for _, tc := range []struct {
		scheme Scheme
		want   AggregateKey
	}{
		{SchemeAS, AggregateKey{SrcAS: 64512, DstAS: 65001, InIfIndex: 3, OutIfIndex: 7}},
		{SchemeProtocolPort, AggregateKey{Proto: 6, SrcPort: 40000, DstPort: 443}},
		{SchemeSourcePrefix, AggregateKey{SrcAddr: srcNet, SrcMask: 20, SrcAS: 64512, InIfIndex: 3}},
		{SchemeDestinationPrefix, AggregateKey{DstAddr: dstNet, DstMask: 9, DstAS: 65001, OutIfIndex: 7}},
		{SchemePrefix, AggregateKey{SrcAddr: srcNet, DstAddr: dstNet, SrcMask: 20, DstMask: 9, SrcAS: 64512, DstAS: 65001, InIfIndex: 3, OutIfIndex: 7}},
		{SchemeDestination, AggregateKey{DstAddr: dst, OutIfIndex: 7, ToS: 0x28}},
		{SchemeSourceDestination, AggregateKey{SrcAddr: src, DstAddr: dst, InIfIndex: 3, OutIfIndex: 7, ToS: 0x28}},
		{SchemeFullFlow, AggregateKey{SrcAddr: src, DstAddr: dst, SrcPort: 40000, DstPort: 443, Proto: 6, InIfIndex: 3, OutIfIndex: 7, ToS: 0x28}},
		{SchemeASToS, AggregateKey{SrcAS: 64512, DstAS: 65001, InIfIndex: 3, OutIfIndex: 7, ToS: 0x28}},
		{SchemeProtocolPortToS, AggregateKey{Proto: 6, ToS: 0x28, SrcPort: 40000, DstPort: 443, InIfIndex: 3, OutIfIndex: 7}},
		{SchemeSourcePrefixToS, AggregateKey{SrcAddr: srcNet, SrcMask: 20, ToS: 0x28, SrcAS: 64512, InIfIndex: 3}},
		{SchemeDestinationPrefixToS, AggregateKey{DstAddr: dstNet, DstMask: 9, ToS: 0x28, DstAS: 65001, OutIfIndex: 7}},
		{SchemePrefixToS, AggregateKey{SrcAddr: srcNet, DstAddr: dstNet, SrcMask: 20, DstMask: 9, ToS: 0x28, SrcAS: 64512, DstAS: 65001, InIfIndex: 3, OutIfIndex: 7}},
		{SchemePrefixPort, AggregateKey{SrcAddr: srcNet, DstAddr: dstNet, SrcMask: 20, DstMask: 9, ToS: 0x28, Proto: 6, SrcPort: 40000, DstPort: 443, InIfIndex: 3, OutIfIndex: 7}},
	} {
		t.Run(tc.scheme.String(), func(t *testing.T) {
			r := aggKeyRecord()
			got, ok := tc.scheme.Key(&r)
			if !ok {
				t.Fatal("IPv4 record rejected")
			}
			if diff := cmp.Diff(tc.want, got, aggEquateAddr); diff != "" {
				t.Errorf("key (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchemeKeyMasksAtTheEdges(t *testing.T) {
	for _, tc := range []struct {
		mask uint8
		want string
		bits uint8
	}{
		{0, "0.0.0.0", 0}, // no route: the prefix is 0/0, as on a router
		{1, "128.0.0.0", 1},
		{31, "198.18.77.128", 31},
		{32, "198.18.77.129", 32},
		{40, "198.18.77.129", 32}, // nonsense masks are clamped
	} {
		r := aggKeyRecord()
		r.SrcMask = tc.mask
		k, _ := SchemeSourcePrefix.Key(&r)
		if k.SrcAddr != netip.MustParseAddr(tc.want) || k.SrcMask != tc.bits {
			t.Errorf("mask %d: prefix %s/%d, want %s/%d", tc.mask, k.SrcAddr, k.SrcMask, tc.want, tc.bits)
		}
	}
}

func TestSchemeKeyTakesIPv4OnlyMappedIncluded(t *testing.T) {
	r := aggKeyRecord()
	r.SrcAddr, r.DstAddr = netip.MustParseAddr("::ffff:198.18.0.1"), netip.MustParseAddr("::ffff:198.19.0.1")
	k, ok := SchemeFullFlow.Key(&r)
	if !ok || k.SrcAddr != netip.MustParseAddr("198.18.0.1") || k.DstAddr != netip.MustParseAddr("198.19.0.1") {
		t.Errorf("IPv4-mapped record: %v, %v", k, ok)
	}
	r.SrcAddr, r.DstAddr, r.IPVersion = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 6
	if _, ok := SchemeAS.Key(&r); ok {
		t.Error("IPv6 record accepted")
	}
	if _, ok := Scheme(15).Key(&r); ok {
		t.Error("invalid scheme accepted a record")
	}
}

var aggT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func aggNew(t *testing.T, s Scheme, cfg AggregatorConfig) *Aggregator {
	t.Helper()
	a, err := NewAggregator(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// aggRecAt is aggKeyRecord with a source port (the protocol-port key) and
// times.
func aggRecAt(port uint16, start, end time.Duration, pkts, bytes uint64) Record {
	r := aggKeyRecord()
	r.SrcPort = port
	r.Start, r.End = aggT0.Add(start), aggT0.Add(end)
	r.Packets, r.Bytes = pkts, bytes
	return r
}

func TestAggregatorSumsFlowsSharingAKey(t *testing.T) {
	a := aggNew(t, SchemeProtocolPort, AggregatorConfig{})
	v6 := aggRecAt(1, 0, 0, 1, 1)
	v6.SrcAddr, v6.DstAddr, v6.IPVersion = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 6
	recs := []Record{
		aggRecAt(1000, 5*time.Second, 9*time.Second, 3, 300),
		aggRecAt(2000, 1*time.Second, 2*time.Second, 1, 40),
		aggRecAt(1000, 2*time.Second, 7*time.Second, 4, 500),
		v6,
	}
	if ev := a.Add(aggT0.Add(10*time.Second), recs, nil); len(ev) != 0 {
		t.Fatalf("evicted %v", ev)
	}
	got := a.Flush(nil)
	want := []Aggregate{
		{AggregateKey: AggregateKey{Proto: 6, SrcPort: 1000, DstPort: 443}, Flows: 2, Packets: 7, Bytes: 800,
			Start: aggT0.Add(2 * time.Second), End: aggT0.Add(9 * time.Second), EndReason: EndForced},
		{AggregateKey: AggregateKey{Proto: 6, SrcPort: 2000, DstPort: 443}, Flows: 1, Packets: 1, Bytes: 40,
			Start: aggT0.Add(1 * time.Second), End: aggT0.Add(2 * time.Second), EndReason: EndForced},
	}
	if diff := cmp.Diff(want, got, aggEquateAddr); diff != "" {
		t.Errorf("aggregates (-want +got):\n%s", diff)
	}
	if st := a.Stats(); st != (AggregatorStats{Records: 3, Skipped: 1, Created: 2, Exported: 2}) {
		t.Errorf("stats %+v", st)
	}
	if a.Len() != 0 {
		t.Errorf("%d aggregates left after Flush", a.Len())
	}
}

// The inactive timer runs from the last record that joined; it runs out
// when the idle time reaches the timeout, not a nanosecond before.
func TestAggregatorExpiresIdleAggregateAtBoundary(t *testing.T) {
	a := aggNew(t, SchemeProtocolPort, AggregatorConfig{})
	a.Add(aggT0, []Record{aggRecAt(1, 0, 0, 1, 1), aggRecAt(2, 0, 0, 1, 1)}, nil)
	a.Add(aggT0.Add(10*time.Second), []Record{aggRecAt(2, 0, 0, 1, 1)}, nil) // port 2 joined again

	if got := a.Expire(aggT0.Add(15*time.Second-1), nil); len(got) != 0 {
		t.Fatalf("expired %d aggregates before 15 s idle", len(got))
	}
	got := a.Expire(aggT0.Add(15*time.Second), nil)
	if len(got) != 1 || got[0].SrcPort != 1 || got[0].EndReason != EndIdle {
		t.Fatalf("at 15 s: %+v; want port 1, idle", got)
	}
	if got := a.Expire(aggT0.Add(25*time.Second-1), nil); len(got) != 0 {
		t.Fatalf("port 2 expired before 15 s after its last update")
	}
	got = a.Expire(aggT0.Add(25*time.Second), nil)
	if len(got) != 1 || got[0].SrcPort != 2 || got[0].Flows != 2 || got[0].EndReason != EndIdle {
		t.Fatalf("at 25 s: %+v; want port 2 (2 flows), idle", got)
	}
}

// The active timer runs from creation: an aggregate kept busy is exported
// when it has lived ActiveTimeout, and the next record starts a new one.
func TestAggregatorExpiresBusyAggregateAtActiveTimeout(t *testing.T) {
	a := aggNew(t, SchemeProtocolPort, AggregatorConfig{})
	now := aggT0
	for now.Before(aggT0.Add(30 * time.Minute)) {
		a.Add(now, []Record{aggRecAt(1, 0, 0, 1, 10)}, nil)
		now = now.Add(10 * time.Second)
		if now.Before(aggT0.Add(30 * time.Minute)) {
			if got := a.Expire(now, nil); len(got) != 0 {
				t.Fatalf("expired at %v: %+v", now.Sub(aggT0), got)
			}
		}
	}
	if got := a.Expire(aggT0.Add(30*time.Minute-1), nil); len(got) != 0 {
		t.Fatal("expired a nanosecond early")
	}
	got := a.Expire(aggT0.Add(30*time.Minute), nil)
	if len(got) != 1 || got[0].EndReason != EndActive || got[0].Flows != 180 || got[0].Bytes != 1800 {
		t.Fatalf("at 30 min: %+v; want one active-timeout aggregate of 180 flows", got)
	}
	a.Add(aggT0.Add(30*time.Minute), []Record{aggRecAt(1, 0, 0, 1, 10)}, nil)
	if a.Len() != 1 || a.Stats().Created != 2 {
		t.Errorf("after the timeout: %d aggregates, %d created; want a fresh one", a.Len(), a.Stats().Created)
	}
}

func TestAggregatorTimersFollowConfig(t *testing.T) {
	a := aggNew(t, SchemeAS, AggregatorConfig{InactiveTimeout: time.Second, ActiveTimeout: 3 * time.Second})
	a.Add(aggT0, []Record{aggRecAt(1, 0, 0, 1, 1)}, nil)
	if got := a.Expire(aggT0.Add(time.Second), nil); len(got) != 1 || got[0].EndReason != EndIdle {
		t.Fatalf("inactive 1 s: %+v", got)
	}
	for i := range 4 {
		a.Add(aggT0.Add(time.Duration(10+i)*time.Second), []Record{aggRecAt(1, 0, 0, 1, 1)}, nil)
	}
	if got := a.Expire(aggT0.Add(13*time.Second), nil); len(got) != 1 || got[0].EndReason != EndActive || got[0].Flows != 4 {
		t.Fatalf("active 3 s: %+v", got)
	}
}

// A full cache makes room by exporting the least recently updated
// aggregate with EndLackOfResources.
func TestAggregatorEvictsLeastRecentlyUpdatedWhenFull(t *testing.T) {
	a := aggNew(t, SchemeProtocolPort, AggregatorConfig{MaxEntries: 2})
	a.Add(aggT0, []Record{aggRecAt(1, 0, 0, 1, 1)}, nil)
	a.Add(aggT0.Add(time.Second), []Record{aggRecAt(2, 0, 0, 1, 1)}, nil)
	a.Add(aggT0.Add(2*time.Second), []Record{aggRecAt(1, 0, 0, 1, 1)}, nil) // 1 is fresher than 2 now
	ev := a.Add(aggT0.Add(3*time.Second), []Record{aggRecAt(3, 0, 0, 1, 1)}, nil)
	if len(ev) != 1 || ev[0].SrcPort != 2 || ev[0].EndReason != EndLackOfResources {
		t.Fatalf("evicted %+v; want port 2, lack of resources", ev)
	}
	if st := a.Stats(); st.Evicted != 1 || a.Len() != 2 {
		t.Errorf("stats %+v, len %d", st, a.Len())
	}
	got := a.Flush(nil)
	if len(got) != 2 || got[0].SrcPort != 1 || got[1].SrcPort != 3 {
		t.Errorf("flush: %+v; want ports 1 then 3 (creation order)", got)
	}
}

func TestNewAggregatorDefaultsAndErrors(t *testing.T) {
	a := aggNew(t, SchemePrefix, AggregatorConfig{})
	want := AggregatorConfig{ActiveTimeout: 30 * time.Minute, InactiveTimeout: 15 * time.Second, MaxEntries: 4096}
	if a.Config() != want || a.Scheme() != SchemePrefix {
		t.Errorf("config %+v scheme %s; want %+v, prefix", a.Config(), a.Scheme(), want)
	}
	for _, tc := range []struct {
		s   Scheme
		cfg AggregatorConfig
	}{
		{0, AggregatorConfig{}},
		{15, AggregatorConfig{}},
		{SchemeAS, AggregatorConfig{ActiveTimeout: -1}},
		{SchemeAS, AggregatorConfig{InactiveTimeout: -1}},
		{SchemeAS, AggregatorConfig{MaxEntries: -1}},
		{SchemeAS, AggregatorConfig{MaxEntries: 1<<30 + 1}},
	} {
		if _, err := NewAggregator(tc.s, tc.cfg); err == nil {
			t.Errorf("NewAggregator(%d, %+v) accepted", tc.s, tc.cfg)
		}
	}
}

// aggChurn are n records over keys distinct per (i % keys).
func aggChurn(n, keys int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = aggRecAt(uint16(i%keys), 0, time.Second, 1, 100)
		recs[i].DstPort = uint16(i % keys / 65536)
	}
	return recs
}

// In steady state (cache at its size, aggregates created and expired) the
// aggregation cache allocates nothing per record.
func TestAggregatorAllocatesNothingInSteadyState(t *testing.T) {
	a := aggNew(t, SchemeProtocolPort, AggregatorConfig{MaxEntries: 1024})
	out := make([]Aggregate, 0, 4096)
	batch := aggChurn(512, 3000)
	now := aggT0
	step := func() {
		now = now.Add(5 * time.Second)
		out = a.Add(now, batch, out[:0])
		out = a.Expire(now, out[:0])
		for i := range batch { // move on to other keys
			batch[i].SrcPort += 512
		}
	}
	for range 200 { // warm up: the map reaches its working size
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("%.1f allocations per Add+Expire of %d records, want 0", n, len(batch))
	}
	if a.Stats().Evicted == 0 || a.Stats().Exported == 0 {
		t.Fatalf("the test did not churn the cache: %+v", a.Stats())
	}
}

func BenchmarkAggregatorAdd(b *testing.B) {
	for _, keys := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("%d keys", keys), func(b *testing.B) {
			a, _ := NewAggregator(SchemePrefixPort, AggregatorConfig{MaxEntries: 65536})
			recs := aggChurn(4096, keys)
			out := make([]Aggregate, 0, 8192)
			now := aggT0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Second)
				out = a.Add(now, recs, out[:0])
				out = a.Expire(now, out[:0])
			}
			b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// v8's AS and interface fields hold 16 bits: folded, records whose 4-byte
// AS numbers (or ifindexes) differ only beyond 16 bits make one row, not
// two rows with the same exported key.
func TestAggregatorFoldsKeysOntoSixteenBitFields(t *testing.T) {
	rec := func(srcAS, dstAS, inIf uint32) Record {
		r := aggRecAt(1000, 0, time.Second, 1, 100)
		r.SrcAS, r.DstAS, r.InIfIndex = srcAS, dstAS, inIf
		return r
	}
	recs := []Record{rec(70000, 64512, 3), rec(4200000000, 64512, 3), rec(100, 80000, 0x10003), rec(100, 90000, 3)}
	for _, fold := range []bool{false, true} {
		a := aggNew(t, SchemeAS, AggregatorConfig{Fields16: fold})
		a.Add(aggT0.Add(2*time.Second), recs, nil)
		got := a.Flush(nil)
		want := map[AggregateKey]uint64{ // key → flows
			{SrcAS: 70000, DstAS: 64512, InIfIndex: 3}:      1,
			{SrcAS: 4200000000, DstAS: 64512, InIfIndex: 3}: 1,
			{SrcAS: 100, DstAS: 80000, InIfIndex: 0x10003}:  1,
			{SrcAS: 100, DstAS: 90000, InIfIndex: 3}:        1,
		}
		if fold {
			want = map[AggregateKey]uint64{
				{SrcAS: ASTrans, DstAS: 64512, InIfIndex: 3}: 2,
				{SrcAS: 100, DstAS: ASTrans, InIfIndex: 3}:   2,
			}
		}
		if len(got) != len(want) {
			t.Errorf("Fields16=%v: %d aggregates, want %d: %+v", fold, len(got), len(want), got)
		}
		for _, g := range got {
			g.AggregateKey.OutIfIndex = 0 // SchemeAS carries it; the records leave it 0
			if want[g.AggregateKey] != g.Flows {
				t.Errorf("Fields16=%v: %+v has %d flows, want %d", fold, g.AggregateKey, g.Flows, want[g.AggregateKey])
			}
		}
	}
}
