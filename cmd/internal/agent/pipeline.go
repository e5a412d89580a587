package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter"
	"github.com/spanflow/spanflow/exporter/ie"
)

// pipeline hands expired records to every export stream and the printer.
type pipeline struct {
	log     *slog.Logger
	streams []*exporter.Stream
	printer *flowprint.Printer
	wait    bool // offline: block rather than drop when a stream is behind
	// apps labels records with their application before they are
	// printed or exported; nil when classification is off.
	apps *Classifier
	// tally counts the labelled records per application for the views
	// and /metrics.
	tally cache.AppTally
	// routes gives records their AS numbers and masks; nil without
	// --prefix-table.
	routes *routes
	// kernel adds masks and next hops from the host's routes in router
	// mode; nil otherwise.
	kernel *kernelRoutes
	// settled is each stream's loss count at its last completed sync.
	settled []uint64
}

// newPipeline opens one export stream per collector (per aggregation
// scheme for v8), each with its own encoder, so its own sequence numbers.
func newPipeline(cfg *Config, log *slog.Logger, boot time.Time, now func() time.Time, ifaces []ie.Interface) (*pipeline, error) {
	routes, err := openRoutes(cfg, log)
	if err != nil {
		return nil, err
	}
	p := &pipeline{log: log, wait: cfg.ReadFile != "", routes: routes}
	if cfg.classifies() {
		p.apps = NewClassifier()
	}
	if cfg.Print != "" {
		p.printer = flowprint.NewPrinter(cfg.stdout(), cfg.Print)
	}
	for _, addr := range cfg.Collectors {
		streams, err := openStreams(cfg, log, addr, boot, now, ifaces)
		if err != nil {
			p.close(context.Background())
			return nil, err
		}
		p.streams = append(p.streams, streams...)
	}
	return p, nil
}

func openStreams(cfg *Config, log *slog.Logger, addr string, boot time.Time, now func() time.Time, ifaces []ie.Interface) ([]*exporter.Stream, error) {
	settings := cfg.Export
	settings.Boot = boot
	schemes := []cache.Scheme{0}
	if cfg.Version == 8 {
		schemes = cfg.Schemes
	}
	var out []*exporter.Stream
	for _, scheme := range schemes {
		tr, err := dialTransport(cfg, log, addr)
		if err != nil {
			closeStreams(out)
			return nil, err
		}
		opts := exporter.TemplateOptions{Interfaces: ifaces}
		if cfg.classifies() {
			opts.AppID = true
			opts.Applications = applicationTable()
			opts.ApplicationRefresh = applicationRefresh
			opts.NtopFields = cfg.NtopFields
		}
		s := settings
		s.IPv6Transport = tr.HeaderLen() == 48
		enc, err := newEncoder(cfg, s, opts, scheme)
		if err != nil {
			tr.Close()
			closeStreams(out)
			return nil, fmt.Errorf("-v %d: %w", cfg.Version, err)
		}
		name := fmt.Sprintf("%s v%d", addr, cfg.Version)
		if cfg.Version == 10 {
			name = addr + " ipfix/" + cfg.Transport
		}
		if scheme != 0 {
			name += " " + scheme.String()
		}
		st := exporter.NewStream(name, enc, tr, cfg.StreamQueue, now)
		st.Pace(cfg.ExportRate, exporter.DefaultBurst)
		if cfg.ReadFile == "" {
			st.HoldWhileDown() // live: a collector restart loses nothing the queue holds
		}
		out = append(out, st)
	}
	return out, nil
}

// dialTransport opens the transport to a collector. A TCP collector that
// is down does not stop the start: the stream dials again with backoff.
func dialTransport(cfg *Config, log *slog.Logger, addr string) (exporter.Transport, error) {
	if cfg.Transport != "tcp" {
		return exporter.DialUDP(addr, cfg.Source)
	}
	t, err := exporter.NewTCPTransport(addr, cfg.Source)
	if err != nil {
		return nil, err
	}
	if _, err := t.EnsureConnected(); err != nil {
		log.Warn("collector not reachable: records wait in its queue while spanflow dials again, backing off", "collector", addr, "err", err)
	}
	return t, nil
}

func newEncoder(cfg *Config, s exporter.Settings, o exporter.TemplateOptions, scheme cache.Scheme) (exporter.Encoder, error) {
	switch cfg.Version {
	case 1:
		return exporter.NewV1Encoder(s)
	case 5:
		return exporter.NewV5Encoder(s)
	case 7:
		return exporter.NewV7Encoder(s)
	case 8:
		return exporter.NewAggregatingEncoder(s, scheme, cfg.Aggregation)
	case 9:
		return exporter.NewV9Encoder(s, o)
	case 10:
		return exporter.NewIPFIXEncoder(s, o)
	}
	return nil, fmt.Errorf("unknown version %d", cfg.Version)
}

// export hands recs (which the caller may reuse afterwards) to every stream.
func (p *pipeline) export(recs []cache.Record) error {
	if len(recs) == 0 {
		return nil
	}
	p.routes.enrich(recs)
	p.kernel.enrich(recs) // after the prefix tables: a router's own routes give its masks
	for i := range recs {
		recs[i].ClampMasks()
	}
	if p.apps != nil {
		p.apps.Label(recs)
		p.tally.Add(recs)
	}
	if p.printer != nil {
		if err := p.printer.Print(recs); err != nil {
			return err
		}
	}
	if len(p.streams) == 0 {
		return nil
	}
	shared := slices.Clone(recs) // read-only from here on, shared by the streams
	for _, s := range p.streams {
		if p.wait {
			s.OfferWait(shared)
		} else {
			s.Offer(shared)
		}
	}
	return nil
}

// tick lets v8 aggregation caches age between expiries.
func (p *pipeline) tick() {
	for _, s := range p.streams {
		s.Tick()
	}
}

// close sends what is queued, bounded by ctx, and says what each stream
// could not carry.
func (p *pipeline) close(ctx context.Context) error {
	p.routes.close()
	err := closeStreamsCtx(ctx, p.streams)
	for _, s := range p.streams {
		st := s.Stats()
		if st.RecordsSkipped > 0 {
			p.log.Warn("records this NetFlow version cannot carry were left out (IPv6 in v1/v5/v7/v8: use -v 9 or 10)",
				"collector", s.Name, "skipped", st.RecordsSkipped)
		}
		if st.RecordsDropped > 0 {
			p.log.Warn("records dropped: the collector could not keep up", "collector", s.Name, "dropped", st.RecordsDropped)
		}
		if p.wait { // offline: the run's result is whether every record arrived
			err = errors.Join(err, undelivered(s.Name, st))
		}
	}
	return err
}

// undelivered says what of a stream's export did not reach its transport,
// or nil.
func undelivered(name string, st exporter.StreamStats) error {
	var failed uint64
	for _, n := range st.SendErrors {
		failed += n
	}
	if failed == 0 && st.RecordsDropped == 0 && st.EncodeErrors == 0 {
		return nil
	}
	return fmt.Errorf("collector %s: not every record was delivered: %d datagrams failed to send or were refused, %d records dropped, %d batches refused by the encoder (last error: %q)",
		name, failed, st.RecordsDropped, st.EncodeErrors, st.LastError)
}

func closeStreams(streams []*exporter.Stream) {
	closeStreamsCtx(context.Background(), streams)
}

func closeStreamsCtx(ctx context.Context, streams []*exporter.Stream) error {
	var errs []error
	for _, s := range streams {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// outcome is what the streams say of the records handed to them since
// the last settled sync.
type outcome int

const (
	delivered outcome = iota // every stream's transport took them (UDP: sent; TCP: written)
	lost                     // a stream lost some: dropped, refused by the encoder, or a send failed
	unsettled                // not known yet: a sync timed out or a collector is down; a later sync settles them
)

// sync waits, bounded, until every stream handed what it was given to its
// transport, and says whether all of it was taken since the last settled
// sync.
func (p *pipeline) sync(limit time.Duration) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if p.settled == nil {
		p.settled = make([]uint64, len(p.streams))
	}
	var anyLost, anyUnsettled bool
	for i, s := range p.streams {
		losses, err := s.Sync(ctx)
		switch {
		case err != nil:
			anyUnsettled = true
		case losses != p.settled[i]:
			p.settled[i] = losses
			anyLost = true
		}
	}
	switch {
	case anyLost:
		return lost
	case anyUnsettled:
		return unsettled
	}
	return delivered
}
