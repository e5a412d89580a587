package decode

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// decodeOK decodes b from from and fails on an error.
func decodeOK(t *testing.T, d *Decoder, from netip.AddrPort, b []byte) *Message {
	t.Helper()
	m, err := d.Decode(from, b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// Times past what a time.Time can write as JSON (year 9999) are left zero
// and counted; the last millisecond and second of 9999 are kept. One such
// record used to stop `spanflow collect --json`.
func TestDecoderBoundsTimesToWhatJSONHolds(t *testing.T) {
	const lastMs = 253402300799999 // 9999-12-31T23:59:59.999Z
	last := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
	ms := ipfixTemplate(256, 0, field{152, 8, 0}, field{153, 8, 0}, field{2, 8, 0})   // flowStart/EndMilliseconds, packetDeltaCount
	secs := ipfixTemplate(257, 0, field{150, 8, 0}, field{151, 4, 0}, field{2, 8, 0}) // flowStart/EndSeconds, the start over-long
	d := NewDecoder()
	m := decodeOK(t, d, exporterA, ipfixMsg(1, 0,
		set(2, append(ms, secs...)),
		set(256, be(nil).
			u64(1<<53).u64(1_800_000_000_000).u64(1).
			u64(lastMs).u64(lastMs+1).u64(2).
			u64(1<<64-1).u64(0).u64(3)),
		set(257, be(nil).
			u64(1<<40).u32(1_800_000_000).u64(4).
			u64(lastMs/1000).u32(1).u64(5)),
	))
	want := []struct{ start, end time.Time }{
		{time.Time{}, time.Unix(1_800_000_000, 0).UTC()},
		{last, time.Time{}},
		{time.Time{}, time.Time{}},
		{time.Time{}, time.Unix(1_800_000_000, 0).UTC()},
		{last.Truncate(time.Second), time.Unix(1, 0).UTC()},
	}
	if len(m.Records) != len(want) {
		t.Fatalf("%d records, want %d", len(m.Records), len(want))
	}
	for i, w := range want {
		r := &m.Records[i]
		if r.Packets != uint64(i+1) || !r.Start.Equal(w.start) || !r.End.Equal(w.end) {
			t.Errorf("record %d: packets %d, %v – %v; want %d, %v – %v", i, r.Packets, r.Start, r.End, i+1, w.start, w.end)
		}
		if _, err := json.Marshal([]time.Time{r.Start, r.End}); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	if st := d.Stats(); st.BadTimes != 4 || st.Malformed != 0 {
		t.Fatalf("bad times %d, malformed %d; want 4, 0", st.BadTimes, st.Malformed)
	}
}

// NetFlow v9 has no variable-length fields (RFC 3954 §5.2): a field of
// length 65535 is 65535 bytes long, so no record of its template fits in
// a flowset. In IPFIX the same length announces a variable-length field
// (RFC 7011 §7).
func TestDecoderReadsLength65535AsVariableInIPFIXOnly(t *testing.T) {
	// IN_BYTES 1000, then a field of 0 bytes if variable (its length byte).
	data := be(nil).u32(1000).u8(0).u8(0).u8(0).u8(0)
	fields := []field{{1, 4, 0}, {99, 65535, 0}}

	d := NewDecoder()
	m := decodeOK(t, d, exporterA, v9Packet(1, 0, set(0, v9Template(256, fields...)), set(256, data)))
	if len(m.Records) != 0 {
		t.Errorf("v9: %d records from a template no record of which fits a flowset: %+v", len(m.Records), m.Records)
	}
	// The options form: an interface name field of length 65535.
	name := be(nil).u32(3).u8(4).raw([]byte("eth9"))
	decodeOK(t, d, exporterA, v9Packet(1, 1,
		set(1, v9OptionsTemplate(257, []field{{2, 4, 0}}, field{82, 65535, 0})), set(257, name)))
	if info := d.Exporter(exporterA, 9, 1); info != nil && len(info.Interfaces) != 0 {
		t.Errorf("v9: interface names %v read from a 65535-byte field as if variable", info.Interfaces)
	}

	m = decodeOK(t, d, exporterA, ipfixMsg(1, 0, set(2, ipfixTemplate(256, 0, fields...)), set(256, data)))
	if len(m.Records) != 1 || m.Records[0].Bytes != 1000 {
		t.Errorf("ipfix: records %+v, want one of 1000 bytes", m.Records)
	}
	if st := d.Stats(); st.Templates != 3 || st.Malformed != 0 {
		t.Errorf("templates %d, malformed %d; want 3, 0", st.Templates, st.Malformed)
	}
}

// RFC 7011 §8.1: template id 2 with field count 0 in a template set
// withdraws all of a domain's templates, id 3 in an options template set
// all its options templates. Neither is malformed; each takes only its
// kind, only from its domain.
func TestDecoderAcceptsIPFIXWithdrawalOfAllTemplates(t *testing.T) {
	flow := ipfixTemplate(256, 0, field{2, 4, 0})                       // packetDeltaCount
	opts := ipfixTemplate(258, 1, field{10, 4, 0}, field{82, 65535, 0}) // ingressInterface → interfaceName
	setup := func(domain uint32) []byte {
		return ipfixMsg(domain, 0, set(2, flow), set(2, ipfixTemplate(257, 0, field{1, 4, 0})), set(3, opts))
	}
	d := NewDecoder()
	decodeOK(t, d, exporterA, setup(1))
	decodeOK(t, d, exporterA, setup(2))

	// records decoded from data sets of 256, 257 and 258 in domain.
	decoded := func(domain uint32) (flows int, options uint64) {
		t.Helper()
		before := d.Stats().OptionRecords
		m := decodeOK(t, d, exporterA, ipfixMsg(domain, 0,
			set(256, be(nil).u32(1)), set(257, be(nil).u32(2)), set(258, be(nil).u32(5).raw(varField([]byte("eth5"))))))
		return len(m.Records), d.Stats().OptionRecords - before
	}
	if f, o := decoded(1); f != 2 || o != 1 {
		t.Fatalf("before withdrawal: %d flow and %d option records, want 2 and 1", f, o)
	}

	decodeOK(t, d, exporterA, ipfixMsg(1, 0, set(2, be(nil).u16(2).u16(0))))
	if f, o := decoded(1); f != 0 || o != 1 {
		t.Errorf("after withdrawing all templates: %d flow and %d option records, want 0 and 1", f, o)
	}
	decodeOK(t, d, exporterA, ipfixMsg(1, 0, set(3, be(nil).u16(3).u16(0))))
	if f, o := decoded(1); f != 0 || o != 0 {
		t.Errorf("after withdrawing all options templates: %d flow and %d option records, want none", f, o)
	}
	if f, o := decoded(2); f != 2 || o != 1 {
		t.Errorf("domain 2 after domain 1's withdrawals: %d flow and %d option records, want 2 and 1", f, o)
	}
	if _, err := d.Decode(exporterA, ipfixMsg(2, 0, set(3, be(nil).u16(2).u16(0)))); err == nil {
		t.Error("template id 2 withdrawn in an options template set: no error")
	}
	st := d.Stats()
	if st.TemplatesWithdrawn != 3 || st.Malformed != 1 {
		t.Errorf("withdrawn %d, malformed %d; want 3, 1", st.TemplatesWithdrawn, st.Malformed)
	}
	if bytes, _ := d.Memory(); bytes == 0 {
		t.Error("no memory accounted after learning templates")
	}
}

// Names from the network come out safe to print: what a terminal would act
// on is escaped, and a name is cut at 255 bytes without splitting a
// character. Expected values worked out by hand.
func TestDecoderNamesAreSafeToPrint(t *testing.T) {
	cases := []struct {
		name, sent, want string
		cut              bool
	}{
		{"plain", "eth0", "eth0", false},
		{"NUL padded", "eth0\x00\x00\x00", "eth0", false},
		{"UTF-8", "caf\xc3\xa9 – Ünïcödé", "café – Ünïcödé", false},
		{"terminal title", "\x1b]0;owned\x07", `\x1b]0;owned\a`, false},
		{"newline and tab", "a\nb\tc\r", `a\nb\tc\r`, false},
		{"DEL and C1 CSI", "x\x7fy\xc2\x9bz", `x\x7fy\u009bz`, false},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`, false},
		{"bidi override", "abc\u202edef", `abc\u202edef`, false},
		{"backslash", `C:\x`, `C:\\x`, false},
		{"long", strings.Repeat("a", 300), strings.Repeat("a", 255), true},
		{"long, cut inside a character", strings.Repeat("a", 254) + "é", strings.Repeat("a", 254), true},
		{"long, cut after a character", strings.Repeat("a", 253) + "é" + "b", strings.Repeat("a", 253) + "é", true},
	}
	tpl := ipfixTemplate(258, 1, field{10, 4, 0}, field{82, 65535, 0}, field{83, 65535, 0}) // ifName, ifDescr
	server := ipfixTemplate(259, 0, field{2, 4, 0}, field{187, 65535, 35632})               // nProbe HTTP_HOST
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			m := decodeOK(t, d, exporterA, ipfixMsg(1, 0,
				set(3, tpl), set(2, server),
				set(258, be(nil).u32(uint32(i)).raw(varField([]byte(tc.sent))).raw(varField([]byte(tc.sent)))),
				set(259, be(nil).u32(1).raw(varField([]byte(tc.sent))))))
			info := d.Exporter(exporterA, 10, 1)
			if info == nil {
				t.Fatal("no exporter info")
			}
			got := info.Interfaces[uint32(i)]
			if got.Name != tc.want || got.Description != tc.want {
				t.Errorf("interface name %q, description %q; want %q", got.Name, got.Description, tc.want)
			}
			if len(m.Records) != 1 || m.Records[0].AppServer != tc.want {
				t.Errorf("server name in %+v, want %q", m.Records, tc.want)
			}
			wantCut := uint64(0)
			if tc.cut {
				wantCut = 3
			}
			if st := d.Stats(); st.NamesCut != wantCut {
				t.Errorf("%d names cut, want %d", st.NamesCut, wantCut)
			}
		})
	}
}
