package agent

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/prefixes"
)

// syncBuffer is a log sink the watch goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRoutesReload: live, a changed file is picked up by the poll, an
// unchanged-looking one on SIGHUP, and a broken one is refused with a log
// line naming its line while the old table stays.
func TestRoutesReload(t *testing.T) {
	defer func(d time.Duration) { routesPoll = d }(routesPoll)
	routesPoll = 20 * time.Millisecond
	path := filepath.Join(t.TempDir(), "table.txt")
	old := time.Now().Add(-time.Hour)
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// writeOld replaces the file with one of the old time in one rename,
	// so no poll sees it between the write and the time change.
	writeOld := func(s string) {
		t.Helper()
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, old, old); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("198.18.0.0/15 64500\n")
	hup := make(chan os.Signal, 1)
	var logs syncBuffer
	cfg := &Config{PrefixTables: []prefixes.Source{{Path: path}}, Reload: hup}
	rt, err := openRoutes(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	as := func() uint32 {
		recs := []cache.Record{{SrcAddr: netip.MustParseAddr("198.18.7.7"), DstAddr: netip.MustParseAddr("203.0.113.1")}}
		rt.enrich(recs)
		return recs[0].SrcAS
	}
	waitAS := func(want uint32, why string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); as() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: AS %d, want %d; log:\n%s", why, as(), want, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAS(64500, "first load")

	// Two bytes longer: the poll sees the size change whatever the file
	// system's time resolution.
	write("198.18.0.0/15 AS64511\n")
	waitAS(64511, "file changed (size)")

	// Back to the first size with the time set back an hour: the poll sees
	// it. Then the same size and time again: only SIGHUP reloads that.
	writeOld("198.18.0.0/15 64522\n")
	waitAS(64522, "file changed (size and time)")
	writeOld("198.18.0.0/15 64533\n")
	time.Sleep(10 * routesPoll)
	if got := as(); got != 64522 {
		t.Fatalf("an unchanged-looking file was reloaded without SIGHUP: AS %d", got)
	}
	hup <- os.Interrupt // any value: the channel is SIGHUP's
	waitAS(64533, "SIGHUP")

	write("198.18.0.0/15 64533\n198.18.0.0/16 bogus\n")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "prefix table refused"); {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), path+":2:") {
		t.Errorf("the refusal does not name %s:2:\n%s", path, logs.String())
	}
	if got := as(); got != 64533 {
		t.Errorf("after a refused reload: AS %d, want the old table's 64533", got)
	}
	write("198.18.0.0/15 64544\n") // fixed: taken on the next poll
	waitAS(64544, "fixed file")
}

// TestRoutesPollWaitsForSettledFile: a table written in place is not
// loaded while it changes from one poll to the next — its cut last line
// would parse as the wrong AS — but once two polls see it the same.
// The polls are called directly, so no timing is involved.
func TestRoutesPollWaitsForSettledFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table.txt")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("198.18.0.0/15 64500\n")
	var logs syncBuffer
	// ReadFile set: no watch goroutine, the test drives the polls.
	cfg := &Config{ReadFile: "x.pcap", PrefixTables: []prefixes.Source{{Path: path}}}
	rt, err := openRoutes(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	marks := statSources(rt.live.Sources())
	w := &watchState{loaded: marks, seen: marks}
	as := func() uint32 {
		recs := []cache.Record{{SrcAddr: netip.MustParseAddr("198.18.7.7")}}
		rt.enrich(recs)
		return recs[0].SrcAS
	}
	step := func(what string, want uint32) {
		t.Helper()
		rt.poll(w)
		if got := as(); got != want {
			t.Fatalf("%s: AS %d, want %d; log:\n%s", what, got, want, logs.String())
		}
	}
	step("unchanged", 64500)
	write("198.18.0.0/15 645") // half written: parses, as AS 645
	step("first poll of a half-written file", 64500)
	write("198.18.0.0/15 64511\n") // the rest of the line
	step("first poll after the write ended", 64500)
	step("second poll of the same file", 64511)
	step("a poll with nothing new", 64511)
	if n := strings.Count(logs.String(), "prefix tables reloaded"); n != 1 {
		t.Errorf("%d reloads, want 1; log:\n%s", n, logs.String())
	}
}

// TestRoutesOffline: offline, tables load once and nothing watches them.
func TestRoutesOffline(t *testing.T) {
	cfg := &Config{ReadFile: "x.pcap", PrefixTables: []prefixes.Source{{Path: "../../../cache/prefixes/testdata/plain.txt"}}}
	rt, err := openRoutes(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rt.close() // returns at once: no watch to end
	if rt, err := openRoutes(&Config{}, nil); rt != nil || err != nil {
		t.Errorf("no table: %v %v, want nil", rt, err)
	}
}
