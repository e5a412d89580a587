package agent

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/prefixes"
)

// routesPoll is how often the prefix-table files are checked for changes.
var routesPoll = 3 * time.Second

// routes gives records their AS numbers and masks from the prefix tables
// (--prefix-table) and, live, reloads them on SIGHUP (cfg.Reload) and
// when a file changes. A nil *routes does nothing.
type routes struct {
	live *prefixes.Live
	log  *slog.Logger
	stop context.CancelFunc
	done sync.WaitGroup
}

// openRoutes loads the tables (an error names the file and line) and,
// live, starts the reload watch; nil when no table is configured.
func openRoutes(cfg *Config, log *slog.Logger) (*routes, error) {
	if len(cfg.PrefixTables) == 0 {
		return nil, nil
	}
	start := time.Now()
	marks := statSources(cfg.PrefixTables)
	live, err := prefixes.Open(cfg.PrefixTables, cfg.PeerAS)
	if err != nil {
		return nil, err
	}
	rt := &routes{live: live, log: log, stop: func() {}}
	rt.logLoaded("prefix tables loaded", live.Table(), start)
	if cfg.ReadFile == "" {
		ctx, cancel := context.WithCancel(context.Background())
		rt.stop = cancel
		rt.done.Go(func() { rt.watch(ctx, cfg.Reload, marks) })
	}
	return rt, nil
}

// enrich sets the records' AS numbers and masks.
func (rt *routes) enrich(recs []cache.Record) {
	if rt != nil {
		rt.live.Enrich(recs)
	}
}

// close ends the reload watch.
func (rt *routes) close() {
	if rt != nil {
		rt.stop()
		rt.done.Wait()
	}
}

// watch reloads on a signal from hup, or when a file's size or time
// changed since the last try; a refused file is logged, the table in use
// stays, and the file is tried again once it changes again.
func (rt *routes) watch(ctx context.Context, hup <-chan os.Signal, marks []fileMark) {
	tick := time.NewTicker(routesPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			marks = rt.reload("SIGHUP")
		case <-tick.C:
			if now := statSources(rt.live.Sources()); !slices.Equal(now, marks) {
				marks = rt.reload("file changed")
			}
		}
	}
}

func (rt *routes) reload(why string) []fileMark {
	start := time.Now()
	marks := statSources(rt.live.Sources())
	t, err := rt.live.Reload()
	if err != nil {
		rt.log.Error("prefix table refused: the table in use stays", "reason", why, "err", err)
		return marks
	}
	rt.logLoaded("prefix tables reloaded", t, start)
	return marks
}

func (rt *routes) logLoaded(msg string, t *prefixes.Table, start time.Time) {
	rt.log.Info(msg, "ipv4_prefixes", t.Len4(), "ipv6_prefixes", t.Len6(),
		"files", len(rt.live.Sources()), "took", time.Since(start).Round(time.Millisecond))
}

// fileMark is what tells a file changed: its size and modification time
// (zero when it cannot be read).
type fileMark struct {
	size int64
	mod  time.Time
}

func statSources(sources []prefixes.Source) []fileMark {
	marks := make([]fileMark, len(sources))
	for i, s := range sources {
		if fi, err := os.Stat(s.Path); err == nil {
			marks[i] = fileMark{fi.Size(), fi.ModTime()}
		}
	}
	return marks
}
