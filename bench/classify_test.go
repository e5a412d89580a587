package bench

import (
	"testing"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/classify"
	"github.com/spanflow/spanflow/probe/probetest"
)

// classifyRounds is how often each case of the classification hot path is
// measured, round-robin (more than rounds: the figures are a few
// nanoseconds apart and the kernel reports whole nanoseconds).
const classifyRounds = 15

// pairCase is a program on a frame and the case it is compared with.
type pairCase struct {
	dataCase
	ref *pairCase // nil: a reference itself
}

// reportPairs adds one sub-benchmark per case with its median ns/pkt and,
// for a case with a reference, the median over rounds of its ratio to the
// reference ("x-off") and of the difference (ns-over-off).
func reportPairs(b *testing.B, cases []*pairCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportMetric(0, "ns/op") // report-only: this loop times nothing
			b.ReportMetric(median(c.samples), "ns/pkt")
			if c.ref == nil {
				return
			}
			ratios := make([]float64, len(c.samples))
			diffs := make([]float64, len(c.samples))
			for i := range c.samples {
				ratios[i] = c.samples[i] / c.ref.samples[i]
				diffs[i] = c.samples[i] - c.ref.samples[i]
			}
			b.ReportMetric(median(ratios), "x-off")
			b.ReportMetric(median(diffs), "ns-over-off")
		})
	}
}

// markClassified makes frame's flow in p classified, as the agent would:
// the first packet hands out its head, user space marks both directions
// done, and one more packet makes this CPU's copy of the flow cache it.
// It returns the flow's key.
func markClassified(b *testing.B, p *probe.Probe, frame []byte) bpf.FlowKey {
	b.Helper()
	r, err := p.Samples()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	perPacketNs(b, p.Program(), frame, 1)
	var keys []bpf.FlowKey
	if err := r.ReadPending(func(s *probe.AppSample) { keys = append(keys, s.Key) }); err != nil {
		b.Fatal(err)
	}
	if len(keys) != 1 {
		b.Fatalf("first packet handed out %d samples, want 1", len(keys))
	}
	done := keys
	if rev, ok := cache.ReverseKey(keys[0]); ok {
		done = append(done, rev)
	}
	if err := p.MarkClassified(done); err != nil {
		b.Fatal(err)
	}
	perPacketNs(b, p.Program(), frame, 1)
	return keys[0]
}

// appStats returns p's sampled and dropped sample counts.
func appStats(b *testing.B, p *probe.Probe) (sampled, dropped uint64) {
	b.Helper()
	stats, err := p.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return stats[bpf.StatAppSampled].Packets, stats[bpf.StatAppDropped].Packets
}

// BenchmarkXDPClassifyHotPath prices a packet of a flow that needs no more
// sampling, with classification on, against the same program loaded with
// classification off, side by side (target: ≤ 1.05×). "classified" is a
// flow marked done by user space after its first head; "budget" one that
// spent its budget (4 payload packets) unmarked. Both end with the
// flow's per-CPU value caching APP_DONE, so the hot path adds one byte
// test. The pairs run with both clocks (default and --clock coarse, where
// the fixed cost is half and a difference weighs twice as much) and on
// IPv6. Each case reports ns/pkt and, against its classification-off
// twin, the median over rounds of the ratio (x-off) and of the difference
// (ns-over-off); the kernel reports whole nanoseconds, so one nanosecond
// is 2 % of the default clock's ~50 ns and 4 % of the coarse one's ~25.
func BenchmarkXDPClassifyHotPath(b *testing.B) {
	probetest.RequireRoot(b)
	v4 := tcpFrame(b, "198.18.0.1", "198.18.0.2", 40000, 443, 0)
	v4b := tcpFrame(b, "198.18.0.1", "198.18.0.2", 40001, 443, 0)
	v6 := tcpFrame(b, "2001:db8::1", "2001:db8::2", 40000, 443, 0)

	var cases []*pairCase
	add := func(name string, opts probe.Options) {
		off := openProbe(b, opts)
		opts.Classify = true
		on := openProbe(b, opts)
		var want uint64 // samples handed out while setting up
		var refV4 *pairCase
		for _, f := range []struct {
			name  string
			frame []byte
		}{{"", v4}, {"-ipv6", v6}} {
			if name != "flow" && f.name != "" {
				continue // IPv6 with the default clock only
			}
			ref := &pairCase{dataCase: dataCase{name: name + f.name, prog: off.Program(), frame: f.frame}}
			markClassified(b, on, f.frame)
			cases = append(cases, ref, &pairCase{
				dataCase: dataCase{name: name + "-classified" + f.name, prog: on.Program(), frame: f.frame}, ref: ref})
			want++ // its first head
			if f.name == "" {
				refV4 = ref
			}
		}
		// A flow never marked: its budget of payload packets sampled,
		// then done. Compared with the same IPv4 frame as refV4 but
		// for the port.
		cases = append(cases, &pairCase{
			dataCase: dataCase{name: name + "-budget", prog: on.Program(), frame: v4b}, ref: refV4})
		perPacketNs(b, on.Program(), v4b, 1000)
		want += uint64(classify.Budget(classify.ProtoTCP))
		// Every sample was the first head of a flow or a budgeted one:
		// none of the hot-path runs below may add one.
		sampled, dropped := appStats(b, on)
		if sampled != want || dropped != 0 {
			b.Fatalf("%s: %d samples (%d dropped), want %d", name, sampled, dropped, want)
		}
		b.Cleanup(func() {
			if s, _ := appStats(b, on); s != want {
				b.Errorf("%s: the timed runs handed out %d samples: the flows were not done", name, s-want)
			}
		})
	}
	add("flow", probe.Options{})
	add("coarse", probe.Options{CoarseClock: true})

	for _, c := range cases { // create the flows, cache APP_DONE
		perPacketNs(b, c.prog, c.frame, 1000)
	}
	for r := range classifyRounds {
		// Alternate the order, so that drift within a round does not
		// favour whichever runs first.
		for i := range cases {
			c := cases[i]
			if r%2 == 1 {
				c = cases[len(cases)-1-i]
			}
			c.samples = append(c.samples, perPacketNs(b, c.prog, c.frame, hotRepeat))
		}
	}
	reportPairs(b, cases)
}

// bigSampleRing holds every sample of a new-flow measurement (576 bytes a
// record in the ring, newFlows or coldFlows of them), so none is dropped
// and no reader runs beside the timed loop.
const bigSampleRing = 1 << 25

// BenchmarkXDPNewFlowClassify prices the first packet of a flow (IPv4 TCP
// with 64 bytes of payload) with classification on against off: on top of
// the flow insert, the sample path creates the direction's app_state
// (LRU hash insert) and hands the head to user space (ring reserve, 64
// bytes copied, submit). Measured as BenchmarkXDPNewFlow: xdp_next_flow
// bumps the ports in place and tail-calls the program under test, so each
// of newFlows runs is a new flow; the wrapper's cost is measured through
// xdp_baseline in the same round and subtracted. The ring is big enough
// for every sample (checked: newFlows sampled, none dropped), and nothing
// reads it during the run. "cold" cross-checks with one syscall per new
// flow, classification on and off alternating frame by frame on
// coldFlows distinct frames (the syscall and timer cost cancels in the
// difference).
func BenchmarkXDPNewFlowClassify(b *testing.B) {
	probetest.RequireRoot(b)
	off := &pairCase{dataCase: dataCase{name: "flow"}}
	on := &pairCase{dataCase: dataCase{name: "flow-classify"}, ref: off}
	coldOff := &pairCase{dataCase: dataCase{name: "cold"}}
	coldOn := &pairCase{dataCase: dataCase{name: "cold-classify"}, ref: coldOff}

	rig := newNewFlowRig(b)
	for r := range rounds {
		overhead := rig.overhead(b)
		order := []*pairCase{off, on}
		if r%2 == 1 {
			order = []*pairCase{on, off}
		}
		for _, c := range order {
			opts := probe.Options{}
			if c == on {
				opts = probe.Options{Classify: true, SampleRing: bigSampleRing}
			}
			p, err := probe.Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			c.samples = append(c.samples, rig.sample(b, p.Program(), overhead))
			checkNewFlows(b, p, c == on)
			p.Close()
		}
		tOff, tOn := coldClassifyNs(b, rig.coldFrames)
		coldOff.samples = append(coldOff.samples, tOff)
		coldOn.samples = append(coldOn.samples, tOn)
	}
	reportPairs(b, []*pairCase{off, on, coldOff, coldOn})
}

// checkNewFlows checks that p's slot holds newFlows flows, none of which
// hit a full map, and, with classification, that each handed out its
// sample and none was dropped.
func checkNewFlows(b *testing.B, p *probe.Probe, classify bool) {
	b.Helper()
	deltas, stats, err := p.Harvest(nil)
	if err != nil {
		b.Fatal(err)
	}
	if len(deltas) != newFlows || stats[bpf.StatAccounted].Packets != newFlows || stats[bpf.StatMapFull].Packets != 0 {
		b.Fatalf("new-flow sample made %d flows of %d packets (map full %d), want %d",
			len(deltas), stats[bpf.StatAccounted].Packets, stats[bpf.StatMapFull].Packets, newFlows)
	}
	want := uint64(0)
	if classify {
		want = newFlows
	}
	if s, d := stats[bpf.StatAppSampled].Packets, stats[bpf.StatAppDropped].Packets; s != want || d != 0 {
		b.Fatalf("new-flow sample handed out %d samples (%d dropped), want %d", s, d, want)
	}
}

// coldClassifyNs runs every frame once per syscall through xdp_flow with
// classification off and on, alternating, and returns the mean kernel
// time of each. Every frame is a new flow with payload, so every run with
// classification hands out one sample; all must reach the ring.
func coldClassifyNs(b *testing.B, frames [][]byte) (off, on float64) {
	pOff, err := probe.Open(probe.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pOff.Close()
	pOn, err := probe.Open(probe.Options{Classify: true, SampleRing: bigSampleRing})
	if err != nil {
		b.Fatal(err)
	}
	defer pOn.Close()
	for i, f := range frames {
		if i%2 == 0 {
			off += perPacketNs(b, pOff.Program(), f, 1)
			on += perPacketNs(b, pOn.Program(), f, 1)
		} else {
			on += perPacketNs(b, pOn.Program(), f, 1)
			off += perPacketNs(b, pOff.Program(), f, 1)
		}
	}
	if sampled, dropped := appStats(b, pOn); sampled != uint64(len(frames)) || dropped != 0 {
		b.Fatalf("cold sample handed out %d samples (%d dropped), want %d", sampled, dropped, len(frames))
	}
	n := float64(len(frames))
	return off / n, on / n
}
