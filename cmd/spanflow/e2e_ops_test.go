package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

// e2eAccountedFrames returns n generated frames the datapath accounts.
func e2eAccountedFrames(t *testing.T, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range probetest.Cases() {
		if len(c.Frame) >= 60 && probe.ParseEthernet(c.Frame).Reason == bpf.StatAccounted {
			out = append(out, c.Frame)
			if len(out) == n {
				return out
			}
		}
	}
	t.Fatalf("only %d accounted generated frames", len(out))
	return nil
}

// e2eInterface is what the test reads of `show interfaces --json`.
type e2eInterface struct {
	Name                    string
	Index                   int
	Mode                    string
	Attached, Adopted, Down bool
	Events                  map[string]uint64
}

func (d *e2eDaemon) iface(t *testing.T, name string) e2eInterface {
	t.Helper()
	var list []e2eInterface
	d.showJSON(t, &list, "interfaces")
	for _, i := range list {
		if i.Name == name {
			return i
		}
	}
	t.Fatalf("show interfaces has no %s: %+v", name, list)
	return e2eInterface{}
}

// startE2EOpsDaemon starts spanflow, as root, on the receiving interface
// of a new replay net, harvesting every 100 ms, with extra args.
func startE2EOpsDaemon(t *testing.T, extra ...string) (*e2eDaemon, *probetest.ReplayNet) {
	t.Helper()
	probetest.RequireRoot(t)
	s := probetest.NewReplayNet(t)
	args := append([]string{"-i", s.RxName, "-n", "127.0.0.1:2055", "--xdp-mode", "native", "--xdp-action", "drop",
		"--pin-dir", e2ePinDir(t), "--detach", "--harvest-interval", "100ms"}, extra...)
	return startE2EDaemon(t, spanflowBinary(t), s.Capture, e2eControlPath(t), args...), s
}

// TestE2EInterfaceDownAndDeletedIsReattached: the interface goes down and
// up, then is deleted and created anew (a new ifindex); spanflow logs and
// counts each event, attaches again, and counts the packets that follow.
func TestE2EInterfaceDownAndDeletedIsReattached(t *testing.T) {
	d, s := startE2EOpsDaemon(t)
	frames := e2eAccountedFrames(t, 10)
	send := func() {
		t.Helper()
		if err := s.Sender.SendFrames(s.TxName, frames); err != nil {
			t.Fatal(err)
		}
	}
	setUp := func(up bool) {
		t.Helper()
		err := s.Capture.Do(func() error {
			l, err := netlink.LinkByName(s.RxName)
			if err != nil {
				return err
			}
			if up {
				return netlink.LinkSetUp(l)
			}
			return netlink.LinkSetDown(l)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitIface := func(what string, cond func(e2eInterface) bool) e2eInterface {
		t.Helper()
		var got e2eInterface
		if !exportertest.Within(10*time.Second, func() bool { got = d.iface(t, s.RxName); return cond(got) }) {
			t.Fatalf("%s: show interfaces says %+v; log:\n%s", what, got, d.Out.String())
		}
		return got
	}

	send()
	if st := d.waitAccounted(t, 10); st.Packets["accounted"] != 10 {
		t.Fatalf("before the flaps: accounted %d, want 10", st.Packets["accounted"])
	}

	setUp(false)
	waitIface("down", func(i e2eInterface) bool { return i.Down && i.Events["down"] == 1 })
	setUp(true)
	waitIface("up again", func(i e2eInterface) bool { return !i.Down && i.Events["up"] == 1 })

	oldIndex := s.RxIndex
	if err := s.Capture.Do(func() error {
		l, err := netlink.LinkByName(s.RxName)
		if err != nil {
			return err
		}
		return netlink.LinkDel(l) // takes the peer with it
	}); err != nil {
		t.Fatal(err)
	}
	waitIface("deleted", func(i e2eInterface) bool { return !i.Attached && i.Events["deleted"] == 1 })
	probetest.VethPair(t, s.Sender, s.TxName, s.Capture, s.RxName)
	got := waitIface("re-attached", func(i e2eInterface) bool { return i.Attached && i.Events["reattached"] == 1 })
	if got.Index == oldIndex {
		t.Errorf("re-attached to ifindex %d, the deleted interface's", got.Index)
	}

	send()
	if st := d.waitAccounted(t, 20); st.Packets["accounted"] != 20 {
		t.Fatalf("after re-attaching: accounted %d, want 20 (10 before, 10 after); log:\n%s", st.Packets["accounted"], d.Out.String())
	}
	for _, want := range []string{"interface down", "interface up again", "interface deleted", "attached"} {
		if !strings.Contains(d.Out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, d.Out.String())
		}
	}
	if code := d.Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// TestE2EUserDropsRootAndKeepsCounting: with --user the daemon gives up
// root after attaching and still harvests.
func TestE2EUserDropsRootAndKeepsCounting(t *testing.T) {
	d, s := startE2EOpsDaemon(t, "--user", "nobody")
	// The control socket answers before root is dropped: wait for the log.
	if !exportertest.Within(10*time.Second, func() bool { return strings.Contains(d.Out.String(), "dropped root") }) {
		t.Fatalf("no \"dropped root\" in the log within 10 s:\n%s", d.Out.String())
	}
	uid := ""
	status, err := os.ReadFile("/proc/" + strconv.Itoa(d.Cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid = f[1]
		}
	}
	if uid != "65534" {
		t.Fatalf("spanflow runs as uid %s, want nobody (65534); log:\n%s", uid, d.Out.String())
	}
	if err := s.Sender.SendFrames(s.TxName, e2eAccountedFrames(t, 10)); err != nil {
		t.Fatal(err)
	}
	if st := d.waitAccounted(t, 10); st.Packets["accounted"] != 10 {
		t.Fatalf("as nobody: accounted %d, want 10; log:\n%s", st.Packets["accounted"], d.Out.String())
	}
}
