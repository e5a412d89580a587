package prefixes

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

// Format is a prefix-table file format.
type Format string

const (
	Auto   Format = ""       // detected from the content
	Plain  Format = "plain"  // "CIDR ORIGIN [PEER]" lines
	IP2ASN Format = "ip2asn" // range_start range_end AS_number country AS_description (TSV)
	MRT    Format = "mrt"    // MRT TABLE_DUMP_V2 RIB dump
)

// Source is one prefix-table file and its format.
type Source struct {
	Path   string
	Format Format // Auto: detected
}

// ParseSource reads a --prefix-table argument: FILE, or FORMAT:FILE with
// FORMAT plain, ip2asn or mrt. A path whose text before a colon is none of
// those is a path.
func ParseSource(s string) (Source, error) {
	if f, path, ok := strings.Cut(s, ":"); ok {
		switch Format(f) {
		case Plain, IP2ASN, MRT:
			if path == "" {
				return Source{}, fmt.Errorf("%q: no file after the format", s)
			}
			return Source{Path: path, Format: Format(f)}, nil
		}
	}
	if s == "" {
		return Source{}, fmt.Errorf("empty file name")
	}
	return Source{Path: s}, nil
}

func (s Source) String() string {
	if s.Format == Auto {
		return s.Path
	}
	return string(s.Format) + ":" + s.Path
}

// Load reads every source into one table; where two give the same prefix,
// the later one wins. An error names the file and the line (text formats)
// or the record's offset (MRT).
func Load(sources ...Source) (*Table, error) {
	t := &Table{}
	for _, src := range sources {
		if err := t.loadFile(src); err != nil {
			return nil, err
		}
		t.files = append(t.files, src.Path)
	}
	if err := t.build(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) loadFile(src Source) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := decompress(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	format := src.Format
	if format == Auto {
		format = detect(r)
	}
	switch format {
	case MRT:
		err = t.readMRT(r, src.Path)
	default:
		err = t.readText(r, src.Path, format)
	}
	return err
}

// decompress unwraps gzip or bzip2 (told by their magic bytes), as public
// dumps are published.
func decompress(r *bufio.Reader) (*bufio.Reader, error) {
	magic, _ := r.Peek(3)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return bufio.NewReaderSize(z, 1<<16), nil
	case bytes.Equal(magic, []byte("BZh")):
		return bufio.NewReaderSize(bzip2.NewReader(r), 1<<16), nil
	}
	return r, nil
}

// detect tells MRT from text: an MRT record starts with a 4-byte time and
// a 2-byte type below 256, so its fifth byte is 0, which no text has.
// Text is ip2asn when its first data line has tab-separated fields and
// no "/" in the first, plain otherwise.
func detect(r *bufio.Reader) Format {
	head, _ := r.Peek(1 << 12)
	if len(head) >= 12 && head[4] == 0 {
		return MRT
	}
	for line := range strings.Lines(string(head)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		first, _, tab := strings.Cut(line, "\t")
		if tab && !strings.Contains(first, "/") {
			return IP2ASN
		}
		break
	}
	return Plain
}

// lineError names the file and line of a broken text line.
func lineError(path string, n int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
}

func (t *Table) readText(r io.Reader, path string, format Format) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<12), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var err error
		if format == IP2ASN {
			err = t.ip2asnLine(line)
		} else {
			err = t.plainLine(line)
		}
		if err != nil {
			return lineError(path, n, "%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		return lineError(path, n+1, "%v", err)
	}
	return nil
}
