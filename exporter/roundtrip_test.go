package exporter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

// be builds big-endian byte strings for hand-made datagrams.
type be []byte

func (b be) u8(v uint8) be   { return append(b, v) }
func (b be) u16(v uint16) be { return binary.BigEndian.AppendUint16(b, v) }
func (b be) u32(v uint32) be { return binary.BigEndian.AppendUint32(b, v) }
func (b be) raw(v ...byte) be {
	return append(b, v...)
}

func v9Header(count uint16, seq uint32) be {
	return be{}.u16(9).u16(count).u32(3_600_000).u32(uint32(tplNow.Unix())).u32(seq).u32(1)
}

func ipfixMessage(seq uint32, sets ...be) []byte {
	var body be
	for _, s := range sets {
		body = append(body, s...)
	}
	return be{}.u16(10).u16(uint16(16 + len(body))).u32(uint32(tplNow.Unix())).u32(seq).u32(1).raw(body...)
}

func set(id uint16, body be) be { return be{}.u16(id).u16(uint16(4 + len(body))).raw(body...) }

func TestDecoderRejectsCorruptDatagrams(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"unknown version", be{}.u16(4).u16(0)},
		{"v9 short header", v9Header(0, 0)[:19]},
		{"v9 flowset shorter than its header", append(v9Header(1, 0), set(0, nil)[:3]...)},
		{"v9 flowset length 2", append(v9Header(1, 0), be{}.u16(0).u16(2)...)},
		{"v9 flowset longer than the datagram", append(v9Header(1, 0), be{}.u16(0).u16(400)...)},
		{"v9 template id below 256", append(v9Header(1, 0), set(0, be{}.u16(255).u16(1).u16(1).u16(4))...)},
		{"v9 template with no fields", append(v9Header(1, 0), set(0, be{}.u16(256).u16(0))...)},
		{"v9 template fields truncated", append(v9Header(1, 0), set(0, be{}.u16(256).u16(3).u16(1).u16(4))...)},
		{"v9 template of empty records", append(v9Header(1, 0), set(0, be{}.u16(256).u16(1).u16(1).u16(0))...)},
		{"v9 options scope length not a multiple of 4", append(v9Header(1, 0), set(1, be{}.u16(300).u16(2).u16(4).u16(34).u16(4))...)},
		{"v9 options template longer than its flowset", append(v9Header(1, 0), set(1, be{}.u16(300).u16(4).u16(8).u16(1).u16(4))...)},
		{"ipfix short header", ipfixMessage(0)[:15]},
		{"ipfix length beyond datagram", append(be{}.u16(10).u16(100), make([]byte, 30)...)},
		{"ipfix length below header", append(be{}.u16(10).u16(8), make([]byte, 30)...)},
		{"ipfix set length 3", ipfixMessage(0, be{}.u16(2).u16(3))},
		{"ipfix template id 3", ipfixMessage(0, set(2, be{}.u16(3).u16(1).u16(1).u16(4)))},
		{"ipfix enterprise number truncated", ipfixMessage(0, set(2, be{}.u16(256).u16(1).u16(0x8001).u16(4).u16(0)))},
		{"ipfix options template without scope", ipfixMessage(0, set(3, be{}.u16(256).u16(1).u16(0).u16(34).u16(4)))},
		{"ipfix options scope count above field count", ipfixMessage(0, set(3, be{}.u16(256).u16(1).u16(2).u16(34).u16(4)))},
		{"ipfix variable-length field past the set", ipfixMessage(0,
			set(2, be{}.u16(256).u16(1).u16(ie.IfName).u16(ie.VarLen)),
			set(256, be{}.u8(200).raw([]byte("eth0")...)))},
		{"ipfix long variable length truncated", ipfixMessage(0,
			set(2, be{}.u16(256).u16(1).u16(ie.IfName).u16(ie.VarLen)),
			set(256, be{}.u8(255).u8(1)))},
		{"v5 count beyond datagram", be{}.u16(5).u16(30).raw(make([]byte, 20+48)...)},
		{"v1 short header", be{}.u16(1).u16(0).raw(make([]byte, 8)...)},
		{"v7 record truncated", be{}.u16(7).u16(1).raw(make([]byte, 20+50)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decode.NewDecoder()
			_, err := d.Decode(tplFrom, tc.b)
			if !errors.Is(err, decode.ErrMalformed) {
				t.Fatalf("Decode = %v, want an error wrapping decode.ErrMalformed", err)
			}
			if st := d.Stats(); st.Malformed != 1 || st.Datagrams != 1 {
				t.Fatalf("stats %+v: want 1 datagram, 1 malformed", st)
			}
		})
	}
}

func TestDecoderSurvivesEveryTruncationOfGoldenDatagrams(t *testing.T) {
	for _, gc := range goldenCases() {
		dgrams, err := readGolden(gc.file)
		if err != nil {
			t.Fatal(err)
		}
		d := decode.NewDecoder() // knows the templates: data sets get decoded too
		for _, b := range dgrams {
			if _, err := d.Decode(tplFrom, b); err != nil {
				t.Fatalf("%s: %v", gc.file, err)
			}
		}
		for i, b := range dgrams {
			ipfix := binary.BigEndian.Uint16(b) == 10
			// A v9 datagram cut exactly between flowsets is a valid,
			// shorter datagram; every other cut is malformed.
			boundary := map[int]bool{20: true}
			for off := 20; !ipfix && off+4 <= len(b); {
				off += int(binary.BigEndian.Uint16(b[off+2:]))
				boundary[off] = true
			}
			m, _ := d.Decode(tplFrom, b)
			full := len(m.Records)
			for n := 0; n < len(b); n++ {
				m, err := d.Decode(tplFrom, b[:n])
				if wantErr := ipfix || !boundary[n]; wantErr != errors.Is(err, decode.ErrMalformed) {
					t.Fatalf("%s datagram %d cut to %d bytes: error %v, want malformed %v", gc.file, i+1, n, err, wantErr)
				}
				if len(m.Records) > full {
					t.Fatalf("%s datagram %d cut to %d bytes: %d records, more than the %d uncut", gc.file, i+1, n, len(m.Records), full)
				}
			}
		}
	}
}

func TestDecoderCountsMissingTemplatesAndSequenceGaps(t *testing.T) {
	for _, ek := range templateEncoders {
		t.Run(ek.name, func(t *testing.T) {
			e, err := ek.new(Settings{Boot: tplBoot, TemplateRefreshPackets: -1, TemplateRefreshTimeout: -1}, TemplateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			recs := make([]cache.Record, 200)
			for i := range recs {
				recs[i] = fixedRecords()[0]
			}
			dg := encodeAll(t, e, tplNow, recs)
			if len(dg) < 4 {
				t.Fatalf("%d datagrams, want ≥ 4", len(dg))
			}
			// A collector that starts late: no templates, records skipped.
			late := decode.NewDecoder()
			m, err := late.Decode(tplFrom, dg[1])
			if err != nil || len(m.Records) != 0 || late.Stats().MissingTemplate != 1 {
				t.Fatalf("late decoder: %d records, err %v, stats %+v; want 0 records, 1 missing template", len(m.Records), err, late.Stats())
			}
			// Losing datagram 2 is one sequence error, at datagram 3.
			d := decode.NewDecoder()
			for i, b := range dg {
				if i == 2 {
					continue
				}
				if _, err := d.Decode(tplFrom, b); err != nil {
					t.Fatal(err)
				}
			}
			if st := d.Stats(); st.SequenceErrors != 1 {
				t.Fatalf("stats %+v: want exactly 1 sequence error", st)
			}
		})
	}
}

func TestDecoderReadsIPFIXVariableLengthOptionsAndWithdrawals(t *testing.T) {
	d := decode.NewDecoder()
	name := strings.Repeat("x", 300) // long form: 255, then a 2-byte length
	msg := ipfixMessage(0,
		set(3, be{}.u16(300).u16(3).u16(1).u16(ie.InputSNMP).u16(4).u16(ie.IfName).u16(ie.VarLen).u16(ie.IfDesc).u16(ie.VarLen)),
		set(300, be{}.u32(7).u8(4).raw([]byte("eth7")...).u8(255).u16(uint16(len(name))).raw([]byte(name)...)),
		set(2, be{}.u16(256).u16(2).u16(ie.InPkts).u16(4).u16(0x8000|ie.InPkts).u16(4).u32(ie.PENReverse)),
		set(256, be{}.u32(5).u32(6)),
	)
	m, err := d.Decode(tplFrom, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 1 || m.Records[0].Packets != 5 || m.Records[0].RevPackets != 6 || !m.Records[0].Bidirectional {
		t.Fatalf("records %+v: want one biflow of 5 and 6 packets", m.Records)
	}
	info := d.Exporter(tplFrom, 10, 1)
	// Names are cut at 255 bytes, SNMP's DisplayString size.
	if info == nil || info.Interfaces[7].Name != "eth7" || info.Interfaces[7].Description != name[:255] {
		t.Fatalf("exporter info %+v: want interface 7 eth7 with the long description cut at 255 bytes", info)
	}
	// Withdraw template 256: its data is now skipped and counted.
	m, err = d.Decode(tplFrom, ipfixMessage(1, set(2, be{}.u16(256).u16(0)), set(256, be{}.u32(5).u32(6))))
	if err != nil || len(m.Records) != 0 || d.Stats().MissingTemplate != 1 {
		t.Fatalf("after withdrawal: %d records, err %v, stats %+v; want 0 and 1 missing template", len(m.Records), err, d.Stats())
	}
}

// v5Datagram builds a NetFlow v5 datagram after Cisco's layout.
func v5Datagram(seq uint32, sampling uint16, recs []cache.Record) []byte {
	b := be{}.u16(5).u16(uint16(len(recs))).u32(3_600_000).u32(uint32(tplNow.Unix())).u32(0).u32(seq).u8(1).u8(2).u16(sampling)
	ref := timeRef{bootMs: tplBoot.UnixMilli()}
	for _, r := range recs {
		s, d := r.SrcAddr.As4(), r.DstAddr.As4()
		b = b.raw(s[:]...).raw(d[:]...).u32(0).u16(uint16(r.InIfIndex)).u16(uint16(r.OutIfIndex)).
			u32(uint32(r.Packets)).u32(uint32(r.Bytes)).u32(ref.uptime(r.Start)).u32(ref.uptime(r.End)).
			u16(r.SrcPort).u16(r.DstPort).u8(0).u8(r.TCPFlags).u8(r.Proto).u8(r.ToS).
			u16(uint16(r.SrcAS)).u16(uint16(r.DstAS)).u8(r.SrcMask).u8(r.DstMask).u16(0)
	}
	return b
}

func TestDecoderReadsLegacyVersions(t *testing.T) {
	r := fixedRecords()[0]
	r.NextHop, r.VLAN, r.AppID, r.EndReason, r.SrcAS, r.DstAS = netip.Addr{}, 0, 0, 0, 64500, 64501
	want := r
	want.SamplingInterval, want.SamplingRandom = 100, true
	want.Start, want.End = want.Start.UTC(), want.End.UTC()

	d := decode.NewDecoder()
	m, err := d.Decode(tplFrom, v5Datagram(1000, 2<<14|100, []cache.Record{r, r}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 5 || m.Sequence != 1000 || m.SourceID != 1<<8|2 {
		t.Fatalf("v5 header: version %d sequence %d source %#x", m.Version, m.Sequence, m.SourceID)
	}
	if diff := cmp.Diff([]cache.Record{want, want}, m.Records, addrComparer); diff != "" {
		t.Fatalf("v5 records (-want +got):\n%s", diff)
	}
	// The next datagram must start at flow 1002; 1003 is a gap.
	if _, err := d.Decode(tplFrom, v5Datagram(1003, 0, []cache.Record{r})); err != nil {
		t.Fatal(err)
	}
	if d.Stats().SequenceErrors != 1 {
		t.Fatalf("stats %+v: want 1 sequence error", d.Stats())
	}

	// v1 and v7 share v5's first 36 record bytes; v1 moves proto/tos/flags.
	v1 := be{}.u16(1).u16(1).u32(3_600_000).u32(uint32(tplNow.Unix())).u32(0)
	v5 := v5Datagram(0, 0, []cache.Record{r})
	rec := append([]byte(nil), v5[24:24+48]...)
	rec[37], rec[38], rec[39], rec[40] = 0, r.Proto, r.ToS, r.TCPFlags
	m, err = decode.NewDecoder().Decode(tplFrom, append(v1, rec...))
	if err != nil || len(m.Records) != 1 {
		t.Fatalf("v1: %v, %d records", err, len(m.Records))
	}
	w1 := want
	w1.SrcAS, w1.DstAS, w1.SrcMask, w1.DstMask, w1.SamplingInterval, w1.SamplingRandom = 0, 0, 0, 0, 0, false
	if diff := cmp.Diff(w1, m.Records[0], addrComparer); diff != "" {
		t.Fatalf("v1 record (-want +got):\n%s", diff)
	}
	v7 := append(be{}.u16(7).u16(1), v5[4:24]...)
	v7 = append(v7, v5[24:24+48]...)
	v7 = append(v7, 0, 0, 0, 0) // router_sc
	m, err = decode.NewDecoder().Decode(tplFrom, v7)
	if err != nil || len(m.Records) != 1 {
		t.Fatalf("v7: %v, %d records", err, len(m.Records))
	}
	w7 := want
	w7.SamplingInterval, w7.SamplingRandom = 0, false
	if diff := cmp.Diff(w7, m.Records[0], addrComparer); diff != "" {
		t.Fatalf("v7 record (-want +got):\n%s", diff)
	}
}

// FuzzDecode feeds arbitrary datagrams to a Decoder that has learnt the
// golden templates: it must never panic, and must count what it rejects.
func FuzzDecode(f *testing.F) {
	var learnt [][]byte
	for _, gc := range goldenCases() {
		dg, err := readGolden(gc.file)
		if err != nil {
			f.Fatal(err)
		}
		learnt = append(learnt, dg...)
		for _, b := range dg {
			f.Add(b)
		}
	}
	f.Add(v5Datagram(0, 0, fixedRecords()[:1]))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decode.NewDecoder()
		for _, l := range learnt {
			_, _ = d.Decode(tplFrom, l)
		}
		before := d.Stats()
		m, err := d.Decode(tplFrom, b)
		after := d.Stats()
		if (err != nil) != (after.Malformed == before.Malformed+1) {
			t.Fatalf("error %v but malformed count %d → %d", err, before.Malformed, after.Malformed)
		}
		if after.Records-before.Records != uint64(len(m.Records)) {
			t.Fatalf("records counted %d, returned %d", after.Records-before.Records, len(m.Records))
		}
		// Decoding twice (templates now possibly learnt from b) is safe too.
		_, _ = d.Decode(tplFrom, b)
	})
}

// FuzzTemplateRoundTrip encodes fuzzer-chosen records with fuzzer-chosen
// MTU and options and checks the decoder returns them.
func FuzzTemplateRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(10), uint16(1500), uint8(0))
	f.Add(uint64(3), uint64(4), uint8(200), uint16(576), uint8(7))
	f.Add(uint64(5), uint64(6), uint8(0), uint16(9000), uint8(3))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, n uint8, mtu uint16, flags uint8) {
		rng := rand.New(rand.NewPCG(s1, s2))
		s := Settings{MTU: max(576, int(mtu)), Boot: tplBoot, SourceID: uint32(s1), TemplateRefreshPackets: int(flags>>4) + 1}
		if flags&1 != 0 {
			s.SamplingInterval, s.SamplingRandom = 2+uint32(s2%1000), flags&2 != 0
		}
		o := TemplateOptions{AppID: flags&4 != 0}
		s.IPv6Transport = flags&8 != 0
		for _, ek := range templateEncoders {
			e, err := ek.new(s, o)
			if err != nil {
				t.Fatal(err)
			}
			recs := make([]cache.Record, n)
			want := make([]cache.Record, n)
			for i := range recs {
				recs[i] = randomRecord(rng, s, o.AppID)
				want[i] = wireView(ek.version, recs[i])
			}
			dg := encodeAll(t, e, tplNow.Add(time.Duration(flags)*time.Second), recs)
			d := decode.NewDecoder()
			got := decodeAll(t, d, dg)
			if len(want) == 0 {
				want = nil
			}
			if diff := cmp.Diff(want, got, addrComparer); diff != "" {
				t.Fatalf("%s: records differ (-want +got):\n%s", ek.name, diff)
			}
			for i, b := range dg {
				if len(b) > s.payloadLimit() {
					t.Fatalf("%s: datagram %d is %d bytes, limit %d", ek.name, i, len(b), s.payloadLimit())
				}
			}
		}
	})
}

// writeFuzzCorpus stores the golden datagrams as FuzzDecode's committed
// seed corpus (go test ./exporter -run TestGoldenTemplateDatagrams -update).
func writeFuzzCorpus(t *testing.T, name string, dgrams [][]byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range dgrams {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		p := filepath.Join(dir, fmt.Sprintf("%s-%02d", strings.TrimSuffix(name, ".hex"), i+1))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSplitIPFIXCutsATCPStreamIntoMessages(t *testing.T) {
	s := Settings{Boot: tplBoot, SamplingInterval: 4, TemplateRefreshPackets: -1, TemplateRefreshTimeout: -1}
	e, err := NewIPFIXEncoder(s, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]cache.Record, 100)
	for i := range recs {
		recs[i] = fixedRecords()[i%4]
	}
	dg := encodeAll(t, e, tplNow, recs)
	e.ResendTemplates() // as after a reconnect
	dg = append(dg, encodeAll(t, e, tplNow, recs[:1])...)
	var stream []byte
	for _, b := range dg {
		stream = append(stream, b...)
	}
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Split(decode.SplitIPFIX)
	d := decode.NewDecoder()
	var n, msgs int
	for sc.Scan() {
		m, err := d.Decode(tplFrom, sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		n += len(m.Records)
		msgs++
	}
	if sc.Err() != nil || msgs != len(dg) || n != 101 {
		t.Fatalf("scanned %d messages (%v), %d records; want %d messages, 101 records", msgs, sc.Err(), n, len(dg))
	}
	if st := d.Stats(); st.Templates <= 4+6 {
		t.Fatalf("stats %+v: want the templates twice (the resend)", st)
	}
	sc = bufio.NewScanner(bytes.NewReader(stream[:len(stream)-1]))
	sc.Split(decode.SplitIPFIX)
	for sc.Scan() {
	}
	if !errors.Is(sc.Err(), decode.ErrMalformed) {
		t.Fatalf("cut stream: %v, want decode.ErrMalformed", sc.Err())
	}
}
