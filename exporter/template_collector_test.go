package exporter

// Real collectors decoding what the v9 and IPFIX encoders write: tshark's
// cflow dissector (from a pcap) and nfcapd/nfdump (over UDP on loopback).
// Each test skips, naming the tool, when the tool is not installed.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/exporter/ie"
)

// forEachCollectorCase runs check in a subtest for every template encoder
// and collector case, with the encoder and the datagrams it made of the case's
// records.
func forEachCollectorCase(t *testing.T, check func(t *testing.T, ek encoderKind, cc collectorCase, e Encoder, dg [][]byte)) {
	for _, ek := range templateEncoders {
		for _, cc := range collectorCases() {
			t.Run(ek.name+"/"+cc.name, func(t *testing.T) {
				e, err := ek.new(cc.s, cc.o)
				if err != nil {
					t.Fatal(err)
				}
				check(t, ek, cc, e, encodeAll(t, e, tplNow, cc.recs))
			})
		}
	}
}

// collectorCase is one export scenario both collectors decode.
type collectorCase struct {
	name string
	s    Settings
	o    TemplateOptions
	recs []cache.Record
}

func collectorCases() []collectorCase {
	rng := rand.New(rand.NewPCG(2026, 12))
	s := Settings{Boot: tplBoot, SourceID: 42, TemplateRefreshPackets: 3}
	var many []cache.Record
	for i := 0; i < 300; i++ { // several datagrams, refreshes in between
		many = append(many, randomRecord(rng, s, true))
	}
	ifs := []ie.Interface{{Index: 2, Name: "eth0", Description: "SPAN from sw1 Gi0/1"}, {Index: 3, Name: "eth1", Description: "uplink"}}
	apps := []ie.Application{{ID: 3<<24 | 443, Name: "https", Description: "HTTP over TLS"}, {ID: 3<<24 | 53, Name: "dns", Description: "Domain Name System"}}
	return []collectorCase{
		{"fixed", Settings{Boot: tplBoot, SourceID: 9}, TemplateOptions{AppID: true, Interfaces: ifs, Applications: apps}, fixedRecords()},
		{"sampled", Settings{Boot: tplBoot, SourceID: 10, SamplingInterval: 10}, TemplateOptions{}, fixedRecords()},
		{"random", s, TemplateOptions{AppID: true, Interfaces: ifs}, many},
	}
}

// ---- tshark ----

func TestTsharkDecodesTemplateEncoders(t *testing.T) {
	tshark := exportertest.RequireTool(t, "tshark")
	forEachCollectorCase(t, func(t *testing.T, ek encoderKind, cc collectorCase, e Encoder, dg [][]byte) {
		pcap := filepath.Join(t.TempDir(), "export.pcap")
		writeExportPcap(t, pcap, 2055, tplNow, dg)
		packets := runTshark(t, tshark, pcap)
		if len(packets) != len(dg) {
			t.Fatalf("tshark saw %d packets, sent %d", len(packets), len(dg))
		}
		var flows, opts []map[string]any
		for i, p := range packets {
			if bad := findKeys(p, "_ws.malformed", "_ws.expert"); len(bad) > 0 {
				t.Fatalf("packet %d: tshark reports %v", i+1, bad)
			}
			f, o := tsharkFlows(p)
			flows, opts = append(flows, f...), append(opts, o...)
		}
		if len(flows) != len(cc.recs) {
			t.Fatalf("tshark decoded %d flow records, sent %d", len(flows), len(cc.recs))
		}
		for i := range cc.recs {
			if err := compareTshark(ek.version, e, cc.s, &cc.recs[i], flows[i]); err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}
		checkTsharkOptions(t, ek.version, cc, opts)
	})
}

// tsharkLayers has tshark decode pcap, UDP port as cflow, and returns
// each frame's protocol layers as JSON.
func tsharkLayers(t *testing.T, tshark, pcap string, port int) []map[string]json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tshark, "-n", "-r", pcap, "-d", fmt.Sprintf("udp.port==%d,cflow", port),
		"-T", "json", "--no-duplicate-keys")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	var pkts []struct {
		Source struct {
			Layers map[string]json.RawMessage `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatalf("tshark json: %v", err)
	}
	layers := make([]map[string]json.RawMessage, len(pkts))
	for i, p := range pkts {
		layers[i] = p.Source.Layers
	}
	return layers
}

// runTshark returns each frame's cflow layer decoded by tshark, with the
// expert/malformed siblings of cflow in it, visible to findKeys.
func runTshark(t *testing.T, tshark, pcap string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, layers := range tsharkLayers(t, tshark, pcap, 2055) {
		var c map[string]any
		if err := json.Unmarshal(layers["cflow"], &c); err != nil || c == nil {
			t.Fatalf("packet without a cflow layer (%v): %s", err, layers)
		}
		for k, v := range layers {
			if strings.HasPrefix(k, "_ws") {
				var x any
				if err := json.Unmarshal(v, &x); err != nil {
					t.Fatal(err)
				}
				c[k] = x
			}
		}
		res = append(res, c)
	}
	return res
}

// findKeys returns the keys starting with any prefix, anywhere in v.
func findKeys(v any, prefixes ...string) []string {
	var found []string
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			for _, p := range prefixes {
				if strings.HasPrefix(k, p) {
					found = append(found, fmt.Sprintf("%s=%v", k, c))
				}
			}
			found = append(found, findKeys(c, prefixes...)...)
		}
	case []any:
		for _, c := range v {
			found = append(found, findKeys(c, prefixes...)...)
		}
	}
	return found
}

var flowSetRe = regexp.MustCompile(`^(Flow)?Set \d+ \[id=(\d+)\]`)
var flowRe = regexp.MustCompile(`^Flow (\d+)$`)

// tsharkFlows returns the data flows and the options data records of one
// packet, in order.
func tsharkFlows(c map[string]any) (flows, opts []map[string]any) {
	type set struct {
		n   int
		obj map[string]any
	}
	var sets []set
	for k, v := range c {
		m := flowSetRe.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(strings.Fields(k)[1])
		sets = append(sets, set{n, v.(map[string]any)})
	}
	for i := range sets { // map order is random: restore the packet's
		for j := i + 1; j < len(sets); j++ {
			if sets[j].n < sets[i].n {
				sets[i], sets[j] = sets[j], sets[i]
			}
		}
	}
	for _, s := range sets {
		recs := make(map[int]map[string]any)
		for k, v := range s.obj {
			if m := flowRe.FindStringSubmatch(k); m != nil {
				n, _ := strconv.Atoi(m[1])
				recs[n] = v.(map[string]any)
			}
		}
		for n := 1; n <= len(recs); n++ {
			r := recs[n]
			if _, ok := r["cflow.octets"]; ok {
				flows = append(flows, r)
			} else {
				opts = append(opts, r)
			}
		}
	}
	return flows, opts
}

// first returns a field's first value (reverse elements repeat the name).
func tsField(r map[string]any, name string) (string, bool) {
	switch v := r[name].(type) {
	case string:
		return v, true
	case []any:
		if len(v) > 0 {
			s, ok := v[0].(string)
			return s, ok
		}
	}
	return "", false
}

func tsFieldN(r map[string]any, name string, i int) (string, bool) {
	if v, ok := r[name].([]any); ok && i < len(v) {
		s, ok := v[i].(string)
		return s, ok
	}
	if i == 0 {
		return tsField(r, name)
	}
	return "", false
}

func tsTree(r map[string]any, name string, i int) map[string]any {
	switch v := r[name].(type) {
	case map[string]any:
		if i == 0 {
			return v
		}
	case []any:
		if i < len(v) {
			m, _ := v[i].(map[string]any)
			return m
		}
	}
	return nil
}

// tsTimeLayout is how tshark prints absolute times (TZ=UTC).
const tsTimeLayout = "Jan _2, 2006 15:04:05.000000000 MST"

func compareTshark(version uint16, e Encoder, s Settings, r *cache.Record, f map[string]any) error {
	w := wireView(version, *r)
	v6 := w.IPVersion == 6
	addr := func(a netip.Addr) string {
		if !a.IsValid() {
			if v6 {
				return "::"
			}
			return "0.0.0.0"
		}
		return a.String()
	}
	sfx := ""
	if v6 {
		sfx = "v6"
	}
	icmp := uint16(0)
	if w.Proto == 1 || w.Proto == 58 {
		icmp = w.DstPort
	}
	want := map[string]string{
		"cflow.octets":          fmt.Sprint(w.Bytes),
		"cflow.packets":         fmt.Sprint(w.Packets),
		"cflow.srcaddr" + sfx:   addr(w.SrcAddr),
		"cflow.dstaddr" + sfx:   addr(w.DstAddr),
		"cflow.nexthop" + sfx:   addr(w.NextHop),
		"cflow.srcport":         fmt.Sprint(w.SrcPort),
		"cflow.dstport":         fmt.Sprint(w.DstPort),
		"cflow.protocol":        fmt.Sprint(w.Proto),
		"cflow.tos":             fmt.Sprintf("0x%02x", w.ToS),
		"cflow.inputint":        fmt.Sprint(w.InIfIndex),
		"cflow.outputint":       fmt.Sprint(w.OutIfIndex),
		"cflow.srcas":           fmt.Sprint(w.SrcAS),
		"cflow.dstas":           fmt.Sprint(w.DstAS),
		"cflow.vlanid":          fmt.Sprint(w.VLAN),
		"cflow.srcmask" + sfx:   fmt.Sprint(w.SrcMask),
		"cflow.dstmask" + sfx:   fmt.Sprint(w.DstMask),
		"cflow.ip_version":      fmt.Sprint(w.IPVersion),
		"cflow.direction":       "0",
		"cflow.flow_end_reason": fmt.Sprint(uint8(w.EndReason)),
	}
	if version == 10 && v6 { // icmpTypeCodeIPv6 (139) shows as two fields
		want["cflow.icmp_ipv6_type"] = fmt.Sprint(icmp >> 8)
		want["cflow.icmp_ipv6_code"] = fmt.Sprint(icmp & 0xff)
	} else {
		want["cflow.icmp_type_code_ipv4"] = fmt.Sprintf("0x%04x", icmp)
	}
	want["cflow.tcpflags"] = fmt.Sprintf("0x%02x", w.TCPFlags)
	if e.(interface{ hasAppID() bool }).hasAppID() {
		want["cflow.appl_id.classification_engine_id"] = fmt.Sprint(w.AppID >> 24)
		sel := w.AppID & 0xffffff
		want["cflow.appl_id.selector_id"] = fmt.Sprintf("00:%02x:%02x:%02x", sel>>16, sel>>8&0xff, sel&0xff) // 4-byte selector
	}
	// An IPFIX biflow's RFC 5103 reverse elements repeat the forward
	// names and come first (see ipfixFlowFields): the forward values are
	// then the second of each repeated name.
	fwdAt, revAt := 0, 1
	if version == 10 && w.Bidirectional {
		fwdAt, revAt = 1, 0
	}
	repeated := map[string]bool{"cflow.octets": true, "cflow.packets": true, "cflow.tcpflags": true, "cflow.tos": true}
	var errs []string
	for k, v := range want {
		at := 0
		if repeated[k] {
			at = fwdAt
		}
		if got, ok := tsFieldN(f, k, at); !ok || got != v {
			errs = append(errs, fmt.Sprintf("%s = %q, want %q", k, got, v))
		}
	}
	// Times: v9 as uptime seconds, IPFIX as absolute times.
	tt := tsTree(f, "cflow.timedelta_tree", fwdAt)
	if version == 9 {
		ref := timeRef{bootMs: s.Boot.UnixMilli()}
		for k, at := range map[string]time.Time{"cflow.timestart": w.Start, "cflow.timeend": w.End} {
			if got, want := fmt.Sprint(tt[k]), fmt.Sprintf("%d.%03d000000", ref.uptime(at)/1000, ref.uptime(at)%1000); got != want {
				errs = append(errs, fmt.Sprintf("%s = %s, want %s", k, got, want))
			}
		}
	} else {
		for k, at := range map[string]time.Time{"cflow.abstimestart": w.Start, "cflow.abstimeend": w.End} {
			if got, want := fmt.Sprint(tt[k]), at.UTC().Format(tsTimeLayout); got != want {
				errs = append(errs, fmt.Sprintf("%s = %s, want %s", k, got, want))
			}
		}
	}
	if w.Bidirectional {
		if version == 9 {
			// Quirk: tshark names v9 OUT_BYTES/OUT_PKTS (23/24) by their
			// IPFIX names, postOctetDeltaCount/postPacketDeltaCount.
			for k, v := range map[string]uint64{"cflow.post_octets": w.RevBytes, "cflow.post_packets": w.RevPackets} {
				if got, _ := tsField(f, k); got != fmt.Sprint(v) {
					errs = append(errs, fmt.Sprintf("%s = %q, want %d", k, got, v))
				}
			}
		} else {
			// RFC 5103 reverse elements repeat the forward field names.
			for k, v := range map[string]string{
				"cflow.octets":   fmt.Sprint(w.RevBytes),
				"cflow.packets":  fmt.Sprint(w.RevPackets),
				"cflow.tcpflags": fmt.Sprintf("0x%02x", w.RevTCPFlags),
				"cflow.tos":      fmt.Sprintf("0x%02x", w.RevToS),
			} {
				if got, _ := tsFieldN(f, k, revAt); got != v {
					errs = append(errs, fmt.Sprintf("reverse %s = %q, want %q", k, got, v))
				}
			}
			rt := tsTree(f, "cflow.timedelta_tree", revAt)
			for k, at := range map[string]time.Time{"cflow.abstimestart": w.RevStart, "cflow.abstimeend": w.RevEnd} {
				want := at.UTC().Format(tsTimeLayout)
				if at.IsZero() {
					want = time.Unix(0, 0).UTC().Format(tsTimeLayout)
				}
				if got := fmt.Sprint(rt[k]); got != want {
					errs = append(errs, fmt.Sprintf("reverse %s = %s, want %s", k, got, want))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func checkTsharkOptions(t *testing.T, version uint16, cc collectorCase, opts []map[string]any) {
	t.Helper()
	names := map[string]string{}
	apps := map[string]string{}
	var sampling []string
	for _, o := range opts {
		if n, ok := tsField(o, "cflow.if_name"); ok {
			d, _ := tsField(o, "cflow.if_descr")
			names[n] = d
		}
		if n, ok := tsField(o, "cflow.appl_name"); ok {
			d, _ := tsField(o, "cflow.appl_desc")
			apps[n] = d
		}
		for _, k := range []string{"cflow.sampling_interval", "cflow.sampling_algorithm", "cflow.sampler_id",
			"cflow.sampler_mode", "cflow.sampler_random_interval", "cflow.selector_id", "cflow.selector_algorithm",
			"cflow.sampling_packet_interval", "cflow.sampling_packet_space", "cflow.sampling_size", "cflow.sampling_population"} {
			if v, ok := tsField(o, k); ok {
				sampling = append(sampling, k+"="+v)
			}
		}
	}
	for _, ifc := range cc.o.Interfaces {
		if d, ok := names[ifc.Name]; !ok || d != ifc.Description {
			t.Errorf("interface %s: tshark shows %q (present %v), want description %q", ifc.Name, d, ok, ifc.Description)
		}
	}
	for _, app := range cc.o.Applications {
		if d, ok := apps[app.Name]; !ok || d != app.Description {
			t.Errorf("application %s: tshark shows %q (present %v), want %q", app.Name, d, ok, app.Description)
		}
	}
	if cc.s.SamplingInterval > 1 {
		n := cc.s.SamplingInterval
		want := []string{fmt.Sprintf("cflow.sampling_interval=%d", n), "cflow.sampling_algorithm=1"}
		if version == 9 {
			want = append(want, "cflow.sampler_id=1", "cflow.sampler_mode=1", fmt.Sprintf("cflow.sampler_random_interval=%d", n))
		} else {
			want = append(want, "cflow.selector_id=1", "cflow.selector_algorithm=1", "cflow.sampling_packet_interval=1",
				fmt.Sprintf("cflow.sampling_packet_space=%d", n-1), "cflow.sampling_size=1", fmt.Sprintf("cflow.sampling_population=%d", n))
		}
		got := strings.Join(sampling, " ")
		for _, w := range want {
			if !strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("sampling options %q lack %s", got, w)
			}
		}
	}
}

// ---- nfcapd / nfdump ----

func TestNfdumpDecodesTemplateEncoders(t *testing.T) {
	exportertest.RequireTool(t, "nfcapd")
	exportertest.RequireTool(t, "nfdump")
	forEachCollectorCase(t, func(t *testing.T, ek encoderKind, cc collectorCase, e Encoder, dg [][]byte) {
		flows, log, file := runNfcapd(t, dg)
		wantSeqErrs := 0
		if ek.version == 10 {
			wantSeqErrs = nfdumpIPFIXSequenceErrors(t, dg)
		}
		if m := regexp.MustCompile(`Sequence Errors: (\d+), Bad Packets: (\d+)`).FindStringSubmatch(log); m == nil || m[1] != fmt.Sprint(wantSeqErrs) || m[2] != "0" {
			t.Errorf("nfcapd summary %q: want %d sequence errors and 0 bad packets\n%s", m, wantSeqErrs, log)
		}
		if strings.Contains(log, "error") {
			t.Errorf("nfcapd logged an error:\n%s", log)
		}
		if len(flows) != len(cc.recs) {
			t.Fatalf("nfdump shows %d flows, sent %d\n%s", len(flows), len(cc.recs), log)
		}
		for i := range cc.recs {
			if err := compareNfdump(ek.version, cc.s, &cc.recs[i], flows[i]); err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}
		if cc.o.AppID {
			checkNfdumpAppIDs(t, file, cc.recs, cc.o.Applications)
		}
	})
}

// nfdumpIPFIXSequenceErrors predicts the sequence errors nfcapd 1.7
// reports for an IPFIX stream. Quirk: RFC 7011 §3.1 counts all Data
// Records, options data records included, and so does the encoder; nfcapd
// advances its expectation by flow records only, so every message that
// follows one carrying options data (sampling, interface names: each
// template refresh) counts as a sequence error.
func nfdumpIPFIXSequenceErrors(t *testing.T, dgrams [][]byte) int {
	d := decode.NewDecoder()
	errs, flows := 0, 0
	var expect uint32
	for i, b := range dgrams {
		m, err := d.Decode(tplFrom, b)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && m.Sequence != expect && flows > 0 {
			errs++
		}
		expect = m.Sequence + uint32(len(m.Records))
		flows += len(m.Records)
	}
	return errs
}

// runNfcapd starts nfcapd on a loopback port, sends it the datagrams, stops
// it and returns the flows nfdump reads from its one file (numbers as
// json.Number: 64-bit counters do not survive float64), nfcapd's log and
// the file.
func runNfcapd(t *testing.T, dgrams [][]byte) (flows []map[string]any, log, file string) {
	t.Helper()
	dir := t.TempDir()
	port := exportertest.FreeUDPPort(t)
	// -B: a socket buffer that holds every datagram of a test, so a slow
	// (loaded) nfcapd loses none.
	p, err := exportertest.Start(t, "nfcapd", exec.Command("nfcapd", "-p", fmt.Sprint(port), "-b", "127.0.0.1", "-w", dir, "-t", "3600", "-B", "8388608"), nil)
	if err != nil {
		t.Fatal(err)
	}
	exportertest.WaitFor(t, 10*time.Second, "nfcapd binds 127.0.0.1:"+fmt.Sprint(port), func() bool { return exportertest.UDPBound(port) })
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range dgrams { // bounded: one pass over the datagrams
		if _, err := conn.Write(d); err != nil {
			t.Fatalf("send: %v", err)
		}
		time.Sleep(time.Millisecond) // pacing: the kernel may cap -B below a whole test
	}
	exportertest.WaitFor(t, 10*time.Second, "nfcapd reads its datagrams", func() bool { return exportertest.UDPDrained(port) })
	if code := p.Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("nfcapd exited with %d:\n%s", code, p.Out.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "nfcapd.2*"))
	if len(files) != 1 {
		t.Fatalf("nfcapd wrote %v, want one file\n%s", files, p.Out.String())
	}
	jd := json.NewDecoder(bytes.NewReader(runNfdump(t, files[0], "-o", "json")))
	jd.UseNumber()
	if err := jd.Decode(&flows); err != nil {
		t.Fatalf("nfdump json: %v", err)
	}
	return flows, p.Out.String(), files[0]
}

// runNfdump runs nfdump -r file with args and returns its output.
func runNfdump(t *testing.T, file string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nfdump", append([]string{"-r", file}, args...)...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nfdump %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return out
}

// checkNfdumpAppIDs compares the applicationIds nfdump shows (its JSON has
// none) as "<engine>..<selector>" (%nbid), and their names (%nbnam,
// "name/description" from the application options, "<no info>" for an id
// the table does not name), with what was sent.
func checkNfdumpAppIDs(t *testing.T, file string, recs []cache.Record, apps []ie.Application) {
	t.Helper()
	out := runNfdump(t, file, "-q", "-o", "fmt:%nbid|%nbnam")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("nfdump printed %d app IDs, want %d:\n%s", len(lines), len(recs), out)
	}
	names := map[uint32]string{}
	for _, a := range apps {
		names[a.ID] = a.Name + "/" + a.Description
	}
	for i, r := range recs {
		id := r.AppID
		name, ok := names[id]
		if !ok {
			name = "<no info>"
		}
		want := fmt.Sprintf("%d..%d|%s", id>>24, id&0xffffff, name)
		if got := strings.TrimSpace(lines[i]); got != want {
			t.Errorf("record %d: nfdump shows app %q, want %q (applicationId %#08x)", i, got, want, id)
		}
	}
}

func compareNfdump(version uint16, s Settings, r *cache.Record, f map[string]any) error {
	w := wireView(version, *r)
	v6 := w.IPVersion == 6
	num := func(v uint64) string { return strconv.FormatUint(v, 10) }
	scale := uint64(1)
	if s.SamplingInterval > 1 {
		// Quirk: nfdump multiplies counters by the advertised sampling
		// interval (it stores estimated totals) and marks them sampled.
		scale = uint64(s.SamplingInterval)
	}
	want := map[string]string{
		"in_packets":  num(w.Packets * scale),
		"in_bytes":    num(w.Bytes * scale),
		"proto":       num(uint64(w.Proto)),
		"src_tos":     num(uint64(w.ToS)),
		"input_snmp":  num(uint64(w.InIfIndex)),
		"output_snmp": num(uint64(w.OutIfIndex)),
		"src_mask":    num(uint64(w.SrcMask)),
		"dst_mask":    num(uint64(w.DstMask)),
		"src_vlan":    num(uint64(w.VLAN)),
		"src_as":      num(uint64(w.SrcAS)),
		"dst_as":      num(uint64(w.DstAS)),
		"direction":   "0",
		"first":       w.Start.UTC().Format("2006-01-02T15:04:05.000"),
		"last":        w.End.UTC().Format("2006-01-02T15:04:05.000"),
	}
	if w.Proto == 1 || w.Proto == 58 {
		want["icmp_type"] = num(uint64(w.DstPort >> 8))
		want["icmp_code"] = num(uint64(w.DstPort & 0xff))
	} else {
		want["src_port"] = num(uint64(w.SrcPort))
		want["dst_port"] = num(uint64(w.DstPort))
		want["tcp_flags"] = exportertest.NfdumpFlags(w.TCPFlags)
	}
	if v6 {
		want["src6_addr"], want["dst6_addr"] = w.SrcAddr.String(), w.DstAddr.String()
		want["ip6_next_hop"] = "::"
		if w.NextHop.IsValid() {
			want["ip6_next_hop"] = w.NextHop.String()
		}
	} else {
		want["src4_addr"], want["dst4_addr"] = w.SrcAddr.String(), w.DstAddr.String()
		want["ip4_next_hop"] = "0.0.0.0"
		if w.NextHop.IsValid() {
			want["ip4_next_hop"] = w.NextHop.String()
		}
	}
	if s.SamplingInterval > 1 {
		want["sampled"] = "1"
	}
	if w.Bidirectional {
		want["out_packets"] = num(w.RevPackets * scale)
		want["out_bytes"] = num(w.RevBytes * scale)
	}
	return diffFields(want, f)
}

// diffFields says which fields of a collector's record f differ from
// want, printed as the collector prints them; nil when none does.
func diffFields(want map[string]string, f map[string]any) error {
	var errs []string
	for k, v := range want {
		if got := fmt.Sprint(f[k]); got != v {
			errs = append(errs, fmt.Sprintf("%s = %s, want %s", k, got, v))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// The tshark check above can fail: a flowset shorter than its header is
// reported as malformed, and findKeys sees it.
func TestTsharkCheckCatchesAMalformedFlowset(t *testing.T) {
	tshark := exportertest.RequireTool(t, "tshark")
	e, err := NewV9Encoder(Settings{Boot: tplBoot}, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := encodeAll(t, e, tplNow, fixedRecords())[0]
	binary.BigEndian.PutUint16(b[22:], 2) // first flowset's length
	pcap := filepath.Join(t.TempDir(), "broken.pcap")
	writeExportPcap(t, pcap, 2055, tplNow, [][]byte{b})
	if bad := findKeys(runTshark(t, tshark, pcap)[0], "_ws.malformed", "_ws.expert"); len(bad) == 0 {
		t.Fatal("tshark reported nothing for a flowset of length 2")
	}
}
