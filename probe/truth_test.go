package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/bpf"
)

// realTestdata is the shared folder of real captures, next to the
// repository (never copied into it).
const realTestdata = "../../shared/testdata/real"

// realDir returns the folder of real captures, or skips the test.
func realDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(realTestdata, "flows-truth.tsv")); err != nil {
		t.Skipf("real captures not available (%v): they live in ../shared/testdata/real next to the repository", err)
	}
	return realTestdata
}

// realCapture is one row of pcaps.tsv.
type realCapture struct {
	file       string
	linkType   int
	records    int
	ipFrames   int
	nonIP      int
	unparsedIP int
}

func readPcapsTSV(t *testing.T, dir string) []realCapture {
	t.Helper()
	rows := readTSV(t, filepath.Join(dir, "pcaps.tsv"))
	var caps []realCapture
	for _, r := range rows {
		caps = append(caps, realCapture{
			file:       r["file"],
			linkType:   atoi(t, r["linktype"]),
			records:    atoi(t, r["records"]),
			ipFrames:   atoi(t, r["ip_frames"]),
			nonIP:      atoi(t, r["non_ip_frames"]),
			unparsedIP: atoi(t, r["unparsed_ip_frames"]),
		})
	}
	if len(caps) == 0 {
		t.Fatal("pcaps.tsv lists no captures")
	}
	return caps
}

// readTSV reads a tab-separated file with '#' comment lines and one header
// line into maps from column name to value.
func readTSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header []string
	var rows []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if header == nil {
			header = cols
			continue
		}
		if len(cols) != len(header) {
			t.Fatalf("%s: %d columns, header has %d: %q", path, len(cols), len(header), line)
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[header[i]] = c
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// truthKey is a directional flow as flows-truth.tsv keys it, projected on
// what spanflow's key can hold: the VLAN stack becomes "outer.inner"
// (0 for a missing tag, as in bpf.FlowKey, so a priority tag with VID 0
// keys like no tag); a stack of three or more tags keeps all its IDs and
// so can never match a key of the reference parser.
type truthKey struct {
	vlan     string
	ipVer    uint8
	proto    uint8
	src, dst netip.Addr
	sport    uint16
	dport    uint16
}

func (k truthKey) String() string {
	return fmt.Sprintf("vlan %s v%d proto %d %s:%d > %s:%d", k.vlan, k.ipVer, k.proto, k.src, k.sport, k.dst, k.dport)
}

type truthCount struct {
	packets, bytes uint64
}

func truthVLAN(t *testing.T, s string) string {
	t.Helper()
	if s == "-" {
		return "0.0"
	}
	ids := strings.Split(s, ".")
	switch len(ids) {
	case 1:
		return ids[0] + ".0"
	case 2:
		return s
	}
	return s // three or more tags: kept whole, see truthKey
}

// readTruth reads flows-truth.tsv into per-capture flow totals.
func readTruth(t *testing.T, dir string) map[string]map[truthKey]truthCount {
	t.Helper()
	all := make(map[string]map[truthKey]truthCount)
	for _, r := range readTSV(t, filepath.Join(dir, "flows-truth.tsv")) {
		k := truthKey{
			vlan:  truthVLAN(t, r["vlan"]),
			ipVer: uint8(atoi(t, r["ip_ver"])),
			proto: uint8(atoi(t, r["proto"])),
			src:   netip.MustParseAddr(r["src_ip"]),
			dst:   netip.MustParseAddr(r["dst_ip"]),
			sport: uint16(atoi(t, r["src_port"])),
			dport: uint16(atoi(t, r["dst_port"])),
		}
		m := all[r["pcap"]]
		if m == nil {
			m = make(map[truthKey]truthCount)
			all[r["pcap"]] = m
		}
		c := m[k]
		c.packets += uint64(atoi(t, r["packets"]))
		c.bytes += uint64(atoi(t, r["bytes"]))
		m[k] = c
	}
	return all
}

// referenceFlows runs every frame of a capture through ParseFrame and sums
// the accounted ones per truthKey.
type referenceFlows struct {
	frames  int
	reasons [bpf.StatOutcomes]int
	noL4    int
	flows   map[truthKey]truthCount
}

func readReference(path string) (referenceFlows, error) {
	rf := referenceFlows{flows: make(map[truthKey]truthCount)}
	c, err := OpenCapture(path)
	if err != nil {
		return rf, err
	}
	defer c.Close()
	for {
		f, err := c.Next()
		if errors.Is(err, io.EOF) {
			return rf, nil
		}
		if err != nil {
			return rf, err
		}
		rf.frames++
		p := ParseFrame(f.LinkType, f.Data)
		rf.reasons[p.Reason]++
		if p.Reason != bpf.StatAccounted {
			continue
		}
		if p.NoL4 {
			rf.noL4++
		}
		k := truthKey{
			vlan:  fmt.Sprintf("%d.%d", p.Key.VlanId, p.Key.InnerVlanId),
			ipVer: p.Key.IpVersion,
			proto: p.Key.Proto,
			src:   p.Key.SrcIP(),
			dst:   p.Key.DstIP(),
			sport: p.Key.SrcPort,
			dport: p.Key.DstPort,
		}
		n := rf.flows[k]
		n.packets++
		n.bytes += uint64(p.IPBytes)
		rf.flows[k] = n
	}
}

// flowDiff lists the keys whose totals differ between truth and reference.
func flowDiff(truth, ref map[truthKey]truthCount) []string {
	var out []string
	for k, tc := range truth {
		rc, ok := ref[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("only in truth: %v: %d pkts %d bytes", k, tc.packets, tc.bytes))
		case rc != tc:
			out = append(out, fmt.Sprintf("differs: %v: truth %d pkts %d bytes, reference %d pkts %d bytes",
				k, tc.packets, tc.bytes, rc.packets, rc.bytes))
		}
	}
	for k, rc := range ref {
		if _, ok := truth[k]; !ok {
			out = append(out, fmt.Sprintf("only in reference: %v: %d pkts %d bytes", k, rc.packets, rc.bytes))
		}
	}
	sort.Strings(out)
	return out
}

// truthExceptions are the captures where spanflow deliberately counts
// differently from flows-truth.tsv, each with the reason and the exact
// differences (flowDiff lines) it makes. Every other capture must match
// flow for flow, packet for packet, byte for byte.
var truthExceptions = []struct {
	file   string
	reason string
	diff   []string
}{
	{
		file: "zeek/vlan-qinqinq.pcap",
		reason: "three VLAN tags: the datapath keeps two (MAX_VLAN_TAGS) and counts the frame " +
			"unsupported, so these flows are not accounted at all",
		diff: []string{
			"only in truth: vlan 30.20.10 v4 proto 6 141.142.228.5:59856 > 192.150.187.43:80: 7 pkts 512 bytes",
			"only in truth: vlan 30.20.10 v4 proto 6 192.150.187.43:80 > 141.142.228.5:59856: 7 pkts 5379 bytes",
		},
	},
	{
		file: "zeek/ipv6-mobility-dst-opts.pcap",
		reason: "tshark gives up inside the destination options of frames 1-2 (no-l4hdr, malformed). " +
			"Frame 1's header fits its payload, so the datapath finds UDP 30000>13000 behind it; " +
			"frame 2's header claims 40 bytes of a 36-byte payload, so the walk stops there and " +
			"the flow is keyed by that header (protocol 60, ports 0)",
		diff: []string{
			"differs: vlan 0.0 v6 proto 17 2001:4f8:4:7:2e0:81ff:fe52:ffff:30000 > 2001:4f8:4:7:2e0:81ff:fe52:9a6b:13000: truth 1 pkts 76 bytes, reference 2 pkts 152 bytes",
			"only in reference: vlan 0.0 v6 proto 60 2001:4f8:4:7:2e0:81ff:fe52:ffff:0 > 2001:4f8:4:7:2e0:81ff:fe52:9a6b:0: 1 pkts 76 bytes",
			"only in truth: vlan 0.0 v6 proto 17 2001:4f8:4:7:2e0:81ff:fe52:ffff:0 > 2001:4f8:4:7:2e0:81ff:fe52:9a6b:0: 2 pkts 152 bytes",
		},
	},
	{
		file: "zeek/ip-bogus-header-len.pcap",
		reason: "IPv4 Total Length 0: tshark takes the length from the frame (as for TSO), " +
			"the datapath counts the packet malformed (total length < header length)",
		diff: []string{
			"only in truth: vlan 0.0 v4 proto 1 118.181.144.194:0 > 136.255.115.116:24948: 1 pkts 46 bytes",
		},
	},
}

// outcomes counts the frames of a capture the reference parser does not
// account, by reason.
type outcomes struct {
	notIP, truncated, malformed, unsupported int
}

// outcomeExceptions are the captures whose unaccounted frames are sorted
// differently from pcaps.tsv, where every other capture has
// non_ip_frames frames StatNotIP and unparsed_ip_frames frames truncated,
// malformed or unsupported. Each gives the exact counts.
var outcomeExceptions = []struct {
	file   string
	reason string
	want   outcomes
}{
	{"ndpi/gnutella.pcap", "frame 1 holds 4 bytes of a 60-byte frame: truncated here, non-IP to tshark",
		outcomes{notIP: 22, truncated: 1}},
	{"zeek/trunc__trunc-hdr.pcap", "frame 1 holds 8 bytes of a 78-byte frame: truncated here, non-IP to tshark",
		outcomes{truncated: 1}},
	{"tcpdump/ipv6-bad-version.pcap", "frames 2 and 4 have EtherType IPv6 and IP version 0: malformed here, data to tshark",
		outcomes{malformed: 2}},
	{"zeek/vlan-qinqinq.pcap", "three VLAN tags (see truthExceptions)", outcomes{unsupported: 14}},
	{"zeek/ip-bogus-header-len.pcap", "IPv4 Total Length 0 (see truthExceptions)", outcomes{malformed: 1}},
}

func TestReferenceMatchesTruthOnRealCaptures(t *testing.T) {
	dir := realDir(t)
	caps := readPcapsTSV(t, dir)
	truth := readTruth(t, dir)
	exceptions := make(map[string][]string)
	for _, e := range truthExceptions {
		exceptions[e.file] = e.diff
	}
	outcomeWant := make(map[string]outcomes)
	for _, e := range outcomeExceptions {
		outcomeWant[e.file] = e.want
	}

	var frames, flows, matched, differing int
	var reasons [bpf.StatOutcomes]int
	seen := make(map[string]bool)
	for _, pc := range caps {
		seen[pc.file] = true
		rf, err := readReference(filepath.Join(dir, pc.file))
		if err != nil {
			t.Errorf("%s: %v", pc.file, err)
			continue
		}
		if rf.frames != pc.records {
			t.Errorf("%s: read %d records, pcaps.tsv says %d", pc.file, rf.frames, pc.records)
		}
		frames += rf.frames
		for i, n := range rf.reasons {
			reasons[i] += n
		}
		got := outcomes{rf.reasons[bpf.StatNotIP], rf.reasons[bpf.StatTruncated],
			rf.reasons[bpf.StatMalformed], rf.reasons[bpf.StatUnsupported]}
		if want, ok := outcomeWant[pc.file]; ok {
			if got != want {
				t.Errorf("%s: unaccounted frames %+v, want the documented %+v", pc.file, got, want)
			}
		} else if got.notIP != pc.nonIP || got.truncated+got.malformed+got.unsupported != pc.unparsedIP {
			t.Errorf("%s: unaccounted frames %+v, pcaps.tsv has %d non-IP and %d unparsed IP frames",
				pc.file, got, pc.nonIP, pc.unparsedIP)
		}
		tf := truth[pc.file]
		diff := flowDiff(tf, rf.flows)
		flows += len(tf)
		matched += len(tf) - countTruthSide(diff)
		if len(diff) > 0 {
			differing++
		}
		want, isException := exceptions[pc.file]
		if !isException {
			if len(diff) > 0 {
				t.Errorf("%s: %d flows differ from flows-truth.tsv:\n\t%s", pc.file, len(diff), strings.Join(diff, "\n\t"))
			}
			continue
		}
		if d := cmp.Diff(want, diff); d != "" {
			t.Errorf("%s: the differences from flows-truth.tsv are not the documented ones (-want +got):\n%s", pc.file, d)
		}
	}
	for _, e := range outcomeExceptions {
		if !seen[e.file] {
			t.Errorf("exception %s names a capture that pcaps.tsv does not list", e.file)
		}
	}
	for _, e := range truthExceptions {
		if !seen[e.file] {
			t.Errorf("exception %s names a capture that pcaps.tsv does not list", e.file)
		}
	}
	t.Logf("%d captures, %d frames (%d accounted, %d not IP, %d truncated, %d malformed, %d unsupported); "+
		"%d truth flows (VLAN stack projected on two tags), %d matched exactly; %d captures differ, %d documented; "+
		"%d with outcomes sorted differently, documented",
		len(caps), frames, reasons[bpf.StatAccounted], reasons[bpf.StatNotIP], reasons[bpf.StatTruncated],
		reasons[bpf.StatMalformed], reasons[bpf.StatUnsupported], flows, matched, differing, len(truthExceptions),
		len(outcomeExceptions))
}

func countTruthSide(diff []string) int {
	n := 0
	for _, d := range diff {
		if !strings.HasPrefix(d, "only in reference") {
			n++
		}
	}
	return n
}
