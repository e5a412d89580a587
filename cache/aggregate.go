package cache

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Scheme is a NetFlow v8 router-based aggregation scheme. Its value is the
// scheme number carried in the v8 header's aggregation byte.
type Scheme uint8

// The fourteen v8 aggregation schemes, numbered as on the wire.
const (
	SchemeAS                   Scheme = 1  // as
	SchemeProtocolPort         Scheme = 2  // protocol-port
	SchemeSourcePrefix         Scheme = 3  // source-prefix
	SchemeDestinationPrefix    Scheme = 4  // destination-prefix
	SchemePrefix               Scheme = 5  // prefix
	SchemeDestination          Scheme = 6  // destination (Catalyst destination-only)
	SchemeSourceDestination    Scheme = 7  // source-destination (Catalyst)
	SchemeFullFlow             Scheme = 8  // full-flow (Catalyst)
	SchemeASToS                Scheme = 9  // as-tos
	SchemeProtocolPortToS      Scheme = 10 // protocol-port-tos
	SchemeSourcePrefixToS      Scheme = 11 // source-prefix-tos
	SchemeDestinationPrefixToS Scheme = 12 // destination-prefix-tos
	SchemePrefixToS            Scheme = 13 // prefix-tos
	SchemePrefixPort           Scheme = 14 // prefix-port (ToS, prefixes, protocol and ports)
)

// schemeNames are Cisco's `ip flow-aggregation cache` names, by number.
var schemeNames = [...]string{
	SchemeAS:                   "as",
	SchemeProtocolPort:         "protocol-port",
	SchemeSourcePrefix:         "source-prefix",
	SchemeDestinationPrefix:    "destination-prefix",
	SchemePrefix:               "prefix",
	SchemeDestination:          "destination",
	SchemeSourceDestination:    "source-destination",
	SchemeFullFlow:             "full-flow",
	SchemeASToS:                "as-tos",
	SchemeProtocolPortToS:      "protocol-port-tos",
	SchemeSourcePrefixToS:      "source-prefix-tos",
	SchemeDestinationPrefixToS: "destination-prefix-tos",
	SchemePrefixToS:            "prefix-tos",
	SchemePrefixPort:           "prefix-port",
}

// Schemes lists every aggregation scheme in scheme-number order.
func Schemes() []Scheme {
	s := make([]Scheme, 0, len(schemeNames)-1)
	for i := 1; i < len(schemeNames); i++ {
		s = append(s, Scheme(i))
	}
	return s
}

// Valid reports whether s is one of the fourteen schemes.
func (s Scheme) Valid() bool { return s >= SchemeAS && s <= SchemePrefixPort }

// String returns Cisco's cache name, or "scheme(N)" for an invalid value.
func (s Scheme) String() string {
	if !s.Valid() {
		return "scheme(" + strconv.Itoa(int(s)) + ")"
	}
	return schemeNames[s]
}

// ParseAggregation reads an --aggregation value: Cisco's cache name
// (case-insensitive) or the scheme number 1–14.
func ParseAggregation(v string) (Scheme, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	if n, err := strconv.Atoi(t); err == nil {
		if s := Scheme(n); n > 0 && n < 256 && s.Valid() {
			return s, nil
		}
	} else {
		for i := 1; i < len(schemeNames); i++ {
			if schemeNames[i] == t {
				return Scheme(i), nil
			}
		}
	}
	var b strings.Builder
	for i := 1; i < len(schemeNames); i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", i, schemeNames[i])
	}
	return 0, fmt.Errorf("aggregation %q: want a scheme number or name, one of: %s", v, b.String())
}

// Fields of a record that a scheme keys on.
const (
	fieldSrcAS = 1 << iota
	fieldDstAS
	fieldInIf
	fieldOutIf
	fieldProto
	fieldPorts
	fieldToS
	fieldSrcPrefix // source address masked with SrcMask, and SrcMask
	fieldDstPrefix // destination address masked with DstMask, and DstMask
	fieldSrcAddr   // full source address
	fieldDstAddr   // full destination address
)

// schemeFields is every non-counter field of each scheme's v8 record: an
// aggregate is identified by all the values its record carries.
var schemeFields = [...]uint16{
	SchemeAS:                   fieldSrcAS | fieldDstAS | fieldInIf | fieldOutIf,
	SchemeProtocolPort:         fieldProto | fieldPorts,
	SchemeSourcePrefix:         fieldSrcPrefix | fieldSrcAS | fieldInIf,
	SchemeDestinationPrefix:    fieldDstPrefix | fieldDstAS | fieldOutIf,
	SchemePrefix:               fieldSrcPrefix | fieldDstPrefix | fieldSrcAS | fieldDstAS | fieldInIf | fieldOutIf,
	SchemeDestination:          fieldDstAddr | fieldOutIf | fieldToS,
	SchemeSourceDestination:    fieldDstAddr | fieldSrcAddr | fieldOutIf | fieldInIf | fieldToS,
	SchemeFullFlow:             fieldDstAddr | fieldSrcAddr | fieldPorts | fieldOutIf | fieldInIf | fieldToS | fieldProto,
	SchemeASToS:                fieldSrcAS | fieldDstAS | fieldInIf | fieldOutIf | fieldToS,
	SchemeProtocolPortToS:      fieldProto | fieldToS | fieldPorts | fieldInIf | fieldOutIf,
	SchemeSourcePrefixToS:      fieldSrcPrefix | fieldToS | fieldSrcAS | fieldInIf,
	SchemeDestinationPrefixToS: fieldDstPrefix | fieldToS | fieldDstAS | fieldOutIf,
	SchemePrefixToS:            fieldSrcPrefix | fieldDstPrefix | fieldToS | fieldSrcAS | fieldDstAS | fieldInIf | fieldOutIf,
	SchemePrefixPort:           fieldSrcPrefix | fieldDstPrefix | fieldToS | fieldProto | fieldPorts | fieldInIf | fieldOutIf,
}

// AggregateKey identifies one flow of an aggregation cache. Fields the
// scheme does not carry are zero (addresses: the invalid netip.Addr{});
// prefixes are the record's address masked with the record's mask length.
type AggregateKey struct {
	SrcAddr, DstAddr      netip.Addr // prefix or address, IPv4 only
	SrcMask, DstMask      uint8
	SrcPort, DstPort      uint16 // ICMP: DstPort = type<<8 | code
	Proto, ToS            uint8
	SrcAS, DstAS          uint32
	InIfIndex, OutIfIndex uint32
}

// Key projects r onto the scheme's fields. It returns false for a flow
// that is not IPv4: v8 (like every router aggregation cache) carries IPv4
// only. IPv4-mapped IPv6 addresses count as IPv4.
func (s Scheme) Key(r *Record) (AggregateKey, bool) {
	var k AggregateKey
	if !s.Valid() || r.IPVersion == 6 {
		return k, false
	}
	src, dst := r.SrcAddr.Unmap(), r.DstAddr.Unmap()
	if !src.Is4() || !dst.Is4() {
		return k, false
	}
	f := schemeFields[s]
	if f&fieldSrcAS != 0 {
		k.SrcAS = r.SrcAS
	}
	if f&fieldDstAS != 0 {
		k.DstAS = r.DstAS
	}
	if f&fieldInIf != 0 {
		k.InIfIndex = r.InIfIndex
	}
	if f&fieldOutIf != 0 {
		k.OutIfIndex = r.OutIfIndex
	}
	if f&fieldProto != 0 {
		k.Proto = r.Proto
	}
	if f&fieldPorts != 0 {
		k.SrcPort, k.DstPort = r.SrcPort, r.DstPort
	}
	if f&fieldToS != 0 {
		k.ToS = r.ToS
	}
	switch {
	case f&fieldSrcPrefix != 0:
		k.SrcMask = min(r.SrcMask, 32)
		k.SrcAddr = maskAddr4(src, k.SrcMask)
	case f&fieldSrcAddr != 0:
		k.SrcAddr = src
	}
	switch {
	case f&fieldDstPrefix != 0:
		k.DstMask = min(r.DstMask, 32)
		k.DstAddr = maskAddr4(dst, k.DstMask)
	case f&fieldDstAddr != 0:
		k.DstAddr = dst
	}
	return k, true
}

// maskAddr4 keeps the first bits bits of an IPv4 address (bits ≤ 32).
func maskAddr4(a netip.Addr, bits uint8) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if bits == 0 {
		v = 0
	} else {
		v &= ^uint32(0) << (32 - bits)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Aggregate is one flow of an aggregation cache: the main-cache flows that
// share a key, summed. Start is the earliest Start and End the latest End
// of the flows folded in.
type Aggregate struct {
	AggregateKey
	Flows, Packets, Bytes uint64
	Start, End            time.Time
	EndReason             EndReason
}

// AggregatorConfig sizes an aggregation cache and sets its timers. Zero
// values take Cisco's defaults for aggregation caches.
type AggregatorConfig struct {
	ActiveTimeout   time.Duration // default 30 min
	InactiveTimeout time.Duration // default 15 s
	MaxEntries      int           // default 4096

	// Fields16 folds each key onto v8's 16-bit fields before it is
	// looked up: AS numbers above 65535 become ASTrans (RFC 6793) and
	// interface indexes keep their low 16 bits, as the export writes
	// them. Otherwise two 4-byte AS numbers would leave as two rows
	// with the same key.
	Fields16 bool
}

// ASTrans is the 2-byte AS number that stands for any 4-byte one in a
// 2-byte field (RFC 6793).
const ASTrans = 23456

// fold16 is k as v8's 16-bit AS and interface fields carry it.
func (k *AggregateKey) fold16() {
	for _, as := range []*uint32{&k.SrcAS, &k.DstAS} {
		if *as > 0xffff {
			*as = ASTrans
		}
	}
	k.InIfIndex &= 0xffff
	k.OutIfIndex &= 0xffff
}

// Defaults of AggregatorConfig (Cisco's for `ip flow-aggregation cache`).
const (
	DefaultAggregateActiveTimeout   = 30 * time.Minute
	DefaultAggregateInactiveTimeout = 15 * time.Second
	DefaultAggregateEntries         = 4096
)

// AggregatorStats counts what an aggregation cache took in and handed out.
type AggregatorStats struct {
	Records  uint64 // main-cache records folded into an aggregate
	Skipped  uint64 // records left out because they are not IPv4
	Created  uint64 // aggregates created
	Exported uint64 // aggregates handed out by Add (evicted), Expire or Flush
	Evicted  uint64 // aggregates expired early to make room (EndLackOfResources)
}

// Aggregator is one aggregation cache, the equivalent of a router's
// `ip flow-aggregation cache <scheme>`: it folds the main cache's expired
// records into aggregates keyed by the scheme's fields and ages them with
// its own timers. The inactive timer runs from the last time a record
// joined the aggregate and the active timer from the aggregate's creation,
// both on the clock the caller passes in. An Aggregator is not safe for
// concurrent use. In steady state it allocates nothing per record.
type Aggregator struct {
	scheme  Scheme
	cfg     AggregatorConfig
	index   map[AggregateKey]int32
	entries []aggEntry
	free    []int32
	// Two intrusive lists through entries: by last update (idle order)
	// and by creation (age order). -1 ends a list.
	idleHead, idleTail int32
	ageHead, ageTail   int32
	stats              AggregatorStats
}

type aggEntry struct {
	agg                Aggregate
	created, updated   time.Time
	idlePrev, idleNext int32
	agePrev, ageNext   int32
}

// NewAggregator returns an empty aggregation cache for scheme s.
func NewAggregator(s Scheme, cfg AggregatorConfig) (*Aggregator, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("aggregation scheme %d: must be 1–14", s)
	}
	if cfg.ActiveTimeout < 0 || cfg.InactiveTimeout < 0 || cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("aggregation cache %s: timeouts and size must not be negative", s)
	}
	if cfg.ActiveTimeout == 0 {
		cfg.ActiveTimeout = DefaultAggregateActiveTimeout
	}
	if cfg.InactiveTimeout == 0 {
		cfg.InactiveTimeout = DefaultAggregateInactiveTimeout
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultAggregateEntries
	}
	if cfg.MaxEntries > 1<<30 {
		return nil, fmt.Errorf("aggregation cache %s: %d entries: must be ≤ 2^30", s, cfg.MaxEntries)
	}
	a := &Aggregator{
		scheme:   s,
		cfg:      cfg,
		index:    make(map[AggregateKey]int32, cfg.MaxEntries),
		entries:  make([]aggEntry, cfg.MaxEntries),
		free:     make([]int32, cfg.MaxEntries),
		idleHead: -1, idleTail: -1, ageHead: -1, ageTail: -1,
	}
	for i := range a.free { // pop from the end: slot 0 is used first
		a.free[i] = int32(cfg.MaxEntries - 1 - i)
	}
	return a, nil
}

// Scheme returns the scheme this cache aggregates by.
func (a *Aggregator) Scheme() Scheme { return a.scheme }

// Config returns the cache's settings with defaults filled in.
func (a *Aggregator) Config() AggregatorConfig { return a.cfg }

// Len returns the number of aggregates in the cache.
func (a *Aggregator) Len() int { return len(a.index) }

// Stats returns the cache's counters.
func (a *Aggregator) Stats() AggregatorStats { return a.stats }

// Add folds expired main-cache records into the cache at time now. When
// the cache is full, the least recently updated aggregate is exported
// early with EndLackOfResources and appended to dst, which Add returns.
// Records that are not IPv4 are counted in Stats().Skipped.
func (a *Aggregator) Add(now time.Time, recs []Record, dst []Aggregate) []Aggregate {
	for i := range recs {
		r := &recs[i]
		k, ok := a.scheme.Key(r)
		if !ok {
			a.stats.Skipped++
			continue
		}
		if a.cfg.Fields16 {
			k.fold16()
		}
		a.stats.Records++
		if idx, ok := a.index[k]; ok {
			e := &a.entries[idx]
			e.agg.Flows++
			e.agg.Packets += r.Packets
			e.agg.Bytes += r.Bytes
			if r.Start.Before(e.agg.Start) {
				e.agg.Start = r.Start
			}
			if r.End.After(e.agg.End) {
				e.agg.End = r.End
			}
			e.updated = now
			a.idleUnlink(idx)
			a.idlePush(idx)
			continue
		}
		if len(a.free) == 0 {
			victim := a.idleHead
			a.stats.Evicted++
			dst = a.export(victim, EndLackOfResources, dst)
		}
		idx := a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		e := &a.entries[idx]
		*e = aggEntry{
			agg: Aggregate{
				AggregateKey: k,
				Flows:        1,
				Packets:      r.Packets,
				Bytes:        r.Bytes,
				Start:        r.Start,
				End:          r.End,
			},
			created: now,
			updated: now,
		}
		a.index[k] = idx
		a.idlePush(idx)
		a.agePush(idx)
		a.stats.Created++
	}
	return dst
}

// Expire appends to dst, and removes, every aggregate whose inactive
// timer (no record joined for InactiveTimeout) or active timer (alive for
// ActiveTimeout) has run out at now; a timer runs out when the elapsed
// time reaches the timeout. Idle aggregates come first, oldest first,
// then active-timeout ones in creation order.
func (a *Aggregator) Expire(now time.Time, dst []Aggregate) []Aggregate {
	for a.idleHead >= 0 && now.Sub(a.entries[a.idleHead].updated) >= a.cfg.InactiveTimeout {
		dst = a.export(a.idleHead, EndIdle, dst)
	}
	for a.ageHead >= 0 && now.Sub(a.entries[a.ageHead].created) >= a.cfg.ActiveTimeout {
		dst = a.export(a.ageHead, EndActive, dst)
	}
	return dst
}

// Flush appends every aggregate to dst in creation order with EndForced,
// as on shutdown, and empties the cache.
func (a *Aggregator) Flush(dst []Aggregate) []Aggregate {
	for a.ageHead >= 0 {
		dst = a.export(a.ageHead, EndForced, dst)
	}
	return dst
}

// export removes entry idx from the cache and appends its aggregate.
func (a *Aggregator) export(idx int32, why EndReason, dst []Aggregate) []Aggregate {
	e := &a.entries[idx]
	e.agg.EndReason = why
	dst = append(dst, e.agg)
	delete(a.index, e.agg.AggregateKey)
	a.idleUnlink(idx)
	a.ageUnlink(idx)
	a.free = append(a.free, idx)
	a.stats.Exported++
	return dst
}

func (a *Aggregator) idlePush(idx int32) {
	e := &a.entries[idx]
	e.idlePrev, e.idleNext = a.idleTail, -1
	if a.idleTail >= 0 {
		a.entries[a.idleTail].idleNext = idx
	} else {
		a.idleHead = idx
	}
	a.idleTail = idx
}

func (a *Aggregator) idleUnlink(idx int32) {
	e := &a.entries[idx]
	if e.idlePrev >= 0 {
		a.entries[e.idlePrev].idleNext = e.idleNext
	} else {
		a.idleHead = e.idleNext
	}
	if e.idleNext >= 0 {
		a.entries[e.idleNext].idlePrev = e.idlePrev
	} else {
		a.idleTail = e.idlePrev
	}
	e.idlePrev, e.idleNext = -1, -1
}

func (a *Aggregator) agePush(idx int32) {
	e := &a.entries[idx]
	e.agePrev, e.ageNext = a.ageTail, -1
	if a.ageTail >= 0 {
		a.entries[a.ageTail].ageNext = idx
	} else {
		a.ageHead = idx
	}
	a.ageTail = idx
}

func (a *Aggregator) ageUnlink(idx int32) {
	e := &a.entries[idx]
	if e.agePrev >= 0 {
		a.entries[e.agePrev].ageNext = e.ageNext
	} else {
		a.ageHead = e.ageNext
	}
	if e.ageNext >= 0 {
		a.entries[e.ageNext].agePrev = e.agePrev
	} else {
		a.ageTail = e.agePrev
	}
	e.agePrev, e.ageNext = -1, -1
}
