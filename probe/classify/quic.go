package classify

// QUIC long headers (RFC 9000 17.2, RFC 8999 5.1) and the server name of a
// client Initial packet (RFC 9001 5, RFC 9369 3).
//
// A client's first Initial packet is protected with keys every observer can
// derive from the Destination Connection ID. quicInitial derives them,
// removes header protection and decrypts the start of the payload with
// AES-128 in counter mode laid out as GCM lays it out (the counter block of
// the first plaintext block is nonce || 0x00000002). The GCM tag is not
// checked, which is what lets a head of a few hundred bytes be read: the tag
// sits at the end of a 1200-byte datagram. The decrypted frames' CRYPTO data
// from offset 0 is the ClientHello handshake message, parsed by the same
// helloBody as TLS and DTLS.
//
// Cost: no allocation in steady state. The plaintext and reassembly buffers
// (2 × quicScratch bytes) live in a quicDecoder; quicInitial takes one from a
// sync.Pool. The key schedule (HMAC-SHA256 on stack buffers) allocates
// nothing; the two AES block ciphers do (crypto/aes.NewCipher), so a decoder
// caches the ciphers of the last Destination Connection ID it saw: a flow's
// repeated Initial packets reuse them, a new connection pays two small
// allocations (plus the SNI string, see tls.go).

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"sync"
)

// quicScratch bounds the bytes of a packet that are decrypted and
// reassembled: classify hands heads of at most 512 bytes.
const quicScratch = 512

const (
	quicVersionNegotiation = 0
	quicV1                 = 0x00000001
	quicV2                 = 0x6b3343cf
	quicDraft23            = 0xff000017
	quicDraft29            = 0xff00001d
	quicDraft34            = 0xff000022

	quicMaxCID = 20 // RFC 9000 17.2: connection IDs are at most 20 bytes in v1/v2

	// long packet types, normalized to v1 numbering
	quicInitialType   = 0
	quic0RTTType      = 1
	quicHandshakeType = 2
	quicRetryType     = 3

	quicMaxCryptoFrames = 32
)

// Initial salts: RFC 9001 5.2 (also drafts 33 and 34), RFC 9369 3.3.1,
// draft-ietf-quic-tls-29 5.2 (drafts 29 to 32) and draft-ietf-quic-tls-23 5.2
// (drafts 23 to 28; still sent by some stacks, e.g. nDPI's quic_0RTT.pcap).
var (
	quicSaltDraft23 = [20]byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}
	quicSaltV1      = [20]byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	quicSaltV2      = [20]byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	quicSaltDraft29 = [20]byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}
)

// quicVersionKnown reports the versions whose long header layout is known
// (RFC 9000's, which the IETF drafts share from draft 23 on).
func quicVersionKnown(v uint32) bool {
	return v == quicV1 || v == quicV2 || v >= quicDraft23 && v <= quicDraft34
}

// quicPacketType maps the two type bits of a long header to v1 numbering
// (RFC 9369 3.2 permutes them in v2).
func quicPacketType(version uint32, first byte) int {
	t := int(first>>4) & 3
	if version == quicV2 {
		return (t + 3) & 3 // v2: 1 Initial, 2 0-RTT, 3 Handshake, 0 Retry
	}
	return t
}

// quicVarint reads a variable-length integer (RFC 9000 16); n is 0 when b
// is too short.
func quicVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// quicLong is a parsed long header.
type quicLong struct {
	version  uint32
	typ      int // v1 numbering; -1 for version negotiation
	dcid     []byte
	pnOffset int    // Initial, 0-RTT, Handshake: offset of the protected packet number
	length   uint64 // Initial, 0-RTT, Handshake: the Length field (packet number + payload)
}

// parseQUICLong checks a long header strictly enough that random bytes
// rarely pass: header form and fixed bit set (the fixed bit is not required
// of Version Negotiation), a known version, connection IDs of at most 20
// bytes inside the buffer, and for Initial, 0-RTT and Handshake packets a
// token and Length field inside the buffer and a Length that can hold a
// packet number and a header protection sample.
func parseQUICLong(b []byte) (h quicLong, ok bool) {
	if len(b) < 7 || b[0]&0x80 == 0 {
		return h, false
	}
	h.version = binary.BigEndian.Uint32(b[1:])
	if h.version != quicVersionNegotiation && (b[0]&0x40 == 0 || !quicVersionKnown(h.version)) {
		return h, false
	}
	p := 5
	dl := int(b[p])
	if dl > quicMaxCID || len(b) < p+1+dl+1 {
		return h, false
	}
	h.dcid = b[p+1 : p+1+dl]
	p += 1 + dl
	sl := int(b[p])
	if sl > quicMaxCID || len(b) < p+1+sl {
		return h, false
	}
	p += 1 + sl
	if h.version == quicVersionNegotiation {
		// a list of 32-bit versions follows; a head cut at a 4-byte
		// boundary or not, at least one version must be there
		h.typ = -1
		return h, len(b)-p >= 4
	}
	h.typ = quicPacketType(h.version, b[0])
	switch h.typ {
	case quicRetryType:
		return h, len(b)-p >= 16 // retry token + 16-byte integrity tag
	case quicInitialType:
		tl, n := quicVarint(b[p:])
		if n == 0 || tl > uint64(len(b)-p-n) {
			return h, false
		}
		p += n + int(tl)
	}
	l, n := quicVarint(b[p:])
	if n == 0 || l < 4+16 { // packet number bytes + sample / tag
		return h, false
	}
	h.pnOffset, h.length = p+n, l
	return h, h.pnOffset <= len(b)
}

// isQUICLongHeader reports whether b starts with a QUIC long header of a
// known version (1, 2, drafts 23 to 34) or a Version Negotiation packet
// (version 0).
func isQUICLongHeader(b []byte) (version uint32, ok bool) {
	h, ok := parseQUICLong(b)
	if !ok {
		return 0, false
	}
	return h.version, true
}

// hmacSHA256 computes HMAC-SHA256 (RFC 2104) of a short message with a key of
// at most 64 bytes, on stack buffers: key ≤ 64 and len(msg) ≤ 64.
func hmacSHA256(key, msg []byte) [32]byte {
	var inner [64 + 64]byte
	var outer [64 + 32]byte
	copy(inner[:], key)
	copy(outer[:], key)
	for i := 0; i < 64; i++ {
		inner[i] ^= 0x36
		outer[i] ^= 0x5c
	}
	n := copy(inner[64:], msg)
	ih := sha256.Sum256(inner[:64+n])
	copy(outer[64:], ih[:])
	return sha256.Sum256(outer[:])
}

// hkdfExpandLabel is HKDF-Expand-Label (RFC 8446 7.1) with an empty context
// for outputs of at most 32 bytes (one HMAC block), into out.
func hkdfExpandLabel(out, secret []byte, label string) {
	var info [2 + 1 + 6 + 32 + 1 + 1]byte
	binary.BigEndian.PutUint16(info[:], uint16(len(out)))
	info[2] = byte(6 + len(label))
	n := 3 + copy(info[3:], "tls13 ")
	n += copy(info[n:], label)
	info[n] = 0 // context length
	info[n+1] = 1
	t := hmacSHA256(secret, info[:n+2])
	copy(out, t[:])
}

// quicKeys is the client Initial packet protection material.
type quicKeys struct {
	key [16]byte
	iv  [12]byte
	hp  [16]byte
}

// quicClientInitialKeys derives the client Initial keys of a version from
// the client's first Destination Connection ID (RFC 9001 5.2, RFC 9369 3.3).
func quicClientInitialKeys(version uint32, dcid []byte) (k quicKeys, ok bool) {
	salt := quicSaltV1[:]
	labels := [3]string{"quic key", "quic iv", "quic hp"}
	switch {
	case version == quicV2:
		salt = quicSaltV2[:]
		labels = [3]string{"quicv2 key", "quicv2 iv", "quicv2 hp"}
	case version >= quicDraft29 && version <= quicDraft29+3:
		salt = quicSaltDraft29[:]
	case version >= quicDraft23 && version < quicDraft29:
		salt = quicSaltDraft23[:]
	case version == quicV1 || version > quicDraft29+3 && version <= quicDraft34:
	default:
		return k, false
	}
	initial := hmacSHA256(salt, dcid) // HKDF-Extract(salt, dcid)
	var client [32]byte
	hkdfExpandLabel(client[:], initial[:], "client in")
	hkdfExpandLabel(k.key[:], client[:], labels[0])
	hkdfExpandLabel(k.iv[:], client[:], labels[1])
	hkdfExpandLabel(k.hp[:], client[:], labels[2])
	return k, true
}

// quicDecoder holds the buffers and cached ciphers of quicInitial. It is
// not safe for concurrent use; the zero value is ready.
type quicDecoder struct {
	plain  [quicScratch]byte
	crypto [quicScratch]byte

	// ciphers of the last (version, DCID)
	cached  bool
	version uint32
	dcidLen int
	dcid    [quicMaxCID]byte
	key, hp cipher.Block
	iv      [12]byte

	// block buffers handed to cipher.Block (an interface: stack arrays
	// passed to it would escape)
	mask, ctr [16]byte
}

var quicDecoders = sync.Pool{New: func() any { return new(quicDecoder) }}

// quicInitial reads a client Initial packet of QUIC v1 or v2 (and drafts 23
// to 34): ok is true for a valid Initial long header, and hello holds what
// the ClientHello in the decrypted CRYPTO data says, or is zero when it could
// not be read (a server Initial, CRYPTO data not starting at offset 0 in this
// packet, a head cut before the server name).
func quicInitial(b []byte) (version uint32, hello clientHello, ok bool) {
	d := quicDecoders.Get().(*quicDecoder)
	version, hello, ok = d.initial(b)
	quicDecoders.Put(d)
	return version, hello, ok
}

// initial is quicInitial with the caller's decoder.
func (d *quicDecoder) initial(b []byte) (version uint32, hello clientHello, ok bool) {
	v, version, ok := d.initialView(b)
	if ok {
		hello = v.hello()
	}
	return version, hello, ok
}

// initialView is initial without allocating the result: the slices of the
// view point into d and are valid until d's next use.
func (d *quicDecoder) initialView(b []byte) (v helloView, version uint32, ok bool) {
	h, ok := parseQUICLong(b)
	if !ok || h.typ != quicInitialType {
		return v, 0, false
	}
	version = h.version
	plain := d.decrypt(b, &h)
	if plain == nil {
		return v, version, true
	}
	msg := d.cryptoStream(plain)
	if msg == nil {
		return v, version, true
	}
	if hv, found := clientHelloMessage(msg, false); found {
		v = hv
	}
	return v, version, true
}

// keys sets d.key, d.hp and d.iv for (version, dcid).
func (d *quicDecoder) keys(version uint32, dcid []byte) bool {
	if d.cached && d.version == version && string(d.dcid[:d.dcidLen]) == string(dcid) {
		return true
	}
	k, ok := quicClientInitialKeys(version, dcid)
	if !ok {
		return false
	}
	key, err1 := aes.NewCipher(k.key[:])
	hp, err2 := aes.NewCipher(k.hp[:])
	if err1 != nil || err2 != nil {
		return false
	}
	d.cached, d.version, d.dcidLen = true, version, copy(d.dcid[:], dcid)
	d.key, d.hp, d.iv = key, hp, k.iv
	return true
}

// decrypt removes header protection and decrypts the start of the payload
// into d.plain; nil when the packet is too short to hold the sample.
func (d *quicDecoder) decrypt(b []byte, h *quicLong) []byte {
	sample := h.pnOffset + 4
	if sample+16 > len(b) || !d.keys(h.version, h.dcid) {
		return nil
	}
	mask := &d.mask
	d.hp.Encrypt(mask[:], b[sample:sample+16])
	first := b[0] ^ mask[0]&0x0f
	if first&0x0c != 0 {
		return nil // reserved bits must be 0: not a client Initial under these keys
	}
	pnLen := int(first&3) + 1
	var pn uint32
	for i := 0; i < pnLen; i++ {
		pn = pn<<8 | uint32(b[h.pnOffset+i]^mask[1+i])
	}
	start := h.pnOffset + pnLen
	if h.length < uint64(pnLen)+16 {
		return nil
	}
	n := h.length - uint64(pnLen) - 16 // ciphertext without the tag
	if avail := uint64(len(b) - start); n > avail {
		n = avail
	}
	if n > quicScratch {
		n = quicScratch
	}
	// AEAD_AES_128_GCM (RFC 5116, NIST SP 800-38D): nonce = iv XOR packet
	// number; plaintext block i is XORed with AES(nonce || i+2).
	ctr := &d.ctr
	copy(ctr[:12], d.iv[:])
	binary.BigEndian.PutUint32(ctr[8:], binary.BigEndian.Uint32(ctr[8:])^pn)
	ks := d.crypto[:(n+15)&^15] // keystream; d.crypto is free until cryptoStream
	for i, c := 0, uint32(2); i < len(ks); i, c = i+16, c+1 {
		binary.BigEndian.PutUint32(ctr[12:], c)
		d.key.Encrypt(ks[i:i+16], ctr[:])
	}
	dst := d.plain[:n]
	subtle.XORBytes(dst, b[start:start+int(n)], ks)
	return dst
}

// cryptoFrame is a piece of CRYPTO data found in a packet.
type cryptoFrame struct {
	off  uint64
	data []byte
}

// cryptoStream walks the frames of a decrypted Initial payload and returns
// the CRYPTO stream bytes contiguous from offset 0, or nil. The walk stops
// at the first frame type that may not appear in an Initial packet or at the
// first frame cut off by the head; a CRYPTO frame cut off contributes the
// bytes that are there.
func (d *quicDecoder) cryptoStream(p []byte) []byte {
	var frames [quicMaxCryptoFrames]cryptoFrame
	nf := 0
walk:
	for i := 0; i < len(p); {
		t := p[i]
		i++
		switch t {
		case 0x00: // PADDING
			for i < len(p) && p[i] == 0 {
				i++
			}
		case 0x01: // PING
		case 0x02, 0x03: // ACK (RFC 9000 19.3)
			fields := 4
			for f := 0; f < fields; f++ {
				v, n := quicVarint(p[i:])
				if n == 0 {
					break walk
				}
				i += n
				if f == 2 { // ACK Range Count: each range is two varints
					if v > uint64(len(p)) {
						break walk
					}
					fields += 2 * int(v)
				}
			}
			if t == 0x03 { // ECN counts
				for f := 0; f < 3; f++ {
					_, n := quicVarint(p[i:])
					if n == 0 {
						break walk
					}
					i += n
				}
			}
		case 0x06: // CRYPTO (RFC 9000 19.6)
			off, n := quicVarint(p[i:])
			if n == 0 {
				break walk
			}
			i += n
			l, n := quicVarint(p[i:])
			if n == 0 {
				break walk
			}
			i += n
			end := len(p)
			if l < uint64(end-i) {
				end = i + int(l)
			}
			if nf < len(frames) {
				frames[nf] = cryptoFrame{off, p[i:end]}
				nf++
			}
			i = end
		default: // CONNECTION_CLOSE ends a packet; anything else is not an Initial frame
			break walk
		}
	}
	// Fast path: one frame at offset 0.
	for k := 0; k < nf; k++ {
		if frames[k].off == 0 {
			if len(frames[k].data) >= len(d.crypto) || nf == 1 {
				return frames[k].data
			}
			break
		}
	}
	// Reassemble what is contiguous from 0 (Chrome splits and shuffles).
	have := uint64(0)
	for progress := true; progress && have < uint64(len(d.crypto)); {
		progress = false
		for k := 0; k < nf; k++ {
			f := &frames[k]
			end := f.off + uint64(len(f.data))
			if f.off <= have && end > have {
				n := copy(d.crypto[have:], f.data[have-f.off:])
				have += uint64(n)
				progress = true
			}
		}
	}
	if have == 0 {
		return nil
	}
	return d.crypto[:have]
}
