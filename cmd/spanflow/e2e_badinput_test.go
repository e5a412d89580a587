package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// e2eRunOnce runs spanflow with args inside ns and returns its exit code
// and stderr; bounded by 20 s.
func e2eRunOnce(t *testing.T, bin string, ns *probetest.NetNS, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := ns.Run(cmd)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("spanflow %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("spanflow %s: still running after 20 s:\n%s", strings.Join(args, " "), stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestE2EBadFlagsExitTwoNamingTheFlag starts spanflow with one invalid
// value at a time (the rest valid): each must exit 2 before touching
// anything, with a message that names the flag.
func TestE2EBadFlagsExitTwoNamingTheFlag(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	// In a namespace of its own, on an interface that does not exist and
	// with a pin directory of the test's own: should validation wrongly
	// pass, the run fails (exit 1) and touches nothing of the host.
	ns := probetest.NewNetNS(t)
	base := []string{"-i", "sfnone0", "-n", "127.0.0.1:2055", "--pin-dir", e2ePinDir(t), "--control", e2eControlPath(t), "--duration", "2s"}
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"version 3", []string{"-v", "3"}, "-v 3"},
		{"version text", []string{"-v", "ipfx"}, "-v ipfx"},
		{"sample 0", []string{"--sample", "0"}, "--sample 0"},
		{"sample too large", []string{"--sample", "16384"}, "--sample 16384"},
		{"sample negative", []string{"--sample", "-1"}, "-sample"},
		{"sample mode", []string{"--sample-mode", "sometimes"}, "--sample-mode sometimes"},
		{"map size 1", []string{"--map-size", "1"}, "--map-size 1"},
		{"xdp mode", []string{"--xdp-mode", "x"}, "--xdp-mode x"},
		{"xdp action", []string{"--xdp-action", "reflect"}, "--xdp-action reflect"},
		{"key bogus", []string{"--key", "bogus"}, "--key"},
		{"key field bogus", []string{"--key", "src-addr,colour"}, "--key"},
		{"collector without port", []string{"-n", "nohost"}, "-n nohost"},
		{"collector port 0", []string{"-n", "127.0.0.1:0"}, "-n 127.0.0.1:0"},
		{"collector port too large", []string{"-n", "127.0.0.1:70000"}, "-n 127.0.0.1:70000"},
		{"mtu 10", []string{"--mtu", "10"}, "--mtu 10"},
		{"mtu too large", []string{"--mtu", "65536"}, "--mtu 65536"},
		{"aggregation without v8", []string{"--aggregation", "as"}, "--aggregation"},
		{"aggregation unknown", []string{"-v", "8", "--aggregation", "colour"}, "--aggregation"},
		{"v8 without aggregation", []string{"-v", "8"}, "-v 8"},
		{"tcp with v9", []string{"--transport", "tcp", "-v", "9"}, "--transport tcp"},
		{"transport sctp", []string{"--transport", "sctp"}, "--transport sctp"},
		{"metrics port 99999", []string{"--metrics", ":99999"}, "--metrics :99999"},
		{"metrics no port", []string{"--metrics", "localhost"}, "--metrics localhost"},
		{"harvest interval 1ms", []string{"--harvest-interval", "1ms"}, "--harvest-interval 1ms"},
		{"harvest interval 1m", []string{"--harvest-interval", "1m"}, "--harvest-interval 1m0s"},
		{"harvest interval not a duration", []string{"--harvest-interval", "soon"}, "-harvest-interval"},
		{"inactive timeout 0", []string{"--inactive-timeout", "0s"}, "--inactive-timeout"},
		{"active timeout negative", []string{"--active-timeout", "-1s"}, "--active-timeout"},
		{"max flows 0", []string{"--max-flows", "0"}, "--max-flows"},
		{"clock", []string{"--clock", "sundial"}, "--clock sundial"},
		{"engine id 256", []string{"--engine-id", "256"}, "--engine-id 256"},
		{"engine type 300", []string{"--engine-type", "300"}, "--engine-type 300"},
		{"source not an address", []string{"--source", "not-an-ip"}, "--source not-an-ip"},
		{"template refresh packets 0", []string{"--template-refresh-packets", "0"}, "--template-refresh-packets 0"},
		{"template refresh timeout 1ms", []string{"--template-refresh-timeout", "1ms"}, "--template-refresh-timeout 1ms"},
		{"collector queue 0", []string{"--collector-queue", "0"}, "--collector-queue 0"},
		{"collector queue huge", []string{"--collector-queue", "2000000000"}, "--collector-queue 2000000000"},
		{"log level", []string{"--log-level", "loud"}, "--log-level loud"},
		{"user unknown", []string{"--user", "no-such-user-e2e"}, "--user no-such-user-e2e"},
		{"duration negative", []string{"--duration", "-1s"}, "--duration -1s"},
		{"print format", []string{"--print=xml"}, "-print"},
		{"unknown flag", []string{"--colour"}, "-colour"},
		{"stray argument", []string{"eth0"}, `unexpected argument "eth0"`},
		{"live and offline", []string{"-r", "/nonexistent.pcap"}, "-i and -r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := e2eRunOnce(t, bin, ns, append(slices.Clone(base), tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("spanflow %s: exit %d, want 2 with a message naming %q; stderr:\n%s",
					strings.Join(tc.args, " "), code, tc.want, stderr)
			}
			if strings.Contains(stderr, "msg=attached") {
				t.Errorf("spanflow %s attached before refusing its flags:\n%s", strings.Join(tc.args, " "), stderr)
			}
		})
	}
	t.Run("no interface nor file", func(t *testing.T) {
		code, stderr := e2eRunOnce(t, bin, ns, "-n", "127.0.0.1:2055", "--pin-dir", base[5], "--duration", "2s")
		if code != 2 || !strings.Contains(stderr, "-i or -r") {
			t.Errorf("spanflow without -i or -r: exit %d, want 2 naming -i and -r; stderr:\n%s", code, stderr)
		}
	})
	t.Run("every problem at once", func(t *testing.T) {
		code, stderr := e2eRunOnce(t, bin, ns, append(slices.Clone(base), "-v", "3", "--mtu", "10", "--sample", "0")...)
		for _, want := range []string{"-v 3", "--mtu 10", "--sample 0"} {
			if code != 2 || !strings.Contains(stderr, want) {
				t.Errorf("three bad flags: exit %d, want 2 naming each (missing %q); stderr:\n%s", code, want, stderr)
			}
		}
	})
}

// TestE2EMissingInterfaceExitsOne: valid flags, an interface that does not
// exist: exit 1 with a message naming it.
func TestE2EMissingInterfaceExitsOne(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	ns := probetest.NewNetNS(t)
	code, stderr := e2eRunOnce(t, bin, ns, "-i", "sfnone0", "-n", "127.0.0.1:2055", "--pin-dir", e2ePinDir(t),
		"--control", e2eControlPath(t), "--duration", "2s")
	if code != 1 || !strings.Contains(stderr, "sfnone0") {
		t.Errorf("spanflow -i sfnone0 (no such interface): exit %d, want 1 with a message naming sfnone0; stderr:\n%s", code, stderr)
	}
}

// TestE2ERefusingCollectorIsCountedAndSurvived exports v5 to a loopback
// port nobody listens on: the kernel answers with ICMP port unreachable,
// and the next sends fail with ECONNREFUSED. `show export` must count
// them by reason while spanflow goes on running, and SIGTERM still ends it
// with exit 0.
func TestE2ERefusingCollectorIsCountedAndSurvived(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	c := e2eCapture(t, s, probetest.GenConfig{Packets: 2_000, Flows: 300, Seed: 3})
	d := startE2EDaemon(t, bin, s.Capture, e2eControlPath(t), "-i", s.RxName, "-n", "127.0.0.1:9", "-v", "5",
		"--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", e2ePinDir(t), "--detach",
		"--harvest-interval", "100ms", "--inactive-timeout", "1s", "--fin-grace", "0s")
	var ev e2eExportView
	refused := func() uint64 {
		var n uint64
		for _, col := range ev.Collectors {
			for reason, v := range col.SendErrors {
				if strings.Contains(reason, "refused") {
					n += v
				}
			}
		}
		return n
	}
	// Each replay ends 300 flows, 1 s later exported in 10 datagrams.
	for i := 0; i < 6 && refused() == 0; i++ {
		replay, err := s.StartReplay(context.Background(), t, c.Path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := replay.Wait(); err != nil {
			t.Fatal(err)
		}
		exportertest.Within(2*time.Second, func() bool { d.showJSON(t, &ev, "export"); return refused() > 0 })
	}
	if refused() == 0 || len(ev.Collectors) != 1 {
		t.Fatalf("no refused send counted after exporting to a closed port; show export --json: %+v\nlog:\n%s", ev, d.Out.String())
	}
	if !d.Running() {
		t.Fatalf("spanflow exited after its collector refused:\n%s", d.Out.String())
	}
	text, err := d.show("export")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "127.0.0.1:9") || !strings.Contains(text, "refused (port unreachable)") {
		t.Errorf("show export does not name the collector and the refusals:\n%s", text)
	}
	if ev.Collectors[0].Datagrams+refused() < 2 {
		t.Errorf("show export counts %d datagrams sent and %d refused; at least two sends were made: %+v", ev.Collectors[0].Datagrams, refused(), ev)
	}
	if code := d.Stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("spanflow exited with %d after SIGTERM with a refusing collector, want 0:\n%s", code, d.Out.String())
	}
	t.Logf("show export:\n%s", text)
}

// e2eExportView is what the tests read of `show export --json`.
type e2eExportView struct {
	Version    string
	Collectors []struct {
		Name                           string
		RecordsOffered, RecordsDropped uint64
		Datagrams, EncodeErrors        uint64
		SendErrors                     map[string]uint64
	}
}

// TestE2EControlSocketInUseIsRefused starts a second spanflow (on another
// interface, with its own pin directory) on the control socket path of a
// running one: it must exit 1 saying the path is in use, and the first
// must still answer on it.
func TestE2EControlSocketInUseIsRefused(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	probetest.VethPair(t, s.Capture, "sfa0", s.Capture, "sfb0")
	control := e2eControlPath(t)
	first := startE2EDaemon(t, bin, s.Capture, control, "-i", s.RxName, "-n", "127.0.0.1:2055",
		"--xdp-mode", "native", "--pin-dir", e2ePinDir(t, "first"), "--detach")

	code, stderr := e2eRunOnce(t, bin, s.Capture, "-i", "sfa0", "-n", "127.0.0.1:2055", "--xdp-mode", "native",
		"--pin-dir", e2ePinDir(t), "--detach", "--control", control, "--duration", "10s")
	if code != 1 || !strings.Contains(stderr, control) || !strings.Contains(stderr, "in use") {
		t.Errorf("second spanflow on the control socket of a running one: exit %d, want 1 saying %s is in use; stderr:\n%s", code, control, stderr)
	}
	out, err := first.show("interfaces")
	if err != nil || !strings.Contains(out, s.RxName) {
		t.Errorf("the first spanflow no longer answers on %s after the refused start: %v\n%s", control, err, out)
	}
	if code := first.Stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("first spanflow exited with %d after SIGTERM, want 0:\n%s", code, first.Out.String())
	}
}
