package classify

import "github.com/spanflow/spanflow/cache/app"

// Protocols that fit no family above: XMPP (RFC 6120 4.2), ONC RPC for NFS
// (RFC 5531 9), Diameter (RFC 6733 3), and two LAN discovery broadcasts
// nDPI names after their applications (Dropbox LAN sync, Spotify).

func matchXMPP(p *packet) (app.ID, conf) {
	b := p.b
	if !hasPrefix(b, "<?xml") && !hasPrefix(b, "<stream:stream") {
		return app.Unknown, none
	}
	if contains(b, "jabber:client") || contains(b, "jabber:server") || contains(b, "<stream:stream") {
		return app.Jabber, sure
	}
	return app.Unknown, none
}

// matchRPC recognizes a call to the NFS program (100003) or its mount
// daemon (100005); over TCP a record mark comes first.
func matchRPC(p *packet) (app.ID, conf) {
	b, n := p.b, p.n
	if p.f.proto == ProtoTCP {
		if len(b) < 4 || b[0]&0x80 == 0 || int(u32(b)&0x7fffffff)+4 != n && !p.cut() {
			return app.Unknown, none
		}
		b, n = b[4:], n-4
	}
	// xid, msg_type CALL (0), rpcvers 2, prog, vers
	if len(b) < 20 || u32(b[4:]) != 0 || u32(b[8:]) != 2 {
		return app.Unknown, none
	}
	switch u32(b[12:]) {
	case 100003, 100005:
		if v := u32(b[16:]); v >= 1 && v <= 4 {
			return app.NFS, sure
		}
	}
	return app.Unknown, none
}

func matchDiameter(p *packet) (app.ID, conf) {
	b := p.b
	// version 1, 3-byte length, flags (low 4 bits reserved), command code.
	if len(b) < 20 || b[0] != 1 || int(b[1])<<16|int(u16(b[2:])) != p.n || b[4]&0x0f != 0 {
		return app.Unknown, none
	}
	switch int(b[5])<<16 | int(u16(b[6:])) {
	case 257, 258, 271, 272, 274, 275, 280, 282, 316, 317, 318, 319, 320, 321, 322, 323, 324:
		return app.Diameter, sure
	}
	return app.Unknown, none
}

func matchLANSync(p *packet) (app.ID, conf) {
	switch {
	case hasPrefix(p.b, `{"host_int":`) && p.port(17500):
		return app.Dropbox, sure
	case hasPrefix(p.b, "SpotUdp0"):
		return app.Spotify, sure
	}
	return app.Unknown, none
}
