package cache

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the Table's only source of time. It answers two questions in
// one timebase: what time it is now (for the timers) and what wall time a
// Delta's FirstNs/LastNs stand for (for the records). Keeping both answers
// in the same clock means a flow's last packet and "now" can always be
// compared, live and offline alike.
type Clock interface {
	// Now is the current wall time, in the same timebase as Wall.
	Now() time.Time
	// Wall converts a Delta timestamp (FirstNs, LastNs) to wall time.
	Wall(sourceNs uint64) time.Time
}

// MonotonicClock is the live clock. The datapath stamps packets with
// bpf_ktime_get_ns, i.e. CLOCK_MONOTONIC; MonotonicClock turns such a
// stamp into wall time with one boot offset (wall − monotonic), read once
// when the clock is made. Now is CLOCK_MONOTONIC plus the same offset, so
// a wall-clock step (NTP, an operator's date command) can neither expire
// every flow at once nor keep them all alive: timers run on the monotonic
// clock, only the labels are wall time.
type MonotonicClock struct {
	offsetNs int64 // wall ns − CLOCK_MONOTONIC ns, at construction
}

// NewMonotonicClock reads CLOCK_MONOTONIC and the wall clock once and
// keeps their difference.
func NewMonotonicClock() (*MonotonicClock, error) {
	mono, err := monotonicNs()
	if err != nil {
		return nil, err
	}
	return &MonotonicClock{offsetNs: time.Now().UnixNano() - mono}, nil
}

// Now returns CLOCK_MONOTONIC now, shifted by the boot offset.
func (c *MonotonicClock) Now() time.Time {
	mono, err := monotonicNs()
	if err != nil {
		// CLOCK_MONOTONIC cannot fail on Linux once it worked in
		// NewMonotonicClock; fall back to the wall clock rather than stop.
		return time.Now()
	}
	return time.Unix(0, mono+c.offsetNs)
}

// Wall converts a CLOCK_MONOTONIC stamp to wall time.
func (c *MonotonicClock) Wall(sourceNs uint64) time.Time {
	return time.Unix(0, int64(sourceNs)+c.offsetNs)
}

func monotonicNs() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read CLOCK_MONOTONIC: %w", err)
	}
	return ts.Nano(), nil
}

// CaptureClock is the offline clock, also the tests' fake clock. Delta
// timestamps are Unix ns (a capture's own timestamps), and Now is whatever
// the capture reached: Replay advances it to each packet's time, so a
// capture ages offline exactly as it would have live. It is safe for
// concurrent use.
type CaptureClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewCaptureClock returns a clock standing at start.
func NewCaptureClock(start time.Time) *CaptureClock {
	return &CaptureClock{now: start}
}

// CaptureStepBack is how far back a capture's time must jump for the
// clock to follow it. Smaller steps are reordering (pcapng with several
// interfaces) and leave the clock where it is; a larger one is a capture
// spliced from several, whose earlier part should age among its own
// packets rather than look idle against the later part's time.
const CaptureStepBack = time.Second

// Advance moves the clock to t: forward always, back only by more than
// CaptureStepBack. Flows of the later time keep their deadlines and end
// when the clock reaches them again, or at the final flush.
func (c *CaptureClock) Advance(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) || c.now.Sub(t) > CaptureStepBack {
		c.now = t
	}
	c.mu.Unlock()
}

// Now returns the time the clock was last advanced to.
func (c *CaptureClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Wall reads a Delta timestamp as Unix ns.
func (c *CaptureClock) Wall(sourceNs uint64) time.Time {
	return time.Unix(0, int64(sourceNs))
}

// SourceNs converts wall time back to a CLOCK_MONOTONIC stamp: a restarted
// spanflow turns the wall times it kept back into Deltas.
func (c *MonotonicClock) SourceNs(wallNs int64) uint64 {
	return uint64(max(wallNs-c.offsetNs, 0))
}
