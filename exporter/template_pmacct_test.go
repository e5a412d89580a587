package exporter

// pmacct's nfacctd decoding the v9 and IPFIX encoders' datagrams, read
// from a pcap savefile (no sockets, no timing), printed as JSON.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/exportertest"
)

func TestNfacctdDecodesTemplateEncoders(t *testing.T) {
	nfacctd := exportertest.RequireTool(t, "nfacctd")
	forEachCollectorCase(t, func(t *testing.T, ek encoderKind, cc collectorCase, e Encoder, dg [][]byte) {
		flows, log := runNfacctd(t, nfacctd, dg)
		if strings.Contains(log, "expecting flow") || strings.Contains(log, "ERROR") || strings.Contains(log, "WARN") {
			t.Errorf("nfacctd complained:\n%s", log)
		}
		if len(flows) != len(cc.recs) {
			t.Fatalf("nfacctd printed %d flows, sent %d\n%s", len(flows), len(cc.recs), log)
		}
		byKey := make(map[string]map[string]any)
		for _, f := range flows {
			k := fmt.Sprintf("%v|%v|%v|%v|%v", f["ip_src"], f["ip_dst"], f["port_src"], f["port_dst"], f["ip_proto"])
			byKey[k] = f
		}
		for i := range cc.recs {
			r := &cc.recs[i]
			k := fmt.Sprintf("%v|%v|%v|%v|%v", r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.Proto)
			f, ok := byKey[k]
			if !ok {
				t.Errorf("record %d (%s): not printed by nfacctd", i, k)
				continue
			}
			if err := compareNfacctd(ek.version, cc.s, r, f); err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}
	})
}

func runNfacctd(t *testing.T, nfacctd string, dgrams [][]byte) ([]map[string]any, string) {
	t.Helper()
	dir := t.TempDir()
	pcap := filepath.Join(dir, "export.pcap")
	writeExportPcap(t, pcap, 2100, tplNow, dgrams)
	out := filepath.Join(dir, "flows.json")
	conf := strings.Join([]string{
		"daemonize: false",
		"pcap_savefile: " + pcap,
		"plugins: print",
		"aggregate: src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface, src_as, dst_as," +
			" src_mask, dst_mask, vlan, tcpflags, timestamp_start, timestamp_end, sampling_rate",
		"print_output: json",
		"print_output_file: " + out,
		"timestamps_secs: false",
		"timestamps_utc: true",
		"",
	}, "\n")
	cf := filepath.Join(dir, "nfacctd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nfacctd, "-u", "-f", cf) // -u: protocols as numbers
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nfacctd: %v\n%s", err, log)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("nfacctd wrote no output: %v\n%s", err, log)
	}
	defer f.Close()
	var flows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("nfacctd json %q: %v", sc.Text(), err)
		}
		flows = append(flows, m)
	}
	return flows, string(log)
}

func compareNfacctd(version uint16, s Settings, r *cache.Record, f map[string]any) error {
	w := wireView(version, *r)
	ts := func(at time.Time) string { return at.UTC().Format("2006-01-02 15:04:05.000000") }
	start, end := ts(w.Start), ts(w.End)
	if version == 9 {
		// Quirk: nfacctd 1.7 turns FIRST/LAST_SWITCHED into whole seconds
		// of age before the header's Unix seconds, dropping the
		// milliseconds the uptime fields carry.
		up := func(at time.Time) time.Time {
			age := (tplNow.Sub(at) / time.Millisecond) / 1000
			return tplNow.Add(-age * time.Second)
		}
		start, end = ts(up(w.Start)), ts(up(w.End))
	}
	sampling := uint32(0) // 0: no sampling information
	if s.SamplingInterval > 1 {
		sampling = s.SamplingInterval
	}
	// nfacctd accounts a biflow's forward direction only: it reads neither
	// OUT_BYTES/OUT_PKTS nor RFC 5103 reverse elements.
	want := map[string]string{
		// Quirk: nfacctd's JSON prints counters as signed 64-bit numbers,
		// so values of 2^63 and more come out negative.
		"packets":         fmt.Sprint(int64(w.Packets)),
		"bytes":           fmt.Sprint(int64(w.Bytes)),
		"tos":             fmt.Sprint(w.ToS),
		"iface_in":        fmt.Sprint(w.InIfIndex),
		"iface_out":       fmt.Sprint(w.OutIfIndex),
		"as_src":          fmt.Sprint(w.SrcAS),
		"as_dst":          fmt.Sprint(w.DstAS),
		"mask_src":        fmt.Sprint(w.SrcMask),
		"mask_dst":        fmt.Sprint(w.DstMask),
		"vlan":            fmt.Sprint(w.VLAN),
		"tcp_flags":       fmt.Sprint(w.TCPFlags),
		"sampling_rate":   fmt.Sprint(sampling),
		"timestamp_start": start,
		"timestamp_end":   end,
	}
	return diffFields(want, f)
}
