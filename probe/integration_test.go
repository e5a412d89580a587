package probe

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/probetest"
)

// replaySetup is the test network of a replay: tcpreplay writes into
// txName in the sender namespace; the probe listens on its peer rxName.
type replaySetup struct {
	sender, capture *probetest.NetNS
	txName, rxName  string
	rxIndex         int
}

// newReplaySetup creates two namespaces joined by a veth pair, quiet
// enough that only replayed frames reach the probe.
func newReplaySetup(t *testing.T) *replaySetup {
	t.Helper()
	s := &replaySetup{
		sender: probetest.NewNetNS(t), capture: probetest.NewNetNS(t),
		txName: "sftx0", rxName: "sfrx0",
	}
	// Without this the sender's kernel sends its own IPv6 (MLD reports,
	// router solicitations, DAD) and the probe sees flows the capture lacks.
	for _, ns := range []*probetest.NetNS{s.sender, s.capture} {
		if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
	}
	probetest.VethPair(t, s.sender, s.txName, s.capture, s.rxName)
	var err error
	if s.rxIndex, err = s.capture.LinkIndex(s.rxName); err != nil {
		t.Fatal(err)
	}
	return s
}

// linkCounters describes both ends of the veth pair for failure messages.
func (s *replaySetup) linkCounters() string {
	var b strings.Builder
	for _, end := range []struct {
		ns   *probetest.NetNS
		name string
	}{{s.sender, s.txName}, {s.capture, s.rxName}} {
		st, err := end.ns.LinkStatistics(end.name)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v; ", end.name, err)
			continue
		}
		fmt.Fprintf(&b, "%s: tx %d dropped %d, rx %d dropped %d; ", end.name,
			st.TxPackets, st.TxDropped, st.RxPackets, st.RxDropped)
	}
	return b.String()
}

// tcpreplayReport is what tcpreplay prints at the end of a run.
type tcpreplayReport struct {
	Sent, Successful, Failed, Truncated uint64
	RetriedENOBUFS, RetriedEAGAIN       uint64
	Seconds, PPS                        float64
}

var tcpreplayFields = map[string]*regexp.Regexp{
	"sent":       regexp.MustCompile(`Actual: (\d+) packets .* sent in ([0-9.]+) seconds`),
	"pps":        regexp.MustCompile(`Rated: .* ([0-9.]+) pps`),
	"successful": regexp.MustCompile(`Successful packets:\s+(\d+)`),
	"failed":     regexp.MustCompile(`Failed packets:\s+(\d+)`),
	"truncated":  regexp.MustCompile(`Truncated packets:\s+(\d+)`),
	"enobufs":    regexp.MustCompile(`Retried packets \(ENOBUFS\):\s+(\d+)`),
	"eagain":     regexp.MustCompile(`Retried packets \(EAGAIN\):\s+(\d+)`),
}

func parseTcpreplay(out string) (tcpreplayReport, error) {
	var r tcpreplayReport
	num := func(name string, i int) (float64, error) {
		m := tcpreplayFields[name].FindStringSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("tcpreplay printed no %q line", name)
		}
		return strconv.ParseFloat(m[i], 64)
	}
	for _, f := range []struct {
		name string
		i    int
		u    *uint64
		f    *float64
	}{
		{"sent", 1, &r.Sent, nil}, {"sent", 2, nil, &r.Seconds}, {"pps", 1, nil, &r.PPS},
		{"successful", 1, &r.Successful, nil}, {"failed", 1, &r.Failed, nil},
		{"truncated", 1, &r.Truncated, nil}, {"enobufs", 1, &r.RetriedENOBUFS, nil},
		{"eagain", 1, &r.RetriedEAGAIN, nil},
	} {
		v, err := num(f.name, f.i)
		if err != nil {
			return r, err
		}
		if f.u != nil {
			*f.u = uint64(v)
		} else {
			*f.f = v
		}
	}
	return r, nil
}

// TestReplayIntoVethCountsEveryPacket replays a generated capture of over a
// million frames in 120k flows at top speed into a veth whose peer has the
// probe attached natively, harvesting every 100 ms while it runs. The
// summed deltas must equal the capture's ground truth exactly: every key,
// packet, byte and TCP flag, no key more or less.
func TestReplayIntoVethCountsEveryPacket(t *testing.T) {
	probetest.RequireRoot(t)
	tcpreplay, err := exec.LookPath("tcpreplay")
	if err != nil {
		t.Fatalf("tcpreplay is needed as root (scripts/setup.sh installs it): %v", err)
	}
	s := newReplaySetup(t)

	genStart := time.Now()
	c, err := probetest.WriteCapture(filepath.Join(t.TempDir(), "replay.pcap"), probetest.GenConfig{
		Packets: 1 << 20, Flows: 120_000, Seed: 2026, Ifindex: uint32(s.rxIndex),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d frames (%d bytes) in %d flows in %v; mix %v",
		c.Packets, c.FrameBytes, len(c.Flows), time.Since(genStart).Round(time.Millisecond), c.Frames)

	// One slot holds a 100 ms interval even if every flow shows up in it.
	p := openProbe(t, Options{MapEntries: 1 << 18, Action: ActionDrop})
	err = s.capture.Do(func() error {
		_, err := p.Attach(s.rxName, ModeNative, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tcpreplay, "--topspeed", "--preload-pcap", "--intf1="+s.txName, c.Path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := s.sender.Start(cmd); err != nil {
		t.Fatalf("start tcpreplay in the sender namespace: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-done }) // no tcpreplay outlives the test

	got := make(map[bpf.FlowKey]probetest.FlowTotals, len(c.Flows))
	var deltas []cache.Delta
	var stats Stats
	harvests, busy := 0, 0
	harvest := func() {
		var err error
		deltas, stats, err = p.Harvest(deltas[:0])
		if err != nil {
			t.Fatal(err)
		}
		harvests++
		if len(deltas) > 0 {
			busy++
		}
		for _, d := range deltas {
			g := got[d.Key]
			g.Packets += d.Packets
			g.Bytes += d.Bytes
			g.TCPFlags |= d.TCPFlags
			got[d.Key] = g
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var replayErr error
	for running := true; running; {
		select {
		case replayErr = <-done:
			done <- replayErr // for the cleanup
			running = false
		case <-tick.C:
			harvest()
		}
	}
	if replayErr != nil {
		t.Fatalf("tcpreplay: %v\n%s", replayErr, out.String())
	}
	report, err := parseTcpreplay(out.String())
	if err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}

	// tcpreplay is done once the kernel took the last frame; the veth may
	// still hold some for the probe. Wait (bounded) until the datapath has
	// seen as many as were sent.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if stats, err = p.Stats(); err != nil || stats.Total() >= uint64(c.Packets) {
			break
		}
	}
	harvest()

	t.Logf("tcpreplay: %d frames in %.2f s, %.0f packets/s; failed %d, retried ENOBUFS %d EAGAIN %d",
		report.Sent, report.Seconds, report.PPS, report.Failed, report.RetriedENOBUFS, report.RetriedEAGAIN)
	t.Logf("%d harvests, %d of them with flows; links: %s", harvests, busy, s.linkCounters())

	if report.Successful != uint64(c.Packets) || report.Failed != 0 || report.Truncated != 0 {
		t.Errorf("tcpreplay sent %d of %d frames (failed %d, truncated %d)",
			report.Successful, c.Packets, report.Failed, report.Truncated)
	}
	acc := stats[bpf.StatAccounted]
	if acc.Packets != uint64(c.Packets) || acc.Bytes != c.IPBytes || stats.Total() != acc.Packets || stats[bpf.StatNoL4].Packets != 0 {
		t.Errorf("datapath stats: accounted %d packets %d bytes of %d packets %d bytes; all outcomes %d; by reason %+v",
			acc.Packets, acc.Bytes, c.Packets, c.IPBytes, stats.Total(), stats)
	}
	if diff := diffFlows(c.Flows, got); diff != "" {
		t.Errorf("harvested flows differ from the capture's ground truth:\n%s", diff)
	}
}

// diffFlows lists how got differs from want: missing, extra and different
// keys (the first few of each) and the totals.
func diffFlows(want, got map[bpf.FlowKey]probetest.FlowTotals) string {
	var missing, extra, differ []string
	var wantTotal, gotTotal probetest.FlowTotals
	for k, w := range want {
		wantTotal.Packets += w.Packets
		wantTotal.Bytes += w.Bytes
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s: want %+v", flowString(k), w))
		case g != w:
			differ = append(differ, fmt.Sprintf("%s: got %+v, want %+v", flowString(k), g, w))
		}
	}
	for k, g := range got {
		gotTotal.Packets += g.Packets
		gotTotal.Bytes += g.Bytes
		if _, ok := want[k]; !ok {
			extra = append(extra, fmt.Sprintf("%s: got %+v", flowString(k), g))
		}
	}
	if len(missing)+len(extra)+len(differ) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d flows, %d packets, %d bytes; want %d flows, %d packets, %d bytes\n",
		len(got), gotTotal.Packets, gotTotal.Bytes, len(want), wantTotal.Packets, wantTotal.Bytes)
	for _, l := range []struct {
		what  string
		lines []string
	}{{"missing", missing}, {"extra", extra}, {"different", differ}} {
		if len(l.lines) == 0 {
			continue
		}
		slices.Sort(l.lines)
		fmt.Fprintf(&b, "%d %s, e.g.:\n  %s\n", len(l.lines), l.what, strings.Join(l.lines[:min(len(l.lines), 8)], "\n  "))
	}
	return b.String()
}

func flowString(k bpf.FlowKey) string {
	return fmt.Sprintf("v%d proto %d %v:%d → %v:%d tos %#x vlan %d/%d if %d",
		k.IpVersion, k.Proto, k.SrcIP(), k.SrcPort, k.DstIP(), k.DstPort, k.Tos, k.VlanId, k.InnerVlanId, k.Ifindex)
}
