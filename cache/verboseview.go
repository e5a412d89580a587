package cache

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// VerboseView is `show cache verbose`: the flows now in the table as a
// router's `show ip cache verbose flow` lists them, two lines a flow with
// interfaces, ToS, TCP flags, masks, AS numbers and next hop. Biflows are
// split into their two directions, as a router's cache holds one-way
// flows.
type VerboseView struct {
	Flows     []VerboseFlow // most bytes first
	Requested int           // the N asked for
	Total     int           // one-way flows in the table
}

// VerboseFlow is one one-way flow of the view (its current segment): the
// record, enriched as the export enriches it, with its interfaces named.
// SrcIf names InIfIndex; DstIf is the output interface's name, "Local",
// "Null", or "-" when unknown (a mirror port without an output mapping).
type VerboseFlow struct {
	Record
	SrcIf, DstIf string
}

// VerboseQuery asks for a verbose view: the N largest one-way flows by
// bytes. Enrich, when set, adds what the export path adds (AS numbers,
// masks, next hop) to the N chosen records; IfName names an interface
// index (nil: its number). Neither is called with the table locked.
type VerboseQuery struct {
	N      int
	Enrich func([]Record)
	IfName func(uint32) string
}

// VerboseView returns the q.N largest one-way flows now in the table,
// ties going to the smaller addresses, protocol and ports, so the answer
// is deterministic.
func (t *Table) VerboseView(q VerboseQuery) VerboseView {
	ifName := q.IfName
	if ifName == nil {
		ifName = func(i uint32) string { return fmt.Sprint(i) }
	}
	type row struct {
		Record
		rev bool // the reverse direction of a biflow
	}
	var rows []row
	for _, r := range t.records() {
		dirs := oneWay([]Record{r})
		for i, d := range dirs {
			rows = append(rows, row{d, r.Bidirectional && r.RevPackets > 0 && i == len(dirs)-1})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), a.SrcAddr.Compare(b.SrcAddr), a.DstAddr.Compare(b.DstAddr),
			cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.SrcPort, b.SrcPort), cmp.Compare(a.DstPort, b.DstPort),
			cmp.Compare(a.ToS, b.ToS), cmp.Compare(a.InIfIndex, b.InIfIndex))
	})
	v := VerboseView{Requested: q.N, Total: len(rows)}
	rows = rows[:min(len(rows), max(q.N, 0))]
	recs := make([]Record, len(rows))
	for i := range rows {
		recs[i] = rows[i].Record
	}
	if q.Enrich != nil {
		q.Enrich(recs)
	}
	for i := range recs {
		r := &recs[i]
		if rows[i].rev {
			// The route the table knows is the forward direction's.
			r.Out, r.OutIfIndex, r.NextHop = OutUnknown, 0, netip.Addr{}
		}
		v.Flows = append(v.Flows, VerboseFlow{Record: *r, SrcIf: ifName(r.InIfIndex), DstIf: DstIfName(r, ifName)})
	}
	return v
}

// DstIfName is the DstIf column of the router's views: the output
// interface's name, "Local" for a flow to the router itself, "Null" for
// one a discard route drops, "-" when unknown (a mirror port).
func DstIfName(r *Record, ifName func(uint32) string) string {
	switch {
	case r.Out == OutLocal:
		return "Local"
	case r.Out == OutNull:
		return "Null"
	case r.OutIfIndex != 0:
		return ifName(r.OutIfIndex)
	}
	return "-"
}

// WriteText prints the view as the router prints `show ip cache verbose
// flow`'s flows: a summary line, then two heading lines and two lines a
// flow, a blank line between flows. The first line has SrcIf,
// SrcIPaddress, DstIf, DstIPaddress, Pr, TOS and Flgs (hex) and Pkts; the
// second the source port (hex), mask and AS under SrcIf, the destination's
// under DstIf, then NextHop under DstIPaddress ("-" when unknown), B/Pk
// and Active (seconds from the first packet to the last). The columns
// are IOS's widths (14 for an interface, 15 for an address), wider when a
// name or an address needs it.
func (v VerboseView) WriteText(w io.Writer) error {
	ifW, addrW := 14, 15
	for _, f := range v.Flows {
		ifW = max(ifW, len(f.SrcIf), len(f.DstIf))
		addrW = max(addrW, len(f.SrcAddr.String()), len(f.DstAddr.String()), len(nextHopText(&f.Record)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d flows shown, most bytes first\n\n", len(v.Flows), v.Total)
	fmt.Fprintf(&b, "%-*s %-*s %-*s %-*s Pr TOS Flgs  Pkts\n", ifW, "SrcIf", addrW, "SrcIPaddress", ifW, "DstIf", addrW, "DstIPaddress")
	fmt.Fprintf(&b, "%s%s%sB/Pk  Active\n", pad("Port Msk AS", ifW+addrW+2), pad("Port Msk AS", ifW+1), pad("NextHop", addrW+6))
	for i, f := range v.Flows {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%-*s %-*s %-*s %-*s %02X %02X  %02X  %6d\n", ifW, f.SrcIf, addrW, f.SrcAddr, ifW, f.DstIf, addrW, f.DstAddr,
			f.Proto, f.ToS, f.TCPFlags, f.Packets)
		bpp := uint64(0)
		if f.Packets > 0 {
			bpp = f.Bytes / f.Packets
		}
		fmt.Fprintf(&b, "%s%s%-*s %9d%8.1f\n", pad(portMaskAS(f.SrcPort, f.SrcMask, f.SrcAS), ifW+addrW+2),
			pad(portMaskAS(f.DstPort, f.DstMask, f.DstAS), ifW+1), addrW, nextHopText(&f.Record), bpp, f.End.Sub(f.Start).Seconds())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// portMaskAS is one "Port Msk AS" cell: 0050 /24 64500.
func portMaskAS(port uint16, mask uint8, as uint32) string {
	return fmt.Sprintf("%04X /%-2d %d", port, mask, as)
}

func nextHopText(r *Record) string {
	if !r.NextHop.IsValid() {
		return "-"
	}
	return r.NextHop.String()
}

// pad left-aligns s in width w, with at least one space after it.
func pad(s string, w int) string {
	return s + strings.Repeat(" ", max(1, w-len(s)))
}
