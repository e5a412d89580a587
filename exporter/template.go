package exporter

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/spanflow/spanflow/cache"
)

// Information element numbers used by the v9 and IPFIX encoders and read by
// the Decoder. Below 128 the NetFlow v9 field types (RFC 3954 §8) and the
// IPFIX information elements (IANA "IPFIX Information Elements") agree, so
// one table serves both; the IPFIX name follows each v9 name.
const (
	ieInBytes         = 1   // IN_BYTES / octetDeltaCount
	ieInPkts          = 2   // IN_PKTS / packetDeltaCount
	ieProtocol        = 4   // PROTOCOL / protocolIdentifier
	ieSrcToS          = 5   // SRC_TOS / ipClassOfService
	ieTCPFlags        = 6   // TCP_FLAGS / tcpControlBits
	ieL4SrcPort       = 7   // L4_SRC_PORT / sourceTransportPort
	ieIPv4SrcAddr     = 8   // IPV4_SRC_ADDR / sourceIPv4Address
	ieSrcMask         = 9   // SRC_MASK / sourceIPv4PrefixLength
	ieInputSNMP       = 10  // INPUT_SNMP / ingressInterface
	ieL4DstPort       = 11  // L4_DST_PORT / destinationTransportPort
	ieIPv4DstAddr     = 12  // IPV4_DST_ADDR / destinationIPv4Address
	ieDstMask         = 13  // DST_MASK / destinationIPv4PrefixLength
	ieOutputSNMP      = 14  // OUTPUT_SNMP / egressInterface
	ieIPv4NextHop     = 15  // IPV4_NEXT_HOP / ipNextHopIPv4Address
	ieSrcAS           = 16  // SRC_AS / bgpSourceAsNumber
	ieDstAS           = 17  // DST_AS / bgpDestinationAsNumber
	ieLastSwitched    = 21  // LAST_SWITCHED / flowEndSysUpTime
	ieFirstSwitched   = 22  // FIRST_SWITCHED / flowStartSysUpTime
	ieOutBytes        = 23  // OUT_BYTES / postOctetDeltaCount
	ieOutPkts         = 24  // OUT_PKTS / postPacketDeltaCount
	ieIPv6SrcAddr     = 27  // IPV6_SRC_ADDR / sourceIPv6Address
	ieIPv6DstAddr     = 28  // IPV6_DST_ADDR / destinationIPv6Address
	ieIPv6SrcMask     = 29  // IPV6_SRC_MASK / sourceIPv6PrefixLength
	ieIPv6DstMask     = 30  // IPV6_DST_MASK / destinationIPv6PrefixLength
	ieICMPType        = 32  // ICMP_TYPE / icmpTypeCodeIPv4: type<<8 | code
	ieSamplingIntvl   = 34  // SAMPLING_INTERVAL / samplingInterval
	ieSamplingAlgo    = 35  // SAMPLING_ALGORITHM / samplingAlgorithm
	ieSamplerID       = 48  // FLOW_SAMPLER_ID / samplerId
	ieSamplerMode     = 49  // FLOW_SAMPLER_MODE / samplerMode
	ieSamplerInterval = 50  // FLOW_SAMPLER_RANDOM_INTERVAL / samplerRandomInterval
	ieSrcVLAN         = 58  // SRC_VLAN / vlanId
	ieIPVersion       = 60  // IP_PROTOCOL_VERSION / ipVersion
	ieDirection       = 61  // DIRECTION / flowDirection
	ieIPv6NextHop     = 62  // IPV6_NEXT_HOP / ipNextHopIPv6Address
	ieIfName          = 82  // IF_NAME / interfaceName
	ieIfDesc          = 83  // IF_DESC / interfaceDescription
	ieAppDesc         = 94  // APPLICATION_DESCRIPTION / applicationDescription
	ieAppID           = 95  // APPLICATION_ID / applicationId (RFC 6759)
	ieAppName         = 96  // APPLICATION_NAME / applicationName
	ieFlowEndReason   = 136 // flowEndReason
	ieICMPTypeIPv6    = 139 // icmpTypeCodeIPv6
	ieObsDomainID     = 149 // observationDomainId
	ieFlowStartSec    = 150 // flowStartSeconds
	ieFlowEndSec      = 151 // flowEndSeconds
	ieFlowStartMs     = 152 // flowStartMilliseconds
	ieFlowEndMs       = 153 // flowEndMilliseconds
	ieSelectorID      = 302 // selectorId (RFC 5477)
	ieSelectorAlgo    = 304 // selectorAlgorithm (IANA PSAMP registry)
	ieSamplingPktIntv = 305 // samplingPacketInterval
	ieSamplingPktSpc  = 306 // samplingPacketSpace
	ieSamplingSize    = 309 // samplingSize
	ieSamplingPop     = 310 // samplingPopulation

	// v9 options scope types (RFC 3954 §6.1).
	v9ScopeSystem    = 1
	v9ScopeInterface = 2

	// penReverse is the private enterprise number RFC 5103 assigns to
	// reverse information elements of biflows.
	penReverse = 29305

	// varLen is the IPFIX field length of a variable-length element.
	varLen = 0xffff
)

// Sampling algorithm codes: v9 SAMPLING_ALGORITHM / FLOW_SAMPLER_MODE
// (1 deterministic, 2 random) and PSAMP selectorAlgorithm (1 systematic
// count-based, 3 random n-out-of-N).
const (
	samplingDeterministic = 1
	samplingRandom        = 2
	selectorSystematic    = 1
	selectorRandomNofN    = 3
)

// Fixed string lengths in options data (Cisco's interface table sizes);
// longer names are truncated, shorter ones padded with zeros.
const (
	v9IfNameLen  = 32
	v9IfDescLen  = 64
	v9AppNameLen = v9IfNameLen
	v9AppDescLen = v9IfDescLen
)

// fieldKind names the cache.Record value an information element carries,
// for the encoders (which write it) and the Decoder (which reads it).
type fieldKind uint8

const (
	kIgnore fieldKind = iota
	kBytes
	kPackets
	kRevBytes
	kRevPackets
	kProto
	kToS
	kTCPFlags
	kTCPFlagsBoth // v9 biflow: both directions' flags ORed
	kRevTCPFlags
	kSrcPort
	kDstPort
	kICMPTypeCode // ICMP/ICMPv6 flows: DstPort; else 0
	kSrcAddr4
	kDstAddr4
	kSrcAddr6
	kDstAddr6
	kSrcMask
	kDstMask
	kInIf
	kOutIf
	kNextHop4
	kNextHop6
	kSrcAS
	kDstAS
	kFirstUptime // ms since the exporter's boot (v9 FIRST_SWITCHED)
	kLastUptime
	kStartSec // Unix seconds
	kEndSec
	kStartMs // Unix milliseconds
	kEndMs
	kRevStartMs
	kRevEndMs
	kVLAN
	kIPVersion
	kDirection
	kEndReason
	kAppID
)

// ie is one field of a template: element id, length on the wire,
// enterprise number (0 = IANA) and what it carries.
type ie struct {
	id     uint16
	length uint16
	pen    uint32
	kind   fieldKind
}

// Interface names one of the exporter's interfaces for the interface
// options template (IF_NAME 82, IF_DESC 83), so collectors can label
// INPUT_SNMP/OUTPUT_SNMP values.
type Interface struct {
	Index       uint32
	Name        string
	Description string
}

// Application maps an applicationId (RFC 6759) to a name, for the
// application options template (APPLICATION_NAME 96, DESCRIPTION 94).
type Application struct {
	ID          uint32
	Name        string
	Description string
}

// TemplateOptions are the v9/IPFIX settings Settings does not carry.
type TemplateOptions struct {
	// FirstTemplateID is the ID of the first template; 0 means 256.
	// The encoders use 9 consecutive IDs from there: four flow templates,
	// three sampling options templates, interface and application options.
	FirstTemplateID uint16
	// IPv6Transport says the collector is reached over IPv6, whose IP and
	// UDP headers take 48 bytes instead of 28: datagrams shrink to match.
	IPv6Transport bool
	// AppID adds applicationId (95) to the flow templates; set it when
	// classification is on.
	AppID bool
	// Interfaces and Applications go out in options data with every
	// template refresh.
	Interfaces   []Interface
	Applications []Application
}

func (o TemplateOptions) firstID() uint16 {
	if o.FirstTemplateID < 256 {
		return 256
	}
	return o.FirstTemplateID
}

// payloadLimit is Settings.payloadLimit corrected for an IPv6 collector.
func (o TemplateOptions) payloadLimit(s Settings) int {
	n := s.payloadLimit()
	if o.IPv6Transport {
		n -= 20
	}
	return n
}

// flow template variants, indexed by flowVariant.
const (
	variantV6 = 1 << iota
	variantBi
	numVariants = 4
)

func flowVariant(r *cache.Record) int {
	v := 0
	if isV6(r) {
		v |= variantV6
	}
	if r.Bidirectional {
		v |= variantBi
	}
	return v
}

func isV6(r *cache.Record) bool {
	switch r.IPVersion {
	case 4:
		return false
	case 6:
		return true
	}
	return r.SrcAddr.Is6() && !r.SrcAddr.Is4In6()
}

// The ICMP type/code element precedes L4_DST_PORT in both formats: nfdump
// stores either into the destination port, so for protocols other than
// TCP, UDP and ICMP the port must come last to survive.

// v9FlowFields lists the fields of a v9 flow template. Counters are 8
// bytes so no flow wraps them; a biflow carries the reverse direction in
// OUT_BYTES/OUT_PKTS and its times and flags cover both directions.
func v9FlowFields(v6, bi, app bool) []ie {
	f := []ie{
		{ieInBytes, 8, 0, kBytes},
		{ieInPkts, 8, 0, kPackets},
	}
	if bi {
		f = append(f, ie{ieOutBytes, 8, 0, kRevBytes}, ie{ieOutPkts, 8, 0, kRevPackets})
	}
	f = append(f,
		ie{ieFirstSwitched, 4, 0, kFirstUptime},
		ie{ieLastSwitched, 4, 0, kLastUptime},
	)
	f = append(f, addrFields(v6)...)
	f = append(f,
		ie{ieL4SrcPort, 2, 0, kSrcPort},
		ie{ieICMPType, 2, 0, kICMPTypeCode}, // v9 uses 32 for ICMPv6 too
		ie{ieL4DstPort, 2, 0, kDstPort},
		ie{ieInputSNMP, 4, 0, kInIf},
		ie{ieOutputSNMP, 4, 0, kOutIf},
		ie{ieSrcAS, 4, 0, kSrcAS},
		ie{ieDstAS, 4, 0, kDstAS},
		ie{ieSrcVLAN, 2, 0, kVLAN},
		ie{ieProtocol, 1, 0, kProto},
		ie{ieSrcToS, 1, 0, kToS},
		ie{ieTCPFlags, 1, 0, kTCPFlagsBoth},
	)
	f = append(f, maskFields(v6)...)
	f = append(f,
		ie{ieIPVersion, 1, 0, kIPVersion},
		ie{ieDirection, 1, 0, kDirection},
		ie{ieFlowEndReason, 1, 0, kEndReason},
	)
	if app {
		f = append(f, ie{ieAppID, 4, 0, kAppID})
	}
	return f
}

// ipfixFlowFields lists the fields of an IPFIX flow template: absolute
// millisecond times, and for biflows the RFC 5103 reverse elements.
func ipfixFlowFields(v6, bi, app bool) []ie {
	f := []ie{
		{ieInBytes, 8, 0, kBytes},
		{ieInPkts, 8, 0, kPackets},
		{ieFlowStartMs, 8, 0, kStartMs},
		{ieFlowEndMs, 8, 0, kEndMs},
	}
	f = append(f, addrFields(v6)...)
	icmp := ie{ieICMPType, 2, 0, kICMPTypeCode}
	if v6 {
		icmp.id = ieICMPTypeIPv6
	}
	f = append(f,
		ie{ieL4SrcPort, 2, 0, kSrcPort},
		icmp,
		ie{ieL4DstPort, 2, 0, kDstPort},
		ie{ieInputSNMP, 4, 0, kInIf},
		ie{ieOutputSNMP, 4, 0, kOutIf},
		ie{ieSrcAS, 4, 0, kSrcAS},
		ie{ieDstAS, 4, 0, kDstAS},
		ie{ieSrcVLAN, 2, 0, kVLAN},
		// tcpControlBits is unsigned16 since RFC 7125; the reduced-size
		// encoding (RFC 7011 §6.2) of 1 byte loses nothing of our 8-bit
		// flags, and pmacct 1.7 reads only that size.
		ie{ieTCPFlags, 1, 0, kTCPFlags},
		ie{ieProtocol, 1, 0, kProto},
		ie{ieSrcToS, 1, 0, kToS},
	)
	f = append(f, maskFields(v6)...)
	f = append(f,
		ie{ieIPVersion, 1, 0, kIPVersion},
		ie{ieDirection, 1, 0, kDirection},
		ie{ieFlowEndReason, 1, 0, kEndReason},
	)
	if app {
		f = append(f, ie{ieAppID, 4, 0, kAppID})
	}
	if bi {
		f = append(f,
			ie{ieInBytes, 8, penReverse, kRevBytes},
			ie{ieInPkts, 8, penReverse, kRevPackets},
			ie{ieFlowStartMs, 8, penReverse, kRevStartMs},
			ie{ieFlowEndMs, 8, penReverse, kRevEndMs},
			ie{ieTCPFlags, 1, penReverse, kRevTCPFlags},
		)
	}
	return f
}

func addrFields(v6 bool) []ie {
	if v6 {
		return []ie{
			{ieIPv6SrcAddr, 16, 0, kSrcAddr6},
			{ieIPv6DstAddr, 16, 0, kDstAddr6},
			{ieIPv6NextHop, 16, 0, kNextHop6},
		}
	}
	return []ie{
		{ieIPv4SrcAddr, 4, 0, kSrcAddr4},
		{ieIPv4DstAddr, 4, 0, kDstAddr4},
		{ieIPv4NextHop, 4, 0, kNextHop4},
	}
}

func maskFields(v6 bool) []ie {
	if v6 {
		return []ie{{ieIPv6SrcMask, 1, 0, kSrcMask}, {ieIPv6DstMask, 1, 0, kDstMask}}
	}
	return []ie{{ieSrcMask, 1, 0, kSrcMask}, {ieDstMask, 1, 0, kDstMask}}
}

func recordLen(fields []ie) int {
	n := 0
	for _, f := range fields {
		n += int(f.length)
	}
	return n
}

// timeRef is what relative time fields are measured against.
type timeRef struct {
	bootMs int64 // Settings.Boot in Unix ms
}

func (t timeRef) uptime(at time.Time) uint32 {
	if at.IsZero() {
		return 0
	}
	d := at.UnixMilli() - t.bootMs
	if d < 0 {
		return 0
	}
	return uint32(d) // wraps after 49.7 days, as sysUptime does
}

func unixMs(at time.Time) uint64 {
	if at.IsZero() {
		return 0
	}
	return uint64(at.UnixMilli())
}

// putFields writes r's values for fields into b, which holds at least
// recordLen(fields) bytes. v9 biflows fold both directions' times and
// flags into the one set of fields v9 has.
func putFields(b []byte, fields []ie, r *cache.Record, ref timeRef) {
	for i := range fields {
		f := &fields[i]
		n := int(f.length)
		switch f.kind {
		case kBytes:
			binary.BigEndian.PutUint64(b, r.Bytes)
		case kPackets:
			binary.BigEndian.PutUint64(b, r.Packets)
		case kRevBytes:
			binary.BigEndian.PutUint64(b, r.RevBytes)
		case kRevPackets:
			binary.BigEndian.PutUint64(b, r.RevPackets)
		case kProto:
			b[0] = r.Proto
		case kToS:
			b[0] = r.ToS
		case kTCPFlags:
			putUint(b[:n], uint64(r.TCPFlags))
		case kTCPFlagsBoth:
			fl := r.TCPFlags
			if r.Bidirectional {
				fl |= r.RevTCPFlags
			}
			putUint(b[:n], uint64(fl))
		case kRevTCPFlags:
			putUint(b[:n], uint64(r.RevTCPFlags))
		case kSrcPort:
			binary.BigEndian.PutUint16(b, r.SrcPort)
		case kDstPort:
			binary.BigEndian.PutUint16(b, r.DstPort)
		case kICMPTypeCode:
			v := uint16(0)
			if r.Proto == 1 || r.Proto == 58 {
				v = r.DstPort
			}
			binary.BigEndian.PutUint16(b, v)
		case kSrcAddr4:
			put4(b, r.SrcAddr)
		case kDstAddr4:
			put4(b, r.DstAddr)
		case kNextHop4:
			put4(b, r.NextHop)
		case kSrcAddr6:
			put16(b, r.SrcAddr)
		case kDstAddr6:
			put16(b, r.DstAddr)
		case kNextHop6:
			put16(b, r.NextHop)
		case kSrcMask:
			b[0] = r.SrcMask
		case kDstMask:
			b[0] = r.DstMask
		case kInIf:
			binary.BigEndian.PutUint32(b, r.InIfIndex)
		case kOutIf:
			binary.BigEndian.PutUint32(b, r.OutIfIndex)
		case kSrcAS:
			binary.BigEndian.PutUint32(b, r.SrcAS)
		case kDstAS:
			binary.BigEndian.PutUint32(b, r.DstAS)
		case kFirstUptime:
			binary.BigEndian.PutUint32(b, ref.uptime(biStart(r)))
		case kLastUptime:
			binary.BigEndian.PutUint32(b, ref.uptime(biEnd(r)))
		case kStartMs:
			binary.BigEndian.PutUint64(b, unixMs(r.Start))
		case kEndMs:
			binary.BigEndian.PutUint64(b, unixMs(r.End))
		case kRevStartMs:
			binary.BigEndian.PutUint64(b, unixMs(r.RevStart))
		case kRevEndMs:
			binary.BigEndian.PutUint64(b, unixMs(r.RevEnd))
		case kVLAN:
			binary.BigEndian.PutUint16(b, r.VLAN)
		case kIPVersion:
			if isV6(r) {
				b[0] = 6
			} else {
				b[0] = 4
			}
		case kDirection:
			b[0] = 0 // ingress: a probe meters what it receives
		case kEndReason:
			b[0] = uint8(r.EndReason)
		case kAppID:
			binary.BigEndian.PutUint32(b, r.AppID)
		default:
			clear(b[:n])
		}
		b = b[n:]
	}
}

// biStart and biEnd are the times a v9 record carries: for a biflow the
// span of both directions.
func biStart(r *cache.Record) time.Time {
	if r.Bidirectional && !r.RevStart.IsZero() && (r.Start.IsZero() || r.RevStart.Before(r.Start)) {
		return r.RevStart
	}
	return r.Start
}

func biEnd(r *cache.Record) time.Time {
	if r.Bidirectional && r.RevEnd.After(r.End) {
		return r.RevEnd
	}
	return r.End
}

func putUint(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func put4(b []byte, a netip.Addr) {
	a = a.Unmap()
	if !a.Is4() {
		clear(b[:4])
		return
	}
	v := a.As4()
	copy(b, v[:])
}

func put16(b []byte, a netip.Addr) {
	if !a.IsValid() {
		clear(b[:16])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

// putString writes s into a fixed-length v9 field, truncated at a rune
// boundary and padded with zeros.
func putString(b []byte, s string) {
	n := copy(b, truncString(s, len(b)))
	clear(b[n:])
}

func truncString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
