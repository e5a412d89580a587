package agent

import (
	"errors"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe"
)

// readSamples feeds the classifier the payload heads the datapath hands
// out, until the reader is closed, and tells the datapath which flows
// need no more. Verdicts are batched into one map update whenever the
// ring has nothing more waiting.
func (d *Agent) readSamples(r *probe.SampleReader, apps *Classifier) {
	var s probe.AppSample
	var done []bpf.FlowKey
	for {
		err := r.Read(&s)
		if errors.Is(err, probe.ErrSamplesClosed) {
			return
		}
		if err != nil {
			d.log.Error("sample ring", "err", err)
			continue
		}
		done = apps.ObserveSample(&s, done)
		if len(done) > 0 && (r.Pending() == 0 || len(done) >= maxDoneBatch) {
			if err := d.probe.MarkClassified(done); err != nil {
				d.log.Warn("cannot stop sampling classified flows", "err", err)
			}
			done = done[:0]
		}
	}
}

// maxDoneBatch bounds the verdicts held back while samples keep coming.
const maxDoneBatch = 1024

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
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		d.readSamples(r, apps)
	}()
	d.closers = append(d.closers, func() {
		r.Close()
		<-stopped
	})
	return nil
}

// forgetEnded drops the datapath's sampling state of the conversations
// the classifier forgot.
func (d *Agent) forgetEnded() {
	if d.pipe.apps == nil {
		return
	}
	if ended := d.pipe.apps.TakeEnded(); len(ended) > 0 {
		if err := d.probe.ForgetSampling(ended); err != nil {
			d.log.Warn("cannot drop sampling state of ended flows", "err", err)
		}
	}
}
