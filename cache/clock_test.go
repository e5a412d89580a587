package cache

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMonotonicClockMapsKernelStampsToWallTime(t *testing.T) {
	c, err := NewMonotonicClock()
	if err != nil {
		t.Fatal(err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	// A packet stamped now by bpf_ktime_get_ns is "now" on the wall.
	if d := time.Since(c.Wall(uint64(ts.Nano()))).Abs(); d > 100*time.Millisecond {
		t.Errorf("Wall(monotonic now) is %v away from time.Now()", d)
	}
	// A packet one second older is one second earlier, to the ns.
	if d := c.Wall(uint64(ts.Nano())).Sub(c.Wall(uint64(ts.Nano() - int64(time.Second)))); d != time.Second {
		t.Errorf("1 s of monotonic time became %v of wall time", d)
	}
	a, b := c.Now(), c.Now()
	if b.Before(a) {
		t.Errorf("Now ran backwards: %v then %v", a, b)
	}
}

func TestCaptureClockIgnoresReordering(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := NewCaptureClock(start)
	steps := []struct{ advance, want time.Time }{
		{start.Add(2 * time.Second), start.Add(2 * time.Second)},
		{start.Add(1 * time.Second), start.Add(2 * time.Second)}, // out-of-order packet
		{start.Add(3 * time.Second), start.Add(3 * time.Second)},
	}
	for i, st := range steps {
		c.Advance(st.advance)
		if got := c.Now(); !got.Equal(st.want) {
			t.Errorf("step %d: Now = %v, want %v", i, got, st.want)
		}
	}
	if got, want := c.Wall(uint64(start.UnixNano())), start; !got.Equal(want) {
		t.Errorf("Wall(Unix ns) = %v, want %v", got, want)
	}
}
