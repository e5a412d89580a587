package exporter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

// Fixed clock of the template encoder tests: the exporter booted an hour
// before now.
var (
	tplNow  = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tplBoot = tplNow.Add(-time.Hour)
	tplFrom = netip.MustParseAddrPort("198.18.0.1:40000")
)

type encoderKind struct {
	name    string
	version uint16
	new     func(Settings, TemplateOptions) (Encoder, error)
}

var templateEncoders = []encoderKind{
	{"v9", 9, func(s Settings, o TemplateOptions) (Encoder, error) { return NewV9Encoder(s, o) }},
	{"ipfix", 10, func(s Settings, o TemplateOptions) (Encoder, error) { return NewIPFIXEncoder(s, o) }},
}

// randomRecord returns a record from the test networks with every field
// the templates carry set, times on whole milliseconds after boot.
func randomRecord(rng *rand.Rand, s Settings, app bool) cache.Record {
	ms := func(max int64) time.Duration { return time.Duration(rng.Int64N(max)) * time.Millisecond }
	r := cache.Record{
		SrcPort:    uint16(rng.Uint32()),
		DstPort:    uint16(rng.Uint32()),
		Proto:      []uint8{1, 6, 17, 58, 132}[rng.IntN(5)],
		ToS:        uint8(rng.Uint32()),
		InIfIndex:  rng.Uint32N(1 << 20),
		OutIfIndex: rng.Uint32N(1 << 20),
		VLAN:       uint16(rng.Uint32N(4096)),
		Packets:    1 + rng.Uint64N(1<<40),
		Bytes:      rng.Uint64(),
		TCPFlags:   uint8(rng.Uint32()),
		EndReason:  cache.EndReason(1 + rng.IntN(5)),
		SrcAS:      rng.Uint32(),
		DstAS:      rng.Uint32(),
	}
	if r.Proto == 1 || r.Proto == 58 {
		r.SrcPort = 0 // DstPort = type<<8 | code: the Cisco convention
	}
	r.Start = tplNow.Add(-ms(3_000_000))
	r.End = r.Start.Add(ms(int64(tplNow.Sub(r.Start)/time.Millisecond) + 1))
	if rng.IntN(2) == 0 {
		r.IPVersion = 6
		r.SrcAddr = randAddr(rng, "2001:db8::/32")
		r.DstAddr = randAddr(rng, "2001:db8::/32")
		r.SrcMask, r.DstMask = uint8(rng.IntN(129)), uint8(rng.IntN(129))
		if rng.IntN(2) == 0 {
			r.NextHop = randAddr(rng, "2001:db8::/32")
		}
	} else {
		r.IPVersion = 4
		r.SrcAddr = randAddr(rng, "198.18.0.0/15")
		r.DstAddr = randAddr(rng, "198.18.0.0/15")
		r.SrcMask, r.DstMask = uint8(rng.IntN(33)), uint8(rng.IntN(33))
		if rng.IntN(2) == 0 {
			r.NextHop = randAddr(rng, "198.18.0.0/15")
		}
	}
	if rng.IntN(2) == 0 {
		r.Bidirectional = true
		if rng.IntN(8) != 0 { // else no reply seen yet
			r.RevPackets = 1 + rng.Uint64N(1<<40)
			r.RevBytes = rng.Uint64()
			r.RevTCPFlags = uint8(rng.Uint32())
			r.RevToS = uint8(rng.Uint32())
			r.RevStart = tplNow.Add(-ms(3_000_000))
			r.RevEnd = r.RevStart.Add(ms(int64(tplNow.Sub(r.RevStart)/time.Millisecond) + 1))
		}
	}
	if app {
		r.AppID = 3<<24 | rng.Uint32N(1<<16) // classification engine 3: IANA-L4 ports
	}
	if s.SamplingInterval > 1 {
		r.SamplingInterval, r.SamplingRandom = s.SamplingInterval, s.SamplingRandom
	}
	return r
}

func randAddr(rng *rand.Rand, prefix string) netip.Addr {
	p := netip.MustParsePrefix(prefix)
	b := p.Addr().AsSlice()
	for i := p.Bits() / 8; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
	if p.Bits()%8 != 0 {
		keep := byte(0xff << (8 - p.Bits()%8))
		i := p.Bits() / 8
		b[i] = p.Addr().AsSlice()[i]&keep | b[i]&^keep
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// wireView is what a record looks like after a trip through a format:
// v9 folds a biflow's reverse times and flags into the forward ones.
func wireView(version uint16, r cache.Record) cache.Record {
	if version == 9 && r.Bidirectional {
		r.Start, r.End = biStart(&r), biEnd(&r)
		r.TCPFlags |= r.RevTCPFlags
		r.RevStart, r.RevEnd, r.RevTCPFlags, r.RevToS = time.Time{}, time.Time{}, 0, 0
	}
	r.Start, r.End = r.Start.UTC(), r.End.UTC()
	if !r.RevStart.IsZero() {
		r.RevStart, r.RevEnd = r.RevStart.UTC(), r.RevEnd.UTC()
	}
	return r
}

var addrComparer = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// encodeAll runs one Encode and returns copies of the datagrams.
func encodeAll(t testing.TB, e Encoder, now time.Time, recs []cache.Record) [][]byte {
	t.Helper()
	var out [][]byte
	if err := e.Encode(now, recs, func(b []byte) { out = append(out, append([]byte(nil), b...)) }); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return out
}

func decodeAll(t testing.TB, d *decode.Decoder, dgrams [][]byte) []cache.Record {
	t.Helper()
	var recs []cache.Record
	for i, b := range dgrams {
		m, err := d.Decode(tplFrom, b)
		if err != nil {
			t.Fatalf("decode datagram %d: %v", i, err)
		}
		recs = append(recs, m.Records...)
	}
	return recs
}

func TestTemplateEncodersRoundTripRandomRecords(t *testing.T) {
	for _, ek := range templateEncoders {
		for _, sampled := range []bool{false, true} {
			for _, app := range []bool{false, true} {
				name := fmt.Sprintf("%s/sampled=%v/app=%v", ek.name, sampled, app)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(42, uint64(len(name))))
					s := Settings{Boot: tplBoot, SourceID: 77, TemplateRefreshPackets: 3}
					if sampled {
						s.SamplingInterval, s.SamplingRandom = 100, true
					}
					e, err := ek.new(s, TemplateOptions{AppID: app})
					if err != nil {
						t.Fatal(err)
					}
					d := decode.NewDecoder()
					var want, got []cache.Record
					for batch := 0; batch < 10; batch++ {
						recs := make([]cache.Record, rng.IntN(200))
						for i := range recs {
							recs[i] = randomRecord(rng, s, app)
							want = append(want, wireView(ek.version, recs[i]))
						}
						dg := encodeAll(t, e, tplNow, recs)
						for _, b := range dg {
							if len(b) > 1472 {
								t.Fatalf("datagram of %d bytes exceeds the 1472-byte payload limit", len(b))
							}
						}
						got = append(got, decodeAll(t, d, dg)...)
					}
					if diff := cmp.Diff(want, got, addrComparer); diff != "" {
						t.Fatalf("decoded records differ (-want +got):\n%s", diff)
					}
					if st := d.Stats(); st.SequenceErrors != 0 || st.Malformed != 0 || st.MissingTemplate != 0 {
						t.Fatalf("decoder stats %+v: want no sequence errors, malformed or missing templates", st)
					}
				})
			}
		}
	}
}

func TestTemplateEncodersPackAsManyRecordsAsFit(t *testing.T) {
	for _, ek := range templateEncoders {
		for _, v6 := range []bool{false, true} {
			for _, mtu := range []int{576, 1500, 9000} {
				for _, ipv6Transport := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/v6=%v/mtu=%d/v6transport=%v", ek.name, v6, mtu, ipv6Transport), func(t *testing.T) {
						s := Settings{MTU: mtu, Boot: tplBoot, TemplateRefreshPackets: -1, TemplateRefreshTimeout: -1, IPv6Transport: ipv6Transport}
						e, err := ek.new(s, TemplateOptions{})
						if err != nil {
							t.Fatal(err)
						}
						rec := fixedRecords()[0]
						if v6 {
							rec = fixedRecords()[1]
						}
						recs := make([]cache.Record, 1000)
						for i := range recs {
							recs[i] = rec
						}
						limit := mtu - 28
						if ipv6Transport {
							limit = mtu - 48
						}
						dg := encodeAll(t, e, tplNow, recs)
						st := newStreamFor(t, ek.version, s, TemplateOptions{})
						recLen := st.flows[flowVariant(&rec)].recLen
						hdr := st.hdrLen
						perDatagram := (limit - hdr - 4) / recLen
						if ek.version == 9 { // flowset padding
							for hdr+4+perDatagram*recLen+(-(4+perDatagram*recLen)&3) > limit {
								perDatagram--
							}
						}
						// The first datagram carries the template; the rest are full.
						for i, b := range dg[1 : len(dg)-1] {
							if len(b) > limit {
								t.Fatalf("datagram %d: %d bytes > limit %d", i+1, len(b), limit)
							}
							if n := (len(b) - hdr - 4) / recLen; n != perDatagram {
								t.Fatalf("datagram %d holds %d records, want %d (%d bytes, limit %d)", i+1, n, perDatagram, len(b), limit)
							}
						}
						if len(dg[0]) > limit || len(dg[0])+recLen+4 <= limit {
							t.Fatalf("first datagram %d bytes: over the limit %d or not full", len(dg[0]), limit)
						}
					})
				}
			}
		}
	}
}

func newStreamFor(t *testing.T, version uint16, s Settings, o TemplateOptions) *stream {
	st, err := newStream(version == 10, s, o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTemplateEncodersRejectTinyMTUAndTemplateIDOverflow(t *testing.T) {
	for _, ek := range templateEncoders {
		for _, mtu := range []int{10, 60, 150} {
			_, err := ek.new(Settings{MTU: mtu}, TemplateOptions{})
			if !errors.Is(err, errTooSmall) {
				t.Errorf("%s: MTU %d gave %v, want errTooSmall", ek.name, mtu, err)
			}
		}
		if _, err := ek.new(Settings{}, TemplateOptions{FirstTemplateID: 0xffff - 8}); err != nil {
			t.Errorf("%s: first template id 65527: %v, want it accepted", ek.name, err)
		}
		if _, err := ek.new(Settings{}, TemplateOptions{FirstTemplateID: 0xffff - 7}); err == nil {
			t.Errorf("%s: first template id 65528 accepted; its last id would wrap", ek.name)
		}
	}
}

// countTemplates returns how many template set records the decoder learnt
// from each datagram.
func TestTemplateRefreshEveryNPacketsAndEveryT(t *testing.T) {
	for _, ek := range templateEncoders {
		t.Run(ek.name, func(t *testing.T) {
			s := Settings{Boot: tplBoot, SamplingInterval: 10, TemplateRefreshPackets: 4, TemplateRefreshTimeout: time.Minute}
			e, err := ek.new(s, TemplateOptions{Interfaces: []ie.Interface{{Index: 1, Name: "eth0"}}})
			if err != nil {
				t.Fatal(err)
			}
			rec := fixedRecords()[:1]
			d := decode.NewDecoder()
			var carried []bool
			now := tplNow
			step := func(at time.Time) {
				before := d.Stats().Templates
				dg := encodeAll(t, e, at, rec)
				if len(dg) != 1 {
					t.Fatalf("got %d datagrams, want 1", len(dg))
				}
				decodeAll(t, d, dg)
				carried = append(carried, d.Stats().Templates > before)
			}
			for i := 0; i < 9; i++ {
				step(now)
			}
			// 59.999 s after the refresh of datagram 8: none; at 60 s: refresh.
			step(now.Add(time.Minute - time.Millisecond))
			step(now.Add(time.Minute))
			// An explicit resend (a reconnect) goes out with the next records.
			e.(interface{ ResendTemplates() }).ResendTemplates()
			step(now.Add(time.Minute + time.Second))
			want := []bool{true, false, false, false, true, false, false, false, true, false, true, true}
			if diff := cmp.Diff(want, carried); diff != "" {
				t.Fatalf("datagrams carrying templates (-want +got):\n%s", diff)
			}
			// Each refresh carries sampling and interface options data again.
			if got := d.Stats().OptionRecords; got != 5*4 {
				t.Fatalf("options data records = %d, want 20 (3 sampling + 1 interface, 5 refreshes)", got)
			}
			st := e.(interface{ Stats() TemplateStats }).Stats()
			if st.Datagrams != 12 || st.Records != 12 || st.Refreshes != 5 || st.OptionRecords != 20 || st.Templates != 5*(1+3+1) {
				t.Fatalf("encoder stats %+v: want 12 datagrams and records, 5 refreshes of 5 templates and 4 options records", st)
			}
			info := d.Exporter(tplFrom, ek.version, 0)
			if info == nil || info.SamplingInterval != 10 || info.SamplingRandom || info.Interfaces[1].Name != "eth0" {
				t.Fatalf("exporter info %+v: want sampling 1-in-10 deterministic and eth0", info)
			}
		})
	}
}

func TestTemplateEncodersSendOptionsWithoutRecords(t *testing.T) {
	for _, ek := range templateEncoders {
		t.Run(ek.name, func(t *testing.T) {
			ifs := make([]ie.Interface, 40) // more than one datagram of names
			for i := range ifs {
				ifs[i] = ie.Interface{Index: uint32(i + 1), Name: fmt.Sprintf("veth%d", i), Description: fmt.Sprintf("%060d", i)}
			}
			apps := []ie.Application{{ID: 3<<24 | 443, Name: "https", Description: "HTTP over TLS"}, {ID: 3<<24 | 53, Name: "dns", Description: ""}}
			e, err := ek.new(Settings{Boot: tplBoot, SamplingInterval: 512}, TemplateOptions{Interfaces: ifs, Applications: apps})
			if err != nil {
				t.Fatal(err)
			}
			dg := encodeAll(t, e, tplNow, nil)
			if len(dg) < 2 {
				t.Fatalf("%d datagrams for 40 long interface names, want ≥ 2", len(dg))
			}
			d := decode.NewDecoder()
			decodeAll(t, d, dg)
			info := d.Exporter(tplFrom, ek.version, 0)
			if info == nil || len(info.Interfaces) != 40 || info.Interfaces[40].Name != "veth39" || info.SamplingInterval != 512 {
				t.Fatalf("exporter info %+v: want 40 interfaces and sampling 512", info)
			}
			if diff := cmp.Diff(map[uint32]ie.Application{apps[0].ID: apps[0], apps[1].ID: apps[1]}, info.Applications); diff != "" {
				t.Fatalf("applications (-want +got):\n%s", diff)
			}
			if again := encodeAll(t, e, tplNow.Add(time.Second), nil); len(again) != 0 {
				t.Fatalf("%d datagrams with nothing due, want 0", len(again))
			}
		})
	}
}

func TestTemplateEncodersAreDeterministic(t *testing.T) {
	for _, ek := range templateEncoders {
		t.Run(ek.name, func(t *testing.T) {
			run := func() [][]byte {
				rng := rand.New(rand.NewPCG(7, 7))
				s := Settings{Boot: tplBoot, SourceID: 3, SamplingInterval: 4}
				e, err := ek.new(s, TemplateOptions{AppID: true})
				if err != nil {
					t.Fatal(err)
				}
				recs := make([]cache.Record, 100)
				for i := range recs {
					recs[i] = randomRecord(rng, s, true)
				}
				return encodeAll(t, e, tplNow, recs)
			}
			if diff := cmp.Diff(run(), run()); diff != "" {
				t.Fatalf("two runs differ:\n%s", diff)
			}
		})
	}
}

func TestV9SequenceCountsPacketsAndIPFIXCountsDataRecords(t *testing.T) {
	s := Settings{Boot: tplBoot, SamplingInterval: 2, TemplateRefreshPackets: -1, TemplateRefreshTimeout: -1}
	recs := make([]cache.Record, 100)
	for i := range recs {
		recs[i] = fixedRecords()[0]
	}
	v9, _ := NewV9Encoder(s, TemplateOptions{})
	dg := encodeAll(t, v9, tplNow, recs)
	d := decode.NewDecoder()
	for i, b := range dg {
		m, err := d.Decode(tplFrom, b)
		if err != nil || m.Sequence != uint32(i) {
			t.Fatalf("v9 datagram %d: sequence %d (err %v), want %d", i, m.Sequence, err, i)
		}
	}
	ipfix, _ := NewIPFIXEncoder(s, TemplateOptions{})
	dg = encodeAll(t, ipfix, tplNow, recs)
	var sent uint32
	for i, b := range dg {
		m, err := d.Decode(tplFrom, b)
		if err != nil || m.Sequence != sent {
			t.Fatalf("ipfix message %d: sequence %d (err %v), want %d", i, m.Sequence, err, sent)
		}
		sent += uint32(len(m.Records))
		if i == 0 {
			sent += 3 // the sampling options data records
		}
	}
	if ipfix.Sequence() != sent || sent != 103 {
		t.Fatalf("ipfix next sequence %d, counted %d, want 103", ipfix.Sequence(), sent)
	}
}

// fixedRecords are the records of the golden datagrams.
func fixedRecords() []cache.Record {
	at := func(ms int) time.Time { return tplNow.Add(time.Duration(ms) * time.Millisecond) }
	return []cache.Record{
		{
			SrcAddr: netip.MustParseAddr("198.18.0.10"), DstAddr: netip.MustParseAddr("198.19.1.20"),
			SrcPort: 51514, DstPort: 443, Proto: 6, ToS: 0x10, IPVersion: 4,
			InIfIndex: 2, OutIfIndex: 3, VLAN: 100,
			Packets: 12, Bytes: 3400, TCPFlags: 0x1b, Start: at(-42_500), End: at(-1_250),
			EndReason: cache.EndOfFlow, SrcAS: 64500, DstAS: 64501, SrcMask: 24, DstMask: 16,
			NextHop: netip.MustParseAddr("198.18.0.1"), AppID: 3<<24 | 443,
		},
		{
			SrcAddr: netip.MustParseAddr("2001:db8::10"), DstAddr: netip.MustParseAddr("2001:db8:1::53"),
			SrcPort: 40000, DstPort: 53, Proto: 17, IPVersion: 6, InIfIndex: 2, OutIfIndex: 0,
			Packets: 1, Bytes: 81, Start: at(-15_000), End: at(-15_000), EndReason: cache.EndIdle,
			SrcMask: 48, DstMask: 64, AppID: 3<<24 | 53,
		},
		{
			SrcAddr: netip.MustParseAddr("198.18.0.11"), DstAddr: netip.MustParseAddr("198.19.0.80"),
			SrcPort: 33000, DstPort: 80, Proto: 6, IPVersion: 4, InIfIndex: 2, OutIfIndex: 3,
			Packets: 10, Bytes: 900, TCPFlags: 0x1a, Start: at(-1_800_000), End: at(-2),
			Bidirectional: true, RevPackets: 8, RevBytes: 12000, RevTCPFlags: 0x12, RevToS: 0x10,
			RevStart: at(-1_799_990), RevEnd: at(-1), EndReason: cache.EndActive, AppID: 3<<24 | 80,
		},
		{
			SrcAddr: netip.MustParseAddr("2001:db8::11"), DstAddr: netip.MustParseAddr("2001:db8:2::1"),
			Proto: 58, DstPort: 128 << 8, IPVersion: 6, InIfIndex: 4,
			Packets: 3, Bytes: 312, Start: at(-3_000), End: at(-1_000),
			Bidirectional: true, RevPackets: 3, RevBytes: 312, RevStart: at(-2_999), RevEnd: at(-999),
			EndReason: cache.EndForced, NextHop: netip.MustParseAddr("2001:db8::1"),
		},
	}
}

func TestTemplateRefreshLargerThanADatagramDoesNotStarveRecords(t *testing.T) {
	ifs := make([]ie.Interface, 30) // ~3 KB of names: several 576-byte datagrams
	for i := range ifs {
		ifs[i] = ie.Interface{Index: uint32(i), Name: fmt.Sprintf("eth%d", i)}
	}
	for _, ek := range templateEncoders {
		t.Run(ek.name, func(t *testing.T) {
			s := Settings{MTU: 576, Boot: tplBoot, SamplingInterval: 3, TemplateRefreshPackets: 1}
			e, err := ek.new(s, TemplateOptions{Interfaces: ifs})
			if err != nil {
				t.Fatal(err)
			}
			recs := make([]cache.Record, 100)
			for i := range recs {
				recs[i] = fixedRecords()[i%4]
			}
			var n int
			err = e.Encode(tplNow, recs, func([]byte) {
				if n++; n > 1000 {
					t.Fatalf("more than 1000 datagrams for 100 records: refresh loop")
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			d := decode.NewDecoder()
			got := decodeAll(t, d, encodeAll(t, e, tplNow, recs))
			if len(got) != 100 {
				t.Fatalf("decoded %d records, want 100", len(got))
			}
		})
	}
}

func TestFastWritersMatchFieldLists(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ref := timeRef{bootMs: tplBoot.UnixMilli()}
	// Server names around the v9 and IPFIX length limits, multi-byte
	// runes across the v9 cut, and none.
	servers := []string{"", "example.com", strings.Repeat("é", 40), strings.Repeat("a", 254),
		strings.Repeat("b", 255), strings.Repeat("c", 300)}
	apps := []app.ID{app.HTTP, app.TLS, app.QUIC, app.DNS, app.SSH, app.Unknown}
	for i := 0; i < 2000; i++ {
		r := randomRecord(rng, Settings{}, true)
		if i%7 == 0 {
			r.SrcAddr, r.DstAddr = netip.AddrFrom16(r.SrcAddr.As16()), netip.AddrFrom16(r.DstAddr.As16()) // 4in6
		}
		if i%3 == 0 {
			r.AppID = cache.AppIDOf(apps[i%len(apps)])
			r.AppServer = servers[i%len(servers)]
		}
		v := flowVariant(&r)
		v6, bi := v&variantV6 != 0, v&variantBi != 0
		for _, opt := range [][2]bool{{false, false}, {true, false}, {true, true}, {false, true}} {
			appOn, ntop := opt[0], opt[1]
			for _, ipfix := range []bool{false, true} {
				var fields []field
				if ipfix {
					fields = ipfixFlowFields(v6, bi, appOn, ntop)
				} else {
					fields = v9FlowFields(v6, bi, appOn, ntop)
				}
				n := recordLen(fields)
				if ipfix && ntop {
					n += ntopExtra(&r)
				}
				want := make([]byte, n)
				got := make([]byte, len(want))
				putFields(want, fields, &r, ref)
				if ipfix {
					putIPFIX(got, &r, v6, bi, appOn, ntop)
				} else {
					putV9(got, &r, ref, v6, bi, appOn, ntop)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("record %d (ipfix %v, app %v, ntop %v, variant %d):\nfast   %x\nfields %x", i, ipfix, appOn, ntop, v, got, want)
				}
			}
		}
	}
}

func TestV9UptimeWrapsAfter49DaysAndStillDecodes(t *testing.T) {
	boot := tplNow.Add(-60 * 24 * time.Hour) // sysUptime has wrapped once
	s := Settings{Boot: boot}
	e, err := NewV9Encoder(s, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs := fixedRecords()
	dg := encodeAll(t, e, tplNow, recs)
	if up := binary.BigEndian.Uint32(dg[0][4:]); up != uint32(60*24*3600*1000%(1<<32)) {
		t.Fatalf("sysUptime %d, want 60 days mod 2^32 ms", up)
	}
	got := decodeAll(t, decode.NewDecoder(), dg)
	var want []cache.Record
	for _, r := range recs {
		r = wireView(9, r)
		r.AppID = 0
		want = append(want, r)
	}
	if diff := cmp.Diff(want, got, addrComparer); diff != "" {
		t.Fatalf("records across the uptime wrap (-want +got):\n%s", diff)
	}
}
