package probe

import (
	"math/rand/v2"

	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/classify"
)

// FrameSource is offline mode's datapath: it turns the frames of a capture
// into the Deltas xdp_flow would count for them — the reference parser,
// then sampling and key masking as the program's load-time settings do —
// and counts each frame's outcome as the stats map counts each packet.
type FrameSource struct {
	keyFields bpf.KeyField
	sample    func() bool
	dedup     *deduper // nil without a dedup window
	ifmap     *InterfaceMap
	decap     Decap

	Frames  uint64              // frames seen
	Reasons [bpf.StatMax]uint64 // frames by outcome (StatNoL4 a subset of StatAccounted)
}

// NewFrameSource applies o's key fields and sampling; the other options
// concern the kernel only.
func NewFrameSource(o Options) *FrameSource {
	return &FrameSource{keyFields: o.KeyFields, sample: newSampler(o.SampleMode, o.SampleRate), dedup: newDeduper(o.DedupWindow), ifmap: o.InterfaceMap, decap: o.Decap}
}

// Delta is what frame f adds to its flow. A frame that counts nothing
// (sampled out, not IP, malformed …) gives an empty Delta, which
// cache.Table.Merge ignores; its time still moves the offline clock.
func (s *FrameSource) Delta(f Frame) cache.Delta { return s.Sample(f).Delta }

// Sample is what one frame gives: its Delta and, for the application
// classifier, the head of its transport payload.
type Sample struct {
	cache.Delta
	// Head is the first bytes of the transport payload (at most
	// classify.HeadSize, fewer when the capture cut the frame), a
	// subslice of the frame's data: valid as long as the frame is.
	Head []byte
	// PayloadLen is the payload's length on the wire (≥ len(Head)); 0
	// when the packet carries none or is not accounted.
	PayloadLen int
}

// Sample is Delta with the frame's payload head: what the datapath
// counts and what it would hand the classifier.
func (s *FrameSource) Sample(f Frame) Sample {
	s.Frames++
	if !s.sample() {
		s.Reasons[bpf.StatSampledOut]++
		return Sample{}
	}
	p, pay := ParseFrameDecap(f.LinkType, f.Data, s.decap)
	ns := uint64(f.Timestamp.UnixNano())
	if p.Reason == bpf.StatAccounted && s.dedup != nil && s.dedup.duplicate(f.Data, pay.IPOff, p.Key.IpVersion, int64(ns)) {
		p.Reason = bpf.StatDuplicate
	}
	s.Reasons[p.Reason]++
	if p.Reason != bpf.StatAccounted {
		return Sample{}
	}
	if p.NoL4 {
		s.Reasons[bpf.StatNoL4]++
	}
	var out uint32
	if s.ifmap != nil && f.LinkType == layers.LinkTypeEthernet { // the datapath sees Ethernet only
		var in uint32
		if in, out = s.ifmap.Map(p.Key.VlanId, pay.Tunnel, f.Data); in != 0 {
			p.Key.Ifindex = in
		}
	}
	if s.keyFields != 0 {
		MaskKey(&p.Key, s.keyFields)
	}
	return Sample{
		Delta:      cache.Delta{Key: p.Key, Packets: 1, Bytes: p.IPBytes, FirstNs: ns, LastNs: ns, TCPFlags: p.TCPFlags, Out: outOf(out), OutIfIndex: out},
		Head:       pay.Head(f.Data, classify.HeadSize),
		PayloadLen: pay.Len,
	}
}

// newSampler keeps 1 frame in n as the datapath keeps packets: every nth
// (deterministic) or each with probability 1/n (random).
func newSampler(mode bpf.SampleMode, n uint32) func() bool {
	switch {
	case n <= 1:
	case mode == bpf.SampleDeterministic:
		var count uint64
		return func() bool { count++; return count%uint64(n) == 0 }
	case mode == bpf.SampleRandom:
		return func() bool { return rand.Uint32N(n) == 0 }
	}
	return func() bool { return true }
}

// outOf is the Delta's Out for a mapped output port.
func outOf(ifindex uint32) cache.Out {
	if ifindex == 0 {
		return cache.OutUnknown
	}
	return cache.OutIface
}
