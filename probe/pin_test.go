package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

func testPinDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(DefaultPinDir+"-test", strings.ReplaceAll(t.Name(), "/", "_"))
	t.Cleanup(func() {
		removePins(dir)
		os.Remove(dir)
		os.Remove(filepath.Dir(dir)) // only once empty
	})
	return dir
}

// TestRestartAdoptsPinnedStateAndLosesNothing: a first run counts and
// exits leaving its program attached; packets arrive while nothing runs;
// a second run adopts the pinned link and maps and harvests them all.
func TestRestartAdoptsPinnedStateAndLosesNothing(t *testing.T) {
	ns1, ns2 := probetest.NewNetNS(t), probetest.NewNetNS(t)
	probetest.VethPair(t, ns1, "probe0", ns2, "peer0")
	dir := testPinDir(t)
	opts := Options{PinDir: dir, Action: ActionDrop}
	frames := func(n int, sport uint16) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = tcpFrame(t, "198.18.0.1", "198.18.0.2", sport, 80, false, true, 10)
		}
		return out
	}
	first := openProbe(t, opts)
	if first.Adopted() {
		t.Fatal("fresh pin dir reported as adopted")
	}
	if _, err := attachIn(t, ns1, first, "probe0", ModeNative, false); err != nil {
		t.Fatal(err)
	}
	if err := ns2.SendFrames("peer0", frames(5, 1000)); err != nil {
		t.Fatal(err)
	}
	var total uint64 // every packet harvested, the test's and the kernel's own (IPv6 ND …)
	got := harvestPackets(t, first, &total)
	if got[1000] != 5 {
		t.Fatalf("first run harvested %v, want 5 packets from port 1000", got)
	}
	// Counted after the last harvest and before exit: must survive.
	if err := ns2.SendFrames("peer0", frames(3, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing runs now; the pinned program keeps counting.
	if err := ns2.SendFrames("peer0", frames(7, 2000)); err != nil {
		t.Fatal(err)
	}

	second := openProbe(t, opts)
	if !second.Adopted() {
		t.Fatal("second run did not adopt the pinned state")
	}
	a, err := attachIn(t, ns1, second, "probe0", ModeNative, false)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Adopted {
		t.Fatal("second run did not take over the pinned link")
	}
	if err := ns2.SendFrames("peer0", frames(2, 2000)); err != nil {
		t.Fatal(err)
	}
	got = harvestPackets(t, second, &total)
	if got[1000] != 3 || got[2000] != 9 {
		t.Fatalf("second run harvested %v, want 3 from port 1000 and 9 from port 2000", got)
	}
	// The kernel's own packets (IPv6 ND, MLD) can arrive between the
	// flip and the stats read; they are harvested the next time. Harvest
	// until the stats read after a harvest match everything harvested.
	var accounted uint64
	for range 20 {
		stats, err := second.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if accounted = stats[bpf.StatAccounted].Packets; accounted < total {
			t.Fatalf("pinned stats say %d accounted, fewer than the %d harvested", accounted, total)
		}
		if accounted == total {
			break
		}
		harvestPackets(t, second, &total)
	}
	if accounted != total || total < 17 {
		t.Errorf("pinned stats say %d accounted, both runs harvested %d (≥ 17)", accounted, total)
	}

	if err := second.Detach(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("pin dir still there after Detach: %v", err)
	}
	ns1.Do(func() error {
		l, err := netlink.LinkByName("probe0")
		if err != nil {
			t.Error(err)
		} else if x := l.Attrs().Xdp; x != nil && x.Attached {
			t.Error("XDP program still attached after Detach")
		}
		return nil
	})
}

func TestIncompatiblePinnedStateIsRefusedUnlessReplaced(t *testing.T) {
	dir := testPinDir(t)
	first := openProbe(t, Options{PinDir: dir})
	first.Close()

	_, err := Open(Options{PinDir: dir, KeyFields: bpf.KeySrcAddr | bpf.KeyDstAddr})
	if err == nil || !strings.Contains(err.Error(), "different key fields") || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("incompatible key: err = %v", err)
	}
	_, err = Open(Options{PinDir: dir, MapEntries: 2048})
	if err == nil || !strings.Contains(err.Error(), "map size (65536, want 2048)") {
		t.Fatalf("incompatible map size: err = %v", err)
	}
	p, err := Open(Options{PinDir: dir, MapEntries: 2048, Replace: true})
	if err != nil {
		t.Fatalf("--replace: %v", err)
	}
	defer p.Detach()
	if p.Adopted() {
		t.Error("replaced state reported as adopted")
	}
}

// harvestPackets harvests once and sums packets by source port, adding
// all of them to total.
func harvestPackets(t *testing.T, p *Probe, total *uint64) map[uint16]uint64 {
	t.Helper()
	deltas, _, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint16]uint64{}
	for _, d := range deltas {
		out[d.Key.SrcPort] += d.Packets
		*total += d.Packets
	}
	return out
}
