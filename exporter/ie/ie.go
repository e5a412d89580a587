package ie

import (
	"encoding/binary"

	"github.com/spanflow/spanflow/cache"
)

// Information element numbers used by the v9 and IPFIX encoders and read by
// the Decoder. Below 128 the NetFlow v9 field types (RFC 3954 §8) and the
// IPFIX information elements (IANA "IPFIX Information Elements") agree, so
// one table serves both; the IPFIX name follows each v9 name.
const (
	InBytes         = 1   // IN_BYTES / octetDeltaCount
	InPkts          = 2   // IN_PKTS / packetDeltaCount
	Protocol        = 4   // PROTOCOL / protocolIdentifier
	SrcToS          = 5   // SRC_TOS / ipClassOfService
	TCPFlags        = 6   // TCP_FLAGS / tcpControlBits
	L4SrcPort       = 7   // L4_SRC_PORT / sourceTransportPort
	IPv4SrcAddr     = 8   // IPV4_SRC_ADDR / sourceIPv4Address
	SrcMask         = 9   // SRC_MASK / sourceIPv4PrefixLength
	InputSNMP       = 10  // INPUT_SNMP / ingressInterface
	L4DstPort       = 11  // L4_DST_PORT / destinationTransportPort
	IPv4DstAddr     = 12  // IPV4_DST_ADDR / destinationIPv4Address
	DstMask         = 13  // DST_MASK / destinationIPv4PrefixLength
	OutputSNMP      = 14  // OUTPUT_SNMP / egressInterface
	IPv4NextHop     = 15  // IPV4_NEXT_HOP / ipNextHopIPv4Address
	SrcAS           = 16  // SRC_AS / bgpSourceAsNumber
	DstAS           = 17  // DST_AS / bgpDestinationAsNumber
	LastSwitched    = 21  // LAST_SWITCHED / flowEndSysUpTime
	FirstSwitched   = 22  // FIRST_SWITCHED / flowStartSysUpTime
	OutBytes        = 23  // OUT_BYTES / postOctetDeltaCount
	OutPkts         = 24  // OUT_PKTS / postPacketDeltaCount
	IPv6SrcAddr     = 27  // IPV6_SRC_ADDR / sourceIPv6Address
	IPv6DstAddr     = 28  // IPV6_DST_ADDR / destinationIPv6Address
	IPv6SrcMask     = 29  // IPV6_SRC_MASK / sourceIPv6PrefixLength
	IPv6DstMask     = 30  // IPV6_DST_MASK / destinationIPv6PrefixLength
	ICMPType        = 32  // ICMP_TYPE / icmpTypeCodeIPv4: type<<8 | code
	SamplingIntvl   = 34  // SAMPLING_INTERVAL / samplingInterval
	SamplingAlgo    = 35  // SAMPLING_ALGORITHM / samplingAlgorithm
	SamplerID       = 48  // FLOW_SAMPLER_ID / samplerId
	SamplerMode     = 49  // FLOW_SAMPLER_MODE / samplerMode
	SamplerInterval = 50  // FLOW_SAMPLER_RANDOM_INTERVAL / samplerRandomInterval
	SrcVLAN         = 58  // SRC_VLAN / vlanId
	IPVersion       = 60  // IP_PROTOCOL_VERSION / ipVersion
	Direction       = 61  // DIRECTION / flowDirection
	IPv6NextHop     = 62  // IPV6_NEXT_HOP / ipNextHopIPv6Address
	IfName          = 82  // IF_NAME / interfaceName
	IfDesc          = 83  // IF_DESC / interfaceDescription
	AppDesc         = 94  // APPLICATION_DESCRIPTION / applicationDescription
	AppID           = 95  // APPLICATION_ID / applicationId (RFC 6759)
	AppName         = 96  // APPLICATION_NAME / applicationName
	FlowEndReason   = 136 // flowEndReason
	ICMPTypeIPv6    = 139 // icmpTypeCodeIPv6
	ObsDomainID     = 149 // observationDomainId
	FlowStartSec    = 150 // flowStartSeconds
	FlowEndSec      = 151 // flowEndSeconds
	FlowStartMs     = 152 // flowStartMilliseconds
	FlowEndMs       = 153 // flowEndMilliseconds
	SelectorID      = 302 // selectorId (RFC 5477)
	SelectorAlgo    = 304 // selectorAlgorithm (IANA PSAMP registry)
	SamplingPktIntv = 305 // samplingPacketInterval
	SamplingPktSpc  = 306 // samplingPacketSpace
	SamplingSize    = 309 // samplingSize
	SamplingPop     = 310 // samplingPopulation

	// v9 options scope types (RFC 3954 §6.1).
	ScopeSystem    = 1
	ScopeInterface = 2

	// PENReverse is the private enterprise number RFC 5103 assigns to
	// reverse information elements of biflows.
	PENReverse = 29305

	// VarLen is the IPFIX field length of a variable-length element.
	VarLen = 0xffff
)

// nProbe's elements (ntop, PEN 35632), which ntopng reads from nProbe. In
// IPFIX they are enterprise elements of PEN 35632; in v9, which has no
// enterprise numbers, nProbe numbers them NtopV9Base + id.
const (
	PENNtop         = 35632
	NtopV9Base      = 57472
	NtopL7Proto     = 118 // L7_PROTO: nDPI protocol id, 2 bytes
	NtopL7ProtoName = 119 // L7_PROTO_NAME
	NtopHTTPHost    = 187 // HTTP_HOST
	NtopSSLServer   = 188 // SSL_SERVER_NAME: TLS/QUIC/DTLS SNI
	NtopDNSQuery    = 205 // DNS_QUERY
)

// Lengths of the ntop string elements in v9, which has no variable-length
// fields: longer values are truncated, shorter ones zero-padded. nProbe's
// own defaults are 16 (L7_PROTO_NAME), 64 (HTTP_HOST), 48
// (SSL_SERVER_NAME) and 256 (DNS_QUERY); nDPI names reach 20 bytes, so the
// name gets the options table's 32, and every server name gets 64 — most
// names fit, and since each v9 record carries all three, 256 for DNS
// alone would quadruple the record. IPFIX sends them variable-length,
// whole (server names are at most 255 bytes).
const (
	NtopL7NameLen = AppNameLen
	NtopServerLen = 64
)

// Sampling algorithm codes: v9 SAMPLING_ALGORITHM / FLOW_SAMPLER_MODE
// (1 deterministic, 2 random) and PSAMP selectorAlgorithm (1 systematic
// count-based, 3 random n-out-of-N).
const (
	SamplingDeterministic = 1
	SamplingRandom        = 2
	SelectorSystematic    = 1
	SelectorRandomNofN    = 3
	SelectorRandomUniform = 4 // uniform probabilistic (PSAMP): random too, as a reader sees it
)

// Fixed string lengths in options data (Cisco's interface table sizes);
// longer names are truncated, shorter ones padded with zeros.
const (
	IfNameLen  = 32
	IfDescLen  = 64
	AppNameLen = IfNameLen
	AppDescLen = IfDescLen
)

// Kind names the cache.Record value an information element carries,
// for the encoders (which write it) and the Decoder (which reads it).
type Kind uint8

const (
	KindIgnore Kind = iota
	KindBytes
	KindPackets
	KindRevBytes
	KindRevPackets
	KindProto
	KindToS
	KindTCPFlags
	KindTCPFlagsBoth // v9 biflow: both directions' flags ORed
	KindRevTCPFlags
	KindRevToS // the reverse direction's own ToS (a biflow's directions pair whatever theirs)
	KindSrcPort
	KindDstPort
	KindICMPTypeCode // ICMP/ICMPv6 flows: DstPort; else 0
	KindSrcAddr4
	KindDstAddr4
	KindSrcAddr6
	KindDstAddr6
	KindSrcMask
	KindDstMask
	KindInIf
	KindOutIf
	KindNextHop4
	KindNextHop6
	KindSrcAS
	KindDstAS
	KindFirstUptime // ms since the exporter's boot (v9 FIRST_SWITCHED)
	KindLastUptime
	KindStartSec // Unix seconds
	KindEndSec
	KindStartMs // Unix milliseconds
	KindEndMs
	KindRevStartMs
	KindRevEndMs
	KindVLAN
	KindIPVersion
	KindDirection
	KindEndReason
	KindAppID
	KindL7Proto   // ntop L7_PROTO: the nDPI id of AppID
	KindL7Name    // ntop L7_PROTO_NAME: its nDPI name
	KindHTTPHost  // ntop HTTP_HOST: AppServer of an HTTP-like flow
	KindSSLServer // ntop SSL_SERVER_NAME: AppServer of a TLS-like flow
	KindDNSQuery  // ntop DNS_QUERY: AppServer of a DNS-like flow
)

// V8HeaderLen is the length of the NetFlow v8 header, the same for every
// aggregation scheme.
const V8HeaderLen = 28

// V8Layouts holds each v8 aggregation scheme's record length and how many
// records one datagram holds at most (Cisco's limits).
var V8Layouts = [...]struct{ RecordLen, MaxRecords int }{
	cache.SchemeAS:                   {28, 51},
	cache.SchemeProtocolPort:         {28, 51},
	cache.SchemeSourcePrefix:         {32, 44},
	cache.SchemeDestinationPrefix:    {32, 44},
	cache.SchemePrefix:               {40, 35},
	cache.SchemeDestination:          {32, 44},
	cache.SchemeSourceDestination:    {40, 35},
	cache.SchemeFullFlow:             {44, 32},
	cache.SchemeASToS:                {32, 44},
	cache.SchemeProtocolPortToS:      {32, 44},
	cache.SchemeSourcePrefixToS:      {32, 44},
	cache.SchemeDestinationPrefixToS: {32, 44},
	cache.SchemePrefixToS:            {40, 35},
	cache.SchemePrefixPort:           {40, 35},
}

// Interface names one of the exporter's interfaces for the interface
// options template (IF_NAME 82, IF_DESC 83), so collectors can label
// INPUT_SNMP/OUTPUT_SNMP values.
type Interface struct {
	Index       uint32
	Name        string
	Description string
}

// AppIDLen is the length spanflow gives applicationId on the wire: the
// RFC 6759 classification engine id (1 byte) and a 4-byte selector id.
// RFC 6759 leaves the selector's length to the field length; pmacct 1.7
// reads applicationId only when it is 2, 3 or 5 bytes long, so the 3-byte
// selector of the 4-byte form (cache.Record.AppID) goes out as 4 bytes.
const AppIDLen = 5

// PutAppID writes id (engine<<24 | selector, cache.Record.AppID's form) as
// AppIDLen bytes: the engine, then the selector as a 4-byte number.
func PutAppID(b []byte, id uint32) {
	b[0] = byte(id >> 24)
	binary.BigEndian.PutUint32(b[1:], id&0xffffff)
}

// ParseAppID reads an applicationId of any length back into the 4-byte
// form: the engine byte, then the selector's low 3 bytes.
func ParseAppID(v []byte) uint32 {
	if len(v) == 0 {
		return 0
	}
	var sel uint32
	for _, c := range v[1:] {
		sel = sel<<8 | uint32(c)
	}
	return uint32(v[0])<<24 | sel&0xffffff
}

// Application maps an applicationId (RFC 6759) to a name, for the
// application options template (APPLICATION_NAME 96, DESCRIPTION 94).
type Application struct {
	ID          uint32
	Name        string
	Description string
}
