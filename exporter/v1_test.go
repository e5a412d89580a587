package exporter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// Fixed clock of the legacy tests: boot at 2026-01-01 00:00 UTC, export
// one hour, 123456789 ns later.
var (
	legacyBoot = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	legacyNow  = legacyBoot.Add(time.Hour + 123456789*time.Nanosecond)
)

func legacySettings() Settings {
	return Settings{Boot: legacyBoot, EngineType: 1, EngineID: 7}
}

// legacyRecords is the fixture every legacy golden file is made from:
// TCP, UDP and ICMP over IPv4 (198.18.0.0/15), an IPv6 flow the legacy
// versions must skip, an IPv4-mapped flow they must carry as IPv4, and a
// second TCP flow in the same /24 and /16 as the first. Routing fields
// are set (a later capability fills them) so their placement is checked;
// DstAS 4200000000 is a 4-byte AS that must become AS_TRANS.
func legacyRecords() []cache.Record {
	at := func(ms int) time.Time { return legacyBoot.Add(time.Duration(ms) * time.Millisecond) }
	a := netip.MustParseAddr
	return []cache.Record{
		{
			SrcAddr: a("198.18.0.1"), DstAddr: a("198.19.1.2"), SrcPort: 40000, DstPort: 443,
			Proto: 6, ToS: 0x10, IPVersion: 4, InIfIndex: 3, OutIfIndex: 7,
			Packets: 10, Bytes: 4321, TCPFlags: 0x1b, Start: at(10_005), End: at(70_000),
			EndReason: cache.EndOfFlow, SrcAS: 64512, DstAS: 4200000000, SrcMask: 24, DstMask: 16,
			NextHop: a("198.18.255.254"),
		},
		{
			SrcAddr: a("198.18.0.7"), DstAddr: a("198.19.200.9"), SrcPort: 5353, DstPort: 53,
			Proto: 17, ToS: 0, IPVersion: 4, InIfIndex: 3,
			Packets: 1, Bytes: 76, Start: at(1_500_000), End: at(1_500_000), EndReason: cache.EndIdle,
		},
		{
			SrcAddr: a("198.18.0.1"), DstAddr: a("198.19.1.2"), SrcPort: 0, DstPort: 8 << 8,
			Proto: 1, ToS: 0x10, IPVersion: 4, InIfIndex: 3, OutIfIndex: 7,
			Packets: 3, Bytes: 252, Start: at(20_000), End: at(22_000), EndReason: cache.EndIdle,
			SrcAS: 64512, DstAS: 4200000000, SrcMask: 24, DstMask: 16, NextHop: a("198.18.255.254"),
		},
		{
			SrcAddr: a("2001:db8::1"), DstAddr: a("2001:db8::2"), SrcPort: 51000, DstPort: 80,
			Proto: 6, IPVersion: 6, InIfIndex: 3, Packets: 5, Bytes: 600, TCPFlags: 0x02,
			Start: at(30_000), End: at(31_000), EndReason: cache.EndIdle,
		},
		{
			SrcAddr: a("::ffff:198.18.3.4"), DstAddr: a("::ffff:198.19.5.6"), SrcPort: 123, DstPort: 123,
			Proto: 17, ToS: 0xb8, IPVersion: 4, InIfIndex: 4, OutIfIndex: 3,
			Packets: 2, Bytes: 152, Start: at(3_599_000), End: at(3_599_999), EndReason: cache.EndForced,
			SrcMask: 32, DstMask: 8,
		},
		{
			SrcAddr: a("198.18.0.99"), DstAddr: a("198.19.1.77"), SrcPort: 40001, DstPort: 443,
			Proto: 6, ToS: 0x10, IPVersion: 4, InIfIndex: 3, OutIfIndex: 7,
			Packets: 20, Bytes: 9000, TCPFlags: 0x12, Start: at(5_000), End: at(1_800_000),
			EndReason: cache.EndActive, SrcAS: 64512, DstAS: 4200000000, SrcMask: 24, DstMask: 16,
			NextHop: a("198.18.255.254"),
		},
	}
}

// legacyCollect runs encode and returns copies of the datagrams it emitted.
func legacyCollect(t testing.TB, encode func(emit func([]byte)) error) [][]byte {
	t.Helper()
	var out [][]byte
	if err := encode(func(d []byte) { out = append(out, bytes.Clone(d)) }); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return out
}

// legacyPort is the UDP port the pcaps send to; tshark is told it is cflow.
const legacyPort = 9995

// legacyAbout describes the fixed inputs of a golden file.
func legacyAbout(what string, s Settings) string {
	sampling := "unsampled"
	if s.SamplingInterval > 1 {
		mode := "deterministic"
		if s.SamplingRandom {
			mode = "random"
		}
		sampling = fmt.Sprintf("sampling %s 1:%d", mode, s.SamplingInterval)
	}
	mtu := s.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	return fmt.Sprintf(`%s
Records: legacyRecords() in exporter/v1_test.go (6 flows: 5 IPv4, 1 IPv6 that these versions skip).
Clock: now %s, Boot %s.
Settings: engine type %d, id %d; %s; MTU %d.`,
		what, legacyNow.Format(time.RFC3339Nano), s.Boot.Format(time.RFC3339Nano),
		s.EngineType, s.EngineID, sampling, mtu)
}

func TestV1Golden(t *testing.T) {
	s := legacySettings()
	e, err := NewV1Encoder(s)
	if err != nil {
		t.Fatal(err)
	}
	got := legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, legacyRecords(), emit) })
	checkGolden(t, "v1.hex", legacyAbout("NetFlow v1: V1Encoder.Encode (TestV1Golden).", s), got, nil)
	if st := e.Stats(); st != (LegacyStats{Datagrams: 1, Records: 5, Skipped: 1}) {
		t.Errorf("stats = %+v, want 1 datagram, 5 records, 1 skipped", st)
	}
}

// Records per datagram: the version's limit at the default MTU, fewer at
// a smaller MTU, an error when not even one record fits. The numbers are
// worked out by hand: (MTU − 28 − header) / record length.
func TestLegacyRecordsPerDatagramFollowMTU(t *testing.T) {
	type perFunc func(Settings) (int, error)
	v1 := func(s Settings) (int, error) {
		e, err := NewV1Encoder(s)
		if err != nil {
			return 0, err
		}
		return e.RecordsPerDatagram(), nil
	}
	v5 := func(s Settings) (int, error) {
		e, err := NewV5Encoder(s)
		if err != nil {
			return 0, err
		}
		return e.RecordsPerDatagram(), nil
	}
	v7 := func(s Settings) (int, error) {
		e, err := NewV7Encoder(s)
		if err != nil {
			return 0, err
		}
		return e.RecordsPerDatagram(), nil
	}
	v8 := func(scheme cache.Scheme) perFunc {
		return func(s Settings) (int, error) {
			e, err := NewV8Encoder(s, scheme)
			if err != nil {
				return 0, err
			}
			return e.RecordsPerDatagram(), nil
		}
	}
	for _, tc := range []struct {
		name    string
		per     perFunc
		mtu     int
		want    int
		wantErr bool
	}{
		{"v1 default", v1, 0, 24, false},
		{"v1 1000", v1, 1000, 19, false}, // 956/48
		{"v1 92", v1, 92, 1, false},      // 64 = 16 + 48
		{"v1 91", v1, 91, 0, true},
		{"v5 default", v5, 0, 30, false},
		{"v5 1500", v5, 1500, 30, false},
		{"v5 1000", v5, 1000, 19, false}, // 948/48
		{"v5 576", v5, 576, 10, false},   // 524/48
		{"v5 100", v5, 100, 1, false},    // 72 = 24 + 48
		{"v5 99", v5, 99, 0, true},
		{"v7 default", v7, 0, 27, false},
		{"v7 1000", v7, 1000, 18, false}, // 948/52
		{"v8 as default", v8(cache.SchemeAS), 0, 51, false},
		{"v8 as 1000", v8(cache.SchemeAS), 1000, 33, false}, // 944/28
		{"v8 protocol-port default", v8(cache.SchemeProtocolPort), 0, 51, false},
		{"v8 source-prefix default", v8(cache.SchemeSourcePrefix), 0, 44, false},
		{"v8 source-prefix 1000", v8(cache.SchemeSourcePrefix), 1000, 29, false}, // 944/32
		{"v8 destination-prefix default", v8(cache.SchemeDestinationPrefix), 0, 44, false},
		{"v8 prefix default", v8(cache.SchemePrefix), 0, 35, false},
		{"v8 prefix 1000", v8(cache.SchemePrefix), 1000, 23, false}, // 944/40
		{"v8 destination default", v8(cache.SchemeDestination), 0, 44, false},
		{"v8 source-destination default", v8(cache.SchemeSourceDestination), 0, 35, false},
		{"v8 full-flow default", v8(cache.SchemeFullFlow), 0, 32, false},
		{"v8 full-flow 1000", v8(cache.SchemeFullFlow), 1000, 21, false}, // 944/44
		{"v8 full-flow 99", v8(cache.SchemeFullFlow), 99, 0, true},       // 71 < 72
		{"v8 as-tos default", v8(cache.SchemeASToS), 0, 44, false},
		{"v8 protocol-port-tos default", v8(cache.SchemeProtocolPortToS), 0, 44, false},
		{"v8 source-prefix-tos default", v8(cache.SchemeSourcePrefixToS), 0, 44, false},
		{"v8 destination-prefix-tos default", v8(cache.SchemeDestinationPrefixToS), 0, 44, false},
		{"v8 prefix-tos default", v8(cache.SchemePrefixToS), 0, 35, false},
		{"v8 prefix-port default", v8(cache.SchemePrefixPort), 0, 35, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := legacySettings()
			s.MTU = tc.mtu
			got, err := tc.per(s)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "raise the MTU") {
					t.Fatalf("got %d, %v; want an error naming the fix", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if _, err := NewV8Encoder(legacySettings(), 15); err == nil {
		t.Error("NewV8Encoder accepted scheme 15")
	}
}

// Every encoder fills datagrams up to its limit, keeps each within the
// MTU, skips and counts IPv6 and writes each IPv4 record exactly once.
func TestLegacyDatagramsFillUpAndFitMTU(t *testing.T) {
	recs := legacyBulkRecords(40) // 240 records, 200 IPv4
	for _, mtu := range []int{0, 1000, 576} {
		s := legacySettings()
		s.MTU = mtu
		limit := s.payloadLimit()
		v1, _ := NewV1Encoder(s)
		v5, _ := NewV5Encoder(s)
		v7, _ := NewV7Encoder(s)
		v8, _ := NewV8Encoder(s, cache.SchemeFullFlow)
		for _, tc := range []struct {
			name      string
			enc       Encoder
			per       int
			headerLen int
			recordLen int
			stats     func() LegacyStats
		}{
			{"v1", v1, v1.RecordsPerDatagram(), 16, 48, v1.Stats},
			{"v5", v5, v5.RecordsPerDatagram(), 24, 48, v5.Stats},
			{"v7", v7, v7.RecordsPerDatagram(), 24, 52, v7.Stats},
			{"v8 full-flow", v8, v8.RecordsPerDatagram(), 28, 44, v8.Stats},
		} {
			t.Run(fmt.Sprintf("%s mtu %d", tc.name, mtu), func(t *testing.T) {
				ds := legacyCollect(t, func(emit func([]byte)) error { return tc.enc.Encode(legacyNow, recs, emit) })
				total := 0
				for i, d := range ds {
					count := int(binary.BigEndian.Uint16(d[2:]))
					if len(d) > limit {
						t.Errorf("datagram %d: %d bytes, over the %d-byte payload limit", i, len(d), limit)
					}
					if len(d) != tc.headerLen+count*tc.recordLen {
						t.Errorf("datagram %d: %d bytes for %d records", i, len(d), count)
					}
					if i < len(ds)-1 && count != tc.per {
						t.Errorf("datagram %d holds %d records, want full (%d)", i, count, tc.per)
					}
					total += count
				}
				if total != 200 {
					t.Errorf("wrote %d records, want the 200 IPv4 ones", total)
				}
				if st := tc.stats(); st.Skipped != 40 || st.Records != 200 || st.Datagrams != uint64(len(ds)) {
					t.Errorf("stats %+v: want 40 skipped, 200 records, %d datagrams", st, len(ds))
				}
			})
		}
	}
}

// A flow whose counters exceed 32 bits is written as several records that
// each fit and together add up; the split is counted.
func TestLegacySplitsCountersOver32Bits(t *testing.T) {
	r := legacyRecords()[0]
	r.Packets, r.Bytes = 4_000_000, 10_000_000_000 // bytes need 3 records
	v5, _ := NewV5Encoder(legacySettings())
	ds := legacyCollect(t, func(emit func([]byte)) error { return v5.Encode(legacyNow, []cache.Record{r}, emit) })
	if len(ds) != 1 || binary.BigEndian.Uint16(ds[0][2:]) != 3 {
		t.Fatalf("got %d datagrams, first with %d records; want 1 with 3", len(ds), binary.BigEndian.Uint16(ds[0][2:]))
	}
	var pkts, bytes uint64
	for i := range 3 {
		rec := ds[0][24+48*i:]
		pkts += uint64(binary.BigEndian.Uint32(rec[16:]))
		bytes += uint64(binary.BigEndian.Uint32(rec[20:]))
	}
	if pkts != r.Packets || bytes != r.Bytes {
		t.Errorf("parts add up to %d packets, %d bytes; want %d, %d", pkts, bytes, r.Packets, r.Bytes)
	}
	if st := v5.Stats(); st.Split != 1 || st.Records != 3 {
		t.Errorf("stats %+v: want 1 split into 3 records", st)
	}

	// v8: dFlows is split as well.
	v8, _ := NewV8Encoder(legacySettings(), cache.SchemeAS)
	a := cache.Aggregate{Flows: 7, Packets: 9_000_000_000, Bytes: 1 << 40}
	ds = legacyCollect(t, func(emit func([]byte)) error { return v8.EncodeAggregates(legacyNow, []cache.Aggregate{a}, emit) })
	var flows uint64
	n := 0
	pkts, bytes = 0, 0
	for _, d := range ds {
		for i := range int(binary.BigEndian.Uint16(d[2:])) {
			rec := d[28+28*i:]
			flows += uint64(binary.BigEndian.Uint32(rec[0:]))
			pkts += uint64(binary.BigEndian.Uint32(rec[4:]))
			bytes += uint64(binary.BigEndian.Uint32(rec[8:]))
			n++
		}
	}
	if flows != 7 || pkts != a.Packets || bytes != a.Bytes || n != 257 { // 2^40 / (2^32−1) → 257 parts
		t.Errorf("v8 parts: %d records, %d flows, %d packets, %d bytes", n, flows, pkts, bytes)
	}
}

// A corrupt counter cannot make a flood: at most 2^16 records, saturated.
func TestLegacySplitIsBounded(t *testing.T) {
	r := legacyRecords()[0]
	r.Packets, r.Bytes = math.MaxUint64, math.MaxUint64
	v5, _ := NewV5Encoder(legacySettings())
	records := 0
	_ = v5.Encode(legacyNow, []cache.Record{r}, func(d []byte) {
		for i := range int(binary.BigEndian.Uint16(d[2:])) {
			rec := d[24+48*i:]
			if binary.BigEndian.Uint32(rec[16:]) != math.MaxUint32 || binary.BigEndian.Uint32(rec[20:]) != math.MaxUint32 {
				t.Fatalf("record %d not saturated", records)
			}
			records++
		}
	})
	if records != 1<<16 {
		t.Errorf("%d records, want 65536", records)
	}
}

// sysUptime fields: milliseconds since Boot; before Boot, or unset, reads
// 0; without a Boot the encoders refuse to start.
func TestLegacyUptimeFields(t *testing.T) {
	for name, err := range map[string]error{
		"v1": func() error { _, err := NewV1Encoder(Settings{}); return err }(),
		"v5": func() error { _, err := NewV5Encoder(Settings{}); return err }(),
		"v7": func() error { _, err := NewV7Encoder(Settings{}); return err }(),
		"v8": func() error { _, err := NewV8Encoder(Settings{}, cache.SchemeAS); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "Boot") {
			t.Errorf("%s without Boot: err = %v, want one naming Settings.Boot", name, err)
		}
	}

	r := legacyRecords()[0]
	r.Start = legacyBoot.Add(-time.Second)
	r.End = legacyBoot.Add(1234567 * time.Microsecond) // 1234.567 ms → 1234
	r2 := r
	r2.Start, r2.End = time.Time{}, legacyBoot.Add(50*24*time.Hour) // 4320000000 ms wraps to 25032704
	v1, _ := NewV1Encoder(legacySettings())
	ds := legacyCollect(t, func(emit func([]byte)) error { return v1.Encode(legacyNow, []cache.Record{r, r2}, emit) })
	d := ds[0]
	if got := binary.BigEndian.Uint32(d[4:]); got != 3_600_123 {
		t.Errorf("header sysUptime %d, want 3600123", got)
	}
	if got := binary.BigEndian.Uint32(d[8:]); got != uint32(legacyNow.Unix()) {
		t.Errorf("unix_secs %d, want %d", got, legacyNow.Unix())
	}
	if got := binary.BigEndian.Uint32(d[12:]); got != 123456789 {
		t.Errorf("unix_nsecs %d, want 123456789", got)
	}
	if first, last := binary.BigEndian.Uint32(d[16+24:]), binary.BigEndian.Uint32(d[16+28:]); first != 0 || last != 1234 {
		t.Errorf("First %d, Last %d; want 0 and 1234", first, last)
	}
	if first, last := binary.BigEndian.Uint32(d[16+48+24:]), binary.BigEndian.Uint32(d[16+48+28:]); first != 0 || last != 25032704 {
		t.Errorf("unset First %d, 50-day Last %d; want 0 and 25032704 (wrapped)", first, last)
	}
}

// Encoding allocates nothing in steady state: the datagram buffer is
// reused and records are written in place.
func TestLegacyEncodersAllocateNothing(t *testing.T) {
	recs := legacyBulkRecords(50)
	s := legacySettings()
	v1, _ := NewV1Encoder(s)
	v5, _ := NewV5Encoder(s)
	v7, _ := NewV7Encoder(s)
	encs := map[string]Encoder{"v1": v1, "v5": v5, "v7": v7}
	for _, scheme := range cache.Schemes() {
		e, _ := NewV8Encoder(s, scheme)
		encs["v8 "+scheme.String()] = e
	}
	emitted := 0
	emit := func(d []byte) { emitted += len(d) }
	for name, e := range encs {
		if n := testing.AllocsPerRun(20, func() { _ = e.Encode(legacyNow, recs, emit) }); n != 0 {
			t.Errorf("%s: %.1f allocations per Encode of %d records, want 0", name, n, len(recs))
		}
	}
	aggs := legacyAggregate(t, cache.SchemePrefix, recs)
	e, _ := NewV8Encoder(s, cache.SchemePrefix)
	if n := testing.AllocsPerRun(20, func() { _ = e.EncodeAggregates(legacyNow, aggs, emit) }); n != 0 {
		t.Errorf("v8 EncodeAggregates: %.1f allocations, want 0", n)
	}
	if emitted == 0 {
		t.Fatal("nothing was emitted")
	}
}

// legacyBenchmark reports records encoded per second on one core and
// allocations per datagram.
func legacyBenchmark(b *testing.B, enc Encoder, recs []cache.Record) {
	b.ReportAllocs()
	datagrams := 0
	emit := func([]byte) { datagrams++ }
	b.ResetTimer()
	for b.Loop() {
		_ = enc.Encode(legacyNow, recs, emit)
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(datagrams)/float64(b.N), "datagrams/op")
}

// legacyBenchRecords are 3000 IPv4 records with distinct ports.
func legacyBenchRecords() []cache.Record {
	return legacyIPv4Only(legacyBulkRecords(600))
}

func BenchmarkV1Encode(b *testing.B) {
	e, _ := NewV1Encoder(legacySettings())
	legacyBenchmark(b, e, legacyBenchRecords())
}
