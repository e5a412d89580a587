package exporter

import (
	"context"
	"errors"
	"sync"
	"time"

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

func (c *Stream) run() {
	defer close(c.done)
	for b := range c.queue {
		recs := b.recs
		if b.synced != nil {
			close(b.synced)
			continue
		}
		if len(recs) == 0 { // a Tick
			if _, ok := c.enc.(flusher); ok {
				c.encode(recs)
			}
			continue
		}
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
