package probe

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/spanflow/spanflow/probe/probetest"
)

func attachIn(t *testing.T, ns *probetest.NetNS, p *Probe, iface string, mode Mode, promisc bool) (*Attachment, error) {
	t.Helper()
	var a *Attachment
	err := ns.Do(func() error {
		var err error
		a, err = p.Attach(iface, mode, promisc)
		return err
	})
	return a, err
}

func TestAttachNamesMissingInterface(t *testing.T) {
	ns := probetest.NewNetNS(t)
	p := openProbe(t, Options{})
	_, err := attachIn(t, ns, p, "nosuch0", ModeAuto, false)
	if err == nil || err.Error() != "interface nosuch0 does not exist" {
		t.Fatalf("err = %v", err)
	}
}

func TestAttachRefusesInterfaceThatIsDown(t *testing.T) {
	ns := probetest.NewNetNS(t)
	err := ns.Do(func() error {
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	p := openProbe(t, Options{})
	_, err = attachIn(t, ns, p, "br0", ModeGeneric, false)
	if err == nil || !strings.Contains(err.Error(), "interface br0 is down") {
		t.Fatalf("err = %v", err)
	}
}

func TestAttachNativeFailsWhereDriverLacksXDP(t *testing.T) {
	ns := probetest.NewNetNS(t)
	err := ns.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}); err != nil {
			return err
		}
		l, err := netlink.LinkByName("br0")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := openProbe(t, Options{})
	_, err = attachIn(t, ns, p, "br0", ModeNative, false)
	if err == nil || !strings.Contains(err.Error(), "native XDP not supported by the bridge driver of br0") {
		t.Fatalf("native on bridge: err = %v", err)
	}

	// auto falls back to generic and says why.
	a, err := attachIn(t, ns, p, "br0", ModeAuto, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != ModeGeneric || a.Fallback == nil {
		t.Fatalf("auto on bridge: mode %s, fallback %v; want generic with a reason", a.Mode, a.Fallback)
	}
}

func TestAttachNativeOnVethAndCloseRestoresPromisc(t *testing.T) {
	ns1, ns2 := probetest.NewNetNS(t), probetest.NewNetNS(t)
	probetest.VethPair(t, ns1, "probe0", ns2, "peer0")
	fdsBefore := openFDs(t)
	p := openProbe(t, Options{})
	a, err := attachIn(t, ns1, p, "probe0", ModeAuto, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != ModeNative {
		t.Fatalf("mode on veth = %s, want native", a.Mode)
	}
	linkState := func() (promisc int, xdp bool) {
		ns1.Do(func() error {
			l, err := netlink.LinkByName("probe0")
			if err != nil {
				t.Error(err)
				return err
			}
			promisc = l.Attrs().Promisc
			xdp = l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached
			return nil
		})
		return promisc, xdp
	}
	if promisc, xdp := linkState(); promisc != 1 || !xdp {
		t.Fatalf("while attached: promisc %d, xdp %v", promisc, xdp)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if promisc, xdp := linkState(); promisc != 0 || xdp {
		t.Fatalf("after Close: promisc %d, xdp %v; want both restored", promisc, xdp)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if fds := openFDs(t); fds != fdsBefore {
		t.Errorf("open fds: %d before Open, %d after Close", fdsBefore, fds)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestOpenNamesMissingCapability re-runs this test binary without CAP_BPF
// and CAP_SYS_ADMIN (setpriv drops them from the bounding set) and checks
// that Open names what is missing.
func TestOpenNamesMissingCapability(t *testing.T) {
	if os.Getenv("SPANFLOW_CAP_CHILD") == "1" {
		_, err := Open(Options{})
		fmt.Println("OPEN:", err)
		return
	}
	probetest.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is needed to drop capabilities")
	}
	cmd := exec.Command(setpriv, "--bounding-set", "-bpf,-sys_admin,-perfmon", "--inh-caps", "-bpf,-sys_admin,-perfmon",
		os.Args[0], "-test.run", "^TestOpenNamesMissingCapability$", "-test.v")
	cmd.Env = append(os.Environ(), "SPANFLOW_CAP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := "OPEN: missing CAP_BPF, CAP_PERFMON: run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"
	if !strings.Contains(string(out), want) {
		t.Fatalf("child said:\n%s\nwant a line %q", out, want)
	}
}

// TestAttachNamesTheXDPProgramAlreadyThere: where another XDP program runs,
// attaching failed with "create link: file exists"; the error now names
// that program and what to do.
func TestAttachNamesTheXDPProgramAlreadyThere(t *testing.T) {
	ns1, ns2 := probetest.NewNetNS(t), probetest.NewNetNS(t)
	probetest.VethPair(t, ns1, "probe0", ns2, "peer0")
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "other_xdp", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}, // XDP_PASS
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	info, err := other.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	err = ns1.Do(func() error {
		l, err := netlink.LinkByName("probe0")
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, other.FD(), nl.XDP_FLAGS_DRV_MODE)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := openProbe(t, Options{})
	for _, mode := range []Mode{ModeAuto, ModeNative} {
		_, err = attachIn(t, ns1, p, "probe0", mode, false)
		want := fmt.Sprintf("already runs XDP program id %d (\"other_xdp\")", id)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ip link set dev probe0 xdp off") {
			t.Errorf("mode %s: err = %v; want it to name %s and how to detach it", mode, err, want)
		}
	}
}
