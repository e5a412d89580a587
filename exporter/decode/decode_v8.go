package decode

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/ie"
)

// decodeV8 reads a NetFlow v8 datagram (router-based aggregation, the
// layouts drawn above V8Encoder) into Message.Aggregates. Each
// aggregation scheme is its own export stream with its own flow sequence,
// as each of a router's aggregation caches is, so the sequence is checked
// per exporter, engine and scheme. Fields a scheme does not carry stay
// zero; the Catalyst schemes (6, 7, 8) carry no flow count, so their
// Flows is 0. v8 carries no end reason.
func (d *Decoder) decodeV8(from netip.AddrPort, b []byte) error {
	if len(b) < ie.V8HeaderLen {
		return fmt.Errorf("v8 header: %d bytes: %w", len(b), ErrMalformed)
	}
	be := binary.BigEndian
	m := &d.msg
	m.Version = 8
	count := int(be.Uint16(b[2:]))
	m.SysUptime = be.Uint32(b[4:])
	secs, nsecs := be.Uint32(b[8:]), be.Uint32(b[12:])
	m.ExportTime = time.Unix(int64(secs), int64(nsecs%1e9)).UTC()
	ht := hdrTime{unixMs: int64(secs)*1000 + int64(nsecs%1e9)/1e6, uptime: m.SysUptime}
	m.Sequence = be.Uint32(b[16:])
	m.SourceID = uint32(b[20])<<8 | uint32(b[21])
	scheme := cache.Scheme(b[22])
	if !scheme.Valid() {
		return fmt.Errorf("v8 aggregation scheme %d: %w", b[22], ErrMalformed)
	}
	m.Scheme = scheme
	s := d.stream(streamKey{from, 8, uint32(scheme)<<16 | m.SourceID})
	d.checkSeq(s, m.Sequence, uint32(count))
	recLen := ie.V8Layouts[scheme].RecordLen
	b = b[ie.V8HeaderLen:]
	if count*recLen > len(b) {
		return fmt.Errorf("v8 %s: %d records need %d bytes, have %d: %w", scheme, count, count*recLen, len(b), ErrMalformed)
	}
	for i := 0; i < count; i++ {
		m.Aggregates = append(m.Aggregates, v8Aggregate(scheme, b[i*recLen:(i+1)*recLen], ht))
	}
	return nil
}

// v8Aggregate reads one record of scheme from b, which holds exactly one
// record.
func v8Aggregate(scheme cache.Scheme, b []byte, ht hdrTime) cache.Aggregate {
	be := binary.BigEndian
	u16 := func(o int) uint16 { return be.Uint16(b[o:]) }
	u32 := func(o int) uint32 { return be.Uint32(b[o:]) }
	addr := func(o int) netip.Addr { return netip.AddrFrom4([4]byte(b[o : o+4])) }
	var a cache.Aggregate
	switch scheme {
	case cache.SchemeDestination:
		a.DstAddr = addr(0)
		a.Packets, a.Bytes = uint64(u32(4)), uint64(u32(8))
		a.Start, a.End = ht.at(u32(12)), ht.at(u32(16))
		a.OutIfIndex = uint32(u16(20))
		a.ToS = b[22]
		return a
	case cache.SchemeSourceDestination:
		a.DstAddr, a.SrcAddr = addr(0), addr(4)
		a.Packets, a.Bytes = uint64(u32(8)), uint64(u32(12))
		a.Start, a.End = ht.at(u32(16)), ht.at(u32(20))
		a.OutIfIndex, a.InIfIndex = uint32(u16(24)), uint32(u16(26))
		a.ToS = b[28]
		return a
	case cache.SchemeFullFlow:
		a.DstAddr, a.SrcAddr = addr(0), addr(4)
		a.DstPort, a.SrcPort = u16(8), u16(10)
		a.Packets, a.Bytes = uint64(u32(12)), uint64(u32(16))
		a.Start, a.End = ht.at(u32(20)), ht.at(u32(24))
		a.OutIfIndex, a.InIfIndex = uint32(u16(28)), uint32(u16(30))
		a.ToS, a.Proto = b[32], b[33]
		return a
	}
	a.Flows, a.Packets, a.Bytes = uint64(u32(0)), uint64(u32(4)), uint64(u32(8))
	a.Start, a.End = ht.at(u32(12)), ht.at(u32(16))
	switch scheme {
	case cache.SchemeAS, cache.SchemeASToS:
		a.SrcAS, a.DstAS = uint32(u16(20)), uint32(u16(22))
		a.InIfIndex, a.OutIfIndex = uint32(u16(24)), uint32(u16(26))
		if scheme == cache.SchemeASToS {
			a.ToS = b[28]
		}
	case cache.SchemeProtocolPort, cache.SchemeProtocolPortToS:
		a.Proto = b[20]
		a.SrcPort, a.DstPort = u16(24), u16(26)
		if scheme == cache.SchemeProtocolPortToS {
			a.ToS = b[21]
			a.InIfIndex, a.OutIfIndex = uint32(u16(28)), uint32(u16(30))
		}
	case cache.SchemeSourcePrefix, cache.SchemeSourcePrefixToS:
		a.SrcAddr, a.SrcMask = addr(20), b[24]
		if scheme == cache.SchemeSourcePrefixToS {
			a.ToS = b[25]
		}
		a.SrcAS, a.InIfIndex = uint32(u16(26)), uint32(u16(28))
	case cache.SchemeDestinationPrefix, cache.SchemeDestinationPrefixToS:
		a.DstAddr, a.DstMask = addr(20), b[24]
		if scheme == cache.SchemeDestinationPrefixToS {
			a.ToS = b[25]
		}
		a.DstAS, a.OutIfIndex = uint32(u16(26)), uint32(u16(28))
	case cache.SchemePrefix, cache.SchemePrefixToS, cache.SchemePrefixPort:
		a.SrcAddr, a.DstAddr = addr(20), addr(24)
		a.DstMask, a.SrcMask = b[28], b[29] // destination mask first (Cisco, flow-tools)
		a.InIfIndex, a.OutIfIndex = uint32(u16(36)), uint32(u16(38))
		if scheme == cache.SchemePrefixPort {
			a.ToS, a.Proto = b[30], b[31]
			a.SrcPort, a.DstPort = u16(32), u16(34)
			break
		}
		if scheme == cache.SchemePrefixToS {
			a.ToS = b[30]
		}
		a.SrcAS, a.DstAS = uint32(u16(32)), uint32(u16(34))
	}
	return a
}
