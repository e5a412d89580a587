package cache

// timerHeap is a binary min-heap of flow deadlines: one entry per flow.
//
// Deadlines are lazy. Merging a packet usually pushes a flow's true
// deadline later (inactive timer), and the heap is not told: it keeps an
// earlier, stale deadline. When a stale entry reaches the top, the Table
// recomputes the true deadline and sifts the entry down. So a merge costs
// no heap work, and aging costs O(log n) per flow that expires or is
// re-armed — never a scan of the table. Only a deadline moving earlier
// (a FIN or RST starts the grace) is pushed into the heap at once.
type timerHeap []timer

type timer struct {
	at  int64 // deadline, Unix ns; never later than the flow's true one
	idx int32 // flow index in the slab
}

func (h *timerHeap) push(at int64, idx int32, s *slab) {
	*h = append(*h, timer{at: at, idx: idx})
	s.flow(idx).heapIdx = int32(len(*h) - 1)
	h.up(len(*h)-1, s)
}

// remove deletes entry i.
func (h *timerHeap) remove(i int, s *slab) {
	last := len(*h) - 1
	if i != last {
		h.swap(i, last, s)
	}
	*h = (*h)[:last]
	if i != last {
		h.down(i, s)
		h.up(i, s)
	}
}

// set changes entry i's deadline and restores the heap order.
func (h *timerHeap) set(i int, at int64, s *slab) {
	old := (*h)[i].at
	(*h)[i].at = at
	if at < old {
		h.up(i, s)
	} else {
		h.down(i, s)
	}
}

func (h timerHeap) swap(i, j int, s *slab) {
	h[i], h[j] = h[j], h[i]
	s.flow(h[i].idx).heapIdx = int32(i)
	s.flow(h[j].idx).heapIdx = int32(j)
}

func (h timerHeap) up(i int, s *slab) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			return
		}
		h.swap(i, p, s)
		i = p
	}
}

func (h timerHeap) down(i int, s *slab) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h[r].at < h[c].at {
			c = r
		}
		if h[i].at <= h[c].at {
			return
		}
		h.swap(i, c, s)
		i = c
	}
}
