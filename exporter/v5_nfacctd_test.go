package exporter

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/exportertest"
)

// pmacct's nfacctd (1.7) decodes v5 but not v8, which it drops without a
// word: the test sends both and asserts exactly the v5 flows come out.
//
// nfacctd quirk asserted here (nfacctd 1.7.7; see the README): it rebuilds
// v5 timestamps with whole-second resolution, as unix_secs − ⌊(sysUptime −
// First)/1000⌋, ignoring unix_nsecs (with the header at 3600.123 s, First
// 10.005 s reads 10 s and Last 3599.999 s reads 3600 s).

// legacyNfacctd sends datagrams to a fresh nfacctd and returns the
// records its print plugin writes once want of them have arrived (or 10 s
// have passed).
func legacyNfacctd(t *testing.T, datagrams [][]byte, want int) []map[string]any {
	t.Helper()
	dir := t.TempDir()
	port := exportertest.FreeUDPPort(t)
	out := filepath.Join(dir, "flows.json")
	conf := filepath.Join(dir, "nfacctd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: %d
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface, src_as, dst_as, src_mask, dst_mask, tcpflags, timestamp_start, timestamp_end
print_output[p]: json
print_output_file[p]: %s
print_output_file_append[p]: true
print_refresh_time[p]: 1
`, port, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	// In a process group of its own: nfacctd forks a plugin process, and a
	// kill must reach both.
	p, err := exportertest.Start(t, "nfacctd", exec.Command("nfacctd", "-f", conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(t, syscall.SIGINT, 10*time.Second) // nfacctd ignores SIGTERM
	exportertest.WaitFor(t, 5*time.Second, "nfacctd binds 127.0.0.1:"+fmt.Sprint(port), func() bool { return exportertest.UDPBound(port) })
	// nfacctd drops what arrives before its plugin runs: wait for the
	// print plugin's first cache purge.
	exportertest.WaitFor(t, 5*time.Second, "nfacctd's print plugin starts", func() bool { return strings.Contains(p.Out.String(), "Purging cache - END") })
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range datagrams {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []map[string]any {
		raw, _ := os.ReadFile(out)
		var recs []map[string]any
		for _, line := range strings.SplitAfter(string(raw), "\n") {
			if !strings.HasSuffix(line, "\n") {
				break // being written
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("nfacctd JSON line %q: %v", line, err)
			}
			recs = append(recs, m)
		}
		return recs
	}
	var recs []map[string]any
	exportertest.Within(10*time.Second, func() bool { recs = read(); return len(recs) >= want })
	// Not a wait for something that can be polled: records that should
	// not be there can only be seen not to come, over one more refresh.
	time.Sleep(1500 * time.Millisecond)
	if n := len(read()); n != len(recs) {
		t.Errorf("nfacctd wrote %d records, %d of them after the expected %d", n, n-len(recs), want)
	}
	if len(recs) != want {
		t.Logf("nfacctd log:\n%s", p.Out.String())
	}
	return recs
}

// legacyWantNfacctd is what nfacctd should print for a v5 record.
func legacyWantNfacctd(r cache.Record) map[string]any {
	ms := func(t time.Time) int64 { return t.Sub(legacyBoot).Milliseconds() }
	ts := func(t time.Time) string {
		secs := legacyNow.Unix() - (ms(legacyNow)-ms(t))/1000
		return time.Unix(secs, 0).UTC().Format("2006-01-02 15:04:05.000000")
	}
	protos := map[uint8]string{1: "icmp", 6: "tcp", 17: "udp"}
	return map[string]any{
		"ip_src": r.SrcAddr.Unmap().String(), "ip_dst": r.DstAddr.Unmap().String(),
		"port_src": float64(r.SrcPort), "port_dst": float64(r.DstPort), "ip_proto": protos[r.Proto],
		"tos": float64(r.ToS), "tcp_flags": strconv.Itoa(int(r.TCPFlags)),
		"iface_in": float64(r.InIfIndex), "iface_out": float64(r.OutIfIndex),
		"as_src": float64(legacyAS16(r.SrcAS)), "as_dst": float64(legacyAS16(r.DstAS)),
		"mask_src": float64(r.SrcMask), "mask_dst": float64(r.DstMask),
		"packets": float64(r.Packets), "bytes": float64(r.Bytes),
		"timestamp_start": ts(r.Start), "timestamp_end": ts(r.End),
	}
}

func TestV5DecodesInNfacctdWhichDropsV8(t *testing.T) {
	t.Parallel()
	exportertest.RequireTool(t, "nfacctd")
	recs := legacyRecords()
	want := legacyIPv4Only(recs)
	var datagrams [][]byte
	v5, _ := NewV5Encoder(legacySettings())
	datagrams = append(datagrams, legacyCollect(t, func(emit func([]byte)) error { return v5.Encode(legacyNow, recs, emit) })...)
	for _, scheme := range cache.Schemes() { // then every v8 scheme, to be dropped
		e, _ := NewV8Encoder(legacySettings(), scheme)
		datagrams = append(datagrams, legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, recs, emit) })...)
	}

	got := legacyNfacctd(t, datagrams, len(want))
	if len(got) != len(want) {
		t.Fatalf("nfacctd printed %d records, want the %d v5 ones (v8 dropped)", len(got), len(want))
	}
	byKey := map[string]map[string]any{}
	for _, g := range got {
		byKey[fmt.Sprint(g["ip_src"], g["port_src"], g["ip_dst"], g["port_dst"], g["ip_proto"])] = g
	}
	for i, r := range want {
		w := legacyWantNfacctd(r)
		g := byKey[fmt.Sprint(w["ip_src"], w["port_src"], w["ip_dst"], w["port_dst"], w["ip_proto"])]
		sub := map[string]any{}
		for k := range w {
			sub[k] = g[k]
		}
		if diff := cmp.Diff(w, sub); diff != "" {
			t.Errorf("v5 record %d: nfacctd differs (-want +got):\n%s", i, diff)
		}
	}
}
