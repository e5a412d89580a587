package exporter

// The golden datagrams in testdata/golden: commented hexdumps of what the
// encoders emit for fixed inputs (legacyRecords, fixedRecords), compared
// byte for byte. One -update flag rewrites them all, through one writer;
// one reader reads them back (golden_tshark_test.go, in package
// exporter_test, reads them on its own, to stay independent of this one).

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// update rewrites the golden files (and FuzzDecode's seeds made from the
// template goldens) from the encoders' output instead of comparing.
var update = flag.Bool("update", false, "rewrite testdata/golden/*.hex and the FuzzDecode seeds from the encoders' output")

// hexPart is a part of a datagram that a golden file names in a comment.
type hexPart struct {
	off, n int
	what   string
}

// goldenPath is where the golden file name lives.
func goldenPath(name string) string { return filepath.Join("testdata", "golden", name) }

// checkGolden compares got with the golden file name or, with -update,
// rewrites the file: headed by about, each datagram's parts (none when
// parts is nil) named in comments. It returns the golden datagrams.
func checkGolden(t *testing.T, name, about string, got [][]byte, parts func(d []byte) []hexPart) [][]byte {
	t.Helper()
	path := goldenPath(name)
	rewrite := "go test ./exporter -run '" + t.Name() + "' -update"
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(formatGolden(about, rewrite, got, parts)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := readGolden(name)
	if err != nil {
		t.Fatalf("%v (%s writes it)", err, rewrite)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d datagrams, golden has %d (%s rewrites it)", name, len(got), len(want), rewrite)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: datagram %d differs from golden (%s rewrites it):\n%s", name, i+1, rewrite, hexDiff(want[i], got[i]))
		}
	}
	return want
}

// formatGolden writes datagrams as a commented hexdump: the about lines,
// how to rewrite it, then each datagram as "# datagram i of n" and lines
// of an offset within the datagram and up to 16 bytes, each part of it
// headed by a comment.
func formatGolden(about, rewrite string, dgrams [][]byte, parts func(d []byte) []hexPart) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(about), "\n") {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	fmt.Fprintf(&b, "# Rewrite with: %s\n", rewrite)
	b.WriteString("# Lines starting with '#' are comments; the others are an offset in the datagram, then bytes.\n")
	for i, d := range dgrams {
		fmt.Fprintf(&b, "#\n# datagram %d of %d: %d bytes\n", i+1, len(dgrams), len(d))
		ps := []hexPart{{0, len(d), ""}}
		if parts != nil {
			ps = parts(d)
		}
		for _, p := range ps {
			if p.what != "" {
				fmt.Fprintf(&b, "# %s\n", p.what)
			}
			for off := p.off; off < p.off+p.n; off += 16 {
				fmt.Fprintf(&b, "%04x: % x\n", off, d[off:min(off+16, p.off+p.n)])
			}
		}
	}
	return b.String()
}

// readGolden reads the golden file name: "# datagram" starts a datagram,
// other "#" lines are comments, the others are an offset (the datagram's
// length so far) and hex bytes.
func readGolden(name string) ([][]byte, error) {
	path := goldenPath(name)
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for n, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "#":
			if len(f) > 1 && f[1] == "datagram" {
				out = append(out, []byte{})
			}
		case len(out) == 0:
			return nil, fmt.Errorf("%s:%d: bytes before the first datagram", path, n+1)
		default:
			cur := out[len(out)-1]
			if off, err := strconv.ParseUint(strings.TrimSuffix(f[0], ":"), 16, 32); err != nil || int(off) != len(cur) {
				return nil, fmt.Errorf("%s:%d: offset %q, want %04x", path, n+1, f[0], len(cur))
			}
			b, err := hex.DecodeString(strings.Join(f[1:], ""))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
			}
			out[len(out)-1] = append(cur, b...)
		}
	}
	return out, nil
}

// hexDiff lists the offsets where two datagrams differ.
func hexDiff(want, got []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "length want %d got %d\n", len(want), len(got))
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = fmt.Sprintf("%02x", want[i])
		}
		if i < len(got) {
			g = fmt.Sprintf("%02x", got[i])
		}
		if w != g {
			fmt.Fprintf(&b, "  offset %d: want %s got %s\n", i, w, g)
		}
	}
	return b.String()
}
