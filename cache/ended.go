package cache

// Ended returns how many records Merge has ended (emergency expiries of a
// full table, flows past their deadline) that wait for the next Expire or
// Flush. A flood of new flows fills this between expiries; the caller
// expires early when it grows, which bounds the memory the records hold.
func (t *Table) Ended() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
