package main

// Tests of the shipped systemd unit (scripts/spanflow.service): that
// `spanflow show` finds the socket the unit's daemon listens on, and that
// the unit's way of running — an unprivileged user holding only the
// ambient capabilities the unit grants — starts, attaches, harvests and
// answers show.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/cmd/internal/control"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// unitService is the [Service] section of the shipped unit: each key's
// values, in order.
func unitService(t *testing.T) map[string][]string {
	return unitServiceAt(t, filepath.Join("..", "..", "scripts", "spanflow.service"))
}

// unitServiceAt is the [Service] section of the unit file at path.
func unitServiceAt(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			key, value, _ := strings.Cut(line, "=")
			out[key] = append(out[key], value)
		}
	}
	return out
}

// TestUnitAndShowAgreeOnTheControlSocket: the unit's daemon listens where
// `spanflow show` looks with no flag, inside the unit's RuntimeDirectory.
func TestUnitAndShowAgreeOnTheControlSocket(t *testing.T) {
	unit := unitService(t)
	exec := strings.Fields(strings.Join(unit["ExecStart"], " "))
	listens := control.DefaultPath
	for i, a := range exec {
		if a == "--control" && i+1 < len(exec) {
			listens = exec[i+1]
		} else if v, ok := strings.CutPrefix(a, "--control="); ok {
			listens = v
		}
	}
	if listens != control.DefaultPath {
		t.Errorf("the unit's daemon listens on %s, spanflow show asks %s", listens, control.DefaultPath)
	}
	dirs := unit["RuntimeDirectory"]
	if len(dirs) != 1 || filepath.Join("/run", dirs[0]) != filepath.Dir(listens) {
		t.Errorf("RuntimeDirectory=%v does not hold %s", dirs, listens)
	}
}

// threadStatus is the given field of /proc/PID/status for each of the
// process's threads: capabilities and no_new_privs are per thread.
func threadStatus(t *testing.T, pid int, field string) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of pid %d: %v", pid, err)
	}
	var out []string
	for _, task := range tasks {
		status, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if value, ok := strings.CutPrefix(line, field+":"); ok {
				out = append(out, strings.Fields(value)[0])
			}
		}
	}
	return out
}

// wantEveryThread fails unless every thread's field is want.
func wantEveryThread(t *testing.T, d *e2eDaemon, field, want string) {
	t.Helper()
	for _, got := range threadStatus(t, d.Cmd.Process.Pid, field) {
		if got != want {
			t.Errorf("a thread has %s %s, want %s; log:\n%s", field, got, want, d.Out.String())
			return
		}
	}
}

// TestE2EUserEmptiesTheBoundingSetAndSetsNoNewPrivs: after --user drops
// root, no thread keeps a capability in its bounding set, and each has
// no_new_privs, so nothing exec'd could become root again.
func TestE2EUserEmptiesTheBoundingSetAndSetsNoNewPrivs(t *testing.T) {
	d, _ := startE2EOpsDaemon(t, "--user", "nobody")
	if !exportertest.Within(10*time.Second, func() bool { return strings.Contains(d.Out.String(), "dropped root") }) {
		t.Fatalf("no \"dropped root\" in the log within 10 s:\n%s", d.Out.String())
	}
	wantEveryThread(t, d, "Uid", "65534")
	wantEveryThread(t, d, "CapBnd", "0000000000000000")
	wantEveryThread(t, d, "CapEff", "0000000000000000")
	wantEveryThread(t, d, "NoNewPrivs", "1")
}

// unitCaps turns a unit's capability list (CAP_BPF CAP_NET_ADMIN) into
// setpriv's (+bpf,+net_admin) and the kernel's bit mask.
func unitCaps(t *testing.T, names []string) (setpriv string, mask uint64) {
	t.Helper()
	known := map[string]uint{"CAP_BPF": unix.CAP_BPF, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
		"CAP_PERFMON": unix.CAP_PERFMON, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE}
	var list []string
	for _, name := range strings.Fields(strings.Join(names, " ")) {
		bit, ok := known[name]
		if !ok {
			t.Fatalf("the unit names %s, which this test does not know", name)
		}
		list = append(list, "+"+strings.ToLower(strings.TrimPrefix(name, "CAP_")))
		mask |= 1 << bit
	}
	return "-all," + strings.Join(list, ","), mask
}

// unitDir is a new directory owned by uid, reachable from /, as
// RuntimeDirectory= makes /run/spanflow.
func unitDir(t *testing.T, uid int) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "sfunit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	dir := filepath.Join(parent, "d")
	for _, err := range []error{os.Chmod(parent, 0o755), os.Mkdir(dir, 0o700), os.Chown(dir, uid, uid)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// unitPinDir is a bpffs of the test's own, owned by uid, standing for the
// /sys/fs/bpf/spanflow the unit's ExecStartPre hands to its user.
func unitPinDir(t *testing.T, uid int) string {
	t.Helper()
	dir := unitDir(t, uid)
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestE2EUnitRunsUnprivilegedWithItsAmbientCapabilities runs spanflow the
// way the shipped unit does — an unprivileged user (nobody stands in for
// spanflow), only the unit's ambient capabilities and bounding set,
// no_new_privs — with the unit's ExecStart flags: it attaches to a veth,
// harvests what crosses it, and answers show. (systemd itself may not run
// where the tests do; setpriv sets up the same process.)
func TestE2EUnitRunsUnprivilegedWithItsAmbientCapabilities(t *testing.T) {
	probetest.RequireRoot(t)
	runAsUnit(t, unitService(t), spanflowBinary(t), "nobody")
}

// runAsUnit runs bin as unit would, as the user, on a new veth, and checks
// it attaches, harvests and answers show cache (asked with bin show).
func runAsUnit(t *testing.T, unit map[string][]string, bin, userName string) {
	t.Helper()
	account, err := user.Lookup(userName)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(account.Uid)
	gid, _ := strconv.Atoi(account.Gid)
	setpriv := exportertest.RequireTool(t, "setpriv")
	if user := strings.Join(unit["User"], ""); user == "" || user == "root" {
		t.Fatalf("the unit runs as %q, not an unprivileged user", user)
	}
	if strings.Join(unit["NoNewPrivileges"], "") != "yes" {
		t.Errorf("the unit lacks NoNewPrivileges=yes")
	}
	ambient, mask := unitCaps(t, unit["AmbientCapabilities"])
	bounding, boundingMask := unitCaps(t, unit["CapabilityBoundingSet"])
	if mask&^boundingMask != 0 {
		t.Fatalf("ambient capabilities %s outside the bounding set %s", ambient, bounding)
	}

	s := probetest.NewReplayNet(t)
	sock := filepath.Join(unitDir(t, uid), "spanflow.sock")
	args := []string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups",
		"--inh-caps=" + ambient, "--ambient-caps=" + ambient, "--bounding-set=" + bounding, "--no-new-privs",
		bin, "-i", s.RxName, "-n", "127.0.0.1:2055", "--xdp-mode", "native",
		"--pin-dir", unitPinDir(t, uid), "--harvest-interval", "100ms", "--control", sock}
	args = append(args, unitExecFlags(t, unit)...)
	d := &e2eDaemon{bin: bin, control: sock}
	d.Proc = e2eStart(t, s.Capture, "spanflow (as the unit)", exec.Command(setpriv, args...))
	if !exportertest.Within(15*time.Second, func() bool { _, err := d.show("stats"); return err == nil || !d.Running() }) || !d.Running() {
		t.Fatalf("not answering show within 15 s (running: %v); log:\n%s", d.Running(), d.Out.String())
	}
	wantEveryThread(t, d, "Uid", strconv.Itoa(uid))
	wantEveryThread(t, d, "NoNewPrivs", "1")
	wantEveryThread(t, d, "CapEff", fmt.Sprintf("%016x", mask))

	if err := s.Sender.SendFrames(s.TxName, e2eAccountedFrames(t, 10)); err != nil {
		t.Fatal(err)
	}
	if st := d.waitAccounted(t, 10); st.Packets["accounted"] != 10 {
		t.Fatalf("accounted %d, want 10; log:\n%s", st.Packets["accounted"], d.Out.String())
	}
	out, err := d.show("cache")
	if m := regexp.MustCompile(`(\d+) active, \d+ inactive`).FindStringSubmatch(out); err != nil || m == nil || m[1] == "0" {
		t.Errorf("show cache holds no active flow: %v\n%s", err, out)
	}
	if code := d.Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; log:\n%s", code, d.Out.String())
	}
}

// unitExecFlags are the flags the unit's ExecStart passes itself, beside
// the environment file's variables (the test brings its own interface and
// collector).
func unitExecFlags(t *testing.T, unit map[string][]string) []string {
	t.Helper()
	exec := strings.Fields(strings.Join(unit["ExecStart"], " "))
	if len(exec) == 0 || filepath.Base(exec[0]) != "spanflow" {
		t.Fatalf("the unit's ExecStart is %q", exec)
	}
	var flags []string
	for _, a := range exec[1:] {
		if !strings.HasPrefix(a, "$") {
			flags = append(flags, a)
		}
	}
	return flags
}
