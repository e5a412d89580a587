package exporter

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// NetFlow v5 (Cisco): a 24-byte header and up to 30 records of 48 bytes;
// a full datagram is 1464 bytes. Every multi-byte field is big-endian.
//
//	header  0 version=5  2 count  4 sysUptime ms  8 unix_secs  12 unix_nsecs
//	        16 flow_sequence  20 engine_type  21 engine_id
//	        22 sampling: mode in the top 2 bits, interval in the low 14
//	record  0 srcaddr  4 dstaddr  8 nexthop  12 input  14 output  16 dPkts
//	        20 dOctets  24 First  28 Last  32 srcport  34 dstport  36 pad
//	        37 tcp_flags  38 prot  39 tos  40 src_as  42 dst_as  44 src_mask
//	        45 dst_mask  46 pad
const (
	v5HeaderLen  = 24
	v5RecordLen  = 48
	v5MaxRecords = 30

	// v5 sampling modes, the top two bits of the header's sampling field.
	v5SamplingNone          = 0
	v5SamplingDeterministic = 1 // Cisco "packet interval": 1 of every N
	v5SamplingRandom        = 2
	v5MaxSamplingInterval   = 1<<14 - 1
)

// V5Encoder encodes NetFlow v5 datagrams. Its flow sequence counts the
// records sent before each datagram; IPv6 records are skipped and counted.
// It is one export stream, not safe for concurrent use.
type V5Encoder struct {
	enc legacyEncoder
}

// NewV5Encoder returns a v5 encoder for s. It fails when the MTU cannot
// hold one record or the sampling interval does not fit in 14 bits.
func NewV5Encoder(s Settings) (*V5Encoder, error) {
	enc, err := newLegacyEncoder("v5", 5, s, v5HeaderLen, v5RecordLen, v5MaxRecords, nil)
	if err != nil {
		return nil, err
	}
	sampling, err := v5Sampling(s)
	if err != nil {
		return nil, err
	}
	// Set once the sampling field is known (an MTU error is reported first).
	enc.putHeader = func(h []byte, seq uint32) {
		binary.BigEndian.PutUint32(h[16:], seq)
		h[20] = s.EngineType
		h[21] = s.EngineID
		binary.BigEndian.PutUint16(h[22:], sampling)
	}
	return &V5Encoder{enc: enc}, nil
}

// v5Sampling is the header's sampling field: mode<<14 | interval.
func v5Sampling(s Settings) (uint16, error) {
	if s.SamplingInterval <= 1 {
		return v5SamplingNone, nil
	}
	if s.SamplingInterval > v5MaxSamplingInterval {
		return 0, fmt.Errorf("netflow v5: sampling interval %d does not fit the header's 14 bits (max %d); use -v 9 or -v 10",
			s.SamplingInterval, v5MaxSamplingInterval)
	}
	mode := uint16(v5SamplingDeterministic)
	if s.SamplingRandom {
		mode = v5SamplingRandom
	}
	return mode<<14 | uint16(s.SamplingInterval), nil
}

// Stats returns the encoder's counters.
func (e *V5Encoder) Stats() LegacyStats { return e.enc.stats }

// Sequence returns the flow sequence the next datagram will carry.
func (e *V5Encoder) Sequence() uint32 { return e.enc.seq }

// RecordsPerDatagram is the most records one datagram carries: 30, or
// fewer when the MTU is smaller.
func (e *V5Encoder) RecordsPerDatagram() int { return e.enc.per }

// Encode implements Encoder.
func (e *V5Encoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	return e.enc.encode(now, recs, emit)
}

// putV5Record writes the 48 bytes v5 and v7 records have in common.
func putV5Record(b []byte, r *cache.Record, src, dst [4]byte, pkts, octets, first, last uint32) {
	copy(b[0:4], src[:])
	copy(b[4:8], dst[:])
	legacyPutAddr4(b[8:12], r.NextHop)
	binary.BigEndian.PutUint16(b[12:], legacyIfIndex(r.InIfIndex))
	binary.BigEndian.PutUint16(b[14:], legacyIfIndex(r.OutIfIndex))
	binary.BigEndian.PutUint32(b[16:], pkts)
	binary.BigEndian.PutUint32(b[20:], octets)
	binary.BigEndian.PutUint32(b[24:], first)
	binary.BigEndian.PutUint32(b[28:], last)
	binary.BigEndian.PutUint16(b[32:], r.SrcPort)
	binary.BigEndian.PutUint16(b[34:], r.DstPort)
	b[36] = 0
	b[37] = r.TCPFlags
	b[38] = r.Proto
	b[39] = r.ToS
	binary.BigEndian.PutUint16(b[40:], legacyAS16(r.SrcAS))
	binary.BigEndian.PutUint16(b[42:], legacyAS16(r.DstAS))
	b[44] = min(r.SrcMask, 32)
	b[45] = min(r.DstMask, 32)
	b[46], b[47] = 0, 0
}
