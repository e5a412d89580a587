package peers

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// proc is a probe or a collector started in a network namespace, in a
// process group of its own: pmacctd forks its plugins, so signals go to
// the group and CPU time and memory are the group's.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *exportertest.Buffer
	done chan struct{}
}

func startProc(t *testing.T, ns *probetest.NetNS, name string, args ...string) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(args[0], args[1:]...), out: &exportertest.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "TZ=UTC")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ns.Start(p.cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if p.running() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop signals the group and waits up to within for the leader to exit.
func (p *proc) stop(sig syscall.Signal, within time.Duration) error {
	if p.running() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(within):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %v of %v", p.name, within, sig)
	}
}

// usage adds up the CPU time (utime+stime, seconds) and peak resident
// memory (VmHWM, KiB) of the group's live processes.
func (p *proc) usage() (cpu float64, hwmKiB uint64) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.pgrp != p.cmd.Process.Pid {
			continue
		}
		cpu += st.cpu
		hwmKiB += vmHWM(pid)
	}
	return cpu, hwmKiB
}

type procStat struct {
	comm string
	pgrp int
	cpu  float64 // utime+stime, seconds
}

// readStat reads /proc/PID/stat (or /proc/PID/task/TID/stat via a path).
func readStat(pid int) (procStat, bool) {
	return readStatFile(fmt.Sprintf("/proc/%d/stat", pid))
}

func readStatFile(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return procStat{}, false
	}
	pgrp, _ := strconv.Atoi(f[2])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return procStat{comm: string(b[open+1 : end]), pgrp: pgrp, cpu: (utime + stime) / clockTicks}, true
}

const clockTicks = 100 // USER_HZ: the unit of /proc's CPU times on Linux

func vmHWM(pid int) uint64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return v
}

// probe is one of the probes compared: how an operator would start it
// with its defaults, exporting NetFlow v9 to collector, and what it says
// of its own losses.
type probe struct {
	name string
	// baseline: attach xdp_baseline (XDP_PASS) to the capture interface
	// first, so the veth receives in NAPI mode as it does under
	// spanflow's XDP program: the same receive path for every probe.
	baseline bool
	start    func(t *testing.T, r *rig, dir, collector string) (*proc, error)
	ready    func(r *rig, p *proc, dir string) bool
	stats    func(p *proc, dir string) string // its own counters, before it stops
	// stop asks the probe to export what it holds and exit. SIGTERM
	// does that for spanflow only: softflowd 1.1.0 (despite its manual)
	// and pmacctd exit on SIGTERM without exporting their active flows.
	stop    func(p *proc, dir string) error
	cleanup func(dir string)
}

const stopWithin = 120 * time.Second

func stopBy(sig syscall.Signal) func(*proc, string) error {
	return func(p *proc, _ string) error { return p.stop(sig, stopWithin) }
}

const captureIface = "pbrx0"

func probes(spanflowBin string) []probe {
	return []probe{
		{
			name: "spanflow",
			start: func(t *testing.T, r *rig, dir, collector string) (*proc, error) {
				return startProc(t, r.capture, "spanflow", spanflowBin, "-i", captureIface, "-n", collector, "-v", "9",
					"--control", filepath.Join(dir, "ctl"), "--pin-dir", spanflowPinDir(dir))
			},
			ready: func(_ *rig, _ *proc, dir string) bool {
				_, err := spanflowShow(spanflowBin, dir, "stats")
				return err == nil
			},
			stats: func(_ *proc, dir string) string {
				out, err := spanflowShow(spanflowBin, dir, "stats", "--json")
				if err != nil {
					return err.Error()
				}
				return out
			},
			stop: stopBy(syscall.SIGTERM),
			// Pinned maps and the link outlive the namespace otherwise.
			cleanup: func(dir string) { os.RemoveAll(spanflowPinDir(dir)) },
		},
		{
			name:     "softflowd",
			baseline: true,
			start: func(t *testing.T, r *rig, dir, collector string) (*proc, error) {
				return startProc(t, r.capture, "softflowd", "softflowd", "-d", "-i", captureIface, "-n", collector, "-v", "9",
					"-c", filepath.Join(dir, "ctl"), "-p", filepath.Join(dir, "pid"))
			},
			ready: packetSocketOpen,
			stats: func(_ *proc, dir string) string {
				out, err := exec.Command("softflowctl", "-c", filepath.Join(dir, "ctl"), "statistics").CombinedOutput()
				if err != nil {
					return fmt.Sprintf("softflowctl: %v %s", err, out)
				}
				return string(out)
			},
			// softflowctl shutdown: "exit gracefully, expiring all flows".
			stop: func(p *proc, dir string) error {
				if out, err := exec.Command("softflowctl", "-c", filepath.Join(dir, "ctl"), "shutdown").CombinedOutput(); err != nil {
					return fmt.Errorf("softflowctl shutdown: %v %s", err, out)
				}
				return p.stop(0, stopWithin) // signal 0: only wait
			},
		},
		{
			name:     "pmacctd",
			baseline: true,
			start: func(t *testing.T, r *rig, dir, collector string) (*proc, error) {
				conf := filepath.Join(dir, "pmacctd.conf")
				// An operator's nfprobe: the 5-tuple and ToS, v9 to the
				// collector, everything else pmacct's defaults.
				err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
pcap_interface: %s
aggregate: src_host, dst_host, src_port, dst_port, proto, tos
plugins: nfprobe
nfprobe_receiver: %s
nfprobe_version: 9
`, captureIface, collector)), 0o644)
				if err != nil {
					return nil, err
				}
				return startProc(t, r.capture, "pmacctd", "pmacctd", "-f", conf)
			},
			ready: packetSocketOpen,
			// SIGUSR1 to the core: it logs its capture's received and
			// dropped packets.
			stats: func(p *proc, _ string) string {
				before := len(p.out.String())
				_ = p.cmd.Process.Signal(syscall.SIGUSR1)
				time.Sleep(time.Second)
				return p.out.String()[before:]
			},
			stop: stopBy(syscall.SIGINT),
		},
	}
}

func spanflowPinDir(dir string) string {
	return "/sys/fs/bpf/spanflow-peers-" + strings.ReplaceAll(strings.Trim(dir, "/"), "/", "-")
}

func spanflowShow(bin, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"show"}, args...), "--control", filepath.Join(dir, "ctl"))...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("spanflow show %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// packetSocketOpen: a pcap probe is ready once it has a packet socket in
// the capture namespace (nothing else there opens one).
func packetSocketOpen(_ *rig, p *proc, _ string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/packet", p.cmd.Process.Pid))
	return err == nil && strings.Count(strings.TrimSpace(string(b)), "\n") >= 1
}

// collectorPort is where each run's nfcapd listens: on the capture
// namespace's own loopback, so a fixed port is free.
const collectorPort = 9995

func startNfcapd(t *testing.T, r *rig, dir string) (*proc, error) {
	// -B: as large a socket buffer as net.core.rmem_max allows; what it
	// still drops is read back from the socket and reported.
	p, err := startProc(t, r.capture, "nfcapd", "nfcapd", "-p", strconv.Itoa(collectorPort), "-b", "127.0.0.1",
		"-w", dir, "-t", "3600", "-B", "67108864")
	if err != nil {
		return nil, err
	}
	if !exportertest.Within(10*time.Second, func() bool {
		found, _, _ := exportertest.UDPSocket(p.cmd.Process.Pid, collectorPort)
		return found || !p.running()
	}) || !p.running() {
		return nil, fmt.Errorf("nfcapd not listening within 10 s: %s", p.out.String())
	}
	return p, nil
}

// Received is what a collector got, as nfdump reads it.
type Received struct {
	Records, Packets, Bytes uint64
	Flows                   uint64 // sent flows with at least one record
	Foreign                 uint64 // distinct 5-tuples of records that are no sent flow
}

// readNfdump sums what nfcapd wrote to dir (nfdump -I: records,
// packets, bytes), and matches the distinct 5-tuples of the records
// (nfdump -a aggregates on them) against the flows sent.
func readNfdump(dir string, sent map[Key]struct{}) (Received, error) {
	var r Received
	out, err := nfdump(dir, "-I")
	if err != nil {
		return r, err
	}
	for _, f := range []struct {
		name string
		v    *uint64
	}{{"Flows", &r.Records}, {"Packets", &r.Packets}, {"Bytes", &r.Bytes}} {
		m := regexp.MustCompile(`(?m)^` + f.name + `: (\d+)$`).FindSubmatch(out)
		if m == nil {
			return r, fmt.Errorf("nfdump -I printed no %s:\n%s", f.name, out)
		}
		*f.v, _ = strconv.ParseUint(string(m[1]), 10, 64)
	}
	if r.Records == 0 {
		return r, nil // nfdump -a would print "No matching flows"
	}
	// CSV: full IPv6 addresses; columns 3-7 are sa, da, sp, dp, pr.
	if out, err = nfdump(dir, "-q", "-a", "-o", "csv"); err != nil {
		return r, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, ok := csvKey(line); ok {
			if _, ok := sent[k]; ok {
				r.Flows++
				continue
			}
		}
		r.Foreign++
	}
	return r, nil
}

var protoNumbers = map[string]uint8{"ICMP": protoICMP, "TCP": protoTCP, "UDP": protoUDP}

func csvKey(line string) (Key, bool) {
	f := strings.Split(line, ",")
	if len(f) < 8 {
		return Key{}, false
	}
	src, err1 := netip.ParseAddr(f[3])
	dst, err2 := netip.ParseAddr(f[4])
	sp, err3 := strconv.ParseUint(f[5], 10, 16)
	dp, err4 := strconv.ParseUint(f[6], 10, 16)
	proto, ok := protoNumbers[f[7]]
	if !ok || err1 != nil || err2 != nil {
		return Key{}, false
	}
	k := Key{Proto: proto, Src: src.As16(), Dst: dst.As16()}
	if proto != protoICMP {
		if err3 != nil || err4 != nil {
			return Key{}, false
		}
		k.Sport, k.Dport = uint16(sp), uint16(dp)
	}
	return k, true
}

func nfdump(dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nfdump", append([]string{"-R", dir}, args...)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("nfdump %v: %v: %s", args, err, errOut.String())
	}
	return out, nil
}
