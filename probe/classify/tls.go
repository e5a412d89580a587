package classify

// TLS and DTLS ClientHello parsing (RFC 8446 4.1.2 and 4.2, RFC 5246 7.4.1.2,
// RFC 6066 3, RFC 7301 3.1, RFC 6347 4.1 and 4.2.2, RFC 9147 4 and 5.3).
//
// One parser, helloBody, reads the body of a ClientHello handshake message for
// all three carriers: a TLS record (TCP), a DTLS record (UDP) and the CRYPTO
// frames of a QUIC Initial packet. Every length is checked against the buffer
// before it is used; the parser never loops more than once per byte of input
// and never allocates while walking. A hello cut off by the head size yields
// what was read before the cut.
//
// Allocation: parsing itself is allocation free. Turning the result into a
// clientHello allocates the SNI string when an SNI is found (one allocation)
// and, when ALPN is present, a []string unless the list is one of the common
// ones (h2+http/1.1, h2, http/1.1, h3), which are returned as shared,
// read-only slices; well-known protocol names are interned. So a ClientHello
// costs at most 2 allocations (SNI string, ALPN slice), typically 1, and a head
// that is not a ClientHello costs none. Callers must not modify ALPN slices.

// clientHello is what a TLS/DTLS/QUIC ClientHello says about the server the client wants.
type clientHello struct {
	Version uint16   // highest version offered: from supported_versions when present, else legacy_version
	SNI     string   // server_name (host_name), "" when absent or cut off
	ALPN    []string // application_layer_protocol_negotiation protocols, nil when absent
}

const (
	tlsContentHandshake = 22
	tlsHandshakeClient  = 1 // client_hello
	tlsHandshakeServer  = 2 // server_hello

	tlsRecordHeader  = 5
	dtlsRecordHeader = 13
	dtlsHSHeader     = 12

	// tlsMaxRecord is the largest record length accepted: 2^14 plaintext
	// plus the 2048 bytes RFC 5246 6.2.3 allows for ciphertext expansion.
	tlsMaxRecord = 1<<14 + 2048

	// helloMinBody is the smallest ClientHello/ServerHello body that can be
	// valid: legacy_version(2) random(32) session_id length(1).
	helloMinBody = 35

	extServerName = 0
	extALPN       = 16
	extVersions   = 43

	maxSNI = 255
)

// helloView is the zero-copy result of helloBody: SNI and ALPN are slices
// into the parsed buffer, valid only as long as that buffer is.
type helloView struct {
	version uint16
	sni     []byte // host_name, nil when absent, cut off or not printable ASCII
	alpn    []byte // protocol_name_list (without its 2-byte length), nil when absent or cut off
}

// be16 and be24 read big-endian integers; callers check the length.
func be16(b []byte) int { return int(b[0])<<8 | int(b[1]) }
func be24(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

// helloBody parses the body of a ClientHello handshake message (after the
// handshake header). dtls selects the DTLS layout, which has a cookie after
// the session id. body may be cut off anywhere; what precedes the cut is
// returned. ok is false only when a field that is present contradicts the
// ClientHello structure (a session id longer than 32 bytes, an odd cipher
// suite list, no compression method, a legacy_version that is not TLS/DTLS).
func helloBody(body []byte, dtls bool) (v helloView, ok bool) {
	if len(body) < 2 {
		return v, len(body) == 0 || body[0] == 3 || body[0] == 0xfe
	}
	v.version = uint16(be16(body))
	if !dtls && body[0] != 3 || dtls && body[0] != 0xfe {
		return helloView{}, false
	}
	p := 2 + 32
	if len(body) < p+1 {
		return v, true
	}
	sid := int(body[p])
	if sid > 32 {
		return helloView{}, false
	}
	p += 1 + sid
	if dtls {
		if len(body) < p+1 {
			return v, true
		}
		p += 1 + int(body[p]) // cookie <0..2^8-1>
	}
	if len(body) < p+2 {
		return v, true
	}
	cs := be16(body[p:])
	if cs < 2 || cs&1 != 0 {
		return helloView{}, false
	}
	p += 2 + cs
	if len(body) < p+1 {
		return v, true
	}
	comp := int(body[p])
	if comp < 1 {
		return helloView{}, false
	}
	p += 1 + comp
	if len(body) < p+2 {
		return v, true // no extensions (TLS 1.0-1.2 allow that) or cut off
	}
	extEnd := p + 2 + be16(body[p:])
	p += 2
	if extEnd > len(body) {
		extEnd = len(body) // cut off: read the extensions that are whole
	}
	for p+4 <= extEnd {
		typ := be16(body[p:])
		n := be16(body[p+2:])
		p += 4
		if p+n > extEnd {
			break // cut off (or lying): nothing more can be trusted
		}
		ext := body[p : p+n]
		p += n
		switch typ {
		case extServerName:
			if v.sni == nil {
				v.sni = serverName(ext)
			}
		case extALPN:
			if v.alpn == nil {
				v.alpn = alpnList(ext)
			}
		case extVersions:
			if hv, found := highestVersion(ext, dtls); found {
				v.version = hv
			}
		}
	}
	return v, true
}

// serverName returns the first host_name of a server_name extension
// (RFC 6066 3), or nil when there is none or it is not a plausible host name.
func serverName(ext []byte) []byte {
	if len(ext) < 2 {
		return nil
	}
	end := 2 + be16(ext)
	if end > len(ext) {
		return nil
	}
	for p := 2; p+3 <= end; {
		typ := ext[p]
		n := be16(ext[p+1:])
		p += 3
		if p+n > end {
			return nil
		}
		if typ == 0 { // host_name
			return printableName(ext[p : p+n])
		}
		p += n
	}
	return nil
}

// printableName returns name when it is 1..255 bytes of printable ASCII.
func printableName(name []byte) []byte {
	if len(name) == 0 || len(name) > maxSNI {
		return nil
	}
	for _, c := range name {
		if c <= 0x20 || c >= 0x7f {
			return nil
		}
	}
	return name
}

// alpnList returns the protocol_name_list of an ALPN extension (RFC 7301
// 3.1) after checking that it is made of whole, non-empty names.
func alpnList(ext []byte) []byte {
	if len(ext) < 2 || 2+be16(ext) != len(ext) {
		return nil
	}
	list := ext[2:]
	if len(list) == 0 {
		return nil
	}
	for p := 0; p < len(list); {
		n := int(list[p])
		if n == 0 || p+1+n > len(list) {
			return nil
		}
		p += 1 + n
	}
	return list
}

// highestVersion returns the highest non-GREASE version of a ClientHello
// supported_versions extension (RFC 8446 4.2.1).
func highestVersion(ext []byte, dtls bool) (uint16, bool) {
	if len(ext) < 1 {
		return 0, false
	}
	n := int(ext[0])
	if n&1 != 0 || 1+n > len(ext) {
		return 0, false
	}
	var best uint16
	bestRank := -1
	for p := 1; p+2 <= 1+n; p += 2 {
		ver := uint16(be16(ext[p:]))
		if r := versionRank(ver, dtls); r > bestRank {
			best, bestRank = ver, r
		}
	}
	return best, bestRank >= 0
}

// versionRank orders versions so that a higher rank is a newer protocol; it
// is -1 for GREASE (RFC 8701) and values that are no TLS/DTLS version.
func versionRank(v uint16, dtls bool) int {
	if v&0x0f0f == 0x0a0a && v>>8 == v&0xff {
		return -1 // GREASE
	}
	hi, lo := int(v>>8), int(v&0xff)
	switch {
	case dtls && hi == 0xfe:
		return 0x100 - lo // 0xfeff DTLS 1.0 < 0xfefd 1.2 < 0xfefc 1.3
	case !dtls && hi == 3:
		return lo << 8 // SSL 3.0 .. TLS 1.3
	case !dtls && hi == 0x7f:
		return 3<<8 + lo // TLS 1.3 drafts: above 1.2, below 1.3
	}
	return -1
}

// hello materializes v (see the allocation note at the top of the file).
func (v *helloView) hello() clientHello {
	h := clientHello{Version: v.version}
	if v.sni != nil {
		h.SNI = string(v.sni)
	}
	if v.alpn != nil {
		h.ALPN = alpnStrings(v.alpn)
	}
	return h
}

// Shared, read-only ALPN lists returned for the most common offers.
var (
	alpnH2H1 = []string{"h2", "http/1.1"}
	alpnH2   = []string{"h2"}
	alpnH1   = []string{"http/1.1"}
	alpnH3   = []string{"h3"}
)

// alpnStrings converts a checked protocol_name_list.
func alpnStrings(list []byte) []string {
	switch string(list) { // no allocation: the compiler compares in place
	case "\x02h2\x08http/1.1":
		return alpnH2H1
	case "\x02h2":
		return alpnH2
	case "\x08http/1.1":
		return alpnH1
	case "\x02h3":
		return alpnH3
	}
	count := 0
	for p := 0; p < len(list); p += 1 + int(list[p]) {
		count++
	}
	out := make([]string, 0, count)
	for p := 0; p < len(list); p += 1 + int(list[p]) {
		out = append(out, alpnName(list[p+1:p+1+int(list[p])]))
	}
	return out
}

// alpnName interns the registered ALPN protocol IDs seen in practice.
func alpnName(b []byte) string {
	switch string(b) {
	case "h2":
		return "h2"
	case "http/1.1":
		return "http/1.1"
	case "http/1.0":
		return "http/1.0"
	case "h3":
		return "h3"
	case "h3-29":
		return "h3-29"
	case "spdy/3.1":
		return "spdy/3.1"
	case "dot":
		return "dot"
	case "doq":
		return "doq"
	case "acme-tls/1":
		return "acme-tls/1"
	case "webrtc":
		return "webrtc"
	case "c-webrtc":
		return "c-webrtc"
	case "stun.turn":
		return "stun.turn"
	case "imap":
		return "imap"
	case "pop3":
		return "pop3"
	case "smb":
		return "smb"
	case "mqtt":
		return "mqtt"
	case "xmpp-client":
		return "xmpp-client"
	case "xmpp-server":
		return "xmpp-server"
	}
	return string(b)
}

// tlsRecord checks a TLS record header (RFC 8446 5.1) carrying handshake
// messages and returns the fragment, cut to what b holds.
func tlsRecord(b []byte) ([]byte, bool) {
	if len(b) < tlsRecordHeader || b[0] != tlsContentHandshake || b[1] != 3 || b[2] > 4 {
		return nil, false
	}
	n := be16(b[3:])
	if n < 4 || n > tlsMaxRecord {
		return nil, false
	}
	frag := b[tlsRecordHeader:]
	if len(frag) > n {
		frag = frag[:n]
	}
	return frag, true
}

// clientHelloMessage parses a handshake message that must be a ClientHello;
// msg starts at the 4-byte handshake header and may be cut off.
func clientHelloMessage(msg []byte, dtls bool) (helloView, bool) {
	if len(msg) < 4 || msg[0] != tlsHandshakeClient {
		return helloView{}, false
	}
	n := be24(msg[1:])
	if n < helloMinBody+6 { // + cipher suites(2+2) + compression(1+1)
		return helloView{}, false
	}
	body := msg[4:]
	if len(body) > n {
		body = body[:n]
	}
	return helloBody(body, dtls)
}

// parseTLSRecordClientHello parses a TCP payload head that starts with a TLS
// handshake record holding a ClientHello. It tolerates a hello cut off by
// the head size: ok is true when the record and handshake headers are valid,
// and h holds what could be read. A ClientHello fragmented over several
// records is read up to the end of the first record.
func parseTLSRecordClientHello(b []byte) (h clientHello, ok bool) {
	frag, ok := tlsRecord(b)
	if !ok {
		return h, false
	}
	v, ok := clientHelloMessage(frag, false)
	if !ok {
		return h, false
	}
	return v.hello(), true
}

// tlsClientHelloView is parseTLSRecordClientHello without allocation: the
// slices of the result point into b.
func tlsClientHelloView(b []byte) (helloView, bool) {
	frag, ok := tlsRecord(b)
	if !ok {
		return helloView{}, false
	}
	return clientHelloMessage(frag, false)
}

// isTLSServerHello reports whether b starts with a TLS handshake record
// whose first message is a ServerHello. Only the first record is looked at;
// records and messages may follow it.
func isTLSServerHello(b []byte) bool {
	frag, ok := tlsRecord(b)
	if !ok || len(frag) < 4 || frag[0] != tlsHandshakeServer {
		return false
	}
	n := be24(frag[1:])
	// legacy_version(2) random(32) session_id(1+) cipher_suite(2) compression(1)
	if n < helloMinBody+3 || n > tlsMaxRecord {
		return false
	}
	if len(frag) >= 5 && frag[4] != 3 { // legacy_version major
		return false
	}
	if len(frag) >= 4+helloMinBody && frag[4+helloMinBody-1] > 32 { // session id length
		return false
	}
	return true
}

// dtlsVersionOK accepts DTLS 1.0 (0xfeff), 1.2 (0xfefd) and 1.3 (0xfefc).
func dtlsVersionOK(b []byte) bool {
	return b[0] == 0xfe && (b[1] == 0xff || b[1] == 0xfd || b[1] == 0xfc)
}

// parseDTLSClientHello parses a UDP payload that starts with a DTLS
// handshake record (RFC 6347 4.1, RFC 9147 4) holding the first fragment of
// a ClientHello. A cut-off hello yields what could be read, as for TLS.
func parseDTLSClientHello(b []byte) (h clientHello, ok bool) {
	v, ok := dtlsClientHelloView(b)
	if !ok {
		return h, false
	}
	return v.hello(), true
}

// dtlsClientHelloView is parseDTLSClientHello without allocation.
func dtlsClientHelloView(b []byte) (helloView, bool) {
	// type(1) version(2) epoch(2) sequence_number(6) length(2)
	if len(b) < dtlsRecordHeader+dtlsHSHeader || b[0] != tlsContentHandshake || !dtlsVersionOK(b[1:]) {
		return helloView{}, false
	}
	if b[3] != 0 || b[4] != 0 { // a ClientHello is sent in epoch 0
		return helloView{}, false
	}
	n := be16(b[11:])
	if n < dtlsHSHeader || n > tlsMaxRecord {
		return helloView{}, false
	}
	frag := b[dtlsRecordHeader:]
	if len(frag) > n {
		frag = frag[:n]
	}
	// msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)
	if frag[0] != tlsHandshakeClient {
		return helloView{}, false
	}
	length := be24(frag[1:])
	fragOff := be24(frag[6:])
	fragLen := be24(frag[9:])
	if length < helloMinBody+7 || fragOff != 0 || fragLen > length || fragLen > n-dtlsHSHeader {
		return helloView{}, false
	}
	body := frag[dtlsHSHeader:]
	if len(body) > fragLen {
		body = body[:fragLen]
	}
	return helloBody(body, true)
}
