package main

// CLI-level interoperability: the real spanflow binary reads a capture in
// offline mode (-r) and exports every version to real collectors on
// loopback; each collector's decoded records must equal, field by field,
// the records --print=json says the same run produced.
//
// One spanflow run per capture and configuration sends to every collector
// at once (each -n is its own export stream with its own sequence numbers)
// and to a sink of ours, while tshark captures all of those streams on lo.
// tshark decodes every captured datagram (all versions, all fourteen v8
// schemes, no malformed or expert info) and its decoding of each stream's
// headers is what header-relative collector fields are checked against.
// Collectors (interop_collectors_test.go): nfcapd/nfdump for v1/v5/v7/v9/
// IPFIX, pmacct's nfacctd for v5/v9/IPFIX (and v8, which it must drop),
// goflow2 for v5/v9/IPFIX. Each skips, naming the tool, when it is not
// installed; scripts/setup.sh installs them all for CI.
//
// Routing information: every run loads a prefix table made from the
// capture's addresses (iopWritePrefixTable), so records carry 16- and
// 32-bit AS numbers and masks, some none; each collector must show them
// as --print=json does, v5/v7/v8 with AS_TRANS (23456) for a 32-bit AS,
// and the v8 AS and prefix schemes one record per AS or prefix.
//
// Applications (v9/IPFIX): nfdump's %nbid/%nbnam, nfacctd's class
// primitive, goflow2's application_id (docs/goflow2-mapping.yaml) and
// tshark's applicationId with the name its options data gives must name
// each record's application as --print=json does.
//
// Collector quirks asserted here (see the README):
//   - nfdump 1.7.1 advances its IPFIX sequence expectation by flow records
//     only, so every message after one carrying options data counts one
//     sequence error; the test predicts that exact count.
//   - nfdump multiplies counters by the advertised sampling interval.
//   - nfdump keeps no masks (nor interfaces) from v5/v7 and leaves their
//     AS numbers out when both are 0; for IPv6 it shows src_net/dst_net
//     masked wrongly (the masks themselves are right).
//   - nfacctd drops v8 without a word; it rebuilds v5 and v9 times in whole
//     seconds (unix_secs − ⌊(sysUptime − First)/1000⌋), accounts only the
//     forward direction of a biflow, and from v5 keeps the ports of TCP,
//     UDP and ICMP only (SCTP, DCCP, UDP-Lite read 0).
//   - goflow2 lets v9 OUT_BYTES/OUT_PKTS overwrite IN_BYTES/IN_PKTS, keeps
//     the v5 header's nanoseconds in flow times, shows no ICMP type/code
//     for v5, ignores RFC 5103 reverse elements, and must run with one
//     worker per socket (workers=1): with several, data can be decoded
//     before the template that came ahead of it.
//   - Wireshark reads v8 scheme 9 (ToS/AS) bytes 24-31 shifted (ToS where input is)
//     and labels the two masks of schemes 5/13/14 the other way round.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter/exportertest"
)

// interopCapture is a capture every configuration is run on. sample is
// the --sample rate of the sampled configurations (0: unsampled).
type interopCapture struct {
	name, path string
	sample     int
	only       int    // run only this version (0: every one)
	table      string // the --prefix-table every run loads (iopWritePrefixTable)
}

func interopCaptures(t *testing.T) []interopCapture {
	caps := []interopCapture{
		// ours: VLANs, ICMP/ICMPv6, protocols without ports, broken frames;
		// 27 IPv4 and 27 IPv6 flows, boot on a whole millisecond
		{"cases", filepath.Join("..", "..", "testdata", "cases.pcap"), 0, 0, ""},
		// real: 122 IPv4 and 5 IPv6 flows over 100 s, two-way traffic for
		// biflows, microsecond timestamps
		{"android", filepath.Join("..", "..", "..", "shared", "testdata", "real", "ndpi", "android.pcap"), 4, 0, ""},
		// real, IPFIX only: 316 IPv4 and 27 IPv6 flows, and the clock jumps
		// six years mid-capture. Flows exported after the jump ended longer
		// ago than the 49.7 days a 32-bit sysUptime spans, so v1-v9 cannot
		// carry their times; IPFIX's absolute times can.
		{"1kxun", filepath.Join("..", "..", "..", "shared", "testdata", "real", "ndpi", "1kxun.pcap"), 4, 10, ""},
	}
	var out []interopCapture
	for _, c := range caps {
		if _, err := os.Stat(c.path); err != nil {
			t.Logf("capture %s not found, not run: %v", c.path, err)
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		exportertest.Missing(t, "no capture found")
	}
	return out
}

// interopConfig is one spanflow configuration.
type interopConfig struct {
	name    string
	version int
	bidir   bool
	sampled bool // --sample with the capture's rate
}

var interopConfigs = []interopConfig{
	{"v1", 1, false, false},
	{"v5", 5, false, true},
	{"v7", 7, false, false},
	{"v8", 8, false, false},
	{"v9", 9, false, true},
	{"v9-bidirectional", 9, true, false},
	{"ipfix", 10, false, true},
	{"ipfix-bidirectional", 10, true, false},
}

// Which collectors decode which version.
func nfdumpDecodes(v int) bool  { return v != 8 }
func nfacctdHears(v int) bool   { return v == 5 || v == 8 || v == 9 || v == 10 }
func goflow2Decodes(v int) bool { return v == 5 || v == 9 || v == 10 }

// Flags the runs share: engine and source ids the headers must carry, and
// frequent template refreshes so collectors see several.
const (
	interopEngineType  = 3
	interopEngineID    = 9
	interopSourceID    = 4242
	interopRefreshPkts = 4
)

func TestOfflineExportDecodesInRealCollectors(t *testing.T) {
	tshark := exportertest.RequireTool(t, "tshark")
	caps := interopCaptures(t)
	checkIopCapture(t, tshark)
	bin := spanflowBinary(t)
	for _, c := range caps {
		t.Run(c.name, func(t *testing.T) {
			c.table = iopWritePrefixTable(t, c.path)
			for _, cfg := range interopConfigs {
				if c.only != 0 && cfg.version != c.only {
					continue
				}
				t.Run(cfg.name, func(t *testing.T) {
					t.Parallel()
					runInterop(t, bin, tshark, c, cfg)
				})
			}
		})
	}
}

// iopRecord is one line of --print=json.
type iopRecord flowprint.JSON

// iopComparedFields are the --print=json fields the collectors' records
// are compared on (each collector's want function): a field print gains
// must be compared with the collectors too, and added here.
var iopComparedFields = []string{
	"start", "end", "src_addr", "dst_addr", "src_port", "dst_port", "proto", "tos", "vlan", "inner_vlan", "in_if",
	"packets", "bytes", "tcp_flags", "end_reason", "rev_packets", "rev_bytes", "rev_tcp_flags", "rev_tos", "rev_start", "rev_end",
	"sampling_interval", "src_as", "dst_as", "src_mask", "dst_mask", "application",
}

// iopNotYetCompared are printed fields no collector shows: how the
// application was known (payload or port guess) and the server name,
// which go out only with nProbe's fields (exporter tests); the router's
// output and an egress direction, which an offline run never has (the
// router e2e tests check them); overflow records, which only a full kernel
// slot makes (the probe and flood tests check them); the interface the
// reverse direction of a biflow came in by, which no element carries (a
// mirror port's biflow sends it as the output interface) and an offline
// run never has.
var iopNotYetCompared = []string{"app_verdict", "app_server", "rev_in_if", "out_if", "out", "next_hop", "direction", "overflow"}

func TestInteropComparesEveryPrintedField(t *testing.T) {
	var printed []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[flowprint.JSON]()) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !slices.Contains(iopNotYetCompared, name) {
			printed = append(printed, name)
		}
	}
	if !slices.Equal(printed, iopComparedFields) {
		t.Errorf("--print=json prints %v; the interop test compares %v: compare a new field with the collectors, then list it in iopComparedFields", printed, iopComparedFields)
	}
}

func (r *iopRecord) v6() bool   { return r.SrcAddr.Is6() && !r.SrcAddr.Is4In6() }
func (r *iopRecord) bidi() bool { return r.RevPackets != nil }
func (r *iopRecord) icmp() bool { return r.Proto == 1 || r.Proto == 58 }

// revPackets etc. read the reverse direction, 0 when there is none.
func (r *iopRecord) revPackets() uint64 { return iopDeref(r.RevPackets) }
func (r *iopRecord) revBytes() uint64   { return iopDeref(r.RevBytes) }
func (r *iopRecord) revFlags() uint8    { return iopDeref(r.RevTCPFlags) }
func (r *iopRecord) revToS() uint8      { return iopDeref(r.RevToS) }

func iopDeref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// spanStart and spanEnd are a biflow's times over both directions (what
// v9, which has one pair of times, carries).
func (r *iopRecord) spanStart() time.Time {
	if r.RevStart != nil && r.RevStart.Before(r.Start) {
		return *r.RevStart
	}
	return r.Start
}

func (r *iopRecord) spanEnd() time.Time {
	if r.RevEnd != nil && r.RevEnd.After(r.End) {
		return *r.RevEnd
	}
	return r.End
}

// iopEndReasonCode is flowEndReason (RFC 5102) for print's end reason names.
var iopEndReasonCode = map[string]int{"idle": 1, "active": 2, "end-of-flow": 3, "forced": 4, "lack-of-resources": 5}

func iopParsePrinted(t *testing.T, out []byte) []iopRecord {
	t.Helper()
	recs := jsonLines[iopRecord](t, "--print=json", out)
	for _, r := range recs {
		if _, ok := iopEndReasonCode[r.EndReason]; !ok {
			t.Fatalf("--print=json record %+v: unknown end reason", r)
		}
	}
	return recs
}

func iopIPv4Only(recs []iopRecord) []iopRecord {
	var out []iopRecord
	for _, r := range recs {
		if !r.v6() {
			out = append(out, r)
		}
	}
	return out
}

// interopRun is what one spanflow run produced and what was captured.
type interopRun struct {
	cfg     interopConfig
	capture interopCapture
	sample  int         // --sample given (0: none)
	boot    time.Time   // offline mode's sysUptime origin: a second before the capture's first frame
	recs    []iopRecord // --print=json
	log     string      // spanflow's stderr
	streams map[int][]iopDatagram
}

// stream returns the datagrams sent to a collector port.
func (r *interopRun) stream(port int) []iopDatagram { return r.streams[port] }

// runInterop starts the collectors and the capture, runs spanflow and
// checks each collector's decoding in a subtest.
func runInterop(t *testing.T, bin, tshark string, c interopCapture, cfg interopConfig) {
	run := &interopRun{cfg: cfg, capture: c, boot: iopFirstFrameTime(t, c.path).Add(-time.Second)}
	if cfg.sampled {
		run.sample = c.sample
	}

	sink := newIopSink(t)   // a stream nobody else decodes: tshark's own
	marker := newIopSink(t) // the datagram that says the capture is complete
	ports := []int{sink.port, marker.port}

	type collector struct {
		name   string
		port   int
		finish func(t *testing.T, run *interopRun)
	}
	var collectors []collector
	var skipped []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := func(name string, hears bool, open func(t *testing.T) (int, func(*testing.T, *interopRun))) {
		if !hears {
			return
		}
		if _, err := exec.LookPath(name); err != nil {
			skipped = append(skipped, name)
			return
		}
		wg.Add(1)
		go func() { // collectors start in parallel; their start-up dominates
			defer wg.Done()
			port, finish := open(t)
			mu.Lock()
			collectors = append(collectors, collector{name, port, finish})
			mu.Unlock()
		}()
	}
	start("nfcapd", nfdumpDecodes(cfg.version), startNfcapd)
	start("nfacctd", nfacctdHears(cfg.version), startNfacctd)
	start("goflow2", goflow2Decodes(cfg.version), startGoflow2)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.SortFunc(collectors, func(a, b collector) int { return strings.Compare(a.name, b.name) })
	for _, col := range collectors {
		if col.port != 0 { // 0: it did not start; its subtest says why
			ports = append(ports, col.port)
		}
	}
	capture := startIopCapture(t, tshark, ports, marker)

	// Classification is on (the default): v9/IPFIX carry applicationId
	// and the name table, which every collector must show.
	// The prefix table gives most records AS numbers (16- and 32-bit) and
	// masks, which every collector must show.
	args := []string{"-r", c.path, "-v", strconv.Itoa(cfg.version), "--print=json", "--log-level", "info",
		"--prefix-table", c.table, "-n", fmt.Sprintf("127.0.0.1:%d", sink.port)}
	for _, p := range ports[2:] {
		args = append(args, "-n", fmt.Sprintf("127.0.0.1:%d", p))
	}
	switch cfg.version {
	case 5, 8:
		args = append(args, "--engine-type", strconv.Itoa(interopEngineType), "--engine-id", strconv.Itoa(interopEngineID))
	case 9, 10:
		args = append(args, "--source-id", strconv.Itoa(interopSourceID), "--template-refresh-packets", strconv.Itoa(interopRefreshPkts))
	}
	if cfg.version == 8 {
		for s := 1; s <= 14; s++ {
			args = append(args, "--aggregation", strconv.Itoa(s))
		}
		// Aggregates leave only at the final flush: one per key, whatever
		// moment the export goroutines read the capture clock.
		args = append(args, "--aggregation-active-timeout", "24h", "--aggregation-inactive-timeout", "24h")
	}
	if cfg.bidir {
		args = append(args, "--bidirectional")
	}
	if run.sample > 1 {
		args = append(args, "--sample", strconv.Itoa(run.sample))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("spanflow %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	run.log = stderr.String()
	run.recs = iopParsePrinted(t, stdout.Bytes())
	if len(run.recs) == 0 {
		t.Fatalf("spanflow printed no records:\n%s", run.log)
	}
	iopCheckRouted(t, run.recs)
	for _, line := range strings.Split(run.log, "\n") {
		if !strings.Contains(line, "level=ERROR") && !strings.Contains(line, "level=WARN") {
			continue
		}
		if cfg.version <= 8 && iopSkippedRe.MatchString(line) {
			continue // checked in reports-skipped-ipv6
		}
		t.Errorf("spanflow logged a problem: %s", line)
	}

	run.streams = capture.finish(t)
	if got := len(run.streams[sink.port]); got != sink.count() {
		t.Errorf("tshark captured %d datagrams to the sink, the sink read %d", got, sink.count())
	}

	t.Run("tshark", func(t *testing.T) { checkTshark(t, run, sink.port, ports[2:]) })
	for _, col := range collectors {
		t.Run(col.name, func(t *testing.T) { col.finish(t, run) })
	}
	for _, name := range skipped {
		t.Run(name, func(t *testing.T) { exportertest.Missing(t, name+" not installed (scripts/setup.sh installs it)") })
	}
	if cfg.version <= 8 {
		t.Run("reports-skipped-ipv6", func(t *testing.T) { checkSkippedReported(t, run, ports[2:], sink.port) })
	}
}

// iopSkippedRe is spanflow's warning that a stream left records out.
var iopSkippedRe = regexp.MustCompile(`level=WARN .*collector="127\.0\.0\.1:(\d+) v\d[^"]*" skipped=(\d+)`)

// checkSkippedReported: v1/v5/v7/v8 cannot carry IPv6; spanflow must say,
// for every export stream (each collector, each v8 scheme), how many
// records it left out rather than lose them silently.
func checkSkippedReported(t *testing.T, run *interopRun, collectorPorts []int, sink int) {
	v6 := len(run.recs) - len(iopIPv4Only(run.recs))
	if v6 == 0 {
		t.Skip("the run has no IPv6 record")
	}
	reported := map[int][]string{} // port → skipped counts, one per stream
	for _, m := range iopSkippedRe.FindAllStringSubmatch(run.log, -1) {
		port, _ := strconv.Atoi(m[1])
		reported[port] = append(reported[port], m[2])
	}
	streams := 1
	if run.cfg.version == 8 {
		streams = 14
	}
	for _, port := range append([]int{sink}, collectorPorts...) {
		want := slices.Repeat([]string{strconv.Itoa(v6)}, streams)
		if got := reported[port]; !slices.Equal(got, want) {
			t.Errorf("collector port %d: spanflow -v %d reported skipped counts %v, want %v (%d IPv6 records of %d, per stream)\n%s",
				port, run.cfg.version, got, want, v6, len(run.recs), run.log)
		}
	}
}

// iopFirstFrameTime reads the capture's first timestamp (pcap or pcapng).
func iopFirstFrameTime(t *testing.T, path string) time.Time {
	t.Helper()
	r, _ := iopOpenCapture(t, path)
	_, info, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	return info.Timestamp
}

// iopOpenCapture opens a pcap or pcapng file (closed at the test's end).
func iopOpenCapture(t *testing.T, path string) (interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}, layers.LinkType) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		return r, r.LinkType()
	}
	r, err := pcapgo.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	return r, r.LinkType()
}

// iopSink reads and counts what is sent to a loopback port, so the sender
// gets no port-unreachable errors.
type iopSink struct {
	port int
	conn *net.UDPConn
	mu   sync.Mutex
	n    int
	seen chan struct{} // closed at the first datagram
	once sync.Once
}

func newIopSink(t *testing.T) *iopSink {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(8 << 20)
	s := &iopSink{port: c.LocalAddr().(*net.UDPAddr).Port, conn: c, seen: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			s.mu.Lock()
			s.n++
			s.mu.Unlock()
			s.once.Do(func() { close(s.seen) })
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

func (s *iopSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// iopFields is one decoded record as a collector shows it, projected on the
// names the expectation uses; comparing two of them compares every field.
type iopFields map[string]string

func (f iopFields) canon() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s ", k, f[k])
	}
	return b.String()
}

// iopProject keeps the keys of want that got has, in got; a key got lacks
// reads as missing.
func iopProject(want, got iopFields) iopFields {
	p := iopFields{}
	for k := range want {
		if v, ok := got[k]; ok {
			p[k] = v
		} else {
			p[k] = "<missing>"
		}
	}
	return p
}

// iopCompareSets checks that got and want hold the same records, each
// field equal, whatever their order; it reports up to five of each kind of
// difference and returns the number of records compared.
func iopCompareSets(t *testing.T, who string, want, got []iopFields) int {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: nothing to compare (no expected records)", who)
	}
	missing, extra := iopSetDiff(want, got)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%s decoded %d records, want %d; %d expected records not found, %d decoded records not expected\nnot found (first 5):\n  %s\nnot expected (first 5):\n  %s",
			who, len(got), len(want), len(missing), len(extra),
			strings.Join(missing[:min(5, len(missing))], "\n  "), strings.Join(extra[:min(5, len(extra))], "\n  "))
	}
	return len(want)
}

// iopSetDiff returns, sorted, the records of want that got lacks and those
// of got that want lacks, counting repeats (multisets).
func iopSetDiff(want, got []iopFields) (missing, extra []string) {
	count := map[string]int{}
	for _, w := range want {
		count[w.canon()]++
	}
	for _, g := range got {
		c := g.canon()
		if count[c] > 0 {
			count[c]--
			continue
		}
		extra = append(extra, c)
	}
	for _, w := range want {
		c := w.canon()
		if count[c] > 0 {
			count[c]--
			missing = append(missing, c)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}

// The comparison must see one field of one record changed, a record lost
// or doubled, and a field the collector leaves out; the order of records
// must not matter.
func TestInteropComparisonSeesEveryDifference(t *testing.T) {
	a := iopFields{"proto": "6", "bytes": "100"}
	b := iopFields{"proto": "17", "bytes": "100"}
	for _, tc := range []struct {
		name           string
		got            []iopFields
		missing, extra int
	}{
		{"reordered", []iopFields{b, a}, 0, 0},
		{"one field changed", []iopFields{a, {"proto": "17", "bytes": "101"}}, 1, 1},
		{"record lost", []iopFields{a}, 1, 0},
		{"record doubled", []iopFields{a, b, b}, 0, 1},
		{"field left out", []iopFields{a, iopProject(b, iopFields{"proto": "17"})}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			missing, extra := iopSetDiff([]iopFields{a, b}, tc.got)
			if len(missing) != tc.missing || len(extra) != tc.extra {
				t.Errorf("missing %v, extra %v; want %d and %d", missing, extra, tc.missing, tc.extra)
			}
		})
	}
}

// iopU formats a number as the collectors print it.
func iopU(v uint64) string { return strconv.FormatUint(v, 10) }

// iopMs is a time as Unix milliseconds, what every collector keeps at most.
func iopMs(at time.Time) int64 { return at.UnixMilli() }

// iopWritePrefixTable writes a plain --prefix-table ("CIDR ASN" lines)
// for the addresses of a capture, so that most records get AS numbers
// and masks, and some get none. It is made from the capture's sorted
// distinct networks, so the same capture always gives the same table:
//   - IPv4 /16s: three in four, as 64512+i, 4200000000+i (32-bit: v5/v8
//     carry AS_TRANS), 65535 (the largest 16-bit number, carried as is);
//     the fourth left out;
//   - IPv4 /24s: one in three, inside their /16 or not (longest match),
//     as 65536+j or 100+j alternately;
//   - IPv6 /48s: two in three, as 4200001000+k or 64600+k, and /32s: one
//     in two, as 65636+k.
func iopWritePrefixTable(t *testing.T, capture string) string {
	t.Helper()
	seen := map[netip.Prefix]bool{}
	r, link := iopOpenCapture(t, capture)
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break // io.EOF, or a truncated last frame
		}
		for _, l := range gopacket.NewPacket(data, link, gopacket.Default).Layers() {
			var addrs [][]byte
			switch ip := l.(type) {
			case *layers.IPv4:
				addrs = [][]byte{ip.SrcIP, ip.DstIP}
			case *layers.IPv6:
				addrs = [][]byte{ip.SrcIP, ip.DstIP}
			}
			for _, b := range addrs {
				a, ok := netip.AddrFromSlice(b)
				if !ok {
					continue
				}
				a = a.Unmap()
				bits := []int{16, 24}
				if a.Is6() {
					bits = []int{32, 48}
				}
				for _, n := range bits {
					seen[netip.PrefixFrom(a, n).Masked()] = true
				}
			}
		}
	}
	byLen := map[int][]netip.Prefix{}
	for p := range seen {
		byLen[p.Bits()] = append(byLen[p.Bits()], p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# interop fixture for %s\n", filepath.Base(capture))
	for _, n := range []int{16, 24, 32, 48} {
		ps := byLen[n]
		slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		for i, p := range ps {
			var asn uint32
			switch n {
			case 16:
				asn = [...]uint32{64512 + uint32(i), 4200000000 + uint32(i), 65535, 0}[i%4]
			case 24:
				if i%3 == 1 {
					asn = [...]uint32{65536 + uint32(i), 100 + uint32(i)}[i%2]
				}
			case 48:
				asn = [...]uint32{4200001000 + uint32(i), 64600 + uint32(i), 0}[i%3]
			case 32:
				if i%2 == 0 {
					asn = 65636 + uint32(i)
				}
			}
			if asn != 0 {
				fmt.Fprintf(&b, "%s %d\n", p, asn)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "prefixes.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// iopCheckRouted fails a run whose records the prefix table left without
// routing information, which would make the AS and mask comparisons
// vacuous, and logs how many records got what.
func iopCheckRouted(t *testing.T, recs []iopRecord) {
	t.Helper()
	var as32, as16, none, masked int
	for _, r := range recs {
		for _, as := range []uint32{r.SrcAS, r.DstAS} {
			switch {
			case as > 65535:
				as32++
			case as > 0:
				as16++
			default:
				none++
			}
		}
		if r.SrcMask != 0 || r.DstMask != 0 {
			masked++
		}
	}
	if as16 == 0 || masked == 0 {
		t.Errorf("the prefix table gave %d of %d records a mask, %d addresses a 16-bit AS: nothing to compare", masked, len(recs), as16)
	}
	t.Logf("prefix table: %d of %d records masked; addresses with a 32-bit AS %d, a 16-bit AS %d, none %d", masked, len(recs), as32, as16, none)
}

// iopAS16 is an AS number as v5/v7/v8 carry it: AS_TRANS (23456, RFC
// 6793) for one above 65535.
func iopAS16(as uint32) uint32 {
	if as > 65535 {
		return 23456
	}
	return as
}

// iopNet4 is an IPv4 address masked to bits, as the v8 prefix schemes
// carry it and collectors show a record's network.
func iopNet4(a netip.Addr, bits uint8) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	p, err := a.Unmap().Prefix(int(min(bits, 32)))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return p.Addr().String()
}
