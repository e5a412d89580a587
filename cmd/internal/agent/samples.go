package agent

import (
	"log/slog"
	"sync"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe"
)

// sampleFeed moves the datapath's samples into the classifier and its
// verdicts back. A reader goroutine polls the ring; the harvest drains it
// before records are labelled (Classifier.Label). Both read under mu and
// send their verdicts (MarkClassified) before letting go of it, and Label
// forgets ended conversations' sampling state under it too, so:
//   - a record is labelled after the samples of all its packets were fed:
//     the slot flip before it waited for every program run on the old
//     slot, so their samples are in the ring;
//   - no verdict held back by the reader reaches the datapath after the
//     conversation ended and its keys were forgotten (it would stop the
//     next flow on the key from being sampled).
type sampleFeed struct {
	mu    sync.Mutex
	ring  *probe.SampleReader
	probe *probe.Probe
	apps  *Classifier
	log   *slog.Logger
	done  []bpf.FlowKey // verdicts not sent yet; empty whenever mu is free

	// The sweep of conversations whose flows the table never held.
	inTable    func(bpf.FlowKey) bool
	sweepEvery time.Duration
	lastSweep  time.Time
}

// samplePoll is how long the reader waits when the ring was empty. The
// ring (8 MiB by default) holds about 14 k samples, far more than come
// in that time but at a flood of new flows.
const samplePoll = 10 * time.Millisecond

// maxDoneBatch bounds the verdicts held back while samples keep coming.
const maxDoneBatch = 1024

// drain feeds the classifier the samples in the ring and sends the
// verdicts; under mu. It says how many it read.
func (f *sampleFeed) drain() int {
	n := 0
	err := f.ring.ReadPending(func(s *probe.AppSample) {
		n++
		f.done = f.apps.ObserveSample(s, f.done)
		if len(f.done) >= maxDoneBatch {
			f.markDone()
		}
	})
	if err != nil {
		f.log.Error("sample ring", "err", err)
	}
	f.markDone()
	return n
}

func (f *sampleFeed) markDone() {
	if len(f.done) == 0 {
		return
	}
	if err := f.probe.MarkClassified(f.done); err != nil {
		f.log.Warn("cannot stop sampling classified flows", "err", err)
	}
	f.done = f.done[:0]
}

// read drains the ring until stop closes, waiting samplePoll whenever it
// was empty.
func (f *sampleFeed) read(stop <-chan struct{}) {
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-stop:
			return
		case <-wait.C:
		}
		f.mu.Lock()
		n := f.drain()
		f.mu.Unlock()
		if n > 0 {
			wait.Reset(0) // more may be waiting: let the harvest in, then go on
		} else {
			wait.Reset(samplePoll)
		}
	}
}

// label runs label (the classifier's Label) with the ring drained before
// it, then sweeps when due and drops the sampling state of the
// conversations that ended, all with the reader held off.
func (f *sampleFeed) label(label func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drain()
	label()
	f.forgetEnded()
}

// forgetEnded sweeps when due and drops the datapath's sampling state of
// the conversations the classifier forgot; under mu.
func (f *sampleFeed) forgetEnded() {
	if now := time.Now(); now.Sub(f.lastSweep) >= f.sweepEvery {
		f.apps.Sweep(f.inTable)
		f.lastSweep = now
	}
	if ended := f.apps.TakeEnded(); len(ended) > 0 {
		if err := f.probe.ForgetSampling(ended); err != nil {
			f.log.Warn("cannot drop sampling state of ended flows", "err", err)
		}
	}
}

// startSamples opens the sample ring and starts its reader.
func (d *Agent) startSamples() error {
	apps := d.pipe.apps
	if apps == nil {
		return nil
	}
	r, err := d.probe.Samples()
	if err != nil {
		return err
	}
	f := &sampleFeed{ring: r, probe: d.probe, apps: apps, log: d.log, lastSweep: time.Now(),
		inTable: func(k bpf.FlowKey) bool { _, ok := d.table.Pending(k); return ok },
		// A key is checked one to two sweeps after its sample: its
		// packets were merged by then, or never will be.
		sweepEvery: max(d.cfg.Cache.InactiveTimeout, 2*d.cfg.HarvestInterval)}
	apps.feed = f
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		f.read(stop)
	}()
	d.closers = append(d.closers, func() {
		close(stop)
		<-stopped
		r.Close()
	})
	return nil
}

// forgetEnded drops the datapath's sampling state of the conversations
// the classifier forgot (Label did, with the feed; here the sweep, when
// due, on harvests with nothing expired).
func (d *Agent) forgetEnded() {
	if d.pipe.apps == nil || d.pipe.apps.feed == nil {
		return
	}
	f := d.pipe.apps.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetEnded()
}
