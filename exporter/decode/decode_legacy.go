package decode

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// decodeLegacy reads the fixed layouts of NetFlow v1, v5 and v7 (Cisco's
// "NetFlow Export Datagram Format"): a header, then count records.
func (d *Decoder) decodeLegacy(from netip.AddrPort, version uint16, b []byte) error {
	hdrLen, recLen := 24, 48
	switch version {
	case 1:
		hdrLen = 16
	case 7:
		recLen = 52
	}
	if len(b) < hdrLen {
		return fmt.Errorf("v%d header: %d bytes: %w", version, len(b), ErrMalformed)
	}
	m := &d.msg
	m.Version = version
	count := int(binary.BigEndian.Uint16(b[2:]))
	m.SysUptime = binary.BigEndian.Uint32(b[4:])
	secs := binary.BigEndian.Uint32(b[8:])
	nsecs := binary.BigEndian.Uint32(b[12:])
	m.ExportTime = time.Unix(int64(secs), int64(nsecs%1e9)).UTC()
	ht := hdrTime{unixMs: int64(secs)*1000 + int64(nsecs%1e9)/1e6, uptime: m.SysUptime}
	var sampling uint32
	var random bool
	if version != 1 {
		m.Sequence = binary.BigEndian.Uint32(b[16:])
	}
	if version == 5 {
		m.SourceID = uint32(b[20])<<8 | uint32(b[21])
		sv := binary.BigEndian.Uint16(b[22:])
		if iv := uint32(sv & 0x3fff); iv > 1 {
			sampling, random = iv, sv>>14 == 2
		}
	}
	s := d.stream(streamKey{from, version, m.SourceID})
	if version != 1 {
		d.checkSeq(s, m.Sequence, uint32(count))
	}
	if sampling > 0 {
		s.info.SamplingInterval, s.info.SamplingRandom = sampling, random
	}
	b = b[hdrLen:]
	if count*recLen > len(b) {
		return fmt.Errorf("v%d: %d records need %d bytes, have %d: %w", version, count, count*recLen, len(b), ErrMalformed)
	}
	for i := 0; i < count; i++ {
		r := legacyRecord(version, b[i*recLen:(i+1)*recLen], ht)
		r.SamplingInterval, r.SamplingRandom = s.info.SamplingInterval, s.info.SamplingRandom
		m.Records = append(m.Records, r)
	}
	return nil
}

func legacyRecord(version uint16, b []byte, ht hdrTime) cache.Record {
	r := cache.Record{
		SrcAddr:    netip.AddrFrom4([4]byte(b[0:4])),
		DstAddr:    netip.AddrFrom4([4]byte(b[4:8])),
		IPVersion:  4,
		InIfIndex:  uint32(binary.BigEndian.Uint16(b[12:])),
		OutIfIndex: uint32(binary.BigEndian.Uint16(b[14:])),
		Packets:    uint64(binary.BigEndian.Uint32(b[16:])),
		Bytes:      uint64(binary.BigEndian.Uint32(b[20:])),
		Start:      ht.at(binary.BigEndian.Uint32(b[24:])),
		End:        ht.at(binary.BigEndian.Uint32(b[28:])),
		SrcPort:    binary.BigEndian.Uint16(b[32:]),
		DstPort:    binary.BigEndian.Uint16(b[34:]),
	}
	if nh := netip.AddrFrom4([4]byte(b[8:12])); !nh.IsUnspecified() {
		r.NextHop = nh
	}
	if version == 1 {
		r.Proto, r.ToS, r.TCPFlags = b[38], b[39], b[40]
		return r
	}
	r.TCPFlags, r.Proto, r.ToS = b[37], b[38], b[39]
	r.SrcAS = uint32(binary.BigEndian.Uint16(b[40:]))
	r.DstAS = uint32(binary.BigEndian.Uint16(b[42:]))
	r.SrcMask, r.DstMask = b[44], b[45]
	return r
}
