package exporter

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/ie"
)

// NetFlow v8 (Cisco router-based aggregation): a 28-byte header and
// records whose layout depends on the aggregation scheme. Every
// multi-byte field is big-endian.
//
//	header  0 version=8  2 count  4 sysUptime ms  8 unix_secs  12 unix_nsecs
//	        16 flow_sequence  20 engine_type  21 engine_id  22 aggregation
//	        (scheme 1-14)  23 agg_version=2  24..27 reserved
//
// Schemes 1-5 and 9-14 open each record with 0 dFlows  4 dPkts  8 dOctets
// 12 First  16 Last; then, from byte 20:
//
//	 1 as                     20 src_as 22 dst_as 24 input 26 output                    (28 B, ≤51)
//	 2 protocol-port          20 prot 21 pad 22 reserved 24 srcport 26 dstport          (28 B, ≤51)
//	 3 source-prefix          20 src_prefix 24 src_mask 25 pad 26 src_as 28 input 30 0  (32 B, ≤44)
//	 4 destination-prefix     20 dst_prefix 24 dst_mask 25 pad 26 dst_as 28 output 30 0 (32 B, ≤44)
//	 5 prefix                 20 src_prefix 24 dst_prefix 28 dst_mask 29 src_mask
//	                          30 reserved 32 src_as 34 dst_as 36 input 38 output        (40 B, ≤35)
//	 9 as-tos                 20 src_as 22 dst_as 24 input 26 output 28 tos 29 pad 30 0 (32 B, ≤44)
//	10 protocol-port-tos      20 prot 21 tos 22 reserved 24 srcport 26 dstport
//	                          28 input 30 output                                        (32 B, ≤44)
//	11 source-prefix-tos      20 src_prefix 24 src_mask 25 tos 26 src_as 28 input 30 0  (32 B, ≤44)
//	12 destination-prefix-tos 20 dst_prefix 24 dst_mask 25 tos 26 dst_as 28 output 30 0 (32 B, ≤44)
//	13 prefix-tos             20 src_prefix 24 dst_prefix 28 dst_mask 29 src_mask 30 tos
//	                          31 pad 32 src_as 34 dst_as 36 input 38 output             (40 B, ≤35)
//	14 prefix-port            20 src_prefix 24 dst_prefix 28 dst_mask 29 src_mask 30 tos
//	                          31 prot 32 srcport 34 dstport 36 input 38 output          (40 B, ≤35)
//
// Note the mask order of schemes 5, 13 and 14: destination mask first, as
// Cisco and flow-tools define it (Wireshark reads these two bytes the
// other way round), and scheme 9's interfaces before ToS, as in Cisco's
// AS-ToS record figure (Wireshark reads ToS, pad, reserved at 24-27).
//
// The Catalyst schemes carry no dFlows; marked_tos, extra_pkts (traffic
// over a policing contract) and router_sc (the shortcut router) are zero:
//
//	6 destination            0 dstaddr 4 dPkts 8 dOctets 12 First 16 Last 20 output
//	                         22 tos 23 marked_tos 24 extra_pkts 28 router_sc           (32 B, ≤44)
//	7 source-destination     0 dstaddr 4 srcaddr 8 dPkts 12 dOctets 16 First 20 Last
//	                         24 output 26 input 28 tos 29 marked_tos 30 reserved
//	                         32 extra_pkts 36 router_sc                                (40 B, ≤35)
//	8 full-flow              0 dstaddr 4 srcaddr 8 dstport 10 srcport 12 dPkts
//	                         16 dOctets 20 First 24 Last 28 output 30 input 32 tos
//	                         33 prot 34 marked_tos 35 reserved 36 extra_pkts
//	                         40 router_sc                                              (44 B, ≤32)
const v8AggVersion = 2

// V8Encoder encodes NetFlow v8 datagrams of one aggregation scheme. It
// encodes what a cache.Aggregator hands out (EncodeAggregates); as an
// Encoder it encodes each record as an aggregate of one flow. Its flow
// sequence counts the records sent before each datagram; IPv6 flows are
// skipped and counted. It is one export stream, not safe for concurrent
// use.
type V8Encoder struct {
	s         Settings
	bootNs    int64
	scheme    cache.Scheme
	recordLen int
	buf       []byte
	per       int
	seq       uint32
	stats     LegacyStats
}

// NewV8Encoder returns a v8 encoder for scheme. It fails for an invalid
// scheme or when the MTU cannot hold one record.
func NewV8Encoder(s Settings, scheme cache.Scheme) (*V8Encoder, error) {
	if !scheme.Valid() {
		return nil, fmt.Errorf("netflow v8: aggregation scheme %d: must be 1–14", scheme)
	}
	l := ie.V8Layouts[scheme]
	per, bootNs, err := legacySetup("v8 "+scheme.String(), s, ie.V8HeaderLen, l.RecordLen, l.MaxRecords)
	if err != nil {
		return nil, err
	}
	return &V8Encoder{
		s: s, bootNs: bootNs, scheme: scheme, recordLen: l.RecordLen, per: per,
		buf: make([]byte, ie.V8HeaderLen+per*l.RecordLen),
	}, nil
}

// Scheme returns the encoder's aggregation scheme.
func (e *V8Encoder) Scheme() cache.Scheme { return e.scheme }

// Stats returns the encoder's counters.
func (e *V8Encoder) Stats() LegacyStats { return e.stats }

// Sequence returns the flow sequence the next datagram will carry.
func (e *V8Encoder) Sequence() uint32 { return e.seq }

// RecordsPerDatagram is the most records one datagram carries: the
// scheme's limit, or fewer when the MTU is smaller.
func (e *V8Encoder) RecordsPerDatagram() int { return e.per }

// Encode implements Encoder: each IPv4 record becomes an aggregate of one
// flow, projected onto the scheme's fields (prefixes masked with the
// record's masks). Use an aggregation cache and EncodeAggregates to
// aggregate as a router does.
func (e *V8Encoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	n := 0
	for i := range recs {
		r := &recs[i]
		k, ok := e.scheme.Key(r)
		if !ok {
			e.stats.Skipped++
			continue
		}
		a := cache.Aggregate{AggregateKey: k, Flows: 1, Packets: r.Packets, Bytes: r.Bytes, Start: r.Start, End: r.End}
		n = e.put(now, &a, n, emit)
	}
	if n > 0 {
		e.flush(now, n, emit)
	}
	return nil
}

// EncodeAggregates packs aggregates of the encoder's scheme into as few
// datagrams as fit, calling emit with each. emit must not keep the slice.
// Aggregates whose addresses are not IPv4 are skipped and counted.
func (e *V8Encoder) EncodeAggregates(now time.Time, aggs []cache.Aggregate, emit func([]byte)) error {
	n := 0
	for i := range aggs {
		a := &aggs[i]
		if (a.SrcAddr.IsValid() && !a.SrcAddr.Unmap().Is4()) || (a.DstAddr.IsValid() && !a.DstAddr.Unmap().Is4()) {
			e.stats.Skipped++
			continue
		}
		n = e.put(now, a, n, emit)
	}
	if n > 0 {
		e.flush(now, n, emit)
	}
	return nil
}

// put writes a (split when a counter exceeds 32 bits) as record n onward
// and returns the new record count of the datagram being filled.
func (e *V8Encoder) put(now time.Time, a *cache.Aggregate, n int, emit func([]byte)) int {
	flows := a.Flows
	switch e.scheme {
	case cache.SchemeDestination, cache.SchemeSourceDestination, cache.SchemeFullFlow:
		flows = 0 // no dFlows field
	}
	parts := legacySplitCount(a.Packets, a.Bytes, flows)
	if parts > 1 {
		e.stats.Split++
	}
	first, last := legacyUptime(a.Start, e.bootNs), legacyUptime(a.End, e.bootNs)
	for p := uint64(0); p < parts; p++ {
		b := e.buf[ie.V8HeaderLen+n*e.recordLen:][:e.recordLen]
		e.putRecord(b, a, legacyShare(flows, parts, p), legacyShare(a.Packets, parts, p), legacyShare(a.Bytes, parts, p), first, last)
		n++
		if n == e.per {
			e.flush(now, n, emit)
			n = 0
		}
	}
	return n
}

// putRecord writes one record of the encoder's scheme (see the layouts
// above).
func (e *V8Encoder) putRecord(b []byte, a *cache.Aggregate, flows, pkts, octets, first, last uint32) {
	clear(b)
	be := binary.BigEndian
	switch e.scheme {
	case cache.SchemeDestination:
		legacyPutAddr4(b[0:], a.DstAddr)
		be.PutUint32(b[4:], pkts)
		be.PutUint32(b[8:], octets)
		be.PutUint32(b[12:], first)
		be.PutUint32(b[16:], last)
		be.PutUint16(b[20:], legacyIfIndex(a.OutIfIndex))
		b[22] = a.ToS
		return
	case cache.SchemeSourceDestination:
		legacyPutAddr4(b[0:], a.DstAddr)
		legacyPutAddr4(b[4:], a.SrcAddr)
		be.PutUint32(b[8:], pkts)
		be.PutUint32(b[12:], octets)
		be.PutUint32(b[16:], first)
		be.PutUint32(b[20:], last)
		be.PutUint16(b[24:], legacyIfIndex(a.OutIfIndex))
		be.PutUint16(b[26:], legacyIfIndex(a.InIfIndex))
		b[28] = a.ToS
		return
	case cache.SchemeFullFlow:
		legacyPutAddr4(b[0:], a.DstAddr)
		legacyPutAddr4(b[4:], a.SrcAddr)
		be.PutUint16(b[8:], a.DstPort)
		be.PutUint16(b[10:], a.SrcPort)
		be.PutUint32(b[12:], pkts)
		be.PutUint32(b[16:], octets)
		be.PutUint32(b[20:], first)
		be.PutUint32(b[24:], last)
		be.PutUint16(b[28:], legacyIfIndex(a.OutIfIndex))
		be.PutUint16(b[30:], legacyIfIndex(a.InIfIndex))
		b[32] = a.ToS
		b[33] = a.Proto
		return
	}
	be.PutUint32(b[0:], flows)
	be.PutUint32(b[4:], pkts)
	be.PutUint32(b[8:], octets)
	be.PutUint32(b[12:], first)
	be.PutUint32(b[16:], last)
	switch e.scheme {
	case cache.SchemeAS, cache.SchemeASToS:
		be.PutUint16(b[20:], legacyAS16(a.SrcAS))
		be.PutUint16(b[22:], legacyAS16(a.DstAS))
		be.PutUint16(b[24:], legacyIfIndex(a.InIfIndex))
		be.PutUint16(b[26:], legacyIfIndex(a.OutIfIndex))
		if e.scheme == cache.SchemeASToS {
			b[28] = a.ToS
		}
	case cache.SchemeProtocolPort, cache.SchemeProtocolPortToS:
		b[20] = a.Proto
		be.PutUint16(b[24:], a.SrcPort)
		be.PutUint16(b[26:], a.DstPort)
		if e.scheme == cache.SchemeProtocolPortToS {
			b[21] = a.ToS
			be.PutUint16(b[28:], legacyIfIndex(a.InIfIndex))
			be.PutUint16(b[30:], legacyIfIndex(a.OutIfIndex))
		}
	case cache.SchemeSourcePrefix, cache.SchemeSourcePrefixToS:
		legacyPutAddr4(b[20:], a.SrcAddr)
		b[24] = a.SrcMask
		if e.scheme == cache.SchemeSourcePrefixToS {
			b[25] = a.ToS
		}
		be.PutUint16(b[26:], legacyAS16(a.SrcAS))
		be.PutUint16(b[28:], legacyIfIndex(a.InIfIndex))
	case cache.SchemeDestinationPrefix, cache.SchemeDestinationPrefixToS:
		legacyPutAddr4(b[20:], a.DstAddr)
		b[24] = a.DstMask
		if e.scheme == cache.SchemeDestinationPrefixToS {
			b[25] = a.ToS
		}
		be.PutUint16(b[26:], legacyAS16(a.DstAS))
		be.PutUint16(b[28:], legacyIfIndex(a.OutIfIndex))
	case cache.SchemePrefix, cache.SchemePrefixToS, cache.SchemePrefixPort:
		legacyPutAddr4(b[20:], a.SrcAddr)
		legacyPutAddr4(b[24:], a.DstAddr)
		b[28] = a.DstMask // destination mask first (Cisco, flow-tools)
		b[29] = a.SrcMask
		be.PutUint16(b[36:], legacyIfIndex(a.InIfIndex))
		be.PutUint16(b[38:], legacyIfIndex(a.OutIfIndex))
		switch e.scheme {
		case cache.SchemePrefixPort:
			b[30] = a.ToS
			b[31] = a.Proto
			be.PutUint16(b[32:], a.SrcPort)
			be.PutUint16(b[34:], a.DstPort)
		default:
			if e.scheme == cache.SchemePrefixToS {
				b[30] = a.ToS
			}
			be.PutUint16(b[32:], legacyAS16(a.SrcAS))
			be.PutUint16(b[34:], legacyAS16(a.DstAS))
		}
	}
}

func (e *V8Encoder) flush(now time.Time, n int, emit func([]byte)) {
	h := e.buf[:ie.V8HeaderLen]
	binary.BigEndian.PutUint16(h[0:], 8)
	binary.BigEndian.PutUint16(h[2:], uint16(n))
	legacyPutTimes(h[4:16], now, e.bootNs)
	binary.BigEndian.PutUint32(h[16:], e.seq)
	h[20] = e.s.EngineType
	h[21] = e.s.EngineID
	h[22] = uint8(e.scheme)
	h[23] = v8AggVersion
	clear(h[24:28])
	e.seq += uint32(n)
	e.stats.Datagrams++
	e.stats.Records += uint64(n)
	emit(e.buf[:ie.V8HeaderLen+n*e.recordLen])
}
