package classify

import "github.com/spanflow/spanflow/cache/app"

// HTTP, RTSP, SIP and SSDP share the request-line / status-line grammar of
// RFC 9112 3 (RFC 2326 6.1, RFC 3261 7.1, UPnP 1.1 1.3): METHOD SP target SP
// PROTO/version, or PROTO/version SP code. The protocol token tells them
// apart, so one parser serves all four on any port.

// requestMethods are the methods accepted when the request line is cut
// before its version: HTTP's (RFC 9110 9, WebDAV), RTSP's and SIP's.
var requestMethods = [...]string{
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH",
	"DESCRIBE", "ANNOUNCE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER",
	"SET_PARAMETER", "RECORD", "REDIRECT", "INVITE", "REGISTER", "ACK", "BYE",
	"CANCEL", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "PRACK",
	"UPDATE", "M-SEARCH",
}

func matchRequestLine(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 8 || !isUpper(b[0]) {
		return app.Unknown, none
	}
	// Status line: PROTO/x.y SP 3DIGIT.
	if id := statusProto(b); id != app.Unknown {
		if id == app.HTTP && p.f.proto == ProtoUDP {
			id = app.SSDP // HTTPU answers to an M-SEARCH
		}
		return id, sure
	}
	// Request line: METHOD SP target SP PROTO/x.y.
	sp := 0
	for sp < len(b) && sp < 16 && (isUpper(b[sp]) || b[sp] == '-' || b[sp] == '_') {
		sp++
	}
	if sp < 3 || sp >= len(b) || b[sp] != ' ' {
		return app.Unknown, none
	}
	method, rest := b[:sp], b[sp+1:]
	end := lineEnd(rest)
	var target, proto []byte
	if end >= 0 {
		line := rest[:end]
		i := lastSpace(line)
		if i <= 0 {
			return app.Unknown, none
		}
		target, proto = line[:i], line[i+1:]
	} else {
		// Cut before the end of the line: believe a known method with a
		// target of the right shape.
		if !knownMethod(method) {
			return app.Unknown, none
		}
		target = rest
	}
	id := app.Unknown
	switch {
	case hasPrefix(proto, "HTTP/1.") || hasPrefix(proto, "HTTP/2") || proto == nil && httpTarget(target):
		id = app.HTTP
		switch {
		case p.f.proto == ProtoUDP:
			id = app.SSDP // HTTPU: M-SEARCH and NOTIFY to 239.255.255.250:1900
		case string(method) == "CONNECT":
			id = app.HTTPConnect
		}
	case hasPrefix(proto, "RTSP/1.") || hasPrefix(proto, "RTSP/2") || proto == nil && hasPrefix(target, "rtsp://"):
		id = app.RTSP
	case hasPrefix(proto, "SIP/2.0") || proto == nil && (hasPrefix(target, "sip:") || hasPrefix(target, "sips:")):
		id = app.SIP
	}
	if id == app.Unknown || len(target) == 0 {
		return app.Unknown, none
	}
	if id == app.HTTP && method[0] == 'G' && (contains(b, "urn:sha1:") || indexFold(b, "\nX-GNUTELLA") >= 0) {
		id = app.Gnutella // Gnutella's transfers are HTTP requests for hashes
	}
	if id != app.SIP {
		p.f.setHost(b)
	}
	return id, sure
}

// statusProto recognizes a status line and names its protocol.
func statusProto(b []byte) app.ID {
	var id app.ID
	var n int
	switch {
	case hasPrefix(b, "HTTP/1.") || hasPrefix(b, "HTTP/2"):
		id, n = app.HTTP, 5
	case hasPrefix(b, "RTSP/1.") || hasPrefix(b, "RTSP/2"):
		id, n = app.RTSP, 5
	case hasPrefix(b, "SIP/2.0"):
		id, n = app.SIP, 7
	default:
		return app.Unknown
	}
	// version digits, SP, three-digit code
	for n < len(b) && (isDigit(b[n]) || b[n] == '.') {
		n++
	}
	if n+4 > len(b) || b[n] != ' ' || digits(b[n+1:]) != 3 {
		return app.Unknown
	}
	return id
}

func knownMethod(m []byte) bool {
	for _, k := range requestMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

// httpTarget accepts the request-target forms of RFC 9112 3.2.
func httpTarget(t []byte) bool {
	return len(t) > 0 && (t[0] == '/' || t[0] == '*') || hasPrefix(t, "http://") || hasPrefix(t, "https://")
}

func lastSpace(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ' ' {
			return i
		}
	}
	return -1
}

// setHost keeps the Host header's name (without its port) as the server.
func (f *Flow) setHost(b []byte) {
	i := indexFold(b, "\nHOST:")
	if i < 0 {
		return
	}
	v := b[i+6:]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	n := 0
	for n < len(v) && v[n] > ' ' && v[n] < 0x7f {
		n++
	}
	v = v[:n]
	if len(v) > 0 && v[0] != '[' { // strip :port, but not inside an IPv6 literal
		for j := len(v) - 1; j > 0; j-- {
			if v[j] == ':' {
				v = v[:j]
				break
			}
			if !isDigit(v[j]) {
				break
			}
		}
	}
	if len(v) > 0 {
		f.setName(v)
	}
}
