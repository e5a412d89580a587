package prefixes

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// plainLine reads "CIDR ORIGIN [PEER]", fields separated by blanks; a
// "#" starts a comment.
func (t *Table) plainLine(line string) error {
	line, _, _ = strings.Cut(line, "#")
	var f [3]string // not strings.Fields: no allocation a line
	n := 0
	for field := range strings.FieldsSeq(line) {
		if n < len(f) {
			f[n] = field
		}
		n++
	}
	if n < 2 || n > 3 {
		return fmt.Errorf("want CIDR ORIGIN-AS [PEER-AS], got %d fields", n)
	}
	pfx, err := netip.ParsePrefix(f[0])
	if err != nil {
		return err
	}
	origin, err := parseASN(f[1])
	if err != nil {
		return err
	}
	var peer uint32
	if n == 3 {
		if peer, err = parseASN(f[2]); err != nil {
			return err
		}
	}
	t.insert(pfx, origin, peer)
	return nil
}

// parseASN reads an AS number: decimal ("64500", "AS64500") or asdot
// ("1.10" = 65546).
func parseASN(s string) (uint32, error) {
	d := s
	if len(d) > 2 && strings.EqualFold(d[:2], "AS") {
		d = d[2:]
	}
	if hi, lo, ok := strings.Cut(d, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("AS number %q: want 0-4294967295 or asdot X.Y", s)
		}
		return uint32(h<<16 | l), nil
	}
	n, err := strconv.ParseUint(d, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("AS number %q: want 0-4294967295 or asdot X.Y", s)
	}
	return uint32(n), nil
}

// ip2asnLine reads one iptoasn.com row: range_start, range_end (addresses,
// or IPv4 as integers in the -u32 files), AS_number, country_code,
// AS_description, tab-separated. AS 0 ("Not routed") rows are skipped.
// The range becomes the CIDRs that cover it exactly.
func (t *Table) ip2asnLine(line string) error {
	f := strings.Split(line, "\t")
	if len(f) < 3 {
		return fmt.Errorf("want range_start<TAB>range_end<TAB>AS_number…, got %d fields", len(f))
	}
	lo, err := parseRangeAddr(f[0])
	if err != nil {
		return err
	}
	hi, err := parseRangeAddr(f[1])
	if err != nil {
		return err
	}
	asn, err := parseASN(strings.TrimSpace(f[2]))
	if err != nil {
		return err
	}
	if asn == 0 {
		return nil
	}
	return rangePrefixes(lo, hi, func(p netip.Prefix) { t.insert(p, asn, 0) })
}

func parseRangeAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), nil
	}
	return netip.ParseAddr(s)
}

// rangePrefixes calls yield with the fewest CIDR prefixes that together
// hold exactly the addresses lo to hi, in order.
func rangePrefixes(lo, hi netip.Addr, yield func(netip.Prefix)) error {
	if lo.Is4() != hi.Is4() {
		return errors.New("range mixes IPv4 and IPv6")
	}
	if hi.Less(lo) {
		return fmt.Errorf("range %s-%s ends before it starts", lo, hi)
	}
	for {
		// The shortest prefix starting at lo that ends at or before hi.
		bits := lo.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1)
			if p.Masked().Addr() != lo || hi.Less(lastAddr(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		yield(p)
		last := lastAddr(p)
		if last == hi {
			return nil
		}
		lo = last.Next()
	}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As16()
	off := 128 - p.Addr().BitLen() // IPv4 sits in the last 4 bytes
	for i := off + p.Bits(); i < 128; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	if p.Addr().Is4() {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}
