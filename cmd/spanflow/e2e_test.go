package main

// End-to-end tests of the live daemon, as root: the real spanflow binary
// attached natively to a veth inside network namespaces the test creates,
// a generated capture replayed into it, and real collectors (nfcapd,
// `spanflow collect`) on the loopback of the namespace the daemon runs in.
// Their totals are compared with the capture's ground truth, which is
// known by construction (probetest.WriteCapture).
//
// The helpers here are shared by the other e2e_*_test.go files; their
// names start with e2e so they never clash with the package's other tests.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/probe/probetest"
)

// ---- the binary ----

var e2eBuild struct {
	once sync.Once
	path string
	err  error
}

// e2eBinary builds spanflow once per test binary into a directory named
// after this process; directories of test binaries that are gone are
// removed on the way.
func e2eBinary(t *testing.T) string {
	t.Helper()
	e2eBuild.once.Do(func() {
		stale, _ := filepath.Glob(filepath.Join(os.TempDir(), "spanflow-e2e-bin-*"))
		for _, dir := range stale {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "spanflow-e2e-bin-"))
			if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(dir)
			}
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("spanflow-e2e-bin-%d", os.Getpid()))
		if e2eBuild.err = os.MkdirAll(dir, 0o755); e2eBuild.err != nil {
			return
		}
		bin := filepath.Join(dir, "spanflow")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			e2eBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		e2eBuild.path = bin
	})
	if e2eBuild.err != nil {
		t.Fatal(e2eBuild.err)
	}
	return e2eBuild.path
}

// ---- output of child processes ----

// e2eBuffer is a child's output that the test reads while it is written.
type e2eBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *e2eBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *e2eBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// e2eProc is a child process started inside a namespace; cleanup kills
// it if the test has not stopped it.
type e2eProc struct {
	name   string
	cmd    *exec.Cmd
	out    *e2eBuffer // stderr (and stdout unless redirected)
	exited chan struct{}
	err    error
}

func e2eStart(t *testing.T, ns *probetest.NetNS, name string, cmd *exec.Cmd) *e2eProc {
	t.Helper()
	p := &e2eProc{name: name, cmd: cmd, out: &e2eBuffer{}, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	cmd.Stderr = p.out
	cmd.Env = append(os.Environ(), "TZ=UTC")
	if err := ns.Start(cmd); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *e2eProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends sig and waits (bounded) for the process to exit; it returns
// the exit code (-1 when killed by a signal).
func (p *e2eProc) stop(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	if p.running() {
		p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("%s did not exit within %v of %v; its output:\n%s", p.name, within, sig, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// e2eWait polls cond every 20 ms for up to d and reports whether it held.
func e2eWait(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// e2eUDPSocket reads the UDP socket bound to 127.0.0.1:port from the
// namespace of process pid: whether it exists, its receive queue (bytes)
// and the datagrams it dropped for want of receive buffer.
func e2eUDPSocket(pid, port int) (found bool, rxQueue, drops int) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return false, 0, 0
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 12 && f[1] == local {
			_, q, _ := strings.Cut(f[4], ":")
			v, _ := strconv.ParseInt(q, 16, 64)
			d, _ := strconv.Atoi(f[12])
			return true, int(v), d
		}
	}
	return false, 0, 0
}

// ---- the daemon ----

// e2eDaemon is a live spanflow running in a namespace.
type e2eDaemon struct {
	*e2eProc
	bin     string
	control string
}

// e2ePinDir is a bpffs directory of the test's own (suffix tells apart
// several in one test), removed before and after it.
func e2ePinDir(t *testing.T, suffix ...string) string {
	dir := "/sys/fs/bpf/spanflow-e2e-" + regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	for _, s := range suffix {
		dir += "-" + s
	}
	os.RemoveAll(dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// e2eControlPath is a short path for a control socket (sun_path holds
// 108 bytes, test temp dirs can be longer).
func e2eControlPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sfe2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "ctl.sock")
}

// startE2EDaemon starts spanflow with args plus --control and waits until
// its control socket answers (it listens only after attaching).
func startE2EDaemon(t *testing.T, bin string, ns *probetest.NetNS, control string, args ...string) *e2eDaemon {
	t.Helper()
	args = append(slices.Clone(args), "--control", control)
	d := &e2eDaemon{bin: bin, control: control}
	d.e2eProc = e2eStart(t, ns, "spanflow", exec.Command(bin, args...))
	if !e2eWait(15*time.Second, func() bool {
		if !d.running() {
			return true
		}
		_, err := d.show("stats")
		return err == nil
	}) || !d.running() {
		t.Fatalf("spanflow %s: not answering on its control socket within 15 s (running: %v); its log:\n%s",
			strings.Join(args, " "), d.running(), d.out.String())
	}
	return d
}

// show runs `spanflow show ARGS --control PATH` and returns its stdout.
func (d *e2eDaemon) show(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, append(append([]string{"show"}, args...), "--control", d.control)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("spanflow show %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// showJSON runs `spanflow show ARGS --json` and decodes the answer.
func (d *e2eDaemon) showJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := d.show(append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("spanflow show %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// e2eStats is what the test reads of `show stats --json`.
type e2eStats struct {
	Packets, Bytes map[string]uint64
	Total          uint64
	Harvests       uint64
}

func (d *e2eDaemon) stats(t *testing.T) e2eStats {
	t.Helper()
	var s e2eStats
	d.showJSON(t, &s, "stats")
	return s
}

// waitAccounted waits until the datapath has accounted want packets (the
// daemon reports its counters as of the last harvest), or has stopped
// moving for 3 s; bounded by 30 s in all. It returns the stats last seen.
func (d *e2eDaemon) waitAccounted(t *testing.T, want uint64) e2eStats {
	t.Helper()
	var s e2eStats
	var last uint64
	moved := time.Now()
	e2eWait(30*time.Second, func() bool {
		s = d.stats(t)
		if s.Total != last {
			last, moved = s.Total, time.Now()
		}
		return s.Packets["accounted"] >= want || time.Since(moved) > 3*time.Second
	})
	return s
}

// ---- collectors ----

// e2eCollect is `spanflow collect --json` listening on 127.0.0.1:port.
type e2eCollect struct {
	*e2eProc
	port    int
	outPath string
}

func startE2ECollect(t *testing.T, bin string, ns *probetest.NetNS, port int) *e2eCollect {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), fmt.Sprintf("collect-%d.json", port))
	f, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(bin, "collect", "-l", fmt.Sprintf("127.0.0.1:%d", port), "--json", "--duration", "3m")
	cmd.Stdout = f
	c := &e2eCollect{e2eProc: e2eStart(t, ns, "spanflow collect", cmd), port: port, outPath: outPath}
	if !e2eWait(10*time.Second, func() bool { found, _, _ := e2eUDPSocket(cmd.Process.Pid, port); return found }) {
		t.Fatalf("spanflow collect did not bind 127.0.0.1:%d within 10 s:\n%s", port, c.out.String())
	}
	return c
}

// e2eRecord is one line of `spanflow collect --json`.
type e2eRecord struct {
	Version   uint16     `json:"version"`
	SrcAddr   netip.Addr `json:"src_addr"`
	DstAddr   netip.Addr `json:"dst_addr"`
	SrcPort   uint16     `json:"src_port"`
	DstPort   uint16     `json:"dst_port"`
	Proto     uint8      `json:"proto"`
	ToS       uint8      `json:"tos"`
	VLAN      uint16     `json:"vlan"`
	InIf      uint32     `json:"in_if"`
	Packets   uint64     `json:"packets"`
	Bytes     uint64     `json:"bytes"`
	TCPFlags  uint8      `json:"tcp_flags"`
	EndReason string     `json:"end_reason"`
}

// drainAndStop waits until the collector has read every queued datagram,
// stops it and returns the records it printed and its summary.
func (c *e2eCollect) drainAndStop(t *testing.T) ([]e2eRecord, string) {
	t.Helper()
	var drops int
	if !e2eWait(15*time.Second, func() bool {
		_, q, d := e2eUDPSocket(c.cmd.Process.Pid, c.port)
		drops = d
		return q == 0
	}) {
		t.Errorf("spanflow collect on port %d did not read its datagrams within 15 s", c.port)
	}
	if drops > 0 {
		// Known: collect keeps the default SO_RCVBUF (208 KiB here), and
		// the flush at SIGTERM is a burst of hundreds of datagrams.
		t.Errorf("spanflow collect's socket dropped %d datagrams for want of receive buffer: its totals cannot be exact", drops)
	}
	if code := c.stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("spanflow collect exited with %d:\n%s", code, c.out.String())
	}
	raw, err := os.ReadFile(c.outPath)
	if err != nil {
		t.Fatal(err)
	}
	var recs []e2eRecord
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r e2eRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("spanflow collect printed %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs, c.out.String()
}

// e2eNfcapd is nfcapd listening on 127.0.0.1:port, writing into dir.
type e2eNfcapd struct {
	*e2eProc
	port int
	dir  string
}

func startE2ENfcapd(t *testing.T, ns *probetest.NetNS, port int) *e2eNfcapd {
	t.Helper()
	path, err := exec.LookPath("nfcapd")
	if err != nil {
		t.Fatalf("nfcapd (scripts/setup.sh installs it): %v", err)
	}
	dir := t.TempDir()
	// -B: a socket buffer that holds a whole run, so nothing is lost
	// while nfcapd writes.
	cmd := exec.Command(path, "-p", strconv.Itoa(port), "-b", "127.0.0.1", "-w", dir, "-t", "3600", "-B", "8388608")
	n := &e2eNfcapd{e2eProc: e2eStart(t, ns, "nfcapd", cmd), port: port, dir: dir}
	if !e2eWait(10*time.Second, func() bool { found, _, _ := e2eUDPSocket(cmd.Process.Pid, port); return found }) {
		t.Fatalf("nfcapd did not bind 127.0.0.1:%d within 10 s:\n%s", port, n.out.String())
	}
	return n
}

// drainAndStop stops nfcapd once it has read everything and returns the
// records nfdump reads back, as JSON objects.
func (n *e2eNfcapd) drainAndStop(t *testing.T) ([]map[string]any, string) {
	t.Helper()
	var drops int
	if !e2eWait(15*time.Second, func() bool {
		_, q, d := e2eUDPSocket(n.cmd.Process.Pid, n.port)
		drops = d
		return q == 0
	}) {
		t.Errorf("nfcapd on port %d did not read its datagrams within 15 s", n.port)
	}
	if drops > 0 {
		t.Errorf("nfcapd's socket dropped %d datagrams for want of receive buffer: its totals cannot be exact", drops)
	}
	n.stop(t, syscall.SIGTERM, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nfdump", "-R", n.dir, "-o", "json")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nfdump -R %s: %v\n%s\nnfcapd said:\n%s", n.dir, err, out, n.out.String())
	}
	var flows []map[string]any
	if len(bytes.TrimSpace(out)) > 0 {
		d := json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		if err := d.Decode(&flows); err != nil {
			t.Fatalf("nfdump JSON: %v\n%.2000s", err, out)
		}
	}
	return flows, n.out.String()
}

// ---- totals by flow key ----

// e2eKey is a flow key as far as an export format carries it; fields a
// format leaves out stay zero on both sides of a comparison.
type e2eKey struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto, ToS       uint8
	InIf             uint32
	VLAN             uint16
}

func (k e2eKey) String() string {
	return fmt.Sprintf("proto %d %v:%d → %v:%d tos %#x if %d vlan %d", k.Proto, k.Src, k.SrcPort, k.Dst, k.DstPort, k.ToS, k.InIf, k.VLAN)
}

// e2eTotals is what a key adds up to.
type e2eTotals struct {
	Packets, Bytes uint64
	Flags          uint8 // OR of TCP flags (only where compared)
	Records        int   // records that make it up (not compared)
}

// e2eFields says which key fields and counters a collector shows.
type e2eFields struct {
	v4Only     bool // v5: IPv6 flows cannot be exported
	inIf, vlan bool
	flags      bool
}

// e2eTruth sums the capture's ground truth by the fields f keeps.
func e2eTruth(c *probetest.Capture, f e2eFields) map[e2eKey]e2eTotals {
	out := map[e2eKey]e2eTotals{}
	for k, v := range c.Flows {
		if f.v4Only && k.IpVersion != 4 {
			continue
		}
		key := e2eKey{Src: k.SrcIP(), Dst: k.DstIP(), SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto, ToS: k.Tos}
		if f.inIf {
			key.InIf = k.Ifindex
		}
		if f.vlan {
			key.VLAN = k.VlanId
		}
		tot := out[key]
		tot.Packets += v.Packets
		tot.Bytes += v.Bytes
		if f.flags {
			tot.Flags |= v.TCPFlags
		}
		tot.Records++
		out[key] = tot
	}
	return out
}

// e2eCollected sums `spanflow collect` records by the fields f keeps.
func e2eCollected(recs []e2eRecord, f e2eFields) map[e2eKey]e2eTotals {
	out := map[e2eKey]e2eTotals{}
	for _, r := range recs {
		key := e2eKey{Src: r.SrcAddr.Unmap(), Dst: r.DstAddr.Unmap(), SrcPort: r.SrcPort, DstPort: r.DstPort, Proto: r.Proto, ToS: r.ToS}
		if f.inIf {
			key.InIf = r.InIf
		}
		if f.vlan {
			key.VLAN = r.VLAN
		}
		tot := out[key]
		tot.Packets += r.Packets
		tot.Bytes += r.Bytes
		if f.flags {
			tot.Flags |= r.TCPFlags
		}
		tot.Records++
		out[key] = tot
	}
	return out
}

// e2eNfdumped sums nfdump's JSON records by the fields f keeps. nfdump
// shows ICMP type and code instead of ports; they go back where the
// datapath keys them (type<<8|code in the destination port).
func e2eNfdumped(t *testing.T, flows []map[string]any, f e2eFields) map[e2eKey]e2eTotals {
	t.Helper()
	num := func(m map[string]any, name string) uint64 {
		v, ok := m[name]
		if !ok {
			return 0
		}
		n, err := strconv.ParseUint(fmt.Sprint(v), 10, 64)
		if err != nil {
			t.Fatalf("nfdump field %s = %v: %v", name, v, err)
		}
		return n
	}
	addr := func(m map[string]any, v4, v6 string) netip.Addr {
		s, ok := m[v4]
		if !ok {
			s = m[v6]
		}
		a, err := netip.ParseAddr(fmt.Sprint(s))
		if err != nil {
			t.Fatalf("nfdump record without %s/%s: %v", v4, v6, m)
		}
		return a.Unmap()
	}
	out := map[e2eKey]e2eTotals{}
	for _, m := range flows {
		key := e2eKey{
			Src: addr(m, "src4_addr", "src6_addr"), Dst: addr(m, "dst4_addr", "dst6_addr"),
			SrcPort: uint16(num(m, "src_port")), DstPort: uint16(num(m, "dst_port")),
			Proto: uint8(num(m, "proto")), ToS: uint8(num(m, "src_tos")),
		}
		if key.Proto == 1 || key.Proto == 58 {
			key.SrcPort, key.DstPort = 0, uint16(num(m, "icmp_type")<<8|num(m, "icmp_code"))
		}
		if f.inIf {
			key.InIf = uint32(num(m, "input_snmp"))
		}
		if f.vlan {
			key.VLAN = uint16(num(m, "src_vlan"))
		}
		tot := out[key]
		tot.Packets += num(m, "in_packets")
		tot.Bytes += num(m, "in_bytes")
		tot.Records++
		out[key] = tot
	}
	return out
}

// e2eDiff says how got differs from want (the first few of each kind),
// or "" when they are equal. Record counts are not compared.
func e2eDiff(want, got map[e2eKey]e2eTotals) string {
	var missing, extra, differ []string
	var wantSum, gotSum e2eTotals
	same := func(a, b e2eTotals) bool { return a.Packets == b.Packets && a.Bytes == b.Bytes && a.Flags == b.Flags }
	for k, w := range want {
		wantSum.Packets += w.Packets
		wantSum.Bytes += w.Bytes
		switch g, ok := got[k]; {
		case !ok:
			missing = append(missing, fmt.Sprintf("%v: want %d packets %d bytes flags %#x", k, w.Packets, w.Bytes, w.Flags))
		case !same(g, w):
			differ = append(differ, fmt.Sprintf("%v: got %d packets %d bytes flags %#x in %d records, want %d packets %d bytes flags %#x",
				k, g.Packets, g.Bytes, g.Flags, g.Records, w.Packets, w.Bytes, w.Flags))
		}
	}
	for k, g := range got {
		gotSum.Packets += g.Packets
		gotSum.Bytes += g.Bytes
		if _, ok := want[k]; !ok {
			extra = append(extra, fmt.Sprintf("%v: got %d packets %d bytes", k, g.Packets, g.Bytes))
		}
	}
	if len(missing)+len(extra)+len(differ) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d keys, %d packets, %d bytes; want %d keys, %d packets, %d bytes\n",
		len(got), gotSum.Packets, gotSum.Bytes, len(want), wantSum.Packets, wantSum.Bytes)
	for _, l := range []struct {
		what  string
		lines []string
	}{{"missing", missing}, {"extra", extra}, {"different", differ}} {
		if len(l.lines) > 0 {
			slices.Sort(l.lines)
			fmt.Fprintf(&b, "%d %s, e.g.:\n  %s\n", len(l.lines), l.what, strings.Join(l.lines[:min(len(l.lines), 6)], "\n  "))
		}
	}
	return b.String()
}

// ---- test 1: export end to end ----

// TestE2EExportedTotalsEqualGroundTruth replays a generated capture of
// 100k frames in 5k flows (IPv4 and IPv6, TCP/UDP/ICMP, VLAN tags) into a
// veth whose peer has spanflow attached natively, once per export
// version, each exporting to nfcapd and to `spanflow collect`. After
// SIGTERM (final harvest, flush, send, exit 0) the packets and bytes each
// collector shows per flow key equal the capture's ground truth exactly.
// v5 carries no IPv6: its IPv4 part is compared, and the records it left
// out must be reported.
func TestE2EExportedTotalsEqualGroundTruth(t *testing.T) {
	probetest.RequireRoot(t)
	bin := e2eBinary(t)
	for _, v := range []string{"5", "9", "10"} {
		t.Run("v"+v, func(t *testing.T) { e2eExportRun(t, bin, v) })
	}
}

// e2eShortTimers keep every flow in the cache until SIGTERM, so each flow
// is exactly one record (FIN/RST flows end early, once: FIN or RST is
// their last frame).
var e2eShortTimers = []string{"--harvest-interval", "100ms", "--inactive-timeout", "60s", "--active-timeout", "10m", "--fin-grace", "1s"}

func e2eExportRun(t *testing.T, bin, version string) {
	s := probetest.NewReplayNet(t)
	c, err := probetest.WriteCapture(filepath.Join(t.TempDir(), "e2e.pcap"), probetest.GenConfig{
		Packets: 100_000, Flows: 5_000, Seed: 20261201, Ifindex: uint32(s.RxIndex),
	})
	if err != nil {
		t.Fatal(err)
	}
	v6Flows := 0
	for k := range c.Flows {
		if k.IpVersion == 6 {
			v6Flows++
		}
	}
	const nfPort, colPort = 2055, 4739
	nf := startE2ENfcapd(t, s.Capture, nfPort)
	col := startE2ECollect(t, bin, s.Capture, colPort)
	args := append([]string{"-i", s.RxName, "-n", fmt.Sprintf("127.0.0.1:%d", nfPort), "-n", fmt.Sprintf("127.0.0.1:%d", colPort),
		"-v", version, "--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", e2ePinDir(t), "--detach"}, e2eShortTimers...)
	d := startE2EDaemon(t, bin, s.Capture, e2eControlPath(t), args...)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	replay, err := s.StartReplay(ctx, t, c.Path)
	if err != nil {
		t.Fatal(err)
	}
	report, err := replay.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if report.Successful != uint64(c.Packets) || report.Failed != 0 {
		t.Fatalf("tcpreplay sent %d of %d frames (failed %d):\n%s", report.Successful, c.Packets, report.Failed, report.Output)
	}
	st := d.waitAccounted(t, uint64(c.Packets))
	if st.Packets["accounted"] != uint64(c.Packets) || st.Bytes["accounted"] != c.IPBytes || st.Total != uint64(c.Packets) {
		t.Errorf("datapath accounted %d packets %d bytes of %d outcomes; the capture has %d packets %d bytes; links: %s",
			st.Packets["accounted"], st.Bytes["accounted"], st.Total, c.Packets, c.IPBytes, s.LinkCounters())
	}
	if code := d.stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("spanflow exited with %d after SIGTERM, want 0; its log:\n%s", code, d.out.String())
	}
	if !strings.Contains(d.out.String(), "stopped") {
		t.Errorf("spanflow's log does not say it stopped:\n%s", d.out.String())
	}

	f := e2eFields{inIf: true, vlan: version != "5", flags: true}
	if version == "5" {
		f.v4Only = true
	}
	recs, colLog := col.drainAndStop(t)
	if diff := e2eDiff(e2eTruth(c, f), e2eCollected(recs, f)); diff != "" {
		t.Errorf("spanflow collect's totals differ from the ground truth (-v %s):\n%s\ncollect:\n%s", version, diff, colLog)
	}
	// Each flow is one record: nothing is exported twice.
	wantRecs := len(c.Flows)
	if f.v4Only {
		wantRecs -= v6Flows
	}
	if len(recs) != wantRecs {
		t.Errorf("spanflow collect got %d records, want one per flow: %d", len(recs), wantRecs)
	}
	for _, r := range recs {
		if want := map[string]uint16{"5": 5, "9": 9, "10": 10}[version]; r.Version != want {
			t.Fatalf("spanflow collect got a v%d record from -v %s: %+v", r.Version, version, r)
		}
	}

	// nfdump shows no input interface for v5 and no TCP flags as numbers.
	nff := e2eFields{v4Only: f.v4Only, inIf: version != "5", vlan: f.vlan}
	flows, nfLog := nf.drainAndStop(t)
	if diff := e2eDiff(e2eTruth(c, nff), e2eNfdumped(t, flows, nff)); diff != "" {
		t.Errorf("nfdump's totals differ from the ground truth (-v %s):\n%s\nnfcapd:\n%s", version, diff, nfLog)
	}

	if version == "5" {
		// Both streams left out every IPv6 flow; the log must say how many.
		re := regexp.MustCompile(`(?i)skipped\D{0,12}(\d+)`)
		var seen []string
		for _, m := range re.FindAllStringSubmatch(d.out.String(), -1) {
			seen = append(seen, m[1])
		}
		if !slices.Contains(seen, strconv.Itoa(v6Flows)) {
			t.Errorf("-v 5 left out %d IPv6 records per collector; spanflow's log reports skipped counts %v, none is %d:\n%s",
				v6Flows, seen, v6Flows, d.out.String())
		}
	}
	t.Logf("-v %s: %d frames in %.2f s; %d flows (%d IPv6); collect %d records, nfdump %d records",
		version, report.Sent, report.Seconds, len(c.Flows), v6Flows, len(recs), len(flows))
}

// TestE2ESIGTERMAlwaysExitsZero stops spanflow with SIGTERM while traffic
// flows, several times in a row: every stop must flush, log that it
// stopped and exit 0. (Shutdown races the interface watch, whose channel
// closes with the same context; a lost race must not crash the daemon.)
func TestE2ESIGTERMAlwaysExitsZero(t *testing.T) {
	probetest.RequireRoot(t)
	bin := e2eBinary(t)
	s := probetest.NewReplayNet(t)
	c, err := probetest.WriteCapture(filepath.Join(t.TempDir(), "sigterm.pcap"), probetest.GenConfig{
		Packets: 30_000, Flows: 3_000, Seed: 9, Ifindex: uint32(s.RxIndex),
	})
	if err != nil {
		t.Fatal(err)
	}
	pinDir, control := e2ePinDir(t), e2eControlPath(t)
	for i := range 16 {
		d := startE2EDaemon(t, bin, s.Capture, control, "-i", s.RxName, "-n", "127.0.0.1:2055",
			"--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", pinDir, "--detach", "--harvest-interval", "100ms")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		replay := e2eStart(t, s.Sender, "tcpreplay", exec.CommandContext(ctx, "tcpreplay", "--pps=100000", "--intf1="+s.TxName, c.Path))
		time.Sleep(time.Duration(100+23*i) * time.Millisecond)
		code := d.stop(t, syscall.SIGTERM, 20*time.Second)
		replay.stop(t, syscall.SIGTERM, 10*time.Second)
		cancel()
		if code != 0 || !strings.Contains(d.out.String(), "msg=stopped") {
			t.Fatalf("stop %d: spanflow exited with %d after SIGTERM, want 0 after a flush; its log:\n%s", i+1, code, d.out.String())
		}
	}
}
