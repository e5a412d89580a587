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

// routesPoll is how often the prefix-table files are checked for changes;
// a change is loaded once two polls in a row see it the same.
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

// watch reloads on a signal from hup at once, and on the poll when a
// file has changed and settled (see poll); a refused file is logged, the
// table in use stays, and the file is tried again once it changes again.
func (rt *routes) watch(ctx context.Context, hup <-chan os.Signal, marks []fileMark) {
	tick := time.NewTicker(routesPoll)
	defer tick.Stop()
	w := &watchState{loaded: marks, seen: marks}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			w.loaded = rt.reload("SIGHUP")
		case <-tick.C:
			rt.poll(w)
		}
	}
}

// watchState is what the poll remembers: the files' marks when they were
// last loaded, and when the previous poll saw them.
type watchState struct {
	loaded, seen []fileMark
}

// poll reloads when the files differ from what was loaded and look the
// same as on the previous poll: a table written in place (curl > file) is
// not read while it grows, where a cut last line could parse as the wrong
// route ("1.2.0.0/16 645" of "1.2.0.0/16 64500"). A writer that stalls
// longer than a poll can still be read half-done; a rename is the safe
// way to replace a table.
func (rt *routes) poll(w *watchState) {
	now := statSources(rt.live.Sources())
	settled := slices.Equal(now, w.seen)
	w.seen = now
	if settled && !slices.Equal(now, w.loaded) {
		w.loaded = rt.reload("file changed")
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
