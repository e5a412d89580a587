package agent

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestLabelWaitsForTheSamples: the lecture's flow goes through the XDP
// program and ends before the reader read a sample of it (here no reader
// runs at all); Label still names it HTTP by its payload, since it drains
// the ring first, and nothing is kept after the records ended.
func TestLabelWaitsForTheSamples(t *testing.T) {
	probetest.RequireRoot(t)
	p, err := probe.Open(probe.Options{Classify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r, err := p.Samples()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	table, err := cache.NewTable(cache.DefaultConfig(), cache.NewCaptureClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	apps := NewClassifier()
	apps.feed = &sampleFeed{ring: r, probe: p, apps: apps, log: slog.New(slog.DiscardHandler),
		inTable: func(bpf.FlowKey) bool { return true }, sweepEvery: time.Hour, lastSweep: time.Now()}

	capture, err := probe.OpenCapture(writeCapture(t, lectureClient, lectureServer, lectureClientPort, lectureServerPort, lectureFlow()))
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	for {
		f, err := capture.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Program().Run(&ebpf.RunOptions{Data: f.Data}); err != nil {
			t.Fatal(err)
		}
	}
	deltas, _, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	table.Merge(deltas)
	recs := table.Flush(nil)
	if len(recs) != 2 {
		t.Fatalf("%d records, want the two directions", len(recs))
	}
	apps.Label(recs)
	for _, rec := range recs {
		if rec.AppID != httpAppID || rec.AppKind != cache.AppPayload || rec.AppServer != lectureHost {
			t.Errorf("%s:%d: %#x %s %q, want HTTP by payload from %s", rec.SrcAddr, rec.SrcPort, rec.AppID, rec.AppKind, rec.AppServer, lectureHost)
		}
	}
	if n := apps.Stats().Kept; n != 0 || r.Pending() != 0 {
		t.Errorf("%d conversations kept, %d bytes of samples unread after the flow ended", n, r.Pending())
	}
}
