// Package cache is the "Delta → Record" step of
// NIC → map → Delta → Record → datagram → collector, and spanflow's
// authoritative flow table: it merges the
// datapath's Deltas into flows, ages them with Cisco's timers, pairs
// directions on request and hands expired Records, each with its end
// reason, to the exporters. It also keeps the data of the router's views
// (`show ip cache flow`, `show ip flow top-talkers`) and prints them, and
// the v8 aggregation caches (Aggregator: one per scheme, fed with expired
// Records as a router's `ip flow-aggregation cache` is). Pending tells
// what a flow direction holds since its last export, which the live agent
// keeps in a pinned ledger so a crash loses nothing.
//
// It never imports probe or exporter, never logs, and starts no
// goroutines: the caller (cmd, or Replay offline) decides when to Merge
// and when to Expire.
//
// # Data flow
//
//	probe.Harvest ─▶ []Delta ─▶ Table.Merge     (per harvest, e.g. every 1 s)
//	                            Table.Expire ─▶ []Record ─▶ exporter
//	shutdown:                   Table.Flush  ─▶ []Record (EndForced)
//	offline:  capture ─▶ Replay(table, clock, packets, emit)
//
// # Time
//
// One injected Clock answers "now" and converts a Delta's FirstNs/LastNs
// to wall time, so both are in one timebase. Live, MonotonicClock adds
// one boot offset (wall − CLOCK_MONOTONIC, read once) to the kernel's
// bpf_ktime_get_ns stamps and to CLOCK_MONOTONIC for "now": timers run on
// the monotonic clock, immune to wall-clock steps. Offline, CaptureClock
// reads stamps as Unix ns and stands at the last packet's time; Replay
// advances it packet by packet, so a capture ages as it would have live.
// The tests use a fake with the same shape.
//
// # Timers: a lazy binary heap
//
// Every flow has one entry in a min-heap of deadlines (timerHeap). The
// heap's deadline may be stale but never late: merging a packet pushes a
// flow's true deadline (last + inactive) later, and the heap is not told.
// Expire pops entries whose stale deadline has come, recomputes the true
// one, and either ends the flow or sifts the entry down to its new time.
// So a merge does no timer work (only a FIN/RST, which moves a deadline
// earlier, touches the heap), an Expire that finds nothing due costs one
// comparison, and aging costs O(log n) per flow that expires or is
// re-armed, never a scan. A busy flow is re-armed about once per inactive
// timeout.
//
// A hashed timer wheel would make each step O(1), but its slot width
// either rounds deadlines (Cisco's boundaries are exact here, to the ns)
// or needs a scan of the current slot, and its span must be sized to the
// timeouts. The heap is exact at any resolution, a page of code, and its
// log n (≤ 20 at a million flows) is cheap next to the cache misses of a
// merge. The heap's order also serves emergency expiry: the flow whose
// true deadline is earliest — for equal timeouts, the one idle longest; a
// finished TCP flow in its grace before that — is the one forced out.
//
// # Memory
//
// Entries live in a chunked slab of fixed 104-byte structs without
// pointers (the garbage collector never scans them), found through an
// open-addressing index of 8-byte slots that holds no keys: the 48-byte
// FlowKey is stored once, in the entry. A Go map keyed by FlowKey would
// store it twice and cost about 100 bytes more per flow at a million
// flows. Bidirectional mode adds a 64-byte side struct per entry.
//
// # Bidirectional flows
//
// Both directions share one entry found under a canonical key (endpoints
// in a fixed order; ICMP echo and other query/answer types mapped to the
// request). The entry's key is the initiator's: the side that sent
// first. When both directions of a new flow arrive in the same Merge, a
// TCP SYN without ACK names the initiator, else the earlier first packet.
// RST, or FIN from both sides, starts the end-of-flow grace. See bidir.go.
//
// # Views
//
// Stats counts entries (added, active, records by end reason, emergency
// expiries) and, as the router does, packets and one-way flows: the IP
// packet size distribution in Cisco's buckets and the protocol table.
// Sizes are filed per Delta under its mean packet size: exact offline (a
// Delta is one packet), an approximation live (see sizes.go).
package cache
