package classify

import "github.com/spanflow/spanflow/cache/app"

// Network services and management: DHCP (RFC 2131 2), DHCPv6 (RFC 8415 8),
// NTP (RFC 5905 7.3, and mode 7 of ntpd), Syslog (RFC 3164, 5424), TFTP
// (RFC 1350 5), NetFlow v1/v5/v7/v9 and IPFIX (RFC 7011 3.1), sFlow v5,
// and RADIUS (RFC 2865 3).

func matchDHCP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 240 || b[0] != 1 && b[0] != 2 || b[2] > 16 || u32(b[236:]) != 0x63825363 {
		return app.Unknown, none
	}
	return app.DHCP, sure
}

func matchDHCPv6(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 || b[0] < 1 || b[0] > 13 || !p.port(546, 547) {
		return app.Unknown, none
	}
	off := 4
	if b[0] == 12 || b[0] == 13 { // relay: hop count, two addresses
		off = 34
	}
	// Options must tile the message.
	for off+4 <= len(b) {
		off += 4 + int(u16(b[off+2:]))
	}
	if off == p.n || off > len(b) && p.cut() {
		return app.DHCPv6, sure
	}
	return app.Unknown, none
}

// matchNTP: the 48-byte header (optionally with a MAC) of versions 1-4 or
// a mode 7 control packet. Random 48-byte datagrams would pass, so port
// 123 on either side is required, as ntpd itself uses it.
func matchNTP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 4 || !p.port(123) {
		return app.Unknown, none
	}
	vn, mode := b[0]>>3&7, b[0]&7
	if vn < 1 || vn > 4 {
		return app.Unknown, none
	}
	switch {
	case mode == 7 || mode == 6: // ntpdc / ntpq
		return app.NTP, sure
	case mode >= 1 && mode <= 5 && p.n >= 48:
		return app.NTP, sure
	}
	return app.Unknown, none
}

// matchSyslog: "<PRI>" then a version digit (RFC 5424) or a timestamp or
// tag (RFC 3164). Text in angle brackets is common, so off port 514 two
// such messages are needed.
func matchSyslog(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 5 || b[0] != '<' {
		return app.Unknown, none
	}
	d := digits(b[1:])
	if d < 1 || d > 3 || b[1+d] != '>' {
		return app.Unknown, none
	}
	pri := 0
	for _, c := range b[1 : 1+d] {
		pri = pri*10 + int(c-'0')
	}
	if pri > 191 {
		return app.Unknown, none
	}
	rest := b[2+d:]
	if len(rest) == 0 || !isDigit(rest[0]) && !isAlpha(rest[0]) && rest[0] != ' ' {
		return app.Unknown, none
	}
	return sureIf(app.Syslog, p.port(514))
}

// matchTFTP: a read or write request names a file and a transfer mode;
// data, acknowledgement and error packets are believed on port 69 or when
// two agree.
func matchTFTP(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 4 || b[0] != 0 || b[1] < 1 || b[1] > 6 {
		return app.Unknown, none
	}
	switch b[1] {
	case 1, 2: // RRQ, WRQ: filename NUL mode NUL
		i := 2
		for i < len(b) && b[i] != 0 && b[i] >= 0x20 && b[i] < 0x7f {
			i++
		}
		if i == 2 || i >= len(b) || b[i] != 0 {
			return app.Unknown, none
		}
		mode := b[i+1:]
		if hasPrefixFold(mode, "OCTET\x00") || hasPrefixFold(mode, "NETASCII\x00") || hasPrefixFold(mode, "MAIL\x00") {
			return app.TFTP, sure
		}
	case 3: // DATA: block, up to 512 bytes (or the negotiated blksize)
		if p.n <= 4+1468 {
			return sureIf(app.TFTP, p.port(69))
		}
	case 4: // ACK
		if p.n == 4 {
			return sureIf(app.TFTP, p.port(69))
		}
	case 5: // ERROR: code, message NUL
		if u16(b[2:]) <= 8 && !p.cut() && b[p.n-1] == 0 {
			return sureIf(app.TFTP, p.port(69))
		}
	}
	return app.Unknown, none
}

// matchExport recognizes flow export datagrams by their version and the
// length their header promises.
func matchExport(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 16 {
		return app.Unknown, none
	}
	if u32(b) == 5 && (u32(b[4:]) == 1 || u32(b[4:]) == 2) {
		return sflow(p)
	}
	count := int(u16(b[2:]))
	switch u16(b) {
	case 1:
		if count >= 1 && count <= 24 && p.n == 16+48*count {
			return app.NetFlow, sure
		}
	case 5:
		if count >= 1 && count <= 30 && p.n == 24+48*count {
			return app.NetFlow, sure
		}
	case 7:
		if count >= 1 && count <= 28 && p.n == 24+52*count {
			return app.NetFlow, sure
		}
	case 9:
		// Header 20 bytes, then FlowSets: ID 0/1 (templates) or ≥ 256,
		// lengths tiling the datagram.
		if len(b) >= 24 && count <= 512 {
			return exportSets(p, 20)
		}
	case 10:
		if int(count) == p.n && len(b) >= 20 { // IPFIX: the length field
			return exportSets(p, 16)
		}
	}
	return app.Unknown, none
}

func exportSets(p *packet, off int) (app.ID, conf) {
	b := p.b
	sets := 0
	for off+4 <= len(b) {
		id, l := u16(b[off:]), int(u16(b[off+2:]))
		if id > 3 && id < 256 || l < 4 {
			return app.Unknown, none
		}
		off += l
		sets++
	}
	if sets > 0 && (off == p.n || off > len(b) && p.cut()) {
		return app.NetFlow, sure
	}
	return app.Unknown, none
}

// sflow: version 5, an agent address of type 1 (IPv4) or 2 (IPv6), a
// sample count that fits.
func sflow(p *packet) (app.ID, conf) {
	b := p.b
	hdr := 28
	if u32(b[4:]) == 2 {
		hdr = 40
	}
	if len(b) < hdr {
		return app.Unknown, none
	}
	if samples := u32(b[hdr-4:]); samples >= 1 && samples <= 64 {
		return app.SFlow, sure
	}
	return app.Unknown, none
}

func matchRadius(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 20 || int(u16(b[2:])) != p.n {
		return app.Unknown, none
	}
	switch b[0] {
	case 1, 2, 3, 4, 5, 11, 12, 13, 40, 41, 42, 43, 44, 45:
		return sureIf(app.Radius, p.port(1812, 1813, 1645, 1646, 3799))
	}
	return app.Unknown, none
}
