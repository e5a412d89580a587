package exporter

import (
	"time"

	"github.com/spanflow/spanflow/cache"
)

// DefaultMTU is the largest IP packet an export datagram may become,
// IP and UDP headers included, so it is never fragmented on Ethernet.
const DefaultMTU = 1500

// Encoder packs records into export datagrams of one NetFlow/IPFIX
// version. An Encoder is one export stream: it owns that stream's
// sequence numbers and template state, so each collector gets its own.
// Encoders are deterministic: the same records, times and settings give
// the same bytes.
type Encoder interface {
	// Encode packs recs into as few datagrams as fit the MTU, templates
	// first where due, and calls emit with each one. emit must not keep
	// the slice: the encoder reuses it.
	Encode(now time.Time, recs []cache.Record, emit func(datagram []byte)) error
}

// Settings are what every encoder takes from the command line.
type Settings struct {
	MTU        int       // IP packet size limit; 0 means DefaultMTU
	Boot       time.Time // what sysUptime counts from (the exporter's start)
	EngineType uint8     // v5/v7/v8 engine type
	EngineID   uint8     // v5/v7/v8 engine id
	SourceID   uint32    // v9 source id / IPFIX observation domain id

	// IPv6Transport says the collector is reached over IPv6, whose IP and
	// UDP headers take 48 bytes instead of 28: every version's datagrams
	// shrink to match.
	IPv6Transport bool

	// Sampling advertised to collectors (v5 header, v9/IPFIX options).
	SamplingInterval uint32 // N of 1-in-N; 0 or 1 = unsampled
	SamplingRandom   bool

	// v9/IPFIX template refresh: every N datagrams and every T.
	TemplateRefreshPackets int           // Cisco default 20
	TemplateRefreshTimeout time.Duration // Cisco default 30 min
}

// payloadLimit is the largest export payload that keeps the IP packet
// within the MTU over IPv4 (20-byte IP + 8-byte UDP header).
func (s Settings) payloadLimit() int {
	mtu := s.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if s.IPv6Transport {
		return mtu - ipv6UDPHeaderLen
	}
	return mtu - ipv4UDPHeaderLen
}

// Headers an export datagram travels under.
const (
	ipv4UDPHeaderLen = 20 + 8
	ipv6UDPHeaderLen = 40 + 8
)
