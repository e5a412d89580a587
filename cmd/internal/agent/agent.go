package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/control"
	"github.com/spanflow/spanflow/exporter"
	"github.com/spanflow/spanflow/exporter/ie"
	"github.com/spanflow/spanflow/probe"
)

// Agent is the live probe: datapath → flow cache → export streams, plus
// what `spanflow show` and /metrics read.
type Agent struct {
	cfg   *Config
	log   *slog.Logger
	probe *probe.Probe
	table *cache.Table
	pipe  *pipeline
	keep  *keeper // nil without --pin-dir
	start time.Time

	mu            sync.Mutex
	stats         probe.Stats // datapath counters at the last harvest
	harvests      uint64
	fillHarvests  uint64 // of harvests, those the datapath asked for (FillSignals)
	peakEntries   int    // the most entries one harvest drained
	slotWarned    time.Time
	harvestErrors uint64
	lastHarvest   time.Duration
	lastEntries   int
	harvestHist   prometheus.Histogram
	ifaces        map[string]*ifaceState
	mappedNames   map[uint32]string // --interface-map's ports; read-only after open
	nic           nicReader         // nil: no NIC cross-check (nic.go)
	accounted     map[uint32]uint64 // packets harvested, by the flow key's ifindex
	closers       []func()          // what open took, released by close
}

// ifaceState is what `show interfaces` prints about one -i interface.
type ifaceState struct {
	Name      string
	Index     int
	Direction string // ingress, egress or both
	Mode      string // XDP mode when counted on ingress, "" if not
	Egress    string // TC egress hook (tcx, clsact) when counted on egress, "" if not
	Attached  bool
	Adopted   bool
	Down      bool
	Events    map[string]uint64 // down, up, deleted, reattached, reattach-failed
	LastErr   string
	NIC       *nicCheck `json:",omitempty"` // filled in by show interfaces

	nicBase, nicLast nicCounters // at attach, at the last harvest
	nicErr           string
	acctBase         uint64 // accounted[Index] at attach
}

// Run runs the live probe until ctx ends, then flushes and exports
// everything (bounded) and returns.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	d := &Agent{cfg: cfg, log: log, start: time.Now(), ifaces: map[string]*ifaceState{},
		harvestHist: newHarvestHistogram()}
	defer startProfile(log)()
	defer d.close()
	links, err := d.open(ctx)
	if err != nil {
		return err
	}
	return d.loop(ctx, links)
}

// close releases what open took, in reverse order; the datapath last.
func (d *Agent) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// open loads and attaches the datapath, restores pinned state and starts
// the export streams and the operator's interfaces (control socket,
// metrics, link watch), then drops root if asked.
func (d *Agent) open(ctx context.Context) (<-chan netlink.LinkUpdate, error) {
	cfg, log := d.cfg, d.log
	cfg.Probe.Classify = cfg.classifies()
	// auto: a router's FIB is asked only where the key keeps both
	// addresses (the flag's check covers --mode router).
	all := bpf.KeySrcAddr | bpf.KeyDstAddr
	cfg.Probe.Route = cfg.router() && cfg.Probe.InterfaceMap == nil &&
		(cfg.Probe.KeyFields == 0 || cfg.Probe.KeyFields&all == all)
	p, err := probe.Open(cfg.Probe)
	if err != nil {
		return nil, err
	}
	d.probe = p
	d.closers = append(d.closers, d.closeProbe)
	if p.Adopted() {
		log.Info("adopted pinned state: counts made while spanflow was down will be exported", "pin_dir", cfg.Probe.PinDir)
	}
	if read, closeNIC, err := openNICReader(); err != nil {
		log.Warn("no NIC cross-check in show interfaces", "err", err)
	} else {
		d.nic = read
		d.closers = append(d.closers, closeNIC)
	}
	var exportIfaces []ie.Interface
	for _, name := range cfg.Interfaces {
		index, err := d.attach(name)
		if err != nil {
			return nil, err
		}
		exportIfaces = append(exportIfaces, ie.Interface{Index: uint32(index), Name: name})
	}
	clock, err := cache.NewMonotonicClock()
	if err != nil {
		return nil, err
	}
	if d.table, err = cache.NewTable(cfg.Cache, clock); err != nil {
		return nil, err
	}
	if err := d.restore(clock); err != nil {
		return nil, err
	}
	// The mirrored router's ports go out, and show, by the names the map
	// gives them.
	d.mappedNames = cfg.Probe.InterfaceMap.Names()
	exportIfaces = append(exportIfaces, mappedInterfaces(cfg.Probe.InterfaceMap)...)
	if d.pipe, err = newPipeline(cfg, log, d.start, clock.Now, exportIfaces); err != nil {
		return nil, err
	}
	if err := d.startSamples(); err != nil {
		return nil, err
	}
	if cfg.Probe.Route {
		if d.pipe.kernel, err = watchKernelRoutes(ctx, log); err != nil {
			return nil, err
		}
		log.Info("router mode: output interface, next hop and masks from the kernel's routes", "mode", cfg.Routing)
	}
	if err := d.serve(); err != nil {
		return nil, err
	}
	links, err := d.watchLinks(ctx)
	if err != nil {
		log.Warn("cannot watch interfaces: no re-attach after a link returns", "err", err)
	}
	if cfg.User != "" {
		if err := dropPrivileges(cfg.UID, cfg.GID); err != nil {
			return nil, fmt.Errorf("--user %s: %w", cfg.User, err)
		}
		log.Info("dropped root", "user", cfg.User)
	}
	return links, nil
}

// restore opens the pinned ledger (with --pin-dir) and rebuilds the table
// from it and from a slot drain a crash interrupted.
func (d *Agent) restore(clock *cache.MonotonicClock) error {
	cfg := d.cfg
	if cfg.Probe.PinDir == "" {
		return nil
	}
	ledger, err := probe.OpenLedger(cfg.Probe.PinDir, cfg.ledgerCells(), cfg.Probe.Replace)
	if err != nil {
		return err
	}
	d.closers = append(d.closers, func() { ledger.Close() })
	d.keep = newKeeper(ledger, d.probe, d.table, clock, cfg.ledgerDirections())
	restored, leftover, err := d.keep.restore(nil)
	if err != nil {
		return fmt.Errorf("restore pinned state: %w", err)
	}
	if restored+leftover > 0 {
		d.log.Info("restored unexported flows from the pinned ledger", "directions", restored, "leftover_slot_flows", leftover)
	}
	return nil
}

// serve opens the control socket and the metrics endpoint.
func (d *Agent) serve() error {
	if d.cfg.Control != "" {
		srv, err := control.Listen(d.cfg.Control, 0o600, d.show)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, func() { srv.Close() })
	}
	if d.cfg.Metrics != "" {
		srv, err := serveMetrics(d.cfg.Metrics, d)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, func() { srv.Close() })
	}
	return nil
}

// loop harvests, expires and exports every interval, follows link events
// and logs export trouble, until ctx ends; then it shuts down.
func (d *Agent) loop(ctx context.Context, links <-chan netlink.LinkUpdate) error {
	cfg := d.cfg
	tick := time.NewTicker(cfg.HarvestInterval)
	defer tick.Stop()
	// The datapath asks for a harvest when the slot fills faster than the
	// interval drains it (a flood of new flows): harvest at once.
	fill, err := d.probe.FillSignals()
	if err != nil {
		return err
	}
	report := time.NewTicker(30 * time.Second) // export trouble is logged at most this often
	defer report.Stop()
	seen := map[string]exporter.StreamStats{}
	var deltas []cache.Delta
	var recs []cache.Record
	for {
		select {
		case <-ctx.Done():
			return d.shutdown(deltas, recs)
		case <-report.C:
			d.reportExport(seen)
		case ev, ok := <-links:
			if !ok { // the watch ends with ctx: shutdown is next
				links = nil
				continue
			}
			d.linkEvent(ev)
		case _, ok := <-fill:
			if !ok {
				fill = nil
				continue
			}
			// Only the harvest: expiry and export wait for the tick, so
			// that the slots are drained as fast as they fill.
			d.mu.Lock()
			d.fillHarvests++
			d.mu.Unlock()
			deltas = d.harvest(deltas)
			// A full table ends a flow for each new one: export those
			// records now rather than hold a flood's worth until the tick.
			if d.table.Ended() >= endedLimit {
				if err := d.expire(&recs); err != nil {
					return err
				}
			}
		case <-tick.C:
			if err := d.cycle(&deltas, &recs); err != nil {
				return err
			}
		}
	}
}

// cycle harvests into the cache, then expires and exports what is due;
// deltas and recs are buffers it reuses.
func (d *Agent) cycle(deltas *[]cache.Delta, recs *[]cache.Record) error {
	*deltas = d.harvest(*deltas)
	return d.expire(recs)
}

// endedLimit is how many records the cache may end between ticks (a full
// table's emergency expiries) before a harvest on demand exports them:
// about 5 MB of records.
const endedLimit = 16384

// expire exports what the cache has ended or is due; recs is a buffer it
// reuses.
func (d *Agent) expire(recs *[]cache.Record) error {
	*recs = d.table.Expire((*recs)[:0])
	if err := d.export(*recs); err != nil {
		return err
	}
	if len(*recs) == 0 {
		d.pipe.tick()
	}
	return nil
}

// reportExport logs, once per call, each stream whose failures, drops or
// skipped records grew since the last call.
func (d *Agent) reportExport(seen map[string]exporter.StreamStats) {
	for _, s := range d.pipe.streams {
		now, before := s.Stats(), seen[s.Name]
		var failed, failedBefore uint64
		for _, n := range now.SendErrors {
			failed += n
		}
		for _, n := range before.SendErrors {
			failedBefore += n
		}
		if failed > failedBefore || now.RecordsDropped > before.RecordsDropped || now.RecordsSkipped > before.RecordsSkipped {
			d.log.Warn("export trouble", "collector", s.Name, "failed_sends", failed-failedBefore,
				"dropped_records", now.RecordsDropped-before.RecordsDropped, "skipped", now.RecordsSkipped,
				"last_error", now.LastError)
		}
		seen[s.Name] = now
	}
}

// syncLimit bounds how long a harvest waits for the streams to send an
// expiry batch before going on (the ledger then keeps the batch).
const syncLimit = time.Second

// export hands records to the streams; with a ledger it waits (bounded)
// until they were sent, then lets the ledger forget them.
func (d *Agent) export(recs []cache.Record) error {
	err := d.pipe.export(recs)
	d.forgetEnded()
	if err != nil || d.keep == nil || len(recs) == 0 {
		return err
	}
	if err := d.keep.exported(recs, d.pipe.sync(syncLimit)); err != nil {
		d.log.Error("ledger", "err", err)
	}
	return nil
}

// harvest drains the datapath into the cache (through the ledger when
// state is pinned).
func (d *Agent) harvest(deltas []cache.Delta) []cache.Delta {
	nics := d.readNICs() // before the flip, see nic.go
	began := time.Now()
	var stats probe.Stats
	var err error
	if d.keep != nil {
		if deltas, err = d.keep.harvest(deltas); err == nil {
			stats, err = d.probe.Stats()
		}
	} else {
		deltas, stats, err = d.probe.Harvest(deltas[:0])
		d.table.Merge(deltas)
	}
	took := time.Since(began)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.harvestErrors++
		if d.harvestErrors == 1 || d.harvestErrors%100 == 0 { // bounded logging
			d.log.Error("harvest failed", "err", err, "failures", d.harvestErrors)
		}
		return deltas
	}
	over := stats[bpf.StatOverflow].Packets - d.stats[bpf.StatOverflow].Packets
	full := stats[bpf.StatMapFull].Packets - d.stats[bpf.StatMapFull].Packets
	if (over > 0 || full > 0) && time.Since(d.slotWarned) > 10*time.Second { // bounded logging
		d.slotWarned = time.Now()
		d.log.Warn("kernel flow slot full: packets counted into overflow records (by protocol and /24 or /64), or into none when the overflow map was full too (raise --map-size)",
			"overflow_packets", over, "lost_packets", full)
	}
	d.stats = stats
	d.noteHarvested(deltas, nics)
	d.harvests++
	d.lastHarvest = took
	d.lastEntries = len(deltas)
	d.peakEntries = max(d.peakEntries, len(deltas))
	d.harvestHist.Observe(took.Seconds())
	return deltas
}

// shutdown harvests once more, flushes every flow (end reason forced),
// sends it all within a bound and closes.
func (d *Agent) shutdown(deltas []cache.Delta, recs []cache.Record) error {
	d.harvest(deltas)
	recs = d.table.Flush(recs[:0])
	err := d.export(recs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := d.pipe.close(ctx); cerr != nil {
		d.log.Error("export at shutdown", "err", cerr)
	}
	d.log.Info("stopped", "flushed_records", len(recs))
	return err
}

func (d *Agent) closeProbe() {
	var err error
	if d.cfg.Detach {
		err = d.probe.Detach()
	} else {
		err = d.probe.Close()
	}
	if err != nil {
		d.log.Error("close datapath", "err", err)
	}
}

// attach attaches the datapath to an interface in the directions asked
// for it and returns its ifindex.
func (d *Agent) attach(name string) (index int, err error) {
	dir := d.cfg.direction(name)
	if dir&probe.Ingress != 0 {
		a, err := d.probe.Attach(name, d.cfg.Mode, d.cfg.Promisc)
		if err != nil {
			return 0, err
		}
		d.noteAttached(a)
		index = a.Index
	}
	if dir&probe.Egress != 0 {
		a, err := d.probe.AttachEgress(name)
		if err != nil {
			return 0, err
		}
		d.noteAttached(a)
		index = a.Index
	}
	return index, nil
}

func (d *Agent) noteAttached(a *probe.Attachment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.ifaces[a.Interface]
	if st == nil {
		st = &ifaceState{Name: a.Interface, Events: map[string]uint64{}}
		d.ifaces[a.Interface] = st
	}
	st.Index, st.Attached, st.Adopted = a.Index, true, a.Adopted
	st.Direction = d.cfg.direction(a.Interface).String()
	if a.Egress {
		st.Egress = a.Hook.String()
	} else {
		st.Mode = a.Mode.String()
	}
	d.noteNICBase(st)
	if a.Egress {
		if a.Fallback != nil {
			d.log.Info("no TCX link for egress: attached as a clsact filter", "interface", a.Interface, "reason", a.Fallback)
		}
		d.log.Info("attached egress", "interface", a.Interface, "ifindex", a.Index, "hook", a.Hook, "adopted", a.Adopted)
		return
	}
	if a.Fallback != nil {
		d.log.Warn("native XDP refused, attached in generic mode (GRO may merge packets before XDP sees them: turn it off with ethtool -K IFACE gro off)",
			"interface", a.Interface, "reason", a.Fallback)
	}
	d.log.Info("attached", "interface", a.Interface, "ifindex", a.Index, "mode", a.Mode, "adopted", a.Adopted,
		"action", d.cfg.Probe.Action)
}

// mappedInterfaces are --interface-map's ports, by index, for the v9/IPFIX
// interface options.
func mappedInterfaces(m *probe.InterfaceMap) []ie.Interface {
	var out []ie.Interface
	for index, name := range m.Names() {
		out = append(out, ie.Interface{Index: index, Name: name})
	}
	slices.SortFunc(out, func(a, b ie.Interface) int { return cmp.Compare(a.Index, b.Index) })
	return out
}
