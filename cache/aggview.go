package cache

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// AggregationView is `show cache aggregation SCHEME`: what a router's
// `show ip cache flow aggregation` prints — the flows of an aggregation
// cache, "flows of flows" — made from the flows now in the main table
// (each flow's current segment). A router feeds its aggregation caches
// with the flows the main cache expires; the v8 export streams do the
// same, and send and forget what they gather. So this view answers "how
// does the traffic in the cache now aggregate by SCHEME", whatever -v is.
type AggregationView struct {
	Scheme     string
	Aggregates []AggregateRow // most bytes first
	// Flows is how many one-way flows were folded in (a biflow counts as
	// two); Skipped how many more were left out for not being IPv4, as
	// v8 carries IPv4 only.
	Flows, Skipped uint64
}

// AggregateRow is one aggregate of the view: the scheme's key fields
// (those it does not carry are zero) and the sums of its flows. Start and
// End are the earliest first and the latest last packet.
type AggregateRow struct {
	AggregateKey
	Flows, Packets, Bytes uint64
	Start, End            time.Time
}

// AggregationView folds the flows now in the table by scheme s, through
// an Aggregator as the v8 export streams do. enrich, when set, gives the
// records what the export path adds before they are aggregated (AS
// numbers, masks, output interface); it gets a copy, not the table.
func (t *Table) AggregationView(s Scheme, enrich func([]Record)) (AggregationView, error) {
	if !s.Valid() {
		return AggregationView{}, fmt.Errorf("aggregation scheme %d: must be 1–14", s)
	}
	recs := oneWay(t.records())
	if enrich != nil {
		enrich(recs)
	}
	agg, err := NewAggregator(s, AggregatorConfig{MaxEntries: max(len(recs), 1)})
	if err != nil {
		return AggregationView{}, err
	}
	agg.Add(time.Time{}, recs, nil) // no timers run: nothing ages out of a view
	st := agg.Stats()
	v := AggregationView{Scheme: s.String(), Flows: st.Records, Skipped: st.Skipped}
	for _, a := range agg.Flush(nil) {
		v.Aggregates = append(v.Aggregates, AggregateRow{AggregateKey: a.AggregateKey, Flows: a.Flows,
			Packets: a.Packets, Bytes: a.Bytes, Start: a.Start, End: a.End})
	}
	slices.SortFunc(v.Aggregates, func(a, b AggregateRow) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), compareAggregateKeys(&a.AggregateKey, &b.AggregateKey))
	})
	return v, nil
}

// records returns the current segment of every flow in the table.
func (t *Table) records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, 0, t.index.n)
	for _, tm := range t.heap {
		if t.slab.flow(tm.idx).startNs == emptySegment {
			continue // emptied by an active timeout, nothing since
		}
		out = append(out, t.record(tm.idx))
	}
	return out
}

// oneWay splits biflows into their two directions, as v8 (like every
// router aggregation cache) counts one-way flows; a direction that sent
// nothing is left out. One-way records pass through.
func oneWay(recs []Record) []Record {
	out := recs[:0:0]
	for _, r := range recs {
		if !r.Bidirectional {
			out = append(out, r)
			continue
		}
		fwd := r
		fwd.Bidirectional, fwd.RevPackets, fwd.RevBytes, fwd.RevTCPFlags = false, 0, 0, 0
		fwd.RevStart, fwd.RevEnd, fwd.RevToS, fwd.RevIfIndex = time.Time{}, time.Time{}, 0, 0
		if fwd.Packets > 0 {
			out = append(out, fwd)
		}
		if r.RevPackets == 0 {
			continue
		}
		rev := fwd
		k, _ := r.RevKey()
		rev.SrcAddr, rev.DstAddr, rev.SrcPort, rev.DstPort = k.SrcIP(), k.DstIP(), k.SrcPort, k.DstPort
		rev.ToS, rev.InIfIndex = k.Tos, k.Ifindex
		if r.Out == OutUnknown { // a mirror port: it leaves where the forward one came in, if elsewhere
			rev.OutIfIndex = 0
			if r.InIfIndex != k.Ifindex {
				rev.OutIfIndex = r.InIfIndex
			}
		}
		rev.SrcAS, rev.DstAS, rev.SrcMask, rev.DstMask = r.DstAS, r.SrcAS, r.DstMask, r.SrcMask
		rev.Packets, rev.Bytes, rev.TCPFlags, rev.Start, rev.End = r.RevPackets, r.RevBytes, r.RevTCPFlags, r.RevStart, r.RevEnd
		out = append(out, rev)
	}
	return out
}

func compareAggregateKeys(a, b *AggregateKey) int {
	return cmp.Or(a.SrcAddr.Compare(b.SrcAddr), a.DstAddr.Compare(b.DstAddr),
		cmp.Compare(a.SrcMask, b.SrcMask), cmp.Compare(a.DstMask, b.DstMask),
		cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.SrcPort, b.SrcPort), cmp.Compare(a.DstPort, b.DstPort),
		cmp.Compare(a.ToS, b.ToS), cmp.Compare(a.SrcAS, b.SrcAS), cmp.Compare(a.DstAS, b.DstAS),
		cmp.Compare(a.InIfIndex, b.InIfIndex), cmp.Compare(a.OutIfIndex, b.OutIfIndex))
}

// aggColumn is one key column of the text view, shown when the scheme
// carries its field.
type aggColumn struct {
	field uint16
	head  string
	cell  func(a *AggregateRow, ifName func(uint32) string) string
}

// aggColumns are in the order IOS prints them: input interface, source,
// output interface, destination, then protocol, ToS and ports. The AS of
// a prefix scheme is headed "AS" after its prefix, as IOS does.
var aggColumns = []aggColumn{
	{fieldInIf, "Src If", func(a *AggregateRow, n func(uint32) string) string { return n(a.InIfIndex) }},
	{fieldSrcPrefix, "Src Prefix\tMsk", func(a *AggregateRow, _ func(uint32) string) string {
		return fmt.Sprintf("%s\t/%d", a.SrcAddr, a.SrcMask)
	}},
	{fieldSrcAddr, "SrcIPaddress", func(a *AggregateRow, _ func(uint32) string) string { return a.SrcAddr.String() }},
	{fieldSrcAS, "Src AS", func(a *AggregateRow, _ func(uint32) string) string { return fmt.Sprint(a.SrcAS) }},
	{fieldOutIf, "Dst If", func(a *AggregateRow, n func(uint32) string) string {
		if a.OutIfIndex == 0 {
			return "-" // none known: a mirror port sees no output interface
		}
		return n(a.OutIfIndex)
	}},
	{fieldDstPrefix, "Dst Prefix\tMsk", func(a *AggregateRow, _ func(uint32) string) string {
		return fmt.Sprintf("%s\t/%d", a.DstAddr, a.DstMask)
	}},
	{fieldDstAddr, "DstIPaddress", func(a *AggregateRow, _ func(uint32) string) string { return a.DstAddr.String() }},
	{fieldDstAS, "Dst AS", func(a *AggregateRow, _ func(uint32) string) string { return fmt.Sprint(a.DstAS) }},
	{fieldProto, "Pr", func(a *AggregateRow, _ func(uint32) string) string { return fmt.Sprintf("%02X", a.Proto) }},
	{fieldToS, "TOS", func(a *AggregateRow, _ func(uint32) string) string { return fmt.Sprintf("%02X", a.ToS) }},
	{fieldPorts, "SrcP\tDstP", func(a *AggregateRow, _ func(uint32) string) string {
		return fmt.Sprintf("%04X\t%04X", a.SrcPort, a.DstPort)
	}},
}

// WriteText prints the view as the router prints an aggregation cache:
// the scheme's key columns, then Flows, Pkts, B/Pk (bytes per packet) and
// Active (seconds from the first to the last packet). ifName names an
// interface index; nil prints the number.
func (v AggregationView) WriteText(w io.Writer, ifName func(uint32) string) error {
	s, err := ParseAggregation(v.Scheme)
	if err != nil {
		return err
	}
	if ifName == nil {
		ifName = func(i uint32) string { return fmt.Sprint(i) }
	}
	f := schemeFields[s]
	var cols []aggColumn
	for _, c := range aggColumns {
		if f&c.field == 0 {
			continue
		}
		if c.field == fieldSrcAS && f&fieldSrcPrefix != 0 || c.field == fieldDstAS && f&fieldDstPrefix != 0 {
			c.head = "AS"
		}
		cols = append(cols, c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "IP flow aggregation cache %q of the flows now in the cache: %d aggregates of %d flows\n",
		v.Scheme, len(v.Aggregates), v.Flows)
	if v.Skipped > 0 {
		fmt.Fprintf(&b, "  %d IPv6 flows left out: aggregation caches (v8) carry IPv4 only\n", v.Skipped)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := make([]string, 0, len(cols)+4)
	for _, c := range cols {
		row = append(row, c.head)
	}
	fmt.Fprintln(tw, strings.Join(append(row, "Flows", "Pkts", "B/Pk", "Active"), "\t"))
	for i := range v.Aggregates {
		a := &v.Aggregates[i]
		row = row[:0]
		for _, c := range cols {
			row = append(row, c.cell(a, ifName))
		}
		bpp := uint64(0)
		if a.Packets > 0 {
			bpp = a.Bytes / a.Packets
		}
		row = append(row, fmt.Sprint(a.Flows), fmt.Sprint(a.Packets), fmt.Sprint(bpp), fmt.Sprintf("%.1f", a.End.Sub(a.Start).Seconds()))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	_, err = io.WriteString(w, b.String())
	return err
}
