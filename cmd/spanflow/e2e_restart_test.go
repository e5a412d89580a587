package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestE2ERestartAfterKillLosesNoCount kills spanflow with SIGKILL while a
// capture is being replayed into its interface and starts it again with
// the same --pin-dir while the replay goes on. The XDP program stays
// attached through its pinned link and counts into the pinned maps while
// no daemon runs; the restarted daemon adopts them. What both runs
// exported together must equal the capture's ground truth exactly.
//
// This needs the pinned ledger (counts harvested but not yet exported,
// kept in a pinned map and adopted on restart): without it, whatever the
// killed daemon had harvested into its flow cache dies with it and this
// test fails. It demands exactness on purpose; never skip it.
func TestE2ERestartAfterKillLosesNoCount(t *testing.T) {
	probetest.RequireRoot(t)
	e2eRestartRun(t, syscall.SIGKILL)
}

// TestE2ERestartAfterSIGTERMLosesNoCount is the graceful variant: SIGTERM
// mid-replay without --detach (final harvest, flush, send; the program
// stays attached and counts on), then a restart that adopts the pinned
// state. Totals across both runs are exact.
func TestE2ERestartAfterSIGTERMLosesNoCount(t *testing.T) {
	probetest.RequireRoot(t)
	e2eRestartRun(t, syscall.SIGTERM)
}

func e2eRestartRun(t *testing.T, sig syscall.Signal) {
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	c := e2eCapture(t, s, probetest.GenConfig{Packets: 120_000, Flows: 4_000, Seed: 7})
	const nfPort, colPort = 2055, 4739
	nf := startE2ENfcapd(t, s.Capture, nfPort)
	col := startE2ECollect(t, bin, s.Capture, colPort)
	pinDir, control := e2ePinDir(t), e2eControlPath(t)
	// Records go out as flows idle (1 s) as well as at shutdown, so the
	// killed run has exported some and holds others.
	args := []string{"-i", s.RxName, "-n", fmt.Sprintf("127.0.0.1:%d", nfPort), "-n", fmt.Sprintf("127.0.0.1:%d", colPort), "-v", "10",
		"--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", pinDir,
		"--harvest-interval", "100ms", "--inactive-timeout", "1s", "--active-timeout", "2s", "--fin-grace", "1s"}
	first := startE2EDaemon(t, bin, s.Capture, control, args...)

	// Paced replay: 40k frames/s, 3 s in all, so there is a middle to stop
	// the daemon in and frames keep coming while it is down and after it
	// is back.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	replay := e2eStart(t, s.Sender, "tcpreplay",
		exec.CommandContext(ctx, "tcpreplay", "--pps=40000", "--intf1="+s.TxName, c.Path))

	// Stop once between a fifth and half of the capture has been harvested.
	var atStop e2eStats
	if !exportertest.Within(20*time.Second, func() bool {
		atStop = first.stats(t)
		return atStop.Packets["accounted"] >= uint64(c.Packets)/5
	}) {
		t.Fatalf("spanflow harvested %d of %d packets within 20 s; links: %s", atStop.Packets["accounted"], c.Packets, s.LinkCounters())
	}
	code := first.Stop(t, sig, 20*time.Second)
	if !replay.Running() || atStop.Packets["accounted"] > uint64(c.Packets)/2 {
		t.Fatalf("not stopped mid-replay: %d of %d packets harvested, tcpreplay running: %v", atStop.Packets["accounted"], c.Packets, replay.Running())
	}
	switch {
	case sig == syscall.SIGTERM && code != 0:
		t.Errorf("first spanflow exited with %d after SIGTERM, want 0:\n%s", code, first.Out.String())
	case sig == syscall.SIGKILL && code != -1:
		t.Errorf("first spanflow exited with %d, want killed:\n%s", code, first.Out.String())
	}
	// Pacing, not a wait: the daemon stays down for a while, frames keep
	// coming, and the program counts them alone.
	time.Sleep(200 * time.Millisecond)

	second := startE2EDaemon(t, bin, s.Capture, control, args...)
	if !exportertest.Within(30*time.Second, func() bool { return !replay.Running() }) {
		t.Fatal("tcpreplay did not finish within 30 s")
	}
	if code := replay.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("tcpreplay exited with %d:\n%s", code, replay.Out.String())
	}
	st := second.waitAccounted(t, uint64(c.Packets))
	if st.Packets["accounted"] != uint64(c.Packets) || st.Bytes["accounted"] != c.IPBytes {
		t.Errorf("datapath accounted %d packets %d bytes across both runs; the capture has %d packets %d bytes; links: %s",
			st.Packets["accounted"], st.Bytes["accounted"], c.Packets, c.IPBytes, s.LinkCounters())
	}
	if code := second.Stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("second spanflow exited with %d after SIGTERM, want 0:\n%s", code, second.Out.String())
	}
	if !strings.Contains(second.Out.String(), "adopted pinned state") {
		t.Errorf("the second spanflow did not adopt the pinned state; its log:\n%s", second.Out.String())
	}

	f := e2eFields{inIf: true, vlan: true, flags: true}
	recs, colLog := col.drainAndStop(t)
	if diff := e2eDiff(e2eTruth(c, f), e2eCollected(recs, f)); diff != "" {
		t.Errorf("totals exported across the %v and the restart differ from the ground truth:\n%s\ncollect:\n%s\nfirst spanflow:\n%s\nsecond spanflow:\n%s",
			sig, diff, colLog, first.Out.String(), second.Out.String())
	}
	nff := e2eFields{inIf: true, vlan: true}
	flows, nfLog := nf.drainAndStop(t)
	if diff := e2eDiff(e2eTruth(c, nff), e2eNfdumped(t, flows, nff)); diff != "" {
		t.Errorf("nfdump's totals across the %v and the restart differ from the ground truth:\n%s\nnfcapd:\n%s", sig, diff, nfLog)
	}
	t.Logf("stopped (%v) at %d of %d packets; %d records in all (nfdump %d)", sig, atStop.Packets["accounted"], c.Packets, len(recs), len(flows))
}
