package probetest

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// ReplayNet is two network namespaces joined by a veth pair: captures are
// replayed into TxName in Sender and arrive on RxName in Capture, where
// the probe listens. Nothing else arrives there: IPv6 is off on both ends
// (no MLD, router solicitation or DAD of the kernel's own) and neither end
// has an address.
type ReplayNet struct {
	Sender, Capture *NetNS
	TxName, RxName  string
	RxIndex         int // ifindex of RxName inside Capture
}

// NewReplayNet creates the namespaces and the veth pair; they go away at
// cleanup. TxName gets a pfifo_fast qdisc instead of veth's default
// noqueue: when the receiver's ring is full (XDP attached, consumer
// behind) the veth then stops its queue and the qdisc holds the frames
// (backpressure, Linux ≥ 6.17) instead of refusing them.
func NewReplayNet(t testing.TB) *ReplayNet {
	t.Helper()
	n := &ReplayNet{Sender: NewNetNS(t), Capture: NewNetNS(t), TxName: "sftx0", RxName: "sfrx0"}
	for _, ns := range []*NetNS{n.Sender, n.Capture} {
		if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
	}
	VethPair(t, n.Sender, n.TxName, n.Capture, n.RxName)
	err := n.Sender.Do(func() error {
		l, err := netlink.LinkByName(n.TxName)
		if err != nil {
			return err
		}
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)},
			QdiscType:  "pfifo_fast",
		}
		if err := netlink.QdiscReplace(q); err != nil {
			return fmt.Errorf("pfifo_fast qdisc on %s: %w", n.TxName, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.RxIndex, err = n.Capture.LinkIndex(n.RxName); err != nil {
		t.Fatal(err)
	}
	return n
}

// SetRxThreadedNAPI moves the NAPI poll of RxName, where its XDP program
// runs, from softirq context (usually on the sender's CPU, inline with the
// send) into a kernel thread of its own, so sender and datapath run on
// different CPUs and the veth ring can fill. NAPI exists only while an XDP
// program is attached: call it after attaching. The knob lives in sysfs,
// which shows a namespace's interfaces only when mounted from inside it, so
// this mounts one in a private mount namespace (unshare -m).
func (n *ReplayNet) SetRxThreadedNAPI() error {
	script := fmt.Sprintf("mount -t sysfs sysfs /sys && echo 1 > /sys/class/net/%[1]s/threaded && cat /sys/class/net/%[1]s/threaded", n.RxName)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Capture.Run(cmd); err != nil || strings.TrimSpace(out.String()) != "1" {
		return fmt.Errorf("threaded NAPI on %s: %v %s", n.RxName, err, out.String())
	}
	return nil
}

// LinkCounters describes the counters of both veth ends and of the
// sender's qdisc, for logs and failure messages.
func (n *ReplayNet) LinkCounters() string {
	var b strings.Builder
	for _, end := range []struct {
		ns   *NetNS
		name string
	}{{n.Sender, n.TxName}, {n.Capture, n.RxName}} {
		st, err := end.ns.LinkStatistics(end.name)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v; ", end.name, err)
			continue
		}
		fmt.Fprintf(&b, "%s: tx %d dropped %d, rx %d dropped %d; ", end.name,
			st.TxPackets, st.TxDropped, st.RxPackets, st.RxDropped)
	}
	n.Sender.Do(func() error {
		l, err := netlink.LinkByName(n.TxName)
		if err != nil {
			return err
		}
		qs, err := netlink.QdiscList(l)
		for _, q := range qs {
			if s := q.Attrs().Statistics; s != nil && q.Attrs().Parent == netlink.HANDLE_ROOT {
				fmt.Fprintf(&b, "%s qdisc %s: sent %d, dropped %d, requeued %d",
					n.TxName, q.Type(), s.Basic.Packets, s.Queue.Drops, s.Queue.Requeues)
			}
		}
		return err
	})
	return b.String()
}

// TcpreplayReport is what tcpreplay prints at the end of a run.
type TcpreplayReport struct {
	Sent, Successful, Failed, Truncated uint64
	RetriedENOBUFS, RetriedEAGAIN       uint64 // refused by the kernel, sent again
	Seconds, PPS                        float64
	Output                              string
}

var tcpreplayLines = []struct {
	re   *regexp.Regexp
	dest func(r *TcpreplayReport) []any // one pointer per submatch
}{
	{regexp.MustCompile(`Actual: (\d+) packets .* sent in ([0-9.]+) seconds`),
		func(r *TcpreplayReport) []any { return []any{&r.Sent, &r.Seconds} }},
	{regexp.MustCompile(`Rated: .* ([0-9.]+) pps`), func(r *TcpreplayReport) []any { return []any{&r.PPS} }},
	{regexp.MustCompile(`Successful packets:\s+(\d+)`), func(r *TcpreplayReport) []any { return []any{&r.Successful} }},
	{regexp.MustCompile(`Failed packets:\s+(\d+)`), func(r *TcpreplayReport) []any { return []any{&r.Failed} }},
	{regexp.MustCompile(`Truncated packets:\s+(\d+)`), func(r *TcpreplayReport) []any { return []any{&r.Truncated} }},
	{regexp.MustCompile(`Retried packets \(ENOBUFS\):\s+(\d+)`), func(r *TcpreplayReport) []any { return []any{&r.RetriedENOBUFS} }},
	{regexp.MustCompile(`Retried packets \(EAGAIN\):\s+(\d+)`), func(r *TcpreplayReport) []any { return []any{&r.RetriedEAGAIN} }},
}

// ParseTcpreplay reads tcpreplay's closing statistics.
func ParseTcpreplay(out string) (TcpreplayReport, error) {
	r := TcpreplayReport{Output: out}
	for _, l := range tcpreplayLines {
		m := l.re.FindStringSubmatch(out)
		if m == nil {
			return r, fmt.Errorf("tcpreplay printed no line matching %q", l.re)
		}
		for i, d := range l.dest(&r) {
			var err error
			switch d := d.(type) {
			case *uint64:
				*d, err = strconv.ParseUint(m[i+1], 10, 64)
			case *float64:
				*d, err = strconv.ParseFloat(m[i+1], 64)
			}
			if err != nil {
				return r, fmt.Errorf("tcpreplay line %q: %w", m[0], err)
			}
		}
	}
	return r, nil
}

// Replay is a tcpreplay run in the sender namespace.
type Replay struct {
	cmd  *exec.Cmd
	out  strings.Builder
	done chan struct{}
	err  error
}

// StartReplay starts `tcpreplay --topspeed` of the capture at path into
// TxName. (No --preload-pcap: a capture just written is in the page cache
// anyway, and preloading a million frames costs ~2 s and ~700 MB.) It ends when the capture has been sent once, when
// ctx ends, or at the test's cleanup, whichever comes first.
func (n *ReplayNet) StartReplay(ctx context.Context, t testing.TB, path string) (*Replay, error) {
	t.Helper()
	bin, err := exec.LookPath("tcpreplay")
	if err != nil {
		return nil, fmt.Errorf("tcpreplay (scripts/setup.sh installs it): %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Replay{done: make(chan struct{})}
	r.cmd = exec.CommandContext(ctx, bin, "--topspeed", "--intf1="+n.TxName, path)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := n.Sender.Start(r.cmd); err != nil {
		cancel()
		return nil, fmt.Errorf("start tcpreplay in the sender namespace: %w", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		cancel()
		close(r.done)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r, nil
}

// Done is closed when tcpreplay has exited.
func (r *Replay) Done() <-chan struct{} { return r.done }

// Wait waits for tcpreplay to exit and returns its report.
func (r *Replay) Wait() (TcpreplayReport, error) {
	<-r.done
	if r.err != nil {
		return TcpreplayReport{Output: r.out.String()}, fmt.Errorf("tcpreplay: %w\n%s", r.err, r.out.String())
	}
	return ParseTcpreplay(r.out.String())
}
