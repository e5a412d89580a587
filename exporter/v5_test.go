package exporter

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func TestV5Golden(t *testing.T) {
	for _, tc := range []struct {
		file     string
		interval uint32
		random   bool
	}{
		{"v5.hex", 0, false},
		{"v5-sampled-deterministic-64.hex", 64, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := legacySettings()
			s.SamplingInterval, s.SamplingRandom = tc.interval, tc.random
			e, err := NewV5Encoder(s)
			if err != nil {
				t.Fatal(err)
			}
			got := legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, legacyRecords(), emit) })
			checkGolden(t, tc.file, legacyAbout("NetFlow v5: V5Encoder.Encode (TestV5Golden).", s), got, nil)
		})
	}
}

// The header's sampling field: mode in the top two bits (01 deterministic,
// 10 random), interval in the low 14.
func TestV5SamplingField(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval uint32
		random   bool
		want     uint16
		wantErr  bool
	}{
		{"unsampled 0", 0, false, 0x0000, false},
		{"unsampled 1", 1, true, 0x0000, false},
		{"deterministic 100", 100, false, 0x4064, false},
		{"random 100", 100, true, 0x8064, false},
		{"deterministic 2", 2, false, 0x4002, false},
		{"random max", 16383, true, 0xbfff, false},
		{"too large", 16384, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := legacySettings()
			s.SamplingInterval, s.SamplingRandom = tc.interval, tc.random
			e, err := NewV5Encoder(s)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "-v 9") {
					t.Fatalf("err = %v, want an error pointing to v9/IPFIX", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ds := legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, legacyRecords(), emit) })
			if got := binary.BigEndian.Uint16(ds[0][22:]); got != tc.want {
				t.Errorf("sampling field %#04x, want %#04x", got, tc.want)
			}
		})
	}
}

// flow_sequence counts the records sent before each datagram, across
// Encode calls; engine type and id come from Settings.
func TestV5SequenceCountsFlows(t *testing.T) {
	s := legacySettings()
	s.EngineType, s.EngineID = 2, 200
	e, _ := NewV5Encoder(s)
	recs := legacyIPv4Only(legacyBulkRecords(14)) // 70 IPv4 records
	var seqs, counts []int
	emit := func(d []byte) {
		seqs = append(seqs, int(binary.BigEndian.Uint32(d[16:])))
		counts = append(counts, int(binary.BigEndian.Uint16(d[2:])))
		if d[20] != 2 || d[21] != 200 {
			t.Errorf("engine type/id %d/%d, want 2/200", d[20], d[21])
		}
	}
	_ = e.Encode(legacyNow, recs[:45], emit)
	_ = e.Encode(legacyNow, recs[45:], emit)
	wantSeqs, wantCounts := []int{0, 30, 45}, []int{30, 15, 25}
	if !slices.Equal(seqs, wantSeqs) || !slices.Equal(counts, wantCounts) {
		t.Errorf("sequences %v counts %v; want %v and %v", seqs, counts, wantSeqs, wantCounts)
	}
	if e.Sequence() != 70 {
		t.Errorf("next sequence %d, want 70", e.Sequence())
	}
}

// A full v5 datagram is 30 records, 1464 bytes.
func TestV5FullDatagramIs1464Bytes(t *testing.T) {
	e, _ := NewV5Encoder(legacySettings())
	ds := legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, legacyIPv4Only(legacyBulkRecords(6)), emit) })
	if len(ds[0]) != 1464 || binary.BigEndian.Uint16(ds[0][2:]) != 30 {
		t.Errorf("first datagram: %d bytes, %d records; want 1464 and 30", len(ds[0]), binary.BigEndian.Uint16(ds[0][2:]))
	}
}

func BenchmarkV5Encode(b *testing.B) {
	e, _ := NewV5Encoder(legacySettings())
	legacyBenchmark(b, e, legacyBenchRecords())
}
