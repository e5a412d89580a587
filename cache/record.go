package cache

import (
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/bpf"
)

// Delta is what one flow gained since the last harvest: the summed per-CPU
// counters of one key in the drained kernel slot (live), or of one packet
// (offline). FirstNs and LastNs are on the source's clock: the kernel's
// CLOCK_MONOTONIC when live, the capture timestamp (Unix ns) offline.
type Delta struct {
	Key      bpf.FlowKey
	Packets  uint64
	Bytes    uint64 // IP total length, as NetFlow counts
	FirstNs  uint64
	LastNs   uint64
	TCPFlags uint8
}

// EndReason says why a flow record was exported. The values are IPFIX's
// flowEndReason (IE 136).
type EndReason uint8

const (
	EndIdle            EndReason = 1 // inactive timeout
	EndActive          EndReason = 2 // active timeout: the flow goes on
	EndOfFlow          EndReason = 3 // TCP FIN or RST seen
	EndForced          EndReason = 4 // shutdown or flush
	EndLackOfResources EndReason = 5 // emergency expiry of a full table
)

// Record is one expired flow, as the exporters encode it. It holds no
// kernel types: exporters never see the datapath's layout.
type Record struct {
	SrcAddr, DstAddr netip.Addr
	SrcPort, DstPort uint16 // ICMP: DstPort = type<<8 | code
	Proto            uint8
	ToS              uint8
	IPVersion        uint8
	InIfIndex        uint32
	VLAN, InnerVLAN  uint16

	// Forward direction (the initiator's, in bidirectional mode).
	Packets, Bytes uint64
	TCPFlags       uint8
	Start, End     time.Time

	// Reverse direction; set only when Bidirectional. A biflow whose
	// reverse side sent nothing in this record has zero Rev counters and
	// zero (IsZero) RevStart/RevEnd. One whose forward side sent nothing
	// (possible after an active timeout) has zero forward counters and
	// Start/End spanning the reverse packets.
	Bidirectional        bool
	RevPackets, RevBytes uint64
	RevTCPFlags          uint8
	RevStart, RevEnd     time.Time

	EndReason EndReason

	// SamplingInterval is N of 1-in-N (1 or 0 = unsampled); counters are
	// never scaled. SamplingRandom tells random from deterministic.
	SamplingInterval uint32
	SamplingRandom   bool

	// Routing fields: zero until routing information is configured.
	SrcAS, DstAS     uint32
	SrcMask, DstMask uint8
	NextHop          netip.Addr
	OutIfIndex       uint32

	// AppID is the RFC 6759 applicationId; 0 while unclassified.
	AppID uint32
}

// IsICMP says the record is an ICMP or ICMPv6 flow, whose DstPort holds
// type<<8 | code (the Cisco convention).
func (r *Record) IsICMP() bool { return r.Proto == protoICMP || r.Proto == protoICMPv6 }

// Key is the datapath key of the record's forward direction (the reverse
// of a biflow is ReverseKey of it).
func (r *Record) Key() bpf.FlowKey {
	return bpf.FlowKey{
		SrcAddr: r.SrcAddr.As16(), DstAddr: r.DstAddr.As16(), SrcPort: r.SrcPort, DstPort: r.DstPort,
		Proto: r.Proto, Tos: r.ToS, IpVersion: r.IPVersion, Ifindex: r.InIfIndex, VlanId: r.VLAN, InnerVlanId: r.InnerVLAN,
	}
}
