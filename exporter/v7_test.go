package exporter

import (
	"encoding/binary"
	"testing"
)

func TestV7Golden(t *testing.T) {
	s := legacySettings()
	e, err := NewV7Encoder(s)
	if err != nil {
		t.Fatal(err)
	}
	got := legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, legacyRecords(), emit) })
	checkGolden(t, "v7.hex", legacyAbout("NetFlow v7: V7Encoder.Encode (TestV7Golden). Header bytes 20-23 reserved (zero), per Cisco.", s), got, nil)
}

// v7's flow sequence counts records; its header's last four bytes stay
// zero (Cisco: reserved) even with engine fields set.
func TestV7SequenceAndReservedHeader(t *testing.T) {
	s := legacySettings()
	s.EngineType, s.EngineID = 9, 9
	e, _ := NewV7Encoder(s)
	recs := legacyIPv4Only(legacyBulkRecords(12)) // 60 records: 27 + 27 + 6
	var seqs []uint32
	_ = e.Encode(legacyNow, recs, func(d []byte) {
		seqs = append(seqs, binary.BigEndian.Uint32(d[16:]))
		if r := binary.BigEndian.Uint32(d[20:]); r != 0 {
			t.Errorf("reserved header bytes %#x, want 0", r)
		}
	})
	if len(seqs) != 3 || seqs[0] != 0 || seqs[1] != 27 || seqs[2] != 54 {
		t.Errorf("sequences %v, want [0 27 54]", seqs)
	}
}

func BenchmarkV7Encode(b *testing.B) {
	e, _ := NewV7Encoder(legacySettings())
	legacyBenchmark(b, e, legacyBenchRecords())
}
