package bench

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/bpf/benchprog"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

// newFlowTarget is a program that xdp_next_flow tail-calls, loaded fresh
// (empty flow table) for every sample.
type newFlowTarget struct {
	name string
	// open loads the program and returns it with a check of what it
	// counted, which the benchmark runs after the sample.
	open func(b *testing.B) (prog *ebpf.Program, check func(b *testing.B), done func())
}

// BenchmarkXDPNewFlow prices the first packet of a flow. A test run keeps
// one packet buffer for all its repeats, so xdp_next_flow bumps the
// frame's ports in place and tail-calls the program under test: each of
// newFlows runs is a new flow, inserted into a table that fills from 0 to
// half its size. The wrapper's own cost (port bump + tail call) is
// measured by tail-calling xdp_baseline in the same round and subtracted:
//
//	new flow = T(next → program) − (T(next → baseline) − T(baseline))
//
// As a cross-check, "flow-cold" runs xdp_flow once per syscall on
// coldFlows distinct frames and subtracts xdp_baseline run the same way:
// caches are cold there, as for a real first packet, and the test-run
// timer's own cost cancels out. Target: flow ≤ 250 ns.
func BenchmarkXDPNewFlow(b *testing.B) {
	probetest.RequireRoot(b)
	targets := []newFlowTarget{
		{"minimal", collectionTarget(benchprog.Minimal, benchprog.ProgMinimal, benchprog.MapMinimal)},
		{"flow", probeTarget(probe.Options{})},
		{"flow-coarse", probeTarget(probe.Options{CoarseClock: true})},
	}
	for _, v := range benchprog.Variants {
		if v.Name == "direct" {
			targets = append(targets, newFlowTarget{"flow-" + v.Name, collectionTarget(v.Load, bpf.ProgFlow, bpf.MapFlowsA)})
		}
	}
	cases := make([]*dataCase, len(targets))
	for i, t := range targets {
		cases[i] = &dataCase{name: t.name}
	}
	wrapper := &dataCase{name: "next-baseline-overhead"}
	cold := &dataCase{name: "flow-cold"}

	rig := newNewFlowRig(b)
	for range rounds {
		overhead := rig.overhead(b)
		wrapper.samples = append(wrapper.samples, overhead)
		for i, t := range targets {
			prog, check, done := t.open(b)
			cases[i].samples = append(cases[i].samples, rig.sample(b, prog, overhead))
			check(b)
			done()
		}
		cold.samples = append(cold.samples, coldNewFlowNs(b, rig.baseline, rig.coldFrames))
	}
	report(b, append(cases, wrapper, cold), "minimal")
}

// newFlowRig is the tail-call setup of the new-flow benchmarks: a test
// run keeps one packet buffer for all its repeats, so xdp_next_flow bumps
// the frame's ports in place and tail-calls the program set as its
// target, and each of newFlows runs is a new flow. The wrapper's own cost
// (port bump + tail call) is measured by tail-calling xdp_baseline and
// subtracted.
type newFlowRig struct {
	frame      []byte   // the frame whose ports xdp_next_flow bumps
	coldFrames [][]byte // coldFlows distinct frames, for the cold cross-checks
	baseline   *ebpf.Program
	next       *ebpf.Program // xdp_next_flow
	target     *ebpf.Map     // its tail-call target
}

func newNewFlowRig(b *testing.B) *newFlowRig {
	b.Helper()
	next := loadCollection(b, benchprog.NextFlow)
	r := &newFlowRig{
		frame:      tcpFrame(b, "198.18.0.1", "198.18.0.2", 1, 1, 0),
		coldFrames: make([][]byte, coldFlows),
		baseline:   loadCollection(b, benchprog.Baseline).Programs[benchprog.ProgBaseline],
		next:       next.Programs[benchprog.ProgNextFlow],
		target:     next.Maps[benchprog.MapNextTarget],
	}
	for i := range r.coldFrames {
		r.coldFrames[i] = tcpFrame(b, "198.18.0.1", "198.18.0.2", uint16(i), uint16(i>>16)+1, 0)
	}
	return r
}

// overhead is the wrapper's cost a packet, T(next → baseline) − T(baseline),
// measured now (once a round, so it drifts with the samples).
func (r *newFlowRig) overhead(b *testing.B) float64 {
	b.Helper()
	hot := perPacketNs(b, r.baseline, r.frame, hotRepeat)
	r.setTarget(b, r.baseline)
	return perPacketNs(b, r.next, r.frame, newFlows) - hot
}

// sample is prog's cost a new flow: newFlows runs of xdp_next_flow
// tail-calling prog, less the wrapper's overhead.
func (r *newFlowRig) sample(b *testing.B, prog *ebpf.Program, overhead float64) float64 {
	b.Helper()
	r.setTarget(b, prog)
	return perPacketNs(b, r.next, r.frame, newFlows) - overhead
}

func (r *newFlowRig) setTarget(b *testing.B, p *ebpf.Program) {
	b.Helper()
	if err := r.target.Put(uint32(0), p); err != nil {
		b.Fatalf("tail-call target: %v", err)
	}
}

// probeTarget opens spanflow's probe with a default-sized slot; its check
// is that the harvest holds exactly newFlows flows and nothing hit a full
// map (so every run of the sample really was a new flow).
func probeTarget(opts probe.Options) func(*testing.B) (*ebpf.Program, func(*testing.B), func()) {
	return func(b *testing.B) (*ebpf.Program, func(*testing.B), func()) {
		return openTarget(b, opts)
	}
}

func openTarget(b *testing.B, opts probe.Options) (*ebpf.Program, func(*testing.B), func()) {
	p, err := probe.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	check := func(b *testing.B) {
		deltas, stats, err := p.Harvest(nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(deltas) != newFlows || stats[bpf.StatAccounted].Packets != newFlows || stats[bpf.StatMapFull].Packets != 0 {
			b.Fatalf("new-flow sample made %d flows of %d packets (map full %d), want %d",
				len(deltas), stats[bpf.StatAccounted].Packets, stats[bpf.StatMapFull].Packets, newFlows)
		}
	}
	return p.Program(), check, func() { p.Close() }
}

// collectionTarget loads a reference program or variant; its check is
// that its flow map holds newFlows entries.
func collectionTarget(load func() (*ebpf.CollectionSpec, error), prog, flows string) func(*testing.B) (*ebpf.Program, func(*testing.B), func()) {
	return func(b *testing.B) (*ebpf.Program, func(*testing.B), func()) {
		spec, err := load()
		if err != nil {
			b.Fatal(err)
		}
		coll, err := ebpf.NewCollection(spec)
		if err != nil {
			b.Fatalf("load %s: %+v", prog, err)
		}
		check := func(b *testing.B) {
			n := 0
			iter := coll.Maps[flows].Iterate()
			var key []byte
			var values [][]byte
			for iter.Next(&key, &values) {
				n++
			}
			if err := iter.Err(); err != nil || n != newFlows {
				b.Fatalf("%s: new-flow sample made %d flows (%v), want %d", prog, n, err, newFlows)
			}
		}
		return coll.Programs[prog], check, coll.Close
	}
}

// coldNewFlowNs runs xdp_flow once per syscall on every frame (each a new
// flow), then xdp_baseline the same way, and returns the difference of
// their mean kernel times.
func coldNewFlowNs(b *testing.B, baseline *ebpf.Program, frames [][]byte) float64 {
	p, err := probe.Open(probe.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var flow, base float64
	for _, f := range frames {
		flow += perPacketNs(b, p.Program(), f, 1)
		base += perPacketNs(b, baseline, f, 1)
	}
	deltas, _, err := p.Harvest(nil)
	if err != nil || len(deltas) != len(frames) {
		b.Fatalf("cold sample made %d flows (%v), want %d", len(deltas), err, len(frames))
	}
	return (flow - base) / float64(len(frames))
}
