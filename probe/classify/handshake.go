package classify

import "github.com/spanflow/spanflow/cache/app"

// TLS, DTLS and QUIC: the handshake parsers live in tls.go and quic.go;
// these recognizers turn their results into verdicts.

func matchTLS(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 6 || b[0] != 0x16 || b[1] != 3 {
		return app.Unknown, none
	}
	if h, ok := parseTLSRecordClientHello(b); ok {
		p.f.keepHello(h)
	} else if !isTLSServerHello(b) {
		return app.Unknown, none
	}
	return implicitTLS(p), sure
}

// implicitTLS names TLS on the ports of mail protocols that run inside TLS
// from the first byte, as nDPI 4.2 does (IMAPS, POPS, SMTPS). DNS over TLS
// stays TLS: nDPI makes DoH_DoT its sub-protocol, not its master.
func implicitTLS(p *packet) app.ID {
	switch {
	case p.port(993):
		return app.IMAPS
	case p.port(995):
		return app.POPS
	case p.port(465):
		return app.SMTPS
	}
	return app.TLS
}

func (f *Flow) keepHello(h clientHello) {
	if h.SNI != "" && f.v.Server == "" && f.nameLen == 0 {
		f.v.Server = h.SNI
	}
	if h.Version != 0 {
		f.v.TLSVersion = h.Version
	}
	if len(h.ALPN) > 0 {
		f.v.ALPN = h.ALPN[0]
	}
}

func matchDTLS(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 13 || b[0] < 20 || b[0] > 25 || b[1] != 0xfe {
		return app.Unknown, none
	}
	if h, ok := parseDTLSClientHello(b); ok {
		p.f.keepHello(h)
		return app.DTLS, sure
	}
	if b[2] != 0xff && b[2] != 0xfd && b[2] != 0xfc {
		return app.Unknown, none
	}
	// Other records (ServerHello, alerts, application data): the record
	// lengths must tile the datagram (RFC 6347 4.1).
	off := 0
	for off+13 <= len(b) {
		r := b[off:]
		if r[0] < 20 || r[0] > 25 || r[1] != 0xfe {
			return app.Unknown, none
		}
		off += 13 + int(u16(r[11:]))
	}
	if off == p.n || off > len(b) && p.cut() {
		return app.DTLS, sure
	}
	return app.Unknown, none
}

func matchQUIC(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 7 {
		return app.Unknown, none
	}
	if b[0]&0x80 != 0 {
		if version, h, ok := quicInitial(b); ok {
			p.f.keepHello(h)
			p.f.v.QUICVersion = version
			return app.QUIC, sure
		}
		if version, ok := isQUICLongHeader(b); ok {
			if p.f.v.QUICVersion == 0 {
				p.f.v.QUICVersion = version
			}
			return app.QUIC, sure
		}
		// gQUIC Q046 and later use the long-header form with a "Q0nn"
		// version.
		if len(b) >= 5 && (b[1] == 'Q' || b[1] == 'T') && isDigit(b[2]) && isDigit(b[3]) && isDigit(b[4]) {
			p.f.v.QUICVersion = u32(b[1:])
			return app.QUIC, sure
		}
	}
	// gQUIC before Q046: public flags with the version bit, an 8-byte
	// connection ID, then "Q0nn" (draft-tsvwg-quic-protocol 5).
	if b[0]&0x01 != 0 && b[0]&0x08 != 0 && b[0]&0x80 == 0 && len(b) >= 13 &&
		b[9] == 'Q' && isDigit(b[10]) && isDigit(b[11]) && isDigit(b[12]) {
		p.f.v.QUICVersion = u32(b[9:])
		return app.QUIC, sure
	}
	return app.Unknown, none
}
