package decode

import (
	"encoding/binary"
	"net/netip"
)

// Datagrams built byte by byte from RFC 3954 and RFC 7011, not by the
// exporter under test, so the decoder's reading is checked against the
// documents.

var (
	exporterA = netip.MustParseAddrPort("198.18.0.1:4739")
	exporterB = netip.MustParseAddrPort("198.18.0.2:4739")
)

// be is a big-endian byte writer.
type be []byte

func (b be) u8(v uint8) be   { return append(b, v) }
func (b be) u16(v uint16) be { return binary.BigEndian.AppendUint16(b, v) }
func (b be) u32(v uint32) be { return binary.BigEndian.AppendUint32(b, v) }
func (b be) u64(v uint64) be { return binary.BigEndian.AppendUint64(b, v) }
func (b be) raw(v []byte) be { return append(b, v...) }

// field is one template field: IE id, length and, if not 0, enterprise number.
type field struct {
	id, length uint16
	pen        uint32
}

// set is a v9 flowset or IPFIX set: id, length, body.
func set(id uint16, body []byte) []byte {
	return be(nil).u16(id).u16(uint16(4 + len(body))).raw(body)
}

// ipfixTemplate is one template record (RFC 7011 §3.4.1); scope > 0 makes
// it an options template record (§3.4.2.2).
func ipfixTemplate(id uint16, scope uint16, fields ...field) []byte {
	b := be(nil).u16(id).u16(uint16(len(fields)))
	if scope > 0 {
		b = b.u16(scope)
	}
	for _, f := range fields {
		if f.pen != 0 {
			b = b.u16(f.id | 0x8000).u16(f.length).u32(f.pen)
		} else {
			b = b.u16(f.id).u16(f.length)
		}
	}
	return b
}

// ipfixMsg is an IPFIX message (RFC 7011 §3.1) of domain with sets.
func ipfixMsg(domain, seq uint32, sets ...[]byte) []byte {
	var body []byte
	for _, s := range sets {
		body = append(body, s...)
	}
	return be(nil).u16(10).u16(uint16(16 + len(body))).u32(1_800_000_000).u32(seq).u32(domain).raw(body)
}

// v9Template is one v9 template record (RFC 3954 §5.2).
func v9Template(id uint16, fields ...field) []byte {
	b := be(nil).u16(id).u16(uint16(len(fields)))
	for _, f := range fields {
		b = b.u16(f.id).u16(f.length)
	}
	return b
}

// v9OptionsTemplate is one v9 options template record (RFC 3954 §6.1).
func v9OptionsTemplate(id uint16, scope []field, options ...field) []byte {
	b := be(nil).u16(id).u16(uint16(4 * len(scope))).u16(uint16(4 * len(options)))
	for _, f := range append(scope, options...) {
		b = b.u16(f.id).u16(f.length)
	}
	return b
}

// v9Packet is a v9 export packet (RFC 3954 §5.1) of source id with flowsets.
func v9Packet(sourceID, seq uint32, sets ...[]byte) []byte {
	b := be(nil).u16(9).u16(uint16(len(sets))).u32(3_600_000).u32(1_800_000_000).u32(seq).u32(sourceID)
	for _, s := range sets {
		b = b.raw(s)
	}
	return b
}

// varField is an IPFIX variable-length value (RFC 7011 §7): a one-byte
// length, or 255 and a two-byte length.
func varField(v []byte) []byte {
	if len(v) < 255 {
		return be(nil).u8(uint8(len(v))).raw(v)
	}
	return be(nil).u8(255).u16(uint16(len(v))).raw(v)
}
