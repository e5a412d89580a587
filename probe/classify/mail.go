package classify

import "github.com/spanflow/spanflow/cache/app"

// Line-based text protocols whose server speaks first: SMTP (RFC 5321),
// FTP (RFC 959), POP3 (RFC 1939) and IMAP (RFC 9051). SMTP and FTP both
// greet with "220"; the greeting's words, the client's first command, or
// the port tell them apart.

// hint values: what an earlier packet of the flow left undecided.
const (
	hintNone    = iota
	hint220     // a "220" greeting: SMTP or FTP
	hintUser    // a USER command: FTP or POP3
	hintSOCKS   // a SOCKS greeting awaiting the server's choice
	hintOpenVPN // an OpenVPN client reset awaiting the server's
	hintUTP     // a uTP SYN awaiting the peer's state packet
)

func matchBanner(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 4 {
		return app.Unknown, none
	}
	end := lineEnd(b)
	if end < 0 && !p.cut() {
		return app.Unknown, none
	}
	switch {
	case hasPrefix(b, "220 ") || hasPrefix(b, "220-"):
		line := b
		if end >= 0 {
			line = b[:end]
		}
		switch {
		case indexFold(line, "SMTP") >= 0 || indexFold(line, "MAIL") >= 0:
			return app.SMTP, sure
		case indexFold(line, "FTP") >= 0:
			return app.FTPControl, sure
		case p.port(25, 587, 2525):
			return app.SMTP, sure
		case p.port(21):
			return app.FTPControl, sure
		}
		p.f.hint = hint220
	case hasPrefix(b, "+OK"):
		return app.POP3, sure
	case hasPrefix(b, "* OK") || hasPrefix(b, "* PREAUTH") || hasPrefix(b, "* CAPABILITY"):
		return app.IMAP, sure
	case len(b) >= 4 && isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) && (b[3] == ' ' || b[3] == '-'):
		// A reply to a command: FTP's 3xx to USER, SMTP's 250 to EHLO.
		switch p.f.hint {
		case hintUser:
			if b[0] == '3' || b[0] == '2' || b[0] == '5' {
				return app.FTPControl, sure
			}
		}
	}
	return app.Unknown, none
}

// smtpCommands and ftpCommands are first commands a client sends.
var (
	smtpCommands = [...]string{"EHLO ", "HELO ", "MAIL FROM:", "STARTTLS"}
	ftpCommands  = [...]string{"AUTH TLS", "AUTH SSL", "SYST", "FEAT", "PASV", "EPSV", "TYPE ", "PORT ", "EPRT ", "OPTS "}
	popCommands  = [...]string{"CAPA", "STLS", "APOP ", "UIDL", "STAT"}
	imapCommands = [...]string{"CAPABILITY", "LOGIN ", "STARTTLS", "AUTHENTICATE ", "SELECT ", "EXAMINE ", "LIST ", "ID ", "NOOP", "LOGOUT"}
)

func matchMailClient(p *packet) (app.ID, conf) {
	b := p.b
	if len(b) < 4 || !isAlpha(b[0]) && !isDigit(b[0]) {
		return app.Unknown, none
	}
	end := lineEnd(b)
	if end < 0 || end == len(b) || b[end] != '\r' && b[end] != '\n' {
		return app.Unknown, none
	}
	line := b[:end]
	for _, c := range smtpCommands {
		if hasPrefixFold(line, c) {
			return app.SMTP, sure
		}
	}
	if hasPrefixFold(line, "USER ") {
		switch {
		case p.f.hint == hint220 || p.port(21):
			return app.FTPControl, sure
		case p.port(110):
			return app.POP3, sure
		}
		p.f.hint = hintUser
		return app.Unknown, none
	}
	if p.f.hint == hint220 || p.port(21) {
		for _, c := range ftpCommands {
			if hasPrefixFold(line, c) {
				return app.FTPControl, sure
			}
		}
	}
	for _, c := range popCommands {
		if hasPrefixFold(line, c) && len(line) <= len(c)+64 && p.port(110) {
			return app.POP3, sure
		}
	}
	// IMAP: tag SP command.
	i := 0
	for i < len(line) && i < 16 && (isAlpha(line[i]) || isDigit(line[i]) || line[i] == '.') {
		i++
	}
	if i > 0 && i < len(line) && line[i] == ' ' {
		for _, c := range imapCommands {
			if hasPrefixFold(line[i+1:], c) {
				return app.IMAP, sure
			}
		}
	}
	return app.Unknown, none
}
