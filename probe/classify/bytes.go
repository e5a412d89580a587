package classify

// Small readers for the recognizers. Every caller checks lengths first;
// these never allocate.

func u16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func u32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// hasPrefix reports whether b starts with s.
func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// hasPrefixFold is hasPrefix ignoring ASCII case; s must be upper case.
func hasPrefixFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// contains reports whether s occurs in b.
func contains(b []byte, s string) bool { return index(b, s) >= 0 }

// index is the position of s in b, or -1. Written out so that the hot
// path stays free of the conversions bytes.Index would need.
func index(b []byte, s string) int {
	if len(s) == 0 {
		return 0
	}
	for i := 0; i+len(s) <= len(b); i++ {
		if b[i] == s[0] && string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// indexFold is index ignoring ASCII case; s must be upper case. The first
// byte is compared alone before the rest, as most positions fail there.
func indexFold(b []byte, s string) int {
	c0, c1 := s[0], s[0]
	if isUpper(c0) {
		c1 = c0 + 'a' - 'A'
	}
	for i := 0; i+len(s) <= len(b); i++ {
		if (b[i] == c0 || b[i] == c1) && hasPrefixFold(b[i:], s) {
			return i
		}
	}
	return -1
}

// lineEnd is the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlpha(c byte) bool { return isUpper(c) || 'a' <= c && c <= 'z' }

// isPrintable reports whether every byte of b is printable ASCII or
// whitespace of a text protocol.
func isPrintable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' && c != '\t' {
			return false
		}
	}
	return true
}

// digits counts the leading ASCII digits of b.
func digits(b []byte) int {
	n := 0
	for n < len(b) && isDigit(b[n]) {
		n++
	}
	return n
}

// berLen reads a BER definite length at b (X.690 8.1.3): the length and
// the bytes it took, or ok false when absent, indefinite or over 4 bytes.
func berLen(b []byte) (n, size int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, true
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 3 || len(b) < 1+k {
		return 0, 0, false
	}
	for i := 1; i <= k; i++ {
		n = n<<8 | int(b[i])
	}
	return n, 1 + k, true
}
