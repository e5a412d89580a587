package cache

import (
	"math"

	"github.com/spanflow/spanflow/bpf"
)

// flow is one table entry, kept small (96 bytes) because a busy span port
// holds a million of them. All times are wall-clock Unix ns (converted by
// the Clock when a Delta is merged). In bidirectional mode the counters
// here are the forward direction's and the entry's side holds the rest.
type flow struct {
	key     bpf.FlowKey // forward direction: the initiator's, in bidirectional mode
	startNs int64       // first packet of the current segment, either direction; emptySegment = none yet
	lastNs  int64       // last packet, either direction (kept across an active timeout)
	packets uint64
	bytes   uint64
	endNs   int64 // when the TCP connection was seen to end (FIN/RST); 0 = not yet
	heapIdx int32 // position in the timer heap
	flags   uint8 // OR of TCP flags, forward direction
	state   uint8 // stateFwdFIN | stateRevFIN
	out     Out   // where the forward direction leaves a router, as last seen (8 bytes with outIf)
	outIf   uint32
}

// emptySegment marks a segment without packets (a fresh entry, or one an
// active timeout emptied). Not 0: a capture may well start at Unix time 0.
const emptySegment = math.MinInt64

const (
	stateFwdFIN uint8 = 1 << iota // forward direction sent FIN
	stateRevFIN                   // reverse direction sent FIN
)

// side is the bidirectional part of an entry, allocated only in that mode
// so the unidirectional table stays small.
type side struct {
	fwdStartNs, fwdLastNs int64
	revStartNs, revLastNs int64
	revPackets, revBytes  uint64
	born                  uint32    // Merge generation that created the flow
	rev                   reverseID // the reverse direction's ToS and interface
	revFlags              uint8
}

// slab stores entries in fixed-size chunks: indexes stay valid as it
// grows, nothing is copied, and the chunks hold no pointers, so the
// garbage collector never scans them.
type slab struct {
	flows [][]flow
	sides [][]side // nil unless bidirectional
	free  []int32
	next  int32 // entries ever handed out
	bidir bool
}

const chunkBits = 12 // 4096 entries (384 KiB) per chunk

func (s *slab) flow(i int32) *flow { return &s.flows[i>>chunkBits][i&(1<<chunkBits-1)] }
func (s *slab) side(i int32) *side { return &s.sides[i>>chunkBits][i&(1<<chunkBits-1)] }

// alloc returns a zeroed entry.
func (s *slab) alloc() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		*s.flow(i) = flow{}
		if s.bidir {
			*s.side(i) = side{}
		}
		return i
	}
	i := s.next
	if int(i>>chunkBits) == len(s.flows) {
		s.flows = append(s.flows, make([]flow, 1<<chunkBits))
		if s.bidir {
			s.sides = append(s.sides, make([]side, 1<<chunkBits))
		}
	}
	s.next++
	return i
}

func (s *slab) release(i int32) { s.free = append(s.free, i) }
