package exporter

import (
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/exportertest"
)

// nfcapd/nfdump (1.7) decode v1, v5 and v7 (not v8). The datagrams go to
// an nfcapd on loopback; nfdump reads its file back as JSON.
//
// nfdump quirks asserted here (nfdump 1.7.1; see the README):
//   - it multiplies v5 packet and byte counts by the sampling interval the
//     header advertises (an estimate of the unsampled traffic);
//   - it drops the v5/v7 source and destination mask bytes (reads 0).

// legacyRequireNfdump skips the test when nfcapd or nfdump is missing.
func legacyRequireNfdump(t *testing.T) {
	t.Helper()
	exportertest.RequireTool(t, "nfcapd")
	exportertest.RequireTool(t, "nfdump")
}

// legacyNfdump sends datagrams to a fresh nfcapd and returns the flows
// nfdump reads back, in arrival order, and its count of sequence failures.
func legacyNfdump(t *testing.T, datagrams [][]byte) ([]map[string]any, int) {
	t.Helper()
	flows, _, file := runNfcapd(t, datagrams)
	m := regexp.MustCompile(`Sequence failures: (\d+)`).FindSubmatch(runNfdump(t, file, "-I"))
	if m == nil {
		t.Fatal("nfdump -I printed no sequence failure count")
	}
	failures, _ := strconv.Atoi(string(m[1]))
	return flows, failures
}

// legacyWantNfdump is what nfdump should show for r exported in version
// with the given v5 sampling interval.
func legacyWantNfdump(version int, r cache.Record, sampling uint64) map[string]any {
	ts := func(t time.Time) string {
		return legacyBoot.Add(t.Sub(legacyBoot).Truncate(time.Millisecond)).UTC().Format("2006-01-02T15:04:05.000")
	}
	scale := uint64(1)
	if version == 5 && sampling > 1 {
		scale = sampling // quirk: nfdump scales by the advertised interval
	}
	w := map[string]any{
		"src4_addr": r.SrcAddr.Unmap().String(), "dst4_addr": r.DstAddr.Unmap().String(),
		"proto": float64(r.Proto), "src_tos": float64(r.ToS),
		"in_packets": float64(r.Packets * scale), "in_bytes": float64(r.Bytes * scale),
		"first": ts(r.Start), "last": ts(r.End),
		"input_snmp": float64(r.InIfIndex), "output_snmp": float64(r.OutIfIndex),
		"src_mask": float64(0), "dst_mask": float64(0), // quirk: nfdump drops v5/v7 masks
	}
	if r.NextHop.IsValid() {
		w["ip4_next_hop"] = r.NextHop.String()
	}
	if r.Proto == 1 {
		w["icmp_type"], w["icmp_code"] = float64(r.DstPort>>8), float64(r.DstPort&0xff)
	} else {
		w["src_port"], w["dst_port"] = float64(r.SrcPort), float64(r.DstPort)
	}
	if version != 1 {
		w["src_as"], w["dst_as"] = float64(legacyAS16(r.SrcAS)), float64(legacyAS16(r.DstAS))
	}
	return w
}

func TestLegacyVersionsDecodeInNfdump(t *testing.T) {
	t.Parallel()
	legacyRequireNfdump(t)
	recs := legacyBulkRecords(12) // 72 records, 60 IPv4
	want := legacyIPv4Only(recs)
	s := legacySettings()
	s5 := s
	s5.SamplingInterval = 64
	v1, _ := NewV1Encoder(s)
	v5, _ := NewV5Encoder(s5)
	v7, _ := NewV7Encoder(s)
	var datagrams [][]byte
	for _, e := range []Encoder{v1, v5, v7} {
		datagrams = append(datagrams, legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, recs, emit) })...)
	}
	flows, failures := legacyNfdump(t, datagrams)
	if failures != 0 {
		t.Errorf("nfdump counted %d sequence failures, want 0", failures)
	}
	if len(flows) != 3*len(want) {
		t.Fatalf("nfdump read %d flows, want %d", len(flows), 3*len(want))
	}
	for vi, version := range []int{1, 5, 7} {
		for i, r := range want {
			got := flows[vi*len(want)+i]
			w := legacyWantNfdump(version, r, 64)
			sub := map[string]any{}
			for k, v := range w {
				g, ok := got[k]
				if n, isNum := g.(json.Number); isNum {
					g, _ = n.Float64()
				}
				if !ok && v == float64(0) {
					g = v // nfdump leaves out zero AS numbers
				}
				sub[k] = g
			}
			if diff := cmp.Diff(w, sub); diff != "" {
				t.Errorf("v%d record %d: nfdump differs (-want +got):\n%s", version, i, diff)
			}
		}
	}
}

// The sequence check must be able to fail: a lost v5 datagram is one
// sequence failure for nfdump.
func TestLegacyNfdumpSeesLostV5Datagram(t *testing.T) {
	legacyRequireNfdump(t)
	v5, _ := NewV5Encoder(legacySettings())
	ds := legacyCollect(t, func(emit func([]byte)) error { return v5.Encode(legacyNow, legacyBulkRecords(18), emit) })
	if len(ds) < 3 {
		t.Fatalf("%d datagrams; the test needs 3", len(ds))
	}
	if _, failures := legacyNfdump(t, [][]byte{ds[0], ds[2]}); failures == 0 {
		t.Error("nfdump counted no sequence failure for a missing datagram")
	}
}
