package cache

import (
	"errors"
	"iter"
	"time"
)

// Replay drives t from a capture: packets yields (capture timestamp,
// Delta) pairs in capture order, each Delta stamped in Unix ns (usually
// one packet). For each pair Replay advances clock to the timestamp,
// expires what ran out by then, and merges the delta; at the end it
// flushes the table (EndForced). emit receives the records in export
// order and must not keep the slice; an error from emit stops Replay and
// is returned.
//
// clock must be the clock t was made with. Expiring before merging makes
// a packet that arrives exactly at its flow's deadline start a new flow,
// as Merge would decide live. A reader error is the caller's to report
// after Replay returns: what was read has then been flushed and emitted.
func Replay(t *Table, clock *CaptureClock, packets iter.Seq2[time.Time, Delta], emit func([]Record) error) error {
	if t.clock != Clock(clock) {
		return errors.New("replay: clock is not the table's clock")
	}
	var one [1]Delta
	var recs []Record
	for ts, d := range packets {
		clock.Advance(ts)
		if recs = t.Expire(recs[:0]); len(recs) > 0 {
			if err := emit(recs); err != nil {
				return err
			}
		}
		one[0] = d
		t.Merge(one[:])
	}
	if recs = t.Flush(recs[:0]); len(recs) > 0 {
		return emit(recs)
	}
	return nil
}
