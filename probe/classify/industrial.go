package classify

import "github.com/spanflow/spanflow/cache/app"

// Industrial and IoT: DNP3 (IEEE 1815 data link layer), Modbus/TCP (MBAP
// header) and MQTT (CONNECT, MQTT 3.1.1 3.1 and 5.0 3.1).

// matchDNP3 checks the start bytes 0x05 0x64 and the CRC of the 8-byte
// link header, which random data fails.
func matchDNP3(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 10 || b[0] != 0x05 || b[1] != 0x64 || b[2] < 5 {
		return app.Unknown, none
	}
	crc := dnpCRC(b[:8])
	if uint16(b[8])|uint16(b[9])<<8 == crc {
		return app.DNP3, sure
	}
	return app.Unknown, none
}

// dnpCRC is DNP3's CRC-16: polynomial 0x3D65, reflected (0xA6BC),
// complemented.
func dnpCRC(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xa6bc
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// matchModbus: protocol identifier 0 and a length that covers the rest;
// the function code must be a public one (or its exception).
func matchModbus(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 || u16(b[2:]) != 0 || int(u16(b[4:]))+6 != p.n {
		return app.Unknown, none
	}
	switch b[7] & 0x7f {
	case 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43:
		return sureIf(app.Modbus, p.port(502))
	}
	return app.Unknown, none
}

func matchMQTT(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 12 || b[0] != 0x10 {
		return app.Unknown, none
	}
	// Remaining length: 1-4 bytes, 7 bits each.
	l, i := 0, 1
	for shift := 0; i < 5 && i < len(b); i++ {
		l |= int(b[i]&0x7f) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			break
		}
	}
	i++
	if i+8 > len(b) || i+l != p.n {
		return app.Unknown, none
	}
	v := b[i:]
	if hasPrefix(v, "\x00\x04MQTT") && (v[6] == 4 || v[6] == 5) || hasPrefix(v, "\x00\x06MQIsdp") {
		return app.MQTT, sure
	}
	return app.Unknown, none
}
