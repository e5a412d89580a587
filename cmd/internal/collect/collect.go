package collect

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter/decode"
)

// Config is what the collect command line sets.
type Config struct {
	Listen   string // UDP HOST:PORT
	TCP      string // IPFIX over TCP HOST:PORT; "" for none
	JSON     bool
	Count    uint64 // exit after this many records; 0: no limit
	Duration time.Duration
	Quiet    bool // only the summary

	// IPFIX over TCP: most connections at once (more are closed as they
	// come) and how long one may stay silent. 0: the defaults.
	TCPMaxConns int
	TCPIdle     time.Duration
}

// Defaults for Config's TCP bounds: room for every exporter of a large
// network, and an idle exporter closed after 5 minutes (it reconnects,
// sending its templates again, when it has records).
const (
	DefaultTCPMaxConns = 256
	DefaultTCPIdle     = 5 * time.Minute
)

// Hooks let a test learn the bound addresses and pace its sends.
type Hooks struct {
	Ready   func(udp, tcp net.Addr) // tcp is nil without --tcp
	Handled func()                  // after each datagram or TCP message
}

// Run runs the collector until ctx ends, cfg.Count records were printed
// or cfg.Duration passed, then writes the summary to errw.
func Run(ctx context.Context, cfg *Config, out, errw io.Writer, hooks Hooks) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, cfg.Duration)
		defer stop()
	}

	udp, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on udp %s: %w", cfg.Listen, err)
	}
	defer udp.Close()
	// An exporter flushing at shutdown sends a burst: a small receive
	// buffer would drop part of it before we read.
	if uc, ok := udp.(*net.UDPConn); ok {
		uc.SetReadBuffer(8 << 20)
	}
	var tcp net.Listener
	var tcpAddr net.Addr
	if cfg.TCP != "" {
		if tcp, err = net.Listen("tcp", cfg.TCP); err != nil {
			return fmt.Errorf("listen on tcp %s: %w", cfg.TCP, err)
		}
		defer tcp.Close()
		tcpAddr = tcp.Addr()
	}

	log := slog.New(slog.NewTextHandler(errw, nil)).With("component", "collect")
	c := &collector{
		cfg: cfg, out: out, log: log, stop: cancel, handled: hooks.Handled,
		dec:       decode.NewDecoder(),
		text:      flowprint.NewPrinter(out, "text"),
		byVersion: make(map[uint16]uint64),
		streams:   make(map[streamID]bool),
		pause:     pauseCtx,
	}
	if tcpAddr != nil {
		log.Info("listening", "udp", udp.LocalAddr(), "tcp", tcpAddr)
	} else {
		log.Info("listening", "udp", udp.LocalAddr())
	}
	if hooks.Ready != nil {
		hooks.Ready(udp.LocalAddr(), tcpAddr)
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.readUDP(udp) })
	if tcp != nil {
		wg.Go(func() { c.acceptTCP(ctx, tcp, &wg) })
	}
	<-ctx.Done()
	udp.Close()
	if tcp != nil {
		tcp.Close()
	}
	wg.Wait()
	c.summary(errw, tcp != nil)
	return c.writeErr
}

// streamID names one export stream for the summary.
type streamID struct {
	from     netip.AddrPort
	version  uint16
	sourceID uint32
}

// maxStreams bounds the streams the summary remembers.
const maxStreams = 1024

// collector decodes and prints; its methods are called from the UDP
// reader and every TCP connection, so one mutex guards it all.
type collector struct {
	cfg     *Config
	out     io.Writer
	log     *slog.Logger
	stop    context.CancelFunc
	handled func()
	pause   func(context.Context, time.Duration) // between failed accepts

	mu           sync.Mutex
	dec          *decode.Decoder
	text         *flowprint.Printer
	printed      uint64
	done         bool // --count reached or output failed: ignore the rest
	writeErr     error
	byVersion    map[uint16]uint64
	streams      map[streamID]bool
	tcpConns     uint64
	tcpOpen      int    // connections being read now
	tcpRefused   uint64 // connections closed at once: TCPMaxConns were open
	tcpIdle      uint64 // connections closed after TCPIdle of silence
	streamErrors uint64 // TCP streams dropped for bad framing
	unprintable  uint64 // records JSON cannot encode
	lastLog      time.Time
	suppressed   uint64 // complaints not logged since the last line
}

func (c *collector) readUDP(conn net.PacketConn) {
	uc := conn.(*net.UDPConn)
	buf := make([]byte, 1<<16)
	for {
		n, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.complain("udp read", "err", err)
			continue
		}
		c.handle(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), buf[:n])
	}
}

// acceptTCP serves connections until l is closed. An accept error (the
// file descriptor limit reached, say) is retried after a pause that
// doubles up to a second, not at once: that would spin a core.
func (c *collector) acceptTCP(ctx context.Context, l net.Listener, wg *sync.WaitGroup) {
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			c.complain("tcp accept", "err", err, "retry_in", backoff)
			c.pause(ctx, backoff)
			continue
		}
		backoff = 0
		if !c.admit() {
			conn.Close()
			continue
		}
		wg.Go(func() {
			c.readTCP(ctx, conn)
			c.mu.Lock()
			c.tcpOpen--
			c.mu.Unlock()
		})
	}
}

// admit counts a new connection; false, counted, when TCPMaxConns are open.
func (c *collector) admit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tcpConns++
	if c.tcpOpen >= cmp.Or(c.cfg.TCPMaxConns, DefaultTCPMaxConns) {
		c.tcpRefused++
		c.complainLocked("tcp connection refused", "open", c.tcpOpen)
		return false
	}
	c.tcpOpen++
	return true
}

// pauseCtx waits d or until ctx ends.
func pauseCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// idleReader reads from a connection that may stay silent idle at most.
type idleReader struct {
	conn net.Conn
	idle time.Duration
}

func (r idleReader) Read(b []byte) (int, error) {
	if err := r.conn.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
		return 0, err
	}
	return r.conn.Read(b)
}

// readTCP cuts one IPFIX-over-TCP connection into messages. A framing
// error ends the connection: the stream cannot be resynchronised.
func (c *collector) readTCP(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	ap := conn.RemoteAddr().(*net.TCPAddr).AddrPort()
	from := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	sc := bufio.NewScanner(idleReader{conn, cmp.Or(c.cfg.TCPIdle, DefaultTCPIdle)})
	sc.Buffer(make([]byte, 0, 1<<16), 1<<16)
	sc.Split(decode.SplitIPFIX)
	for sc.Scan() {
		c.handle(from, sc.Bytes())
	}
	err := sc.Err()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		c.tcpIdle++
		c.mu.Unlock()
		return
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		c.mu.Lock()
		c.streamErrors++
		c.mu.Unlock()
		c.complain("tcp stream dropped", "from", from, "err", err)
	}
}

// handle decodes one datagram (or TCP message) and prints its records.
func (c *collector) handle(from netip.AddrPort, b []byte) {
	c.mu.Lock()
	if !c.done {
		m, err := c.dec.Decode(from, b)
		if err != nil {
			c.complainLocked("malformed datagram", "from", from, "bytes", len(b), "err", err)
		}
		if m.Version != 0 {
			c.byVersion[m.Version] += uint64(len(m.Records) + len(m.Aggregates))
			id := streamID{from, m.Version, m.SourceID}
			if len(c.streams) < maxStreams {
				c.streams[id] = true
			}
		}
		c.print(from, m)
	}
	c.mu.Unlock()
	if c.handled != nil {
		c.handled()
	}
}

// print writes m's records (all but those past --count).
func (c *collector) print(from netip.AddrPort, m *decode.Message) {
	for i := range m.Records {
		if !c.take() {
			return
		}
		if !c.cfg.Quiet {
			c.write(c.writeRecord(from, m.Version, &m.Records[i]))
		}
	}
	for i := range m.Aggregates {
		if !c.take() {
			return
		}
		if !c.cfg.Quiet {
			c.write(c.writeAggregate(from, m.Scheme, &m.Aggregates[i]))
		}
	}
}

// take counts one record against --count; false once the count is reached.
func (c *collector) take() bool {
	if c.done {
		return false
	}
	c.printed++
	if c.cfg.Count > 0 && c.printed >= c.cfg.Count {
		c.done = true
		c.stop()
	}
	return true
}

func (c *collector) write(err error) {
	if err != nil && c.writeErr == nil {
		c.writeErr = fmt.Errorf("write records: %w", err)
		c.done = true
		c.stop()
	}
}

// JSON is the --json form of a record: --print=json's fields plus
// where it came from and every field the export formats carry.
type JSON struct {
	Exporter string `json:"exporter"`
	Version  uint16 `json:"version"`
	flowprint.JSON
	// Beyond what --print shows (which includes the routing fields).
	IPVersion      uint8  `json:"ip_version,omitempty"`
	AppID          uint32 `json:"app_id,omitempty"`
	SamplingRandom bool   `json:"sampling_random,omitempty"`

	// v8 only: the aggregation scheme and the number of flows aggregated.
	Scheme string  `json:"scheme,omitempty"`
	Flows  *uint64 `json:"flows,omitempty"`
}

func JSONOf(from netip.AddrPort, version uint16, r *cache.Record) JSON {
	return JSON{
		Exporter: from.String(), Version: version, JSON: flowprint.JSONOf(r),
		IPVersion: r.IPVersion, AppID: r.AppID, SamplingRandom: r.SamplingRandom,
	}
}

// RecordOfAggregate carries a v8 aggregate's fields in a Record, for the
// JSON form.
func RecordOfAggregate(a *cache.Aggregate) cache.Record {
	return cache.Record{
		SrcAddr: a.SrcAddr, DstAddr: a.DstAddr, SrcPort: a.SrcPort, DstPort: a.DstPort,
		Proto: a.Proto, ToS: a.ToS, InIfIndex: a.InIfIndex, OutIfIndex: a.OutIfIndex,
		SrcAS: a.SrcAS, DstAS: a.DstAS, SrcMask: a.SrcMask, DstMask: a.DstMask,
		Packets: a.Packets, Bytes: a.Bytes, Start: a.Start, End: a.End, EndReason: a.EndReason,
	}
}

func (c *collector) writeRecord(from netip.AddrPort, version uint16, r *cache.Record) error {
	if c.cfg.JSON {
		return c.writeJSON(JSONOf(from, version, r))
	}
	return c.text.Print([]cache.Record{*r})
}

// writeJSON writes one record as a JSON line. A record JSON cannot encode
// is malformed input, counted and logged; only a failed write is an error.
func (c *collector) writeJSON(j JSON) error {
	line, err := json.Marshal(j)
	if err != nil {
		c.unprintable++
		c.complainLocked("record not encodable as JSON", "exporter", j.Exporter, "err", err)
		return nil
	}
	_, err = c.out.Write(append(line, '\n'))
	return err
}

func (c *collector) writeAggregate(from netip.AddrPort, scheme cache.Scheme, a *cache.Aggregate) error {
	if c.cfg.JSON {
		r := RecordOfAggregate(a)
		j := JSONOf(from, 8, &r)
		j.Scheme, j.Flows = scheme.String(), &a.Flows
		return c.writeJSON(j)
	}
	srcPrefix, dstPrefix := v8Prefixes(scheme)
	src, dst := v8Addr(a.SrcAddr, a.SrcMask, srcPrefix), v8Addr(a.DstAddr, a.DstMask, dstPrefix)
	_, err := fmt.Fprintf(c.out, "%s %8.3f v8 %-22s %s -> %s %s %d -> %d tos 0x%02x as %d -> %d if %d -> %d flows %d %8d %8d\n",
		a.Start.UTC().Format("2006-01-02 15:04:05.000"), a.End.Sub(a.Start).Seconds(), scheme,
		src, dst, flowprint.ProtoName(a.Proto), a.SrcPort, a.DstPort, a.ToS, a.SrcAS, a.DstAS, a.InIfIndex, a.OutIfIndex,
		a.Flows, a.Packets, a.Bytes)
	return err
}

// v8Prefixes says which of a scheme's addresses are masked prefixes.
func v8Prefixes(s cache.Scheme) (src, dst bool) {
	switch s {
	case cache.SchemeSourcePrefix, cache.SchemeSourcePrefixToS:
		return true, false
	case cache.SchemeDestinationPrefix, cache.SchemeDestinationPrefixToS:
		return false, true
	case cache.SchemePrefix, cache.SchemePrefixToS, cache.SchemePrefixPort:
		return true, true
	}
	return false, false
}

// v8Addr prints an aggregate's address: a prefix for the prefix schemes,
// "-" where the scheme carries none.
func v8Addr(a netip.Addr, mask uint8, prefix bool) string {
	switch {
	case !a.IsValid():
		return "-"
	case prefix:
		return a.String() + "/" + strconv.Itoa(int(mask))
	}
	return a.String()
}

// complain logs a problem at most once a second; the rest are counted
// and the count goes with the next line.
func (c *collector) complain(msg string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.complainLocked(msg, args...)
}

func (c *collector) complainLocked(msg string, args ...any) {
	now := time.Now()
	if !c.lastLog.IsZero() && now.Sub(c.lastLog) < time.Second {
		c.suppressed++
		return
	}
	c.log.Warn(msg, append(args, "suppressed", c.suppressed)...)
	c.lastLog, c.suppressed = now, 0
}

func VersionName(v uint16) string {
	if v == 10 {
		return "ipfix"
	}
	return "v" + strconv.Itoa(int(v))
}

// summary writes what the collector saw: the Decoder's counters, records
// by version, and the sampling and interface names each exporter's
// options data announced.
func (c *collector) summary(w io.Writer, tcp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.dec.Stats()
	fmt.Fprintf(w, "spanflow collect: %d datagrams, %d records (%d printed)\n", st.Datagrams, st.Records+st.Aggregates, c.printed)
	versions := make([]uint16, 0, len(c.byVersion))
	for v := range c.byVersion {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	var by []string
	for _, v := range versions {
		by = append(by, fmt.Sprintf("%s %d", VersionName(v), c.byVersion[v]))
	}
	if len(by) > 0 {
		fmt.Fprintf(w, "  records by version: %s\n", strings.Join(by, ", "))
	}
	fmt.Fprintf(w, "  templates learnt %d, option records %d, malformed %d, missing templates %d, sequence errors %d\n",
		st.Templates, st.OptionRecords, st.Malformed, st.MissingTemplate, st.SequenceErrors)
	fmt.Fprintf(w, "  templates withdrawn %d, times out of range %d, names cut %d, records not encodable %d\n",
		st.TemplatesWithdrawn, st.BadTimes, st.NamesCut, c.unprintable)
	bytes, exporters := c.dec.Memory()
	fmt.Fprintf(w, "  memory %d KiB for %d exporters; evicted templates %d, streams %d; refused templates %d, names %d\n",
		bytes>>10, exporters, st.TemplatesEvicted, st.StreamsEvicted, st.TemplatesFull, st.NamesFull)
	if tcp {
		fmt.Fprintf(w, "  tcp connections %d, streams dropped %d, refused %d (over %d open), closed idle %d\n",
			c.tcpConns, c.streamErrors, c.tcpRefused, cmp.Or(c.cfg.TCPMaxConns, DefaultTCPMaxConns), c.tcpIdle)
	}
	ids := make([]streamID, 0, len(c.streams))
	for id := range c.streams {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b streamID) int {
		if n := a.from.Compare(b.from); n != 0 {
			return n
		}
		if n := cmp.Compare(a.version, b.version); n != 0 {
			return n
		}
		return cmp.Compare(a.sourceID, b.sourceID)
	})
	for _, id := range ids {
		if line := exporterLine(c.dec.Exporter(id.from, id.version, id.sourceID)); line != "" {
			fmt.Fprintf(w, "  exporter %s %s source %d: %s\n", id.from, VersionName(id.version), id.sourceID, line)
		}
	}
}

// exporterLine says what an exporter's options announced, or "".
func exporterLine(info *decode.ExporterInfo) string {
	if info == nil {
		return ""
	}
	var parts []string
	if info.SamplingInterval > 1 {
		mode := "deterministic"
		if info.SamplingRandom {
			mode = "random"
		}
		parts = append(parts, fmt.Sprintf("sampling 1 in %d (%s)", info.SamplingInterval, mode))
	}
	if len(info.Interfaces) > 0 {
		idx := make([]uint32, 0, len(info.Interfaces))
		for i := range info.Interfaces {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		names := make([]string, len(idx))
		for k, i := range idx {
			names[k] = fmt.Sprintf("%d %s", i, info.Interfaces[i].Name)
		}
		parts = append(parts, "interfaces "+strings.Join(names, ", "))
	}
	if n := len(info.Applications); n > 0 {
		parts = append(parts, fmt.Sprintf("%d application names", n))
	}
	return strings.Join(parts, "; ")
}
