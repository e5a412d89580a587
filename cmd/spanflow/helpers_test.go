package main

// Helpers every test file of this package shares: the -update flag and
// the expected files it rewrites, the spanflow binary the e2e and interop
// tests run, and reading JSON lines. (Waiting, child processes, buffers
// and sockets come from exporter/exportertest, shared with exporter's
// collector tests.)

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// update rewrites the expected outputs in testdata/ (testdata/e2e/ by the
// e2e tests, which run as root) instead of comparing with them.
var update = flag.Bool("update", false, "rewrite the expected outputs in testdata/ instead of comparing with them")

// compareWithExpected compares got with the expected file at path, or with
// -update rewrites the file.
func compareWithExpected(t *testing.T, path string, got []byte) {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	rewrite := fmt.Sprintf("go test ./cmd/spanflow -run '^%s$' -update", top)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s writes it)", err, rewrite)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got; %s rewrites it):\n%s", path, rewrite, d)
	}
}

var spanflowBuild struct {
	once sync.Once
	path string
	err  error
}

// spanflowBinary builds spanflow once per test binary, for the e2e and
// interop tests, into a directory named after this process; directories
// of test binaries that are gone are removed on the way.
func spanflowBinary(t *testing.T) string {
	t.Helper()
	spanflowBuild.once.Do(func() {
		stale, _ := filepath.Glob(filepath.Join(os.TempDir(), "spanflow-e2e-bin-*"))
		for _, dir := range stale {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "spanflow-e2e-bin-"))
			if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(dir)
			}
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("spanflow-e2e-bin-%d", os.Getpid()))
		if spanflowBuild.err = os.MkdirAll(dir, 0o755); spanflowBuild.err != nil {
			return
		}
		bin := filepath.Join(dir, "spanflow")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build: --user needs it
		if out, err := build.CombinedOutput(); err != nil {
			spanflowBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		spanflowBuild.path = bin
	})
	if spanflowBuild.err != nil {
		t.Fatal(spanflowBuild.err)
	}
	return spanflowBuild.path
}

// jsonLines decodes out, one JSON value of type T a line; who printed it
// names the culprit of a line that does not decode.
func jsonLines[T any](t *testing.T, who string, out []byte) []T {
	t.Helper()
	var got []T
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s printed %q: %v", who, sc.Text(), err)
		}
		got = append(got, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s's output: %v", who, err)
	}
	return got
}
