package bench

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/bpf/benchprog"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

const (
	// rounds is how often every case is measured, round-robin; each
	// case reports its median. Round-robin keeps the machine's drift
	// (other tenants, frequency) out of the ratios.
	rounds = 7
	// hotRepeat is the test-run loop length of one hot-path sample.
	hotRepeat = 1_000_000
	// newFlows is how many new flows one new-flow sample inserts: half of
	// a default-sized slot (probe.DefaultMapEntries), so the table fills
	// from 0 to 50 % during the sample.
	newFlows = probe.DefaultMapEntries / 2
	// coldFlows is how many single-run syscalls the cross-check of the
	// new-flow path makes per round.
	coldFlows = 20_000
)

// dataCase is one program on one frame, measured in every round.
type dataCase struct {
	name    string
	prog    *ebpf.Program
	frame   []byte
	samples []float64 // ns per packet, one per round
}

// report adds one sub-benchmark per case with its median ns/pkt and the
// median over rounds of its ratio to the case named ref.
func report(b *testing.B, cases []*dataCase, ref string) {
	var refCase *dataCase
	for _, c := range cases {
		if c.name == ref {
			refCase = c
		}
	}
	for _, c := range cases {
		ratios := make([]float64, len(c.samples))
		for i := range c.samples {
			ratios[i] = c.samples[i] / refCase.samples[i]
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportMetric(0, "ns/op") // report-only: this loop times nothing
			b.ReportMetric(median(c.samples), "ns/pkt")
			b.ReportMetric(median(ratios), "x-"+ref)
		})
	}
}

func openProbe(b *testing.B, opts probe.Options) *probe.Probe {
	b.Helper()
	p, err := probe.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// BenchmarkXDPHotPath prices one packet of a flow that already exists:
// spanflow's xdp_flow on IPv4, IPv6 and VLAN-tagged IPv4 TCP, the two
// reference programs, and the xdp_flow variants that leave one part out.
// Every case reports ns/pkt and its ratio to xdp_minimal (target: flow
// ≤ 1.3×).
func BenchmarkXDPHotPath(b *testing.B) {
	probetest.RequireRoot(b)
	v4 := tcpFrame(b, "198.18.0.1", "198.18.0.2", 40000, 443, 0)
	v6 := tcpFrame(b, "2001:db8::1", "2001:db8::2", 40000, 443, 0)
	vlan := tcpFrame(b, "198.18.0.1", "198.18.0.2", 40000, 443, 100)

	baseline := loadCollection(b, benchprog.Baseline).Programs[benchprog.ProgBaseline]
	minimal := loadCollection(b, benchprog.Minimal).Programs[benchprog.ProgMinimal]
	wide := loadCollection(b, benchprog.MinimalWideKey).Programs[benchprog.ProgMinimal]
	flow := openProbe(b, probe.Options{}).Program()
	coarse := openProbe(b, probe.Options{CoarseClock: true}).Program()
	cases := []*dataCase{
		{name: "baseline", prog: baseline, frame: v4},
		{name: "minimal", prog: minimal, frame: v4},
		{name: "minimal-widekey", prog: wide, frame: v4},
		{name: "flow", prog: flow, frame: v4},
		{name: "flow-ipv6", prog: flow, frame: v6},
		{name: "flow-vlan", prog: flow, frame: vlan},
		{name: "flow-coarse", prog: coarse, frame: v4}, // --clock coarse
	}
	for _, v := range benchprog.Variants {
		prog := loadCollection(b, v.Load).Programs[bpf.ProgFlow]
		cases = append(cases, &dataCase{name: "flow-" + v.Name, prog: prog, frame: v4})
	}

	for _, c := range cases { // create the flows: from here on every packet hits
		perPacketNs(b, c.prog, c.frame, 1000)
	}
	for range rounds {
		for _, c := range cases {
			c.samples = append(c.samples, perPacketNs(b, c.prog, c.frame, hotRepeat))
		}
	}
	report(b, cases, "minimal")
}
