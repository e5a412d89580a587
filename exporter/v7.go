package exporter

import (
	"encoding/binary"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// NetFlow v7 (Cisco Catalyst NDE): a 24-byte header and up to 27 records
// of 52 bytes. Every multi-byte field is big-endian.
//
//	header  0 version=7  2 count  4 sysUptime ms  8 unix_secs  12 unix_nsecs
//	        16 flow_sequence  20..23 reserved (zero)
//	record  the 48 bytes of a v5 record, except that bytes 46-47 are the
//	        flags field (zero: every flow valid), then 48 router_sc (the
//	        shortcut router's address; zero, as spanflow bypasses none)
//
// Cisco's v7 header leaves bytes 20-23 reserved; flow-tools and nfdump read
// engine type/id there. spanflow follows Cisco and writes zeros, so the
// engine fields of Settings do not appear in v7.
const (
	v7HeaderLen  = 24
	v7RecordLen  = 52
	v7MaxRecords = 27
)

// V7Encoder encodes NetFlow v7 datagrams. Its flow sequence counts the
// records sent before each datagram; IPv6 records are skipped and counted.
// It is one export stream, not safe for concurrent use.
type V7Encoder struct {
	s      Settings
	bootNs int64
	buf    []byte
	per    int
	seq    uint32
	stats  LegacyStats
}

// NewV7Encoder returns a v7 encoder for s. It fails when the MTU cannot
// hold one record.
func NewV7Encoder(s Settings) (*V7Encoder, error) {
	per, bootNs, err := legacySetup("v7", s, v7HeaderLen, v7RecordLen, v7MaxRecords)
	if err != nil {
		return nil, err
	}
	return &V7Encoder{s: s, bootNs: bootNs, per: per, buf: make([]byte, v7HeaderLen+per*v7RecordLen)}, nil
}

// Stats returns the encoder's counters.
func (e *V7Encoder) Stats() LegacyStats { return e.stats }

// Sequence returns the flow sequence the next datagram will carry.
func (e *V7Encoder) Sequence() uint32 { return e.seq }

// RecordsPerDatagram is the most records one datagram carries: 27, or
// fewer when the MTU is smaller.
func (e *V7Encoder) RecordsPerDatagram() int { return e.per }

// Encode implements Encoder.
func (e *V7Encoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
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
			b := e.buf[v7HeaderLen+n*v7RecordLen:][:v7RecordLen]
			putV5Record(b, r, src, dst, legacyShare(r.Packets, parts, p), legacyShare(r.Bytes, parts, p), first, last)
			clear(b[48:52]) // router_sc
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

func (e *V7Encoder) flush(now time.Time, n int, emit func([]byte)) {
	h := e.buf[:v7HeaderLen]
	binary.BigEndian.PutUint16(h[0:], 7)
	binary.BigEndian.PutUint16(h[2:], uint16(n))
	legacyPutTimes(h[4:16], now, e.bootNs)
	binary.BigEndian.PutUint32(h[16:], e.seq)
	clear(h[20:24])
	e.seq += uint32(n)
	e.stats.Datagrams++
	e.stats.Records += uint64(n)
	emit(e.buf[:v7HeaderLen+n*v7RecordLen])
}
