package classify

import "github.com/spanflow/spanflow/cache/app"

// DNS (RFC 1035 4.1), mDNS (RFC 6762) and LLMNR (RFC 4795) share one
// message format, so the payload says "DNS family" and the port says
// which: 5353 is mDNS, 5355 LLMNR, anything else DNS. NetBIOS name service
// (RFC 1002 4.2) uses the format too, with a 32-letter encoded name.

// dnsQuestion checks a DNS header and its first name, returning the name's
// bytes in wire form (labels) and whether the message looks like DNS. The
// check is strict where random data would pass: opcode, counts, label
// syntax, and the class of the first record.
func dnsQuestion(b []byte, n int) (name []byte, ok bool) {
	if len(b) < 12 || n < 17 {
		return nil, false
	}
	flags := u16(b[2:])
	opcode := flags >> 11 & 0xf
	if opcode != 0 && opcode != 2 && opcode != 4 && opcode != 5 {
		return nil, false
	}
	qd, an, ns, ar := u16(b[4:]), u16(b[6:]), u16(b[8:]), u16(b[10:])
	if qd > 8 || an > 256 || ns > 256 || ar > 256 || qd+an+ns+ar == 0 {
		return nil, false
	}
	qr := flags&0x8000 != 0
	if !qr && (qd == 0 && opcode != 5 || an > 16) {
		return nil, false
	}
	// The first name: the question's, or the first answer's when there is
	// no question (mDNS announcements). It cannot be a pointer: nothing
	// precedes it.
	off, total := 12, 0
	for {
		if off >= len(b) {
			return nil, len(b) < n && total > 0 // cut inside the name
		}
		l := int(b[off])
		if l == 0 {
			break
		}
		if l > 63 || off+1+l > len(b) && len(b) == n {
			return nil, false
		}
		total += l + 1
		if total > 255 {
			return nil, false
		}
		for _, c := range b[off+1 : min(off+1+l, len(b))] {
			if c < 0x20 || c == 0x7f {
				return nil, false
			}
		}
		off += 1 + l
	}
	name = b[12:off]
	off++
	if off+4 > len(b) {
		return name, len(b) < n || off+4 == n
	}
	qtype, qclass := u16(b[off:]), u16(b[off+2:])&0x7fff // mDNS uses the top bit
	if qtype == 0 || qtype > 260 && qtype != 32768 && qtype != 32769 && qtype != 65521 && qtype != 65534 {
		return nil, false
	}
	if qclass != 1 && qclass != 3 && qclass != 4 && qclass != 254 && qclass != 255 {
		return nil, false
	}
	return name, true
}

// dotted writes a wire-form name as dotted text into the flow's name.
func (f *Flow) setDNSName(wire []byte) {
	if f.nameLen > 0 || len(wire) < 2 {
		return
	}
	var buf [maxName]byte
	n := 0
	for len(wire) > 0 && n < maxName {
		l := int(wire[0])
		wire = wire[1:]
		if l > len(wire) {
			l = len(wire)
		}
		if n > 0 {
			buf[n] = '.'
			n++
		}
		n += copy(buf[n:], wire[:l])
		wire = wire[l:]
	}
	f.setName(buf[:n])
}

// isNetBIOSName reports whether wire is one 32-byte label of the RFC 1001
// 14.1 half-byte encoding ('A'..'P'), possibly followed by a scope.
func isNetBIOSName(wire []byte) bool {
	if len(wire) < 33 || wire[0] != 32 {
		return false
	}
	for _, c := range wire[1:33] {
		if c < 'A' || c > 'P' {
			return false
		}
	}
	return true
}

func dnsFamily(p *packet, b []byte, n int) (app.ID, conf) {
	name, ok := dnsQuestion(b, n)
	if !ok {
		return app.Unknown, none
	}
	if isNetBIOSName(name) {
		return app.NetBIOS, sure
	}
	id := app.DNS
	switch {
	case p.port(5353):
		id = app.MDNS
	case p.port(5355):
		id = app.LLMNR
	}
	p.f.setDNSName(name)
	return id, sure
}

func matchDNS(p *packet) (app.ID, conf) { return dnsFamily(p, p.b, p.n) }

// matchDNSTCP: DNS over TCP prefixes each message with its length (RFC
// 1035 4.2.2).
func matchDNSTCP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 14 {
		return app.Unknown, none
	}
	l := int(u16(b))
	if l < 12 || l+2 > p.n && !p.cut() {
		return app.Unknown, none
	}
	id, c := dnsFamily(p, b[2:], min(l, p.n-2))
	if id == app.NetBIOS {
		return app.Unknown, none
	}
	return id, c
}
