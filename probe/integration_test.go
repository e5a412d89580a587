package probe

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestReplayIntoVethCountsEveryPacket replays a generated capture of over a
// million frames in 120k flows at top speed into a veth whose peer has the
// probe attached natively, harvesting every 100 ms while it runs. The
// summed deltas must equal the capture's ground truth exactly: every key,
// packet, byte and TCP flag, no key more or less. It runs twice: with the
// receiver's NAPI poll (and so the XDP program) in softirq context, mostly
// inline with each send on the sender's CPU, and in a NAPI thread on
// whichever CPU the scheduler picks, where the veth ring can fill and the
// sender's qdisc then holds frames back (its requeue count is logged).
func TestReplayIntoVethCountsEveryPacket(t *testing.T) {
	probetest.RequireRoot(t)
	t.Run("softirq", func(t *testing.T) { replayAndCompare(t, false) })
	t.Run("threaded-napi", func(t *testing.T) { replayAndCompare(t, true) })
}

func replayAndCompare(t *testing.T, threaded bool) {
	s := probetest.NewReplayNet(t)

	genStart := time.Now()
	c, err := probetest.WriteCapture(filepath.Join(t.TempDir(), "replay.pcap"), probetest.GenConfig{
		Packets: 1 << 20, Flows: 120_000, Seed: 2026, Ifindex: uint32(s.RxIndex),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d frames (%d bytes) in %d flows in %v; mix %v",
		c.Packets, c.FrameBytes, len(c.Flows), time.Since(genStart).Round(time.Millisecond), c.Frames)

	// One slot holds a 100 ms interval even if every flow shows up in it.
	p := openProbe(t, Options{MapEntries: 1 << 18, Action: ActionDrop})
	var a *Attachment
	err = s.Capture.Do(func() (err error) {
		a, err = p.Attach(s.RxName, ModeNative, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != ModeNative || a.Index != s.RxIndex {
		t.Fatalf("attached %+v; want native on ifindex %d", a, s.RxIndex)
	}
	if threaded {
		if err := s.SetRxThreadedNAPI(); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	replay, err := s.StartReplay(ctx, t, c.Path)
	if err != nil {
		t.Fatal(err)
	}

	got := make(map[bpf.FlowKey]probetest.FlowTotals, len(c.Flows))
	var deltas []cache.Delta
	var stats Stats
	harvests, busy := 0, 0
	inHarvest := map[bpf.FlowKey]bool{}
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
		clear(inHarvest)
		for _, d := range deltas {
			if inHarvest[d.Key] || d.Packets == 0 || d.FirstNs == 0 || d.LastNs < d.FirstNs {
				t.Fatalf("harvest %d: key seen twice or bad delta %+v", harvests, d)
			}
			inHarvest[d.Key] = true
			g := got[d.Key]
			g.Packets += d.Packets
			g.Bytes += d.Bytes
			g.TCPFlags |= d.TCPFlags
			got[d.Key] = g
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-replay.Done():
			running = false
		case <-tick.C:
			harvest()
		}
	}
	report, err := replay.Wait()
	if err != nil {
		t.Fatal(err)
	}

	// tcpreplay is done once the kernel took the last frame; the qdisc and
	// the veth ring may still hold some for the probe. Wait until the
	// datapath has seen as many as were sent, or has stopped making
	// progress for 2 s (bounded: 30 s in all).
	var seen uint64
	for start, moved := time.Now(), time.Now(); ; time.Sleep(10 * time.Millisecond) {
		now, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if now.Total() != seen {
			seen, moved = now.Total(), time.Now()
		}
		if seen >= uint64(c.Packets) || time.Since(moved) > 2*time.Second || time.Since(start) > 30*time.Second {
			break
		}
	}
	harvest()

	t.Logf("tcpreplay: %d frames in %.2f s, %.0f packets/s; failed %d, retried ENOBUFS %d EAGAIN %d",
		report.Sent, report.Seconds, report.PPS, report.Failed, report.RetriedENOBUFS, report.RetriedEAGAIN)
	t.Logf("%d harvests, %d of them with flows; links: %s", harvests, busy, s.LinkCounters())

	if report.Successful != uint64(c.Packets) || report.Failed != 0 || report.Truncated != 0 {
		t.Errorf("tcpreplay sent %d of %d frames (failed %d, truncated %d):\n%s",
			report.Successful, c.Packets, report.Failed, report.Truncated, report.Output)
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
