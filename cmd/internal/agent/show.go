package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spanflow/spanflow/cmd/internal/control"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/probe"
)

// show answers one control request.
func (d *Agent) show(req control.Request, w io.Writer) error {
	switch req.Show {
	case "cache":
		if len(req.Args) > 0 && req.Args[0] == "verbose" {
			return d.showVerbose(req.Args[1:], w, req.JSON)
		}
		if len(req.Args) > 0 {
			return d.showAggregation(req.Args, w, req.JSON)
		}
		s := d.table.Stats()
		if d.pipe.apps != nil {
			s.Applications = d.pipe.tally.Snapshot(0)
		}
		if req.JSON {
			return writeJSON(w, s)
		}
		if err := s.WriteText(w); err != nil || s.Applications != nil {
			return err
		}
		_, err := fmt.Fprintln(w, "\nNo application table: application classification is off.")
		return err
	case "top-talkers":
		q, err := topTalkerArgs(req.Args, d.appOf())
		if err != nil {
			return err
		}
		tt := d.table.TopTalkersOf(q)
		if req.JSON {
			return writeJSON(w, tt)
		}
		return tt.WriteText(w, d.ifName)
	case "applications":
		return d.showApplications(w, req.JSON)
	case "export":
		return d.showExport(w, req.JSON)
	case "stats":
		return d.showStats(w, req.JSON)
	case "interfaces":
		return d.showInterfaces(w, req.JSON)
	}
	return fmt.Errorf("cannot show %q: %s", req.Show, control.Usage)
}

// topTalkerArgs reads `top-talkers [N] [--sort bytes|packets|application]
// [--app NAME]`; appOf is nil when classification is off, which the
// application sort and filter need.
func topTalkerArgs(args []string, appOf cache.AppOf) (cache.TalkerQuery, error) {
	q := cache.TalkerQuery{N: 10, By: cache.ByBytes, AppOf: appOf}
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--sort" && i+1 < len(args):
			var err error
			if q.By, err = cache.ParseSortBy(args[i+1]); err != nil {
				return q, fmt.Errorf("--sort %s: must be bytes, packets or application", args[i+1])
			}
			i++
			continue
		case args[i] == "--app" && i+1 < len(args):
			id, ok := app.Lookup(args[i+1])
			if !ok {
				return q, fmt.Errorf("--app %s: not an application name (nDPI's names: HTTP, TLS, DNS, Unknown …)", args[i+1])
			}
			q.FilterApp, q.App = true, id
			i++
			continue
		}
		v, err := strconv.Atoi(args[i])
		if err != nil || v < 1 || v > 10000 {
			return q, fmt.Errorf("top-talkers %s: N must be 1 to 10000", args[i])
		}
		q.N = v
	}
	if appOf == nil && (q.FilterApp || q.By == cache.ByApplication) {
		return q, fmt.Errorf("top-talkers by application: application classification is off")
	}
	return q, nil
}

// showVerbose is `show cache verbose [N]`: the N (100) largest one-way
// flows now in the table, as IOS's `show ip cache verbose flow` lists
// them, enriched as the export enriches them.
func (d *Agent) showVerbose(args []string, w io.Writer, asJSON bool) error {
	q := cache.VerboseQuery{N: 100, Enrich: d.enrich, IfName: d.ifName}
	switch {
	case len(args) > 1:
		return fmt.Errorf("show cache verbose %s: %s", strings.Join(args, " "), control.Usage)
	case len(args) == 1:
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 10000 {
			return fmt.Errorf("cache verbose %s: N must be 1 to 10000", args[0])
		}
		q.N = v
	}
	v := d.table.VerboseView(q)
	if asJSON {
		return writeJSON(w, v)
	}
	return v.WriteText(w)
}

// enrich adds to records what the export path adds: AS numbers and
// masks from the prefix tables, masks and next hop from the kernel's
// routes.
func (d *Agent) enrich(recs []cache.Record) {
	d.pipe.routes.enrich(recs)
	d.pipe.kernel.enrich(recs)
}

// showAggregation is `show cache aggregation SCHEME`: the flows now in
// the table folded by a v8 scheme, as IOS's `show ip cache flow
// aggregation` prints an aggregation cache.
func (d *Agent) showAggregation(args []string, w io.Writer, asJSON bool) error {
	if args[0] != "aggregation" || len(args) != 2 {
		return fmt.Errorf("show cache %s: %s", strings.Join(args, " "), control.Usage)
	}
	s, err := cache.ParseAggregation(args[1])
	if err != nil {
		return err
	}
	// The AS, prefix and output-interface schemes need what export adds.
	v, err := d.table.AggregationView(s, d.enrich)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, v)
	}
	return v.WriteText(w, d.ifName)
}

func (d *Agent) ifName(index uint32) string {
	if name, ok := d.mappedNames[index]; ok {
		return name
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.ifaces {
		if uint32(st.Index) == index {
			return st.Name
		}
	}
	return strconv.Itoa(int(index))
}

// exportView is `show export`: what `show ip flow export` prints.
type exportView struct {
	Version    string
	Collectors []collectorView
}

type collectorView struct {
	Name           string
	RecordsOffered uint64
	RecordsDropped uint64
	Datagrams      uint64
	Bytes          uint64
	EncodeErrors   uint64
	RecordsSkipped uint64
	SendErrors     map[string]uint64
	LastError      string `json:",omitempty"`
}

func (d *Agent) showExport(w io.Writer, asJSON bool) error {
	v := exportView{Version: strconv.Itoa(d.cfg.Version)}
	for _, s := range d.pipe.streams {
		cs := s.Stats()
		v.Collectors = append(v.Collectors, collectorView{
			Name: s.Name, RecordsOffered: cs.RecordsOffered, RecordsDropped: cs.RecordsDropped,
			Datagrams: cs.Datagrams, Bytes: cs.Bytes, EncodeErrors: cs.EncodeErrors, RecordsSkipped: cs.RecordsSkipped,
			SendErrors: cs.SendErrors, LastError: cs.LastError,
		})
	}
	if asJSON {
		return writeJSON(w, v)
	}
	version := "v" + strconv.Itoa(d.cfg.Version)
	if d.cfg.Version == 10 {
		version = "IPFIX"
	}
	fmt.Fprintf(w, "Flow export %s is enabled for main cache\n", version)
	if len(v.Collectors) == 0 {
		fmt.Fprintln(w, "  No export destination configured")
	}
	for _, c := range v.Collectors {
		fmt.Fprintf(w, "  Exporting flows to %s\n", c.Name)
		fmt.Fprintf(w, "    %d flows exported in %d %s datagrams (%d bytes)\n",
			c.RecordsOffered-c.RecordsDropped-c.RecordsSkipped, c.Datagrams, d.cfg.Transport, c.Bytes)
		fmt.Fprintf(w, "    %d flows dropped: the collector could not keep up\n", c.RecordsDropped)
		if c.RecordsSkipped > 0 {
			fmt.Fprintf(w, "    %d flows skipped: IPv6, which this version cannot carry\n", c.RecordsSkipped)
		}
		fmt.Fprintf(w, "    %d export packets failed to encode\n", c.EncodeErrors)
		reasons := make([]string, 0, len(c.SendErrors))
		for r := range c.SendErrors {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		var failed uint64
		for _, r := range reasons {
			failed += c.SendErrors[r]
		}
		fmt.Fprintf(w, "    %d export packets failed to send", failed)
		for _, r := range reasons {
			fmt.Fprintf(w, "; %d %s", c.SendErrors[r], r)
		}
		fmt.Fprintln(w)
		if c.LastError != "" {
			fmt.Fprintf(w, "    last error: %s\n", c.LastError)
		}
	}
	return nil
}

// statsView is `show stats`: the datapath's counters and the harvester's.
type statsView struct {
	Packets, Bytes   map[string]uint64
	Total            uint64
	Harvests         uint64
	FillHarvests     uint64 // harvests the datapath asked for: the slot filling
	HarvestErrors    uint64
	LastHarvestMs    float64
	LastEntries      int
	PeakEntries      int
	SlotSize         uint32
	SamplingInterval uint32 `json:",omitempty"`
	// Record directions a stream lost, kept in the ledger for the next
	// start, and those forgotten unsent when too many waited.
	LedgerLost, LedgerForgotUnsent uint64 `json:",omitempty"`
}

func (d *Agent) showStats(w io.Writer, asJSON bool) error {
	d.mu.Lock()
	v := statsView{
		Packets: map[string]uint64{}, Bytes: map[string]uint64{}, Total: d.stats.Total(),
		Harvests: d.harvests, HarvestErrors: d.harvestErrors, LastHarvestMs: float64(d.lastHarvest.Microseconds()) / 1000,
		LastEntries: d.lastEntries, PeakEntries: d.peakEntries, SlotSize: d.cfg.Probe.MapEntries,
		FillHarvests: d.fillHarvests,
	}
	for r, s := range d.stats {
		v.Packets[statOutcomeNames[r]], v.Bytes[statOutcomeNames[r]] = s.Packets, s.Bytes
	}
	d.mu.Unlock()
	if d.cfg.Probe.SampleRate > 1 {
		v.SamplingInterval = d.cfg.Probe.SampleRate
	}
	if d.keep != nil {
		v.LedgerLost, v.LedgerForgotUnsent = d.keep.lostRecords.Load(), d.keep.forgotUnsent.Load()
	}
	if asJSON {
		return writeJSON(w, v)
	}
	fmt.Fprintf(w, "XDP datapath: %d packets\n", v.Total)
	fmt.Fprintf(w, "  %-12s %14s %16s\n", "outcome", "packets", "bytes")
	for r := range bpf.StatMax {
		name := statOutcomeNames[r]
		if r >= bpf.StatOutcomes {
			name = "(" + name + ")" // a subset of accounted
		}
		fmt.Fprintf(w, "  %-12s %14d %16d\n", name, v.Packets[statOutcomeNames[r]], v.Bytes[statOutcomeNames[r]])
	}
	fmt.Fprintf(w, "Harvester: %d harvests, %d failed; last took %.3f ms for %d of %d slot entries\n",
		v.Harvests, v.HarvestErrors, v.LastHarvestMs, v.LastEntries, v.SlotSize)
	fmt.Fprintf(w, "Slot fill: up to %d entries (%.1f %%); %d harvests on demand (the slot reached %d new flows before the interval)\n",
		v.PeakEntries, 100*float64(v.PeakEntries)/float64(max(v.SlotSize, 1)), v.FillHarvests, probe.FillSignal(v.SlotSize))
	if v.SamplingInterval > 1 {
		fmt.Fprintf(w, "Sampling: 1 in %d (%s)\n", v.SamplingInterval, samplingMode(d.cfg.Probe.SampleMode))
	}
	if v.LedgerLost > 0 || v.LedgerForgotUnsent > 0 {
		fmt.Fprintf(w, "Ledger: %d record directions lost at export, kept for the next start; %d forgotten unsent\n",
			v.LedgerLost, v.LedgerForgotUnsent)
	}
	return nil
}

// hooks says how the interface's packets are counted: "XDP native mode",
// "TC egress (tcx)", or both.
func (st *ifaceState) hooks() string {
	var h []string
	if st.Mode != "" {
		h = append(h, "XDP "+st.Mode+" mode")
	}
	if st.Egress != "" {
		h = append(h, "TC egress ("+st.Egress+")")
	}
	return strings.Join(h, " and ")
}

func (d *Agent) showInterfaces(w io.Writer, asJSON bool) error {
	d.mu.Lock()
	var list []ifaceState
	for _, st := range d.ifaces {
		c := *st
		if st.Attached {
			c.NIC = d.nicCheckOf(st)
		}
		c.Events = make(map[string]uint64, len(st.Events))
		for k, v := range st.Events {
			c.Events[k] = v
		}
		list = append(list, c)
	}
	d.mu.Unlock()
	slices.SortFunc(list, func(a, b ifaceState) int { return strings.Compare(a.Name, b.Name) })
	if asJSON {
		return writeJSON(w, list)
	}
	for _, st := range list {
		state := "up"
		switch {
		case !st.Attached:
			state = "not attached"
		case st.Down:
			state = "down"
		}
		fmt.Fprintf(w, "%s (ifindex %d): %s, %s", st.Name, st.Index, st.hooks(), state)
		if st.Adopted {
			fmt.Fprint(w, ", adopted from the previous run")
		}
		fmt.Fprintln(w)
		events := make([]string, 0, len(st.Events))
		for ev, n := range st.Events {
			events = append(events, fmt.Sprintf("%s %d", ev, n))
		}
		sort.Strings(events)
		if len(events) > 0 {
			fmt.Fprintf(w, "  events: %s\n", strings.Join(events, ", "))
		}
		if st.LastErr != "" {
			fmt.Fprintf(w, "  last error: %s\n", st.LastErr)
		}
		if st.NIC != nil {
			writeNICCheck(w, st.NIC, d.cfg.Probe.SampleRate)
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// samplingMode names a sampling mode as --sample-mode does.
func samplingMode(m bpf.SampleMode) string {
	if m == bpf.SampleRandom {
		return "random"
	}
	return "deterministic"
}
