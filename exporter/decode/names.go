package decode

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameLen bounds a name from the network in bytes as sent: SNMP's
// DisplayString (ifName, ifDescr) holds at most 255.
const maxNameLen = 255

// name returns a name from the network (an interface's, an application's,
// a server's) safe to print: trailing NULs trimmed, cut at maxNameLen bytes
// (counted) on a character boundary, and escaped as in a Go string literal
// wherever it is not printable UTF-8 — control characters (a terminal's
// escape sequences), invalid bytes, format characters such as bidi
// overrides — with the backslash doubled, so an escape is never ambiguous.
func (d *Decoder) name(v []byte) string {
	v = bytes.TrimRight(v, "\x00")
	if len(v) > maxNameLen {
		d.stats.NamesCut++
		v = v[:maxNameLen]
		if i := lastRuneStart(v); !utf8.FullRune(v[i:]) {
			v = v[:i]
		}
	}
	if isPlain(v) {
		return string(v)
	}
	var b strings.Builder
	for len(v) > 0 {
		r, n := utf8.DecodeRune(v)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, v[0])
		case r == '\\':
			b.WriteString(`\\`)
		case unicode.IsPrint(r):
			b.Write(v[:n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		v = v[n:]
	}
	return b.String()
}

// isPlain reports whether v is printable ASCII without a backslash, the
// common case, which needs no escaping.
func isPlain(v []byte) bool {
	for _, c := range v {
		if c < ' ' || c > '~' || c == '\\' {
			return false
		}
	}
	return true
}

// lastRuneStart returns where the last (possibly partial) character of v
// begins.
func lastRuneStart(v []byte) int {
	i := len(v) - 1
	for i > 0 && len(v)-i < utf8.UTFMax && !utf8.RuneStart(v[i]) {
		i--
	}
	return max(i, 0)
}
