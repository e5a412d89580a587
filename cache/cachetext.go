package cache

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints the statistics as the router's `show ip cache flow`
// does: the packet size distribution (fractions of all packets), the
// cache summary with its timers and what expired why, and the protocol
// table (rows with flows only, then a total).
func (s Stats) WriteText(w io.Writer) error {
	var b strings.Builder
	var total uint64
	for _, n := range s.Sizes {
		total += n
	}
	fmt.Fprintf(&b, "IP packet size distribution (%d total packets):\n", total)
	writeSizeRow(&b, s.Sizes[:15], SizeBucketNames[:15], total)
	writeSizeRow(&b, s.Sizes[15:], SizeBucketNames[15:], total)

	mode := "unidirectional"
	if s.Bidirectional {
		mode = "bidirectional"
	}
	fmt.Fprintf(&b, "IP Flow Cache, %d entries, %s\n", s.MaxFlows, mode)
	fmt.Fprintf(&b, "  %d active, %d inactive, %d added\n", s.Active, s.MaxFlows-s.Active, s.Added)
	fmt.Fprintf(&b, "  %d emergency expiries (lack of resources)\n", s.Emergency)
	fmt.Fprintf(&b, "  Active flows timeout in %s\n", plainDuration(s.ActiveTimeout))
	fmt.Fprintf(&b, "  Inactive flows timeout in %s\n", plainDuration(s.InactiveTimeout))
	fmt.Fprintf(&b, "  Flows exported: %d inactive, %d active, %d end of flow, %d forced, %d lack of resources\n",
		s.Expired.Idle, s.Expired.Active, s.Expired.EndOfFlow, s.Expired.Forced, s.Expired.LackOfResources)
	if s.Since.IsZero() {
		b.WriteString("  statistics since never (no flows yet)\n")
	} else {
		fmt.Fprintf(&b, "  statistics since %s (%s)\n", s.Since.UTC().Format(time.RFC3339), s.Period().Round(time.Second))
	}
	b.WriteString("\n")

	const head = "%-13s%9s%9s%10s%6s%9s%12s%10s\n"
	fmt.Fprintf(&b, head, "Protocol", "Total", "Flows", "Packets", "Bytes", "Packets", "Active(Sec)", "Idle(Sec)")
	fmt.Fprintf(&b, head, "--------", "Flows", "/Sec", "/Flow", "/Pkt", "/Sec", "/Flow", "/Flow")
	sum := ProtocolStats{Name: "Total:"}
	for _, p := range s.Protocols {
		if p.Flows == 0 {
			continue
		}
		writeProtocolRow(&b, p, s.Period())
		sum.Flows += p.Flows
		sum.Packets += p.Packets
		sum.Bytes += p.Bytes
		sum.Active += p.Active
		sum.Idle += p.Idle
	}
	writeProtocolRow(&b, sum, s.Period())
	if s.Applications != nil {
		writeApplications(&b, s.Applications)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeApplications prints the application table, the counterpart of
// NBAR's protocol discovery: what the exported flows carried, by
// application, over the same period as the protocol table. Guessed are
// the flows only a well-known port named (the other views print them
// as "HTTP?").
func writeApplications(b *strings.Builder, rows []AppStats) {
	b.WriteString("\nApplications of the exported flows (one-way flows, as in the protocol table;\n")
	b.WriteString("Guessed: flows named by a well-known port alone, not by their payload)\n")
	const head = "%-21s%9s%9s%12s%15s\n"
	fmt.Fprintf(b, head, "Application", "Flows", "Guessed", "Packets", "Bytes")
	sum := AppStats{Name: "Total:"}
	for _, r := range rows {
		writeApplicationRow(b, r)
		sum.Flows += r.Flows
		sum.PortGuess += r.PortGuess
		sum.Packets += r.Packets
		sum.Bytes += r.Bytes
	}
	writeApplicationRow(b, sum)
}

func writeApplicationRow(b *strings.Builder, r AppStats) {
	fmt.Fprintf(b, "%-21s%9d%9d%12d%15d\n", r.Name, r.Flows, r.PortGuess, r.Packets, r.Bytes)
}

func writeSizeRow(b *strings.Builder, counts []uint64, names []string, total uint64) {
	width := func(name string) int { return max(5, len(name)+1) }
	b.WriteString("  ")
	for _, n := range names {
		fmt.Fprintf(b, "%*s", width(n), n)
	}
	b.WriteString("\n  ")
	for i, c := range counts {
		fmt.Fprintf(b, "%*s", width(names[i]), fraction(c, total))
	}
	b.WriteString("\n\n")
}

// fraction prints c/total with three decimals and no leading zero, as the
// router does (.687, 1.000).
func fraction(c, total uint64) string {
	if total == 0 {
		return ".000"
	}
	return strings.TrimPrefix(fmt.Sprintf("%.3f", float64(c)/float64(total)), "0")
}

func writeProtocolRow(b *strings.Builder, p ProtocolStats, period time.Duration) {
	fmt.Fprintf(b, "%-13s%9d%9.1f%10d%6d%9.1f%12.1f%10.1f\n", p.Name, p.Flows, p.FlowsPerSec(period),
		uint64(p.PacketsPerFlow()), uint64(p.BytesPerPacket()), p.PacketsPerSec(period),
		p.ActivePerFlow(), p.IdlePerFlow())
}

// plainDuration says 30 minutes / 15 seconds, as the router does.
func plainDuration(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	case d%time.Second == 0:
		return plural(int64(d/time.Second), "second")
	}
	return d.String()
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
