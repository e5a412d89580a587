package main

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestE2EDebInstallsAndItsUnitRuns builds the Debian package (make deb),
// installs it into this machine with dpkg, runs the installed binary as
// the installed unit would — as the spanflow user the package created,
// with the unit's capabilities — on a veth, asks the installed spanflow
// show cache, and purges the package, user included.
func TestE2EDebInstallsAndItsUnitRuns(t *testing.T) {
	probetest.RequireRoot(t)
	dpkg := exportertest.RequireTool(t, "dpkg")
	makeTool := exportertest.RequireTool(t, "make")
	if exec.Command(dpkg, "-s", "spanflow").Run() == nil {
		t.Fatal("a spanflow package is installed already: this test would replace and purge it")
	}
	deb := filepath.Join(t.TempDir(), "spanflow.deb")
	run := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run(makeTool, "-C", filepath.Join("..", ".."), "deb", "DEB="+deb)
	run(dpkg, "-i", deb)
	t.Cleanup(func() { exec.Command(dpkg, "--purge", "spanflow").Run() })

	if _, err := user.Lookup("spanflow"); err != nil {
		t.Fatalf("the package made no spanflow user: %v", err)
	}
	if _, err := os.Stat("/etc/default/spanflow"); err != nil {
		t.Errorf("no environment file: %v", err)
	}
	unit := unitServiceAt(t, "/lib/systemd/system/spanflow.service")
	if exec := strings.Fields(strings.Join(unit["ExecStart"], " ")); len(exec) == 0 || exec[0] != "/usr/bin/spanflow" {
		t.Fatalf("the installed unit runs %q, not the installed /usr/bin/spanflow", exec)
	}
	if got := strings.Join(unit["User"], ""); got != "spanflow" {
		t.Fatalf("the installed unit runs as %q, not spanflow", got)
	}
	runAsUnit(t, unit, "/usr/bin/spanflow", "spanflow")

	run(dpkg, "--purge", "spanflow")
	if _, err := user.Lookup("spanflow"); err == nil {
		t.Error("the spanflow user outlived the purge")
	}
	if _, err := os.Stat("/usr/bin/spanflow"); err == nil {
		t.Error("/usr/bin/spanflow outlived the purge")
	}
}

// TestMakeInstallHonoursDestdirAndPrefix: make install puts the binary
// under DESTDIR/PREFIX/bin, the unit (pointing at PREFIX/bin, not at the
// DESTDIR staging copy) and the environment file under DESTDIR/etc.
func TestMakeInstallHonoursDestdirAndPrefix(t *testing.T) {
	makeTool := exportertest.RequireTool(t, "make")
	dest := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, makeTool, "-C", filepath.Join("..", ".."), "install", "DESTDIR="+dest, "PREFIX=/opt/sf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for path, mode := range map[string]os.FileMode{
		"opt/sf/bin/spanflow":                 0o755,
		"etc/systemd/system/spanflow.service": 0o644,
		"etc/default/spanflow":                0o644,
	} {
		fi, err := os.Stat(filepath.Join(dest, path))
		if err != nil {
			t.Errorf("make install left out %s: %v", path, err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	unit := unitServiceAt(t, filepath.Join(dest, "etc/systemd/system/spanflow.service"))
	if exec := strings.Fields(strings.Join(unit["ExecStart"], " ")); len(exec) == 0 || exec[0] != "/opt/sf/bin/spanflow" {
		t.Errorf("the installed unit runs %q, want /opt/sf/bin/spanflow", exec)
	}
}
