package exporter

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/exporter/ie"
)

// field is one field of a template: element id, length on the wire,
// enterprise number (0 = IANA) and what it carries.
type field struct {
	id     uint16
	length uint16
	pen    uint32
	kind   ie.Kind
}

// TemplateOptions are the v9/IPFIX settings Settings does not carry.
type TemplateOptions struct {
	// FirstTemplateID is the ID of the first template; 0 means 256.
	// The encoders use 9 consecutive IDs from there: four flow templates,
	// three sampling options templates, interface and application options.
	FirstTemplateID uint16
	// AppID adds applicationId (95) to the flow templates; set it when
	// classification is on.
	AppID bool
	// Interfaces and Applications go out in options data with every
	// template refresh.
	Interfaces   []ie.Interface
	Applications []ie.Application
	// ApplicationRefresh, when positive, sends the application options
	// data (not its template) at the first refresh and then at most once
	// per this interval, as Cisco's "option application-table timeout"
	// does, instead of with every template refresh: a full name table
	// (hundreds of records, tens of datagrams) with every 20-datagram
	// refresh would outweigh the flow records.
	ApplicationRefresh time.Duration
	// NtopFields adds nProbe's L7_PROTO, L7_PROTO_NAME and server name
	// elements (HTTP_HOST, SSL_SERVER_NAME, DNS_QUERY) to the flow
	// templates, after every other field, for nProbe and ntopng.
	NtopFields bool
}

func (o TemplateOptions) firstID() uint16 {
	if o.FirstTemplateID < 256 {
		return 256
	}
	return o.FirstTemplateID
}

// flow template variants, indexed by flowVariant.
const (
	variantV6 = 1 << iota
	variantBi
	numVariants = 4
)

func flowVariant(r *cache.Record) int {
	v := 0
	if isV6(r) {
		v |= variantV6
	}
	if r.Bidirectional {
		v |= variantBi
	}
	return v
}

func isV6(r *cache.Record) bool {
	switch r.IPVersion {
	case 4:
		return false
	case 6:
		return true
	}
	return r.SrcAddr.Is6() && !r.SrcAddr.Is4In6()
}

// The ICMP type/code element precedes L4_DST_PORT in both formats: nfdump
// stores either into the destination port, so for protocols other than
// TCP, UDP and ICMP the port must come last to survive.

// v9FlowFields lists the fields of a v9 flow template. Counters are 8
// bytes so no flow wraps them; a biflow carries the reverse direction in
// OUT_BYTES/OUT_PKTS and its times and flags cover both directions.
func v9FlowFields(v6, bi, app, ntop bool) []field {
	f := []field{
		{ie.InBytes, 8, 0, ie.KindBytes},
		{ie.InPkts, 8, 0, ie.KindPackets},
	}
	if bi {
		f = append(f, field{ie.OutBytes, 8, 0, ie.KindRevBytes}, field{ie.OutPkts, 8, 0, ie.KindRevPackets})
	}
	f = append(f,
		field{ie.FirstSwitched, 4, 0, ie.KindFirstUptime},
		field{ie.LastSwitched, 4, 0, ie.KindLastUptime},
	)
	f = append(f, addrFields(v6)...)
	f = append(f,
		field{ie.L4SrcPort, 2, 0, ie.KindSrcPort},
		field{ie.ICMPType, 2, 0, ie.KindICMPTypeCode}, // v9 uses 32 for ICMPv6 too
		field{ie.L4DstPort, 2, 0, ie.KindDstPort},
		field{ie.InputSNMP, 4, 0, ie.KindInIf},
		field{ie.OutputSNMP, 4, 0, ie.KindOutIf},
		field{ie.SrcAS, 4, 0, ie.KindSrcAS},
		field{ie.DstAS, 4, 0, ie.KindDstAS},
		field{ie.SrcVLAN, 2, 0, ie.KindVLAN},
		field{ie.Protocol, 1, 0, ie.KindProto},
		field{ie.SrcToS, 1, 0, ie.KindToS},
		field{ie.TCPFlags, 1, 0, ie.KindTCPFlagsBoth},
	)
	f = append(f, maskFields(v6)...)
	f = append(f,
		field{ie.IPVersion, 1, 0, ie.KindIPVersion},
		field{ie.Direction, 1, 0, ie.KindDirection},
		field{ie.FlowEndReason, 1, 0, ie.KindEndReason},
	)
	if app {
		f = append(f, field{ie.AppID, ie.AppIDLen, 0, ie.KindAppID})
	}
	if ntop {
		f = append(f, ntopFields(false)...)
	}
	return f
}

// ipfixFlowFields lists the fields of an IPFIX flow template: absolute
// millisecond times, and for biflows the RFC 5103 reverse elements. These
// come first: nfdump 1.7 stores a reverse element's value where the
// forward element's goes (except the counters), so the forward values,
// written later, are the ones it keeps.
func ipfixFlowFields(v6, bi, app, ntop bool) []field {
	var f []field
	if bi {
		f = append(f,
			field{ie.InBytes, 8, ie.PENReverse, ie.KindRevBytes},
			field{ie.InPkts, 8, ie.PENReverse, ie.KindRevPackets},
			field{ie.FlowStartMs, 8, ie.PENReverse, ie.KindRevStartMs},
			field{ie.FlowEndMs, 8, ie.PENReverse, ie.KindRevEndMs},
			field{ie.TCPFlags, 1, ie.PENReverse, ie.KindRevTCPFlags},
			field{ie.SrcToS, 1, ie.PENReverse, ie.KindRevToS},
		)
	}
	f = append(f,
		field{ie.InBytes, 8, 0, ie.KindBytes},
		field{ie.InPkts, 8, 0, ie.KindPackets},
		field{ie.FlowStartMs, 8, 0, ie.KindStartMs},
		field{ie.FlowEndMs, 8, 0, ie.KindEndMs},
	)
	f = append(f, addrFields(v6)...)
	icmp := field{ie.ICMPType, 2, 0, ie.KindICMPTypeCode}
	if v6 {
		icmp.id = ie.ICMPTypeIPv6
	}
	f = append(f,
		field{ie.L4SrcPort, 2, 0, ie.KindSrcPort},
		icmp,
		field{ie.L4DstPort, 2, 0, ie.KindDstPort},
		field{ie.InputSNMP, 4, 0, ie.KindInIf},
		field{ie.OutputSNMP, 4, 0, ie.KindOutIf},
		field{ie.SrcAS, 4, 0, ie.KindSrcAS},
		field{ie.DstAS, 4, 0, ie.KindDstAS},
		field{ie.SrcVLAN, 2, 0, ie.KindVLAN},
		// tcpControlBits is unsigned16 since RFC 7125; the reduced-size
		// encoding (RFC 7011 §6.2) of 1 byte loses nothing of our 8-bit
		// flags, and pmacct 1.7 reads only that size.
		field{ie.TCPFlags, 1, 0, ie.KindTCPFlags},
		field{ie.Protocol, 1, 0, ie.KindProto},
		field{ie.SrcToS, 1, 0, ie.KindToS},
	)
	f = append(f, maskFields(v6)...)
	f = append(f,
		field{ie.IPVersion, 1, 0, ie.KindIPVersion},
		field{ie.Direction, 1, 0, ie.KindDirection},
		field{ie.FlowEndReason, 1, 0, ie.KindEndReason},
	)
	if app {
		// Variable-length (RFC 7011 §7), always AppIDLen bytes: nfdump
		// 1.7.1 reads a fixed-length IPFIX applicationId as a number and
		// stores it byte-swapped, but copies a variable-length one as the
		// octet array it is; pmacct and Wireshark read either.
		f = append(f, field{ie.AppID, ie.VarLen, 0, ie.KindAppID})
	}
	if ntop {
		f = append(f, ntopFields(true)...)
	}
	return f
}

// ntopFields are nProbe's application elements. ntopng takes L7_PROTO as
// the application's nDPI id (a bare number is the app protocol; nProbe
// sends one 2-byte id in NetFlow), and shows the server name from the
// protocol's own element — SSL_SERVER_NAME, HTTP_HOST, DNS_QUERY — not
// from the generic FLOW_SERVER_NAME, which it leaves unparsed. So all
// three go in the template and a record fills the one its application
// names a server in (serverKind); IPFIX sends the others empty (1 byte
// each), v9 zero-filled.
func ntopFields(ipfix bool) []field {
	ids := []struct {
		id   uint16
		v9   uint16
		kind ie.Kind
	}{
		{ie.NtopL7Proto, 2, ie.KindL7Proto},
		{ie.NtopL7ProtoName, ie.NtopL7NameLen, ie.KindL7Name},
		{ie.NtopHTTPHost, ie.NtopServerLen, ie.KindHTTPHost},
		{ie.NtopSSLServer, ie.NtopServerLen, ie.KindSSLServer},
		{ie.NtopDNSQuery, ie.NtopServerLen, ie.KindDNSQuery},
	}
	f := make([]field, len(ids))
	for i, e := range ids {
		switch {
		case !ipfix:
			f[i] = field{ie.NtopV9Base + e.id, e.v9, 0, e.kind}
		case e.kind == ie.KindL7Proto:
			f[i] = field{e.id, 2, ie.PENNtop, e.kind}
		default:
			f[i] = field{e.id, ie.VarLen, ie.PENNtop, e.kind}
		}
	}
	return f
}

// serverKind is the ntop element r's server name goes in: DNS_QUERY for
// the DNS family (query names), SSL_SERVER_NAME for TLS, QUIC and DTLS
// and the TLS-wrapped mail protocols (SNI), HTTP_HOST for the rest (the
// Host header of HTTP and its text relatives). KindIgnore when r has none.
func serverKind(r *cache.Record) ie.Kind {
	if r.AppServer == "" {
		return ie.KindIgnore
	}
	switch r.App() {
	case app.DNS, app.MDNS, app.LLMNR, app.NetBIOS:
		return ie.KindDNSQuery
	case app.TLS, app.QUIC, app.DTLS, app.IMAPS, app.POPS, app.SMTPS, app.DoHDoT:
		return ie.KindSSLServer
	}
	return ie.KindHTTPHost
}

// ntopString is the value of string element k for r: "" where r has none.
func ntopString(r *cache.Record, k ie.Kind) string {
	switch {
	case k == ie.KindL7Name:
		return truncString(r.App().String(), ie.NtopL7NameLen)
	case k == serverKind(r):
		return truncString(r.AppServer, maxServerLen)
	}
	return ""
}

// maxServerLen bounds a server name in IPFIX: the classifier keeps at
// most 255 bytes, and the bound keeps records below what newStream checks.
const maxServerLen = 255

// maxNtopExtra is how much longer than recordLen an IPFIX record with
// ntop strings can be: a name and one server name (3-byte length form).
const maxNtopExtra = ie.NtopL7NameLen + maxServerLen + 2

// varString writes s as an RFC 7011 §7 variable-length value: a 1-byte
// length, or 255 and a 2-byte length from 255 bytes on. It returns the
// bytes written.
func varString(b []byte, s string) int {
	if len(s) < 255 {
		b[0] = byte(len(s))
		return 1 + copy(b[1:], s)
	}
	b[0] = 255
	binary.BigEndian.PutUint16(b[1:], uint16(len(s)))
	return 3 + copy(b[3:], s)
}

// varStringLen is the bytes varString writes for s.
func varStringLen(s string) int {
	if len(s) < 255 {
		return 1 + len(s)
	}
	return 3 + len(s)
}

// ntopExtra is how much longer than recordLen r's IPFIX record is with
// ntop fields: its strings beyond the 1-byte empty form.
func ntopExtra(r *cache.Record) int {
	return varStringLen(ntopString(r, ie.KindL7Name)) - 1 + varStringLen(ntopString(r, serverKind(r))) - 1
}

func addrFields(v6 bool) []field {
	if v6 {
		return []field{
			{ie.IPv6SrcAddr, 16, 0, ie.KindSrcAddr6},
			{ie.IPv6DstAddr, 16, 0, ie.KindDstAddr6},
			{ie.IPv6NextHop, 16, 0, ie.KindNextHop6},
		}
	}
	return []field{
		{ie.IPv4SrcAddr, 4, 0, ie.KindSrcAddr4},
		{ie.IPv4DstAddr, 4, 0, ie.KindDstAddr4},
		{ie.IPv4NextHop, 4, 0, ie.KindNextHop4},
	}
}

func maskFields(v6 bool) []field {
	if v6 {
		return []field{{ie.IPv6SrcMask, 1, 0, ie.KindSrcMask}, {ie.IPv6DstMask, 1, 0, ie.KindDstMask}}
	}
	return []field{{ie.SrcMask, 1, 0, ie.KindSrcMask}, {ie.DstMask, 1, 0, ie.KindDstMask}}
}

func recordLen(fields []field) int {
	n := 0
	for _, f := range fields {
		n += f.wireLen()
	}
	return n
}

// wireLen is the bytes a field takes in a data record at least.
// applicationId, variable-length, always holds AppIDLen bytes after its
// 1-byte length prefix; the ntop strings take 1 byte when empty and
// more when not (ntopExtra).
func (f field) wireLen() int {
	switch {
	case f.length != ie.VarLen:
		return int(f.length)
	case f.kind == ie.KindAppID:
		return 1 + ie.AppIDLen
	}
	return 1
}

// timeRef is what relative time fields are measured against.
type timeRef struct {
	bootMs int64 // Settings.Boot in Unix ms
}

func (t timeRef) uptime(at time.Time) uint32 {
	if at.IsZero() {
		return 0
	}
	d := at.UnixMilli() - t.bootMs
	if d < 0 {
		return 0
	}
	return uint32(d) // wraps after 49.7 days, as sysUptime does
}

func unixMs(at time.Time) uint64 {
	if at.IsZero() {
		return 0
	}
	return uint64(at.UnixMilli())
}

// putFields writes r's values for fields into b, which holds at least
// recordLen(fields) bytes. v9 biflows fold both directions' times and
// flags into the one set of fields v9 has.
func putFields(b []byte, fields []field, r *cache.Record, ref timeRef) {
	for i := range fields {
		f := &fields[i]
		n := f.wireLen()
		switch f.kind {
		case ie.KindBytes:
			binary.BigEndian.PutUint64(b, r.Bytes)
		case ie.KindPackets:
			binary.BigEndian.PutUint64(b, r.Packets)
		case ie.KindRevBytes:
			binary.BigEndian.PutUint64(b, r.RevBytes)
		case ie.KindRevPackets:
			binary.BigEndian.PutUint64(b, r.RevPackets)
		case ie.KindProto:
			b[0] = r.Proto
		case ie.KindToS:
			b[0] = r.ToS
		case ie.KindTCPFlags:
			putUint(b[:n], uint64(r.TCPFlags))
		case ie.KindTCPFlagsBoth:
			fl := r.TCPFlags
			if r.Bidirectional {
				fl |= r.RevTCPFlags
			}
			putUint(b[:n], uint64(fl))
		case ie.KindRevTCPFlags:
			putUint(b[:n], uint64(r.RevTCPFlags))
		case ie.KindRevToS:
			b[0] = r.RevToS
		case ie.KindSrcPort:
			binary.BigEndian.PutUint16(b, r.SrcPort)
		case ie.KindDstPort:
			binary.BigEndian.PutUint16(b, r.DstPort)
		case ie.KindICMPTypeCode:
			v := uint16(0)
			if r.IsICMP() {
				v = r.DstPort
			}
			binary.BigEndian.PutUint16(b, v)
		case ie.KindSrcAddr4:
			put4(b, r.SrcAddr)
		case ie.KindDstAddr4:
			put4(b, r.DstAddr)
		case ie.KindNextHop4:
			put4(b, r.NextHop)
		case ie.KindSrcAddr6:
			put16(b, r.SrcAddr)
		case ie.KindDstAddr6:
			put16(b, r.DstAddr)
		case ie.KindNextHop6:
			put16(b, r.NextHop)
		case ie.KindSrcMask:
			b[0] = r.SrcMask
		case ie.KindDstMask:
			b[0] = r.DstMask
		case ie.KindInIf:
			binary.BigEndian.PutUint32(b, r.InIfIndex)
		case ie.KindOutIf:
			binary.BigEndian.PutUint32(b, r.OutIfIndex)
		case ie.KindSrcAS:
			binary.BigEndian.PutUint32(b, r.SrcAS)
		case ie.KindDstAS:
			binary.BigEndian.PutUint32(b, r.DstAS)
		case ie.KindFirstUptime:
			binary.BigEndian.PutUint32(b, ref.uptime(biStart(r)))
		case ie.KindLastUptime:
			binary.BigEndian.PutUint32(b, ref.uptime(biEnd(r)))
		case ie.KindStartMs:
			binary.BigEndian.PutUint64(b, unixMs(r.Start))
		case ie.KindEndMs:
			binary.BigEndian.PutUint64(b, unixMs(r.End))
		case ie.KindRevStartMs:
			binary.BigEndian.PutUint64(b, unixMs(r.RevStart))
		case ie.KindRevEndMs:
			binary.BigEndian.PutUint64(b, unixMs(r.RevEnd))
		case ie.KindVLAN:
			binary.BigEndian.PutUint16(b, r.VLAN)
		case ie.KindIPVersion:
			if isV6(r) {
				b[0] = 6
			} else {
				b[0] = 4
			}
		case ie.KindDirection:
			if r.Egress {
				b[0] = 1
			} else {
				b[0] = 0
			}
		case ie.KindEndReason:
			b[0] = uint8(r.EndReason)
		case ie.KindAppID:
			if f.length == ie.VarLen {
				b[0] = ie.AppIDLen
				ie.PutAppID(b[1:], r.AppID)
			} else {
				ie.PutAppID(b, r.AppID)
			}
		case ie.KindL7Proto:
			binary.BigEndian.PutUint16(b, uint16(r.App()))
		case ie.KindL7Name, ie.KindHTTPHost, ie.KindSSLServer, ie.KindDNSQuery:
			if f.length == ie.VarLen {
				n = varString(b, ntopString(r, f.kind))
			} else {
				putString(b[:n], ntopString(r, f.kind))
			}
		default:
			clear(b[:n])
		}
		b = b[n:]
	}
}

// biStart and biEnd are the times a v9 record carries: for a biflow the
// span of both directions.
func biStart(r *cache.Record) time.Time {
	if r.Bidirectional && !r.RevStart.IsZero() && (r.Start.IsZero() || r.RevStart.Before(r.Start)) {
		return r.RevStart
	}
	return r.Start
}

func biEnd(r *cache.Record) time.Time {
	if r.Bidirectional && r.RevEnd.After(r.End) {
		return r.RevEnd
	}
	return r.End
}

func putUint(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func put4(b []byte, a netip.Addr) {
	a = a.Unmap()
	if !a.Is4() {
		clear(b[:4])
		return
	}
	v := a.As4()
	copy(b, v[:])
}

func put16(b []byte, a netip.Addr) {
	if !a.IsValid() {
		clear(b[:16])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

// putString writes s into a fixed-length v9 field, truncated at a rune
// boundary and padded with zeros.
func putString(b []byte, s string) {
	n := copy(b, truncString(s, len(b)))
	clear(b[n:])
}

func truncString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
