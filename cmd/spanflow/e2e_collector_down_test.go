package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cmd/internal/collect"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestE2ETCPCollectorDownAtStartLosesNothing: an IPFIX-over-TCP collector
// that is down when spanflow starts must not stop it (under systemd that
// was a restart loop). spanflow starts, says so, keeps the records the
// traffic makes while the collector is away, dials again with backoff,
// and once the collector is up delivers them all: the totals equal the
// capture's ground truth.
func TestE2ETCPCollectorDownAtStartLosesNothing(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	c := e2eCapture(t, s, probetest.GenConfig{Packets: 20_000, Flows: 1_000, Seed: 11})
	const tcpPort, udpPort = 4741, 4742
	d := startE2EDaemon(t, bin, s.Capture, e2eControlPath(t), "-i", s.RxName,
		"-n", fmt.Sprintf("127.0.0.1:%d", tcpPort), "-v", "10", "--transport", "tcp",
		"--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", e2ePinDir(t),
		"--harvest-interval", "100ms", "--inactive-timeout", "1s", "--fin-grace", "0s")
	if !strings.Contains(d.Out.String(), "collector not reachable") {
		t.Errorf("spanflow did not say its collector was down; its log:\n%s", d.Out.String())
	}

	replay, err := s.StartReplay(context.Background(), t, c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Wait(); err != nil {
		t.Fatal(err)
	}
	if st := d.waitAccounted(t, uint64(c.Packets)); st.Packets["accounted"] != uint64(c.Packets) {
		t.Fatalf("accounted %d of %d packets; links: %s", st.Packets["accounted"], c.Packets, s.LinkCounters())
	}
	// Every flow has gone idle and expired into the queue of a stream
	// whose collector is down.
	time.Sleep(1500 * time.Millisecond) // pacing, not a wait: the 1 s inactive timeout runs out

	outPath := filepath.Join(t.TempDir(), "collect.json")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "collect", "-l", fmt.Sprintf("127.0.0.1:%d", udpPort), "--tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort),
		"--json", "--duration", "3m")
	cmd.Stdout = out
	col := e2eStart(t, s.Capture, "spanflow collect", cmd)

	// The redial backs off 1, 2, 4, 8 s…: the records arrive within 40 s.
	var recs []collect.JSON
	got := func() uint64 {
		raw, _ := os.ReadFile(outPath)
		if i := strings.LastIndexByte(string(raw), '\n'); i >= 0 {
			raw = raw[:i+1] // a line being written is read next time
		} else {
			raw = nil
		}
		recs = jsonLines[collect.JSON](t, "spanflow collect", raw)
		var n uint64
		for _, r := range recs {
			n += r.Packets
		}
		return n
	}
	if !exportertest.Within(40*time.Second, func() bool { return got() >= uint64(c.Packets) }) {
		t.Errorf("the collector received %d of %d packets within 40 s of coming up; spanflow:\n%s", got(), c.Packets, d.Out.String())
	}
	if code := d.Stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("spanflow exited with %d after SIGTERM:\n%s", code, d.Out.String())
	}
	if code := col.Stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("spanflow collect exited with %d:\n%s", code, col.Out.String())
	}
	got()
	f := e2eFields{inIf: true, vlan: true, flags: true}
	if diff := e2eDiff(e2eTruth(c, f), e2eCollected(recs, f)); diff != "" {
		t.Errorf("what the collector received once up differs from the ground truth:\n%s\nspanflow:\n%s", diff, d.Out.String())
	}
}
