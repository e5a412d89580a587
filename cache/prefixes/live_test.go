package prefixes

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spanflow/spanflow/cache"
)

func TestEnrich(t *testing.T) {
	src := []Source{{Path: "testdata/plain.txt"}}
	recs := func() []cache.Record {
		return []cache.Record{
			{SrcAddr: netip.MustParseAddr("198.18.0.5"), DstAddr: netip.MustParseAddr("198.18.0.200")},
			{SrcAddr: netip.MustParseAddr("2001:db8:1::1"), DstAddr: netip.MustParseAddr("2001:db9::1")},
		}
	}
	origin, err := Open(src, false)
	if err != nil {
		t.Fatal(err)
	}
	got := recs()
	origin.Enrich(got)
	check := func(r cache.Record, srcAS uint32, srcMask uint8, dstAS uint32, dstMask uint8) {
		t.Helper()
		if r.SrcAS != srcAS || r.SrcMask != srcMask || r.DstAS != dstAS || r.DstMask != dstMask {
			t.Errorf("%s → %s: AS %d/%d masks %d/%d, want %d/%d and %d/%d", r.SrcAddr, r.DstAddr,
				r.SrcAS, r.DstAS, r.SrcMask, r.DstMask, srcAS, dstAS, srcMask, dstMask)
		}
	}
	check(got[0], 64501, 24, 4200000001, 25)
	check(got[1], 65551, 48, 0, 0)

	peer, err := Open(src, true)
	if err != nil {
		t.Fatal(err)
	}
	got = recs()
	peer.Enrich(got)
	check(got[0], 64510, 24, 0, 25) // the /25 names no peer
	check(got[1], 4200000010, 48, 0, 0)

	var none *Live // no --prefix-table: records untouched
	got = recs()
	got[0].SrcAS = 7
	none.Enrich(got)
	check(got[0], 7, 0, 0, 0)
}

// TestReload swaps tables under concurrent enrichment: every record gets
// the old table's AS or the new one's, never none; a broken file is
// refused and the table in use stays.
func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("198.18.0.0/15 1\n2001:db8::/32 1\n")
	l, err := Open([]Source{{Path: path}}, false)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var enriched, bad atomic.Uint64
	for range 4 {
		wg.Go(func() {
			recs := make([]cache.Record, 64)
			for !stop.Load() {
				for i := range recs {
					recs[i] = cache.Record{SrcAddr: netip.MustParseAddr("198.18.3.4"), DstAddr: netip.MustParseAddr("2001:db8::9")}
				}
				l.Enrich(recs)
				for _, r := range recs {
					if r.SrcAS != r.DstAS || (r.SrcAS != 1 && r.SrcAS != 2) || r.SrcMask != 15 || r.DstMask != 32 {
						bad.Add(1)
					}
				}
				enriched.Add(uint64(len(recs)))
			}
		})
	}
	for i := range 200 {
		as := 1 + i%2
		write("198.18.0.0/15 " + string(rune('0'+as)) + "\n2001:db8::/32 " + string(rune('0'+as)) + "\n")
		if _, err := l.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of %d records saw neither table whole", bad.Load(), enriched.Load())
	}
	if enriched.Load() == 0 {
		t.Fatal("no record enriched during the reloads")
	}

	before := l.Table()
	write("198.18.0.0/15 3\n198.18.0.0/99 4\n")
	_, err = l.Reload()
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("broken reload: %v, want an error naming %s:2", err, path)
	}
	if l.Table() != before {
		t.Fatal("a broken file replaced the table")
	}
	if rt, _ := l.Table().Lookup(netip.MustParseAddr("198.18.0.1")); rt.Origin != 2 {
		t.Errorf("after a refused reload: AS %d, want the old table's 2", rt.Origin)
	}
}
