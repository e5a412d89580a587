package probe

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestVerifierHasHeadroom loads the program with every load-time feature
// on and off and demands that the verifier needed at most 70 % of its
// 1 M-instruction budget: another kernel (or the next feature) explores
// differently, and a program that only just loads here may not load there.
func TestVerifierHasHeadroom(t *testing.T) {
	probetest.RequireRoot(t)
	const budget = 700_000
	processed := regexp.MustCompile(`processed (\d+) insns`)
	for _, o := range []Options{
		{},
		{Classify: true},
		{Classify: true, Route: true, DedupWindow: time.Millisecond, CoarseClock: true,
			SampleMode: bpf.SampleDeterministic, SampleRate: 10, KeyFields: bpf.KeySrcAddr | bpf.KeyDstAddr},
		{Classify: true, DedupWindow: time.Millisecond, Decap: Decap{VXLAN: true, GENEVE: true, ERSPAN: true},
			InterfaceMap: &InterfaceMap{Entries: []InterfaceMapEntry{{VLAN: 10, IfIndex: 5, Name: "x"}}}},
	} {
		opts := o
		if err := opts.validate(); err != nil {
			t.Fatal(err)
		}
		spec, err := configuredSpec(&opts)
		if err != nil {
			t.Fatal(err)
		}
		coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}})
		if err != nil {
			t.Errorf("%+v: %v", o, err)
			continue
		}
		for _, prog := range []string{bpf.ProgFlow, bpf.ProgEgress} {
			m := processed.FindStringSubmatch(coll.Programs[prog].VerifierLog)
			if m == nil {
				t.Fatalf("%s %+v: no instruction count in the verifier's log", prog, o)
			}
			n, _ := strconv.Atoi(m[1])
			what := fmt.Sprintf("%s classify=%v route=%v dedup=%v decap=%v ifmap=%v", prog, o.Classify, o.Route, o.DedupWindow, o.Decap.On(), o.InterfaceMap != nil)
			t.Logf("%s: %d instructions verified", what, n)
			if n > budget {
				t.Errorf("%s: the verifier processed %d instructions, more than %d", what, n, budget)
			}
		}
		coll.Close()
	}
}
