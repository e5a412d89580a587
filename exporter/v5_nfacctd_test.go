package exporter

import (
	"bufio"
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
)

// pmacct's nfacctd (1.7) decodes v5 but not v8, which it drops without a
// word: the test sends both and asserts exactly the v5 flows come out.
//
// nfacctd quirk asserted here (nfacctd 1.7.7; see the README): it rebuilds
// v5 timestamps with whole-second resolution, as unix_secs − ⌊(sysUptime −
// First)/1000⌋, ignoring unix_nsecs (with the header at 3600.123 s, First
// 10.005 s reads 10 s and Last 3599.999 s reads 3600 s).

func legacyRequireNfacctd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nfacctd")
	if err != nil {
		t.Skip("nfacctd not installed (scripts/setup.sh installs pmacct): cannot check decoding by pmacct")
	}
	return p
}

// legacyNfacctd sends datagrams to a fresh nfacctd and returns the
// records its print plugin writes once want of them have arrived (or 10 s
// have passed).
func legacyNfacctd(t *testing.T, bin string, datagrams [][]byte, want int) []map[string]any {
	t.Helper()
	dir := t.TempDir()
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
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
	logPath := filepath.Join(dir, "nfacctd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logText := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, "-f", conf)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: nfacctd forks a plugin process, and a kill
	// must reach both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // nfacctd ignores SIGTERM
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	if !legacyWaitUDP(port, func(_ int, found bool) bool { return found }) {
		t.Fatalf("nfacctd did not bind 127.0.0.1:%d within 5 s:\n%s", port, logText())
	}
	// nfacctd drops what arrives before its plugin runs: wait for the
	// print plugin's first cache purge.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logText(), "Purging cache - END"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nfacctd's print plugin did not start within 5 s:\n%s", logText())
		}
	}
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
	var recs []map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		recs = recs[:0]
		f, err := os.Open(out)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				f.Close()
				t.Fatalf("nfacctd JSON line %q: %v", sc.Text(), err)
			}
			recs = append(recs, m)
		}
		f.Close()
		if len(recs) >= want {
			break
		}
	}
	// One more refresh interval, so records that should not be there
	// have time to show up.
	time.Sleep(1500 * time.Millisecond)
	if raw, err := os.ReadFile(out); err == nil {
		if n := strings.Count(string(raw), "\n"); n != len(recs) {
			t.Errorf("nfacctd wrote %d records, %d of them after the expected %d", n, n-len(recs), want)
		}
	}
	if len(recs) != want {
		t.Logf("nfacctd log:\n%s", logText())
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
	bin := legacyRequireNfacctd(t)
	recs := legacyRecords()
	want := legacyIPv4Only(recs)
	var datagrams [][]byte
	v5, _ := NewV5Encoder(legacySettings())
	datagrams = append(datagrams, legacyCollect(t, func(emit func([]byte)) error { return v5.Encode(legacyNow, recs, emit) })...)
	for _, scheme := range cache.Schemes() { // then every v8 scheme, to be dropped
		e, _ := NewV8Encoder(legacySettings(), scheme)
		datagrams = append(datagrams, legacyCollect(t, func(emit func([]byte)) error { return e.Encode(legacyNow, recs, emit) })...)
	}

	got := legacyNfacctd(t, bin, datagrams, len(want))
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
