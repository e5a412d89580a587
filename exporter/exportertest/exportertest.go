// Package exportertest holds the helpers of the tests that run spanflow's
// export through real collectors (tshark, nfcapd/nfdump, pmacct's nfacctd,
// goflow2) and through spanflow's own `collect`: finding a tool, waiting
// for a condition, reading a child's output while it runs, a free loopback
// port and the state of a UDP socket. It sits at the far end of NIC → map
// → Delta → Record → datagram → collector, on the collector's side, and is
// imported by tests only (exporter's and cmd/spanflow's), never by the
// daemon.
package exportertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireTool returns the path of an external program the test needs;
// missing, see Missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, fmt.Sprintf("%s not installed (scripts/setup.sh installs it): %v", name, err))
	}
	return p
}

// Missing stops a test for want of a tool or data it needs: a failure in
// CI (CI=true) and as root, where scripts/setup.sh has installed every
// tool, and a skip, saying why, elsewhere.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Geteuid() == 0 {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Poll is how often Within checks its condition.
const Poll = 20 * time.Millisecond

// Within checks cond every Poll for up to d and reports whether it held.
// cond is checked at least once, and once more after the deadline.
func Within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(Poll) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// WaitFor waits up to d for cond and fails the test, saying what it waited
// for, when cond does not hold by then.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(d, cond) {
		t.Fatalf("%s: not within %v", what, d)
	}
}

// Buffer is a child's output that the test reads while the child writes
// it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// UDPSocket reads the UDP socket bound to 127.0.0.1:port from the network
// namespace of process pid (0: this process's): whether it exists, its
// receive queue in bytes and the datagrams it dropped for want of receive
// buffer.
func UDPSocket(pid, port int) (found bool, rxQueue, drops int) {
	path := "/proc/net/udp"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/net/udp", pid)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return false, 0, 0
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) <= 4 || f[1] != local {
			continue
		}
		if _, q, ok := strings.Cut(f[4], ":"); ok {
			v, _ := strconv.ParseInt(q, 16, 64)
			rxQueue = int(v)
		}
		if len(f) > 12 {
			drops, _ = strconv.Atoi(f[12])
		}
		return true, rxQueue, drops
	}
	return false, 0, 0
}

// UDPBound reports whether something listens on 127.0.0.1:port in this
// process's namespace.
func UDPBound(port int) bool { found, _, _ := UDPSocket(0, port); return found }

// UDPDrained reports whether the socket on 127.0.0.1:port exists and its
// reader has taken every queued datagram.
func UDPDrained(port int) bool { found, q, _ := UDPSocket(0, port); return found && q == 0 }

// NfdumpFlags is how nfdump prints TCP flags: CEUAPRSF, a dot for each
// flag not set.
func NfdumpFlags(f uint8) string {
	const letters = "CEUAPRSF"
	b := []byte("........")
	for i := range 8 {
		if f&(0x80>>i) != 0 {
			b[i] = letters[i]
		}
	}
	return string(b)
}

// Proc is a child process a test started: a collector, spanflow itself,
// tcpreplay. Its cleanup kills it if the test has not stopped it.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Out    *Buffer // stderr, and stdout unless the caller set cmd.Stdout
	exited chan struct{}
	group  bool
}

// Start starts cmd with TZ=UTC, by start (a network namespace's Start,
// say) or, when start is nil, by cmd.Start in a process group of its own
// (pmacct forks plugins, tshark runs dumpcap: a signal must reach them
// all).
func Start(t testing.TB, name string, cmd *exec.Cmd, start func(*exec.Cmd) error) (*Proc, error) {
	p := &Proc{Name: name, Cmd: cmd, Out: &Buffer{}, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Out
	}
	cmd.Stderr = p.Out
	cmd.Env = append(os.Environ(), "TZ=UTC")
	if start == nil {
		p.group = true
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start = (*exec.Cmd).Start
	}
	if err := start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		if p.Running() {
			p.signal(syscall.SIGKILL)
			<-p.exited
		}
	})
	return p, nil
}

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *Proc) signal(sig syscall.Signal) {
	if p.group {
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
	} else {
		_ = p.Cmd.Process.Signal(sig)
	}
}

// Stop sends sig (to the group, if it has one) and waits up to within for
// the process to exit; past that it kills it and fails the test. It
// returns the exit code (-1 when a signal ended it).
func (p *Proc) Stop(t testing.TB, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	if p.Running() {
		p.signal(sig)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		p.signal(syscall.SIGKILL)
		<-p.exited
		t.Fatalf("%s did not exit within %v of %v; its output:\n%s", p.Name, within, sig, p.Out.String())
	}
	return p.Cmd.ProcessState.ExitCode()
}
