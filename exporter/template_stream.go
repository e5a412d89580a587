package exporter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/ie"
)

// Cisco's template refresh defaults (ip flow-export template refresh-rate
// and timeout-rate).
const (
	DefaultTemplateRefreshPackets = 20
	DefaultTemplateRefreshTimeout = 30 * time.Minute
)

// numTemplateIDs is how many consecutive template IDs a stream uses.
const numTemplateIDs = numVariants + 3 + 1 + 1

// errTooSmall reports an MTU that cannot hold one template and one record.
var errTooSmall = errors.New("mtu too small for one template and one record: raise it to at least 576")

// TemplateStats counts what a v9 or IPFIX encoder sent.
type TemplateStats struct {
	Datagrams     uint64 // export packets emitted
	Records       uint64 // flow data records
	Templates     uint64 // template and options template records
	OptionRecords uint64 // options data records (sampling, interfaces, applications)
	Refreshes     uint64 // template refreshes started (the first announcement included)
}

// item is one prebuilt template or options data record waiting to go out.
type item struct {
	setID uint16 // set (flowset) it belongs in
	data  []byte // the record's bytes
	isTpl bool   // template or options template record
	alone bool   // needs a set of its own (v9 options templates, IPFIX application records)
}

// flowTmpl is one flow template: its fields and its template record.
type flowTmpl struct {
	id     uint16
	fields []field
	recLen int
	tmpl   item
}

// stream is the machinery v9 and IPFIX share: one export stream's
// templates, refresh schedule, sequence number and datagram under
// construction. buf never grows past limit, so steady state allocates
// nothing.
type stream struct {
	ipfix    bool
	appID    bool
	ntop     bool
	sourceID uint32
	ref      timeRef
	limit    int
	hdrLen   int
	refreshN int           // datagrams between refreshes; 0 = never
	refreshT time.Duration // time between refreshes; 0 = never

	flows     [numVariants]flowTmpl
	announced [numVariants]bool
	optItems  []item // options templates, then their data records
	// appItems are the application options data records when they go
	// out on their own timer (TemplateOptions.ApplicationRefresh > 0);
	// their template stays in optItems. lastApps is when they last did.
	appItems    []item
	appRefreshT time.Duration
	lastApps    time.Time
	appsSent    bool
	pending     []item // refresh work left for the next datagrams

	seq          uint32 // v9: export packets; IPFIX: data records
	sinceRefresh int    // datagrams since the last refresh began
	recsSince    int    // flow records since the last refresh began
	lastRefresh  time.Time
	refreshed    bool

	buf      []byte
	open     bool
	setStart int // offset of the open set's header; -1 when none
	setID    uint16
	count    int // records in the datagram (v9 header count)
	dataRecs int // data records in the datagram (IPFIX sequence)

	stats TemplateStats
}

func newStream(ipfix bool, s Settings, o TemplateOptions) (*stream, error) {
	st := &stream{
		ipfix:    ipfix,
		appID:    o.AppID,
		ntop:     o.NtopFields,
		sourceID: s.SourceID,
		ref:      timeRef{bootMs: s.Boot.UnixMilli()},
		limit:    s.payloadLimit(),
		hdrLen:   20,
		refreshN: s.TemplateRefreshPackets,
		refreshT: s.TemplateRefreshTimeout,
		setStart: -1,
	}
	if ipfix {
		st.hdrLen = 16
	}
	st.limit = min(st.limit, 0xffff) // IPFIX message length and v9 flowset lengths are 16-bit
	if st.refreshN == 0 {
		st.refreshN = DefaultTemplateRefreshPackets
	} else if st.refreshN < 0 {
		st.refreshN = 0
	}
	if st.refreshT == 0 {
		st.refreshT = DefaultTemplateRefreshTimeout
	} else if st.refreshT < 0 {
		st.refreshT = 0
	}
	if st.limit < st.hdrLen+8 {
		return nil, fmt.Errorf("payload limit %d: %w", st.limit, errTooSmall)
	}
	id := o.firstID()
	if id > 0xffff-numTemplateIDs+1 {
		return nil, fmt.Errorf("first template id %d: the %d template ids must stay below 65536", id, numTemplateIDs)
	}
	for v := 0; v < numVariants; v++ {
		v6, bi := v&variantV6 != 0, v&variantBi != 0
		var fields []field
		if ipfix {
			fields = ipfixFlowFields(v6, bi, o.AppID, o.NtopFields)
		} else {
			fields = v9FlowFields(v6, bi, o.AppID, o.NtopFields)
		}
		st.flows[v] = flowTmpl{id: id, fields: fields, recLen: recordLen(fields)}
		st.flows[v].tmpl = st.templateItem(id, nil, fields)
		id++
	}
	st.optItems = st.optionItems(id, s, o)
	if o.ApplicationRefresh > 0 && len(o.Applications) > 0 {
		// The application data records are the last options items.
		n := len(st.optItems) - len(o.Applications)
		st.appItems = st.optItems[n:]
		st.optItems = st.optItems[:n:n]
		st.appRefreshT = o.ApplicationRefresh
	}
	st.pending = make([]item, 0, len(st.optItems)+len(st.appItems)+numVariants)
	st.buf = make([]byte, 0, st.limit)

	// Every single item must fit an otherwise empty datagram.
	for v := range st.flows {
		f := &st.flows[v]
		if st.hdrLen+4+len(f.tmpl.data)+4+f.recLen+6 > st.limit {
			return nil, fmt.Errorf("payload limit %d: %w", st.limit, errTooSmall)
		}
		if st.ntop && ipfix && st.hdrLen+4+f.recLen+maxNtopExtra+3 > st.limit {
			return nil, fmt.Errorf("payload limit %d: %w", st.limit, errTooSmall)
		}
	}
	for _, it := range append(st.optItems[:len(st.optItems):len(st.optItems)], st.appItems...) {
		if st.hdrLen+4+len(it.data)+3 > st.limit {
			return nil, fmt.Errorf("payload limit %d: %w", st.limit, errTooSmall)
		}
	}
	return st, nil
}

// templateItem builds a template record (scope == nil) or an options
// template record in the stream's format.
func (st *stream) templateItem(id uint16, scope, fields []field) item {
	var b []byte
	switch {
	case st.ipfix && scope == nil: // RFC 7011 §3.4.1
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(len(fields)))
	case st.ipfix: // §3.4.2.2
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(len(scope)+len(fields)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(scope)))
	case scope == nil: // RFC 3954 §5.2
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(len(fields)))
	default: // §6.1: lengths in bytes, not field counts
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(4*len(scope)))
		b = binary.BigEndian.AppendUint16(b, uint16(4*len(fields)))
	}
	for _, f := range append(append([]field(nil), scope...), fields...) {
		fid := f.id
		if f.pen != 0 {
			fid |= 0x8000
		}
		b = binary.BigEndian.AppendUint16(b, fid)
		b = binary.BigEndian.AppendUint16(b, f.length)
		if f.pen != 0 {
			b = binary.BigEndian.AppendUint32(b, f.pen)
		}
	}
	it := item{data: b, isTpl: true}
	switch {
	case st.ipfix && scope == nil:
		it.setID = 2
	case st.ipfix:
		it.setID = 3
	case scope == nil:
		it.setID = 0
	default:
		it.setID = 1
		it.alone = true
	}
	return it
}

// optionItems builds the options templates and options data the stream
// re-sends with every refresh: sampling (when sampled), interface names and
// application names. Template IDs start at id. The layouts follow Cisco's
// (System scope, then INPUT_SNMP 10 + IF_NAME 82 + IF_DESC 83 of 32 and 64
// bytes for the interface table); IPFIX uses the same fixed-length strings,
// which RFC 7011 §7 permits and nfdump 1.7 requires.
func (st *stream) optionItems(id uint16, s Settings, o TemplateOptions) []item {
	var items []item
	if s.SamplingInterval > 1 {
		items = append(items, st.samplingItems(id, s)...)
	}
	id += 3
	scope := []field{{ie.ScopeSystem, 4, 0, ie.KindIgnore}}
	if st.ipfix {
		scope = []field{{ie.InputSNMP, 4, 0, ie.KindIgnore}}
	}
	if len(o.Interfaces) > 0 {
		fields := []field{{ie.IfName, ie.IfNameLen, 0, ie.KindIgnore}, {ie.IfDesc, ie.IfDescLen, 0, ie.KindIgnore}}
		if !st.ipfix {
			fields = append([]field{{ie.InputSNMP, 4, 0, ie.KindIgnore}}, fields...)
		}
		items = append(items, st.templateItem(id, scope, fields))
		for _, ifc := range o.Interfaces {
			items = append(items, item{setID: id, data: st.namedRecord(ifc.Index, ifc.Name, ifc.Description)})
		}
	}
	id++
	if len(o.Applications) > 0 {
		items = append(items, st.applicationItems(id, o.Applications)...)
	}
	return items
}

// applicationItems is the application name table: an options template
// scoped, like NBAR's, to the whole exporter (v9 System, IPFIX
// observationDomainId) with applicationId 95, APPLICATION_NAME 96 and
// APPLICATION_DESC 94 as fields, and one record per application. nfdump
// 1.7.1 finds the id only among the non-scope fields, and from IPFIX steps
// through an options set as if records had no scope, so in IPFIX each
// record goes in a set of its own (a valid layout it reads right).
func (st *stream) applicationItems(id uint16, apps []ie.Application) []item {
	scope := []field{{ie.ScopeSystem, 4, 0, ie.KindIgnore}}
	if st.ipfix {
		scope = []field{{ie.ObsDomainID, 4, 0, ie.KindIgnore}}
	}
	fields := []field{
		{ie.AppID, ie.AppIDLen, 0, ie.KindIgnore},
		{ie.AppName, ie.AppNameLen, 0, ie.KindIgnore},
		{ie.AppDesc, ie.AppDescLen, 0, ie.KindIgnore},
	}
	items := []item{st.templateItem(id, scope, fields)}
	for _, app := range apps {
		b := make([]byte, 4+recordLen(fields))
		binary.BigEndian.PutUint32(b, st.sourceID)
		ie.PutAppID(b[4:], app.ID)
		putString(b[4+ie.AppIDLen:4+ie.AppIDLen+ie.AppNameLen], app.Name)
		putString(b[4+ie.AppIDLen+ie.AppNameLen:], app.Description)
		items = append(items, item{setID: id, data: b, alone: st.ipfix})
	}
	return items
}

// namedRecord is an options data record of a 4-byte key, a 32-byte name
// and a 64-byte description; v9 puts its System scope value first.
func (st *stream) namedRecord(key uint32, name, desc string) []byte {
	var b []byte
	if !st.ipfix {
		b = binary.BigEndian.AppendUint32(b, st.sourceID)
	}
	b = binary.BigEndian.AppendUint32(b, key)
	n := len(b)
	b = append(b, make([]byte, ie.IfNameLen+ie.IfDescLen)...)
	putString(b[n:n+ie.IfNameLen], name)
	putString(b[n+ie.IfNameLen:], desc)
	return b
}

// samplingItems advertises Settings' sampling in every form collectors
// read, as three options templates, each with one record:
//   - SAMPLING_INTERVAL/ALGORITHM (34/35), Cisco's classic layout;
//   - FLOW_SAMPLER_ID/MODE/RANDOM_INTERVAL (48/49/50) for v9, or for IPFIX
//     the PSAMP selectorId scope (302) with selectorAlgorithm,
//     samplingPacketInterval/Space and samplingSize/Population
//     (304/305/306/309/310, RFC 5477);
//   - SAMPLING_INTERVAL (34) alone: nfdump 1.7.1 learns an exporter's
//     sampling only from a template holding 34 without 35 (or 50/306
//     without a sampler id or mode), so neither form above reaches it.
func (st *stream) samplingItems(id uint16, s Settings) []item {
	n := s.SamplingInterval
	mode := uint8(ie.SamplingDeterministic)
	selector := uint16(ie.SelectorSystematic)
	if s.SamplingRandom {
		mode = ie.SamplingRandom
		selector = ie.SelectorRandomNofN
	}
	var std, smp []byte
	var stdTpl, smpTpl item
	if st.ipfix {
		stdTpl = st.templateItem(id, []field{{ie.ObsDomainID, 4, 0, ie.KindIgnore}},
			[]field{{ie.SamplingIntvl, 4, 0, ie.KindIgnore}, {ie.SamplingAlgo, 1, 0, ie.KindIgnore}})
		smpTpl = st.templateItem(id+1, []field{{ie.SelectorID, 8, 0, ie.KindIgnore}}, []field{
			{ie.SelectorAlgo, 2, 0, ie.KindIgnore},
			{ie.SamplingPktIntv, 4, 0, ie.KindIgnore},
			{ie.SamplingPktSpc, 4, 0, ie.KindIgnore},
			{ie.SamplingSize, 4, 0, ie.KindIgnore},
			{ie.SamplingPop, 4, 0, ie.KindIgnore},
		})
		smp = binary.BigEndian.AppendUint64(smp, 1) // selectorId
		smp = binary.BigEndian.AppendUint16(smp, selector)
		smp = binary.BigEndian.AppendUint32(smp, 1)   // sample 1 packet...
		smp = binary.BigEndian.AppendUint32(smp, n-1) // ...then skip N-1
		smp = binary.BigEndian.AppendUint32(smp, 1)   // 1 out of...
		smp = binary.BigEndian.AppendUint32(smp, n)   // ...N
	} else {
		scope := []field{{ie.ScopeSystem, 4, 0, ie.KindIgnore}}
		stdTpl = st.templateItem(id, scope, []field{{ie.SamplingIntvl, 4, 0, ie.KindIgnore}, {ie.SamplingAlgo, 1, 0, ie.KindIgnore}})
		smpTpl = st.templateItem(id+1, scope, []field{
			{ie.SamplerID, 1, 0, ie.KindIgnore},
			{ie.SamplerMode, 1, 0, ie.KindIgnore},
			{ie.SamplerInterval, 4, 0, ie.KindIgnore},
		})
		smp = binary.BigEndian.AppendUint32(smp, st.sourceID)
		smp = append(smp, 1, mode) // sampler id 1
		smp = binary.BigEndian.AppendUint32(smp, n)
	}
	scope := []field{{ie.ScopeSystem, 4, 0, ie.KindIgnore}}
	if st.ipfix {
		scope = []field{{ie.ObsDomainID, 4, 0, ie.KindIgnore}}
	}
	bareTpl := st.templateItem(id+2, scope, []field{{ie.SamplingIntvl, 4, 0, ie.KindIgnore}})
	std = binary.BigEndian.AppendUint32(std, st.sourceID) // System scope / observationDomainId
	std = binary.BigEndian.AppendUint32(std, n)
	bare := append([]byte(nil), std...)
	std = append(std, mode)
	return []item{stdTpl, {setID: id, data: std}, smpTpl, {setID: id + 1, data: smp}, bareTpl, {setID: id + 2, data: bare}}
}

// encode is Encoder.Encode for both formats.
func (st *stream) encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	if st.timeForRefresh(now) {
		st.startRefresh(now)
	}
	for i := range recs {
		r := &recs[i]
		v := flowVariant(r)
		t := &st.flows[v]
		for {
			if !st.open {
				if err := st.begin(now, emit); err != nil {
					return err
				}
			}
			if !st.announced[v] {
				if !st.fitsPair(&t.tmpl, t.id, t.recLen) {
					if err := st.flushFull(now, emit); err != nil {
						return err
					}
					continue
				}
				st.add(&t.tmpl)
				st.announced[v] = true
			}
			n := t.recLen
			if st.ntop && st.ipfix { // variable-length strings
				n += ntopExtra(r)
			}
			if st.fits(t.id, n, false) {
				b := st.reserve(t.id, n, false)
				if st.ipfix {
					putIPFIX(b, r, v&variantV6 != 0, v&variantBi != 0, st.appID, st.ntop)
				} else {
					putV9(b, r, st.ref, v&variantV6 != 0, v&variantBi != 0, st.appID, st.ntop)
				}
				st.count++
				st.dataRecs++
				st.recsSince++
				st.stats.Records++
				break
			}
			if err := st.flushFull(now, emit); err != nil {
				return err
			}
		}
	}
	for len(st.pending) > 0 { // refresh items that did not fit yet
		if st.open {
			st.flush(now, emit)
		}
		if err := st.begin(now, emit); err != nil {
			return err
		}
	}
	if st.open && st.count > 0 {
		st.flush(now, emit)
	}
	return nil
}

// timeForRefresh reports whether a refresh is due. A refresh never
// restarts while the last one is still going out, and the packet count
// only triggers once a flow record has followed the last refresh, so a
// refresh larger than refreshN datagrams cannot starve the records.
func (st *stream) timeForRefresh(now time.Time) bool {
	if !st.refreshed {
		return true
	}
	if len(st.pending) > 0 {
		return false
	}
	return (st.refreshN > 0 && st.sinceRefresh >= st.refreshN && st.recsSince > 0) ||
		(st.refreshT > 0 && now.Sub(st.lastRefresh) >= st.refreshT)
}

// startRefresh queues the options templates and data, then every flow
// template announced so far.
func (st *stream) startRefresh(now time.Time) {
	st.refreshed = true
	st.sinceRefresh, st.recsSince = 0, 0
	st.lastRefresh = now
	st.stats.Refreshes++
	st.pending = append(st.pending[:0], st.optItems...)
	if len(st.appItems) > 0 && (!st.appsSent || now.Sub(st.lastApps) >= st.appRefreshT) {
		st.pending = append(st.pending, st.appItems...)
		st.appsSent, st.lastApps = true, now
	}
	for v := range st.flows {
		if st.announced[v] {
			st.pending = append(st.pending, st.flows[v].tmpl)
		}
	}
}

// begin opens a datagram and fills it with pending refresh items first.
func (st *stream) begin(now time.Time, emit func([]byte)) error {
	if st.timeForRefresh(now) {
		st.startRefresh(now)
	}
	st.buf = st.buf[:st.hdrLen]
	st.open = true
	st.setStart = -1
	st.count, st.dataRecs = 0, 0
	n := 0
	for n < len(st.pending) && st.fitsItem(&st.pending[n]) {
		st.add(&st.pending[n])
		n++
	}
	if n == 0 && len(st.pending) > 0 {
		return fmt.Errorf("payload limit %d: %w", st.limit, errTooSmall)
	}
	rest := copy(st.pending, st.pending[n:])
	st.pending = st.pending[:rest]
	return nil
}

func (st *stream) pad(setLen int) int {
	if st.ipfix {
		return 0
	}
	return -setLen & 3 // v9 flowsets end on a 4-byte boundary
}

// fits reports whether a record of n bytes for set id fits the datagram.
func (st *stream) fits(id uint16, n int, alone bool) bool {
	end := len(st.buf)
	if st.setStart >= 0 && st.setID == id && !alone {
		l := end - st.setStart + n
		return end+n+st.pad(l) <= st.limit
	}
	if st.setStart >= 0 {
		end += st.pad(end - st.setStart)
	}
	return end+4+n+st.pad(4+n) <= st.limit
}

func (st *stream) fitsItem(it *item) bool { return st.fits(it.setID, len(it.data), it.alone) }

// fitsPair reports whether a template and then one record of n bytes in
// set id fit.
func (st *stream) fitsPair(tpl *item, id uint16, n int) bool {
	end, start := len(st.buf), st.setStart
	if start < 0 || st.setID != tpl.setID || tpl.alone {
		if start >= 0 {
			end += st.pad(end - start)
		}
		start = end
		end += 4
	}
	end += len(tpl.data)
	end += st.pad(end - start)
	return end+4+n+st.pad(4+n) <= st.limit
}

func (st *stream) add(it *item) {
	copy(st.reserve(it.setID, len(it.data), it.alone), it.data)
	st.count++
	if it.isTpl {
		st.stats.Templates++
	} else {
		st.dataRecs++
		st.stats.OptionRecords++
	}
}

// reserve returns n bytes at the end of set id, opening the set first if
// needed. The caller has checked fits.
func (st *stream) reserve(id uint16, n int, alone bool) []byte {
	if st.setStart < 0 || st.setID != id || alone {
		st.closeSet()
		st.setStart = len(st.buf)
		st.setID = id
		st.buf = binary.BigEndian.AppendUint16(st.buf, id)
		st.buf = append(st.buf, 0, 0)
	}
	off := len(st.buf)
	st.buf = st.buf[:off+n]
	return st.buf[off : off+n]
}

func (st *stream) closeSet() {
	if st.setStart < 0 {
		return
	}
	for p := st.pad(len(st.buf) - st.setStart); p > 0; p-- {
		st.buf = append(st.buf, 0)
	}
	binary.BigEndian.PutUint16(st.buf[st.setStart+2:], uint16(len(st.buf)-st.setStart))
	st.setStart = -1
}

// flushFull sends a datagram that has no room left; an empty one means a
// record can never fit.
func (st *stream) flushFull(now time.Time, emit func([]byte)) error {
	if st.count == 0 {
		return fmt.Errorf("payload limit %d: %w", st.limit, errTooSmall)
	}
	st.flush(now, emit)
	return nil
}

// flush writes the header and emits the datagram.
func (st *stream) flush(now time.Time, emit func([]byte)) {
	st.closeSet()
	b := st.buf
	if st.ipfix { // RFC 7011 §3.1
		binary.BigEndian.PutUint16(b[0:], 10)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint32(b[4:], uint32(now.Unix()))
		binary.BigEndian.PutUint32(b[8:], st.seq)
		binary.BigEndian.PutUint32(b[12:], st.sourceID)
		st.seq += uint32(st.dataRecs)
	} else { // RFC 3954 §5.1
		// sysUptime is taken at the same whole second as the Unix time, so
		// a collector recovers FIRST/LAST_SWITCHED to the millisecond. The
		// second is rounded up: a flow stamped earlier in this very second
		// must not come after sysUptime (it would read as 49.7 days old).
		secs := now.Unix()
		if now.Nanosecond() != 0 {
			secs++
		}
		binary.BigEndian.PutUint16(b[0:], 9)
		binary.BigEndian.PutUint16(b[2:], uint16(st.count))
		binary.BigEndian.PutUint32(b[4:], uint32(secs*1000-st.ref.bootMs))
		binary.BigEndian.PutUint32(b[8:], uint32(secs))
		binary.BigEndian.PutUint32(b[12:], st.seq)
		binary.BigEndian.PutUint32(b[16:], st.sourceID)
		st.seq++
	}
	emit(b)
	st.stats.Datagrams++
	st.sinceRefresh++
	st.open = false
	st.setStart = -1
}
