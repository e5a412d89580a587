package classify

import "github.com/spanflow/spanflow/cache/app"

// Remote access: SSH (RFC 4253 4.2), Telnet (RFC 854), RDP (MS-RDPBCGR
// 2.2.1.1 over X.224 and TPKT, RFC 1006) and VNC (RFC 6143 7.1.1).

func matchSSH(p *packet) (app.ID, conf) {
	if hasPrefix(p.b, "SSH-1.") || hasPrefix(p.b, "SSH-2.") {
		return app.SSH, sure
	}
	return app.Unknown, none
}

func matchVNC(p *packet) (app.ID, conf) {
	if hasPrefix(p.b, "RFB 00") && len(p.b) >= 11 && p.b[7] == '.' {
		return app.VNC, sure
	}
	return app.Unknown, none
}

// matchTelnet accepts a head made only of option negotiations (IAC
// WILL/WONT/DO/DONT opt, IAC SB … IAC SE), as both ends send first.
func matchTelnet(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 3 || b[0] != 0xff || b[1] < 250 {
		return app.Unknown, none
	}
	commands := 0
	for i := 0; i < len(b); {
		if b[i] != 0xff {
			// Text may follow the negotiation (a login prompt).
			break
		}
		if i+1 >= len(b) {
			break
		}
		switch c := b[i+1]; {
		case c >= 251 && c <= 254:
			i += 3
			commands++
		case c == 250: // SB: skip to IAC SE
			j := i + 2
			for j+1 < len(b) && !(b[j] == 0xff && b[j+1] == 240) {
				j++
			}
			i = j + 2
			commands++
		case c >= 241 && c <= 249:
			i += 2
		default:
			return app.Unknown, none
		}
	}
	if commands == 0 {
		return app.Unknown, none
	}
	return app.Telnet, sure
}

func matchRDP(p *packet) (app.ID, conf) {
	b := p.b
	// TPKT version 3, length; X.224 length indicator, then CR (0xe0) or CC (0xd0).
	if len(b) < 11 || b[0] != 3 || b[1] != 0 || int(u16(b[2:])) != p.n {
		return app.Unknown, none
	}
	if b[5]&0xf0 != 0xe0 && b[5]&0xf0 != 0xd0 || int(b[4])+5 != p.n {
		return app.Unknown, none
	}
	// A cookie or a negotiation request/response marks RDP among the
	// other protocols on X.224 (ISO-TSAP, S7comm).
	if contains(b, "Cookie: mstshash=") || contains(b, "Cookie: msts=") || p.port(3389) {
		return app.RDP, sure
	}
	if !p.cut() && p.n >= 19 && (b[p.n-8] == 1 || b[p.n-8] == 2) && b[p.n-6] == 8 && b[p.n-5] == 0 {
		return app.RDP, sure
	}
	return app.Unknown, none
}
