package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/exporter/ie"
)

// ErrMalformed wraps every complaint the Decoder has about a datagram.
var ErrMalformed = errors.New("malformed datagram")

// DecodeStats counts what a Decoder has seen.
type DecodeStats struct {
	Datagrams       uint64 // datagrams offered
	Records         uint64 // flow records decoded
	Aggregates      uint64 // v8 aggregation records decoded
	Templates       uint64 // template and options template records learnt
	OptionRecords   uint64 // options data records applied
	Malformed       uint64 // datagrams rejected, wholly or from some point on
	MissingTemplate uint64 // data sets skipped for want of their template
	SequenceErrors  uint64 // datagrams whose sequence number was not the expected one

	// What the Limits cost (see Decoder.Memory for what is held).
	TemplatesFull      uint64 // templates refused: bigger than one exporter's budget
	TemplatesEvicted   uint64 // least recently used templates forgotten to make room
	StreamsEvicted     uint64 // least recently used streams (sequence, sampling, names) forgotten
	NamesFull          uint64 // interface or application names refused for want of room
	TemplatesWithdrawn uint64 // templates an IPFIX exporter withdrew (RFC 7011 §8.1)

	// Values no Record can show as sent.
	BadTimes uint64 // times past the year 9999 (what JSON and time.Time hold), left zero
	NamesCut uint64 // names longer than maxNameLen bytes, cut there
}

// Message is one decoded datagram. The Decoder reuses it: it is valid
// until the next call to Decode.
type Message struct {
	Version    uint16
	Sequence   uint32 // as the format counts (packets, flows or data records)
	SourceID   uint32 // v9 source id, IPFIX observation domain, v5/v7/v8 engine type<<8|id
	ExportTime time.Time
	SysUptime  uint32 // ms; v1/v5/v7/v8/v9 only
	Records    []cache.Record

	// v8 only: the aggregation scheme and its records (decodeV8).
	Scheme     cache.Scheme
	Aggregates []cache.Aggregate
}

// ExporterInfo is what options data told the Decoder about one export
// stream: its sampling and the names of its interfaces and applications.
// Names are safe to print (see netName).
type ExporterInfo struct {
	SamplingInterval uint32
	SamplingRandom   bool
	Interfaces       map[uint32]ie.Interface
	Applications     map[uint32]ie.Application
}

// Decoder reads NetFlow v1/v5/v7/v8/v9 and IPFIX datagrams (the message
// stream of UDP; IPFIX over TCP after framing). It learns templates and
// options per exporter address, source id and version; it never panics on
// corrupt input: it returns errors wrapping ErrMalformed and counts them.
// What it keeps per exporter is bounded in bytes (Limits).
// A Decoder is not safe for concurrent use.
type Decoder struct {
	templates map[tplKey]*decTemplate
	streams   map[streamKey]*decStream
	mem       memory
	msg       Message
	stats     DecodeStats
	scratch   decTemplate
}

type streamKey struct {
	from    netip.AddrPort
	version uint16
	domain  uint32
}

type tplKey struct {
	streamKey
	id uint16
}

type decStream struct {
	seen    bool
	nextSeq uint32
	info    ExporterInfo
	mem     *memEntry // its names are charged to it
}

type decField struct {
	id     uint16
	length uint16
	pen    uint32
	kind   ie.Kind
	scope  bool
	varLen bool // IPFIX length 65535; v9 has no variable length
}

type decTemplate struct {
	fields  []decField
	options bool
	minLen  int // bytes a record needs at least (variable fields count 1)
	mem     *memEntry
}

// NewDecoder returns an empty Decoder with DefaultLimits.
func NewDecoder() *Decoder { return NewDecoderWithLimits(DefaultLimits) }

// NewDecoderWithLimits returns an empty Decoder that keeps within l.
func NewDecoderWithLimits(l Limits) *Decoder {
	return &Decoder{
		templates: make(map[tplKey]*decTemplate),
		streams:   make(map[streamKey]*decStream),
		mem:       memory{limits: l, exporters: make(map[netip.Addr]*exporterMem)},
	}
}

// Stats returns the counters so far.
func (d *Decoder) Stats() DecodeStats { return d.stats }

// Exporter returns what options data said about one stream, or nil.
func (d *Decoder) Exporter(from netip.AddrPort, version uint16, sourceID uint32) *ExporterInfo {
	if s := d.streams[streamKey{from, version, sourceID}]; s != nil {
		return &s.info
	}
	return nil
}

// Decode decodes one datagram from the exporter at from. On error the
// Message still holds the records decoded before the fault.
func (d *Decoder) Decode(from netip.AddrPort, b []byte) (*Message, error) {
	d.stats.Datagrams++
	d.msg = Message{Records: d.msg.Records[:0], Aggregates: d.msg.Aggregates[:0]}
	d.heard(from.Addr())
	var err error
	if len(b) < 2 {
		err = fmt.Errorf("%d bytes: %w", len(b), ErrMalformed)
	} else {
		switch v := binary.BigEndian.Uint16(b); v {
		case 9:
			err = d.decodeV9(from, b)
		case 10:
			err = d.decodeIPFIX(from, b)
		case 1, 5, 7:
			err = d.decodeLegacy(from, v, b)
		case 8:
			err = d.decodeV8(from, b)
		default:
			err = fmt.Errorf("version %d: %w", v, ErrMalformed)
		}
	}
	if err != nil {
		d.stats.Malformed++
	}
	d.stats.Records += uint64(len(d.msg.Records))
	d.stats.Aggregates += uint64(len(d.msg.Aggregates))
	return &d.msg, err
}

// stream returns the state of stream k, made if new. It is only not kept
// when Limits allow no stream at all.
func (d *Decoder) stream(k streamKey) *decStream {
	if s := d.streams[k]; s != nil {
		d.used(s.mem)
		return s
	}
	s := &decStream{mem: &memEntry{key: tplKey{streamKey: k}, size: streamCost}}
	if d.hold(s.mem) {
		d.streams[k] = s
	}
	return s
}

// checkSeq compares seq with what the stream expected and sets the next
// expectation to seq+advance.
func (d *Decoder) checkSeq(s *decStream, seq, advance uint32) {
	if s.seen && seq != s.nextSeq {
		d.stats.SequenceErrors++
	}
	s.seen = true
	s.nextSeq = seq + advance
}

// hdrTime is what relative (uptime) time fields are measured against.
type hdrTime struct {
	unixMs int64
	uptime uint32
}

func (h hdrTime) at(uptime uint32) time.Time {
	age := int64(int32(h.uptime - uptime))
	return time.UnixMilli(h.unixMs - age).UTC()
}

func (d *Decoder) decodeV9(from netip.AddrPort, b []byte) error {
	if len(b) < 20 {
		return fmt.Errorf("v9 header: %d bytes: %w", len(b), ErrMalformed)
	}
	m := &d.msg
	m.Version = 9
	m.SysUptime = binary.BigEndian.Uint32(b[4:])
	secs := binary.BigEndian.Uint32(b[8:])
	m.ExportTime = time.Unix(int64(secs), 0).UTC()
	m.Sequence = binary.BigEndian.Uint32(b[12:])
	m.SourceID = binary.BigEndian.Uint32(b[16:])
	key := streamKey{from, 9, m.SourceID}
	s := d.stream(key)
	d.checkSeq(s, m.Sequence, 1)
	ht := hdrTime{unixMs: int64(secs) * 1000, uptime: m.SysUptime}
	for b = b[20:]; len(b) > 0; {
		if len(b) < 4 {
			return fmt.Errorf("v9 flowset header: %d bytes left: %w", len(b), ErrMalformed)
		}
		id, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return fmt.Errorf("v9 flowset %d: length %d of %d: %w", id, n, len(b), ErrMalformed)
		}
		body := b[4:n]
		b = b[n:]
		var err error
		switch {
		case id == 0:
			err = d.v9Templates(key, body)
		case id == 1:
			err = d.v9OptionsTemplates(key, body)
		case id < 256:
			// reserved: skip
		default:
			err = d.dataSet(key, s, id, body, ht, false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) v9Templates(key streamKey, b []byte) error {
	for len(b) >= 4 {
		id, cnt := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		if id < 256 || cnt == 0 || 4*cnt > len(b) {
			return fmt.Errorf("v9 template %d with %d fields in %d bytes: %w", id, cnt, len(b), ErrMalformed)
		}
		t := d.scratchTemplate(cnt, false)
		for i := range t.fields {
			f := decField{id: binary.BigEndian.Uint16(b[4*i:]), length: binary.BigEndian.Uint16(b[4*i+2:])}
			f.kind = fieldKindOf(false, 0, f.id)
			t.fields[i] = f
		}
		b = b[4*cnt:]
		if err := d.learn(key, id, t); err != nil {
			return err
		}
	}
	return nil // fewer than 4 bytes left: padding
}

func (d *Decoder) v9OptionsTemplates(key streamKey, b []byte) error {
	for len(b) >= 6 {
		id := binary.BigEndian.Uint16(b)
		scopeLen, optLen := int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint16(b[4:]))
		if id == 0 && scopeLen == 0 && optLen == 0 {
			return nil // padding
		}
		b = b[6:]
		if id < 256 || scopeLen%4 != 0 || optLen%4 != 0 || scopeLen+optLen == 0 || scopeLen+optLen > len(b) {
			return fmt.Errorf("v9 options template %d (scope %d, options %d bytes) in %d bytes: %w", id, scopeLen, optLen, len(b), ErrMalformed)
		}
		t := d.scratchTemplate((scopeLen+optLen)/4, true)
		for i := range t.fields {
			t.fields[i] = decField{
				id:     binary.BigEndian.Uint16(b[4*i:]),
				length: binary.BigEndian.Uint16(b[4*i+2:]),
				scope:  4*i < scopeLen,
			}
		}
		b = b[scopeLen+optLen:]
		if err := d.learn(key, id, t); err != nil {
			return err
		}
	}
	return nil
}

// scratchTemplate returns the Decoder's reusable template under
// construction, with n fields.
func (d *Decoder) scratchTemplate(n int, options bool) *decTemplate {
	t := &d.scratch
	if cap(t.fields) < n {
		t.fields = make([]decField, n)
	}
	t.fields, t.options, t.minLen = t.fields[:n], options, 0
	return t
}

// learn stores a template after checking it describes records that take
// room, so a data set can never loop without consuming bytes. A template
// re-sent unchanged (every refresh) costs no allocation. One bigger than
// an exporter's budget is refused and counted; its id then has none.
func (d *Decoder) learn(key streamKey, id uint16, t *decTemplate) error {
	for _, f := range t.fields {
		if f.varLen {
			t.minLen++
		} else {
			t.minLen += int(f.length)
		}
	}
	if t.minLen == 0 {
		return fmt.Errorf("template %d describes empty records: %w", id, ErrMalformed)
	}
	k := tplKey{key, id}
	old := d.templates[k]
	if old != nil && old.options == t.options && slices.Equal(old.fields, t.fields) {
		d.used(old.mem)
		d.stats.Templates++
		return nil
	}
	d.dropTemplate(k)
	nt := &decTemplate{fields: slices.Clone(t.fields), options: t.options, minLen: t.minLen}
	nt.mem = &memEntry{key: k, size: templateCost + len(t.fields)*fieldCost}
	if !d.hold(nt.mem) {
		d.stats.TemplatesFull++
		return nil
	}
	d.templates[k] = nt
	d.stats.Templates++
	return nil
}

// dropTemplate forgets template k, if held.
func (d *Decoder) dropTemplate(k tplKey) bool {
	t := d.templates[k]
	if t == nil {
		return false
	}
	delete(d.templates, k)
	d.release(t.mem)
	return true
}

// withdrawAll forgets every template (options false) or options template
// of stream key: the IPFIX withdrawal of template id 2 or 3.
func (d *Decoder) withdrawAll(key streamKey, options bool) {
	ex := d.mem.exporters[key.from.Addr()]
	if ex == nil {
		return
	}
	for el := ex.entries.Front(); el != nil; {
		e := el.Value.(*memEntry)
		el = el.Next() // before dropTemplate unlinks e
		if t := d.templates[e.key]; e.key.streamKey == key && t != nil && t.options == options {
			d.dropTemplate(e.key)
			d.stats.TemplatesWithdrawn++
		}
	}
}

func (d *Decoder) decodeIPFIX(from netip.AddrPort, b []byte) error {
	if len(b) < 16 {
		return fmt.Errorf("ipfix header: %d bytes: %w", len(b), ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 16 || n > len(b) {
		return fmt.Errorf("ipfix message length %d of %d bytes: %w", n, len(b), ErrMalformed)
	}
	b = b[:n]
	m := &d.msg
	m.Version = 10
	secs := binary.BigEndian.Uint32(b[4:])
	m.ExportTime = time.Unix(int64(secs), 0).UTC()
	m.Sequence = binary.BigEndian.Uint32(b[8:])
	m.SourceID = binary.BigEndian.Uint32(b[12:])
	key := streamKey{from, 10, m.SourceID}
	s := d.stream(key)
	ht := hdrTime{unixMs: int64(secs) * 1000}
	before := d.stats.Records + uint64(len(m.Records)) + d.stats.OptionRecords
	var err error
	for b = b[16:]; len(b) > 0 && err == nil; {
		if len(b) < 4 {
			err = fmt.Errorf("ipfix set header: %d bytes left: %w", len(b), ErrMalformed)
			break
		}
		id, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			err = fmt.Errorf("ipfix set %d: length %d of %d: %w", id, n, len(b), ErrMalformed)
			break
		}
		body := b[4:n]
		b = b[n:]
		switch {
		case id == 2:
			err = d.ipfixTemplates(key, body, false)
		case id == 3:
			err = d.ipfixTemplates(key, body, true)
		case id < 256:
			// reserved: skip
		default:
			err = d.dataSet(key, s, id, body, ht, true)
		}
	}
	after := d.stats.Records + uint64(len(m.Records)) + d.stats.OptionRecords
	d.checkSeq(s, m.Sequence, uint32(after-before))
	return err
}

func (d *Decoder) ipfixTemplates(key streamKey, b []byte, options bool) error {
	setID := uint16(2)
	if options {
		setID = 3
	}
	for len(b) >= 4 {
		id, cnt := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		switch {
		case id == 0 && cnt == 0:
			return nil // padding
		case cnt == 0 && id == setID: // withdrawal of all (RFC 7011 §8.1)
			d.withdrawAll(key, options)
			continue
		case id < 256:
			return fmt.Errorf("ipfix template id %d: %w", id, ErrMalformed)
		case cnt == 0: // withdrawal (RFC 7011 §8.1)
			if d.dropTemplate(tplKey{key, id}) {
				d.stats.TemplatesWithdrawn++
			}
			continue
		}
		scope := 0
		if options {
			if len(b) < 2 {
				return fmt.Errorf("ipfix options template %d: no scope count: %w", id, ErrMalformed)
			}
			scope = int(binary.BigEndian.Uint16(b))
			b = b[2:]
			if scope == 0 || scope > cnt {
				return fmt.Errorf("ipfix options template %d: scope count %d of %d: %w", id, scope, cnt, ErrMalformed)
			}
		}
		t := d.scratchTemplate(cnt, options)
		for i := range t.fields {
			if len(b) < 4 {
				return fmt.Errorf("ipfix template %d: field %d truncated: %w", id, i, ErrMalformed)
			}
			f := decField{id: binary.BigEndian.Uint16(b), length: binary.BigEndian.Uint16(b[2:]), scope: i < scope}
			b = b[4:]
			if f.id&0x8000 != 0 {
				if len(b) < 4 {
					return fmt.Errorf("ipfix template %d: enterprise number truncated: %w", id, ErrMalformed)
				}
				f.id &^= 0x8000
				f.pen = binary.BigEndian.Uint32(b)
				b = b[4:]
			}
			f.kind = fieldKindOf(true, f.pen, f.id)
			f.varLen = f.length == ie.VarLen
			t.fields[i] = f
		}
		if err := d.learn(key, id, t); err != nil {
			return err
		}
	}
	return nil
}

// dataSet decodes the records of one data set; trailing bytes shorter
// than a record are padding.
func (d *Decoder) dataSet(key streamKey, s *decStream, id uint16, b []byte, ht hdrTime, ipfix bool) error {
	t := d.templates[tplKey{key, id}]
	if t == nil {
		d.stats.MissingTemplate++
		return nil
	}
	d.used(t.mem)
	for len(b) >= t.minLen {
		var n int
		var err error
		if t.options {
			n, err = d.optionsRecord(s, t, b)
		} else {
			n, err = d.flowRecord(s, t, b, ht)
		}
		if err != nil {
			return fmt.Errorf("set %d: %w", id, err)
		}
		b = b[n:]
	}
	return nil
}

// fieldValue returns the next field's bytes from b at off, reading an
// IPFIX variable-length prefix where the template says so.
func fieldValue(f *decField, b []byte, off int) (v []byte, next int, err error) {
	n := int(f.length)
	if f.varLen {
		if off >= len(b) {
			return nil, 0, fmt.Errorf("variable-length field %d: no length: %w", f.id, ErrMalformed)
		}
		n = int(b[off])
		off++
		if n == 255 {
			if off+2 > len(b) {
				return nil, 0, fmt.Errorf("variable-length field %d: no long length: %w", f.id, ErrMalformed)
			}
			n = int(binary.BigEndian.Uint16(b[off:]))
			off += 2
		}
	}
	if off+n > len(b) {
		return nil, 0, fmt.Errorf("field %d: %d bytes past the set: %w", f.id, off+n-len(b), ErrMalformed)
	}
	return b[off : off+n], off + n, nil
}

func (d *Decoder) flowRecord(s *decStream, t *decTemplate, b []byte, ht hdrTime) (int, error) {
	m := &d.msg
	m.Records = append(m.Records, cache.Record{})
	r := &m.Records[len(m.Records)-1]
	off := 0
	for i := range t.fields {
		f := &t.fields[i]
		v, next, err := fieldValue(f, b, off)
		if err != nil {
			m.Records = m.Records[:len(m.Records)-1]
			return 0, err
		}
		off = next
		d.setField(r, f.kind, v, ht)
	}
	if r.IPVersion == 0 {
		if r.SrcAddr.Is6() {
			r.IPVersion = 6
		} else if r.SrcAddr.Is4() {
			r.IPVersion = 4
		}
	}
	r.SamplingInterval = s.info.SamplingInterval
	r.SamplingRandom = s.info.SamplingRandom
	return off, nil
}

// setField stores one field's value in r; values of an unexpected length
// are ignored rather than guessed at.
func (d *Decoder) setField(r *cache.Record, k ie.Kind, v []byte, ht hdrTime) {
	switch k {
	case ie.KindHTTPHost, ie.KindSSLServer, ie.KindDNSQuery:
		if s := d.name(v); s != "" {
			r.AppServer = s
		}
		return
	case ie.KindL7Proto:
		// nProbe's id stands in for applicationId only where IE 95 is
		// absent or zero; its L7_PROTO_NAME is nDPI's name for the id.
		if u := getUint(v); r.AppID == 0 && len(v) <= 2 && u != 0 {
			r.AppID = cache.AppIDOf(app.ID(u))
		}
		return
	}
	if k == ie.KindIgnore || len(v) == 0 || len(v) > 16 {
		return
	}
	if len(v) > 8 {
		switch {
		case len(v) != 16:
		case k == ie.KindSrcAddr6:
			r.SrcAddr = netip.AddrFrom16([16]byte(v))
		case k == ie.KindDstAddr6:
			r.DstAddr = netip.AddrFrom16([16]byte(v))
		case k == ie.KindNextHop6:
			if a := netip.AddrFrom16([16]byte(v)); !a.IsUnspecified() {
				r.NextHop = a
			}
		}
		return
	}
	u := getUint(v)
	switch k {
	case ie.KindBytes:
		r.Bytes = u
	case ie.KindPackets:
		r.Packets = u
	case ie.KindRevBytes:
		r.RevBytes, r.Bidirectional = u, true
	case ie.KindRevPackets:
		r.RevPackets, r.Bidirectional = u, true
	case ie.KindProto:
		r.Proto = uint8(u)
	case ie.KindToS:
		r.ToS = uint8(u)
	case ie.KindTCPFlags, ie.KindTCPFlagsBoth:
		r.TCPFlags = uint8(u)
	case ie.KindRevTCPFlags:
		r.RevTCPFlags, r.Bidirectional = uint8(u), true
	case ie.KindRevToS:
		r.RevToS, r.Bidirectional = uint8(u), true
	case ie.KindSrcPort:
		r.SrcPort = uint16(u)
	case ie.KindDstPort:
		r.DstPort = uint16(u)
	case ie.KindICMPTypeCode:
		if u != 0 {
			r.DstPort = uint16(u)
		}
	case ie.KindSrcAddr4:
		if len(v) == 4 {
			r.SrcAddr = netip.AddrFrom4([4]byte(v))
		}
	case ie.KindDstAddr4:
		if len(v) == 4 {
			r.DstAddr = netip.AddrFrom4([4]byte(v))
		}
	case ie.KindNextHop4:
		if len(v) == 4 && u != 0 {
			r.NextHop = netip.AddrFrom4([4]byte(v))
		}
	case ie.KindSrcMask:
		r.SrcMask = uint8(u)
	case ie.KindDstMask:
		r.DstMask = uint8(u)
	case ie.KindInIf:
		r.InIfIndex = uint32(u)
	case ie.KindOutIf:
		r.OutIfIndex = uint32(u)
	case ie.KindSrcAS:
		r.SrcAS = uint32(u)
	case ie.KindDstAS:
		r.DstAS = uint32(u)
	case ie.KindFirstUptime:
		r.Start = ht.at(uint32(u))
	case ie.KindLastUptime:
		r.End = ht.at(uint32(u))
	case ie.KindStartSec:
		r.Start = d.unixTime(u, 1000)
	case ie.KindEndSec:
		r.End = d.unixTime(u, 1000)
	case ie.KindStartMs:
		r.Start = d.unixTime(u, 1)
	case ie.KindEndMs:
		r.End = d.unixTime(u, 1)
	case ie.KindRevStartMs:
		r.RevStart, r.Bidirectional = d.unixTime(u, 1), true
	case ie.KindRevEndMs:
		r.RevEnd, r.Bidirectional = d.unixTime(u, 1), true
	case ie.KindVLAN:
		r.VLAN = uint16(u)
	case ie.KindIPVersion:
		r.IPVersion = uint8(u)
	case ie.KindDirection:
		r.Egress = u == 1
	case ie.KindEndReason:
		r.EndReason = cache.EndReason(u)
	case ie.KindAppID:
		r.AppID = ie.ParseAppID(v)
	}
}

// maxUnixMs is the last millisecond of the year 9999: the last a
// time.Time can write as JSON or RFC 3339.
var maxUnixMs = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// unixTime returns u units of msPerUnit milliseconds since 1970, or the
// zero time for 0 (not sent) and, counted, past maxUnixMs.
func (d *Decoder) unixTime(u, msPerUnit uint64) time.Time {
	switch {
	case u == 0:
		return time.Time{}
	case u > uint64(maxUnixMs)/msPerUnit:
		d.stats.BadTimes++
		return time.Time{}
	}
	return time.UnixMilli(int64(u * msPerUnit)).UTC()
}

// optionsRecord applies one options data record to the stream's
// ExporterInfo.
func (d *Decoder) optionsRecord(s *decStream, t *decTemplate, b []byte) (int, error) {
	var o optionValues
	off := 0
	for i := range t.fields {
		f := &t.fields[i]
		v, next, err := fieldValue(f, b, off)
		if err != nil {
			return 0, err
		}
		off = next
		if len(v) > 0 {
			d.setOption(&o, f, v)
		}
	}
	d.stats.OptionRecords++
	d.keepNames(s, &o)
	o.sampling(&s.info)
	return off, nil
}

// optionValues gathers what one options record says: an interface's or an
// application's name, or the sampling in force.
type optionValues struct {
	ifIndex, appID                  uint32
	hasIf, hasApp                   bool
	name, desc, appName, appDesc    string
	interval, samplerIntvl, pktIntv uint32
	pktSpace, sampSize, sampPop     uint32
	hasSpace                        bool
	algo, mode                      uint8
	selector                        uint16
}

func (d *Decoder) setOption(o *optionValues, f *decField, v []byte) {
	v9 := d.msg.Version == 9
	u := uint64(0)
	if len(v) <= 8 {
		u = getUint(v)
	}
	switch {
	case f.pen != 0:
	case f.scope && v9:
		if f.id == ie.ScopeInterface {
			o.ifIndex, o.hasIf = uint32(u), true
		}
	case f.id == ie.InputSNMP:
		o.ifIndex, o.hasIf = uint32(u), true
	case f.id == ie.IfName:
		o.name = d.name(v)
	case f.id == ie.IfDesc:
		o.desc = d.name(v)
	case f.id == ie.AppID:
		o.appID, o.hasApp = ie.ParseAppID(v), true
	case f.id == ie.AppName:
		o.appName = d.name(v)
	case f.id == ie.AppDesc:
		o.appDesc = d.name(v)
	case f.id == ie.SamplingIntvl:
		o.interval = uint32(u)
	case f.id == ie.SamplingAlgo:
		o.algo = uint8(u)
	case f.id == ie.SamplerMode:
		o.mode = uint8(u)
	case f.id == ie.SamplerInterval:
		o.samplerIntvl = uint32(u)
	case f.id == ie.SelectorAlgo:
		o.selector = uint16(u)
	case f.id == ie.SamplingPktIntv:
		o.pktIntv = uint32(u)
	case f.id == ie.SamplingPktSpc:
		o.pktSpace, o.hasSpace = uint32(u), true
	case f.id == ie.SamplingSize:
		o.sampSize = uint32(u)
	case f.id == ie.SamplingPop:
		o.sampPop = uint32(u)
	}
}

// keepNames keeps an interface's or an application's name in s, charged
// to s's memory; refused and counted when its exporter has no room.
func (d *Decoder) keepNames(s *decStream, o *optionValues) {
	info := &s.info
	if o.hasIf && (o.name != "" || o.desc != "") {
		old, had := info.Interfaces[o.ifIndex]
		if d.growNames(s, had, len(old.Name)+len(old.Description), len(o.name)+len(o.desc)) {
			if info.Interfaces == nil {
				info.Interfaces = make(map[uint32]ie.Interface)
			}
			info.Interfaces[o.ifIndex] = ie.Interface{Index: o.ifIndex, Name: o.name, Description: o.desc}
		}
	}
	if o.hasApp && (o.appName != "" || o.appDesc != "") {
		old, had := info.Applications[o.appID]
		if d.growNames(s, had, len(old.Name)+len(old.Description), len(o.appName)+len(o.appDesc)) {
			if info.Applications == nil {
				info.Applications = make(map[uint32]ie.Application)
			}
			info.Applications[o.appID] = ie.Application{ID: o.appID, Name: o.appName, Description: o.appDesc}
		}
	}
}

// growNames accounts for a name of newLen bytes replacing one of oldLen
// (if had) in s; false, counted, when there is no room.
func (d *Decoder) growNames(s *decStream, had bool, oldLen, newLen int) bool {
	delta := newLen - oldLen
	if !had {
		delta += nameCost
	}
	if !d.grow(s.mem, delta) {
		d.stats.NamesFull++
		return false
	}
	return true
}

// sampling reads the interval from whichever form the exporter used (v9
// 34 or 50, PSAMP 305/306 or 309/310) and the algorithm from 35, 49 or
// 304.
func (o *optionValues) sampling(info *ExporterInfo) {
	interval := o.interval
	switch {
	case interval > 0:
	case o.samplerIntvl > 0:
		interval = o.samplerIntvl
	case o.pktIntv > 0 && o.hasSpace:
		interval = (o.pktIntv + o.pktSpace) / o.pktIntv
	case o.sampSize > 0 && o.sampPop > 0:
		interval = o.sampPop / o.sampSize
	}
	if interval == 0 {
		return
	}
	info.SamplingInterval = interval
	if o.algo != 0 || o.mode != 0 || o.selector != 0 { // a bare interval leaves the algorithm as it was
		info.SamplingRandom = o.algo == ie.SamplingRandom || o.mode == ie.SamplingRandom ||
			o.selector == ie.SelectorRandomNofN || o.selector == ie.SelectorRandomUniform
	}
}

// fieldKindOf maps an element to the Record value it carries.
func fieldKindOf(ipfix bool, pen uint32, id uint16) ie.Kind {
	if pen == ie.PENReverse && ipfix {
		switch id {
		case ie.InBytes:
			return ie.KindRevBytes
		case ie.InPkts:
			return ie.KindRevPackets
		case ie.TCPFlags:
			return ie.KindRevTCPFlags
		case ie.SrcToS:
			return ie.KindRevToS
		case ie.FlowStartMs:
			return ie.KindRevStartMs
		case ie.FlowEndMs:
			return ie.KindRevEndMs
		}
		return ie.KindIgnore
	}
	if pen == ie.PENNtop && ipfix {
		return ntopKind(id)
	}
	if pen != 0 {
		return ie.KindIgnore
	}
	if !ipfix && id > ie.NtopV9Base {
		return ntopKind(id - ie.NtopV9Base)
	}
	switch id {
	case ie.InBytes:
		return ie.KindBytes
	case ie.InPkts:
		return ie.KindPackets
	case ie.Protocol:
		return ie.KindProto
	case ie.SrcToS:
		return ie.KindToS
	case ie.TCPFlags:
		return ie.KindTCPFlags
	case ie.L4SrcPort:
		return ie.KindSrcPort
	case ie.L4DstPort:
		return ie.KindDstPort
	case ie.ICMPType, ie.ICMPTypeIPv6:
		return ie.KindICMPTypeCode
	case ie.IPv4SrcAddr:
		return ie.KindSrcAddr4
	case ie.IPv4DstAddr:
		return ie.KindDstAddr4
	case ie.IPv6SrcAddr:
		return ie.KindSrcAddr6
	case ie.IPv6DstAddr:
		return ie.KindDstAddr6
	case ie.SrcMask, ie.IPv6SrcMask:
		return ie.KindSrcMask
	case ie.DstMask, ie.IPv6DstMask:
		return ie.KindDstMask
	case ie.InputSNMP:
		return ie.KindInIf
	case ie.OutputSNMP:
		return ie.KindOutIf
	case ie.IPv4NextHop:
		return ie.KindNextHop4
	case ie.IPv6NextHop:
		return ie.KindNextHop6
	case ie.SrcAS:
		return ie.KindSrcAS
	case ie.DstAS:
		return ie.KindDstAS
	case ie.SrcVLAN:
		return ie.KindVLAN
	case ie.IPVersion:
		return ie.KindIPVersion
	case ie.Direction:
		return ie.KindDirection
	case ie.FlowEndReason:
		return ie.KindEndReason
	case ie.AppID:
		return ie.KindAppID
	case ie.FlowStartSec:
		return ie.KindStartSec
	case ie.FlowEndSec:
		return ie.KindEndSec
	case ie.FlowStartMs:
		return ie.KindStartMs
	case ie.FlowEndMs:
		return ie.KindEndMs
	}
	if !ipfix { // v9 only: uptime-relative times, OUT_ counters
		switch id {
		case ie.FirstSwitched:
			return ie.KindFirstUptime
		case ie.LastSwitched:
			return ie.KindLastUptime
		case ie.OutBytes:
			return ie.KindRevBytes
		case ie.OutPkts:
			return ie.KindRevPackets
		}
	}
	return ie.KindIgnore
}

// ntopKind maps an nProbe element id (PEN 35632) to the Record value it
// carries.
func ntopKind(id uint16) ie.Kind {
	switch id {
	case ie.NtopL7Proto:
		return ie.KindL7Proto
	case ie.NtopHTTPHost:
		return ie.KindHTTPHost
	case ie.NtopSSLServer:
		return ie.KindSSLServer
	case ie.NtopDNSQuery:
		return ie.KindDNSQuery
	}
	return ie.KindIgnore
}

// SplitIPFIX is a bufio.SplitFunc that cuts an IPFIX-over-TCP byte stream
// into messages by their header's length field, for Decoder.Decode. A
// length below the 16-byte header is an error: the stream cannot be
// resynchronised.
func SplitIPFIX(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if len(data) < 4 {
		if atEOF && len(data) > 0 {
			return 0, nil, fmt.Errorf("ipfix stream: %d bytes before EOF: %w", len(data), ErrMalformed)
		}
		return 0, nil, nil
	}
	if v := binary.BigEndian.Uint16(data); v != 10 {
		return 0, nil, fmt.Errorf("ipfix stream: version %d: %w", v, ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(data[2:]))
	if n < 16 {
		return 0, nil, fmt.Errorf("ipfix stream: message length %d: %w", n, ErrMalformed)
	}
	if len(data) < n {
		if atEOF {
			return 0, nil, fmt.Errorf("ipfix stream: message of %d bytes cut at %d: %w", n, len(data), ErrMalformed)
		}
		return 0, nil, nil
	}
	return n, data[:n], nil
}

func getUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
