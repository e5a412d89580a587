package agent

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/cmd/internal/control"
)

var appsStart = time.Unix(1_800_000_000, 0)

func appKey(proto uint8, src, dst string) bpf.FlowKey {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return bpf.FlowKey{SrcAddr: s.Addr().As16(), DstAddr: d.Addr().As16(), SrcPort: s.Port(), DstPort: d.Port(),
		Proto: proto, IpVersion: 4, Ifindex: 2}
}

const httpGet = "GET / HTTP/1.1\r\nHost: www.example\r\nAccept: */*\r\n\r\n"

// appsAgent is an agent whose classifier has seen, and whose pipeline
// exported: an HTTP conversation on port 9090 (named by its payload, both
// directions), a flow to port 53 with no payload (a DNS guess) and a
// ping. Still in the table: another HTTP conversation on 9090 and a flow
// no one can name. With off, classification is off.
func appsAgent(t *testing.T, off bool) *Agent {
	t.Helper()
	clock := cache.NewCaptureClock(appsStart)
	tb, err := cache.NewTable(cache.Config{InactiveTimeout: 15 * time.Second, ActiveTimeout: 30 * time.Minute, MaxFlows: 1024}, clock)
	if err != nil {
		t.Fatal(err)
	}
	d := &Agent{cfg: &Config{}, table: tb, pipe: &pipeline{}, start: appsStart, harvestHist: newHarvestHistogram()}
	if !off {
		d.pipe.apps = NewClassifier()
	}
	ns := uint64(appsStart.UnixNano())
	feed := func(k bpf.FlowKey, packets, bytes uint64, payload string) {
		delta := cache.Delta{Key: k, Packets: packets, Bytes: bytes, FirstNs: ns, LastNs: ns + 1e6}
		tb.Merge([]cache.Delta{delta})
		if d.pipe.apps != nil {
			d.pipe.apps.Observe(delta, []byte(payload), len(payload))
		}
	}
	web := appKey(6, "198.18.0.1:40000", "198.18.0.2:9090")
	webBack, _ := cache.ReverseKey(web)
	feed(web, 4, 400, httpGet)
	feed(webBack, 3, 3000, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	feed(appKey(17, "198.18.0.3:5000", "198.18.0.4:53"), 1, 60, "")
	ping := appKey(1, "198.18.0.5:0", "198.18.0.6:0")
	ping.DstPort = 8 << 8
	feed(ping, 2, 168, "")
	if err := d.pipe.export(tb.Flush(nil)); err != nil {
		t.Fatal(err)
	}
	feed(appKey(6, "198.18.0.7:40001", "198.18.0.2:9090"), 5, 900, httpGet)
	feed(appKey(17, "198.18.0.8:7", "198.18.0.9:9"), 2, 200, "")
	return d
}

func appsShow(t *testing.T, d *Agent, asJSON bool, what string, args ...string) string {
	t.Helper()
	var b strings.Builder
	if err := d.show(control.Request{Show: what, Args: args, JSON: asJSON}, &b); err != nil {
		t.Fatalf("show %s %v: %v", what, args, err)
	}
	return b.String()
}

func TestShowApplications(t *testing.T) {
	d := appsAgent(t, false)
	var v applicationsView
	if err := json.Unmarshal([]byte(appsShow(t, d, true, "applications")), &v); err != nil {
		t.Fatal(err)
	}
	want := applicationsView{Classifying: true, Since: appsStart, Applications: []cache.AppStats{
		{ID: app.HTTP, Name: "HTTP", Flows: 2, Packets: 7, Bytes: 3400, Payload: 2, Active: 1,
			Servers: []cache.ServerCount{{Name: "www.example", Flows: 2}}},
		{ID: app.ICMP, Name: "ICMP", Flows: 1, Packets: 2, Bytes: 168, Protocol: 1},
		{ID: app.DNS, Name: "DNS", Flows: 1, Packets: 1, Bytes: 60, PortGuess: 1},
		{ID: app.Unknown, Name: "Unknown", Active: 1},
	}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("show applications --json (-want +got):\n%s", diff)
	}

	text := appsShow(t, d, false, "applications")
	_, rows, _ := strings.Cut(text, "\n")
	wantRows := `Payload: named by their payload; Guessed: by a well-known port alone; the rest by IP protocol
Application              Flows  Payload  Guessed     Packets          Bytes  Active  Top servers (flows)
HTTP                         2        2        0           7           3400       1  www.example (2)
ICMP                         1        0        0           2            168       0
DNS                          1        0        1           1             60       0
Unknown                      0        0        0           0              0       1
Total:                       4        2        1          10           3628       2
`
	if !strings.HasPrefix(text, "Applications since 2027-01-15T08:00:00Z (") {
		t.Errorf("show applications header: %q", text)
	}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("show applications (-want +got):\n%s", diff)
	}

	off := appsAgent(t, true)
	if got := appsShow(t, off, false, "applications"); got != "Application classification is off: no applications to show.\n" {
		t.Errorf("show applications, classification off: %q", got)
	}
	if err := json.Unmarshal([]byte(appsShow(t, off, true, "applications")), &v); err != nil || v.Classifying || v.Applications != nil {
		t.Errorf("show applications --json, classification off: %+v %v", v, err)
	}
}

func TestShowCacheHasTheApplicationTable(t *testing.T) {
	d := appsAgent(t, false)
	text := appsShow(t, d, false, "cache")
	for _, row := range []string{
		"\nApplication              Flows  Guessed     Packets          Bytes\n",
		"\nHTTP                         2        0           7           3400\n",
		"\nDNS                          1        1           1             60\n",
		"\nTotal:                       4        1          10           3628\n",
	} {
		if !strings.Contains(text, row) {
			t.Errorf("show cache lacks %q:\n%s", row, text)
		}
	}
	var s cache.Stats
	if err := json.Unmarshal([]byte(appsShow(t, d, true, "cache")), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Applications) != 3 || s.Applications[0].Name != "HTTP" || s.Applications[0].Payload != 2 {
		t.Errorf("show cache --json applications: %+v; want HTTP (2 by payload), ICMP, DNS", s.Applications)
	}
	if text := appsShow(t, appsAgent(t, true), false, "cache"); !strings.HasSuffix(text, "\nNo application table: application classification is off.\n") {
		t.Errorf("show cache, classification off, ends:\n%s", text)
	}
}

func TestShowTopTalkersByApplication(t *testing.T) {
	d := appsAgent(t, false)
	want := `SrcIf SrcIPaddress DstIf DstIPaddress Pr SrcP DstP Bytes Application
2     198.18.0.7   -     198.18.0.2   06 9C41 2382 900   HTTP
2     198.18.0.8   -     198.18.0.9   11 0007 0009 200   -
2 of 10 top talkers shown. 2 flows processed.
`
	if diff := cmp.Diff(want, appsShow(t, d, false, "top-talkers")); diff != "" {
		t.Errorf("show top-talkers (-want +got):\n%s", diff)
	}
	for _, name := range []string{"http", "HTTP"} {
		got := appsShow(t, d, false, "top-talkers", "--app", name)
		if !strings.Contains(got, "198.18.0.7") || strings.Contains(got, "198.18.0.8") ||
			!strings.HasSuffix(got, "1 of 10 top talkers shown. 1 of 2 flows matched (application HTTP).\n") {
			t.Errorf("show top-talkers --app %s:\n%s", name, got)
		}
	}
	var tt cache.TopTalkers
	if err := json.Unmarshal([]byte(appsShow(t, d, true, "top-talkers", "--app", "unknown")), &tt); err != nil {
		t.Fatal(err)
	}
	if len(tt.Flows) != 1 || tt.Flows[0].Proto != 17 || tt.App != "Unknown" || tt.Matched != 1 || !tt.Applications {
		t.Errorf("show top-talkers --app unknown --json: %+v", tt)
	}
	if err := json.Unmarshal([]byte(appsShow(t, d, true, "top-talkers", "--sort", "application")), &tt); err != nil {
		t.Fatal(err)
	}
	if len(tt.Flows) != 2 || tt.Flows[0].Application != "HTTP" || tt.Flows[0].AppVerdict != "payload" || tt.By != cache.ByApplication {
		t.Errorf("show top-talkers --sort application --json: %+v", tt)
	}

	for _, tc := range []struct {
		off     bool
		args    []string
		wantErr string
	}{
		{false, []string{"--app", "nosuch"}, "not an application name"},
		{false, []string{"--sort", "flows"}, "bytes, packets or application"},
		{true, []string{"--app", "HTTP"}, "classification is off"},
		{true, []string{"--sort", "app"}, "classification is off"},
	} {
		err := appsAgent(t, tc.off).show(control.Request{Show: "top-talkers", Args: tc.args}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("top-talkers %v (classification off: %v): %v; want an error saying %q", tc.args, tc.off, err, tc.wantErr)
		}
	}
	if got := appsShow(t, appsAgent(t, true), false, "top-talkers"); strings.Contains(got, "Application") {
		t.Errorf("an Application column with classification off:\n%s", got)
	}
}

// appsMetrics collects the application series alone, so the test does not
// depend on the rest of the agent's metrics.
type appsMetrics struct{ d *Agent }

func (m appsMetrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }
func (m appsMetrics) Collect(ch chan<- prometheus.Metric) { m.d.collectApps(ch) }

func TestApplicationMetrics(t *testing.T) {
	d := appsMetrics{appsAgent(t, false)}
	want := `
# HELP spanflow_application_flows_total One-way flows exported, by application: nDPI 4.2's name, Unknown when unclassified, so at most the ~300 names of nDPI's table.
# TYPE spanflow_application_flows_total counter
spanflow_application_flows_total{application="DNS"} 1
spanflow_application_flows_total{application="HTTP"} 2
spanflow_application_flows_total{application="ICMP"} 1
# HELP spanflow_application_bytes_total Bytes of the flows exported, by application (nDPI 4.2's names and Unknown: bounded).
# TYPE spanflow_application_bytes_total counter
spanflow_application_bytes_total{application="DNS"} 60
spanflow_application_bytes_total{application="HTTP"} 3400
spanflow_application_bytes_total{application="ICMP"} 168
# HELP spanflow_application_packets_total Packets of the flows exported, by application (nDPI 4.2's names and Unknown: bounded).
# TYPE spanflow_application_packets_total counter
spanflow_application_packets_total{application="DNS"} 1
spanflow_application_packets_total{application="HTTP"} 7
spanflow_application_packets_total{application="ICMP"} 2
# HELP spanflow_application_verdicts_total One-way flows exported, by how their application was known: payload, port_guess or unknown (the classifier gave up), protocol (IP protocol number).
# TYPE spanflow_application_verdicts_total counter
spanflow_application_verdicts_total{verdict="payload"} 2
spanflow_application_verdicts_total{verdict="port_guess"} 1
spanflow_application_verdicts_total{verdict="protocol"} 1
spanflow_application_verdicts_total{verdict="unknown"} 0
# HELP spanflow_classifier_conversations_total Conversations (both directions of a flow) the classifier started.
# TYPE spanflow_classifier_conversations_total counter
spanflow_classifier_conversations_total 5
# HELP spanflow_classifier_conversations Conversations the classifier keeps: those with a flow in the table.
# TYPE spanflow_classifier_conversations gauge
spanflow_classifier_conversations 2
`
	names := []string{"spanflow_application_flows_total", "spanflow_application_bytes_total", "spanflow_application_packets_total",
		"spanflow_application_verdicts_total", "spanflow_classifier_conversations_total", "spanflow_classifier_conversations"}
	if err := testutil.CollectAndCompare(d, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(d, "spanflow_classifier_finished_total"); n != 1 {
		t.Errorf("spanflow_classifier_finished_total: %d series, want 1", n)
	}
	if n := testutil.CollectAndCount(appsMetrics{appsAgent(t, true)}, names...); n != 0 {
		t.Errorf("%d application series with classification off, want none", n)
	}
}

func TestServerTextQuotesWhatIsNotPlain(t *testing.T) {
	for in, want := range map[string]string{"www.example": "www.example", "a b": `"a b"`, "x\x1b[2J": `"x\x1b[2J"`} {
		if got := serverText(in); got != want {
			t.Errorf("serverText(%q) = %s, want %s", in, got, want)
		}
	}
}
