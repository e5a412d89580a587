package exporter

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/spanflow/spanflow/cache"
)

// StreamStats counts what one collector's export stream did.
type StreamStats struct {
	RecordsOffered uint64 // handed to Offer
	RecordsDropped uint64 // not encoded: the queue was full (the collector could not keep up)
	Datagrams      uint64 // datagrams sent without error
	Bytes          uint64 // their payload bytes
	EncodeErrors   uint64 // batches the encoder refused
	RecordsSkipped uint64 // records the version cannot carry (IPv6 in v1/v5/v7/v8)
	SendErrors     map[string]uint64
	LastError      string
}

// Stream is one collector's export stream: a bounded queue, its own
// encoder (so its own sequence numbers and templates) and a transport.
// Offer never blocks, so harvesting and ageing never wait for a collector.
type Stream struct {
	Name string

	enc   Encoder
	tr    Transport
	now   func() time.Time
	queue chan batch
	done  chan struct{}
	pace  *rate.Limiter // nil: unpaced

	merged []cache.Record // coalesce's buffer, the sender goroutine's

	mu    sync.Mutex
	stats StreamStats
}

// batch is one queue item: records to send, a tick (neither set), or a
// sync marker (synced is closed once everything before it was sent).
type batch struct {
	recs   []cache.Record
	synced chan struct{}
}

// NewStream starts the stream's sender goroutine. now is the export
// clock (the capture's clock in offline mode).
func NewStream(name string, enc Encoder, tr Transport, queueLen int, now func() time.Time) *Stream {
	c := &Stream{
		Name:  name,
		enc:   enc,
		tr:    tr,
		now:   now,
		queue: make(chan batch, queueLen),
		done:  make(chan struct{}),
		stats: StreamStats{SendErrors: map[string]uint64{}},
	}
	go c.run()
	return c
}

// DefaultRate and DefaultBurst pace a stream's datagrams (Pace): a burst
// of 100,000 expired flows is some 4,000 datagrams, which sent back to
// back overflow a collector's socket buffer (about 200 KB by default,
// some 150 datagrams) faster than it reads: nfcapd then loses a third of
// them (measured here: 36 % of 100,000 flows reached nfcapd unpaced).
// A burst of 64 fits the buffer; 10,000 a second (some 250,000 v9
// records) is what nfcapd and FastNetMon read without loss on a busy
// 2-core machine, where 20,000 still lost a few per cent.
const (
	DefaultRate  = 10000
	DefaultBurst = 64
)

// Pace limits the stream to perSecond datagrams with bursts of burst
// (perSecond 0: unpaced). Call it before the first Offer.
func (c *Stream) Pace(perSecond, burst int) {
	if perSecond <= 0 {
		c.pace = nil
		return
	}
	c.pace = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// Offer queues recs for export without blocking; when the queue is full
// the records are dropped and counted. recs must not be changed after.
func (c *Stream) Offer(recs []cache.Record) {
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	c.stats.RecordsOffered += uint64(len(recs))
	c.mu.Unlock()
	select {
	case c.queue <- batch{recs: recs}:
	default:
		c.mu.Lock()
		c.stats.RecordsDropped += uint64(len(recs))
		c.mu.Unlock()
	}
}

// OfferWait queues recs, waiting for room: offline mode, where nothing
// is live and no record may be dropped for speed.
func (c *Stream) OfferWait(recs []cache.Record) {
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	c.stats.RecordsOffered += uint64(len(recs))
	c.mu.Unlock()
	c.queue <- batch{recs: recs}
}

// Sync waits until everything queued before it was sent (or failed), or
// until ctx ends.
func (c *Stream) Sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case c.queue <- batch{synced: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tick lets encoders with timers of their own (v8 aggregation caches) age
// them; it is dropped when the queue is busy, as the next batch ages too.
func (c *Stream) Tick() {
	select {
	case c.queue <- batch{}:
	default:
	}
}

// flusher is an encoder that holds records of its own (a v8 aggregation
// cache) and must export them at shutdown.
type flusher interface {
	Flush(now time.Time, emit func([]byte)) error
}

// templateResetter is an encoder that can be told its templates were
// lost (a new TCP connection), so it sends them before the next data.
type templateResetter interface{ ResendTemplates() }

// reconnector is a transport that can be down and come back (TCP).
type reconnector interface {
	EnsureConnected() (fresh bool, err error)
}

// maxCoalesce bounds how many records of queued batches run merges into
// one encode.
const maxCoalesce = 1 << 14

func (c *Stream) run() {
	defer close(c.done)
	var next *batch // an item taken from the queue while coalescing
	for {
		var b batch
		if next != nil {
			b, next = *next, nil
		} else {
			var ok bool
			if b, ok = <-c.queue; !ok {
				break
			}
		}
		if b.synced != nil {
			close(b.synced)
			continue
		}
		if len(b.recs) == 0 { // a Tick
			if _, ok := c.enc.(flusher); ok {
				c.encode(nil)
			}
			continue
		}
		recs := b.recs
		recs, next = c.coalesce(recs)
		if r, ok := c.tr.(reconnector); ok {
			fresh, err := r.EnsureConnected()
			if err != nil {
				c.count(func(s *StreamStats) {
					s.RecordsDropped += uint64(len(recs))
					s.SendErrors[errorReason(err)]++
					s.LastError = err.Error()
				})
				continue
			}
			if rs, ok := c.enc.(templateResetter); fresh && ok {
				rs.ResendTemplates()
			}
		}
		c.encode(recs)
	}
	if f, ok := c.enc.(flusher); ok {
		if err := f.Flush(c.now(), c.send); err != nil {
			c.count(func(s *StreamStats) { s.EncodeErrors++; s.LastError = err.Error() })
		}
	}
}

// coalesce appends to recs the record batches already waiting in the
// queue, so that many small batches (a flood's emergency expiries come a
// few records at a time) go out in full datagrams, not one short datagram
// each. It stops at a tick or sync marker, which it returns as next.
func (c *Stream) coalesce(recs []cache.Record) ([]cache.Record, *batch) {
	merged := false
	for len(recs) < maxCoalesce {
		var b batch
		select {
		case nb, ok := <-c.queue:
			if !ok {
				return recs, nil
			}
			b = nb
		default:
			return recs, nil
		}
		if b.synced != nil || len(b.recs) == 0 {
			return recs, &b
		}
		if !merged { // the batches are the callers': copy, never append to them
			c.merged = append(c.merged[:0], recs...)
			merged = true
		}
		c.merged = append(c.merged, b.recs...)
		recs = c.merged
	}
	return recs, nil
}

// legacyStatser is an encoder of a version without IPv6 (v1/v5/v7/v8),
// which counts the records it has to leave out.
type legacyStatser interface{ Stats() LegacyStats }

func (c *Stream) encode(recs []cache.Record) {
	err := c.enc.Encode(c.now(), recs, c.send)
	c.count(func(s *StreamStats) {
		if err != nil {
			s.EncodeErrors++
			s.LastError = err.Error()
		}
		if ls, ok := c.enc.(legacyStatser); ok {
			s.RecordsSkipped = ls.Stats().Skipped // read here: the encoder is this goroutine's
		}
	})
}

func (c *Stream) send(datagram []byte) {
	if c.pace != nil {
		c.pace.Wait(context.Background()) // never fails: no deadline, burst ≥ 1
	}
	err := c.tr.Send(datagram)
	c.count(func(s *StreamStats) {
		if err != nil {
			s.SendErrors[errorReason(err)]++
			s.LastError = err.Error()
			return
		}
		s.Datagrams++
		s.Bytes += uint64(len(datagram))
	})
}

func errorReason(err error) string {
	for _, known := range []error{ErrRefused, ErrUnreachable, ErrTimeout, ErrNotSent} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return "other"
}

func (c *Stream) count(f func(*StreamStats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// Stats returns a snapshot of the stream's counters.
func (c *Stream) Stats() StreamStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.SendErrors = make(map[string]uint64, len(c.stats.SendErrors))
	for k, v := range c.stats.SendErrors {
		s.SendErrors[k] = v
	}
	return s
}

// Close sends what is queued and what an aggregation cache holds (until
// ctx ends), then closes the transport.
// Offer must not be called after Close.
func (c *Stream) Close(ctx context.Context) error {
	close(c.queue)
	select {
	case <-c.done:
	case <-ctx.Done():
		return errors.Join(ctx.Err(), c.tr.Close())
	}
	return c.tr.Close()
}
