package classify

import "github.com/spanflow/spanflow/cache/app"

// NetBIOS over TCP/IP (RFC 1002) and SMB on top of it (MS-SMB, MS-SMB2).

// matchNetBIOSUDP recognizes the datagram service (RFC 1002 4.4); the name
// service is DNS-shaped and found by dnsFamily.
func matchNetBIOSUDP(p *packet) (app.ID, conf) {
	b := p.b
	// DIRECT_UNIQUE, DIRECT_GROUP, BROADCAST: 14-byte header, 2-byte
	// length and offset, then the encoded source name.
	if len(b) < 14+33 || b[0] < 0x10 || b[0] > 0x12 {
		return app.Unknown, none
	}
	if isNetBIOSName(b[14:]) {
		return app.NetBIOS, sure
	}
	return app.Unknown, none
}

// matchNetBIOSSession recognizes a session-service packet (RFC 1002 4.3):
// a session request naming two encoded names, a response, or a session
// message carrying SMB, which is named by its version as nDPI does.
func matchNetBIOSSession(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 4 || b[1]&0xfe != 0 {
		return app.Unknown, none
	}
	l := int(b[1]&1)<<16 | int(u16(b[2:]))
	switch b[0] {
	case 0x00: // session message
		if len(b) < 8 || l+4 < p.n && !p.cut() {
			return app.Unknown, none
		}
		switch {
		case p.port(139) && (hasPrefix(b[4:], "\xffSMB") || hasPrefix(b[4:], "\xfeSMB")):
			return app.NetBIOS, sure // nDPI names SMB inside a NetBIOS session NetBIOS
		case hasPrefix(b[4:], "\xffSMB"):
			return app.SMBv1, sure
		case hasPrefix(b[4:], "\xfeSMB"), hasPrefix(b[4:], "\xfdSMB"):
			return app.SMBv23, sure
		}
	case 0x81: // session request
		if l+4 == p.n && isNetBIOSName(b[4:]) {
			return app.NetBIOS, sure
		}
	case 0x82, 0x83: // positive, negative response
		if l+4 == p.n && l <= 1 && p.port(139) {
			return app.NetBIOS, sure
		}
	}
	return app.Unknown, none
}
