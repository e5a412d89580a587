package exporter

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// NetFlow v1 (Cisco): a 16-byte header and up to 24 records of 48 bytes.
// Every multi-byte field is big-endian (network byte order).
//
//	header  0 version=1  2 count  4 sysUptime ms  8 unix_secs  12 unix_nsecs
//	record  0 srcaddr  4 dstaddr  8 nexthop  12 input  14 output  16 dPkts
//	        20 dOctets  24 First  28 Last  32 srcport  34 dstport  36 pad
//	        38 prot  39 tos  40 tcp_flags  41..47 zero
const (
	v1HeaderLen  = 16
	v1RecordLen  = 48
	v1MaxRecords = 24
)

// LegacyStats counts what a v1, v5, v7 or v8 encoder did. Records that a
// version cannot carry are counted, never dropped silently.
type LegacyStats struct {
	Datagrams uint64 // datagrams emitted
	Records   uint64 // records written (after splitting)
	Skipped   uint64 // input records left out: IPv6, which these versions cannot carry
	Split     uint64 // input records whose counters exceeded 32 bits, written as several records
}

// V1Encoder encodes NetFlow v1 datagrams. v1 has no sequence number and
// no engine fields; IPv6 records are skipped and counted.
// It is one export stream, not safe for concurrent use.
type V1Encoder struct {
	enc legacyEncoder
}

// NewV1Encoder returns a v1 encoder for s. It fails when the MTU cannot
// hold one record.
func NewV1Encoder(s Settings) (*V1Encoder, error) {
	// The v1 header is only the 16 bytes every version shares.
	enc, err := newLegacyEncoder("v1", 1, s, v1HeaderLen, v1RecordLen, v1MaxRecords, nil)
	if err != nil {
		return nil, err
	}
	return &V1Encoder{enc: enc}, nil
}

// Stats returns the encoder's counters.
func (e *V1Encoder) Stats() LegacyStats { return e.enc.stats }

// RecordsPerDatagram is the most records one datagram carries: 24, or
// fewer when the MTU is smaller.
func (e *V1Encoder) RecordsPerDatagram() int { return e.enc.per }

// Encode implements Encoder. v1 keeps its own copy of the legacy loop
// (see legacyEncoder) so that its record writes stay inlined.
func (e *V1Encoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	n := 0
	for i := range recs {
		r := &recs[i]
		src, dst, ok := legacyIPv4Pair(r)
		if !ok {
			e.enc.stats.Skipped++
			continue
		}
		parts := legacySplitCount(r.Packets, r.Bytes, 0)
		if parts > 1 {
			e.enc.stats.Split++
		}
		first, last := legacyUptime(r.Start, e.enc.bootNs), legacyUptime(r.End, e.enc.bootNs)
		for p := uint64(0); p < parts; p++ {
			b := e.enc.buf[v1HeaderLen+n*v1RecordLen:][:v1RecordLen]
			clear(b)
			copy(b[0:4], src[:])
			copy(b[4:8], dst[:])
			legacyPutAddr4(b[8:12], r.NextHop)
			binary.BigEndian.PutUint16(b[12:], legacyIfIndex(r.InIfIndex))
			binary.BigEndian.PutUint16(b[14:], legacyIfIndex(r.OutIfIndex))
			binary.BigEndian.PutUint32(b[16:], legacyShare(r.Packets, parts, p))
			binary.BigEndian.PutUint32(b[20:], legacyShare(r.Bytes, parts, p))
			binary.BigEndian.PutUint32(b[24:], first)
			binary.BigEndian.PutUint32(b[28:], last)
			binary.BigEndian.PutUint16(b[32:], r.SrcPort)
			binary.BigEndian.PutUint16(b[34:], r.DstPort)
			b[38] = r.Proto
			b[39] = r.ToS
			b[40] = r.TCPFlags
			n++
			if n == e.enc.per {
				e.enc.flush(now, n, emit)
				n = 0
			}
		}
	}
	if n > 0 {
		e.enc.flush(now, n, emit)
	}
	return nil
}

// Helpers shared by the v1, v5, v7 and v8 encoders.

// legacyEncoder is what the v1, v5 and v7 encoders share: the datagram
// buffer, the counters and flush, which writes the header and emits.
// encode is the loop of v5 and v7, whose records have v5's layout. v1 has
// its own loop: behind a call per record its record writes ran ~5% slower.
// (v8 projects onto aggregation schemes and keeps its own loop.)
type legacyEncoder struct {
	version   uint16
	headerLen int
	recordLen int
	per       int // records per datagram
	bootNs    int64
	buf       []byte
	seq       uint32 // records sent before the next datagram (v1 does not carry it)
	stats     LegacyStats
	putHeader legacyHeaderWriter // nil when the header is only the shared 16 bytes
}

// legacyHeaderWriter writes a version's header fields past byte 16 of h;
// seq is the datagram's flow sequence.
type legacyHeaderWriter func(h []byte, seq uint32)

// newLegacyEncoder checks s (see legacySetup) and sizes the datagram buffer.
func newLegacyEncoder(name string, version uint16, s Settings, headerLen, recordLen, maxRecords int,
	putHeader legacyHeaderWriter) (legacyEncoder, error) {
	per, bootNs, err := legacySetup(name, s, headerLen, recordLen, maxRecords)
	if err != nil {
		return legacyEncoder{}, err
	}
	return legacyEncoder{
		version: version, headerLen: headerLen, recordLen: recordLen, per: per, bootNs: bootNs,
		buf: make([]byte, headerLen+per*recordLen), putHeader: putHeader,
	}, nil
}

// encode packs recs as v5-layout records into as few datagrams as fit,
// calling emit with each.
func (e *legacyEncoder) encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	n := 0
	for i := range recs {
		r := &recs[i]
		src, dst, ok := legacyIPv4Pair(r)
		if !ok {
			e.stats.Skipped++
			continue
		}
		parts := legacySplitCount(r.Packets, r.Bytes, 0)
		if parts > 1 {
			e.stats.Split++
		}
		first, last := legacyUptime(r.Start, e.bootNs), legacyUptime(r.End, e.bootNs)
		for p := uint64(0); p < parts; p++ {
			b := e.buf[e.headerLen+n*e.recordLen:][:e.recordLen]
			// v7's router_sc, past the 48 bytes, is never written: it stays
			// zero from the buffer's allocation.
			putV5Record(b, r, src, dst, legacyShare(r.Packets, parts, p), legacyShare(r.Bytes, parts, p), first, last)
			n++
			if n == e.per {
				e.flush(now, n, emit)
				n = 0
			}
		}
	}
	if n > 0 {
		e.flush(now, n, emit)
	}
	return nil
}

// flush writes the header of a datagram of n records and emits it.
func (e *legacyEncoder) flush(now time.Time, n int, emit func([]byte)) {
	h := e.buf[:e.headerLen]
	binary.BigEndian.PutUint16(h[0:], e.version)
	binary.BigEndian.PutUint16(h[2:], uint16(n))
	legacyPutTimes(h[4:16], now, e.bootNs)
	if e.putHeader != nil {
		e.putHeader(h, e.seq)
	}
	e.seq += uint32(n)
	e.stats.Datagrams++
	e.stats.Records += uint64(n)
	emit(e.buf[:e.headerLen+n*e.recordLen])
}

// legacySetup checks s for a legacy version and returns the records per
// datagram (the version's limit, lowered to what fits in the MTU's
// payload) and the sysUptime origin.
func legacySetup(version string, s Settings, headerLen, recordLen, maxRecords int) (per int, bootNs int64, err error) {
	limit := s.payloadLimit()
	fit := (limit - headerLen) / recordLen
	if fit < 1 {
		return 0, 0, fmt.Errorf("netflow %s: MTU %d leaves %d bytes of payload, need ≥ %d for one record (raise the MTU)",
			version, limit+28, limit, headerLen+recordLen)
	}
	bootNs, err = legacyBootNs(version, s)
	if err != nil {
		return 0, 0, err
	}
	return min(fit, maxRecords), bootNs, nil
}

// legacyIPv4Pair returns the flow's addresses when both are IPv4 (IPv4-mapped
// IPv6 counts as IPv4) and the flow is not an IPv6 one.
func legacyIPv4Pair(r *cache.Record) (src, dst [4]byte, ok bool) {
	if r.IPVersion == 6 {
		return src, dst, false
	}
	s, d := r.SrcAddr.Unmap(), r.DstAddr.Unmap()
	if !s.Is4() || !d.Is4() {
		return src, dst, false
	}
	return s.As4(), d.As4(), true
}

// legacyPutAddr4 writes an IPv4 address, or zeros when a is not IPv4 (unset).
func legacyPutAddr4(b []byte, a netip.Addr) {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		copy(b[:4], v[:])
		return
	}
	clear(b[:4])
}

// legacyBootNs is Settings.Boot in Unix nanoseconds, the origin of every
// sysUptime field. sysUptime is counted on the wall clock, the clock of
// unix_secs, so collectors that compute unix_secs − (sysUptime − First)
// get the flow's wall-clock start even after the clock was stepped.
func legacyBootNs(version string, s Settings) (int64, error) {
	if s.Boot.IsZero() {
		return 0, fmt.Errorf("netflow %s: Settings.Boot (the sysUptime origin) is not set", version)
	}
	// On a whole millisecond, so uptimes and the header's Unix time
	// convert back to the same millisecond a flow was stamped with.
	return s.Boot.Truncate(time.Millisecond).UnixNano(), nil
}

// legacyUptime is t as sysUptime: milliseconds since boot (Unix ns),
// wrapping at 2^32 like a router's; unset times and times before boot
// read as 0.
func legacyUptime(t time.Time, bootNs int64) uint32 {
	if t.IsZero() {
		return 0
	}
	d := t.UnixNano() - bootNs
	if d < 0 {
		return 0
	}
	return uint32(d / int64(time.Millisecond))
}

// legacyPutTimes writes the header's sysUptime, unix_secs and unix_nsecs.
func legacyPutTimes(b []byte, now time.Time, bootNs int64) {
	binary.BigEndian.PutUint32(b[0:], legacyUptime(now, bootNs))
	binary.BigEndian.PutUint32(b[4:], uint32(now.Unix()))
	binary.BigEndian.PutUint32(b[8:], uint32(now.Nanosecond()))
}

// legacyIfIndex fits an ifindex into the 16-bit SNMP index fields; larger
// values (rare on Linux) are truncated to their low 16 bits.
func legacyIfIndex(i uint32) uint16 { return uint16(i) }

// legacyAS16 fits an AS number into a 16-bit field: 4-byte AS numbers become
// AS_TRANS (23456, RFC 6793).
func legacyAS16(as uint32) uint16 {
	if as > math.MaxUint16 {
		return cache.ASTrans
	}
	return uint16(as)
}

// legacyMaxSplit bounds how many records one flow may become: 2^16 parts
// carry up to 2^48 bytes, far beyond any flow an active timeout lets
// live; beyond it the parts saturate at 2^32−1 rather than flood.
const legacyMaxSplit = 1 << 16

// legacySplitCount is how many records a flow needs so that packets, bytes and
// flows each fit the 32-bit fields; 1 for every ordinary flow.
func legacySplitCount(packets, bytes, flows uint64) uint64 {
	m := max(packets, bytes, flows)
	if m <= math.MaxUint32 {
		return 1
	}
	return min((m-1)/math.MaxUint32+1, legacyMaxSplit)
}

// legacyShare is part p of n of total: the total spread evenly, the
// remainder one each over the first parts, so the parts sum to total and
// each fits in 32 bits when n = legacySplitCount(...) (saturating past
// legacyMaxSplit parts).
func legacyShare(total, n, p uint64) uint32 {
	v := total / n
	if p < total%n {
		v++
	}
	return uint32(min(v, math.MaxUint32))
}
