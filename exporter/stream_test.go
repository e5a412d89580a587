package exporter

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/exportertest"
)

// countEncoder emits one datagram per batch: the record count as 4 bytes
// (after "TMPL" when templates are due).
type countEncoder struct {
	templatesDue bool
	resets       atomic.Int32
}

func (e *countEncoder) Encode(_ time.Time, recs []cache.Record, emit func([]byte)) error {
	b := []byte{}
	if e.templatesDue {
		b = append(b, "TMPL"...)
		e.templatesDue = false
	}
	emit(binary.BigEndian.AppendUint32(b, uint32(len(recs))))
	return nil
}

func (e *countEncoder) ResendTemplates() { e.templatesDue = true; e.resets.Add(1) }

func closeCollector(t *testing.T, c *Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUDPCollectorDeliversDatagrams(t *testing.T) {
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tr, err := DialUDP(ln.LocalAddr().String(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if tr.HeaderLen() != 28 {
		t.Errorf("IPv4 header len = %d", tr.HeaderLen())
	}
	c := NewStream("test", &countEncoder{}, tr, 8, time.Now)
	c.Offer(make([]cache.Record, 3))
	if _, err := c.Sync(context.Background()); err != nil { // else the two batches may go out as one
		t.Fatal(err)
	}
	c.Offer(make([]cache.Record, 5))
	closeCollector(t, c)

	buf := make([]byte, 64)
	ln.SetReadDeadline(time.Now().Add(2 * time.Second))
	var got []uint32
	for range 2 {
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, binary.BigEndian.Uint32(buf[:n]))
	}
	if got[0] != 3 || got[1] != 5 {
		t.Fatalf("received %v, want [3 5]", got)
	}
	s := c.Stats()
	if s.RecordsOffered != 8 || s.Datagrams != 2 || s.Bytes != 8 || s.RecordsDropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestUDPCollectorResendsRefusedDatagrams: to a port nobody listens on,
// loopback answers each datagram with port unreachable, which the next
// write reports; that write is repeated, so every datagram goes out and
// each refusal is counted as resent and shown with the failed sends.
func TestUDPCollectorResendsRefusedDatagrams(t *testing.T) {
	tr, err := DialUDP(closedUDPPort(t).String(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := NewStream("refusing", &countEncoder{}, tr, 64, time.Now)
	for range 20 {
		c.Offer(make([]cache.Record, 1))
		if _, err := c.Sync(context.Background()); err != nil { // one batch, one datagram
			t.Fatal(err)
		}
	}
	closeCollector(t, c)
	s := c.Stats()
	if s.Resent == 0 || s.Datagrams != 20 || s.SendErrors[ErrRefused.Error()] != s.Resent || len(s.SendErrors) != 1 {
		t.Fatalf("stats %+v: want 20 datagrams sent, refusals resent and shown as refused", s)
	}
}

// blockingTransport holds every Send until released.
type blockingTransport struct{ release chan struct{} }

func (b *blockingTransport) Send([]byte) error { <-b.release; return nil }
func (b *blockingTransport) HeaderLen() int    { return 28 }
func (b *blockingTransport) Close() error      { return nil }

func TestSlowCollectorNeverBlocksOffer(t *testing.T) {
	tr := &blockingTransport{release: make(chan struct{})}
	c := NewStream("slow", &countEncoder{}, tr, 14, time.Now)
	offered := make(chan struct{})
	go func() {
		for range 10 {
			c.Offer(make([]cache.Record, 7))
		}
		close(offered)
	}()
	select {
	case <-offered:
	case <-time.After(5 * time.Second):
		t.Fatal("Offer blocked on a stuck collector")
	}
	close(tr.release)
	closeCollector(t, c)
	s := c.Stats()
	// The queue holds 14 records; before Send blocked the sender may have
	// taken a batch and merged up to a queue's worth more: 14 to 35
	// records sent, the rest dropped, whole batches as two fit the bound.
	if s.RecordsOffered != 70 || s.RecordsDropped < 70-35 || s.RecordsDropped > 70-14 ||
		s.RecordsDropped%7 != 0 || s.Datagrams == 0 || s.Datagrams > 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTCPCollectorReconnectsAndResendsTemplates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	received := make(chan []byte, 16)
	serve := func(ln net.Listener) {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				b, _ := io.ReadAll(conn)
				received <- b
			}()
		}
	}
	go serve(ln)
	tr, err := NewTCPTransport(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	tr.minBackoff, tr.backoff = 0, 0
	enc := &countEncoder{templatesDue: true}
	c := NewStream("tcp", enc, tr, 8, time.Now)
	c.Offer(make([]cache.Record, 1))
	exportertest.WaitFor(t, 10*time.Second, "the first datagram sent", func() bool { return c.Stats().Datagrams == 1 })

	// The collector goes away: the next sends fail and drop the connection.
	ln.Close()
	tr.mu.Lock()
	tr.conn.Close() // what a collector restart does to our end
	tr.mu.Unlock()
	c.Offer(make([]cache.Record, 2))
	exportertest.WaitFor(t, 10*time.Second, "a failed send counted", func() bool { s := c.Stats(); return s.RecordsDropped+s.EncodeErrors > 0 || len(s.SendErrors) > 0 })

	// It comes back on the same port: templates go out first again.
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go serve(ln2)
	exportertest.WaitFor(t, 10*time.Second, "templates resent on the new connection", func() bool {
		c.Offer(make([]cache.Record, 3))
		return enc.resets.Load() == 2 && c.Stats().Datagrams >= 2 // the first connection, then this one
	})
	closeCollector(t, c)
	var fresh []byte
	deadline := time.After(5 * time.Second)
	for fresh == nil {
		select {
		case b := <-received:
			if len(b) > 0 && string(b[:4]) == "TMPL" && binary.BigEndian.Uint32(b[4:8]) == 3 {
				fresh = b
			}
		case <-deadline:
			t.Fatal("no templates-first message on the new connection")
		}
	}
}

// gateTransport holds its first Send until open is closed, then records
// the datagrams it gets.
type gateTransport struct {
	open  chan struct{}
	first atomic.Bool
	sent  [][]byte
}

func (g *gateTransport) Send(b []byte) error {
	if !g.first.Swap(true) {
		<-g.open
	}
	g.sent = append(g.sent, append([]byte(nil), b...))
	return nil
}
func (g *gateTransport) HeaderLen() int { return 28 }
func (g *gateTransport) Close() error   { return nil }

// TestStreamCoalescesQueuedBatches: one-record batches that queue up while
// the sender is busy go out in one encode (one datagram of countEncoder),
// not one each, and a sync marker among them still waits for them.
func TestStreamCoalescesQueuedBatches(t *testing.T) {
	g := &gateTransport{open: make(chan struct{})}
	c := NewStream("coalesce", &countEncoder{}, g, 64, time.Now)
	c.Offer(make([]cache.Record, 1)) // taken at once, held in Send
	exportertest.Within(5*time.Second, func() bool { return g.first.Load() })
	for range 40 {
		c.Offer(make([]cache.Record, 1))
	}
	synced := make(chan error, 1)
	go func() { _, err := c.Sync(context.Background()); synced <- err }()
	c.Offer(make([]cache.Record, 2))
	close(g.open)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	closeCollector(t, c)
	var counts []uint32
	for _, d := range g.sent {
		counts = append(counts, binary.BigEndian.Uint32(d))
	}
	if len(counts) < 2 || counts[0] != 1 || counts[1] < 40 || counts[len(counts)-1] == 0 {
		t.Fatalf("datagrams carry %v records: want 1, then the 40 queued ones together", counts)
	}
	var total uint32
	for _, n := range counts {
		total += n
	}
	if total != 43 {
		t.Errorf("%d records sent, want 43", total)
	}
}

// TestStreamPaces: with Pace(100, 5), 15 datagrams take about 100 ms (5 at
// once, then 10 at 100 a second), where unpaced they take none.
func TestStreamPaces(t *testing.T) {
	g := &gateTransport{open: make(chan struct{})}
	close(g.open)
	c := NewStream("paced", &countEncoder{}, g, 64, time.Now)
	c.Pace(100, 5)
	began := time.Now()
	for range 15 {
		c.Offer(make([]cache.Record, 1))
		c.Sync(context.Background()) // one batch, one datagram
	}
	closeCollector(t, c)
	if took := time.Since(began); took < 90*time.Millisecond {
		t.Errorf("15 datagrams at 100/s after a burst of 5 took %v, want ≥ 100 ms", took)
	}
}
