package exporter

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/spanflow/spanflow/cache"
)

// Golden datagrams for every scheme: the fixture through the scheme's
// aggregation cache, flushed, encoded.
func TestV8Golden(t *testing.T) {
	for _, scheme := range cache.Schemes() {
		t.Run(scheme.String(), func(t *testing.T) {
			s := legacySettings()
			e, err := NewV8Encoder(s, scheme)
			if err != nil {
				t.Fatal(err)
			}
			aggs := legacyAggregate(t, scheme, legacyRecords())
			got := legacyCollect(t, func(emit func([]byte)) error { return e.EncodeAggregates(legacyNow, aggs, emit) })
			about := legacyAbout(fmt.Sprintf("NetFlow v8 scheme %d (%s): the records through cache.NewAggregator(%d), Flush, then\nV8Encoder.EncodeAggregates (TestV8Golden); %d aggregates.", scheme, scheme, scheme, len(aggs)), s)
			checkGolden(t, fmt.Sprintf("v8-%02d-%s.hex", int(scheme), scheme), about, got, nil)
		})
	}
}

// The header carries the scheme, aggregation version 2, the engine fields
// and a flow sequence that counts records.
func TestV8HeaderAndSequence(t *testing.T) {
	s := legacySettings()
	s.EngineType, s.EngineID = 3, 4
	for _, scheme := range cache.Schemes() {
		e, _ := NewV8Encoder(s, scheme)
		recs := legacyBulkRecords(12) // 60 IPv4 flows: more than any scheme's limit
		var seq uint32
		n := 0
		_ = e.Encode(legacyNow, recs, func(d []byte) {
			if binary.BigEndian.Uint16(d[0:]) != 8 || d[20] != 3 || d[21] != 4 || d[22] != uint8(scheme) || d[23] != 2 {
				t.Errorf("%s: header % x", scheme, d[:24])
			}
			if got := binary.BigEndian.Uint32(d[16:]); got != seq {
				t.Errorf("%s: datagram %d sequence %d, want %d", scheme, n, got, seq)
			}
			seq += uint32(binary.BigEndian.Uint16(d[2:]))
			n++
		})
		if n < 2 || seq != 60 || e.Stats().Skipped != 12 {
			t.Errorf("%s: %d datagrams, %d records, %d skipped; want ≥2, 60, 12", scheme, n, seq, e.Stats().Skipped)
		}
	}
}

// EncodeAggregates skips aggregates that are not IPv4 and counts them.
func TestV8SkipsIPv6Aggregates(t *testing.T) {
	e, _ := NewV8Encoder(legacySettings(), cache.SchemeFullFlow)
	r := legacyRecords()[3] // IPv6
	a := cache.Aggregate{Flows: 1, Packets: 1, Bytes: 1}
	a.SrcAddr, a.DstAddr = r.SrcAddr, r.DstAddr
	n := 0
	_ = e.EncodeAggregates(legacyNow, []cache.Aggregate{a}, func([]byte) { n++ })
	if n != 0 || e.Stats().Skipped != 1 {
		t.Errorf("emitted %d datagrams, skipped %d; want 0 and 1", n, e.Stats().Skipped)
	}
}

func BenchmarkV8Encode(b *testing.B) {
	recs := legacyBenchRecords()
	for _, scheme := range cache.Schemes() {
		b.Run(scheme.String(), func(b *testing.B) {
			e, _ := NewV8Encoder(legacySettings(), scheme)
			legacyBenchmark(b, e, recs)
		})
	}
}

// BenchmarkV8EncodeAggregates encodes what an aggregation cache hands
// out: 3000 distinct aggregates per scheme.
func BenchmarkV8EncodeAggregates(b *testing.B) {
	recs := legacyBenchRecords()
	for _, scheme := range cache.Schemes() {
		b.Run(scheme.String(), func(b *testing.B) {
			aggs := make([]cache.Aggregate, 0, len(recs))
			for i := range recs {
				k, _ := scheme.Key(&recs[i])
				r := &recs[i]
				aggs = append(aggs, cache.Aggregate{AggregateKey: k, Flows: 2, Packets: r.Packets, Bytes: r.Bytes, Start: r.Start, End: r.End})
			}
			e, _ := NewV8Encoder(legacySettings(), scheme)
			b.ReportAllocs()
			datagrams := 0
			emit := func([]byte) { datagrams++ }
			for b.Loop() {
				_ = e.EncodeAggregates(legacyNow, aggs, emit)
			}
			b.ReportMetric(float64(len(aggs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(datagrams)/float64(b.N), "datagrams/op")
		})
	}
}
