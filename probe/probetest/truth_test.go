package probetest

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/bpf"
)

// TestReadTruthAddsUpToPcapsTSV checks the truth reader against the other
// table of the folder: per capture, the packets of its truth flows add up
// to pcaps.tsv's ip_frames, and its flows are its truth_flows rows
// (projecting the VLAN stack on two tags merges no rows).
func TestReadTruthAddsUpToPcapsTSV(t *testing.T) {
	dir := RealCapturesDir(t)
	caps, err := ReadRealCaptures(dir)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := ReadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	listed := make(map[string]bool)
	var flows int
	for _, c := range caps {
		listed[c.File] = true
		var packets uint64
		for _, n := range truth[c.File] {
			packets += n.Packets
		}
		if packets != uint64(c.IPFrames) {
			t.Errorf("%s: truth flows hold %d packets, pcaps.tsv says %d IP frames", c.File, packets, c.IPFrames)
		}
		if len(truth[c.File]) != c.TruthFlows {
			t.Errorf("%s: %d truth flows, pcaps.tsv says %d rows", c.File, len(truth[c.File]), c.TruthFlows)
		}
		flows += len(truth[c.File])
	}
	for file := range truth {
		if !listed[file] {
			t.Errorf("flows-truth.tsv has %s, which pcaps.tsv does not list", file)
		}
	}
	if len(caps) != 279 || flows != 4297 {
		t.Errorf("%d captures, %d truth flows: want the folder's 279 and 4297", len(caps), flows)
	}
}

func TestTruthVLANProjectsStackOnTwoTags(t *testing.T) {
	for in, want := range map[string]string{
		"-": "0.0", "5": "5.0", "0": "0.0", "13.10": "13.10", "30.20.10": "30.20.10",
	} {
		if got := truthVLAN(in); got != want {
			t.Errorf("truthVLAN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTruthKeyOfMatchesTruthRows(t *testing.T) {
	var k bpf.FlowKey
	k.SrcAddr = netip.MustParseAddr("::ffff:198.18.0.1").As16()
	k.DstAddr = netip.MustParseAddr("::ffff:198.18.1.1").As16()
	k.SrcPort, k.DstPort, k.Proto, k.IpVersion, k.VlanId, k.Tos = 1024, 53, 17, 4, 7, 0x10
	want := TruthKey{VLAN: "7.0", IPVersion: 4, Proto: 17,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.1.1"), SrcPort: 1024, DstPort: 53}
	if got := TruthKeyOf(k); got != want {
		t.Errorf("TruthKeyOf = %v, want %v (IPv4 unmapped, ToS dropped)", got, want)
	}
	if got, want := want.String(), "vlan 7.0 v4 proto 17 198.18.0.1:1024 > 198.18.1.1:53"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFlowDiffNamesEachSide(t *testing.T) {
	key := func(sport uint16) TruthKey {
		return TruthKey{VLAN: "0.0", IPVersion: 6, Proto: 6,
			Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: sport, DstPort: 80}
	}
	truth := map[TruthKey]TruthCount{key(1): {1, 60}, key(2): {2, 120}, key(3): {3, 180}}
	ref := map[TruthKey]TruthCount{key(1): {1, 60}, key(2): {2, 121}, key(4): {4, 240}}
	want := []string{
		"differs: vlan 0.0 v6 proto 6 2001:db8::1:2 > 2001:db8::2:80: truth 2 pkts 120 bytes, reference 2 pkts 121 bytes",
		"only in reference: vlan 0.0 v6 proto 6 2001:db8::1:4 > 2001:db8::2:80: 4 pkts 240 bytes",
		"only in truth: vlan 0.0 v6 proto 6 2001:db8::1:3 > 2001:db8::2:80: 3 pkts 180 bytes",
	}
	if d := cmp.Diff(want, FlowDiff(truth, ref)); d != "" {
		t.Errorf("FlowDiff (-want +got):\n%s", d)
	}
	if d := FlowDiff(truth, truth); d != nil {
		t.Errorf("FlowDiff of equal flows: %q", d)
	}
}

func TestTruthExceptionsAreListedCaptures(t *testing.T) {
	dir := RealCapturesDir(t)
	caps, err := ReadRealCaptures(dir)
	if err != nil {
		t.Fatal(err)
	}
	listed := make(map[string]bool)
	for _, c := range caps {
		listed[c.File] = true
	}
	for _, e := range TruthExceptions {
		if !listed[e.File] || len(e.Diff) == 0 || e.Reason == "" {
			t.Errorf("exception %s: listed %v, %d diff lines, reason %q", e.File, listed[e.File], len(e.Diff), e.Reason)
		}
		if d, ok := TruthExceptionDiff(e.File); !ok || !cmp.Equal(d, e.Diff) {
			t.Errorf("TruthExceptionDiff(%s) = %q, %v", e.File, d, ok)
		}
	}
	if d, ok := TruthExceptionDiff("wireshark-wiki/http.pcap"); ok || d != nil {
		t.Errorf("http.pcap is no exception, got %q", d)
	}
}
