package main

// tshark on the loopback interface: it captures every export stream of a
// run, then its cflow dissector decodes them. Its decoding is checked
// against the printed records (all versions, all fourteen v8 schemes) and
// gives the other collectors' checks each datagram's header.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spanflow/spanflow/exporter/exportertest"
)

const iopMarkerEnd = "spanflow-interop: end of export"

// iopWireFields is one decoded record: cflow field name → values, in order
// (RFC 5103 reverse elements repeat the forward names).
type iopWireFields map[string][]string

func (w iopWireFields) get(name string, i int) (string, bool) {
	v := w[name]
	if i < len(v) {
		return v[i], true
	}
	return "", false
}

// iopDatagram is one captured export datagram as tshark decodes it.
type iopDatagram struct {
	frame            int
	srcPort, dstPort int
	header           iopWireFields
	flows            []iopWireFields // data records
	options          []iopWireFields // options data records
	problems         []string        // malformed packet, expert info, not cflow
}

func (d *iopDatagram) h(name string) string { v, _ := d.header.get(name, 0); return v }

// headerInt reads a numeric header field, failing the test when absent.
func (d *iopDatagram) headerInt(t *testing.T, name string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(d.h(name), 10, 64)
	if err != nil {
		t.Fatalf("frame %d: header field %s = %q: %v", d.frame, name, d.h(name), err)
	}
	return v
}

// checkIopCapture stops the test when tshark cannot capture on lo
// (capturing needs root or CAP_NET_RAW): a failure as root and in CI.
func checkIopCapture(t *testing.T, tshark string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tshark, "-D").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^\d+\. lo\b`).Match(out) {
		exportertest.Missing(t, fmt.Sprintf("tshark cannot capture on lo (needs root or CAP_NET_RAW): %v\n%s", err, out))
	}
}

// iopCapture is a running tshark writing a pcap.
type iopCapture struct {
	tshark, file string
	ports        []int // export ports, decoded as cflow
	marker       *iopSink
	proc         *exportertest.Proc
}

// startIopCapture starts tshark on lo for datagrams to ports (the
// last of which is the marker's), and returns once a datagram sent to
// the marker shows up in the file: from then on nothing is missed.
func startIopCapture(t *testing.T, tshark string, ports []int, marker *iopSink) *iopCapture {
	t.Helper()
	var dst []string
	for _, p := range ports {
		dst = append(dst, fmt.Sprintf("dst port %d", p))
	}
	c := &iopCapture{tshark: tshark, file: filepath.Join(t.TempDir(), "lo.pcap"), marker: marker}
	for _, p := range ports {
		if p != marker.port {
			c.ports = append(c.ports, p)
		}
	}
	filter := "udp and dst host 127.0.0.1 and (" + strings.Join(dst, " or ") + ")"
	// In a process group of its own: tshark runs dumpcap, stop both.
	proc, err := exportertest.Start(t, "tshark", exec.Command(tshark, "-n", "-i", "lo", "-f", filter, "-w", c.file, "-F", "pcap", "-q"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.proc = proc
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", marker.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// dumpcap writes its file about once a second: probe until a probe
	// datagram is in it.
	live := exportertest.Within(20*time.Second, func() bool {
		_, _ = conn.Write([]byte("spanflow-interop: probe"))
		return len(c.markerPayloads(t)) > 0
	})
	if !live {
		t.Fatalf("tshark captured nothing on lo within 20 s:\n%s", c.proc.Out.String())
	}
	return c
}

// markerPayloads reads the (growing) capture file and returns the
// payloads of the datagrams sent to the marker port.
func (c *iopCapture) markerPayloads(t *testing.T) []string {
	f, err := os.Open(c.file)
	if err != nil {
		return nil
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil // header not written yet
	}
	var out []string
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return out // io.EOF, or a packet being written
		}
		if port, payload, ok := udpOverLoopback(data); ok && port == c.marker.port {
			out = append(out, string(payload))
		}
	}
}

// udpOverLoopback parses an Ethernet/IPv4/UDP frame as captured on lo.
func udpOverLoopback(frame []byte) (dstPort int, payload []byte, ok bool) {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return 0, nil, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != 17 || len(ip) < ihl+8 {
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint16(ip[ihl+2:])), ip[ihl+8:], true
}

// finish marks the end of the export, waits until the mark is captured,
// stops tshark and decodes the capture: datagrams by destination port.
func (c *iopCapture) finish(t *testing.T) map[int][]iopDatagram {
	t.Helper()
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", c.marker.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The marker goes out after spanflow has exited, so after its last
	// datagram; lo delivers to the capture in order.
	if _, err := conn.Write([]byte(iopMarkerEnd)); err != nil {
		t.Fatal(err)
	}
	if !exportertest.Within(20*time.Second, func() bool {
		for _, p := range c.markerPayloads(t) {
			if p == iopMarkerEnd {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the end marker did not reach the capture within 20 s:\n%s", c.proc.Out.String())
	}
	c.proc.Stop(t, syscall.SIGINT, 15*time.Second)
	return iopDecodeCflow(t, c.tshark, c.file, c.ports, c.marker.port)
}

var (
	iopFlowSetRe = regexp.MustCompile(`^(?:Flow)?Set (\d+) \[id=\d+\]`)
	iopFlowRe    = regexp.MustCompile(`^Flow (\d+)$`)
	iopPduRe     = regexp.MustCompile(`^pdu (\d+)/\d+$`)
)

// iopDecodeCflow has tshark decode the datagrams to ports as cflow.
func iopDecodeCflow(t *testing.T, tshark, file string, ports []int, marker int) map[int][]iopDatagram {
	t.Helper()
	args := []string{"-n", "-r", file, "-T", "json", "--no-duplicate-keys", "-Y", fmt.Sprintf("udp.dstport != %d", marker)}
	for _, p := range ports {
		args = append(args, "-d", fmt.Sprintf("udp.port==%d,cflow", p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tshark, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, stderr.String())
	}
	var pkts []struct {
		Source struct {
			Layers map[string]json.RawMessage `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatalf("tshark JSON: %v", err)
	}
	streams := map[int][]iopDatagram{}
	for i, p := range pkts {
		d := iopDatagram{frame: i + 1, header: iopWireFields{}}
		var udp map[string]any
		if err := json.Unmarshal(p.Source.Layers["udp"], &udp); err != nil {
			t.Fatalf("frame %d: no UDP layer: %v", i+1, err)
		}
		d.srcPort, _ = strconv.Atoi(fmt.Sprint(udp["udp.srcport"]))
		d.dstPort, _ = strconv.Atoi(fmt.Sprint(udp["udp.dstport"]))
		// Malformed anywhere, or expert info from the cflow dissector. (The
		// UDP dissector's own expert info, such as "possible traceroute"
		// for a source port that happens to be 33434-33534, is not ours.)
		for name, raw := range p.Source.Layers {
			if strings.HasPrefix(name, "_ws.") || bytes.Contains(raw, []byte(`"_ws.malformed`)) ||
				(name == "cflow" && bytes.Contains(raw, []byte(`"_ws.expert`))) {
				d.problems = append(d.problems, fmt.Sprintf("layer %s: %s", name, raw))
			}
		}
		var cflow map[string]any
		if err := json.Unmarshal(p.Source.Layers["cflow"], &cflow); err != nil {
			d.problems = append(d.problems, "not decoded as cflow")
		}
		iopSplitCflow(&d, cflow)
		streams[d.dstPort] = append(streams[d.dstPort], d)
	}
	return streams
}

// iopSplitCflow sorts a cflow tree into header fields and records.
func iopSplitCflow(d *iopDatagram, cflow map[string]any) {
	type numbered struct {
		n int
		v any
	}
	var pdus, sets []numbered
	for k, v := range cflow {
		if m := iopPduRe.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[1])
			pdus = append(pdus, numbered{n, v})
		} else if m := iopFlowSetRe.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[1])
			sets = append(sets, numbered{n, v})
		} else {
			iopFlatten(d.header, k, v)
		}
	}
	byN := func(s []numbered) { sort.Slice(s, func(i, j int) bool { return s[i].n < s[j].n }) }
	byN(pdus)
	byN(sets)
	for _, p := range pdus {
		w := iopWireFields{}
		iopFlatten(w, "", p.v)
		d.flows = append(d.flows, w)
	}
	for _, s := range sets {
		m, _ := s.v.(map[string]any)
		var recs []numbered
		for k, v := range m {
			if fm := iopFlowRe.FindStringSubmatch(k); fm != nil {
				n, _ := strconv.Atoi(fm[1])
				recs = append(recs, numbered{n, v})
			}
		}
		byN(recs)
		for _, r := range recs {
			w := iopWireFields{}
			iopFlatten(w, "", r.v)
			if _, ok := w["cflow.octets"]; ok {
				d.flows = append(d.flows, w)
			} else {
				d.options = append(d.options, w)
			}
		}
	}
}

// iopFlatten copies the leaves of a JSON subtree into w; repeated names
// (JSON arrays) keep their order.
func iopFlatten(w iopWireFields, key string, v any) {
	switch v := v.(type) {
	case map[string]any:
		// Sorted, so a name that occurs under two subtrees has a stable order.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			iopFlatten(w, k, v[k])
		}
	case []any:
		for _, c := range v {
			iopFlatten(w, key, c)
		}
	default:
		w[key] = append(w[key], fmt.Sprint(v))
	}
}

// iopSecondsToMs reads tshark's "12.345000000" seconds as milliseconds.
func iopSecondsToMs(s string) (int64, bool) {
	secs, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return 0, false
	}
	frac = (frac + "000")[:3]
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	return n*1000 + f, true
}

// iopTsTimeLayout is how tshark prints absolute times with TZ=UTC.
const iopTsTimeLayout = "Jan _2, 2006 15:04:05.000000000 MST"

// headerMs is the datagram's export time in Unix ms as its header says
// (v5/v7/v8 carry nanoseconds, v9 and IPFIX whole seconds).
func (d *iopDatagram) headerMs(t *testing.T) int64 {
	switch {
	case d.h("cflow.unix_nsecs") != "":
		return d.headerInt(t, "cflow.unix_secs")*1000 + d.headerInt(t, "cflow.unix_nsecs")/1e6
	case d.h("cflow.unix_secs") != "":
		return d.headerInt(t, "cflow.unix_secs") * 1000
	}
	return d.headerInt(t, "cflow.exporttime") * 1000
}

// uptimeAbsMs turns a record's uptime field (seconds since boot, as
// tshark shows it) into Unix ms the way collectors do: header time minus
// sysUptime plus the field.
func (d *iopDatagram) uptimeAbsMs(t *testing.T, field string) string {
	up, ok1 := iopSecondsToMs(d.h("cflow.sysuptime"))
	at, ok2 := iopSecondsToMs(field)
	if !ok1 || !ok2 {
		return "<missing>"
	}
	return strconv.FormatInt(d.headerMs(t)-up+at, 10)
}

// iopAbsTimeMs reads an absolute tshark time as Unix ms.
func iopAbsTimeMs(s string, ok bool) string {
	if !ok {
		return "<missing>"
	}
	at, err := time.Parse(iopTsTimeLayout, s)
	if err != nil {
		return "<unparsable " + s + ">"
	}
	return strconv.FormatInt(at.UnixMilli(), 10)
}

func iopHex8(v uint8) string { return fmt.Sprintf("0x%02x", v) }

func iopAddr4(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.Unmap().String()
}

// tsharkView is a record as tshark shows it: the fields want names, with
// times turned into Unix ms (keys abs_*) using the datagram's header.
func tsharkView(t *testing.T, d *iopDatagram, w iopWireFields, want iopFields) iopFields {
	got := iopFields{}
	for k := range want {
		name, idx := k, 0
		if n, i, ok := strings.Cut(k, "#"); ok {
			name = n
			idx, _ = strconv.Atoi(i)
		}
		switch name {
		case "abs_start", "abs_end":
			field := map[string]string{"abs_start": "cflow.timestart", "abs_end": "cflow.timeend"}[name]
			if v, ok := w.get(field, idx); ok {
				got[k] = d.uptimeAbsMs(t, v)
			} else if abs, ok := w.get(strings.Replace(field, "time", "abstime", 1), idx); ok {
				got[k] = iopAbsTimeMs(abs, ok)
			}
		default:
			if v, ok := w.get(name, idx); ok {
				got[k] = v
			}
		}
	}
	return got
}

// tsharkWantLegacy is what tshark shows for a v1/v5/v7 record.
func tsharkWantLegacy(version int, r *iopRecord) iopFields {
	w := iopFields{
		"cflow.srcaddr": iopAddr4(r.SrcAddr), "cflow.dstaddr": iopAddr4(r.DstAddr), "cflow.nexthop": "0.0.0.0",
		"cflow.inputint": iopU(uint64(uint16(r.InIf))), "cflow.outputint": "0",
		"cflow.packets": iopU(r.Packets), "cflow.octets": iopU(r.Bytes),
		"cflow.srcport": iopU(uint64(r.SrcPort)), "cflow.dstport": iopU(uint64(r.DstPort)),
		"cflow.protocol": iopU(uint64(r.Proto)), "cflow.tos": iopHex8(r.ToS), "cflow.tcpflags": iopHex8(r.TCPFlags),
		"abs_start": strconv.FormatInt(iopMs(r.Start), 10), "abs_end": strconv.FormatInt(iopMs(r.End), 10),
	}
	if version != 1 { // 16-bit AS numbers: AS_TRANS for a 32-bit one
		w["cflow.srcas"], w["cflow.dstas"] = iopU(uint64(iopAS16(r.SrcAS))), iopU(uint64(iopAS16(r.DstAS)))
		w["cflow.srcmask"], w["cflow.dstmask"] = iopU(uint64(r.SrcMask)), iopU(uint64(r.DstMask))
	}
	if version == 7 {
		w["cflow.flags"], w["cflow.routersc"] = "0x00", "0.0.0.0"
	}
	return w
}

// tsharkWantTemplate is what tshark shows for a v9 or IPFIX record.
func tsharkWantTemplate(version int, r *iopRecord) iopFields {
	sfx, zero, ipv := "", "0.0.0.0", "4"
	if r.v6() {
		sfx, zero, ipv = "v6", "::", "6"
	}
	icmp := uint16(0)
	if r.icmp() {
		icmp = r.DstPort
	}
	w := iopFields{
		"cflow.octets": iopU(r.Bytes), "cflow.packets": iopU(r.Packets),
		"cflow.srcaddr" + sfx: r.SrcAddr.String(), "cflow.dstaddr" + sfx: r.DstAddr.String(), "cflow.nexthop" + sfx: zero,
		"cflow.srcport": iopU(uint64(r.SrcPort)), "cflow.dstport": iopU(uint64(r.DstPort)),
		"cflow.protocol": iopU(uint64(r.Proto)), "cflow.tos": iopHex8(r.ToS),
		"cflow.inputint": iopU(uint64(r.InIf)), "cflow.outputint": "0",
		"cflow.srcas": iopU(uint64(r.SrcAS)), "cflow.dstas": iopU(uint64(r.DstAS)), // 4 bytes
		"cflow.vlanid": iopU(uint64(r.VLAN)), "cflow.srcmask" + sfx: iopU(uint64(r.SrcMask)), "cflow.dstmask" + sfx: iopU(uint64(r.DstMask)),
		"cflow.ip_version": ipv, "cflow.direction": "0",
		"cflow.flow_end_reason": strconv.Itoa(iopEndReasonCode[r.EndReason]),
		"cflow.tcpflags":        iopHex8(r.TCPFlags),
		"abs_start":             strconv.FormatInt(iopMs(r.Start), 10), "abs_end": strconv.FormatInt(iopMs(r.End), 10),
	}
	if version == 10 && r.v6() { // icmpTypeCodeIPv6 shows as two fields
		w["cflow.icmp_ipv6_type"], w["cflow.icmp_ipv6_code"] = iopU(uint64(icmp>>8)), iopU(uint64(icmp&0xff))
	} else {
		w["cflow.icmp_type_code_ipv4"] = fmt.Sprintf("0x%04x", icmp)
	}
	if r.bidi() {
		if version == 9 {
			// One set of times and flags covers both directions; tshark
			// names OUT_BYTES/OUT_PKTS by their IPFIX names.
			w["abs_start"], w["abs_end"] = strconv.FormatInt(iopMs(r.spanStart()), 10), strconv.FormatInt(iopMs(r.spanEnd()), 10)
			w["cflow.tcpflags"] = iopHex8(r.TCPFlags | r.revFlags())
			w["cflow.post_octets"], w["cflow.post_packets"] = iopU(r.revBytes()), iopU(r.revPackets())
		} else {
			// RFC 5103 reverse elements repeat the forward names and come
			// first: the forward values are each name's second.
			for _, k := range []string{"cflow.octets", "cflow.packets", "cflow.tcpflags", "cflow.tos", "abs_start", "abs_end"} {
				w[k+"#1"] = w[k]
			}
			w["cflow.octets"], w["cflow.packets"] = iopU(r.revBytes()), iopU(r.revPackets())
			w["cflow.tcpflags"], w["cflow.tos"] = iopHex8(r.revFlags()), iopHex8(r.revToS())
			w["abs_start"], w["abs_end"] = "0", "0" // no reverse packet: zero times
			if r.RevStart != nil {
				w["abs_start"], w["abs_end"] = strconv.FormatInt(iopMs(*r.RevStart), 10), strconv.FormatInt(iopMs(*r.RevEnd), 10)
			}
		}
	}
	return w
}

// checkTshark checks tshark's decoding of every stream of the run: no
// problems, headers and sequence numbers, and every record.
func checkTshark(t *testing.T, run *interopRun, sinkPort int, collectorPorts []int) {
	compared := 0
	for _, port := range append([]int{sinkPort}, collectorPorts...) {
		dgs := run.stream(port)
		if len(dgs) == 0 {
			t.Errorf("port %d: tshark captured no datagram", port)
			continue
		}
		for _, d := range dgs {
			for _, p := range d.problems {
				t.Errorf("frame %d (to port %d): tshark reports %s", d.frame, port, p)
			}
		}
		switch run.cfg.version {
		case 8:
			compared += checkTsharkV8(t, run, port, dgs)
		default:
			compared += checkTsharkStream(t, run, port, dgs)
		}
	}
	t.Logf("tshark: %d records compared over %d streams", compared, 1+len(collectorPorts))
}

// checkTsharkStream checks one v1/v5/v7/v9/IPFIX stream: its records in
// the order they were printed.
func checkTsharkStream(t *testing.T, run *interopRun, port int, dgs []iopDatagram) int {
	v := run.cfg.version
	want := run.recs
	if v < 9 {
		want = iopIPv4Only(want)
	}
	var seq, i int64
	var sawSampling, shown bool
	apps := map[string]string{} // "engine:selector" → name, from the application options
	for di := range dgs {
		d := &dgs[di]
		if got := d.h("cflow.version"); got != strconv.Itoa(v) {
			t.Fatalf("port %d frame %d: version %s, want %d", port, d.frame, got, v)
		}
		switch v {
		case 1, 5, 7:
			if got := d.headerInt(t, "cflow.count"); got != int64(len(d.flows)) {
				t.Errorf("port %d frame %d: count %d, %d records", port, d.frame, got, len(d.flows))
			}
			if v != 1 && d.headerInt(t, "cflow.sequence") != seq { // flows sent before
				t.Errorf("port %d frame %d: sequence %s, want %d", port, d.frame, d.h("cflow.sequence"), seq)
			}
			seq += int64(len(d.flows))
			if v == 5 {
				iopCheckHeader(t, d, iopFields{"cflow.engine_type": strconv.Itoa(interopEngineType), "cflow.engine_id": strconv.Itoa(interopEngineID)})
				mode, rate := "0", "0"
				if run.sample > 1 {
					mode, rate = "1", strconv.Itoa(run.sample) // deterministic
				}
				iopCheckHeader(t, d, iopFields{"cflow.samplingmode": mode, "cflow.samplerate": rate})
			}
		case 9:
			if d.headerInt(t, "cflow.sequence") != seq { // export packets sent before
				t.Errorf("port %d frame %d: sequence %s, want %d", port, d.frame, d.h("cflow.sequence"), seq)
			}
			seq++
			iopCheckHeader(t, d, iopFields{"cflow.source_id": strconv.Itoa(interopSourceID)})
			// sysUptime is taken at the header's whole second, so
			// unix_secs·1000 − sysUptime is the boot, to the millisecond.
			up, _ := iopSecondsToMs(d.h("cflow.sysuptime"))
			if got := d.headerMs(t) - up; got != iopMs(run.boot) {
				t.Errorf("port %d frame %d: unix_secs·1000 − sysUptime = %d, want the boot %d", port, d.frame, got, iopMs(run.boot))
			}
		case 10:
			if d.headerInt(t, "cflow.sequence") != seq { // data records sent before
				t.Errorf("port %d frame %d: sequence %s, want %d", port, d.frame, d.h("cflow.sequence"), seq)
			}
			seq += int64(len(d.flows) + len(d.options))
			iopCheckHeader(t, d, iopFields{"cflow.od_id": strconv.Itoa(interopSourceID)})
		}
		for _, o := range d.options {
			if name, ok := o.get("cflow.appl_name", 0); ok { // the application name table
				if e, sel, ok := iopAppOf(o); ok {
					apps[fmt.Sprintf("%d:%d", e, sel)] = name
				} else {
					t.Errorf("port %d frame %d: application name %q without an applicationId: %v", port, d.frame, name, o)
				}
				continue
			}
			sawSampling = sawSampling || checkSamplingOption(t, run, d, o)
		}
		for _, f := range d.flows {
			if i >= int64(len(want)) {
				i++
				continue
			}
			var w iopFields
			if v < 9 {
				w = tsharkWantLegacy(v, &want[i])
			} else {
				w = tsharkWantTemplate(v, &want[i])
			}
			got := tsharkView(t, d, f, w)
			if v >= 9 {
				// The application: the name the options data gives the
				// record's applicationId, "" for none (engine 0).
				w["application"] = want[i].Application
				e, sel, ok := iopAppOf(f)
				switch name, named := apps[fmt.Sprintf("%d:%d", e, sel)]; {
				case !ok:
					got["application"] = "<no applicationId>"
				case e == 0 && sel == 0:
					got["application"] = ""
				case named:
					got["application"] = name
				default:
					got["application"] = fmt.Sprintf("<%d:%d not in the name table>", e, sel)
				}
			}
			if got.canon() != w.canon() {
				t.Errorf("port %d frame %d, record %d: tshark shows\n  %s\nwant\n  %s", port, d.frame, i, iopDiffFields(got, w), iopDiffFields(w, got))
				if !shown {
					t.Logf("header %v\nrecord %v", d.header, f)
					shown = true
				}
			}
			i++
		}
	}
	if i != int64(len(want)) {
		t.Errorf("port %d: tshark decoded %d records, spanflow printed %d (IPv4 only below v9)", port, i, len(want))
	}
	if v >= 9 && run.sample > 1 && !sawSampling {
		t.Errorf("port %d: no options record advertises sampling 1:%d", port, run.sample)
	}
	return len(want)
}

// iopAppOf reads the applicationId (RFC 6759: engine, then selector) tshark
// decoded in a record.
func iopAppOf(w iopWireFields) (engine, selector uint64, ok bool) {
	e, ok1 := w.get("cflow.appl_id.classification_engine_id", 0)
	s, ok2 := w.get("cflow.appl_id.selector_id", 0)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	engine, err1 := strconv.ParseUint(e, 10, 8)
	selector, err2 := strconv.ParseUint(strings.ReplaceAll(s, ":", ""), 16, 64)
	return engine, selector, err1 == nil && err2 == nil
}

// checkSamplingOption checks an options data record that carries
// sampling (the application name table is read before): it reports
// whether o is one.
func checkSamplingOption(t *testing.T, run *interopRun, d *iopDatagram, o iopWireFields) bool {
	n := run.sample
	var want iopFields
	switch {
	case run.cfg.version == 9 && o["cflow.sampler_mode"] != nil:
		want = iopFields{"cflow.sampler_id": "1", "cflow.sampler_mode": "1", "cflow.sampler_random_interval": strconv.Itoa(n)}
	case o["cflow.sampling_interval"] != nil:
		want = iopFields{"cflow.sampling_interval": strconv.Itoa(n)}
		if o["cflow.sampling_algorithm"] != nil {
			want["cflow.sampling_algorithm"] = "1"
		}
	case o["cflow.selector_algorithm"] != nil:
		want = iopFields{"cflow.selector_algorithm": "1", "cflow.sampling_packet_interval": "1",
			"cflow.sampling_packet_space": strconv.Itoa(n - 1)}
	default:
		t.Errorf("frame %d: unexpected options record %v", d.frame, o)
		return false
	}
	if n <= 1 {
		t.Errorf("frame %d: sampling options %v in an unsampled run", d.frame, o)
		return false
	}
	got := iopFields{}
	for k := range want {
		got[k], _ = o.get(k, 0)
	}
	if got.canon() != want.canon() {
		t.Errorf("frame %d: sampling options %s, want %s", d.frame, got.canon(), want.canon())
	}
	return true
}

func iopCheckHeader(t *testing.T, d *iopDatagram, want iopFields) {
	t.Helper()
	for k, v := range want {
		if got := d.h(k); got != v {
			t.Errorf("frame %d: header %s = %q, want %q", d.frame, k, got, v)
		}
	}
}

// iopDiffFields lists the fields of a that b does not have equal.
func iopDiffFields(a, b iopFields) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// ---- v8 ----

// v8Key is a v8 record's key fields, by scheme, as tshark shows them, and
// the aggregation key they come from: AS numbers and prefixes from the
// prefix table, the output interface 0 (offline). The aggregation cache
// keys on the 32-bit AS numbers, which v8 carries as AS_TRANS (23456)
// above 65535: two such AS numbers are two records that look alike.
func v8Key(scheme int, r *iopRecord) (iopFields, string) {
	in := iopU(uint64(uint16(r.InIf)))
	tos := iopHex8(r.ToS)
	proto, sport, dport := iopU(uint64(r.Proto)), iopU(uint64(r.SrcPort)), iopU(uint64(r.DstPort))
	src, dst := iopAddr4(r.SrcAddr), iopAddr4(r.DstAddr)
	srcAS, dstAS := iopU(uint64(iopAS16(r.SrcAS))), iopU(uint64(iopAS16(r.DstAS)))
	srcNet, dstNet := iopNet4(r.SrcAddr, r.SrcMask), iopNet4(r.DstAddr, r.DstMask)
	srcMask, dstMask := iopU(uint64(r.SrcMask)), iopU(uint64(r.DstMask))
	k := iopFields{}
	switch scheme {
	case 1: // AS
		k = iopFields{"cflow.srcas": srcAS, "cflow.dstas": dstAS, "cflow.inputint": in, "cflow.outputint": "0"}
	case 2: // protocol/port
		k = iopFields{"cflow.protocol": proto, "cflow.srcport": sport, "cflow.dstport": dport}
	case 3, 11: // source prefix
		k = iopFields{"cflow.srcnet": srcNet, "cflow.srcmask": srcMask, "cflow.srcas": srcAS, "cflow.inputint": in}
	case 4, 12: // destination prefix
		k = iopFields{"cflow.dstnet": dstNet, "cflow.dstmask": dstMask, "cflow.dstas": dstAS, "cflow.outputint": "0"}
	case 5, 13: // prefix. Quirk: Wireshark labels the two masks the other
		// way round (the record has the destination mask first, as Cisco's
		// and flow-tools' do).
		k = iopFields{"cflow.srcnet": srcNet, "cflow.dstnet": dstNet, "cflow.srcmask": dstMask, "cflow.dstmask": srcMask,
			"cflow.srcas": srcAS, "cflow.dstas": dstAS, "cflow.inputint": in, "cflow.outputint": "0"}
	case 6: // destination
		k = iopFields{"cflow.dstaddr": dst, "cflow.outputint": "0", "cflow.tos": tos}
	case 7: // source/destination
		k = iopFields{"cflow.dstaddr": dst, "cflow.srcaddr": src, "cflow.outputint": "0", "cflow.inputint": in, "cflow.tos": tos}
	case 8: // full flow
		k = iopFields{"cflow.dstaddr": dst, "cflow.srcaddr": src, "cflow.dstport": dport, "cflow.srcport": sport,
			"cflow.outputint": "0", "cflow.inputint": in, "cflow.tos": tos, "cflow.protocol": proto}
	case 9: // ToS/AS. Quirk: Wireshark reads bytes 24-31 (input, output,
		// ToS, pad, reserved) as ToS, pad, reserved, input, output, so the
		// input interface's high byte shows as the ToS and the ToS as the
		// high byte of the input interface.
		k = iopFields{"cflow.srcas": srcAS, "cflow.dstas": dstAS, "cflow.tos": iopHex8(uint8(uint16(r.InIf) >> 8)),
			"cflow.padding": fmt.Sprintf("%02x", uint8(r.InIf)), "cflow.reserved": "00:00",
			"cflow.inputint": iopU(uint64(r.ToS) << 8), "cflow.outputint": "0"}
	case 10: // ToS/protocol/port
		k = iopFields{"cflow.protocol": proto, "cflow.tos": tos, "cflow.srcport": sport, "cflow.dstport": dport,
			"cflow.inputint": in, "cflow.outputint": "0"}
	case 14: // prefix/port (masks labelled as in 5 and 13)
		k = iopFields{"cflow.srcnet": srcNet, "cflow.dstnet": dstNet, "cflow.srcmask": dstMask, "cflow.dstmask": srcMask,
			"cflow.tos": tos, "cflow.protocol": proto, "cflow.srcport": sport, "cflow.dstport": dport,
			"cflow.inputint": in, "cflow.outputint": "0"}
	}
	if scheme >= 11 && scheme <= 13 {
		k["cflow.tos"] = tos
	}
	if scheme >= 6 && scheme <= 8 {
		k["cflow.marked_tos"], k["cflow.extra_packets"], k["cflow.routersc"] = "00", "00:00:00:00", "0.0.0.0"
	}
	// Grouped by the key as the datagram carries it: 4-byte AS numbers
	// are one AS_TRANS row, as a router's v8 cache keys them.
	return k, k.canon()
}

// v8Routed are the schemes keyed on AS numbers or prefixes: with the
// prefix table, each must give one record per AS or prefix (v8Want's
// groups, which the decoded records are compared with), not one zero
// record for everything.
var v8Routed = map[int]bool{1: true, 3: true, 4: true, 5: true, 9: true, 11: true, 12: true, 13: true, 14: true}

// v8Want aggregates the IPv4 records by scheme as the aggregation cache
// must: per key, the flow count, packet and byte sums and the time span.
func v8Want(scheme int, recs []iopRecord) []iopFields {
	type agg struct {
		key                   iopFields
		flows, packets, bytes uint64
		start, end            time.Time
	}
	byKey := map[string]*agg{}
	var order []string
	for i := range recs {
		r := &recs[i]
		k, c := v8Key(scheme, r)
		a := byKey[c]
		if a == nil {
			a = &agg{key: k, start: r.Start, end: r.End}
			byKey[c] = a
			order = append(order, c)
		}
		a.flows++
		a.packets += r.Packets
		a.bytes += r.Bytes
		if r.Start.Before(a.start) {
			a.start = r.Start
		}
		if r.End.After(a.end) {
			a.end = r.End
		}
	}
	var out []iopFields
	for _, c := range order {
		a := byKey[c]
		w := iopFields{}
		for k, v := range a.key {
			w[k] = v
		}
		w["cflow.packets"], w["cflow.octets"] = iopU(a.packets), iopU(a.bytes)
		w["abs_start"], w["abs_end"] = strconv.FormatInt(iopMs(a.start), 10), strconv.FormatInt(iopMs(a.end), 10)
		if scheme < 6 || scheme > 8 { // schemes 6-8 carry no flow count
			w["cflow.flows"] = iopU(a.flows)
		}
		out = append(out, w)
	}
	return out
}

// checkTsharkV8 checks one collector's v8 datagrams: one stream per
// scheme (its own source port and flow sequence), every aggregate.
func checkTsharkV8(t *testing.T, run *interopRun, port int, dgs []iopDatagram) int {
	v4 := iopIPv4Only(run.recs)
	byScheme := map[int][]*iopDatagram{}
	src := map[int]int{}
	for i := range dgs {
		d := &dgs[i]
		s := int(d.headerInt(t, "cflow.aggmethod"))
		if p, ok := src[s]; ok && p != d.srcPort {
			t.Errorf("port %d: scheme %d sent from ports %d and %d, want one stream", port, s, p, d.srcPort)
		}
		src[s] = d.srcPort
		byScheme[s] = append(byScheme[s], d)
	}
	compared := 0
	for s := 1; s <= 14; s++ {
		ds := byScheme[s]
		want := v8Want(s, v4)
		if len(want) == 0 {
			t.Fatalf("the run has no IPv4 record to aggregate")
		}
		var got []iopFields
		seq := int64(0)
		for _, d := range ds {
			iopCheckHeader(t, d, iopFields{"cflow.aggversion": "2", "cflow.engine_type": strconv.Itoa(interopEngineType),
				"cflow.engine_id": strconv.Itoa(interopEngineID), "cflow.count": strconv.Itoa(len(d.flows))})
			if d.headerInt(t, "cflow.sequence") != seq {
				t.Errorf("port %d scheme %d frame %d: sequence %s, want %d", port, s, d.frame, d.h("cflow.sequence"), seq)
			}
			seq += int64(len(d.flows))
			for _, f := range d.flows {
				got = append(got, tsharkView(t, d, f, want[0]))
			}
		}
		compared += iopCompareSets(t, fmt.Sprintf("tshark, port %d, v8 scheme %d", port, s), want, got)
		if v8Routed[s] {
			// The comparison holds the decoded records to one per AS or
			// prefix; the expectation must have several, not a zero one.
			routed := 0
			for _, w := range want {
				for _, f := range []string{"cflow.srcas", "cflow.dstas", "cflow.srcmask", "cflow.dstmask"} {
					if v, ok := w[f]; ok && v != "0" {
						routed++
						break
					}
				}
			}
			if routed == 0 {
				t.Errorf("port %d, v8 scheme %d: %d aggregates, none with an AS or prefix: the prefix table should give them", port, s, len(want))
			}
			if s == 1 || s == 5 {
				t.Logf("port %d, v8 scheme %d: %d aggregates decoded, %d with an AS or prefix", port, s, len(got), routed)
			}
		}
	}
	for s := range byScheme {
		if s < 1 || s > 14 {
			t.Errorf("port %d: datagrams of aggregation %d", port, s)
		}
	}
	return compared
}
