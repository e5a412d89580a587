package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/collect"
	"github.com/spanflow/spanflow/exporter"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

// The exporters of these tests booted at collectBoot and export at
// collectNow: whole seconds, as v9's unix_secs header needs for its
// uptime-relative times to come back exact.
var (
	collectBoot = time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)
	collectNow  = collectBoot.Add(time.Hour)
)

// collectRun is one `spanflow collect` running in-process.
type collectRun struct {
	udp, tcp string
	handled  chan struct{}
	done     chan error
	cancel   context.CancelFunc
	out, err bytes.Buffer // read only after done
}

// startCollect runs collect with args (plus -l 127.0.0.1:0) and returns
// once it is listening.
func startCollect(t *testing.T, args ...string) *collectRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c := &collectRun{handled: make(chan struct{}, 1<<16), done: make(chan error, 1), cancel: cancel}
	ready := make(chan struct{})
	hooks := collect.Hooks{
		Ready: func(udp, tcp net.Addr) {
			c.udp = udp.String()
			if tcp != nil {
				c.tcp = tcp.String()
			}
			close(ready)
		},
		Handled: func() { c.handled <- struct{}{} },
	}
	go func() {
		c.done <- collectArgs(ctx, append([]string{"-l", "127.0.0.1:0"}, args...), &c.out, &c.err, hooks)
	}()
	select {
	case <-ready:
	case err := <-c.done:
		t.Fatalf("collect ended before listening: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		c.wait(t)
	})
	return c
}

// wait returns once collect has ended (cancelled, --count or --duration).
func (c *collectRun) wait(t *testing.T) {
	t.Helper()
	if c.done == nil {
		return
	}
	select {
	case err := <-c.done:
		c.done = nil
		if err != nil {
			t.Fatalf("collect: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("collect did not end")
	}
}

// stop ends collect as SIGINT would and waits for it.
func (c *collectRun) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	c.wait(t)
}

// sender sends datagrams to the collector one at a time, each after the
// last was handled, so none is lost to a full socket buffer.
type sender struct {
	t    *testing.T
	conn net.Conn
	c    *collectRun
}

func newSender(t *testing.T, c *collectRun) *sender {
	conn, err := net.Dial("udp", c.udp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sender{t, conn, c}
}

func (s *sender) from() netip.AddrPort { return netip.MustParseAddrPort(s.conn.LocalAddr().String()) }

func (s *sender) send(b []byte) {
	s.t.Helper()
	if _, err := s.conn.Write(b); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.c.handled:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("datagram of %d bytes never handled", len(b))
	}
}

// emit returns an encoder's emit function sending each datagram.
func (s *sender) emit() func([]byte) { return func(b []byte) { s.send(b) } }

// collectEncoded runs collect --json until it has printed len(recs)
// records, sends it what enc makes of recs and returns once it has ended.
func collectEncoded(t *testing.T, enc exporter.Encoder, recs []cache.Record) (*collectRun, *sender) {
	t.Helper()
	c := startCollect(t, "--json", "--count", strconv.Itoa(len(recs)))
	s := newSender(t, c)
	if err := enc.Encode(collectNow, recs, s.emit()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	return c, s
}

var collectCmp = []cmp.Option{cmp.AllowUnexported(collect.JSON{}), cmpopts.EquateComparable(netip.Addr{})}

// recordCaps says which fields a format carries, so a random record sets
// every one of them and nothing else.
type recordCaps struct {
	legacy  bool // 16-bit ifindexes and AS numbers, 32-bit counters, no VLAN/end reason
	routing bool // AS numbers and masks
	v6, bi  bool
	app     bool
}

// randomRecord returns a flow from the test networks with every field the
// format carries set, times on whole milliseconds between collectBoot and
// collectNow.
func randomRecord(rng *rand.Rand, caps recordCaps) cache.Record {
	ms := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Millisecond }
	addr := func() netip.Addr {
		if caps.v6 {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			for i := 4; i < 16; i++ {
				a[i] = byte(rng.Uint32())
			}
			return netip.AddrFrom16(a)
		}
		return netip.AddrFrom4([4]byte{198, 18 + byte(rng.IntN(2)), byte(rng.Uint32()), byte(rng.Uint32())})
	}
	r := cache.Record{
		SrcAddr: addr(), DstAddr: addr(), IPVersion: 4,
		SrcPort: uint16(rng.Uint32()), DstPort: uint16(rng.Uint32()),
		Proto: []uint8{1, 6, 17, 47, 58, 132}[rng.IntN(6)], ToS: uint8(rng.Uint32()),
		TCPFlags: uint8(rng.Uint32()),
	}
	if caps.v6 {
		r.IPVersion = 6
	}
	if rng.IntN(4) > 0 { // else no next hop
		r.NextHop = addr()
	}
	r.Start = collectBoot.Add(ms(3_000_000))
	r.End = r.Start.Add(ms(int(collectNow.Sub(r.Start) / time.Millisecond)))
	maxMask := 33
	if caps.v6 {
		maxMask = 129
	}
	if caps.legacy {
		r.InIfIndex, r.OutIfIndex = rng.Uint32N(1<<16), rng.Uint32N(1<<16)
		r.Packets, r.Bytes = uint64(1+rng.Uint32N(1<<31)), uint64(rng.Uint32())
		if caps.routing {
			r.SrcAS, r.DstAS = rng.Uint32N(1<<16), rng.Uint32N(1<<16)
			r.SrcMask, r.DstMask = uint8(rng.IntN(maxMask)), uint8(rng.IntN(maxMask))
		}
		return r
	}
	r.InIfIndex, r.OutIfIndex = rng.Uint32(), rng.Uint32()
	r.Packets, r.Bytes = 1+rng.Uint64N(1<<40), rng.Uint64()
	r.SrcAS, r.DstAS = rng.Uint32(), rng.Uint32()
	r.SrcMask, r.DstMask = uint8(rng.IntN(maxMask)), uint8(rng.IntN(maxMask))
	r.VLAN = uint16(rng.Uint32N(4096))
	r.EndReason = cache.EndReason(1 + rng.IntN(5))
	if caps.app {
		r.AppID = rng.Uint32()
	}
	if caps.bi {
		r.Bidirectional = true
		if rng.IntN(4) > 0 { // else the reverse side sent nothing
			r.RevPackets, r.RevBytes, r.RevTCPFlags = 1+rng.Uint64N(1<<40), rng.Uint64(), uint8(rng.Uint32())
			r.RevStart = r.Start.Add(ms(1000))
			r.RevEnd = r.RevStart.Add(ms(int(collectNow.Sub(r.RevStart) / time.Millisecond)))
		}
	}
	return r
}

// randomRecords is n random records with the fields caps says.
func randomRecords(rng *rand.Rand, n int, caps recordCaps) []cache.Record {
	recs := make([]cache.Record, n)
	for i := range recs {
		recs[i] = randomRecord(rng, caps)
	}
	return recs
}

// mixedRecords returns n records cycling through IPv4, IPv6 and their
// biflows (v9/IPFIX).
func mixedRecords(rng *rand.Rand, n int, app bool) []cache.Record {
	recs := make([]cache.Record, n)
	for i := range recs {
		recs[i] = randomRecord(rng, recordCaps{routing: true, v6: i%2 == 1, bi: i%4 >= 2, app: app})
	}
	return recs
}

// v9Folded is what NetFlow v9 carries of a biflow: one set of times and
// flags covering both directions, the reverse counters in OUT_BYTES/OUT_PKTS.
func v9Folded(r cache.Record) cache.Record {
	if !r.Bidirectional {
		return r
	}
	if !r.RevStart.IsZero() && r.RevStart.Before(r.Start) {
		r.Start = r.RevStart
	}
	if r.RevEnd.After(r.End) {
		r.End = r.RevEnd
	}
	r.TCPFlags |= r.RevTCPFlags
	r.RevTCPFlags, r.RevStart, r.RevEnd = 0, time.Time{}, time.Time{}
	return r
}

func sampled(r cache.Record, interval uint32, random bool) cache.Record {
	r.SamplingInterval, r.SamplingRandom = interval, random
	return r
}

// Records of every version, made by the real encoders from seeded random
// flows, come out of `spanflow collect --json` equal, field by field.
func TestCollectRoundTripsEveryVersion(t *testing.T) {
	legacy := recordCaps{legacy: true, routing: true}
	cases := []struct {
		name    string
		version uint16
		records func(*rand.Rand) []cache.Record
		encoder func() (exporter.Encoder, error)
		want    func(cache.Record) cache.Record
	}{
		{"v1", 1,
			func(rng *rand.Rand) []cache.Record { return randomRecords(rng, 60, recordCaps{legacy: true}) },
			func() (exporter.Encoder, error) { return exporter.NewV1Encoder(exporter.Settings{Boot: collectBoot}) },
			func(r cache.Record) cache.Record { return r }},
		{"v5 sampled", 5,
			func(rng *rand.Rand) []cache.Record { return randomRecords(rng, 70, legacy) },
			func() (exporter.Encoder, error) {
				return exporter.NewV5Encoder(exporter.Settings{Boot: collectBoot, EngineType: 1, EngineID: 2, SamplingInterval: 64, SamplingRandom: true})
			},
			func(r cache.Record) cache.Record { return sampled(r, 64, true) }},
		{"v7", 7,
			func(rng *rand.Rand) []cache.Record { return randomRecords(rng, 60, legacy) },
			func() (exporter.Encoder, error) { return exporter.NewV7Encoder(exporter.Settings{Boot: collectBoot}) },
			func(r cache.Record) cache.Record { return r }},
		{"v9", 9,
			func(rng *rand.Rand) []cache.Record { return mixedRecords(rng, 80, true) },
			func() (exporter.Encoder, error) {
				return exporter.NewV9Encoder(exporter.Settings{Boot: collectBoot, SourceID: 7, SamplingInterval: 100},
					exporter.TemplateOptions{AppID: true})
			},
			func(r cache.Record) cache.Record { return sampled(v9Folded(r), 100, false) }},
		{"ipfix", 10,
			func(rng *rand.Rand) []cache.Record { return mixedRecords(rng, 80, true) },
			func() (exporter.Encoder, error) {
				return exporter.NewIPFIXEncoder(exporter.Settings{Boot: collectBoot, SourceID: 9, SamplingInterval: 32, SamplingRandom: true},
					exporter.TemplateOptions{AppID: true})
			},
			func(r cache.Record) cache.Record { return sampled(r, 32, true) }},
		{"ipfix small MTU", 10,
			func(rng *rand.Rand) []cache.Record { return mixedRecords(rng, 40, false) },
			func() (exporter.Encoder, error) {
				return exporter.NewIPFIXEncoder(exporter.Settings{Boot: collectBoot, MTU: 576, TemplateRefreshPackets: 2}, exporter.TemplateOptions{})
			},
			func(r cache.Record) cache.Record { return r }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs := tc.records(rand.New(rand.NewPCG(uint64(i), 1)))
			enc, err := tc.encoder()
			if err != nil {
				t.Fatal(err)
			}
			c, s := collectEncoded(t, enc, recs)
			want := make([]collect.JSON, len(recs))
			for k := range recs {
				r := tc.want(recs[k])
				want[k] = collect.JSONOf(s.from(), tc.version, &r)
			}
			if diff := cmp.Diff(want, jsonLines[collect.JSON](t, "collect --json", c.out.Bytes()), collectCmp...); diff != "" {
				t.Fatalf("decoded records (-want +got):\n%s", diff)
			}
			wantSummary := fmt.Sprintf("records by version: %s %d\n", collect.VersionName(tc.version), len(recs))
			if !strings.Contains(c.err.String(), wantSummary) || !strings.Contains(c.err.String(), "malformed 0, missing templates 0, sequence errors 0") {
				t.Fatalf("summary %q: want %q and no errors", c.err.String(), wantSummary)
			}
		})
	}
}

// v8 datagrams of every scheme come out as the scheme's aggregates: the
// key fields (prefixes masked), the flow count where the scheme has one,
// counters and times.
func TestCollectRoundTripsEveryV8Scheme(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 0))
	for _, scheme := range cache.Schemes() {
		t.Run(scheme.String(), func(t *testing.T) {
			recs := randomRecords(rng, 50, recordCaps{legacy: true, routing: true})
			enc, err := exporter.NewV8Encoder(exporter.Settings{Boot: collectBoot, EngineType: 3, EngineID: 4}, scheme)
			if err != nil {
				t.Fatal(err)
			}
			c, s := collectEncoded(t, enc, recs)
			want := make([]collect.JSON, len(recs))
			for i := range recs {
				k, ok := scheme.Key(&recs[i])
				if !ok {
					t.Fatalf("record %d is not IPv4", i)
				}
				flows := uint64(1)
				switch scheme {
				case cache.SchemeDestination, cache.SchemeSourceDestination, cache.SchemeFullFlow:
					flows = 0 // the Catalyst schemes carry no flow count
				}
				a := cache.Aggregate{AggregateKey: k, Flows: flows, Packets: recs[i].Packets, Bytes: recs[i].Bytes, Start: recs[i].Start, End: recs[i].End}
				r := collect.RecordOfAggregate(&a)
				want[i] = collect.JSONOf(s.from(), 8, &r)
				want[i].Scheme, want[i].Flows = scheme.String(), &flows
			}
			if diff := cmp.Diff(want, jsonLines[collect.JSON](t, "collect --json", c.out.Bytes()), collectCmp...); diff != "" {
				t.Fatalf("decoded aggregates (-want +got):\n%s", diff)
			}
		})
	}
}

// The round trips compare JSON, so the JSON must show every field of a
// Record and of an Aggregate: setting any one of them changes the output.
func TestCollectJSONShowsEveryField(t *testing.T) {
	from := netip.MustParseAddrPort("127.0.0.1:9")
	marshal := func(j collect.JSON) string {
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// check sets each field of typ in turn on base(field) and wants the
	// JSON to change.
	check := func(typ reflect.Type, base func(field string) reflect.Value, show func(v reflect.Value) string) {
		for _, f := range reflect.VisibleFields(typ) {
			if f.Anonymous {
				continue
			}
			v := base(f.Name)
			before := show(v)
			fv := v.FieldByIndex(f.Index)
			switch fv.Interface().(type) {
			case netip.Addr:
				fv.Set(reflect.ValueOf(netip.MustParseAddr("198.18.0.1")))
			case time.Time:
				fv.Set(reflect.ValueOf(collectNow))
			case bool:
				fv.SetBool(true)
			default:
				fv.Set(reflect.ValueOf(1).Convert(f.Type))
			}
			if show(v) == before {
				t.Errorf("%s.%s set: JSON unchanged (%s)", typ.Name(), f.Name, before)
			}
		}
	}
	check(reflect.TypeFor[cache.Record](), func(field string) reflect.Value {
		var r cache.Record
		if strings.HasPrefix(field, "Rev") { // shown for biflows only
			r.Bidirectional = true
		}
		if field == "RevStart" || field == "RevEnd" { // and only when the reverse side sent packets
			r.RevPackets = 1
		}
		return reflect.ValueOf(&r).Elem()
	}, func(v reflect.Value) string {
		r := v.Interface().(cache.Record)
		return marshal(collect.JSONOf(from, 10, &r))
	})
	check(reflect.TypeFor[cache.Aggregate](), func(string) reflect.Value {
		return reflect.ValueOf(&cache.Aggregate{}).Elem()
	}, func(v reflect.Value) string {
		a := v.Interface().(cache.Aggregate)
		r := collect.RecordOfAggregate(&a)
		j := collect.JSONOf(from, 8, &r)
		j.Flows = &a.Flows
		return marshal(j)
	})
}

// Random bytes and truncated datagrams of every version are counted as
// malformed, logged at most once a second, and do not stop the collector
// from decoding the next good datagram.
func TestCollectCountsCorruptDatagramsAndSurvives(t *testing.T) {
	start := time.Now()
	c := startCollect(t, "--json")
	s := newSender(t, c)
	rng := rand.New(rand.NewPCG(4, 2))

	var valid [][]byte
	keep := func(b []byte) { valid = append(valid, bytes.Clone(b)) }
	recs := mixedRecords(rng, 30, false)
	v4 := randomRecords(rng, 30, recordCaps{legacy: true, routing: true})
	st := exporter.Settings{Boot: collectBoot}
	v1, _ := exporter.NewV1Encoder(st)
	v5, _ := exporter.NewV5Encoder(st)
	v7, _ := exporter.NewV7Encoder(st)
	v8, _ := exporter.NewV8Encoder(st, cache.SchemePrefixPort)
	v9, _ := exporter.NewV9Encoder(st, exporter.TemplateOptions{})
	ipfix, _ := exporter.NewIPFIXEncoder(st, exporter.TemplateOptions{})
	for _, e := range []exporter.Encoder{v1, v5, v7, v8} {
		if err := e.Encode(collectNow, v4, keep); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []exporter.Encoder{v9, ipfix} {
		if err := e.Encode(collectNow, recs, keep); err != nil {
			t.Fatal(err)
		}
	}

	var corrupt [][]byte
	for range 150 {
		b := make([]byte, rng.IntN(1500))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if len(b) >= 2 && rng.IntN(2) == 0 { // a known version: reach past the header check
			b[0], b[1] = 0, []byte{1, 5, 7, 8, 9, 10}[rng.IntN(6)]
		}
		corrupt = append(corrupt, b)
	}
	for _, v := range valid {
		for range 10 {
			corrupt = append(corrupt, v[:rng.IntN(len(v))])
		}
	}
	// The same datagrams through a Decoder of our own give the counts the
	// summary must report.
	ref := decode.NewDecoder()
	send := func(b []byte) {
		_, _ = ref.Decode(s.from(), b)
		s.send(b)
	}
	for _, b := range corrupt {
		send(b)
	}
	good, _ := exporter.NewV5Encoder(exporter.Settings{Boot: collectBoot})
	last := randomRecord(rng, recordCaps{legacy: true, routing: true})
	if err := good.Encode(collectNow, []cache.Record{last}, send); err != nil {
		t.Fatal(err)
	}
	c.stop(t)

	got := jsonLines[collect.JSON](t, "collect --json", c.out.Bytes())
	if len(got) == 0 {
		t.Fatal("no output: the good datagram after the corrupt ones was not printed")
	}
	if diff := cmp.Diff(collect.JSONOf(s.from(), 5, &last), got[len(got)-1], collectCmp...); diff != "" {
		t.Fatalf("the good datagram after the corrupt ones (-want +got):\n%s", diff)
	}
	rs := ref.Stats()
	if rs.Malformed < uint64(len(corrupt))/2 {
		t.Fatalf("reference decoder: only %d of %d corrupt datagrams malformed; the test lost its teeth", rs.Malformed, len(corrupt))
	}
	summary := c.err.String()
	want := fmt.Sprintf("spanflow collect: %d datagrams, %d records", rs.Datagrams, rs.Records+rs.Aggregates)
	wantCounts := fmt.Sprintf("malformed %d, missing templates %d, sequence errors %d", rs.Malformed, rs.MissingTemplate, rs.SequenceErrors)
	if !strings.Contains(summary, want) || !strings.Contains(summary, wantCounts) {
		t.Fatalf("summary:\n%s\nwant %q and %q", summary, want, wantCounts)
	}
	logged := strings.Count(summary, `msg="malformed datagram"`)
	if limit := 1 + int(time.Since(start)/time.Second); logged < 1 || logged > limit {
		t.Fatalf("%d malformed-datagram log lines in %v, want 1 to %d", logged, time.Since(start), limit)
	}
}

// IPFIX over TCP: messages cut from the stream decode like datagrams, the
// summary names what the options announced, and a stream with bad framing
// is dropped and counted.
func TestCollectReadsIPFIXOverTCP(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	recs := mixedRecords(rng, 60, false)
	c := startCollect(t, "--json", "--tcp", "127.0.0.1:0", "--count", strconv.Itoa(len(recs)))

	bad, err := net.Dial("tcp", c.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte{0, 5, 0, 16, 1, 2, 3, 4}); err != nil { // version 5 on an IPFIX stream
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(10 * time.Second))
	var timeout net.Error
	if n, err := bad.Read(make([]byte, 1)); n != 0 || err == nil || errors.As(err, &timeout) && timeout.Timeout() {
		t.Fatalf("read after bad framing = %d, %v; want the collector to close the stream", n, err)
	}

	conn, err := net.Dial("tcp", c.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	enc, err := exporter.NewIPFIXEncoder(exporter.Settings{Boot: collectBoot, SourceID: 5, SamplingInterval: 64},
		exporter.TemplateOptions{Interfaces: []ie.Interface{{Index: 2, Name: "eth0"}, {Index: 3, Name: "eth1"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = enc.Encode(collectNow, recs, func(b []byte) {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	want := make([]collect.JSON, len(recs))
	for i := range recs {
		r := sampled(recs[i], 64, false)
		want[i] = collect.JSONOf(from, 10, &r)
	}
	if diff := cmp.Diff(want, jsonLines[collect.JSON](t, "collect --json", c.out.Bytes()), collectCmp...); diff != "" {
		t.Fatalf("decoded records (-want +got):\n%s", diff)
	}
	summary := c.err.String()
	for _, w := range []string{
		"tcp connections 2, streams dropped 1",
		fmt.Sprintf("exporter %s ipfix source 5: sampling 1 in 64 (deterministic); interfaces 2 eth0, 3 eth1", from),
	} {
		if !strings.Contains(summary, w) {
			t.Errorf("summary:\n%s\nwant %q", summary, w)
		}
	}
}

// The text form prints a flow-print line per record and a line per v8
// aggregate with its scheme's prefixes; --quiet prints none.
func TestCollectPrintsTextAndQuiet(t *testing.T) {
	r := cache.Record{
		SrcAddr: netip.MustParseAddr("198.18.0.1"), DstAddr: netip.MustParseAddr("198.19.2.3"), IPVersion: 4,
		SrcPort: 40000, DstPort: 443, Proto: 6, Packets: 10, Bytes: 1500, SrcMask: 16, DstMask: 24,
		Start: collectBoot.Add(time.Minute), End: collectBoot.Add(time.Minute + 1500*time.Millisecond),
	}
	for _, quiet := range []bool{false, true} {
		args := []string{"--count", "2"}
		if quiet {
			args = append(args, "--quiet")
		}
		c := startCollect(t, args...)
		s := newSender(t, c)
		v5, _ := exporter.NewV5Encoder(exporter.Settings{Boot: collectBoot})
		v8, _ := exporter.NewV8Encoder(exporter.Settings{Boot: collectBoot}, cache.SchemePrefix)
		_ = v5.Encode(collectNow, []cache.Record{r}, s.emit())
		_ = v8.Encode(collectNow, []cache.Record{r}, s.emit())
		c.wait(t)
		out := c.out.String()
		if quiet {
			if out != "" {
				t.Fatalf("--quiet printed %q", out)
			}
			if !strings.Contains(c.err.String(), "2 records (2 printed)") || !strings.Contains(c.err.String(), "v5 1, v8 1") {
				t.Fatalf("--quiet summary %q", c.err.String())
			}
			continue
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		want := []*regexp.Regexp{
			regexp.MustCompile(`^Date first seen`),
			regexp.MustCompile(`^2026-11-30 11:01:00\.000 +1\.500 TCP +198\.18\.0\.1:40000 +-> 198\.19\.2\.3:443 .* 10 +1500`),
			regexp.MustCompile(`^2026-11-30 11:01:00\.000 +1\.500 v8 prefix +198\.18\.0\.0/16 -> 198\.19\.2\.0/24 .*flows 1 +10 +1500$`),
		}
		if len(lines) != len(want) {
			t.Fatalf("output:\n%s\nwant %d lines", out, len(want))
		}
		for i, re := range want {
			if !re.MatchString(lines[i]) {
				t.Errorf("line %d %q does not match %s", i, lines[i], re)
			}
		}
	}
}

// --duration ends a collector that received nothing, with a summary.
func TestCollectStopsAfterDuration(t *testing.T) {
	began := time.Now()
	c := startCollect(t, "--duration", "200ms")
	c.wait(t)
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Fatalf("ended after %v, before --duration", took)
	}
	if !strings.Contains(c.err.String(), "\nspanflow collect: 0 datagrams, 0 records") {
		t.Fatalf("summary %q", c.err.String())
	}
}

func TestCollectListenAddresses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2055", "127.0.0.1:2055"},
		{"0", "127.0.0.1:0"},
		{":2055", ":2055"},
		{"[::1]:9995", "[::1]:9995"},
		{"198.18.0.1:4739", "198.18.0.1:4739"},
		{"70000", ""},
		{"localhost", ""},
		{"", ""},
	} {
		got, err := listenAddr("-l", tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("listenAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if err := collectArgs(context.Background(), []string{"-l", "nonsense", "--duration", "-1s"}, &bytes.Buffer{}, &bytes.Buffer{}, collect.Hooks{}); err == nil ||
		!strings.Contains(err.Error(), "-l \"nonsense\"") || !strings.Contains(err.Error(), "--duration") {
		t.Fatalf("bad flags: error %v, want both problems named", err)
	}
}

// One IPFIX datagram with flowStartMilliseconds 2^53 (past the year 9999
// JSON can hold) used to stop collect --json: every later datagram was
// ignored. Now its start is left zero and counted, and the next datagram
// prints too. The datagram is built by hand from RFC 7011.
func TestCollectJSONSurvivesTimesPastTheYear9999(t *testing.T) {
	c := startCollect(t, "--json", "--count", "2")
	s := newSender(t, c)
	u16 := func(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
	u64 := func(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
	msg := func(set []byte) []byte {
		b := u16(u16(nil, 10), uint16(16+len(set)))
		b = binary.BigEndian.AppendUint32(b, uint32(collectNow.Unix()))
		return append(binary.BigEndian.AppendUint64(b, 0), set...) // sequence 0, domain 0
	}
	// Template 256: flowStartMilliseconds (152), packetDeltaCount (2), 8 bytes each.
	tpl := u16(u16(u16(u16(u16(u16(u16(u16(nil, 2), 16), 256), 2), 152), 8), 2), 8)
	data := func(startMs, packets uint64) []byte { return u64(u64(u16(u16(nil, 256), 20), startMs), packets) }
	s.send(msg(append(tpl, data(1<<53, 7)...)))
	s.send(msg(data(uint64(collectNow.UnixMilli()), 8)))
	c.wait(t)

	got := jsonLines[collect.JSON](t, "collect --json", c.out.Bytes())
	if len(got) != 2 || got[0].Packets != 7 || !got[0].Start.IsZero() || got[1].Packets != 8 || !got[1].Start.Equal(collectNow) {
		t.Fatalf("records %+v: want 7 packets with no start, then 8 starting %v", got, collectNow)
	}
	if !strings.Contains(c.err.String(), "times out of range 1,") {
		t.Fatalf("summary:\n%s\nwant 1 time out of range", c.err.String())
	}
}

// IPFIX over TCP with --tcp-max-conns 1 and --tcp-idle: a second
// connection is closed at once; the first, silent for --tcp-idle, is
// closed, and then a new one is served.
func TestCollectBoundsTCPConnections(t *testing.T) {
	c := startCollect(t, "--tcp", "127.0.0.1:0", "--tcp-max-conns", "1", "--tcp-idle", "300ms", "--quiet")
	enc, err := exporter.NewIPFIXEncoder(exporter.Settings{Boot: collectBoot}, exporter.TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := randomRecords(rand.New(rand.NewPCG(1, 2)), 1, recordCaps{})
	// served dials, sends a message and says whether the collector handled
	// it (true) or closed the connection unread (false).
	served := func() (net.Conn, bool) {
		t.Helper()
		conn, err := net.Dial("tcp", c.tcp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := enc.Encode(collectNow, rec, func(b []byte) { _, _ = conn.Write(b) }); err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		go func() {
			_, _ = conn.Read(make([]byte, 1)) // the collector never writes: this ends with the connection
			close(closed)
		}()
		select {
		case <-c.handled:
			return conn, true
		case <-closed:
			return conn, false
		case <-time.After(10 * time.Second):
			t.Fatal("connection neither served nor closed")
		}
		return nil, false
	}

	first, ok := served()
	if !ok {
		t.Fatal("first connection not served")
	}
	if _, ok := served(); ok {
		t.Fatal("second connection served past --tcp-max-conns 1")
	}
	_ = first.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := first.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle first connection: read %d, %v; want it closed by the collector", n, err)
	}
	// The collector may not yet have counted the first one gone: retry.
	for i := 0; ; i++ {
		if _, ok := served(); ok {
			break
		}
		if i == 100 {
			t.Fatal("no connection served after the idle one was closed")
		}
	}
	c.stop(t)
	m := regexp.MustCompile(`tcp connections (\d+), streams dropped 0, refused (\d+) \(over 1 open\), closed idle (\d+)`).FindStringSubmatch(c.err.String())
	if m == nil {
		t.Fatalf("summary:\n%s\nwant the tcp line", c.err.String())
	}
	conns, _ := strconv.Atoi(m[1])
	refused, _ := strconv.Atoi(m[2])
	if idle, _ := strconv.Atoi(m[3]); refused < 1 || conns != refused+2 || idle < 1 {
		t.Fatalf("summary %q: want 2 connections served, the rest refused, at least 1 idle", m[0])
	}
}
