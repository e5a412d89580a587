package probe

import (
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

// realDir, realCapture, readPcapsTSV, readTSV and atoi serve the package's
// other real-capture tests (capture_test.go, reference_test.go); they
// delegate to probetest, which reads the folder for every package.

// realDir returns the folder of real captures (probetest.RealCapturesDir).
func realDir(t *testing.T) string {
	t.Helper()
	return probetest.RealCapturesDir(t)
}

// realCapture is one row of pcaps.tsv.
type realCapture struct {
	file     string
	linkType int
}

func readPcapsTSV(t *testing.T, dir string) []realCapture {
	t.Helper()
	caps, err := probetest.ReadRealCaptures(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]realCapture, len(caps))
	for i, c := range caps {
		out[i] = realCapture{file: c.File, linkType: c.LinkType}
	}
	return out
}

// readTSV is probetest.ReadTSV, failing the test on an error.
func readTSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	rows, err := probetest.ReadTSV(path)
	if err != nil {
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

// referenceFlows runs every frame of a capture through ParseFrame and sums
// the accounted ones per probetest.TruthKey.
type referenceFlows struct {
	frames  int
	reasons [bpf.StatOutcomes]int
	noL4    int
	flows   map[probetest.TruthKey]probetest.TruthCount
}

func readReference(path string) (referenceFlows, error) {
	rf := referenceFlows{flows: make(map[probetest.TruthKey]probetest.TruthCount)}
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
		k := probetest.TruthKeyOf(p.Key)
		n := rf.flows[k]
		n.Packets++
		n.Bytes += uint64(p.IPBytes)
		rf.flows[k] = n
	}
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
	{"zeek/vlan-qinqinq.pcap", "three VLAN tags (see probetest.TruthExceptions)", outcomes{unsupported: 14}},
	{"zeek/ip-bogus-header-len.pcap", "IPv4 Total Length 0 (see probetest.TruthExceptions)", outcomes{malformed: 1}},
}

func TestReferenceMatchesTruthOnRealCaptures(t *testing.T) {
	dir := probetest.RealCapturesDir(t)
	caps, err := probetest.ReadRealCaptures(dir)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := probetest.ReadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	outcomeWant := make(map[string]outcomes)
	for _, e := range outcomeExceptions {
		outcomeWant[e.file] = e.want
	}

	var frames, flows, matched, differing int
	var reasons [bpf.StatOutcomes]int
	seen := make(map[string]bool)
	for _, pc := range caps {
		seen[pc.File] = true
		rf, err := readReference(filepath.Join(dir, pc.File))
		if err != nil {
			t.Errorf("%s: %v", pc.File, err)
			continue
		}
		if rf.frames != pc.Records {
			t.Errorf("%s: read %d records, pcaps.tsv says %d", pc.File, rf.frames, pc.Records)
		}
		frames += rf.frames
		for i, n := range rf.reasons {
			reasons[i] += n
		}
		got := outcomes{rf.reasons[bpf.StatNotIP], rf.reasons[bpf.StatTruncated],
			rf.reasons[bpf.StatMalformed], rf.reasons[bpf.StatUnsupported]}
		if want, ok := outcomeWant[pc.File]; ok {
			if got != want {
				t.Errorf("%s: unaccounted frames %+v, want the documented %+v", pc.File, got, want)
			}
		} else if got.notIP != pc.NonIP || got.truncated+got.malformed+got.unsupported != pc.UnparsedIP {
			t.Errorf("%s: unaccounted frames %+v, pcaps.tsv has %d non-IP and %d unparsed IP frames",
				pc.File, got, pc.NonIP, pc.UnparsedIP)
		}
		tf := truth[pc.File]
		diff := probetest.FlowDiff(tf, rf.flows)
		flows += len(tf)
		matched += len(tf) - countTruthSide(diff)
		if len(diff) > 0 {
			differing++
		}
		want, isException := probetest.TruthExceptionDiff(pc.File)
		if !isException {
			if len(diff) > 0 {
				t.Errorf("%s: %d flows differ from flows-truth.tsv:\n\t%s", pc.File, len(diff), strings.Join(diff, "\n\t"))
			}
			continue
		}
		if d := cmp.Diff(want, diff); d != "" {
			t.Errorf("%s: the differences from flows-truth.tsv are not the documented ones (-want +got):\n%s", pc.File, d)
		}
	}
	for _, e := range outcomeExceptions {
		if !seen[e.file] {
			t.Errorf("exception %s names a capture that pcaps.tsv does not list", e.file)
		}
	}
	for _, e := range probetest.TruthExceptions {
		if !seen[e.File] {
			t.Errorf("exception %s names a capture that pcaps.tsv does not list", e.File)
		}
	}
	t.Logf("%d captures, %d frames (%d accounted, %d not IP, %d truncated, %d malformed, %d unsupported); "+
		"%d truth flows (VLAN stack projected on two tags), %d matched exactly; %d captures differ, %d documented; "+
		"%d with outcomes sorted differently, documented",
		len(caps), frames, reasons[bpf.StatAccounted], reasons[bpf.StatNotIP], reasons[bpf.StatTruncated],
		reasons[bpf.StatMalformed], reasons[bpf.StatUnsupported], flows, matched, differing, len(probetest.TruthExceptions),
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
