package classify

import "github.com/spanflow/spanflow/cache/app"

// Tunnels and VPNs: OpenVPN, WireGuard, IKE and ESP-in-UDP (IPsec), PPTP,
// Teredo, GTP and SOCKS.

// OpenVPN opcodes (high 5 bits of the first byte).
const (
	ovpnClientResetV1 = 1
	ovpnServerResetV1 = 2
	ovpnClientResetV2 = 7
	ovpnServerResetV2 = 8
	ovpnClientResetV3 = 10
)

// openVPN recognizes a hard reset: a client's from the initiator, then the
// server's from the responder. The server's reset acknowledges the
// client's packet by echoing the client's session ID, which random data
// will not do; the client's alone is believed on port 1194.
func openVPN(p *packet, b []byte) (app.ID, conf) {
	if len(b) < 14 || b[0]&7 != 0 {
		return app.Unknown, none
	}
	op := b[0] >> 3
	switch {
	case p.dir == FromInitiator && (op == ovpnClientResetV1 || op == ovpnClientResetV2 || op == ovpnClientResetV3):
		copy(p.f.sess[:], b[1:9])
		p.f.hint = hintOpenVPN
		if p.port(1194) {
			return app.OpenVPN, sure
		}
		return app.Unknown, none // VXLAN's first byte is 0x08 too: wait for the echo
	case p.dir == FromResponder && p.f.hint == hintOpenVPN && (op == ovpnServerResetV1 || op == ovpnServerResetV2):
		if index(b[9:min(len(b), 80)], string(p.f.sess[:])) >= 0 {
			return app.OpenVPN, sure
		}
	}
	return app.Unknown, none
}

func matchOpenVPNUDP(p *packet) (app.ID, conf) { return openVPN(p, p.b) }

func matchOpenVPNTCP(p *packet) (app.ID, conf) {
	if len(p.b) < 16 || int(u16(p.b))+2 != p.n && !p.cut() {
		return app.Unknown, none
	}
	return openVPN(p, p.b[2:])
}

// matchWireGuard: message types 1-3 have fixed sizes (148, 92, 64 bytes,
// whitepaper 5.4); transport data (4) is padded to 16 bytes.
func matchWireGuard(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 4 || b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return app.Unknown, none
	}
	switch {
	case b[0] == 1 && p.n == 148, b[0] == 2 && p.n == 92, b[0] == 3 && p.n == 64:
		return app.WireGuard, sure
	case b[0] == 4 && p.n >= 32 && (p.n-16)%16 == 0:
		return app.WireGuard, weak
	}
	return app.Unknown, none
}

// matchIKE recognizes an ISAKMP/IKE header (RFC 2408 3.1, RFC 7296 3.1),
// directly on port 500 or after the 4-byte non-ESP marker on 4500 (RFC
// 3948 2.2), and ESP in UDP on 4500. nDPI names all of it IPsec.
func matchIKE(p *packet) (app.ID, conf) {
	b, n := p.b, p.n
	if len(b) >= 4 && u32(b) == 0 {
		b, n = b[4:], n-4
	} else if p.port(4500) && len(b) >= 8 && u32(b) != 0 && p.n > 8 {
		// ESP: SPI (non-zero), sequence number.
		if n == 1 && b[0] == 0xff { // NAT-keepalive
			return app.IPsec, sure
		}
		return app.IPsec, weak
	}
	if len(b) < 28 || int(u32(b[24:])) != n {
		return app.Unknown, none
	}
	if u32(b) == 0 && u32(b[4:]) == 0 { // initiator SPI is never zero
		return app.Unknown, none
	}
	switch b[17] { // major.minor version
	case 0x10, 0x20:
	default:
		return app.Unknown, none
	}
	return app.IPsec, sure
}

// matchPPTP: control messages carry the magic cookie 0x1A2B3C4D (RFC 2637 2).
func matchPPTP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) >= 12 && int(u16(b)) <= p.n && u16(b[2:]) == 1 && u32(b[4:]) == 0x1a2b3c4d {
		return app.PPTP, sure
	}
	return app.Unknown, none
}

// matchTeredo: an IPv6 packet in UDP (RFC 4380 5.1), possibly behind an
// authentication or origin indication header.
func matchTeredo(p *packet) (app.ID, conf) {
	b, n := p.b, p.n
	if len(b) >= 8 && b[0] == 0 && b[1] == 0 { // origin indication
		b, n = b[8:], n-8
	} else if len(b) >= 13 && b[0] == 0 && b[1] == 1 { // authentication
		skip := 13 + int(b[2]) + int(b[3])
		if skip > len(b) {
			return app.Unknown, none
		}
		b, n = b[skip:], n-skip
		if len(b) >= 8 && b[0] == 0 && b[1] == 0 {
			b, n = b[8:], n-8
		}
	}
	if len(b) < 40 || b[0]>>4 != 6 || int(u16(b[4:]))+40 != n {
		return app.Unknown, none
	}
	switch b[6] { // next header: ICMPv6, TCP, UDP, no next header, hop-by-hop
	case 58, 6, 17, 59, 0:
		return app.Teredo, sure
	}
	return app.Unknown, none
}

// matchGTP: GTPv1 (3GPP TS 29.060 6) and GTPv2-C (TS 29.274 5.1) headers
// whose length field covers the rest of the datagram.
func matchGTP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 {
		return app.Unknown, none
	}
	switch b[0] >> 5 {
	case 1: // v1, protocol type GTP
		if b[0]&0x10 != 0 && int(u16(b[2:]))+8 == p.n && (b[1] == 0xff || b[1] <= 0x3f) {
			return sureIf(app.GTP, p.port(2152, 2123, 3386))
		}
	case 2:
		if int(u16(b[2:]))+4 == p.n && b[1] >= 1 && b[1] <= 0xf1 {
			return sureIf(app.GTP, p.port(2123))
		}
	}
	return app.Unknown, none
}

// matchSOCKS: a SOCKS5 method negotiation (RFC 1928 3) answered by the
// server's two-byte choice, or a SOCKS4 CONNECT/BIND request.
func matchSOCKS(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 2 {
		return app.Unknown, none
	}
	switch {
	case p.dir == FromInitiator && b[0] == 5 && b[1] >= 1 && b[1] <= 9 && p.n == 2+int(b[1]):
		for _, m := range b[2:] {
			if m > 3 && m < 0x80 || m == 0xff {
				return app.Unknown, none
			}
		}
		p.f.hint = hintSOCKS
		return sureIf(app.SOCKS, p.port(1080))
	case p.dir == FromResponder && p.f.hint == hintSOCKS && p.n == 2 && b[0] == 5 && (b[1] <= 3 || b[1] == 0xff):
		return app.SOCKS, sure
	case p.dir == FromInitiator && b[0] == 4 && (b[1] == 1 || b[1] == 2) && p.n >= 9 && !p.cut() && b[p.n-1] == 0:
		return sureIf(app.SOCKS, p.port(1080))
	}
	return app.Unknown, none
}
