package probetest

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestNetNSStartRunsCommandInside(t *testing.T) {
	a, b := NewNetNS(t), NewNetNS(t)
	VethPair(t, a, "sfa0", b, "sfb0")
	var out strings.Builder
	cmd := exec.Command("ip", "-o", "link", "show")
	cmd.Stdout = &out
	if err := a.Run(cmd); err != nil {
		t.Fatalf("ip link in netns: %v", err)
	}
	links := out.String()
	if !strings.Contains(links, "sfa0") || strings.Contains(links, "sfb0") || strings.Count(links, "\n") != 2 {
		t.Fatalf("links seen inside the namespace:\n%s\nwant exactly lo and sfa0", links)
	}

	cmd = exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.Start(cmd); err == nil {
		cmd.Wait()
		t.Fatal("Start accepted a command with Pdeathsig")
	}
}

func TestNetNSSysctlStaysInside(t *testing.T) {
	const name, file = "net.ipv4.ip_default_ttl", "/proc/sys/net/ipv4/ip_default_ttl"
	host, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ns := NewNetNS(t)
	if err := ns.Sysctl(name, "77"); err != nil {
		t.Fatal(err)
	}
	var inside []byte
	if err := ns.Do(func() (err error) { inside, err = os.ReadFile(file); return err }); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(inside)) != "77" || string(after) != string(host) {
		t.Fatalf("ttl inside %q, host %q → %q; want 77 inside and the host unchanged", inside, host, after)
	}
}

func TestNetNSLinkIndexAndStatistics(t *testing.T) {
	a, b := NewNetNS(t), NewNetNS(t)
	VethPair(t, a, "sfa0", b, "sfb0")
	idx, err := b.LinkIndex("sfb0")
	if err != nil || idx < 2 {
		t.Fatalf("LinkIndex(sfb0) = %d, %v", idx, err)
	}
	if _, err := a.LinkIndex("sfb0"); err == nil {
		t.Fatal("sfb0 found in the other namespace")
	}
	if _, err := b.LinkStatistics("sfb0"); err != nil {
		t.Fatal(err)
	}
}
