package cache

import (
	"bytes"
	"cmp"
	"container/heap"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache/app"
)

// SortBy orders top talkers.
type SortBy uint8

const (
	ByBytes SortBy = iota
	ByPackets
	// ByApplication picks the largest flows by bytes and lists them by
	// application name (then bytes): what each application's biggest
	// talkers are.
	ByApplication
)

// ParseSortBy reads "bytes", "packets" (the router's sort-by) or
// "application" ("app").
func ParseSortBy(s string) (SortBy, error) {
	switch s {
	case "bytes":
		return ByBytes, nil
	case "packets":
		return ByPackets, nil
	case "application", "app":
		return ByApplication, nil
	}
	return 0, fmt.Errorf("sort by %q: want bytes, packets or application", s)
}

func (b SortBy) String() string {
	switch b {
	case ByPackets:
		return "packets"
	case ByApplication:
		return "application"
	}
	return "bytes"
}

// MarshalText names the order in JSON.
func (b SortBy) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (b *SortBy) UnmarshalText(text []byte) (err error) {
	*b, err = ParseSortBy(string(text))
	return err
}

// AppLabel is what the classifier says so far of a flow in the table.
type AppLabel struct {
	ID     app.ID
	Kind   AppKind
	Server string
}

// AppOf gives the application of a flow still in the table from its key.
// The cache does not classify: the agent's classifier answers. It is
// called with the table locked, so it must not call the table.
type AppOf func(bpf.FlowKey) AppLabel

// TalkerQuery asks for top talkers.
type TalkerQuery struct {
	N  int
	By SortBy
	// AppOf, when set, gives each flow its application (the view's
	// Application column); ByApplication and FilterApp need it.
	AppOf AppOf
	// FilterApp keeps only the flows of application App, by name:
	// payload verdicts and port guesses alike.
	FilterApp bool
	App       app.ID
}

// TopTalkers is the data of the router's `show ip flow top-talkers`: the
// largest flows now in the table.
type TopTalkers struct {
	Flows     []Talker // largest first; EndReason unset (the flows go on)
	Requested int      // the N asked for
	By        SortBy
	Processed int // flows looked at: the whole table
	// Applications says the flows carry their application (the query had
	// an AppOf). App names the filter; Matched counts the flows it let
	// through.
	Applications bool   `json:",omitempty"`
	App          string `json:",omitempty"`
	Matched      int    `json:",omitempty"`
}

// Talker is one flow of the top talkers: the record so far, with its
// application's name ("" when unknown) and how it was known (AppKind's
// words: payload, port-guess, protocol, unknown) when asked for.
type Talker struct {
	Record
	Application string `json:",omitempty"`
	AppVerdict  string `json:",omitempty"`
}

// TopTalkers returns the n largest flows in the table by bytes or packets.
func (t *Table) TopTalkers(n int, by SortBy) TopTalkers {
	return t.TopTalkersOf(TalkerQuery{N: n, By: by})
}

// TopTalkersOf returns the q.N largest flows in the table by bytes or
// packets (both directions summed when bidirectional), counting each
// flow's current segment, among those of application q.App when
// filtering. Ties go to the smaller key, so the answer is deterministic.
// It costs O(flows · log n), plus an AppOf call a flow when filtering.
func (t *Table) TopTalkersOf(q TalkerQuery) TopTalkers {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := q.N
	top := talkerHeap{by: q.By}
	matched := 0
	for _, tm := range t.heap {
		if n <= 0 {
			break
		}
		f := t.slab.flow(tm.idx)
		if f.startNs == emptySegment {
			continue // emptied by an active timeout, nothing since
		}
		if q.FilterApp && q.AppOf(f.key).ID != q.App {
			continue
		}
		matched++
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
	out := TopTalkers{Requested: n, By: q.By, Processed: t.index.n, Applications: q.AppOf != nil}
	if q.FilterApp {
		out.App, out.Matched = q.App.String(), matched
	}
	out.Flows = make([]Talker, len(top.items))
	for i := len(top.items) - 1; i >= 0; i-- {
		tk := Talker{Record: t.record(heap.Pop(&top).(talker).idx)}
		if q.AppOf != nil {
			l := q.AppOf(tk.Key())
			tk.AppID, tk.AppKind, tk.AppServer = AppIDOf(l.ID), l.Kind, l.Server
			if tk.AppID == 0 {
				tk.AppKind = AppUnknown
			}
			tk.Application, tk.AppVerdict = appName(&tk.Record), tk.AppKind.String()
		}
		out.Flows[i] = tk
	}
	if q.By == ByApplication {
		slices.SortStableFunc(out.Flows, func(a, b Talker) int {
			ua, ub := a.AppID == 0, b.AppID == 0 // unknown last
			return cmp.Or(cmp.Compare(b2i(ua), b2i(ub)), strings.Compare(appText(&a.Record), appText(&b.Record)))
		})
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// appName is the name of r's application, "" when it has none.
func appName(r *Record) string {
	if r.App() == app.Unknown {
		return ""
	}
	return r.App().String()
}

// appText is the view's column: the name, "HTTP?" when a port alone
// suggested it, "-" when unknown (as --print writes it).
func appText(r *Record) string {
	switch n := appName(r); {
	case n == "":
		return "-"
	case r.AppKind == AppPortGuess:
		return n + "?"
	default:
		return n
	}
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
	wa, wb := a.bytes, b.bytes // ByApplication picks by bytes too
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
// with interfaces (DstIf the output interface, Local or Null: see
// DstIfName), addresses, protocol and ports in hex, and the sort
// column abbreviated (K, M), then a summary line; with applications, an
// Application column last ("HTTP?" for a port guess). ifName names an
// interface index; nil prints the number.
func (tt TopTalkers) WriteText(w io.Writer, ifName func(uint32) string) error {
	if ifName == nil {
		ifName = func(i uint32) string { return fmt.Sprint(i) }
	}
	col := "Bytes"
	if tt.By == ByPackets {
		col = "Pkts"
	}
	if tt.Applications {
		col += "\tApplication"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "SrcIf\tSrcIPaddress\tDstIf\tDstIPaddress\tPr\tSrcP\tDstP\t%s\n", col)
	for _, r := range tt.Flows {
		v := r.Bytes + r.RevBytes
		if tt.By == ByPackets {
			v = r.Packets + r.RevPackets
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%02X\t%04X\t%04X\t%s",
			ifName(r.InIfIndex), r.SrcAddr, DstIfName(&r.Record, ifName), r.DstAddr, r.Proto, r.SrcPort, r.DstPort, abbreviate(v))
		if tt.Applications {
			fmt.Fprintf(tw, "\t%s", appText(&r.Record))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(&b, "%d of %d top talkers shown. ", len(tt.Flows), tt.Requested)
	if tt.App != "" {
		fmt.Fprintf(&b, "%d of %d flows matched (application %s).\n", tt.Matched, tt.Processed, tt.App)
	} else {
		fmt.Fprintf(&b, "%d flows processed.\n", tt.Processed)
	}
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
