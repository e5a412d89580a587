package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// e2eShowNormalisers replace what depends on the clock or on the kernel
// (ifindex) with a placeholder; everything else must match exactly.
var e2eShowNormalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	// show cache
	{regexp.MustCompile(`statistics since \S+ \([^)]*\)`), "statistics since <time> (<period>)"},
	{regexp.MustCompile(`(?m)^(\S+ *\d+) +[0-9.]+( +\d+ +\d+) +[0-9.]+ +[0-9.]+ +[0-9.]+$`), "$1 <f/s>$2 <p/s> <active> <idle>"},
	// show stats
	{regexp.MustCompile(`\d+ harvests, (\d+) failed; last took [0-9.]+ ms for \d+ of`), "<n> harvests, $1 failed; last took <ms> ms for <entries> of"},
	{regexp.MustCompile(`Slot fill: up to \d+ entries \([0-9.]+ %\)`), "Slot fill: up to <entries> entries (<pct> %)"},
	// show export: how records were cut into datagrams depends on which
	// harvest each flow's last frame fell into
	{regexp.MustCompile(`exported in \d+ udp datagrams \(\d+ bytes\)`), "exported in <n> udp datagrams (<bytes> bytes)"},
	// show interfaces
	{regexp.MustCompile(`\(ifindex \d+\)`), "(ifindex <n>)"},
	// show cache verbose: Active, the seconds between a flow's first and
	// last packet as the replay paced them
	{regexp.MustCompile(`(?m)^([0-9A-F]{4} /.* \d+) +\d+\.\d$`), "$1 <active>"},
}

func e2eNormalise(s string) string {
	for _, n := range e2eShowNormalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// e2eShowConfig is the small fixed capture the show test replays: the
// same config always gives the same frames and flows.
var e2eShowConfig = probetest.GenConfig{Packets: 80, Flows: 10, Seed: 11}

// TestE2EShowCommandsPrintTheKnownCapture replays a small fixed capture
// into spanflow (TCP flows that ended with FIN or RST expire at once, the
// others stay in the cache), then checks every show command: the text
// against testdata/e2e (clock-dependent fields normalised), the --json
// form against the capture's ground truth.
func TestE2EShowCommandsPrintTheKnownCapture(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	c := e2eCapture(t, s, e2eShowConfig)
	ended := 0
	for k, f := range c.Flows {
		if k.Proto == 6 && f.TCPFlags&0x05 != 0 { // FIN or RST
			ended++
		}
	}
	const colPort, metrics = 4739, "127.0.0.1:9465"
	col := startE2ECollect(t, bin, s.Capture, colPort)
	d := startE2EDaemon(t, bin, s.Capture, e2eControlPath(t), "-i", s.RxName, "-n", fmt.Sprintf("127.0.0.1:%d", colPort), "-v", "9",
		"--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", e2ePinDir(t), "--detach", "--metrics", metrics,
		"--harvest-interval", "100ms", "--inactive-timeout", "10m", "--active-timeout", "30m", "--fin-grace", "0s", "--max-flows", "4096")

	replay, err := s.StartReplay(context.Background(), t, c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Wait(); err != nil {
		t.Fatal(err)
	}
	d.waitAccounted(t, uint64(c.Packets))
	e2eCheckNICCrossCheck(t, d, s, c.Packets, metrics)
	var ev e2eExportView
	if !exportertest.Within(10*time.Second, func() bool {
		d.showJSON(t, &ev, "export")
		return len(ev.Collectors) == 1 && ev.Collectors[0].RecordsOffered >= uint64(ended)
	}) {
		t.Fatalf("show export --json after the replay: %+v; want %d records offered (the flows that ended with FIN or RST)", ev, ended)
	}

	// Text forms.
	for _, show := range []struct{ file, args string }{
		{"show-cache.txt", "cache"},
		{"show-top-talkers.txt", "top-talkers"},
		{"show-top-talkers-3-packets.txt", "top-talkers 3 --sort packets"},
		{"show-stats.txt", "stats"},
		{"show-export.txt", "export"},
		{"show-interfaces.txt", "interfaces"},
	} {
		out, err := d.show(strings.Fields(show.args)...)
		if err != nil {
			t.Fatal(err)
		}
		out, apps := e2eSplitApplications(out)
		compareWithExpected(t, filepath.Join("testdata", "e2e", show.file), []byte(e2eNormalise(out)))
		e2eCheckApplicationText(t, show.args, apps)
	}
	e2eCheckApplicationViews(t, d, len(c.Flows)-ended, ended)

	// show stats --json: the datapath accounted every frame, nothing else.
	st := d.stats(t)
	if st.Packets["accounted"] != uint64(c.Packets) || st.Bytes["accounted"] != c.IPBytes || st.Total != uint64(c.Packets) || st.Harvests == 0 {
		t.Errorf("show stats --json: %+v; want %d packets %d bytes accounted and nothing else", st, c.Packets, c.IPBytes)
	}

	// show cache --json: every flow added, the ended ones exported as end
	// of flow, the rest active; the size histogram covers every packet.
	var cs struct {
		Active, Added, MaxFlows int
		Expired                 struct{ Idle, Active, EndOfFlow, Forced, LackOfResources int }
		Sizes                   []uint64
	}
	d.showJSON(t, &cs, "cache")
	var sized uint64
	for _, n := range cs.Sizes {
		sized += n
	}
	if cs.Added != len(c.Flows) || cs.Active != len(c.Flows)-ended || cs.Expired.EndOfFlow != ended || cs.MaxFlows != 4096 || sized != uint64(c.Packets) ||
		cs.Expired.Idle+cs.Expired.Active+cs.Expired.Forced+cs.Expired.LackOfResources != 0 {
		t.Errorf("show cache --json: %+v; want %d added, %d active, %d ended (end of flow), 4096 entries, %d packets sized",
			cs, len(c.Flows), len(c.Flows)-ended, ended, c.Packets)
	}

	// show top-talkers --json: the flows still in the cache, each with the
	// capture's counts, largest first.
	for _, by := range []string{"bytes", "packets"} {
		var tt struct {
			Flows []struct {
				SrcAddr, DstAddr netip.Addr
				SrcPort, DstPort uint16
				Proto, ToS       uint8
				InIfIndex        uint32
				VLAN             uint16
				Packets, Bytes   uint64
			}
			Requested, Processed int
		}
		d.showJSON(t, &tt, "top-talkers", "100", "--sort", by)
		if len(tt.Flows) != len(c.Flows)-ended || tt.Requested != 100 || tt.Processed != len(c.Flows)-ended {
			t.Errorf("show top-talkers 100 --sort %s --json: %d flows of %d processed (asked %d); want all %d flows in the cache",
				by, len(tt.Flows), tt.Processed, tt.Requested, len(c.Flows)-ended)
		}
		truth := map[e2eKey]e2eTotals{}
		for k, f := range c.Flows {
			truth[e2eKey{Src: k.SrcIP(), Dst: k.DstIP(), SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto, ToS: k.Tos, InIf: k.Ifindex, VLAN: k.VlanId}] = e2eTotals{Packets: f.Packets, Bytes: f.Bytes}
		}
		for i, f := range tt.Flows {
			k := e2eKey{Src: f.SrcAddr.Unmap(), Dst: f.DstAddr.Unmap(), SrcPort: f.SrcPort, DstPort: f.DstPort, Proto: f.Proto, ToS: f.ToS, InIf: f.InIfIndex, VLAN: f.VLAN}
			if w, ok := truth[k]; !ok || w.Packets != f.Packets || w.Bytes != f.Bytes {
				t.Errorf("top talker %v: %d packets %d bytes; the capture has %+v (known: %v)", k, f.Packets, f.Bytes, w, ok)
			}
			if i > 0 {
				prev, cur := tt.Flows[i-1].Bytes, f.Bytes
				if by == "packets" {
					prev, cur = tt.Flows[i-1].Packets, f.Packets
				}
				if prev < cur {
					t.Errorf("top talkers by %s out of order at %d: %d before %d", by, i, prev, cur)
				}
			}
		}
	}

	e2eCheckAggregationView(t, d, c)
	e2eCheckVerboseView(t, d, c, s.RxName, ended)

	// show export --json: the ended flows went to the one collector, all
	// sent.
	d.showJSON(t, &ev, "export")
	if e := ev.Collectors[0]; ev.Version != "9" || e.RecordsOffered != uint64(ended) || e.RecordsDropped != 0 || e.Datagrams == 0 ||
		e.EncodeErrors != 0 || len(e.SendErrors) != 0 || e.Name != fmt.Sprintf("127.0.0.1:%d v9", colPort) {
		t.Errorf("show export --json: %+v; want %d records in datagrams to 127.0.0.1:%d v9, no errors", ev, ended, colPort)
	}

	// show interfaces --json.
	var ifs []e2eInterface
	d.showJSON(t, &ifs, "interfaces")
	if len(ifs) != 1 || ifs[0].Name != s.RxName || ifs[0].Index != s.RxIndex || ifs[0].Mode != "native" || !ifs[0].Attached || ifs[0].Adopted || ifs[0].Down {
		t.Errorf("show interfaces --json: %+v; want %s (ifindex %d) attached natively, up, not adopted", ifs, s.RxName, s.RxIndex)
	}

	// A bad request is refused with a message, and the daemon goes on.
	if out, err := d.show("top-talkers", "0"); err == nil || !strings.Contains(err.Error(), "1 to 10000") {
		t.Errorf("show top-talkers 0: %v %q; want an error saying N must be 1 to 10000", err, out)
	}
	if out, err := d.show("routes"); err == nil || !strings.Contains(err.Error(), "routes") {
		t.Errorf("show routes: %v %q; want an error naming what cannot be shown", err, out)
	}

	if code := d.Stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("spanflow exited with %d after SIGTERM, want 0:\n%s", code, d.Out.String())
	}
	recs, colLog := col.drainAndStop(t)
	f := e2eFields{inIf: true, vlan: true, flags: true}
	if diff := e2eDiff(e2eTruth(c, f), e2eCollected(recs, f)); diff != "" {
		t.Errorf("spanflow collect's totals differ from the ground truth:\n%s\n%s", diff, colLog)
	}
}

// e2eCheckVerboseView checks show cache verbose: the text against
// testdata/e2e (Active normalised), the JSON against the capture — every
// flow still in the cache with its counts, most bytes first, SrcIf the
// capture interface's name and DstIf "-" (a mirror port knows no output);
// N bounds the list.
func e2eCheckVerboseView(t *testing.T, d *e2eDaemon, c *probetest.Capture, ifName string, ended int) {
	t.Helper()
	out, err := d.show("cache", "verbose")
	if err != nil {
		t.Fatal(err)
	}
	compareWithExpected(t, filepath.Join("testdata", "e2e", "show-cache-verbose.txt"), []byte(e2eNormalise(out)))
	var v struct {
		Flows []struct {
			SrcAddr, DstAddr netip.Addr
			SrcPort, DstPort uint16
			Proto, ToS       uint8
			InIfIndex        uint32
			VLAN             uint16
			Packets, Bytes   uint64
			SrcIf, DstIf     string
		}
		Requested, Total int
	}
	d.showJSON(t, &v, "cache", "verbose")
	if len(v.Flows) != len(c.Flows)-ended || v.Total != len(c.Flows)-ended || v.Requested != 100 {
		t.Errorf("show cache verbose --json: %d of %d flows (asked %d); want all %d flows in the cache of 100", len(v.Flows), v.Total, v.Requested, len(c.Flows)-ended)
	}
	truth := map[e2eKey]e2eTotals{}
	for k, f := range c.Flows {
		truth[e2eKey{Src: k.SrcIP(), Dst: k.DstIP(), SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto, ToS: k.Tos, InIf: k.Ifindex, VLAN: k.VlanId}] = e2eTotals{Packets: f.Packets, Bytes: f.Bytes}
	}
	for i, f := range v.Flows {
		k := e2eKey{Src: f.SrcAddr.Unmap(), Dst: f.DstAddr.Unmap(), SrcPort: f.SrcPort, DstPort: f.DstPort, Proto: f.Proto, ToS: f.ToS, InIf: f.InIfIndex, VLAN: f.VLAN}
		if w, ok := truth[k]; !ok || w.Packets != f.Packets || w.Bytes != f.Bytes || f.SrcIf != ifName || f.DstIf != "-" {
			t.Errorf("show cache verbose --json: flow %v %d packets %d bytes, SrcIf %q DstIf %q; the capture has %+v (known: %v), want SrcIf %q DstIf -",
				k, f.Packets, f.Bytes, f.SrcIf, f.DstIf, w, ok, ifName)
		}
		if i > 0 && v.Flows[i-1].Bytes < f.Bytes {
			t.Errorf("show cache verbose --json: out of order at %d: %d bytes before %d", i, v.Flows[i-1].Bytes, f.Bytes)
		}
	}
	d.showJSON(t, &v, "cache", "verbose", "2")
	if len(v.Flows) != 2 || v.Requested != 2 || v.Total != len(c.Flows)-ended {
		t.Errorf("show cache verbose 2 --json: %d of %d flows (asked %d); want 2 of %d", len(v.Flows), v.Total, v.Requested, len(c.Flows)-ended)
	}
	if out, err := d.show("cache", "verbose", "0"); err == nil || !strings.Contains(err.Error(), "1 to 10000") {
		t.Errorf("show cache verbose 0: %v %q; want an error saying N must be 1 to 10000", err, out)
	}
}

// e2eCheckAggregationView checks show cache aggregation protocol-port
// against the capture: the IPv4 flows still in the cache (those that did
// not end with FIN or RST) grouped by protocol and ports, IPv6 ones left
// out; in JSON and in the text's rows.
func e2eCheckAggregationView(t *testing.T, d *e2eDaemon, c *probetest.Capture) {
	t.Helper()
	type group struct {
		Proto            uint8
		SrcPort, DstPort uint16
	}
	type sums struct{ Flows, Packets, Bytes uint64 }
	want := map[group]sums{}
	var v6 uint64
	for k, f := range c.Flows {
		if k.Proto == 6 && f.TCPFlags&0x05 != 0 {
			continue // ended, exported: not in the cache
		}
		if k.IpVersion == 6 {
			v6++
			continue
		}
		g := group{k.Proto, k.SrcPort, k.DstPort}
		w := want[g]
		w.Flows, w.Packets, w.Bytes = w.Flows+1, w.Packets+f.Packets, w.Bytes+f.Bytes
		want[g] = w
	}
	var v struct {
		Scheme     string
		Aggregates []struct {
			group
			sums
		}
		Skipped uint64
	}
	d.showJSON(t, &v, "cache", "aggregation", "protocol-port")
	got := map[group]sums{}
	for _, a := range v.Aggregates {
		got[a.group] = a.sums
	}
	if diff := cmp.Diff(want, got); diff != "" || v.Scheme != "protocol-port" || v.Skipped != v6 {
		t.Errorf("show cache aggregation protocol-port --json: scheme %q, %d skipped (want %d IPv6 flows); aggregates (-capture +shown):\n%s",
			v.Scheme, v.Skipped, v6, diff)
	}
	out, err := d.show("cache", "aggregation", "protocol-port")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		rows[strings.Join(strings.Fields(l), " ")] = true
	}
	for g, w := range want {
		row := fmt.Sprintf("%02X %04X %04X %d %d %d", g.Proto, g.SrcPort, g.DstPort, w.Flows, w.Packets, w.Bytes/w.Packets)
		found := false
		for r := range rows {
			found = found || strings.HasPrefix(r, row+" ")
		}
		if !found {
			t.Errorf("show cache aggregation protocol-port: no row %q (protocol, ports, flows, packets, bytes a packet):\n%s", row, out)
		}
	}
	if _, err := d.show("cache", "aggregation", "by-colour"); err == nil || !strings.Contains(err.Error(), "prefix-port") {
		t.Errorf("show cache aggregation by-colour: %v; want an error listing the schemes", err)
	}
}

// e2eCheckNICCrossCheck checks the NIC cross-check of show interfaces
// --json and /metrics: the veth counts every frame the replay sent, and
// XDP accounted every one of them, so both say packets (read at a harvest
// after the last frame: polled) and nothing is missing.
func e2eCheckNICCrossCheck(t *testing.T, d *e2eDaemon, s *probetest.ReplayNet, packets int, metrics string) {
	t.Helper()
	var ifs []struct {
		Name string
		NIC  *struct {
			RxPackets, RxDropped, RxMissed, RxErrors uint64
			Accounted                                *uint64
			NotAccounted                             *int64
			Error                                    string
		}
	}
	want := uint64(packets)
	settled := exportertest.Within(10*time.Second, func() bool {
		d.showJSON(t, &ifs, "interfaces")
		return len(ifs) == 1 && ifs[0].NIC != nil && ifs[0].NIC.RxPackets >= want && ifs[0].NIC.Accounted != nil && *ifs[0].NIC.Accounted >= want
	})
	if !settled {
		t.Fatalf("show interfaces --json: no harvest saw %d packets on both sides within 10 s: %+v; links: %s", packets, ifs, s.LinkCounters())
	}
	n := ifs[0].NIC
	if n.RxPackets != want || *n.Accounted != want || n.NotAccounted == nil || *n.NotAccounted != 0 ||
		n.RxDropped+n.RxMissed+n.RxErrors != 0 || n.Error != "" {
		t.Errorf("show interfaces --json NIC: %+v (accounted %d, not accounted %v); want %d received and accounted, none lost; links: %s",
			*n, *n.Accounted, n.NotAccounted, packets, s.LinkCounters())
	}
	m, err := e2eScrape(s.Capture, metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"spanflow_interface_nic_rx_packets_total", "spanflow_interface_accounted_packets_total"} {
		if v := m[fmt.Sprintf("%s{interface=%q}", name, s.RxName)]; v != float64(packets) {
			t.Errorf("/metrics %s{interface=%q} = %v, want %d", name, s.RxName, v, packets)
		}
	}
	for _, name := range []string{"spanflow_interface_nic_rx_dropped_total", "spanflow_interface_nic_rx_missed_total"} {
		if v, ok := m[fmt.Sprintf("%s{interface=%q}", name, s.RxName)]; !ok || v != 0 {
			t.Errorf("/metrics %s{interface=%q} = %v (present: %v), want 0", name, s.RxName, v, ok)
		}
	}
}

// e2eSplitApplications takes what application classification adds to
// `show cache` and `show top-talkers` — the application table (or the
// line saying there is none), the Application column — out of the
// router's view the golden files hold, so that they hold whether or not
// the live daemon classifies. apps has the application table's lines, or
// the column's values (header first).
func e2eSplitApplications(out string) (router string, apps []string) {
	for _, mark := range []string{"\nApplications of the exported flows", "\nNo application table"} {
		if i := strings.Index(out, mark); i >= 0 {
			return out[:i], strings.Split(strings.TrimSpace(out[i:]), "\n")
		}
	}
	lines := strings.SplitAfter(out, "\n")
	if !strings.HasSuffix(lines[0], " Application\n") {
		return out, nil
	}
	var b strings.Builder
	for _, l := range lines {
		if strings.Contains(l, "top talkers shown") || l == "" {
			b.WriteString(l)
			continue
		}
		i := strings.LastIndexByte(strings.TrimSuffix(l, "\n"), ' ')
		apps = append(apps, strings.TrimSpace(l[i:]))
		b.WriteString(strings.TrimRight(l[:i], " ") + "\n")
	}
	return b.String(), apps
}

// e2eCheckApplicationText checks what e2eSplitApplications took out: the
// known capture's flows still in the table are a UDP flow to port 514
// (Syslog, a guess unless the payload says so), ICMP and ICMPv6 (by
// protocol) and TCP to 9090 (whatever its payload is).
func e2eCheckApplicationText(t *testing.T, show string, apps []string) {
	t.Helper()
	switch {
	case strings.HasPrefix(show, "cache"):
		if len(apps) == 0 || apps[0] != "No application table: application classification is off." && !strings.HasPrefix(apps[len(apps)-1], "Total:") {
			t.Errorf("show cache: no application table nor a line saying classification is off: %q", apps)
		}
	case strings.HasPrefix(show, "top-talkers") && apps != nil:
		if apps[0] != "Application" {
			t.Errorf("show %s: Application column header %q", show, apps[0])
		}
		for _, a := range apps[1:] {
			switch a {
			case "Syslog", "Syslog?", "ICMP", "ICMPV6", "-", "HTTP", "HTTP?":
			default:
				t.Errorf("show %s: application %q; the capture's flows are Syslog, ICMP, ICMPV6 and TCP to 9090", show, a)
			}
		}
	}
}

// e2eCheckApplicationViews checks `show applications` and the application
// filter of top-talkers against the capture: every flow still in the
// table is active under some application, the ended ones are counted as
// exported flows. With classification off (the live daemon does not
// classify yet), both say so.
func e2eCheckApplicationViews(t *testing.T, d *e2eDaemon, active, ended int) {
	t.Helper()
	var v struct {
		Classifying  bool
		Applications []struct {
			Name                                      string
			Flows, Packets, Bytes, Payload, PortGuess uint64
			Active                                    int
		}
	}
	d.showJSON(t, &v, "applications")
	out, err := d.show("applications")
	if err != nil {
		t.Fatal(err)
	}
	syslog, err := d.show("top-talkers", "--app", "syslog")
	if !v.Classifying {
		if v.Applications != nil || out != "Application classification is off: no applications to show.\n" {
			t.Errorf("show applications with classification off: %+v\n%s", v, out)
		}
		if err == nil || !strings.Contains(err.Error(), "classification is off") {
			t.Errorf("show top-talkers --app syslog with classification off: %v %q; want an error saying so", err, syslog)
		}
		return
	}
	var flows uint64
	var inTable int
	for _, a := range v.Applications {
		flows += a.Flows
		inTable += a.Active
		if a.Payload+a.PortGuess > a.Flows {
			t.Errorf("show applications: %s has %d flows, %d by payload and %d guessed", a.Name, a.Flows, a.Payload, a.PortGuess)
		}
	}
	if inTable != active || flows != uint64(ended) || !strings.Contains(out, "\nTotal: ") {
		t.Errorf("show applications: %d flows active, %d exported; want %d and %d (one-way flows)\n%s", inTable, flows, active, ended, out)
	}
	if err != nil || !strings.Contains(syslog, "flows matched (application Syslog)") || strings.Contains(syslog, " 06 ") {
		t.Errorf("show top-talkers --app syslog: %v\n%s", err, syslog)
	}
}

// e2eScrape fetches /metrics from addr inside ns. The socket is made on a
// thread in the namespace; the request goes over it from anywhere.
func e2eScrape(ns *probetest.NetNS, addr string) (map[string]float64, error) {
	var conn net.Conn
	err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET http://%s/metrics: %s", addr, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// TestE2EMetricsCountEveryPacketSent replays a capture into spanflow run
// with --metrics on the namespace's loopback: /metrics must show every
// frame as accounted (packets and IP bytes), no other outcome, and every
// flow created in the cache.
func TestE2EMetricsCountEveryPacketSent(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	c := e2eCapture(t, s, probetest.GenConfig{Packets: 20_000, Flows: 700, Seed: 5})
	const addr = "127.0.0.1:9464"
	d := startE2EDaemon(t, bin, s.Capture, e2eControlPath(t), "-i", s.RxName, "-n", "127.0.0.1:2055",
		"--xdp-mode", "native", "--xdp-action", "drop", "--pin-dir", e2ePinDir(t), "--detach",
		"--harvest-interval", "100ms", "--inactive-timeout", "10m", "--fin-grace", "10m", "--metrics", addr)
	m, err := e2eScrape(s.Capture, addr)
	if err != nil {
		t.Fatalf("scrape before any traffic: %v\n%s", err, d.Out.String())
	}
	if v, ok := m[`spanflow_datapath_packets_total{outcome="accounted"}`]; !ok || v != 0 {
		t.Errorf("before any traffic, accounted packets = %v (present: %v), want 0", v, ok)
	}

	replay, err := s.StartReplay(context.Background(), t, c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Wait(); err != nil {
		t.Fatal(err)
	}
	const accounted = `spanflow_datapath_packets_total{outcome="accounted"}`
	exportertest.Within(15*time.Second, func() bool {
		m, err = e2eScrape(s.Capture, addr)
		return err == nil && m[accounted] >= float64(c.Packets) && m["spanflow_flows_created_total"] >= float64(len(c.Flows))
	})
	if err != nil {
		t.Fatal(err)
	}
	if m[accounted] != float64(c.Packets) {
		t.Errorf("%s = %v, want %d (the frames sent); links: %s", accounted, m[accounted], c.Packets, s.LinkCounters())
	}
	if got := m[`spanflow_datapath_bytes_total{outcome="accounted"}`]; got != float64(c.IPBytes) {
		t.Errorf("accounted bytes = %v, want %d", got, c.IPBytes)
	}
	for _, name := range []string{"not_ip", "truncated", "malformed", "unsupported", "sampled_out", "map_full"} {
		if v, ok := m[fmt.Sprintf(`spanflow_datapath_packets_total{outcome=%q}`, name)]; !ok || v != 0 {
			t.Errorf("packets with outcome %s = %v (present: %v), want 0", name, v, ok)
		}
	}
	if m["spanflow_flows_created_total"] != float64(len(c.Flows)) || m["spanflow_flows_active"] != float64(len(c.Flows)) {
		t.Errorf("flows created %v, active %v; want %d each", m["spanflow_flows_created_total"], m["spanflow_flows_active"], len(c.Flows))
	}
	if m["spanflow_harvest_duration_seconds_count"] == 0 {
		t.Errorf("no harvest observed in spanflow_harvest_duration_seconds")
	}
	if code := d.Stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("spanflow exited with %d after SIGTERM, want 0:\n%s", code, d.Out.String())
	}
}
