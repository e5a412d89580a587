package control

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestListenCreatesTheSocketsDirectory: run by hand, without systemd's
// RuntimeDirectory=, the default's directory does not exist yet; the
// daemon creates it and show reaches the socket there.
func TestListenCreatesTheSocketsDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spanflow", "spanflow.sock")
	srv, err := Listen(path, 0o600, func(req Request, w io.Writer) error {
		_, err := io.WriteString(w, "shown "+req.Show)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no socket at %s: %v", path, err)
	}
	var out bytes.Buffer
	if err := Query(path, Request{Show: "cache"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "shown cache" {
		t.Fatalf("show answered %q", out.String())
	}
}
