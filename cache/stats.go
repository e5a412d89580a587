package cache

import "time"

// counters are the table's running statistics, the data of the router's
// `show ip cache flow`. Cache counters (added, expired, emergency) count
// table entries and records; the size distribution and protocol table
// count packets and one-way flows, as a router does, so they read the same
// whether or not the table pairs directions.
type counters struct {
	sinceNs   int64 // first Merge: statistics cover [sinceNs, now]
	since     bool  // sinceNs is set (a capture may start at Unix time 0)
	added     uint64
	emergency uint64
	expired   [numEndReasons]uint64 // records, by EndReason
	sizes     [NumSizeBuckets]uint64
	protocols [numProtocolClasses]ProtocolStats
}

const numEndReasons = int(EndLackOfResources) + 1

func (c *counters) addSizes(packets, bytes uint64) {
	c.sizes[SizeBucket(bytes/packets)] += packets
}

// ended accounts the record r, ended at atNs, in the protocol table: each
// direction with packets is one flow.
func (c *counters) ended(r *Record, atNs int64) {
	c.expired[r.EndReason]++
	if r.Packets > 0 {
		c.protocols[classify(r.Proto, r.SrcPort, r.DstPort)].add(r.Packets, r.Bytes, r.Start, r.End, atNs)
	}
	if r.RevPackets > 0 {
		c.protocols[classify(r.Proto, r.DstPort, r.SrcPort)].add(r.RevPackets, r.RevBytes, r.RevStart, r.RevEnd, atNs)
	}
}

// ProtocolStats is one row of the router's protocol table: sums over the
// one-way flows of a protocol class that have been exported.
type ProtocolStats struct {
	Name    string
	Flows   uint64
	Packets uint64
	Bytes   uint64
	// Active sums each flow's duration (last − first packet); Idle sums
	// the time from each flow's last packet to its end (for a timer, the
	// moment it ran out, not when the ager noticed).
	Active, Idle time.Duration
}

func (p *ProtocolStats) add(packets, bytes uint64, start, end time.Time, atNs int64) {
	p.Flows++
	p.Packets += packets
	p.Bytes += bytes
	p.Active += end.Sub(start)
	if idle := atNs - end.UnixNano(); idle > 0 {
		p.Idle += time.Duration(idle)
	}
}

// FlowsPerSec is Flows over the statistics period.
func (p ProtocolStats) FlowsPerSec(period time.Duration) float64 { return perSec(p.Flows, period) }

// PacketsPerSec is Packets over the statistics period.
func (p ProtocolStats) PacketsPerSec(period time.Duration) float64 {
	return perSec(p.Packets, period)
}

// PacketsPerFlow is the mean packets per flow.
func (p ProtocolStats) PacketsPerFlow() float64 { return ratio(float64(p.Packets), p.Flows) }

// BytesPerPacket is the mean packet size.
func (p ProtocolStats) BytesPerPacket() float64 { return ratio(float64(p.Bytes), p.Packets) }

// ActivePerFlow is the mean flow duration, in seconds.
func (p ProtocolStats) ActivePerFlow() float64 { return ratio(p.Active.Seconds(), p.Flows) }

// IdlePerFlow is the mean time from last packet to expiry, in seconds.
func (p ProtocolStats) IdlePerFlow() float64 { return ratio(p.Idle.Seconds(), p.Flows) }

func perSec(n uint64, period time.Duration) float64 {
	if period <= 0 {
		return 0
	}
	return float64(n) / period.Seconds()
}

func ratio(x float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return x / float64(n)
}

// Stats is a snapshot of the table's statistics: what the router's
// `show ip cache flow` prints.
type Stats struct {
	Since, Now      time.Time // the statistics period
	Active          int       // flows in the table
	MaxFlows        int
	Added           uint64 // flows created
	Expired         Expired
	Emergency       uint64 // entries forced out of a full table (some were empty)
	InactiveTimeout time.Duration
	ActiveTimeout   time.Duration
	Bidirectional   bool
	// Sizes counts packets by IP packet size, in SizeBucketNames' buckets.
	Sizes [NumSizeBuckets]uint64
	// Protocols has one row per class, in the router's order.
	Protocols []ProtocolStats
	// Applications has a row per application of the exported flows (an
	// AppTally's Snapshot), most bytes first; nil when classification is
	// off. The table does not classify: its owner fills this in.
	Applications []AppStats
}

// Expired counts exported records by end reason.
type Expired struct {
	Idle, Active, EndOfFlow, Forced, LackOfResources uint64
}

func expiredFrom(c [numEndReasons]uint64) Expired {
	return Expired{
		Idle:            c[EndIdle],
		Active:          c[EndActive],
		EndOfFlow:       c[EndOfFlow],
		Forced:          c[EndForced],
		LackOfResources: c[EndLackOfResources],
	}
}

// Period is the length of the statistics period.
func (s Stats) Period() time.Duration {
	if s.Since.IsZero() {
		return 0
	}
	return s.Now.Sub(s.Since)
}

// Stats returns a snapshot of the table's statistics.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	s := Stats{
		Now:             now,
		Active:          t.index.n,
		MaxFlows:        t.cfg.MaxFlows,
		Added:           t.stats.added,
		Expired:         expiredFrom(t.stats.expired),
		Emergency:       t.stats.emergency,
		InactiveTimeout: t.cfg.InactiveTimeout,
		ActiveTimeout:   t.cfg.ActiveTimeout,
		Bidirectional:   t.cfg.Bidirectional,
		Sizes:           t.stats.sizes,
		Protocols:       make([]ProtocolStats, numProtocolClasses),
	}
	if t.stats.since {
		s.Since = time.Unix(0, t.stats.sinceNs)
	}
	for c := range s.Protocols {
		s.Protocols[c] = t.stats.protocols[c]
		s.Protocols[c].Name = protocolClasses[c].name
	}
	return s
}
