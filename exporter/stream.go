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
	RecordsDropped uint64 // not encoded: the queue was full or the collector down
	Datagrams      uint64 // datagrams sent without error
	Bytes          uint64 // their payload bytes
	EncodeErrors   uint64 // batches the encoder refused
	RecordsSkipped uint64 // records the version cannot carry (IPv6 in v1/v5/v7/v8)
	// Resent counts datagrams written again because the socket reported
	// that an earlier one was refused (UDP: ICMP port unreachable): as
	// many earlier datagrams did not reach a collector.
	Resent     uint64
	SendErrors map[string]uint64
	LastError  string
}

// Stream is one collector's export stream: a queue bounded in records,
// its own encoder (so its own sequence numbers and templates) and a
// transport. Offer never blocks, so harvesting and ageing never wait for
// a collector.
type Stream struct {
	Name string

	enc  Encoder
	tr   Transport
	now  func() time.Time
	pace *rate.Limiter // nil: unpaced
	// holdWhileDown: a batch waits for a reconnecting transport instead
	// of being dropped (HoldWhileDown).
	holdWhileDown bool

	merged []cache.Record // coalesce's buffer, the sender goroutine's

	wake     chan struct{} // a token when items were added or the stream closed
	stop     chan struct{} // closed when Close gives up waiting
	stopOnce sync.Once
	done     chan struct{}

	mu     sync.Mutex
	room   *sync.Cond  // broadcast when the sender takes records or stops
	items  []queueItem // the queue, oldest first
	queued int         // records in items
	limit  int         // the most records items may hold
	closed bool        // Close was called
	down   bool        // the sender waits for the transport to reconnect
	losses uint64      // times offered records were not taken by the transport
	stats  StreamStats
}

// queueItem is one queue entry: records to send, a tick (neither set), or a
// sync marker.
type queueItem struct {
	recs []cache.Record
	sync *syncMarker
}

// syncMarker is closed once everything queued before it was handed to the
// transport or lost; losses is the stream's count at that point.
type syncMarker struct {
	done   chan struct{}
	losses uint64
}

// NewStream starts the stream's sender goroutine. queueRecords bounds the
// records waiting to be sent; now is the export clock (the capture's
// clock in offline mode).
func NewStream(name string, enc Encoder, tr Transport, queueRecords int, now func() time.Time) *Stream {
	c := &Stream{
		Name:  name,
		enc:   enc,
		tr:    tr,
		now:   now,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		limit: max(queueRecords, 1),
		stats: StreamStats{SendErrors: map[string]uint64{}},
	}
	c.room = sync.NewCond(&c.mu)
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

// HoldWhileDown makes a batch wait for a transport that is reconnecting
// (TCP) rather than be dropped, so that a collector restart loses nothing
// the queue can hold; Offer drops, counted, once it is full. Call it
// before the first Offer. Not for OfferWait's callers: they would wait
// as long as the collector is down.
func (c *Stream) HoldWhileDown() { c.holdWhileDown = true }

// Offer queues recs for export without blocking; the records beyond the
// queue's bound are dropped and counted. recs must not be changed after.
func (c *Stream) Offer(recs []cache.Record) {
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	c.stats.RecordsOffered += uint64(len(recs))
	take := 0
	if !c.closed {
		take = min(len(recs), c.limit-c.queued)
	}
	c.push(recs[:take])
	c.lose(len(recs) - take)
	c.mu.Unlock()
}

// OfferWait queues recs, waiting for room: offline mode, where nothing
// is live and no record may be dropped for speed.
func (c *Stream) OfferWait(recs []cache.Record) {
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.RecordsOffered += uint64(len(recs))
	for len(recs) > 0 && !c.closed && !c.stopped() {
		if c.queued == c.limit {
			c.room.Wait()
			continue
		}
		take := min(len(recs), c.limit-c.queued)
		c.push(recs[:take])
		recs = recs[take:]
	}
	c.lose(len(recs))
}

// push queues records (none: nothing) and wakes the sender; c.mu is held.
func (c *Stream) push(recs []cache.Record) {
	if len(recs) == 0 {
		return
	}
	c.items = append(c.items, queueItem{recs: recs})
	c.queued += len(recs)
	c.signal()
}

// lose counts n records dropped before the queue (none: nothing); c.mu
// is held.
func (c *Stream) lose(n int) {
	if n > 0 {
		c.stats.RecordsDropped += uint64(n)
		c.losses++
	}
}

func (c *Stream) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Stream) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// ErrDown says a stream's transport is down and waits to reconnect: what
// was offered is held, not yet sent.
var ErrDown = errors.New("collector down: waiting to reconnect")

// Sync waits until everything queued before it was handed to the
// transport or lost, or until ctx ends, and returns the stream's losses
// by then (Losses): equal to an earlier value, everything offered in
// between was taken by the transport — UDP: sent; TCP: written. While the
// transport is down it returns ErrDown at once.
func (c *Stream) Sync(ctx context.Context) (losses uint64, err error) {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, errors.New("stream closed")
	case c.down:
		c.mu.Unlock()
		return 0, ErrDown
	}
	// A marker already last in the queue stands for this one too.
	var m *syncMarker
	if n := len(c.items); n > 0 && c.items[n-1].sync != nil {
		m = c.items[n-1].sync
	} else {
		m = &syncMarker{done: make(chan struct{})}
		c.items = append(c.items, queueItem{sync: m})
		c.signal()
	}
	c.mu.Unlock()
	select {
	case <-m.done:
		return m.losses, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Losses counts the times offered records were not taken by the
// transport: dropped at the queue or while the collector was down, in a
// datagram that failed to send, or refused by the encoder.
func (c *Stream) Losses() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.losses
}

// Tick lets encoders with timers of their own (v8 aggregation caches) age
// them; it is dropped when the queue is busy, as the next batch ages too.
func (c *Stream) Tick() {
	c.mu.Lock()
	if len(c.items) == 0 && !c.closed {
		c.items = append(c.items, queueItem{})
		c.signal()
	}
	c.mu.Unlock()
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
	NextDial() time.Time
}

// maxCoalesce bounds how many records of queued batches run merges into
// one encode.
const maxCoalesce = 1 << 14

func (c *Stream) run() {
	defer close(c.done)
	for {
		it, ok := c.take()
		if !ok {
			break
		}
		switch {
		case it.sync != nil:
			c.mu.Lock()
			it.sync.losses = c.losses
			c.mu.Unlock()
			close(it.sync.done)
		case len(it.recs) == 0: // a Tick
			if _, ok := c.enc.(flusher); ok {
				c.encode(nil)
			}
		default:
			recs := c.coalesce(it.recs)
			if c.connected(len(recs)) {
				c.encode(recs)
			}
		}
	}
	if c.stopped() {
		return
	}
	if f, ok := c.enc.(flusher); ok {
		if err := f.Flush(c.now(), c.send); err != nil {
			c.count(func(s *StreamStats) { s.EncodeErrors++; s.LastError = err.Error() })
		}
	}
}

// take waits for the oldest item; false once the stream is closed and
// empty, or stopped (what is left is then counted as dropped).
func (c *Stream) take() (queueItem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.items) == 0 || c.stopped() {
		if c.stopped() {
			c.dropQueued()
			return queueItem{}, false
		}
		if c.closed {
			return queueItem{}, false
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-c.stop:
		}
		c.mu.Lock()
	}
	return c.pop(), true
}

// pop removes the oldest item; c.mu is held.
func (c *Stream) pop() queueItem {
	it := c.items[0]
	c.items[0] = queueItem{}
	c.items = c.items[1:]
	c.queued -= len(it.recs)
	c.room.Broadcast()
	return it
}

// dropQueued counts what is still queued as dropped; c.mu is held.
func (c *Stream) dropQueued() {
	for len(c.items) > 0 {
		it := c.pop()
		if it.sync != nil {
			close(it.sync.done) // its losses stay 0: never equal to a count after a loss
		}
		c.lose(len(it.recs))
	}
}

// connected makes sure a reconnecting transport is up before n records go
// out. While it is down the batch waits (HoldWhileDown) or is dropped,
// counted; false when the records are not to be sent.
func (c *Stream) connected(n int) bool {
	r, ok := c.tr.(reconnector)
	if !ok {
		return true
	}
	for {
		fresh, err := r.EnsureConnected()
		if err == nil {
			c.setDown(false)
			if rs, ok := c.enc.(templateResetter); fresh && ok {
				rs.ResendTemplates()
			}
			return true
		}
		if !errors.Is(err, ErrNotSent) { // a dial failed, not a wait for the next
			c.count(func(s *StreamStats) { s.SendErrors[errorReason(err)]++; s.LastError = err.Error() })
		}
		if !c.holdWhileDown || !c.waitUntil(r.NextDial()) {
			c.mu.Lock()
			c.lose(n)
			c.mu.Unlock()
			return false
		}
	}
}

// waitUntil marks the stream down and waits until t; false when the
// stream was stopped first.
func (c *Stream) waitUntil(t time.Time) bool {
	c.setDown(true)
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-c.stop:
		return false
	}
}

func (c *Stream) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// coalesce appends to recs the record batches queued right behind it, so
// that many small batches (a flood's emergency expiries come a few
// records at a time) go out in full datagrams, not one short datagram
// each. It stops at a tick or sync marker.
func (c *Stream) coalesce(recs []cache.Record) []cache.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	merged := false
	for len(recs) < maxCoalesce && len(c.items) > 0 && len(c.items[0].recs) > 0 {
		b := c.pop()
		if !merged { // the batches are the callers': copy, never append to them
			c.merged = append(c.merged[:0], recs...)
			merged = true
		}
		c.merged = append(c.merged, b.recs...)
		recs = c.merged
	}
	return recs
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
			c.losses++
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
	refusedBefore := c.refused()
	err := c.tr.Send(datagram)
	refused := c.refused() > refusedBefore
	c.count(func(s *StreamStats) {
		if refused { // an earlier datagram met a closed port: lost
			c.losses++
		}
		if err != nil {
			s.SendErrors[errorReason(err)]++
			s.LastError = err.Error()
			c.losses++
			return
		}
		s.Datagrams++
		s.Bytes += uint64(len(datagram))
	})
}

// refused counts the transport's datagrams a collector refused (UDP).
func (c *Stream) refused() uint64 {
	if r, ok := c.tr.(resender); ok {
		return r.Resent()
	}
	return 0
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

// resender is a transport that writes a datagram again when the socket
// reports an earlier one refused (UDP).
type resender interface{ Resent() uint64 }

// Stats returns a snapshot of the stream's counters.
func (c *Stream) Stats() StreamStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.SendErrors = make(map[string]uint64, len(c.stats.SendErrors))
	for k, v := range c.stats.SendErrors {
		s.SendErrors[k] = v
	}
	if r, ok := c.tr.(resender); ok {
		// Each resend stands for an earlier datagram refused: shown
		// with the sends that failed, as an operator counts them.
		s.Resent = r.Resent()
		if s.Resent > 0 {
			s.SendErrors[ErrRefused.Error()] += s.Resent
		}
	}
	return s
}

// Close sends what is queued and what an aggregation cache holds, then
// closes the transport. When ctx ends first, the sender stops and what it
// had not sent is counted as dropped. Offer after Close drops, counted.
func (c *Stream) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.room.Broadcast()
	c.signal()
	c.mu.Unlock()
	select {
	case <-c.done:
		return c.tr.Close()
	case <-ctx.Done():
	}
	c.stopOnce.Do(func() { close(c.stop) })
	c.mu.Lock()
	c.room.Broadcast()
	c.mu.Unlock()
	return errors.Join(ctx.Err(), c.tr.Close())
}
