package peers

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf/benchprog"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

var (
	runPeers    = flag.Bool("peers", false, "run the peer benchmark (make bench-peers does)")
	outDir      = flag.String("peers.out", "", "write peers.json and peers.md here")
	spanflowBin = flag.String("peers.spanflow", "../../bin/spanflow", "the spanflow binary")
	rateList    = flag.String("peers.rates", "100000,0", "offered rates in packets/s, 0 for top speed")
	mixList     = flag.String("peers.mixes", "steady,realistic,short,flood", "mixes")
	probeList   = flag.String("peers.probes", "spanflow,softflowd,pmacctd", "probes")
	topFor      = flag.Duration("peers.top-duration", 5*time.Second, "how long a top-speed run sends")
	commitName  = flag.String("peers.commit", "", "what the spanflow binary was built from (default: HEAD, and whether the tree had changes)")
	render      = flag.String("peers.render", "", "only write peers.md again from this peers.json, an absolute path (no runs)")
	keepDir     = flag.String("peers.keep", "", "copy each run's nfcapd files into this directory")
)

// Paced runs send a fixed count, so every probe sees the same packets;
// top-speed runs send for -peers.top-duration, at most topLimit.
const (
	pacedPackets = 500_000
	topLimit     = 20_000_000
	// The short mix's paced run is 391 rounds of 256 flows: 100,096
	// flows of 1-5 packets (numbered up to 2^32, so the limit is in
	// sequence numbers: 5 slots a flow).
	shortPacedSeqs = 391 * lanes * 5
	senderCPU      = 0 // the generator's CPU; the capture NAPI thread gets the other
	napiCPU        = 1
)

// Result is one run: a mix at a rate, watched by one probe.
type Result struct {
	Mix, Probe, Sender string
	Rate               float64 // asked, packets/s (0: top speed)
	Sent               Truth
	SendSeconds        float64
	OfferedPPS         float64
	Got                Received
	PacketsPct         float64
	BytesPct           float64
	FlowsPct           float64
	// CPU seconds: the probe's processes at start-up (until ready), from
	// the first packet until it went idle after the last (steady), and
	// from the stop request to exit (shutdown); the capture interface's
	// NAPI thread (XDP programs, skb delivery, AF_PACKET copies) from the
	// first packet on; the whole machine and the sender thread over the
	// sending window, and what of the machine's time was none of sender,
	// NAPI thread, probe and collector (other work on the machine).
	StartCPU, SteadyCPU, ShutdownCPU, NAPICPU, MachineCPU, SenderCPU, OtherCPU float64
	LoadAvg                                                                    string // when the run started
	PeakRSSKiB                                                                 uint64
	CaptureRx, CaptureRxDropped                                                uint64 // pbrx0's counters
	QdiscRefused                                                               uint64 // frames the sender retried (never lost)
	CollectorDrops                                                             int    // datagrams nfcapd's socket dropped
	ProbeStats                                                                 string // what the probe says of itself
	ProbeLog                                                                   string // its last lines
}

// PerMpkt divides CPU seconds by the millions of packets sent.
func (r Result) PerMpkt(cpu float64) float64 { return cpu / (float64(r.Sent.Packets) / 1e6) }

func TestPeers(t *testing.T) {
	if !*runPeers {
		t.Skip("the peer benchmark runs only from make bench-peers (go test -run TestPeers -args -peers)")
	}
	if *render != "" {
		var rep Report
		b, err := os.ReadFile(*render)
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err == nil {
			err = rep.Write(*outDir)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	probetest.RequireRoot(t)
	for _, tool := range []string{"softflowd", "softflowctl", "pmacctd", "nfcapd", "nfdump"} {
		exportertest.RequireTool(t, tool)
	}
	if _, err := os.Stat(*spanflowBin); err != nil {
		t.Fatalf("spanflow binary: %v (make build)", err)
	}
	if *outDir == "" {
		t.Fatal("-peers.out is required")
	}
	gen, err := LoadLiveGen()
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()

	var rates []float64
	for _, s := range strings.Split(*rateList, ",") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		rates = append(rates, v)
	}
	report := Report{Started: time.Now().UTC(), Kernel: uname(), CPUs: cpuModel(), Commit: *commitName}
	if report.Commit == "" {
		report.Commit = commit()
	}
	if out, err := exec.Command(*spanflowBin, "version").Output(); err == nil {
		report.Spanflow = strings.TrimSpace(string(out))
	}
	for _, m := range parseMixes(t, *mixList) {
		for _, rate := range rates {
			for _, p := range probes(*spanflowBin) {
				if !strings.Contains(","+*probeList+",", ","+p.name+",") {
					continue
				}
				name := fmt.Sprintf("%v/%s/%s", m, rateName(rate), p.name)
				t.Run(name, func(t *testing.T) {
					res := runOne(t, gen, m, rate, p)
					t.Logf("%s: sent %d packets (%.0f/s by %s), nfdump %d records %d packets (%.2f%%) %d bytes (%.2f%%) %d flows of %d; probe CPU start %.2f s, steady %.2f s/Mpkt, NAPI %.2f s/Mpkt, machine %.2f s/Mpkt, sender %.2f s/Mpkt; peak RSS %d MiB; collector drops %d, capture rx dropped %d",
						name, res.Sent.Packets, res.OfferedPPS, res.Sender, res.Got.Records, res.Got.Packets, res.PacketsPct,
						res.Got.Bytes, res.BytesPct, res.Got.Flows, res.Sent.Flows, res.StartCPU, res.PerMpkt(res.SteadyCPU),
						res.PerMpkt(res.NAPICPU), res.PerMpkt(res.MachineCPU), res.PerMpkt(res.SenderCPU), res.PeakRSSKiB>>10,
						res.CollectorDrops, res.CaptureRxDropped)
					report.Runs = append(report.Runs, res)
				})
			}
		}
	}
	report.Finished = time.Now().UTC()
	if err := report.Write(*outDir); err != nil {
		t.Fatal(err)
	}
}

func parseMixes(t *testing.T, list string) []Mix {
	var mixes []Mix
	for _, s := range strings.Split(list, ",") {
		found := false
		for m := Steady; m <= Flood; m++ {
			if m.String() == s {
				mixes, found = append(mixes, m), true
			}
		}
		if !found {
			t.Fatalf("no mix %q", s)
		}
	}
	return mixes
}

func rateName(rate float64) string {
	if rate == 0 {
		return "top"
	}
	return fmt.Sprintf("%gk", rate/1000)
}

// rig is one run's network: the sender's namespace and the capture
// namespace joined by a veth pair, IPv6 off on both ends so the kernel
// sends nothing of its own on it, and a pfifo_fast qdisc on the sender's
// end: when the capture end's ring is full the veth stops its queue
// (Linux ≥ 6.17) and the qdisc refuses, which tc_livegen retries.
type rig struct {
	sender, capture *probetest.NetNS
	net             *probetest.ReplayNet // names, for its helpers
	txIndex         int
}

func newRig(t *testing.T) *rig {
	r := &rig{sender: probetest.NewNetNS(t), capture: probetest.NewNetNS(t)}
	r.net = &probetest.ReplayNet{Sender: r.sender, Capture: r.capture, TxName: "pbtx0", RxName: captureIface}
	for _, ns := range []*probetest.NetNS{r.sender, r.capture} {
		if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
	}
	probetest.VethPair(t, r.sender, r.net.TxName, r.capture, r.net.RxName)
	err := r.sender.Do(func() error {
		l, err := netlink.LinkByName(r.net.TxName)
		if err != nil {
			return err
		}
		r.txIndex = l.Attrs().Index
		return netlink.QdiscReplace(&netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: r.txIndex, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)},
			QdiscType:  "pfifo_fast",
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// attachBaseline puts xdp_baseline on the capture interface (see
// probe.baseline); it is removed with the namespace.
func (r *rig) attachBaseline(t *testing.T) {
	spec, err := benchprog.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	err = r.capture.Do(func() error {
		l, err := netlink.LinkByName(captureIface)
		if err != nil {
			return err
		}
		lk, err := link.AttachXDP(link.XDPOptions{Program: coll.Programs[benchprog.ProgBaseline], Interface: l.Attrs().Index})
		if err != nil {
			return err
		}
		t.Cleanup(func() { lk.Close() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// napiThread moves the capture interface's NAPI poll into a kernel thread
// of its own, pinned to napiCPU, so the sender (pinned to senderCPU) and
// the receive path each have a CPU; the probes and collectors go where
// the scheduler puts them. It returns the thread's pid.
func (r *rig) napiThread(t *testing.T) int {
	before := napiThreads()
	if err := r.net.SetRxThreadedNAPI(); err != nil {
		t.Fatal(err)
	}
	var pid int
	exportertest.WaitFor(t, 5*time.Second, "the capture interface's NAPI thread", func() bool {
		for p := range napiThreads() {
			if !before[p] {
				pid = p
				return true
			}
		}
		return false
	})
	var set unix.CPUSet
	set.Set(napiCPU)
	if err := unix.SchedSetaffinity(pid, &set); err != nil {
		t.Fatalf("pin NAPI thread %d: %v", pid, err)
	}
	return pid
}

func napiThreads() map[int]bool {
	found := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if st, ok := readStat(pid); ok && strings.HasPrefix(st.comm, "napi/"+captureIface+"-") {
				found[pid] = true
			}
		}
	}
	return found
}

// machineBusy is the CPU time (seconds) all CPUs spent neither idle nor
// waiting for I/O since boot.
func machineBusy() float64 {
	b, _ := os.ReadFile("/proc/stat")
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var busy float64
	for i, s := range f[1:] {
		v, _ := strconv.ParseFloat(s, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is already in user
			busy += v
		}
	}
	return busy / clockTicks
}

func runOne(t *testing.T, gen *LiveGen, m Mix, rate float64, p probe) Result {
	res := Result{Mix: m.String(), Probe: p.name, Rate: rate}
	r := newRig(t)
	dir := t.TempDir()
	flows := t.TempDir()
	collector, err := startNfcapd(t, r, flows)
	if err != nil {
		t.Fatal(err)
	}
	if p.baseline {
		r.attachBaseline(t)
	}
	started := time.Now()
	pr, err := p.start(t, r, dir, fmt.Sprintf("127.0.0.1:%d", collectorPort))
	if err != nil {
		t.Fatal(err)
	}
	if p.cleanup != nil {
		defer p.cleanup(dir)
	}
	if !exportertest.Within(30*time.Second, func() bool { return !pr.running() || p.ready(r, pr, dir) }) || !pr.running() {
		t.Fatalf("%s not ready within 30 s (running %v):\n%s", p.name, pr.running(), pr.out.String())
	}
	time.Sleep(300 * time.Millisecond) // a pcap probe opens its socket before it filters and reads
	napi := r.napiThread(t)
	t.Logf("%s ready after %v", p.name, time.Since(started).Round(time.Millisecond))

	res.StartCPU, _ = pr.usage()
	napi0, _ := readStat(napi)
	collector0, _ := collector.usage()
	machine0 := machineBusy()
	res.LoadAvg = loadAvg()

	limit := uint64(topLimit)
	if rate > 0 {
		limit = pacedPackets
		if m == Short {
			limit = shortPacedSeqs
		}
	}
	if err := gen.Reset(m, 0, limit); err != nil {
		t.Fatal(err)
	}
	sendStart := time.Now()
	err = r.sender.Do(func() error {
		var before, after unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &before)
		var err error
		res.Sender, err = gen.Send(r.txIndex, senderCPU, rate, sendFor(rate))
		unix.Getrusage(unix.RUSAGE_THREAD, &after)
		res.SenderCPU = tv(after.Utime) + tv(after.Stime) - tv(before.Utime) - tv(before.Stime)
		return err
	})
	res.SendSeconds = time.Since(sendStart).Seconds()
	if err != nil {
		t.Fatal(err)
	}
	// The machine over the sending window, and what of it was neither the
	// sender, the receive path, the probe nor its collector: other work.
	res.MachineCPU = machineBusy() - machine0
	probe1, _ := pr.usage()
	napi1, _ := readStat(napi)
	collector1, _ := collector.usage()
	res.OtherCPU = res.MachineCPU - res.SenderCPU - (napi1.cpu - napi0.cpu) - (probe1 - res.StartCPU) - (collector1 - collector0)
	st, err := gen.State()
	if err != nil {
		t.Fatal(err)
	}
	res.Sent = m.TruthOf(st.Next)
	if res.Sent.Packets != st.Sent || res.Sent.Bytes != st.IpBytes || st.Errors != 0 {
		t.Fatalf("the generator counted %d packets, %d bytes, %d errors; the model says %+v for %d sequence numbers", st.Sent, st.IpBytes, st.Errors, res.Sent, st.Next)
	}
	res.OfferedPPS = float64(res.Sent.Packets) / res.SendSeconds
	res.QdiscRefused = st.Refused

	// The probe has had everything once its CPU time stops moving: the
	// pcap probes may still be working through their socket's backlog.
	waitIdle(pr, 2*time.Second, 30*time.Second)
	steady, hwm := pr.usage()
	res.SteadyCPU, res.PeakRSSKiB = steady-res.StartCPU, hwm
	napi2, _ := readStat(napi)
	res.NAPICPU = napi2.cpu - napi0.cpu
	res.ProbeStats = p.stats(pr, dir)
	if stats, err := r.capture.LinkStatistics(captureIface); err == nil {
		res.CaptureRx, res.CaptureRxDropped = stats.RxPackets, stats.RxDropped
	}

	if err := p.stop(pr, dir); err != nil {
		t.Error(err)
	}
	if u := pr.cmd.ProcessState.SysUsage().(*syscall.Rusage); u != nil {
		res.ShutdownCPU = tv(unix.Timeval(u.Utime)) + tv(unix.Timeval(u.Stime)) - steady
	}
	res.ProbeLog = lastLines(pr.out.String(), 40)

	// nfcapd has it all when its socket stays empty and it stops working.
	exportertest.Within(60*time.Second, func() bool {
		_, q, _ := exportertest.UDPSocket(collector.cmd.Process.Pid, collectorPort)
		return q == 0
	})
	waitIdle(collector, time.Second, 60*time.Second)
	_, _, res.CollectorDrops = exportertest.UDPSocket(collector.cmd.Process.Pid, collectorPort)
	if err := collector.stop(syscall.SIGTERM, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if *keepDir != "" {
		if out, err := exec.Command("cp", "-r", flows, *keepDir+"/"+strings.ReplaceAll(t.Name(), "/", "_")).CombinedOutput(); err != nil {
			t.Errorf("keep nfcapd files: %v %s", err, out)
		}
	}
	if res.Got, err = readNfdump(flows, m.KeysOf(st.Next)); err != nil {
		t.Fatal(err)
	}
	res.PacketsPct = pct(res.Got.Packets, res.Sent.Packets)
	res.BytesPct = pct(res.Got.Bytes, res.Sent.Bytes)
	res.FlowsPct = pct(res.Got.Flows, res.Sent.Flows)
	return res
}

func sendFor(rate float64) time.Duration {
	if rate == 0 {
		return *topFor
	}
	return time.Minute // a paced run ends at its limit; this only bounds it
}

// waitIdle waits at least min, then until p's CPU time moved less than
// 20 ms over the last second, at most max.
func waitIdle(p *proc, min, max time.Duration) {
	time.Sleep(min)
	last, _ := p.usage()
	for deadline := time.Now().Add(max - min); time.Now().Before(deadline) && p.running(); {
		time.Sleep(time.Second)
		now, _ := p.usage()
		if now-last < 0.02 {
			return
		}
		last = now
	}
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func tv(v unix.Timeval) float64 { return float64(v.Sec) + float64(v.Usec)/1e6 }

func pct(got, want uint64) float64 {
	if want == 0 {
		return 0
	}
	return 100 * float64(got) / float64(want)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// commit names HEAD, and says so when the tree the binary was built from
// had uncommitted changes to non-test Go or C files.
func commit() string {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(head))
	out, _ := exec.Command("git", "status", "--porcelain", "--", ":/cmd", ":/bpf", ":/probe", ":/cache", ":/exporter").Output()
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasSuffix(l, "_test.go") && !strings.Contains(l, "bpf/benchprog/") {
			n++
		}
	}
	if n > 0 {
		c += fmt.Sprintf(" with uncommitted changes to %d source files", n)
	}
	return c
}

func uname() string {
	out, _ := exec.Command("uname", "-r").Output()
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return fmt.Sprintf("%d × %s", strings.Count(string(b), "processor\t:"), strings.TrimSpace(v))
		}
	}
	return ""
}

// Report is every run, as peers.json holds it.
type Report struct {
	Started, Finished time.Time
	Kernel, CPUs      string
	Commit, Spanflow  string // HEAD (and whether the tree had changes), spanflow version
	Runs              []Result
}

// Write writes peers.json and peers.md into dir.
func (rep *Report) Write(dir string) error {
	b, err := json.MarshalIndent(rep, "", "\t")
	if err != nil {
		return err
	}
	if err := os.WriteFile(dir+"/peers.json", b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(dir+"/peers.md", []byte(rep.Markdown()), 0o644)
}
