package cache

import (
	"bytes"
	"container/heap"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spanflow/spanflow/bpf"
)

// SortBy orders top talkers.
type SortBy uint8

const (
	ByBytes SortBy = iota
	ByPackets
)

// ParseSortBy reads "bytes" or "packets", as the router's sort-by takes.
func ParseSortBy(s string) (SortBy, error) {
	switch s {
	case "bytes":
		return ByBytes, nil
	case "packets":
		return ByPackets, nil
	}
	return 0, fmt.Errorf("sort by %q: want bytes or packets", s)
}

func (b SortBy) String() string {
	if b == ByPackets {
		return "packets"
	}
	return "bytes"
}

// TopTalkers is the data of the router's `show ip flow top-talkers`: the
// largest flows now in the table.
type TopTalkers struct {
	Flows     []Record // largest first; EndReason unset (the flows go on)
	Requested int      // the N asked for
	By        SortBy
	Processed int // flows looked at: the whole table
}

// TopTalkers returns the n largest flows in the table by bytes or packets
// (both directions summed when bidirectional), counting each flow's
// current segment. Ties go to the smaller key, so the answer is
// deterministic. It costs O(flows · log n).
func (t *Table) TopTalkers(n int, by SortBy) TopTalkers {
	t.mu.Lock()
	defer t.mu.Unlock()
	top := talkerHeap{by: by}
	for _, tm := range t.heap {
		if n <= 0 {
			break
		}
		f := t.slab.flow(tm.idx)
		if f.startNs == emptySegment {
			continue // emptied by an active timeout, nothing since
		}
		c := talker{idx: tm.idx, key: &f.key, packets: f.packets, bytes: f.bytes}
		if t.slab.bidir {
			s := t.slab.side(tm.idx)
			c.packets += s.revPackets
			c.bytes += s.revBytes
		}
		if len(top.items) < n {
			heap.Push(&top, c)
		} else if top.less(top.items[0], c) {
			top.items[0] = c
			heap.Fix(&top, 0)
		}
	}
	out := TopTalkers{Requested: n, By: by, Processed: t.index.n}
	out.Flows = make([]Record, len(top.items))
	for i := len(top.items) - 1; i >= 0; i-- {
		out.Flows[i] = t.record(heap.Pop(&top).(talker).idx)
	}
	return out
}

type talker struct {
	idx            int32
	key            *bpf.FlowKey
	packets, bytes uint64
}

// talkerHeap is a min-heap: its root is the smallest of the current top n.
type talkerHeap struct {
	items []talker
	by    SortBy
}

// less reports whether a ranks below b.
func (h *talkerHeap) less(a, b talker) bool {
	wa, wb := a.bytes, b.bytes
	if h.by == ByPackets {
		wa, wb = a.packets, b.packets
	}
	if wa != wb {
		return wa < wb
	}
	return compareKeys(a.key, b.key) > 0
}

func (h *talkerHeap) Len() int           { return len(h.items) }
func (h *talkerHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *talkerHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *talkerHeap) Push(x any)         { h.items = append(h.items, x.(talker)) }
func (h *talkerHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// WriteText prints the top talkers as the router does: one line a flow
// with interfaces, addresses, protocol and ports in hex, and the sort
// column abbreviated (K, M), then a summary line. ifName names an
// interface index; nil prints the number.
func (tt TopTalkers) WriteText(w io.Writer, ifName func(uint32) string) error {
	if ifName == nil {
		ifName = func(i uint32) string { return fmt.Sprint(i) }
	}
	col := "Bytes"
	if tt.By == ByPackets {
		col = "Pkts"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "SrcIf\tSrcIPaddress\tDstIf\tDstIPaddress\tPr\tSrcP\tDstP\t%s\n", col)
	for _, r := range tt.Flows {
		dstIf := "-"
		if r.OutIfIndex != 0 {
			dstIf = ifName(r.OutIfIndex)
		}
		v := r.Bytes + r.RevBytes
		if tt.By == ByPackets {
			v = r.Packets + r.RevPackets
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%02X\t%04X\t%04X\t%s\n",
			ifName(r.InIfIndex), r.SrcAddr, dstIf, r.DstAddr, r.Proto, r.SrcPort, r.DstPort, abbreviate(v))
	}
	tw.Flush()
	fmt.Fprintf(&b, "%d of %d top talkers shown. %d flows processed.\n", len(tt.Flows), tt.Requested, tt.Processed)
	_, err := io.WriteString(w, b.String())
	return err
}

// abbreviate prints a count the way the router's top-talkers column
// does: in full below 100000, else in K (10³) or M (10⁶).
func abbreviate(v uint64) string {
	switch {
	case v < 100_000:
		return fmt.Sprint(v)
	case v < 100_000_000:
		return fmt.Sprintf("%dK", v/1000)
	default:
		return fmt.Sprintf("%dM", v/1_000_000)
	}
}

// compareKeys orders flow keys field by field.
func compareKeys(a, b *bpf.FlowKey) int {
	if c := bytes.Compare(a.SrcAddr[:], b.SrcAddr[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.DstAddr[:], b.DstAddr[:]); c != 0 {
		return c
	}
	for _, p := range [...][2]uint32{
		{uint32(a.SrcPort), uint32(b.SrcPort)}, {uint32(a.DstPort), uint32(b.DstPort)},
		{uint32(a.Proto), uint32(b.Proto)}, {a.Ifindex, b.Ifindex},
		{uint32(a.VlanId), uint32(b.VlanId)}, {uint32(a.InnerVlanId), uint32(b.InnerVlanId)},
		{uint32(a.Tos), uint32(b.Tos)},
	} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}
