package cache

import (
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache/app"
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
	// Out is where a software router's FIB sends the flow (OutIfIndex
	// for OutIface); OutUnknown on a mirror port.
	Out        Out
	OutIfIndex uint32
}

// Out says where a flow leaves a router, as IOS's DstIf column does.
type Out uint8

// The values are the datapath's enum route_out.
const (
	OutUnknown Out = iota // not a router, or the FIB could not say
	OutIface              // forwarded out of an interface
	OutLocal              // to the router itself: "Local"
	OutNull               // dropped by a blackhole/unreachable route: "Null"
)

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
	// Egress: the packets were counted as they left OutIfIndex (TC
	// egress, IPFIX flowDirection 1), not as they entered InIfIndex.
	Egress bool
	// Overflow: an aggregate of the flows that found the kernel's slot
	// full, by protocol, interface, direction and the source and
	// destination prefixes (SrcAddr, DstAddr: /24 or /64, ports 0). It
	// ends with EndLackOfResources, as Cisco's emergency expiry.
	Overflow bool

	// Forward direction (the initiator's, in bidirectional mode).
	Packets, Bytes uint64
	TCPFlags       uint8
	Start, End     time.Time

	// Reverse direction; set only when Bidirectional. A biflow whose
	// reverse side sent nothing in this record has zero Rev counters and
	// zero (IsZero) RevStart/RevEnd. One whose forward side sent nothing
	// (possible after an active timeout) has zero forward counters and
	// Start/End spanning the reverse packets. RevToS and RevIfIndex are
	// the reverse direction's own ToS and capture interface (0 until it
	// was seen): directions pair whatever these are. On a mirror port
	// OutIfIndex is RevIfIndex, the interface the forward direction
	// leaves by, when that is not the input.
	Bidirectional        bool
	RevPackets, RevBytes uint64
	RevTCPFlags          uint8
	RevStart, RevEnd     time.Time
	RevToS               uint8
	RevIfIndex           uint32

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
	Out              Out // OutIface, OutLocal, OutNull on a router; OutIfIndex is 0 unless OutIface or a biflow's RevIfIndex

	// AppID is the RFC 6759 applicationId; 0 while unclassified. It
	// holds the classification engine in its top byte and a 3-byte
	// selector, the 4 bytes IE 95 carries: AppIDOf makes one from an
	// nDPI application, App reads it back.
	AppID uint32
	// AppKind says how the application was known; AppServer is the
	// server name the payload gave (TLS/QUIC SNI, HTTP Host, DNS query
	// name), "" when none.
	AppKind   AppKind
	AppServer string
}

// AppKind says how a record's application was found; the values are
// those of the classifier's verdict kinds (probe/classify.Kind).
type AppKind uint8

const (
	AppUnknown   AppKind = iota // no verdict
	AppPayload                  // the payload matched the protocol
	AppPortGuess                // a well-known port only
	AppProtocol                 // the IP protocol number (ICMP, GRE …)
)

func (k AppKind) String() string {
	switch k {
	case AppPayload:
		return "payload"
	case AppPortGuess:
		return "port-guess"
	case AppProtocol:
		return "protocol"
	}
	return "unknown"
}

// AppIDOf is the applicationId of an nDPI application: engine
// app.EngineNDPI (22), the nDPI protocol number as selector; 0 for
// app.Unknown.
func AppIDOf(id app.ID) uint32 {
	if id == app.Unknown {
		return 0
	}
	return app.EngineNDPI<<24 | uint32(id)
}

// App is the nDPI application r.AppID names, app.Unknown when it is 0 or
// of another classification engine.
func (r *Record) App() app.ID {
	if r.AppID>>24 != app.EngineNDPI || r.AppID&0xffffff > 0xffff {
		return app.Unknown
	}
	return app.ID(r.AppID & 0xffff)
}

// IsICMP says the record is an ICMP or ICMPv6 flow, whose DstPort holds
// type<<8 | code (the Cisco convention).
func (r *Record) IsICMP() bool { return r.Proto == protoICMP || r.Proto == protoICMPv6 }

// Key is the datapath key of the record's forward direction (RevKey is
// the reverse direction's).
func (r *Record) Key() bpf.FlowKey {
	return bpf.FlowKey{
		SrcAddr: r.SrcAddr.As16(), DstAddr: r.DstAddr.As16(), SrcPort: r.SrcPort, DstPort: r.DstPort,
		Proto: r.Proto, Tos: r.ToS, IpVersion: r.IPVersion, Ifindex: r.InIfIndex, VlanId: r.VLAN, InnerVlanId: r.InnerVLAN,
		Direction: direction(r.Egress, r.Overflow),
	}
}

// RevKey is the datapath key of a biflow's reverse direction: the mirror
// of Key with the reverse direction's ToS and interface. ok is false for
// a one-way record and for flows that have no reverse (ReverseKey).
func (r *Record) RevKey() (k bpf.FlowKey, ok bool) {
	k, ok = ReverseKey(r.Key())
	if !ok || !r.Bidirectional {
		return k, false
	}
	k.Tos, k.Ifindex = r.RevToS, r.RevIfIndex
	return k, true
}

func direction(egress, overflow bool) uint8 {
	d := uint8(bpf.DirIngress)
	if egress {
		d = uint8(bpf.DirEgress)
	}
	if overflow {
		d |= bpf.FlowOverflow
	}
	return d
}

// OverflowBits is the prefix length of an overflow record's addresses.
func (r *Record) OverflowBits() uint8 {
	if r.SrcAddr.Is4() {
		return 24
	}
	return 64
}

// ClampMasks keeps an overflow record's masks within its prefixes: a route
// longer than the prefix says nothing of the aggregate, and where no route
// is known the prefix itself is the mask.
func (r *Record) ClampMasks() {
	if !r.Overflow {
		return
	}
	p := r.OverflowBits()
	if r.SrcMask == 0 || r.SrcMask > p {
		r.SrcMask = p
	}
	if r.DstMask == 0 || r.DstMask > p {
		r.DstMask = p
	}
}
