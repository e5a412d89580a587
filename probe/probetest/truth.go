package probetest

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spanflow/spanflow/bpf"
)

// The real captures and their flow-accounting truth (flows-truth.tsv,
// made with tshark) are copied into the repository's testdata/real from
// ../shared/testdata/real, the folder next to the repository they were
// gathered in (testdata/README.md). These helpers read them for any
// package's tests: the reference parser's (probe) and offline mode's
// (cmd/spanflow).

// RealCapturesDir returns the folder of real captures: the repository's
// testdata/real, else ../shared/testdata/real next to the repository
// (both found from the working directory's go.mod). The captures are part
// of the repository, so when neither folder holds them the test fails,
// naming the paths it tried; it never skips.
func RealCapturesDir(t testing.TB) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("real captures not found: no go.mod above the working directory %s", root)
		}
		root = parent
	}
	tried := []string{
		filepath.Join(root, "testdata", "real"),
		filepath.Join(root, "..", "shared", "testdata", "real"),
	}
	for _, dir := range tried {
		if _, err := os.Stat(filepath.Join(dir, "flows-truth.tsv")); err == nil {
			return dir
		}
	}
	t.Fatalf("real captures not found: no flows-truth.tsv in %s; testdata/real belongs to the repository (copied from ../shared/testdata/real, see testdata/README.md)",
		strings.Join(tried, " or "))
	return ""
}

// RealCapture is one row of pcaps.tsv.
type RealCapture struct {
	File       string // relative to the folder
	LinkType   int
	Records    int
	IPFrames   int
	NonIP      int
	UnparsedIP int
	TruthFlows int // rows in flows-truth.tsv
}

// ReadRealCaptures reads pcaps.tsv in dir.
func ReadRealCaptures(dir string) ([]RealCapture, error) {
	rows, err := ReadTSV(filepath.Join(dir, "pcaps.tsv"))
	if err != nil {
		return nil, err
	}
	var caps []RealCapture
	for _, r := range rows {
		var c RealCapture
		c.File = r["file"]
		if err := atois(r, map[string]*int{
			"linktype": &c.LinkType, "records": &c.Records, "ip_frames": &c.IPFrames,
			"non_ip_frames": &c.NonIP, "unparsed_ip_frames": &c.UnparsedIP, "truth_flows": &c.TruthFlows,
		}); err != nil {
			return nil, fmt.Errorf("pcaps.tsv %s: %w", c.File, err)
		}
		caps = append(caps, c)
	}
	if len(caps) == 0 {
		return nil, fmt.Errorf("pcaps.tsv in %s lists no captures", dir)
	}
	return caps, nil
}

// TruthKey is a directional flow as flows-truth.tsv keys it, projected on
// what spanflow's key can hold: the VLAN stack becomes "outer.inner" (0
// for a missing tag, as in bpf.FlowKey, so a priority tag with VID 0 keys
// like no tag); a stack of three or more tags keeps all its IDs and so can
// never match a spanflow key. ToS is not part of it.
type TruthKey struct {
	VLAN             string
	IPVersion, Proto uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

func (k TruthKey) String() string {
	return fmt.Sprintf("vlan %s v%d proto %d %s:%d > %s:%d", k.VLAN, k.IPVersion, k.Proto, k.Src, k.SrcPort, k.Dst, k.DstPort)
}

// TruthKeyOf projects a datapath key on a TruthKey.
func TruthKeyOf(k bpf.FlowKey) TruthKey {
	return TruthKey{
		VLAN:      fmt.Sprintf("%d.%d", k.VlanId, k.InnerVlanId),
		IPVersion: k.IpVersion,
		Proto:     k.Proto,
		Src:       k.SrcIP(),
		Dst:       k.DstIP(),
		SrcPort:   k.SrcPort,
		DstPort:   k.DstPort,
	}
}

// TruthCount is a flow's totals: frames, and IP total length summed.
type TruthCount struct {
	Packets, Bytes uint64
}

// Truth is per-capture flow totals, by capture file relative to the folder.
type Truth map[string]map[TruthKey]TruthCount

// ReadTruth reads flows-truth.tsv in dir.
func ReadTruth(dir string) (Truth, error) {
	rows, err := ReadTSV(filepath.Join(dir, "flows-truth.tsv"))
	if err != nil {
		return nil, err
	}
	all := make(Truth)
	for _, r := range rows {
		var ipVer, proto, sport, dport, packets, bytes int
		if err := atois(r, map[string]*int{
			"ip_ver": &ipVer, "proto": &proto, "src_port": &sport, "dst_port": &dport,
			"packets": &packets, "bytes": &bytes,
		}); err != nil {
			return nil, fmt.Errorf("flows-truth.tsv %s: %w", r["pcap"], err)
		}
		src, err1 := netip.ParseAddr(r["src_ip"])
		dst, err2 := netip.ParseAddr(r["dst_ip"])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("flows-truth.tsv %s: addresses %q %q", r["pcap"], r["src_ip"], r["dst_ip"])
		}
		k := TruthKey{
			VLAN: truthVLAN(r["vlan"]), IPVersion: uint8(ipVer), Proto: uint8(proto),
			Src: src, Dst: dst, SrcPort: uint16(sport), DstPort: uint16(dport),
		}
		m := all[r["pcap"]]
		if m == nil {
			m = make(map[TruthKey]TruthCount)
			all[r["pcap"]] = m
		}
		c := m[k]
		c.Packets += uint64(packets)
		c.Bytes += uint64(bytes)
		m[k] = c
	}
	return all, nil
}

// truthVLAN projects a VLAN stack ("-", "5", "13.10", "30.20.10") on
// spanflow's two tags.
func truthVLAN(s string) string {
	switch {
	case s == "-":
		return "0.0"
	case !strings.Contains(s, "."):
		return s + ".0"
	}
	return s // two tags as they are; three or more kept whole (see TruthKey)
}

// FlowDiff lists, sorted, the keys whose totals differ between truth and
// the reference parser's (or anything counting like it) flows.
func FlowDiff(truth, ref map[TruthKey]TruthCount) []string {
	var out []string
	for k, tc := range truth {
		rc, ok := ref[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("only in truth: %v: %d pkts %d bytes", k, tc.Packets, tc.Bytes))
		case rc != tc:
			out = append(out, fmt.Sprintf("differs: %v: truth %d pkts %d bytes, reference %d pkts %d bytes",
				k, tc.Packets, tc.Bytes, rc.Packets, rc.Bytes))
		}
	}
	for k, rc := range ref {
		if _, ok := truth[k]; !ok {
			out = append(out, fmt.Sprintf("only in reference: %v: %d pkts %d bytes", k, rc.Packets, rc.Bytes))
		}
	}
	sort.Strings(out)
	return out
}

// TruthException is a capture where spanflow deliberately counts
// differently from flows-truth.tsv: the reason, and the exact FlowDiff
// lines it makes.
type TruthException struct {
	File   string
	Reason string
	Diff   []string
}

// TruthExceptions are all the deliberate differences from flows-truth.tsv
// (probe/testdata/README.md explains each); every other capture matches
// flow for flow, packet for packet, byte for byte.
var TruthExceptions = []TruthException{
	{
		File: "zeek/vlan-qinqinq.pcap",
		Reason: "three VLAN tags: the datapath keeps two (MAX_VLAN_TAGS) and counts the frame " +
			"unsupported, so these flows are not accounted at all",
		Diff: []string{
			"only in truth: vlan 30.20.10 v4 proto 6 141.142.228.5:59856 > 192.150.187.43:80: 7 pkts 512 bytes",
			"only in truth: vlan 30.20.10 v4 proto 6 192.150.187.43:80 > 141.142.228.5:59856: 7 pkts 5379 bytes",
		},
	},
	{
		File: "zeek/ipv6-mobility-dst-opts.pcap",
		Reason: "tshark gives up inside the destination options of frames 1-2 (no-l4hdr, malformed). " +
			"Frame 1's header fits its payload, so the datapath finds UDP 30000>13000 behind it; " +
			"frame 2's header claims 40 bytes of a 36-byte payload, so the walk stops there and " +
			"the flow is keyed by that header (protocol 60, ports 0)",
		Diff: []string{
			"differs: vlan 0.0 v6 proto 17 2001:4f8:4:7:2e0:81ff:fe52:ffff:30000 > 2001:4f8:4:7:2e0:81ff:fe52:9a6b:13000: truth 1 pkts 76 bytes, reference 2 pkts 152 bytes",
			"only in reference: vlan 0.0 v6 proto 60 2001:4f8:4:7:2e0:81ff:fe52:ffff:0 > 2001:4f8:4:7:2e0:81ff:fe52:9a6b:0: 1 pkts 76 bytes",
			"only in truth: vlan 0.0 v6 proto 17 2001:4f8:4:7:2e0:81ff:fe52:ffff:0 > 2001:4f8:4:7:2e0:81ff:fe52:9a6b:0: 2 pkts 152 bytes",
		},
	},
	{
		File: "zeek/ip-bogus-header-len.pcap",
		Reason: "IPv4 Total Length 0: tshark takes the length from the frame (as for TSO), " +
			"the datapath counts the packet malformed (total length < header length)",
		Diff: []string{
			"only in truth: vlan 0.0 v4 proto 1 118.181.144.194:0 > 136.255.115.116:24948: 1 pkts 46 bytes",
		},
	},
}

// TruthExceptionDiff returns the documented differences of file, and
// whether it is an exception at all.
func TruthExceptionDiff(file string) ([]string, bool) {
	for _, e := range TruthExceptions {
		if e.File == file {
			return e.Diff, true
		}
	}
	return nil, false
}

// ReadTSV reads a tab-separated file with '#' comment lines and one header
// line into maps from column name to value.
func ReadTSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
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
			return nil, fmt.Errorf("%s: %d columns, header has %d: %q", path, len(cols), len(header), line)
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[header[i]] = c
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// atois parses the named columns of r into the ints they point to.
func atois(r map[string]string, cols map[string]*int) error {
	for col, p := range cols {
		n, err := strconv.Atoi(r[col])
		if err != nil {
			return fmt.Errorf("column %s: not a number: %q", col, r[col])
		}
		*p = n
	}
	return nil
}
