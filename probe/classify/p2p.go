package classify

import "github.com/spanflow/spanflow/cache/app"

// Peer to peer: BitTorrent (BEP 3 handshake, BEP 29 uTP, BEP 5 DHT) and
// Gnutella (0.6 handshake).

func matchBitTorrentTCP(p *packet) (app.ID, conf) {
	if hasPrefix(p.b, "\x13BitTorrent protocol") {
		return app.BitTorrent, sure
	}
	if hasPrefix(p.b, "GET /announce?") || hasPrefix(p.b, "GET /scrape?") {
		if contains(p.b, "info_hash=") {
			return app.BitTorrent, sure
		}
	}
	return app.Unknown, none
}

func matchBitTorrentUDP(p *packet) (app.ID, conf) {
	b := p.b
	// DHT: a bencoded dictionary whose keys include "y" (message type).
	if hasPrefix(b, "d1:") {
		if contains(b, "1:y1:q") || contains(b, "1:y1:r") || contains(b, "1:y1:e") ||
			hasPrefix(b, "d1:ad2:id20:") || hasPrefix(b, "d1:rd2:id20:") {
			return app.BitTorrent, sure
		}
	}
	if hasPrefix(b, "d1:ad2:id20:") || hasPrefix(b, "d1:rd2:id20:") {
		return app.BitTorrent, sure
	}
	// uTP: version 1 with a type 0-4, a known extension, 20-byte header.
	if len(b) < 20 || b[0]&0x0f != 1 || b[0]>>4 > 4 || b[1] > 3 {
		return app.Unknown, none
	}
	connID := b[2:4]
	switch {
	case b[0]>>4 == 4 && p.dir == FromInitiator: // ST_SYN
		copy(p.f.sess[:2], connID)
		p.f.hint = hintUTP
		return app.BitTorrent, weak
	case b[0]>>4 == 2 && p.dir == FromResponder && p.f.hint == hintUTP: // ST_STATE answering the SYN
		if string(connID) == string(p.f.sess[:2]) {
			return app.BitTorrent, sure
		}
	}
	return app.BitTorrent, weak
}

func matchGnutella(p *packet) (app.ID, conf) {
	b := p.b
	switch {
	case hasPrefix(b, "GNUTELLA CONNECT/") || hasPrefix(b, "GNUTELLA/0.6 ") || hasPrefix(b, "GNUTELLA OK"):
		return app.Gnutella, sure
	case p.f.proto == ProtoUDP && hasPrefix(b, "GND") && len(b) >= 8:
		return app.Gnutella, sure
	}
	return app.Unknown, none
}
