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
	enc legacyEncoder
}

// NewV7Encoder returns a v7 encoder for s. It fails when the MTU cannot
// hold one record.
func NewV7Encoder(s Settings) (*V7Encoder, error) {
	enc, err := newLegacyEncoder("v7", 7, s, v7HeaderLen, v7RecordLen, v7MaxRecords, putV7Header)
	if err != nil {
		return nil, err
	}
	return &V7Encoder{enc: enc}, nil
}

// Stats returns the encoder's counters.
func (e *V7Encoder) Stats() LegacyStats { return e.enc.stats }

// Sequence returns the flow sequence the next datagram will carry.
func (e *V7Encoder) Sequence() uint32 { return e.enc.seq }

// RecordsPerDatagram is the most records one datagram carries: 27, or
// fewer when the MTU is smaller.
func (e *V7Encoder) RecordsPerDatagram() int { return e.enc.per }

// Encode implements Encoder.
func (e *V7Encoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	return e.enc.encode(now, recs, emit)
}

// putV7Header writes the flow sequence and zeroes the reserved bytes,
// where v5 has its engine and sampling fields.
func putV7Header(h []byte, seq uint32) {
	binary.BigEndian.PutUint32(h[16:], seq)
	clear(h[20:24])
}
