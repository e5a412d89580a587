package classify

import "github.com/spanflow/spanflow/cache/app"

// BER-encoded protocols (X.690): SNMP (RFC 3416, 3412), LDAP (RFC 4511 4.2)
// and Kerberos (RFC 4120 5.x). Each starts with a tag and a definite length
// that must account for the message, which is what keeps random data out.

func matchBER(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 7 {
		return app.Unknown, none
	}
	off := 0
	if p.f.proto == ProtoTCP && b[0] == 0 && b[1] == 0 {
		// Kerberos over TCP: a 4-byte record length first (RFC 4120 7.2.2).
		if int(u32(b)) != p.n-4 {
			return app.Unknown, none
		}
		off = 4
	}
	switch b[off] {
	case 0x30:
		if off != 0 {
			return app.Unknown, none
		}
		return berSequence(p)
	case 0x6a, 0x6b, 0x6c, 0x6d, 0x7e: // AS-REQ, AS-REP, TGS-REQ, TGS-REP, KRB-ERROR
		return kerberos(p, b[off:], p.n-off)
	}
	return app.Unknown, none
}

// berOuter reads the outer tag and length of b and checks the length
// against the payload.
func berOuter(b []byte, n int) (body []byte, ok bool) {
	l, size, ok := berLen(b[1:])
	if !ok || 1+size+l != n {
		return nil, false
	}
	return b[1+size:], true
}

// berSequence tells SNMP from LDAP: both are a SEQUENCE starting with an
// INTEGER; SNMP's (the version) is followed by a community string or a v3
// header, LDAP's (the message ID) by an application-tagged operation.
func berSequence(p *packet) (app.ID, conf) {
	body, ok := berOuter(p.b, p.n)
	if !ok || len(body) < 3 || body[0] != 0x02 || body[1] < 1 || body[1] > 4 {
		return app.Unknown, none
	}
	il := int(body[1])
	if len(body) < 2+il+2 {
		return app.Unknown, none
	}
	next := body[2+il:]
	switch {
	case il == 1 && body[2] <= 1 && next[0] == 0x04: // v1, v2c: community
		cl := int(next[1])
		if cl > 64 || len(next) < 2+cl+1 {
			return app.Unknown, none
		}
		if pdu := next[2+cl]; pdu >= 0xa0 && pdu <= 0xa8 {
			return app.SNMP, sure
		}
	case il == 1 && body[2] == 3 && next[0] == 0x30: // v3: msgGlobalData
		return app.SNMP, sure
	case next[0] >= 0x60 && next[0] <= 0x78 || next[0] == 0x42 || next[0] == 0x50:
		// LDAP protocolOp: BindRequest 0x60 … ExtendedResponse 0x78,
		// UnbindRequest 0x42, AbandonRequest 0x50.
		if _, _, ok := berLen(next[1:]); ok {
			return app.LDAP, sure
		}
	}
	return app.Unknown, none
}

// kerberos checks an application-tagged Kerberos message: the outer length,
// a SEQUENCE, and pvno (or the KDC-REQ's first fields) equal to 5.
func kerberos(p *packet, b []byte, n int) (app.ID, conf) {
	body, ok := berOuter(b, n)
	if !ok || len(body) < 8 || body[0] != 0x30 {
		return app.Unknown, none
	}
	_, size, ok := berLen(body[1:])
	if !ok || len(body) < 1+size+5 {
		return app.Unknown, none
	}
	f := body[1+size:]
	// [0] or [1] INTEGER 5: a0/a1 03 02 01 05
	if (f[0] == 0xa0 || f[0] == 0xa1) && f[1] == 3 && f[2] == 2 && f[3] == 1 && f[4] == 5 {
		return app.Kerberos, sure
	}
	return app.Unknown, none
}
