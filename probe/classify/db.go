package classify

import "github.com/spanflow/spanflow/cache/app"

// Databases: MySQL (client/server protocol, Initial Handshake), PostgreSQL
// (frontend/backend protocol 3.0, StartupMessage and SSLRequest), Redis
// (RESP) and Cassandra (CQL native protocol v3-v5 frame header).

func matchMySQL(p *packet) (app.ID, conf) {
	b := p.b
	// 3-byte little-endian length, sequence 0, protocol 10, version
	// "5.7.x"/"8.0.x", NUL.
	if len(b) < 10 || b[3] != 0 || b[4] != 10 {
		return app.Unknown, none
	}
	l := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if l+4 != p.n || !isDigit(b[5]) {
		return app.Unknown, none
	}
	for i := 5; i < len(b) && i < 5+40; i++ {
		if b[i] == 0 {
			if i > 6 {
				return app.MySQL, sure
			}
			break
		}
		if b[i] < 0x20 || b[i] > 0x7e {
			break
		}
	}
	return app.Unknown, none
}

func matchPostgreSQL(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 || int(u32(b)) != p.n {
		return app.Unknown, none
	}
	switch u32(b[4:]) {
	case 0x00030000: // StartupMessage, protocol 3.0
		if p.n > 8 && contains(b[8:], "user\x00") {
			return app.PostgreSQL, sure
		}
	case 80877103, 80877104: // SSLRequest, GSSENCRequest
		if p.n == 8 {
			return sureIf(app.PostgreSQL, p.port(5432))
		}
	}
	return app.Unknown, none
}

// matchRedis: a client command is an array of bulk strings,
// "*<n>\r\n$<len>\r\n".
func matchRedis(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 || b[0] != '*' {
		return app.Unknown, none
	}
	d := digits(b[1:])
	if d == 0 || d > 3 || len(b) < 1+d+3 || b[1+d] != '\r' || b[2+d] != '\n' || b[3+d] != '$' {
		return app.Unknown, none
	}
	rest := b[4+d:]
	if e := digits(rest); e > 0 && e < 10 && len(rest) > e+1 && rest[e] == '\r' {
		return app.Redis, sure
	}
	return app.Unknown, none
}

func matchCassandra(p *packet) (app.ID, conf) {
	b := p.b
	// version (0x03-0x05, high bit for responses), flags, stream(2),
	// opcode, body length(4).
	if len(b) < 9 || b[0]&0x7f < 3 || b[0]&0x7f > 5 || b[1] > 0x1f || b[4] > 0x10 {
		return app.Unknown, none
	}
	if int(u32(b[5:]))+9 != p.n {
		return app.Unknown, none
	}
	switch b[4] {
	case 0x01, 0x05, 0x02, 0x06: // STARTUP, OPTIONS, READY, SUPPORTED
		return app.Cassandra, sure
	}
	return sureIf(app.Cassandra, p.port(9042))
}
