package classify

import "github.com/spanflow/spanflow/cache/app"

// Real-time media: STUN (RFC 8489 5, RFC 3489 11.1), RTP (RFC 3550 5.1)
// and RTCP (RFC 3550 6.4).

func matchSTUN(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 20 || b[0]&0xc0 != 0 || int(u16(b[2:]))+20 != p.n || u16(b[2:])%4 != 0 {
		return app.Unknown, none
	}
	if u32(b[4:]) == 0x2112a442 { // magic cookie
		return app.STUN, sure
	}
	// RFC 3489 has no cookie: require a known type and attributes that
	// tile the message.
	switch u16(b) {
	case 0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112:
	default:
		return app.Unknown, none
	}
	off := 20
	for off+4 <= len(b) {
		off += 4 + int(u16(b[off+2:])+3)&^3
	}
	if off == p.n || off > len(b) && p.cut() {
		return sureIf(app.STUN, p.port(3478))
	}
	return app.Unknown, none
}

// rtpState follows one direction's RTP stream: a flow is RTP when two
// packets of a direction carry the same SSRC and near sequence numbers.
type rtpState struct {
	ssrc uint32
	seq  uint16
	seen bool
}

func matchRTP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 12 || b[0]>>6 != 2 {
		return app.Unknown, none
	}
	pt := b[1] & 0x7f
	if pt >= 72 && pt <= 76 || 12+4*int(b[0]&0x0f) > p.n {
		return app.Unknown, none // RTCP packet types, or CSRCs past the end
	}
	seq, ssrc := u16(b[2:]), u32(b[8:])
	s := &p.f.rtp[p.dir]
	if s.seen && s.ssrc == ssrc && seq != s.seq && seq-s.seq < 16 {
		return app.RTP, sure
	}
	s.ssrc, s.seq, s.seen = ssrc, seq, true
	return app.Unknown, none
}

// matchRTCP: a compound packet whose lengths tile the datagram and whose
// first packet is a sender or receiver report (RFC 3550 6.1).
func matchRTCP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 || b[0]>>6 != 2 || b[1] != 200 && b[1] != 201 {
		return app.Unknown, none
	}
	off := 0
	for off+4 <= len(b) {
		if b[off]>>6 != 2 || b[off+1] < 192 || b[off+1] > 207 {
			return app.Unknown, none
		}
		off += 4 * (int(u16(b[off+2:])) + 1)
	}
	if off == p.n || off > len(b) && p.cut() {
		return app.RTCP, sure
	}
	return app.Unknown, none
}
