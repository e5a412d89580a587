package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
)

// failingListener fails Accept with the errors in errs (nil: a connection),
// then reports itself closed.
type failingListener struct {
	errs    []error
	accepts int
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.accepts++
	if len(l.errs) == 0 {
		return nil, net.ErrClosed
	}
	err := l.errs[0]
	l.errs = l.errs[1:]
	if err != nil {
		return nil, err
	}
	return closedConn()
}

// closedConn returns a loopback TCP connection its peer has closed.
func closedConn() (net.Conn, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, err
	}
	peer.Close()
	return l.Accept()
}
func (l *failingListener) Close() error   { return nil }
func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{} }

func newTestCollector(cfg *Config, out io.Writer) *collector {
	return &collector{
		cfg: cfg, out: out, stop: func() {},
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		dec:       decode.NewDecoder(),
		byVersion: make(map[uint16]uint64),
		streams:   make(map[streamID]bool),
	}
}

// With the file descriptor limit reached Accept fails at once, again and
// again: every failure must be followed by a pause, doubling from 5 ms to
// a second, and a connection accepted starts again from 5 ms.
func TestAcceptBacksOffOnErrors(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	var errs []error
	for range 10 {
		errs = append(errs, emfile)
	}
	errs = append(errs, nil, emfile, emfile)
	l := &failingListener{errs: errs}
	c := newTestCollector(&Config{}, io.Discard)
	var pauses []time.Duration
	c.pause = func(_ context.Context, d time.Duration) { pauses = append(pauses, d) }
	var wg sync.WaitGroup
	c.acceptTCP(context.Background(), l, &wg)
	wg.Wait()

	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second, 5 * ms, 10 * ms}
	if len(pauses) != len(want) {
		t.Fatalf("%d pauses for 12 failed accepts: %v", len(pauses), pauses)
	}
	for i := range want {
		if pauses[i] != want[i] {
			t.Fatalf("pauses %v, want %v", pauses, want)
		}
	}
	if l.accepts != len(errs)+1 || c.tcpConns != 1 {
		t.Fatalf("%d accepts, %d connections; want %d, 1", l.accepts, c.tcpConns, len(errs)+1)
	}
}

// A record JSON cannot encode (a time past the year 9999, which the
// Decoder no longer makes but another bug might) is counted and skipped:
// the records around it are printed and collect goes on.
func TestJSONSkipsRecordsItCannotEncode(t *testing.T) {
	var out bytes.Buffer
	c := newTestCollector(&Config{JSON: true}, &out)
	good := cache.Record{Packets: 1, Start: time.Unix(1_800_000_000, 0).UTC(), End: time.Unix(1_800_000_001, 0).UTC()}
	bad := good
	bad.Packets, bad.End = 2, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	third := good
	third.Packets = 3
	from := netip.MustParseAddrPort("198.18.0.1:2055")
	c.print(from, &decode.Message{Version: 10, Records: []cache.Record{good, bad, third}})

	if c.writeErr != nil || c.done {
		t.Fatalf("write error %v, done %v: collect stopped", c.writeErr, c.done)
	}
	var packets []uint64
	dec := json.NewDecoder(&out)
	for dec.More() {
		var j struct{ Packets uint64 }
		if err := dec.Decode(&j); err != nil {
			t.Fatalf("output %q: %v", out.String(), err)
		}
		packets = append(packets, j.Packets)
	}
	if len(packets) != 2 || packets[0] != 1 || packets[1] != 3 || c.unprintable != 1 {
		t.Fatalf("printed records of packets %v, %d not encodable; want [1 3], 1", packets, c.unprintable)
	}
}
