package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/agent"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/probetest"
)

// The offline-mode tests run the real offline path in process: flags
// through BindFlags and Validate, then replayCapture with --print=json
// written to a buffer, whose JSON lines are read back as the records.

// offlineConfig parses args as the command line would, with --print=json
// so that offline mode needs no collector.
func offlineConfig(t *testing.T, args ...string) *Config {
	t.Helper()
	fs := flag.NewFlagSet("spanflow", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := BindFlags(fs)
	if err := fs.Parse(append([]string{"--print=json"}, args...)); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	if cfg.DefaultSink || len(cfg.Collectors) > 0 {
		t.Fatalf("flags %q: offline test would export to %v", args, cfg.Collectors)
	}
	return cfg
}

// offlineRun is what one offline run produced: the printed records in
// print order, the frame counts and the cache statistics, and the error.
type offlineRun struct {
	records []flowprint.JSON
	stats   agent.OfflineStats
	err     error
}

func runOfflineJSON(t *testing.T, args ...string) offlineRun {
	t.Helper()
	cfg := offlineConfig(t, args...)
	var out bytes.Buffer
	log := slog.New(slog.DiscardHandler)
	cfg.agent.Stdout = &out
	stats, err := agent.Replay(context.Background(), &cfg.agent, log)
	return offlineRun{records: jsonLines[flowprint.JSON](t, "--print=json", out.Bytes()), stats: stats, err: err}
}

// oneWay is one direction of a printed record, as a truth key and counts.
type oneWay struct {
	key            probetest.TruthKey
	packets, bytes uint64
}

// recordDirections splits a record into its one-way flows with packets: the
// record's own key, and in bidirectional mode the reverse key (for ICMP
// query/answer pairs the other type, as cache pairs them).
func recordDirections(r *flowprint.JSON) []oneWay {
	ver := uint8(4)
	if r.SrcAddr.Is6() {
		ver = 6
	}
	vlan := fmt.Sprintf("%d.%d", r.VLAN, r.InnerVLAN)
	fwd := probetest.TruthKey{VLAN: vlan, IPVersion: ver, Proto: r.Proto,
		Src: r.SrcAddr, Dst: r.DstAddr, SrcPort: r.SrcPort, DstPort: r.DstPort}
	var out []oneWay
	if r.Packets > 0 {
		out = append(out, oneWay{fwd, r.Packets, r.Bytes})
	}
	if r.RevPackets != nil && *r.RevPackets > 0 {
		rev := fwd
		rev.Src, rev.Dst = fwd.Dst, fwd.Src
		if answer, ok := icmpPartner(r.Proto, uint8(r.DstPort>>8)); ok {
			rev.DstPort = uint16(answer)<<8 | r.DstPort&0xff
		} else {
			rev.SrcPort, rev.DstPort = fwd.DstPort, fwd.SrcPort
		}
		out = append(out, oneWay{rev, *r.RevPackets, *r.RevBytes})
	}
	return out
}

// icmpPartner is the type that answers an ICMP query type or asks for an
// answer type: the pairs cache's bidirectional mode joins.
func icmpPartner(proto, typ uint8) (uint8, bool) {
	pairs := map[uint8][][2]uint8{
		1:  {{8, 0}, {13, 14}, {15, 16}, {17, 18}},
		58: {{128, 129}},
	}
	for _, p := range pairs[proto] {
		switch typ {
		case p[0]:
			return p[1], true
		case p[1]:
			return p[0], true
		}
	}
	return 0, false
}

// recordSpan is the time a record covers, both directions together.
func recordSpan(r *flowprint.JSON) (first, last time.Time) {
	first, last = r.Start, r.End
	if r.RevPackets != nil && *r.RevPackets > 0 {
		if r.Packets == 0 || r.RevStart.Before(first) {
			first = *r.RevStart
		}
		if r.Packets == 0 || r.RevEnd.After(last) {
			last = *r.RevEnd
		}
	}
	return first, last
}

// referenceCapture is what the reference parser makes of a capture frame
// by frame, without the flow cache: per-direction totals, the time the
// offline clock ends at (the latest timestamp of any frame), and the
// largest step back in time from the latest frame so far to a frame.
type referenceCapture struct {
	frames   int
	flows    map[probetest.TruthKey]probetest.TruthCount
	end      time.Time
	stepBack time.Duration
}

func readReferenceCapture(path string) (referenceCapture, error) {
	rc := referenceCapture{flows: make(map[probetest.TruthKey]probetest.TruthCount)}
	c, err := probe.OpenCapture(path)
	if err != nil {
		return rc, err
	}
	defer c.Close()
	for {
		f, err := c.Next()
		if errors.Is(err, io.EOF) {
			return rc, nil
		}
		if err != nil {
			return rc, err
		}
		rc.frames++
		if rc.frames == 1 || f.Timestamp.After(rc.end) {
			rc.end = f.Timestamp
		}
		rc.stepBack = max(rc.stepBack, rc.end.Sub(f.Timestamp))
		p := probe.ParseFrame(f.LinkType, f.Data)
		if p.Reason != bpf.StatAccounted {
			continue
		}
		k := probetest.TruthKeyOf(p.Key)
		n := rc.flows[k]
		n.Packets++
		n.Bytes += uint64(p.IPBytes)
		rc.flows[k] = n
	}
}

// defaultTimers are the flow cache's default timers, which the real-capture
// test runs with.
var defaultTimers = struct{ inactive, active time.Duration }{
	cache.DefaultInactiveTimeout, cache.DefaultActiveTimeout,
}

// checkEndReasons checks that each record ended for a reason its own
// times and flags allow, with the default timers, in a capture whose
// clock stopped at end:
//   - forced records come only from the final flush: after every other
//     record, and only for flows whose idle timer had not run out;
//   - idle: the idle timer ran out inside the capture, and the key's next
//     record starts no earlier than that;
//   - active: the flow lasted less than the active timeout, which ran out
//     inside the capture;
//   - end of flow: TCP with RST, or FIN (in both directions when
//     bidirectional);
//   - every record lasts less than the active timeout and starts after
//     the previous record of its key ended; none is lack of resources.
//
// In a capture whose time steps back (steppedBack), the clock steps back
// with it (cache.CaptureStepBack): flows of the later part wait until the
// clock reaches their deadlines again or the final flush, so the rules on
// the key's next record and on the idle timer of forced records do not
// hold there.
func checkEndReasons(recs []flowprint.JSON, end time.Time, bidir, steppedBack bool) []string {
	var bad []string
	complain := func(r *flowprint.JSON, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("%s %s:%d > %s:%d proto %d (%s, %d+%d pkts): %s",
			r.Start.Format(time.RFC3339Nano), r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Proto,
			r.EndReason, r.Packets, orZero(r.RevPackets), fmt.Sprintf(format, args...)))
	}
	type ended struct {
		first, last time.Time
		why         string
	}
	prevOf := make(map[conversation]ended)
	forcedSeen := false
	for i := range recs {
		r := &recs[i]
		first, last := recordSpan(r)
		if r.Packets+orZero(r.RevPackets) == 0 {
			complain(r, "no packets")
		}
		if last.Before(first) {
			complain(r, "ends before it starts")
		}
		if d := last.Sub(first); d >= defaultTimers.active {
			complain(r, "lasts %v, not less than the active timeout", d)
		}
		if r.EndReason == flowprint.EndReasonNames[cache.EndForced] {
			forcedSeen = true
			if end.Sub(last) >= defaultTimers.inactive && !steppedBack {
				complain(r, "forced, but its idle timer ran out at %v, before the capture ended at %v",
					last.Add(defaultTimers.inactive), end)
			}
		} else if forcedSeen {
			complain(r, "follows a forced record: only the final flush forces")
		}
		switch r.EndReason {
		case flowprint.EndReasonNames[cache.EndIdle]:
			if end.Sub(last) < defaultTimers.inactive {
				complain(r, "idle, but its idle timer runs out at %v, after the capture ended at %v",
					last.Add(defaultTimers.inactive), end)
			}
		case flowprint.EndReasonNames[cache.EndActive]:
			if end.Sub(first) < defaultTimers.active {
				complain(r, "active, but the capture ended at %v, before the active timeout", end)
			}
		case flowprint.EndReasonNames[cache.EndOfFlow]:
			fwd, rev := r.TCPFlags, orZero(r.RevTCPFlags)
			const fin, rst = 0x01, 0x04
			ended := (fwd|rev)&rst != 0 || fwd&fin != 0 && (!bidir || rev&fin != 0)
			if r.Proto != 6 || !ended {
				complain(r, "end of flow without RST or FIN (flags %#02x/%#02x)", fwd, rev)
			}
		case flowprint.EndReasonNames[cache.EndForced]:
		default:
			complain(r, "unexpected end reason")
		}
		// One table entry holds a conversation (bidirectional) or a key
		// at a time, so its records never overlap.
		id := conversationOf(r, bidir)
		if prev, ok := prevOf[id]; ok && !steppedBack {
			switch {
			case !first.After(prev.last):
				complain(r, "starts at or before the previous record of its flow ended (%v)", prev.last.Format(time.RFC3339Nano))
			case prev.why == flowprint.EndReasonNames[cache.EndIdle] && first.Before(prev.last.Add(defaultTimers.inactive)):
				complain(r, "starts before the previous record of its flow timed out idle (%v)",
					prev.last.Add(defaultTimers.inactive).Format(time.RFC3339Nano))
			case prev.why == flowprint.EndReasonNames[cache.EndActive] && first.Before(prev.first.Add(defaultTimers.active)):
				complain(r, "starts before the previous record of its flow timed out active (%v)",
					prev.first.Add(defaultTimers.active).Format(time.RFC3339Nano))
			}
		}
		prevOf[id] = ended{first, last, r.EndReason}
	}
	return bad
}

// conversation names what one table entry holds: a directional key, or
// when bidirectional both directions of a conversation (endpoints in a
// fixed order; for an ICMP query/answer pair, the smaller type), each
// with its own ToS: a direction re-marked (telnet's low-delay ToS after
// login) starts an entry of its own, whose records may overlap the first
// entry's.
type conversation struct {
	a, b            netip.Addr
	aPort, bPort    uint16
	proto, tos      uint8
	vlan, innerVLAN uint16
	bTos            uint8
}

func conversationOf(r *flowprint.JSON, bidir bool) conversation {
	c := conversation{r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.Proto, r.ToS, r.VLAN, r.InnerVLAN, 0}
	if !bidir {
		return c
	}
	c.bTos = orZero(r.RevToS)
	swap := c.a.Compare(c.b) > 0 || c.a == c.b && c.aPort > c.bPort
	if r.Proto == 1 || r.Proto == 58 {
		typ := uint8(r.DstPort >> 8)
		partner, ok := icmpPartner(r.Proto, typ)
		if !ok {
			return c // not paired: one direction per entry
		}
		c.bPort = uint16(min(typ, partner))<<8 | r.DstPort&0xff
		swap = c.a.Compare(c.b) > 0 || c.a == c.b && typ > partner
		if swap {
			c.a, c.b, c.tos, c.bTos = c.b, c.a, c.bTos, c.tos
		}
		return c
	}
	if swap {
		c.a, c.b, c.aPort, c.bPort, c.tos, c.bTos = c.b, c.a, c.bPort, c.aPort, c.bTos, c.tos
	}
	return c
}

func orZero[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestOfflineMatchesTruthOnRealCaptures runs offline mode with the
// default timers on every real capture, unidirectional and bidirectional,
// and sums the printed records per direction: the totals equal
// flows-truth.tsv except for the documented differences
// (probetest.TruthExceptions), and equal exactly what the reference parser
// counts frame by frame without the flow cache. Every record's end reason
// must fit its times and flags, and the cache statistics must account for
// every packet and record.
func TestOfflineMatchesTruthOnRealCaptures(t *testing.T) {
	dir := probetest.RealCapturesDir(t)
	caps, err := probetest.ReadRealCaptures(dir)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := probetest.ReadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}

	var frames, flows, steppedRecords int
	records := make(map[string]int)
	reasons := map[string]map[string]int{"unidirectional": {}, "bidirectional": {}}
	for _, pc := range caps {
		path := filepath.Join(dir, pc.File)
		ref, err := readReferenceCapture(path)
		if err != nil {
			t.Errorf("%s: reference: %v", pc.File, err)
			continue
		}
		frames += ref.frames
		flows += len(truth[pc.File])
		wantDiff, _ := probetest.TruthExceptionDiff(pc.File)
		if _, ok := steppedBack[pc.File]; ok != (ref.stepBack > time.Second) {
			t.Errorf("%s: time steps back by up to %v: steppedBack must list it exactly when that is over a second",
				pc.File, ref.stepBack)
		}
		for _, bidir := range []bool{false, true} {
			args := []string{"-r", path}
			mode := "unidirectional"
			if bidir {
				args = append(args, "--bidirectional")
				mode = "bidirectional"
			}
			run := runOfflineJSON(t, args...)
			if run.err != nil {
				t.Errorf("%s (%s): %v", pc.File, mode, run.err)
				continue
			}
			if int(run.stats.Frames) != pc.Records {
				t.Errorf("%s (%s): read %d frames, pcaps.tsv says %d", pc.File, mode, run.stats.Frames, pc.Records)
			}
			got := make(map[probetest.TruthKey]probetest.TruthCount)
			var ways, packets uint64
			for i := range run.records {
				reasons[mode][run.records[i].EndReason]++
				for _, w := range recordDirections(&run.records[i]) {
					c := got[w.key]
					c.Packets += w.packets
					c.Bytes += w.bytes
					got[w.key] = c
					ways++
					packets += w.packets
				}
			}
			if d := probetest.FlowDiff(truth[pc.File], got); !cmp.Equal(d, wantDiff, cmpEmpty) {
				t.Errorf("%s (%s): per-direction totals differ from flows-truth.tsv other than documented (-want +got):\n%s",
					pc.File, mode, cmp.Diff(wantDiff, d, cmpEmpty))
			}
			if d := probetest.FlowDiff(ref.flows, got); len(d) > 0 {
				t.Errorf("%s (%s): per-direction totals differ from the reference parser's frame by frame "+
					"(\"truth\" is the reference here, \"reference\" offline mode):\n\t%s", pc.File, mode, strings.Join(d, "\n\t"))
			}
			_, stepped := steppedBack[pc.File]
			if bad := checkEndReasons(run.records, ref.end, bidir, stepped); len(bad) > 0 {
				if len(bad) > 5 {
					bad = append(bad[:5], fmt.Sprintf("… and %d more", len(bad)-5))
				}
				t.Errorf("%s (%s): records that ended for a reason their times or flags do not allow:\n\t%s",
					pc.File, mode, strings.Join(bad, "\n\t"))
			}
			checkCacheStats(t, pc.File+" ("+mode+")", run, ways, packets)
			records[mode] += len(run.records)
			if _, ok := steppedBack[pc.File]; ok && !bidir {
				steppedRecords += len(run.records)
			}
		}
	}
	t.Logf("%d captures, %d frames, %d truth flows; %d unidirectional records (%d of them in the %d captures "+
		"whose time steps back), %d bidirectional records; end reasons: %v",
		len(caps), frames, flows, records["unidirectional"], steppedRecords, len(steppedBack),
		records["bidirectional"], reasons)
}

// steppedBack names the real captures whose time steps back by more than
// a second. Offline mode's clock never runs backwards (cache.CaptureClock),
// so after such a step every frame is "in the past": its flow is created
// and ends idle at the next frame, one record per frame, until the
// capture's time catches up. The per-direction totals are still exact;
// live, where the clock is monotonic, this cannot happen.
var steppedBack = map[string]string{
	"ndpi/tftp.pcap":             "frames 1-2 are stamped 4273 s after frame 3 and the rest",
	"ndpi/ipsec_isakmp_esp.pcap": "spliced sessions: steps back of 2 s to 19 h (frame 287)",
	"ndpi/sites.pcapng":          "steps back of 48 s (frame 503) and 6 s (frame 617)",
}

// cmpEmpty makes nil and empty diffs equal.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

// checkCacheStats checks that the `show ip cache flow` data of a run adds
// up to its records: every record counted once by end reason, every
// packet once in the size distribution, every one-way flow once in the
// protocol table, and nothing left in the table after the flush.
func checkCacheStats(t *testing.T, name string, run offlineRun, ways, packets uint64) {
	t.Helper()
	s := run.stats.Cache
	e := s.Expired
	if n := e.Idle + e.Active + e.EndOfFlow + e.Forced + e.LackOfResources; n != uint64(len(run.records)) {
		t.Errorf("%s: cache counts %d expired records, %d were printed", name, n, len(run.records))
	}
	if s.Active != 0 {
		t.Errorf("%s: %d flows left in the table after the final flush", name, s.Active)
	}
	var sized, protoFlows, protoPackets uint64
	for _, n := range s.Sizes {
		sized += n
	}
	for _, p := range s.Protocols {
		protoFlows += p.Flows
		protoPackets += p.Packets
	}
	accounted := run.stats.Reasons[bpf.StatAccounted]
	if sized != accounted || packets != accounted || protoPackets != accounted {
		t.Errorf("%s: %d frames accounted, %d packets printed, %d in the size distribution, %d in the protocol table",
			name, accounted, packets, sized, protoPackets)
	}
	if protoFlows != ways {
		t.Errorf("%s: protocol table has %d one-way flows, the records %d", name, protoFlows, ways)
	}
}

// TestOfflineCacheViewsOfHTTPCapture checks the `show ip cache flow` data
// offline mode computes for wireshark-wiki/http.pcap (43 frames, one
// client 145.254.160.237) against values worked out by hand from
// `tshark -r http.pcap -T fields -e frame.number -e frame.time_epoch
// -e ip.len -e ip.src -e ip.dst -e tcp.flags.str …`, with the default
// timers (inactive 15 s, FIN grace 1 s):
//
//	A  :3372 → 65.208.228.223:80   frames 1,3,4,7,9,12,15,19,22,25,30,33,35,39,41,42
//	   16 pkts 1127 bytes, 427.311224 – 457.374452 (times are 1084443xxx s);
//	   its FIN (frame 42) would end it at 458.374, after the last frame
//	   (457.704928): forced by the final flush, idle 0.330476 s.
//	B  65.208.228.223:80 → :3372   frames 2,5,6,8,…,38,40 and 43
//	   FIN in frame 40 at 445.216971: ends (end of flow) at 446.216971,
//	   noticed when frame 42 arrives; 17 pkts 19052 bytes, active
//	   16.994437 s, idle 1 s. Frame 43 (40 bytes) starts a new flow of
//	   the same key: 1 pkt, forced, active 0, idle 0.
//	C  DNS query :3009 → 145.253.2.203:53, frame 13, 75 bytes; idle at
//	   444.864896, noticed at frame 40.
//	D  DNS answer, frame 17, 174 bytes; idle at 445.225414 (frame 42).
//	E  :3371 → 216.239.59.99:80, frames 18,28,37: 841 bytes, active
//	   1.792577 s, idle at 447.088092 (15 s).
//	F  216.239.59.99:80 → :3371, frames 24,26,27,36: 3180 bytes, active
//	   1.131627 s, idle 15 s.
//
// So 7 records: 4 idle (C D E F), 1 end of flow (B), 2 forced (A and
// B's tail). TCP-WWW: 5 flows, 41 pkts, 24240 bytes, active 49.981869 s,
// idle 31.330476 s. UDP-DNS: 2 flows, 2 pkts, 249 bytes, active 0, idle
// 30 s. The statistics run from frame 1 (427.311224) to 457.704928.
//
// IP packet sizes: 20×40 and 2×48 (bucket 64), 75 (96), 174 (192), 200
// (224), 464 (480), 519 (544), 761 (1024), 13×1420 and 2×1470 (1536).
//
// The rendered rows of testdata/http-cache-flow.txt follow, over the
// 30.393704 s period: sizes 22/43 = .512, 1/43 = .023, 15/43 = .349;
// TCP-WWW 5 flows, 5/30.39 = 0.2 flows/s, 41/5 = 8 pkts/flow,
// 24240/41 = 591 bytes/pkt, 41/30.39 = 1.3 pkts/s, 49.98/5 = 10.0 s
// active, 31.33/5 = 6.3 s idle; UDP-DNS 2, 0.1, 1, 124, 0.1, 0.0, 15.0;
// total 7, 0.2, 6, 24489/43 = 569, 43/30.39 = 1.4, 49.98/7 = 7.1,
// 61.33/7 = 8.8.
func TestOfflineCacheViewsOfHTTPCapture(t *testing.T) {
	dir := probetest.RealCapturesDir(t)
	path := filepath.Join(dir, "wireshark-wiki", "http.pcap")
	run := runOfflineJSON(t, "-r", path)
	if run.err != nil {
		t.Fatal(run.err)
	}
	s := run.stats.Cache
	at := func(frac string) time.Time { // a time of this capture, 1084443xxx.xxxxxx s
		d, err := time.ParseDuration(frac + "s")
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(1084443000, 0).Add(d)
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

	if want := at("427.311224"); !s.Since.Equal(want) {
		t.Errorf("statistics since %v, want frame 1 at %v", s.Since, want)
	}
	if want := at("457.704928"); !s.Now.Equal(want) {
		t.Errorf("statistics until %v, want frame 43 at %v", s.Now, want)
	}
	if want := (cache.Expired{Idle: 4, EndOfFlow: 1, Forced: 2}); s.Expired != want {
		t.Errorf("expired %+v, want %+v", s.Expired, want)
	}
	if s.Added != 7 || s.Emergency != 0 || s.Active != 0 {
		t.Errorf("added %d, emergency %d, active %d: want 7, 0, 0", s.Added, s.Emergency, s.Active)
	}

	var wantSizes [cache.NumSizeBuckets]uint64
	bucket := func(name string) int {
		i := slices.Index(cache.SizeBucketNames[:], name)
		if i < 0 {
			t.Fatalf("no size bucket %q", name)
		}
		return i
	}
	for name, n := range map[string]uint64{"64": 22, "96": 1, "192": 1, "224": 1, "480": 1, "544": 1, "1024": 1, "1536": 15} {
		wantSizes[bucket(name)] = n
	}
	if s.Sizes != wantSizes {
		t.Errorf("size distribution:\n got %v\nwant %v", s.Sizes, wantSizes)
	}

	wantProtocols := map[string]cache.ProtocolStats{
		"TCP-WWW": {Name: "TCP-WWW", Flows: 5, Packets: 41, Bytes: 24240, Active: us(49981869), Idle: us(31330476)},
		"UDP-DNS": {Name: "UDP-DNS", Flows: 2, Packets: 2, Bytes: 249, Active: 0, Idle: 30 * time.Second},
	}
	for _, p := range s.Protocols {
		want := wantProtocols[p.Name]
		want.Name = p.Name
		if p != want {
			t.Errorf("protocol table row %s: %+v, want %+v", p.Name, p, want)
		}
	}

	// The printed records agree: 7, with these end reasons.
	got := make(map[string]int)
	for _, r := range run.records {
		got[r.EndReason]++
	}
	if want := map[string]int{"idle": 4, "end-of-flow": 1, "forced": 2}; !cmp.Equal(got, want) {
		t.Errorf("printed end reasons %v, want %v", got, want)
	}

	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	compareWithExpected(t, filepath.Join("testdata", "http-cache-flow.txt"), text.Bytes())
}

// recordEnds returns the byte offset just after each packet record of a
// little-endian pcap or pcapng file.
func recordEnds(t *testing.T, data []byte) []int {
	t.Helper()
	var ends []int
	switch magic := binary.LittleEndian.Uint32(data); magic {
	case 0xa1b2c3d4: // pcap, microseconds: 24-byte file header, 16-byte record headers
		for off := 24; off < len(data); {
			off += 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
			ends = append(ends, off)
		}
	case 0x0a0d0d0a: // pcapng: blocks of type, total length; packets are EPB (6)
		for off := 0; off < len(data); {
			typ, n := binary.LittleEndian.Uint32(data[off:]), int(binary.LittleEndian.Uint32(data[off+4:]))
			off += n
			if typ == 6 {
				ends = append(ends, off)
			}
		}
	default:
		t.Fatalf("magic %#08x: not a little-endian pcap or pcapng file", magic)
	}
	return ends
}

// TestOfflineExportsTruncatedCaptureThenNamesOffset damages a capture
// after record `kept`: cut in the middle of the next record's header or
// data, or with a record header claiming more bytes than any packet.
// Offline mode prints the flows of the frames before it, with their exact
// totals, and returns an error naming the next record and the byte offset
// where record `kept` ended.
func TestOfflineExportsTruncatedCaptureThenNamesOffset(t *testing.T) {
	dir := probetest.RealCapturesDir(t)
	tests := []struct {
		name    string
		file    string // 43 records; 10 records, the 6th at byte 876, 628 bytes long
		kept    int
		damage  func(data []byte, next int) []byte // next: where record kept+1 starts
		wantEOF bool                               // the error wraps io.ErrUnexpectedEOF
	}{
		{"pcap cut in a record header", "wireshark-wiki/http.pcap", 20,
			func(d []byte, next int) []byte { return d[:next+10] }, true},
		{"pcap cut in the packet data", "wireshark-wiki/http.pcap", 20,
			func(d []byte, next int) []byte { return d[:next+16+20] }, true},
		{"pcap record longer than any packet", "wireshark-wiki/http.pcap", 20,
			func(d []byte, next int) []byte {
				d = slices.Clone(d)
				binary.LittleEndian.PutUint32(d[next+8:], 0x7fffffff) // captured length
				binary.LittleEndian.PutUint32(d[next+12:], 0x7fffffff)
				return d
			}, false},
		{"pcapng cut in a block", "ndpi/http.pcapng", 5,
			func(d []byte, next int) []byte { return d[:next+300] }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ends := recordEnds(t, data)
			next := ends[tc.kept-1]
			damaged := filepath.Join(t.TempDir(), "damaged")
			if err := os.WriteFile(damaged, tc.damage(data, next), 0o644); err != nil {
				t.Fatal(err)
			}
			whole := filepath.Join(t.TempDir(), "whole")
			if err := os.WriteFile(whole, data[:next], 0o644); err != nil {
				t.Fatal(err)
			}
			want, err := readReferenceCapture(whole)
			if err != nil || want.frames != tc.kept || len(want.flows) == 0 {
				t.Fatalf("first %d records: %d frames, %d flows, %v", tc.kept, want.frames, len(want.flows), err)
			}

			run := runOfflineJSON(t, "-r", damaged)
			wantErr := fmt.Sprintf("record %d after byte offset %d", tc.kept+1, next)
			if run.err == nil || !strings.Contains(run.err.Error(), wantErr) {
				t.Fatalf("error %v, want one naming %q", run.err, wantErr)
			}
			if tc.wantEOF != errors.Is(run.err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v: wraps io.ErrUnexpectedEOF %v, want %v", run.err, !tc.wantEOF, tc.wantEOF)
			}
			if run.stats.Frames != uint64(tc.kept) {
				t.Errorf("read %d frames, want %d", run.stats.Frames, tc.kept)
			}
			got := make(map[probetest.TruthKey]probetest.TruthCount)
			for i := range run.records {
				for _, w := range recordDirections(&run.records[i]) {
					c := got[w.key]
					c.Packets += w.packets
					c.Bytes += w.bytes
					got[w.key] = c
				}
			}
			if d := probetest.FlowDiff(want.flows, got); len(d) > 0 {
				t.Errorf("printed flows differ from the first %d frames' (\"reference\" is offline mode):\n\t%s",
					tc.kept, strings.Join(d, "\n\t"))
			}
		})
	}
}

// synthetic is one frame of a generated capture.
type synthetic struct {
	at    time.Duration // after syntheticStart
	sport uint16        // names the flow: 198.18.0.1:sport → 198.18.1.1:dport
	dport uint16
	tcp   uint8 // TCP flags; 0 = UDP
	reply bool  // sent by 198.18.1.1 (dport → sport)
	arp   bool  // a non-IP frame: only time passes
}

var syntheticStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writeSynthetic writes frames as a nanosecond pcap and returns its path.
func writeSynthetic(t *testing.T, frames []synthetic) string {
	t.Helper()
	client, server := net.IP{198, 18, 0, 1}, net.IP{198, 18, 1, 1}
	var out []probetest.PcapFrame
	for _, s := range frames {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0x5f, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0x5f, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4}
		var ls []gopacket.SerializableLayer
		if s.arp {
			eth.EthernetType = layers.EthernetTypeARP
			ls = []gopacket.SerializableLayer{eth, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
				SourceHwAddress: eth.SrcMAC, SourceProtAddress: client, DstHwAddress: make([]byte, 6), DstProtAddress: server}}
		} else {
			ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: client, DstIP: server, Protocol: layers.IPProtocolUDP}
			sport, dport := s.sport, s.dport
			if s.reply {
				ip.SrcIP, ip.DstIP, sport, dport = server, client, dport, sport
			}
			var l4 gopacket.SerializableLayer
			if s.tcp != 0 {
				ip.Protocol = layers.IPProtocolTCP
				tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 1024,
					FIN: s.tcp&0x01 != 0, SYN: s.tcp&0x02 != 0, RST: s.tcp&0x04 != 0, ACK: s.tcp&0x10 != 0}
				tcp.SetNetworkLayerForChecksum(ip)
				l4 = tcp
			} else {
				udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
				udp.SetNetworkLayerForChecksum(ip)
				l4 = udp
			}
			ls = []gopacket.SerializableLayer{eth, ip, l4, gopacket.Payload(make([]byte, 12))}
		}
		out = append(out, probetest.PcapFrame{At: syntheticStart.Add(s.at), Layers: ls})
	}
	return probetest.WritePcap(t, "ageing.pcap", out)
}

// ageingRecord is what the ageing test compares of a record.
type ageingRecord struct {
	Port       uint16 // the client's port: names the flow
	Start, End time.Duration
	Packets    uint64
	RevPackets uint64
	Reason     string
}

func ageingRecordOf(r *flowprint.JSON) ageingRecord {
	port := r.SrcPort
	if r.SrcAddr == netip.MustParseAddr("198.18.1.1") {
		port = r.DstPort
	}
	first, last := recordSpan(r)
	return ageingRecord{port, first.Sub(syntheticStart), last.Sub(syntheticStart), r.Packets, orZero(r.RevPackets), r.EndReason}
}

func sortAgeing(recs []ageingRecord) {
	slices.SortFunc(recs, func(a, b ageingRecord) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return int(a.Start - b.Start)
	})
}

// liveRecords feeds the packets of a capture to a flow table as the live
// agent would: a harvest every interval (the packets of each key since
// the last one summed into one Delta, as the kernel map sums them), then
// Expire on the clock, then a final Flush.
func liveRecords(t *testing.T, path string, cfg cache.Config, interval time.Duration) []cache.Record {
	t.Helper()
	c, err := probe.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var deltas []cache.Delta
	var pending []probe.Frame
	for {
		f, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, f)
	}
	clock := cache.NewCaptureClock(pending[0].Timestamp)
	table, err := cache.NewTable(cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	var out []cache.Record
	last := pending[len(pending)-1].Timestamp
	next := 0
	for tick := pending[0].Timestamp.Add(interval); ; tick = tick.Add(interval) {
		byKey := make(map[bpf.FlowKey]int)
		deltas = deltas[:0]
		for ; next < len(pending) && pending[next].Timestamp.Before(tick); next++ {
			f := pending[next]
			p := probe.ParseFrame(f.LinkType, f.Data)
			if p.Reason != bpf.StatAccounted {
				continue
			}
			ns := uint64(f.Timestamp.UnixNano())
			i, ok := byKey[p.Key]
			if !ok {
				i = len(deltas)
				byKey[p.Key] = i
				deltas = append(deltas, cache.Delta{Key: p.Key, FirstNs: ns})
			}
			d := &deltas[i]
			d.Packets++
			d.Bytes += p.IPBytes
			d.LastNs = ns
			d.TCPFlags |= p.TCPFlags
		}
		if tick.After(last) {
			// The agent stops at the capture's last frame, as offline
			// mode does: that harvest happens then, and Flush.
			clock.Advance(last)
			table.Merge(deltas)
			out = table.Expire(out)
			return table.Flush(out)
		}
		clock.Advance(tick)
		table.Merge(deltas)
		out = table.Expire(out)
	}
}

// TestOfflineAgeingEqualsLive replays a generated capture whose gaps sit
// just under, exactly on and just over the timers (inactive 15 s, active
// 30 min, FIN grace 1 s), in nanoseconds. Offline mode splits the flows
// exactly at each boundary, as the hand-written records say, and the same
// packets fed to a table harvest by harvest, as live, give the same
// records. A timer runs out at last packet + timeout exactly: a packet at
// that instant starts a new record.
func TestOfflineAgeingEqualsLive(t *testing.T) {
	const ns = time.Nanosecond
	s, m := time.Second, time.Minute
	var frames []synthetic
	add := func(sport uint16, tcp uint8, reply bool, ats ...time.Duration) {
		for _, at := range ats {
			frames = append(frames, synthetic{at: at, sport: sport, dport: 53, tcp: tcp, reply: reply})
		}
	}
	add(1001, 0, false, 0, 15*s-ns, 30*s-2*ns) // gaps just under inactive: one record
	add(1002, 0, false, 0, 15*s)               // gap exactly inactive: split
	add(1003, 0, false, 0, 15*s+ns)            // just over: split
	for at := time.Duration(0); at <= 31*m; at += 10 * s {
		add(1004, 0, false, at) // active timeout at 30 min: the packet at 30:00 starts anew
	}
	// A TCP connection: unidirectional, each side's FIN ends its flow 1 s
	// later; bidirectional, the entry ends 1 s after the second FIN.
	const syn, fin, ack = 0x02, 0x01, 0x10
	frames = append(frames,
		synthetic{at: 100 * s, sport: 1005, dport: 80, tcp: syn},
		synthetic{at: 101 * s, sport: 1005, dport: 80, tcp: syn | ack, reply: true},
		synthetic{at: 102 * s, sport: 1005, dport: 80, tcp: fin | ack},
		synthetic{at: 103*s - ns, sport: 1005, dport: 80, tcp: fin | ack, reply: true},
		synthetic{at: 103 * s, sport: 1005, dport: 80, tcp: ack},    // uni: exactly at the client's deadline
		synthetic{at: 104*s - ns, sport: 1005, dport: 80, tcp: ack}, // bidi: exactly at the entry's deadline
	)
	// The last frames: 1006 times out at 31:20 exactly, the time of the
	// last frame, which is not IP: time passes all the same, so 1006 ends
	// idle, not forced. 1007 is still fresh then: forced by the flush.
	add(1006, 0, false, 31*m+5*s)
	add(1007, 0, false, 31*m+20*s-ns)
	frames = append(frames, synthetic{at: 31*m + 20*s, arp: true})
	slices.SortStableFunc(frames, func(a, b synthetic) int { return int(a.at - b.at) })
	path := writeSynthetic(t, frames)

	// 1001-1004 (UDP, inactive and active timers) split alike either way.
	timersOnly := func() []ageingRecord {
		return []ageingRecord{
			{1001, 0, 30*s - 2*ns, 3, 0, "idle"},
			{1002, 0, 0, 1, 0, "idle"},
			{1002, 15 * s, 15 * s, 1, 0, "idle"},
			{1003, 0, 0, 1, 0, "idle"},
			{1003, 15*s + ns, 15*s + ns, 1, 0, "idle"},
			{1004, 0, 30*m - 10*s, 180, 0, "active"},
			{1004, 30 * m, 31 * m, 7, 0, "idle"},
		}
	}
	tests := []struct {
		name  string
		bidir bool
		want  []ageingRecord
	}{
		{"unidirectional", false, append(timersOnly(), []ageingRecord{
			{1005, 100 * s, 102 * s, 2, 0, "end-of-flow"},              // SYN, FIN: ends at 103 s
			{1005, 101 * s, 103*s - ns, 2, 0, "end-of-flow"},           // the answer, with its own FIN
			{1005, 103 * s, 104*s - ns, 2, 0, "idle"},                  // at the deadline: a new flow
			{1006, 31*m + 5*s, 31*m + 5*s, 1, 0, "idle"},               // 31:20 is its deadline
			{1007, 31*m + 20*s - ns, 31*m + 20*s - ns, 1, 0, "forced"}, // still fresh at the end
		}...)},
		{"bidirectional", true, append(timersOnly(), []ageingRecord{
			{1005, 100 * s, 103 * s, 3, 2, "end-of-flow"}, // second FIN at 103 s - 1 ns: ends at 104 s - 1 ns
			{1005, 104*s - ns, 104*s - ns, 1, 0, "idle"},
			{1006, 31*m + 5*s, 31*m + 5*s, 1, 0, "idle"},
			{1007, 31*m + 20*s - ns, 31*m + 20*s - ns, 1, 0, "forced"},
		}...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-r", path}
			if tc.bidir {
				args = append(args, "--bidirectional")
			}
			run := runOfflineJSON(t, args...)
			if run.err != nil {
				t.Fatal(run.err)
			}
			var offline []ageingRecord
			for i := range run.records {
				offline = append(offline, ageingRecordOf(&run.records[i]))
			}
			sortAgeing(offline)
			if d := cmp.Diff(tc.want, offline); d != "" {
				t.Errorf("offline records (-want +got):\n%s", d)
			}

			// Live, a harvest sums a key's packets of one interval; at
			// 100 ms no interval holds two packets of one conversation, so
			// live can split where offline does.
			cfg := offlineConfig(t, args...).cacheConfig()
			var live []ageingRecord
			for _, r := range liveRecords(t, path, cfg, 100*time.Millisecond) {
				j := flowprint.JSONOf(&r)
				live = append(live, ageingRecordOf(&j))
			}
			sortAgeing(live)
			if d := cmp.Diff(offline, live); d != "" {
				t.Errorf("live records, harvested every 100ms, differ from offline (-offline +live):\n%s", d)
			}
		})
	}
}

// TestOfflineRefusesUser: --user drops root after a live attach; offline
// it was silently ignored, so the run went on as root. Now it is a flag
// error naming the flag.
func TestOfflineRefusesUser(t *testing.T) {
	fs := flag.NewFlagSet("spanflow", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := BindFlags(fs)
	if err := fs.Parse([]string{"--print=json", "-r", "capture.pcap", "--user", "nobody"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--user nobody: only for live capture") {
		t.Errorf("-r with --user: Validate = %v; want a flag error naming --user", err)
	}
}
