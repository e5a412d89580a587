package probetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTestenvScriptBuildsTheReplayNetwork checks scripts/testenv.sh, which
// the demo and operators use, builds what ReplayNet builds and removes it.
func TestTestenvScriptBuildsTheReplayNetwork(t *testing.T) {
	RequireRoot(t)
	script, err := filepath.Abs("../../scripts/testenv.sh")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("sft%d", os.Getpid()%100000)
	tx, rx := name+"-tx", name+"-rx"
	run := func(args ...string) (string, error) {
		out, err := exec.Command(script, append([]string{"-n", name}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { run("-f", "down") })

	if out, err := run("up"); err != nil {
		t.Fatalf("testenv.sh up: %v\n%s", err, out)
	}
	for _, c := range []struct {
		want string
		cmd  []string
	}{
		{"state UP", []string{"ip", "-n", tx, "link", "show", "tx0"}},
		{"state UP", []string{"ip", "-n", rx, "link", "show", "rx0"}},
		{"qdisc pfifo_fast", []string{"tc", "-n", tx, "qdisc", "show", "dev", "tx0"}},
		{"disable_ipv6 = 1", []string{"ip", "netns", "exec", tx, "sysctl", "net.ipv6.conf.tx0.disable_ipv6"}},
		{"disable_ipv6 = 1", []string{"ip", "netns", "exec", rx, "sysctl", "net.ipv6.conf.rx0.disable_ipv6"}},
	} {
		out, err := exec.Command(c.cmd[0], c.cmd[1:]...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v; want %q in\n%s", strings.Join(c.cmd, " "), err, c.want, out)
		}
	}
	if out, err := run("up"); err == nil {
		t.Errorf("a second up succeeded:\n%s", out)
	}
	if out, err := run("down"); err != nil {
		t.Fatalf("testenv.sh down: %v\n%s", err, out)
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil || strings.Contains(string(out), tx) || strings.Contains(string(out), rx) {
		t.Fatalf("after down: %v\n%s", err, out)
	}
}
