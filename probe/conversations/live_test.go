package conversations

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/classify"
	"github.com/spanflow/spanflow/probe/probetest"
)

// maxLinearFrame is the most BPF_PROG_TEST_RUN puts in one XDP buffer (a
// page less headroom and skb_shared_info), as in probe's differential tests.
const maxLinearFrame = 4096 - 256 - 320

// TestLiveVerdictsEqualOffline replays every real capture through the XDP
// program with classification on, one frame at a time, feeding the samples
// it hands out to one Classifier (with the verdict feedback the agent
// gives), and the same frames through offline mode's FrameSource to
// another. Every sample must carry the head and length the reference
// parser finds in its frame, and every conversation must end with the
// same verdict on both sides.
func TestLiveVerdictsEqualOffline(t *testing.T) {
	probetest.RequireRoot(t)
	p, err := probe.Open(probe.Options{Classify: true, MapEntries: 1 << 18})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	samples, err := p.Samples()
	if err != nil {
		t.Fatal(err)
	}
	defer samples.Close()

	dir := probetest.RealCapturesDir(t)
	caps, err := probetest.ReadRealCaptures(dir)
	if err != nil {
		t.Fatal(err)
	}
	var convs, payloadVerdicts, heads int
	for _, c := range caps {
		live, offline := New(), New()
		source := probe.NewFrameSource(probe.Options{})
		capture, err := probe.OpenCapture(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		for {
			f, err := capture.Next()
			if errors.Is(err, io.EOF) || err != nil {
				break // corrupt tails are the capture tests' business
			}
			if f.LinkType != layers.LinkTypeEthernet || len(f.Data) < 14 || len(f.Data) > maxLinearFrame {
				continue // XDP sees whole Ethernet frames in one buffer only
			}
			want := source.Sample(f)
			offline.Observe(want.Delta, want.Head, want.PayloadLen)
			if _, err := p.Program().Run(&ebpf.RunOptions{Data: f.Data}); err != nil {
				t.Fatal(err)
			}
			err = samples.ReadPending(func(s *probe.AppSample) {
				heads++
				k := s.Key
				k.Ifindex = 0
				if k != want.Key || (s.PayloadLen > 0 && (s.PayloadLen != want.PayloadLen || !bytes.Equal(s.Head, want.Head))) {
					t.Errorf("%s: sample %+v %x, want key %+v payload %d head %x", c.File, s.Key, s.Head, want.Key, want.PayloadLen, want.Head)
				}
				if done := live.ObserveSample(s, nil); done != nil {
					if err := p.MarkClassified(done); err != nil {
						t.Fatal(err)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		capture.Close()

		for ck, cv := range offline.convs {
			// The conversation key leaves the interface out: the test
			// run's (lo) and offline mode's (none) pair.
			want, _ := offline.VerdictOf(ck)
			got, _ := live.VerdictOf(ck)
			if got != want {
				t.Errorf("%s: conversation %v initiated by %v: live %+v, offline %+v", c.File, ck, cv.initiator, got, want)
			}
			convs++
			if want.Kind == classify.KindPayload {
				payloadVerdicts++
			}
		}
		// The next capture may reuse these keys: start it from nothing,
		// forgetting every key the datapath sampled.
		var keys []bpf.FlowKey
		for _, cv := range live.convs {
			for _, sk := range cv.keys {
				keys = append(keys, sk.key)
			}
		}
		if err := p.ForgetSampling(keys); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Harvest(nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d captures: %d conversations compared, %d with a payload verdict, %d samples checked", len(caps), convs, payloadVerdicts, heads)
	if payloadVerdicts < 1000 {
		t.Fatalf("only %d payload verdicts: is %s whole?", payloadVerdicts, dir)
	}
}
