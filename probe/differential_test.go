package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/probetest"
)

// flowTotals is what a flow adds up to over one comparison.
type flowTotals struct {
	Packets, Bytes uint64
	TCPFlags       uint8
}

// aggregate is one side of a differential comparison: flows by key and
// stats by reason.
type aggregate struct {
	Flows map[bpf.FlowKey]flowTotals
	Stats Stats
}

func newAggregate() *aggregate { return &aggregate{Flows: map[bpf.FlowKey]flowTotals{}} }

// addReference adds what the reference parser says xdp_flow does with frame.
func (a *aggregate) addReference(frame []byte) { a.addMasked(frame, bpf.KeyAll) }

// addMasked is addReference for a datapath loaded with other key fields.
func (a *aggregate) addMasked(frame []byte, fields bpf.KeyField) {
	p := ParseEthernet(frame)
	a.Stats[p.Reason].Packets++
	a.Stats[p.Reason].Bytes += p.StatBytes(len(frame))
	if p.Reason != bpf.StatAccounted {
		return
	}
	if p.NoL4 {
		a.Stats[bpf.StatNoL4].Packets++
		a.Stats[bpf.StatNoL4].Bytes += uint64(p.IPBytes)
	}
	key := p.Key
	key.Ifindex = loIfindex
	MaskKey(&key, fields)
	f := a.Flows[key]
	f.Packets++
	f.Bytes += uint64(p.IPBytes)
	f.TCPFlags |= p.TCPFlags
	a.Flows[key] = f
}

func (a *aggregate) addDeltas(deltas []cache.Delta) {
	for _, d := range deltas {
		f := a.Flows[d.Key]
		f.Packets += d.Packets
		f.Bytes += d.Bytes
		f.TCPFlags |= d.TCPFlags
		a.Flows[d.Key] = f
	}
}

// xdpRunner runs frames through one loaded program and harvests the
// result of each batch, with the stats of that batch alone.
type xdpRunner struct {
	p       *Probe
	inPlace bool // drain the active slot without flipping (fuzzing speed)
	before  Stats
	deltas  []cache.Delta
}

// maxLinearFrame is the most BPF_PROG_TEST_RUN puts in the linear part of
// an XDP buffer (a page less headroom and skb_shared_info); the rest would
// go to fragments, which a program without xdp.frags never sees on a real
// NIC: drivers refuse such a program when the MTU does not fit one page,
// and generic XDP linearises the frame.
const maxLinearFrame = 4096 - 256 - 320

// runnable says whether BPF_PROG_TEST_RUN delivers the frame as a NIC
// would: at least an Ethernet header, all of it in one buffer.
func runnable(frame []byte) bool { return len(frame) >= 14 && len(frame) <= maxLinearFrame }

func (r *xdpRunner) run(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := r.p.Program().Run(&ebpf.RunOptions{Data: frame}); err != nil {
		t.Fatalf("run %d-byte frame: %v", len(frame), err)
	}
}

func (r *xdpRunner) harvest(t testing.TB) *aggregate {
	t.Helper()
	var stats Stats
	var err error
	if r.inPlace {
		// Only this goroutine runs the program, so the active slot can be
		// drained where it is: no flip, no wait for other CPUs.
		if r.deltas, err = r.p.drain(r.p.slots[r.p.active], r.deltas[:0]); err == nil {
			stats, err = r.p.Stats()
		}
	} else {
		r.deltas, stats, err = r.p.Harvest(r.deltas[:0])
	}
	if err != nil {
		t.Fatal(err)
	}
	a := newAggregate()
	a.addDeltas(r.deltas)
	for i := range stats {
		a.Stats[i].Packets = stats[i].Packets - r.before[i].Packets
		a.Stats[i].Bytes = stats[i].Bytes - r.before[i].Bytes
	}
	r.before = stats
	return a
}

func compareAggregates(t testing.TB, what string, xdp, ref *aggregate) {
	t.Helper()
	if diff := cmp.Diff(ref.Stats, xdp.Stats); diff != "" {
		t.Errorf("%s: stats differ (-reference +xdp):\n%s", what, diff)
	}
	if diff := cmp.Diff(ref.Flows, xdp.Flows); diff != "" {
		t.Errorf("%s: flows differ (-reference +xdp):\n%s", what, diff)
	}
}

// TestXDPMatchesReferenceOnGeneratedCases runs every generated case — each
// parse branch, truncation at every layer, malformed headers — through
// both the XDP program and the reference parser, one frame at a time.
func TestXDPMatchesReferenceOnGeneratedCases(t *testing.T) {
	r := &xdpRunner{p: openProbe(t, Options{})}
	cases := probetest.Cases()
	if len(cases) < 100 {
		t.Fatalf("only %d generated cases", len(cases))
	}
	reasons := map[bpf.StatReason]int{}
	for _, c := range cases {
		if !runnable(c.Frame) {
			continue
		}
		ref := newAggregate()
		ref.addReference(c.Frame)
		r.run(t, c.Frame)
		compareAggregates(t, c.Name, r.harvest(t), ref)
		reasons[ParseEthernet(c.Frame).Reason]++
	}
	// The cases must reach every outcome the parser can give.
	for _, want := range []bpf.StatReason{bpf.StatAccounted, bpf.StatNotIP, bpf.StatTruncated, bpf.StatMalformed, bpf.StatUnsupported} {
		if reasons[want] == 0 {
			t.Errorf("no generated case ends in reason %d", want)
		}
	}
}

// TestXDPMatchesReferenceWithMaskedKeys: every key level and single field,
// over all generated cases at once, with MaskKey standing for the kernel.
func TestXDPMatchesReferenceWithMaskedKeys(t *testing.T) {
	levels := []bpf.KeyField{bpf.KeySrcAddr | bpf.KeyDstAddr | bpf.KeyProto | bpf.KeyIfindex | bpf.KeyVLAN}
	for _, kf := range keyFieldNames {
		levels = append(levels, bpf.KeyAll&^kf.field)
	}
	for _, fields := range levels {
		r := &xdpRunner{p: openProbe(t, Options{KeyFields: fields, MapEntries: MinMapEntries})}
		ref := newAggregate()
		for _, c := range probetest.Cases() {
			if runnable(c.Frame) {
				ref.addMasked(c.Frame, fields)
				r.run(t, c.Frame)
			}
		}
		compareAggregates(t, fmt.Sprintf("key fields %#x", fields), r.harvest(t), ref)
		r.p.Close()
	}
}

// TestXDPMatchesReferenceOnCaptures runs every frame of every Ethernet
// capture (ours in testdata/, and the shared real ones) through both and
// compares the drained map and the stats, capture by capture.
func TestXDPMatchesReferenceOnCaptures(t *testing.T) {
	r := &xdpRunner{p: openProbe(t, Options{MapEntries: 1 << 18})}
	files, realFolder := captureFiles(t)
	var frames, skipped, captures int
	for _, path := range files {
		c, err := OpenCapture(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		ref := newAggregate()
		ethernet := 0
		for {
			f, err := c.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break // corrupt tails are the capture tests' business; compare what was read
			}
			if f.LinkType != layers.LinkTypeEthernet {
				continue // XDP sees Ethernet only; other link types are the offline mode's
			}
			ethernet++
			if !runnable(f.Data) {
				skipped++
				continue
			}
			frames++
			ref.addReference(f.Data)
			r.run(t, f.Data)
		}
		c.Close()
		if ethernet > 0 {
			captures++
		}
		compareAggregates(t, path, r.harvest(t), ref)
	}
	t.Logf("%d Ethernet captures, %d frames compared, %d frames outside the 14..%d bytes one XDP buffer holds",
		captures, frames, skipped, maxLinearFrame)
	if captures < 200 || frames < 10000 {
		t.Fatalf("only %d captures and %d frames: is %s whole?", captures, frames, realFolder)
	}
}

// captureFiles lists the project's own captures and the real ones (from
// pcaps.tsv in the folder probetest.RealCapturesDir finds, also returned).
func captureFiles(t *testing.T) ([]string, string) {
	t.Helper()
	own, _ := filepath.Glob("../testdata/*.pcap*")
	realCaptures := probetest.RealCapturesDir(t)
	index, err := os.Open(filepath.Join(realCaptures, "pcaps.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer index.Close()
	files := own
	s := bufio.NewScanner(index)
	for s.Scan() {
		name, _, _ := strings.Cut(s.Text(), "\t")
		if name == "file" || strings.HasPrefix(name, "#") || name == "" {
			continue
		}
		files = append(files, filepath.Join(realCaptures, name))
	}
	return files, realCaptures
}

var (
	fuzzProbeOnce sync.Once
	fuzzRunner    *xdpRunner
	fuzzErr       error
)

// FuzzXDPVersusReference runs arbitrary frames through the XDP program and
// the reference parser and demands the same stats and flows.
func FuzzXDPVersusReference(f *testing.F) {
	for _, c := range probetest.Cases() {
		f.Add(c.Frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to load the XDP program")
		}
		if !runnable(frame) {
			if len(frame) < 14 && ParseEthernet(frame).Reason != bpf.StatTruncated {
				t.Fatalf("%d-byte frame is not truncated to the reference", len(frame))
			}
			return
		}
		fuzzProbeOnce.Do(func() {
			var p *Probe
			p, fuzzErr = Open(Options{})
			fuzzRunner = &xdpRunner{p: p, inPlace: true}
		})
		if fuzzErr != nil {
			t.Fatal(fuzzErr)
		}
		ref := newAggregate()
		ref.addReference(frame)
		fuzzRunner.run(t, frame)
		compareAggregates(t, fmt.Sprintf("frame %x", frame), fuzzRunner.harvest(t), ref)
	})
}
