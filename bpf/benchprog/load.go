package benchprog

import "github.com/cilium/ebpf"

// Names of the reference programs and maps in their collections. The
// flow_* variants use package bpf's names (bpf.ProgFlow, bpf.MapFlowsA …).
const (
	ProgBaseline  = baselineProgXdpBaseline
	ProgMinimal   = minimalProgXdpMinimal
	MapMinimal    = minimalMapFlows
	ProgNextFlow  = nextflowProgXdpNextFlow
	MapNextTarget = nextflowMapTarget
)

// Baseline returns the collection spec of xdp_baseline.
func Baseline() (*ebpf.CollectionSpec, error) { return loadBaseline() }

// Minimal returns the collection spec of xdp_minimal (16-byte key).
func Minimal() (*ebpf.CollectionSpec, error) { return loadMinimal() }

// MinimalWideKey returns xdp_minimal with a 48-byte key.
func MinimalWideKey() (*ebpf.CollectionSpec, error) { return loadMinimalWidekey() }

// NextFlow returns the collection spec of xdp_next_flow.
func NextFlow() (*ebpf.CollectionSpec, error) { return loadNextflow() }

// Variant is bpf/xdp.c compiled with one substitution; its collection has
// the same programs, maps and variables as package bpf's.
type Variant struct {
	Name string // short name for benchmark output
	What string // what was substituted
	Load func() (*ebpf.CollectionSpec, error)
}

// Variants lists the xdp_flow variants.
var Variants = []Variant{
	{"noclock", "no clock read (times are 0)", loadFlowNoclock},
	{"direct", "flows_a looked up directly, no ARRAY_OF_MAPS", loadFlowDirect},
	{"nomap", "no flow slot: parse, key and stats only", loadFlowNomap},
}
