package exporter

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

// v8RandomRecords returns n IPv4 flows whose every field fits what v8
// carries (16-bit AS numbers and ifindexes, 32-bit counters, times in
// whole milliseconds after legacyBoot).
func v8RandomRecords(rng *rand.Rand, n int) []cache.Record {
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{198, 18 + byte(rng.IntN(2)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	recs := make([]cache.Record, n)
	for i := range recs {
		start := legacyBoot.Add(time.Duration(rng.IntN(3_000_000)) * time.Millisecond)
		recs[i] = cache.Record{
			SrcAddr: addr(), DstAddr: addr(), IPVersion: 4,
			SrcPort: uint16(rng.Uint32()), DstPort: uint16(rng.Uint32()),
			Proto: uint8(rng.Uint32()), ToS: uint8(rng.Uint32()),
			InIfIndex: uint32(rng.IntN(1 << 16)), OutIfIndex: uint32(rng.IntN(1 << 16)),
			Packets: uint64(rng.Uint32()), Bytes: uint64(rng.Uint32()),
			Start: start, End: start.Add(time.Duration(rng.IntN(600_000)) * time.Millisecond),
			SrcAS: uint32(rng.IntN(1 << 16)), DstAS: uint32(rng.IntN(1 << 16)),
			SrcMask: uint8(rng.IntN(33)), DstMask: uint8(rng.IntN(33)),
		}
	}
	return recs
}

// v8Expected is what a V8Encoder makes of r: the scheme's key, one flow
// (none for the Catalyst schemes, which carry no flow count), the counters
// and times.
func v8Expected(scheme cache.Scheme, r *cache.Record) cache.Aggregate {
	k, _ := scheme.Key(r)
	a := cache.Aggregate{AggregateKey: k, Flows: 1, Packets: r.Packets, Bytes: r.Bytes, Start: r.Start, End: r.End}
	switch scheme {
	case cache.SchemeDestination, cache.SchemeSourceDestination, cache.SchemeFullFlow:
		a.Flows = 0
	}
	return a
}

func TestDecoderReadsEveryV8SchemeBackFromTheEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	recs := v8RandomRecords(rng, 120) // several datagrams for every scheme
	for _, scheme := range cache.Schemes() {
		t.Run(scheme.String(), func(t *testing.T) {
			s := legacySettings()
			e, err := NewV8Encoder(s, scheme)
			if err != nil {
				t.Fatal(err)
			}
			d := decode.NewDecoder()
			var got []cache.Aggregate
			var seq uint32
			err = e.Encode(legacyNow, recs, func(b []byte) {
				m, err := d.Decode(tplFrom, b)
				if err != nil {
					t.Fatal(err)
				}
				if m.Version != 8 || m.Scheme != scheme || m.SourceID != uint32(s.EngineType)<<8|uint32(s.EngineID) || m.Sequence != seq {
					t.Fatalf("header: version %d scheme %s source %#x sequence %d; want 8 %s %#x %d",
						m.Version, m.Scheme, m.SourceID, m.Sequence, scheme, uint32(s.EngineType)<<8|uint32(s.EngineID), seq)
				}
				if !m.ExportTime.Equal(legacyNow) {
					t.Fatalf("export time %v, want %v", m.ExportTime, legacyNow)
				}
				seq += uint32(len(m.Aggregates))
				got = append(got, m.Aggregates...)
			})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]cache.Aggregate, len(recs))
			for i := range recs {
				want[i] = v8Expected(scheme, &recs[i])
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Fatalf("decoded aggregates (-want +got):\n%s", diff)
			}
			st := d.Stats()
			if st.Aggregates != uint64(len(recs)) || st.Records != 0 || st.SequenceErrors != 0 || st.Malformed != 0 {
				t.Fatalf("stats %+v: want %d aggregates, no records, no errors", st, len(recs))
			}
		})
	}
}

// Hand-made records, independent of the encoder, pin the layouts where
// decoders disagree: the mask order of schemes 5, 13 and 14 (destination
// first), scheme 9's interfaces before ToS, and the Catalyst full flow.
func TestDecoderReadsV8LayoutsAsCiscoDefinesThem(t *testing.T) {
	times := be{}.u32(1000).u32(2000) // First, Last: uptime ms
	// counters returns a fresh copy, so the cases never share a backing array.
	counters := func() be { return be{}.u32(3).u32(40).u32(5000).raw(times...) }
	start, end := legacyBoot.Add(time.Second), legacyBoot.Add(2*time.Second)
	a4 := netip.MustParseAddr
	cases := []struct {
		scheme cache.Scheme
		rec    be
		want   cache.Aggregate
	}{
		{cache.SchemePrefix,
			counters().raw(198, 18, 0, 0).raw(198, 19, 1, 0).u8(24).u8(16).u16(0).u16(65001).u16(65002).u16(3).u16(4),
			cache.Aggregate{AggregateKey: cache.AggregateKey{SrcAddr: a4("198.18.0.0"), DstAddr: a4("198.19.1.0"),
				SrcMask: 16, DstMask: 24, SrcAS: 65001, DstAS: 65002, InIfIndex: 3, OutIfIndex: 4}}},
		{cache.SchemePrefixToS,
			counters().raw(198, 18, 0, 0).raw(198, 19, 1, 0).u8(24).u8(16).u8(0xb8).u8(0).u16(65001).u16(65002).u16(3).u16(4),
			cache.Aggregate{AggregateKey: cache.AggregateKey{SrcAddr: a4("198.18.0.0"), DstAddr: a4("198.19.1.0"),
				SrcMask: 16, DstMask: 24, ToS: 0xb8, SrcAS: 65001, DstAS: 65002, InIfIndex: 3, OutIfIndex: 4}}},
		{cache.SchemePrefixPort,
			counters().raw(198, 18, 0, 0).raw(198, 19, 1, 0).u8(24).u8(16).u8(0xb8).u8(17).u16(5353).u16(53).u16(3).u16(4),
			cache.Aggregate{AggregateKey: cache.AggregateKey{SrcAddr: a4("198.18.0.0"), DstAddr: a4("198.19.1.0"),
				SrcMask: 16, DstMask: 24, ToS: 0xb8, Proto: 17, SrcPort: 5353, DstPort: 53, InIfIndex: 3, OutIfIndex: 4}}},
		{cache.SchemeASToS,
			counters().u16(65001).u16(65002).u16(3).u16(4).u8(0x20).u8(0).u16(0),
			cache.Aggregate{AggregateKey: cache.AggregateKey{SrcAS: 65001, DstAS: 65002, InIfIndex: 3, OutIfIndex: 4, ToS: 0x20}}},
		{cache.SchemeProtocolPortToS,
			counters().u8(6).u8(0x20).u16(0).u16(40000).u16(443).u16(3).u16(4),
			cache.Aggregate{AggregateKey: cache.AggregateKey{Proto: 6, ToS: 0x20, SrcPort: 40000, DstPort: 443, InIfIndex: 3, OutIfIndex: 4}}},
		{cache.SchemeFullFlow,
			be{}.raw(198, 19, 1, 2).raw(198, 18, 0, 1).u16(443).u16(40000).u32(40).u32(5000).raw(times...).
				u16(4).u16(3).u8(0x20).u8(6).u8(0).u8(0).u32(0).u32(0),
			cache.Aggregate{AggregateKey: cache.AggregateKey{SrcAddr: a4("198.18.0.1"), DstAddr: a4("198.19.1.2"),
				SrcPort: 40000, DstPort: 443, Proto: 6, ToS: 0x20, InIfIndex: 3, OutIfIndex: 4}}},
	}
	for _, tc := range cases {
		t.Run(tc.scheme.String(), func(t *testing.T) {
			if len(tc.rec) != ie.V8Layouts[tc.scheme].RecordLen {
				t.Fatalf("test record is %d bytes, scheme's are %d", len(tc.rec), ie.V8Layouts[tc.scheme].RecordLen)
			}
			want := tc.want
			want.Packets, want.Bytes, want.Start, want.End = 40, 5000, start, end
			if tc.scheme != cache.SchemeFullFlow {
				want.Flows = 3
			}
			// The header says uptime 10 s at legacyBoot + 10 s.
			dg := append(be{}.u16(8).u16(1).u32(10_000).u32(uint32(legacyBoot.Unix()+10)).u32(0).u32(0).
				u16(0).u8(uint8(tc.scheme)).u8(2).u32(0), tc.rec...)
			m, err := decode.NewDecoder().Decode(tplFrom, dg)
			if err != nil || len(m.Aggregates) != 1 {
				t.Fatalf("decode: %v, %d aggregates", err, len(m.Aggregates))
			}
			if diff := cmp.Diff(want, m.Aggregates[0], cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func v8Datagram(scheme cache.Scheme, engine uint16, seq uint32, count uint16, records []byte) []byte {
	h := be{}.u16(8).u16(count).u32(10_000).u32(uint32(legacyNow.Unix())).u32(0).u32(seq).u16(engine).u8(uint8(scheme)).u8(2).u32(0)
	return append(h, records...)
}

func TestDecoderRejectsCorruptV8Datagrams(t *testing.T) {
	one := make([]byte, 28)
	cases := []struct {
		name string
		b    []byte
	}{
		{"short header", v8Datagram(cache.SchemeAS, 0, 0, 0, nil)[:27]},
		{"scheme 0", v8Datagram(0, 0, 0, 0, nil)},
		{"scheme 15", v8Datagram(15, 0, 0, 0, nil)},
		{"count beyond datagram", v8Datagram(cache.SchemeAS, 0, 0, 2, one)},
		{"record truncated", v8Datagram(cache.SchemeAS, 0, 0, 1, one[:27])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decode.NewDecoder()
			m, err := d.Decode(tplFrom, tc.b)
			if !errors.Is(err, decode.ErrMalformed) {
				t.Fatalf("Decode = %v, want an error wrapping decode.ErrMalformed", err)
			}
			if st := d.Stats(); st.Malformed != 1 || st.Aggregates != 0 || len(m.Aggregates) != 0 {
				t.Fatalf("stats %+v, %d aggregates: want 1 malformed, none decoded", st, len(m.Aggregates))
			}
		})
	}
	// Every cut of a valid datagram short of its full length is malformed.
	e, _ := NewV8Encoder(legacySettings(), cache.SchemePrefixPort)
	var dg []byte
	_ = e.Encode(legacyNow, v8RandomRecords(rand.New(rand.NewPCG(1, 2)), 3), func(b []byte) { dg = append([]byte(nil), b...) })
	d := decode.NewDecoder()
	for n := 0; n < len(dg); n++ {
		if _, err := d.Decode(tplFrom, dg[:n]); !errors.Is(err, decode.ErrMalformed) {
			t.Fatalf("cut to %d of %d bytes: error %v, want malformed", n, len(dg), err)
		}
	}
	if m, err := d.Decode(tplFrom, dg); err != nil || len(m.Aggregates) != 3 {
		t.Fatalf("uncut: %d aggregates, error %v; want 3, nil", len(m.Aggregates), err)
	}
}

// Each scheme is its own stream: interleaving two schemes of one exporter
// is not a sequence error, a gap within one scheme is.
func TestDecoderChecksV8SequencePerScheme(t *testing.T) {
	rec := make([]byte, 28)
	d := decode.NewDecoder()
	for _, dg := range [][]byte{
		v8Datagram(cache.SchemeAS, 0x0102, 0, 1, rec),
		v8Datagram(cache.SchemeProtocolPort, 0x0102, 100, 1, rec),
		v8Datagram(cache.SchemeAS, 0x0102, 1, 1, rec),
		v8Datagram(cache.SchemeProtocolPort, 0x0102, 101, 1, rec),
	} {
		if _, err := d.Decode(tplFrom, dg); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Stats().SequenceErrors; n != 0 {
		t.Fatalf("%d sequence errors after two in-order schemes, want 0", n)
	}
	if _, err := d.Decode(tplFrom, v8Datagram(cache.SchemeAS, 0x0102, 5, 1, rec)); err != nil {
		t.Fatal(err)
	}
	if n := d.Stats().SequenceErrors; n != 1 {
		t.Fatalf("%d sequence errors after a gap, want 1", n)
	}
}
