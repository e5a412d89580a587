package probe

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
)

// Map size bounds per flow slot. Below the minimum a busy harvest interval
// overflows at once; above the maximum one slot would need gigabytes.
const (
	MinMapEntries     = 1024
	MaxMapEntries     = 1 << 24
	DefaultMapEntries = 1 << 16
)

// MaxDedupWindow bounds --dedup: two copies of one mirrored packet arrive
// microseconds apart; a window near a TCP retransmission timeout (200 ms)
// would start dropping retransmissions, which are real packets.
const MaxDedupWindow = 100 * time.Millisecond

// minDedupEntries sizes the dedup map for 1 Mpps over the longest window.
const minDedupEntries = 1 << 17

// Sample ring sizes. A head sample takes 576 bytes in the ring (8 of
// header, 56 of note, 512 of head): the default holds about 14,500, a
// quarter second of new flows at 20,000 a second with three samples each,
// ample for a reader that wakes on every sample.
const (
	MinSampleRing     = 1 << 16
	MaxSampleRing     = 1 << 30
	DefaultSampleRing = 1 << 23
)

// Action is what the program returns after accounting a packet.
type Action uint32

const (
	ActionPass Action = 2 // XDP_PASS: the packet continues up the stack
	ActionDrop Action = 1 // XDP_DROP: for a dedicated mirror port
)

// ParseAction reads --xdp-action.
func ParseAction(s string) (Action, error) {
	switch s {
	case "pass":
		return ActionPass, nil
	case "drop":
		return ActionDrop, nil
	}
	return 0, fmt.Errorf("xdp action %q: must be pass or drop", s)
}

func (a Action) String() string {
	if a == ActionDrop {
		return "drop"
	}
	return "pass"
}

// Options are the load-time settings of the datapath.
type Options struct {
	MapEntries uint32       // flows per slot, one harvest interval's worth
	KeyFields  bpf.KeyField // which key fields are kept; 0 means all
	SampleMode bpf.SampleMode
	SampleRate uint32 // N of 1-in-N; ignored when SampleMode is SampleNone
	Action     Action // 0 means ActionPass
	// CoarseClock stamps flows with the kernel's tick-resolution clock
	// (see CoarseClockResolution): half the per-packet cost.
	CoarseClock bool
	// Classify hands the payload heads of TCP and UDP flows' first packets
	// to user space (Probe.Samples) for the application classifier.
	Classify bool
	// DedupWindow, when > 0, drops from the accounting (StatDuplicate)
	// the second copy of a packet seen within it: a SPAN session that
	// mirrors both directions of two ports shows each packet twice.
	DedupWindow time.Duration
	// Decap opens tunnels whose inner packets are the mirrored traffic.
	Decap Decap
	// InterfaceMap, on a mirror port, gives frames the mirrored router's
	// input and output ports (Delta key's Ifindex, Delta.OutIfIndex).
	InterfaceMap *InterfaceMap
	// Route asks the kernel FIB, once per new flow, where it goes
	// (Delta.Out, Delta.OutIfIndex): for a software router.
	Route bool
	// SampleRing is the size of the sample ring buffer in bytes, a power of
	// two ≥ the page size; 0 means DefaultSampleRing.
	SampleRing uint32

	// PinDir, when set, pins maps and links there (a bpffs directory) so
	// a restarted spanflow adopts them and no count is lost. Replace
	// discards incompatible pinned state instead of refusing it.
	PinDir  string
	Replace bool
}

func (o *Options) validate() error {
	if o.MapEntries == 0 {
		o.MapEntries = DefaultMapEntries
	}
	if o.MapEntries < MinMapEntries || o.MapEntries > MaxMapEntries {
		return fmt.Errorf("map size %d out of range: must be %d to %d flows per slot",
			o.MapEntries, MinMapEntries, MaxMapEntries)
	}
	if o.KeyFields == 0 {
		o.KeyFields = bpf.KeyAll
	}
	if o.KeyFields&^bpf.KeyAll != 0 {
		return fmt.Errorf("key fields %#x: unknown bits", uint32(o.KeyFields))
	}
	switch o.SampleMode {
	case bpf.SampleNone:
		o.SampleRate = 1
	case bpf.SampleDeterministic, bpf.SampleRandom:
		if o.SampleRate < 1 {
			return fmt.Errorf("sampling rate %d: must be ≥ 1", o.SampleRate)
		}
	default:
		return fmt.Errorf("sampling mode %d: unknown", o.SampleMode)
	}
	if o.Action == 0 {
		o.Action = ActionPass
	}
	if o.DedupWindow < 0 || o.DedupWindow > MaxDedupWindow {
		return fmt.Errorf("dedup window %s: must be 0 (off) to %s", o.DedupWindow, MaxDedupWindow)
	}
	if o.SampleRing == 0 {
		o.SampleRing = DefaultSampleRing
	}
	if o.SampleRing < MinSampleRing || o.SampleRing > MaxSampleRing || o.SampleRing&(o.SampleRing-1) != 0 {
		return fmt.Errorf("sample ring %d bytes: must be a power of two from %d to %d", o.SampleRing, MinSampleRing, MaxSampleRing)
	}
	if o.Action != ActionPass && o.Action != ActionDrop {
		return fmt.Errorf("xdp action %d: must be pass or drop", o.Action)
	}
	return nil
}

// keyFieldNames are the names --key accepts, one per field.
var keyFieldNames = []struct {
	name  string
	field bpf.KeyField
}{
	{"src-addr", bpf.KeySrcAddr},
	{"dst-addr", bpf.KeyDstAddr},
	{"src-port", bpf.KeySrcPort},
	{"dst-port", bpf.KeyDstPort},
	{"proto", bpf.KeyProto},
	{"tos", bpf.KeyToS},
	{"ifindex", bpf.KeyIfindex},
	{"vlan", bpf.KeyVLAN},
}

// keyLevels are softflowd-style tracking levels.
var keyLevels = map[string]bpf.KeyField{
	"full":  bpf.KeyAll,
	"proto": bpf.KeySrcAddr | bpf.KeyDstAddr | bpf.KeyProto | bpf.KeyIfindex | bpf.KeyVLAN,
	"ip":    bpf.KeySrcAddr | bpf.KeyDstAddr | bpf.KeyIfindex | bpf.KeyVLAN,
}

// ParseKeyFields reads --key: a level (full, proto, ip) or a comma list of
// field names (src-addr, dst-addr, src-port, dst-port, proto, tos, ifindex, vlan).
func ParseKeyFields(s string) (bpf.KeyField, error) {
	if f, ok := keyLevels[s]; ok {
		return f, nil
	}
	var fields bpf.KeyField
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		found := false
		for _, kf := range keyFieldNames {
			if kf.name == part {
				fields |= kf.field
				found = true
			}
		}
		if !found {
			names := make([]string, len(keyFieldNames))
			for i, kf := range keyFieldNames {
				names[i] = kf.name
			}
			return 0, fmt.Errorf("key %q: %q is not full, proto, ip or a field (%s)",
				s, part, strings.Join(names, ", "))
		}
	}
	return fields, nil
}

// CoarseClockResolution is the resolution of the coarse clock on this
// kernel: one scheduler tick (1/CONFIG_HZ).
func CoarseClockResolution() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return 0, fmt.Errorf("coarse clock resolution: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// MaskKey zeroes the fields left out of fields, as the datapath does with
// cfg_key_fields (offline mode applies it to the reference parser's keys).
func MaskKey(k *bpf.FlowKey, fields bpf.KeyField) {
	if fields&bpf.KeySrcAddr == 0 {
		k.SrcAddr = [16]byte{}
	}
	if fields&bpf.KeyDstAddr == 0 {
		k.DstAddr = [16]byte{}
	}
	if fields&bpf.KeySrcPort == 0 {
		k.SrcPort = 0
	}
	if fields&bpf.KeyDstPort == 0 {
		k.DstPort = 0
	}
	if fields&bpf.KeyProto == 0 {
		k.Proto = 0
	}
	if fields&bpf.KeyToS == 0 {
		k.Tos = 0
	}
	if fields&bpf.KeyIfindex == 0 {
		k.Ifindex = 0
	}
	if fields&bpf.KeyVLAN == 0 {
		k.VlanId, k.InnerVlanId = 0, 0
	}
}
