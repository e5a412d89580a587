package cache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache/app"
)

// labelled is a record of app id, known as kind, with the given counters
// (rev > 0 makes it a biflow with a reverse side).
func labelled(id app.ID, kind AppKind, server string, pkts, bytes, revPkts, revBytes uint64) Record {
	return Record{AppID: AppIDOf(id), AppKind: kind, AppServer: server,
		Packets: pkts, Bytes: bytes, RevPackets: revPkts, RevBytes: revBytes, Bidirectional: revPkts > 0}
}

func TestAppTallyCountsOneWayFlowsByApplicationAndKind(t *testing.T) {
	var tally AppTally
	tally.Add([]Record{
		labelled(app.HTTP, AppPayload, "a.example", 5, 500, 4, 4000), // a biflow: two one-way flows
		labelled(app.HTTP, AppPortGuess, "", 2, 120, 0, 0),
		labelled(app.DNS, AppPortGuess, "", 1, 60, 0, 0),
	})
	tally.Add([]Record{
		labelled(app.ICMP, AppProtocol, "", 3, 252, 0, 0),
		labelled(app.Unknown, AppUnknown, "", 7, 700, 0, 0),
		{AppID: AppIDOf(60000), AppKind: AppPayload, Packets: 1, Bytes: 40}, // no nDPI name: Unknown
		{AppID: 21<<24 | 5, AppKind: AppPayload, Packets: 1, Bytes: 40},     // another engine: Unknown
		labelled(app.DNS, AppPayload, "b.example", 0, 0, 0, 0),              // no packets: no flow
	})
	want := []AppStats{
		{ID: app.HTTP, Name: "HTTP", Flows: 3, Packets: 11, Bytes: 4620, Payload: 2, PortGuess: 1},
		{ID: app.Unknown, Name: "Unknown", Flows: 3, Packets: 9, Bytes: 780},
		{ID: app.ICMP, Name: "ICMP", Flows: 1, Packets: 3, Bytes: 252, Protocol: 1},
		{ID: app.DNS, Name: "DNS", Flows: 1, Packets: 1, Bytes: 60, PortGuess: 1},
	}
	if diff := cmp.Diff(want, tally.Snapshot(0)); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}
	got := tally.Snapshot(5)
	if diff := cmp.Diff([]ServerCount{{"a.example", 2}}, got[0].Servers); diff != "" {
		t.Errorf("HTTP's servers (-want +got):\n%s", diff)
	}
	if got[3].Servers != nil {
		t.Errorf("DNS's servers %v: a record without packets named none", got[3].Servers)
	}
}

// TestAppTallyServerNamesStayBoundedAndKeepTheFrequent feeds many
// distinct names once each around a few frequent ones: the row keeps at
// most MaxServerNames names, and the frequent ones come first, in order.
func TestAppTallyServerNamesStayBoundedAndKeepTheFrequent(t *testing.T) {
	var tally AppTally
	for i := range 5000 {
		recs := []Record{labelled(app.TLS, AppPayload, fmt.Sprintf("host%d.example", i), 1, 100, 0, 0)}
		if i%5 == 0 {
			recs = append(recs, labelled(app.TLS, AppPayload, "big.example", 1, 100, 0, 0))
		}
		if i%10 == 0 {
			recs = append(recs, labelled(app.TLS, AppPayload, "mid.example", 1, 100, 0, 0))
		}
		tally.Add(recs)
	}
	tally.mu.Lock()
	n := len(tally.rows[app.TLS].servers)
	tally.mu.Unlock()
	if n > MaxServerNames {
		t.Errorf("%d server names kept, want at most %d", n, MaxServerNames)
	}
	s := tally.Snapshot(2)[0].Servers
	if len(s) != 2 || s[0].Name != "big.example" || s[1].Name != "mid.example" || s[0].Flows < 1000 || s[1].Flows < 500 {
		t.Errorf("top servers %v; want big.example (≥ 1000 flows) then mid.example (≥ 500)", s)
	}
}

func TestStatsTextHasTheApplicationTable(t *testing.T) {
	s := Stats{MaxFlows: 10, Applications: []AppStats{
		{Name: "HTTP", Flows: 3, Packets: 11, Bytes: 4620, Payload: 2, PortGuess: 1},
		{Name: "Unknown", Flows: 3, Packets: 9, Bytes: 780},
	}}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `
Applications of the exported flows (one-way flows, as in the protocol table;
Guessed: flows named by a well-known port alone, not by their payload)
Application              Flows  Guessed     Packets          Bytes
HTTP                         3        1          11           4620
Unknown                      3        0           9            780
Total:                       6        1          20           5400
`
	got := b.String()
	if i := strings.Index(got, "\nApplications"); i < 0 {
		t.Errorf("no application table in:\n%s", got)
	} else if diff := cmp.Diff(want, got[i:]); diff != "" {
		t.Errorf("application table (-want +got):\n%s", diff)
	}
	s.Applications = nil // classification off: no table
	b.Reset()
	s.WriteText(&b)
	if strings.Contains(b.String(), "Applications") {
		t.Errorf("an application table without applications:\n%s", b.String())
	}
}

// appsByPort is a stand-in classifier: port 80 by payload, 53 guessed,
// the rest unknown.
func appsByPort(k bpf.FlowKey) AppLabel {
	switch {
	case k.DstPort == 80 || k.SrcPort == 80:
		return AppLabel{ID: app.HTTP, Kind: AppPayload, Server: "www.example"}
	case k.DstPort == 53 || k.SrcPort == 53:
		return AppLabel{ID: app.DNS, Kind: AppPortGuess}
	}
	return AppLabel{}
}

func appTable(t *testing.T) *Table {
	tb := newTestTable(t, DefaultConfig(), &fakeClock{})
	tb.Merge([]Delta{
		{Key: key(protoTCP, "198.18.0.1:40000", "198.18.0.2:80"), Packets: 100, Bytes: 150_000, FirstNs: 1, LastNs: 2},
		{Key: key(protoUDP, "198.18.0.3:5000", "198.18.0.4:53"), Packets: 10, Bytes: 900, FirstNs: 1, LastNs: 2},
		{Key: key(protoUDP, "198.18.0.5:5000", "198.18.0.4:53"), Packets: 20, Bytes: 1800, FirstNs: 1, LastNs: 2},
		{Key: key(protoUDP, "198.18.0.6:7", "198.18.0.7:9"), Packets: 50, Bytes: 5000, FirstNs: 1, LastNs: 2},
		{Key: key(protoTCP, "198.18.0.8:40000", "198.18.0.2:80"), Packets: 1, Bytes: 60, FirstNs: 1, LastNs: 2},
	})
	return tb
}

func TestTopTalkersWithApplications(t *testing.T) {
	tb := appTable(t)
	var b strings.Builder
	tt := tb.TopTalkersOf(TalkerQuery{N: 3, By: ByBytes, AppOf: appsByPort})
	if err := tt.WriteText(&b, nil); err != nil {
		t.Fatal(err)
	}
	want := `SrcIf SrcIPaddress DstIf DstIPaddress Pr SrcP DstP Bytes Application
2     198.18.0.1   -     198.18.0.2   06 9C40 0050 150K  HTTP
2     198.18.0.6   -     198.18.0.7   11 0007 0009 5000  -
2     198.18.0.5   -     198.18.0.4   11 1388 0035 1800  DNS?
3 of 3 top talkers shown. 5 flows processed.
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("top talkers text (-want +got):\n%s", diff)
	}
	if f := tt.Flows[0]; f.Application != "HTTP" || f.AppVerdict != "payload" || f.AppServer != "www.example" || f.App() != app.HTTP {
		t.Errorf("top talker %+v: want HTTP by payload from www.example", f)
	}
	if f := tt.Flows[1]; f.Application != "" || f.AppVerdict != "unknown" || f.AppID != 0 {
		t.Errorf("second talker %+v: want unknown", f)
	}
}

func TestTopTalkersFilterAndSortByApplication(t *testing.T) {
	tb := appTable(t)
	srcs := func(tt TopTalkers) (out []string) {
		for _, f := range tt.Flows {
			out = append(out, f.SrcAddr.String()+" "+appText(&f.Record))
		}
		return out
	}
	tests := []struct {
		q       TalkerQuery
		want    []string
		matched int
	}{
		{TalkerQuery{N: 10, By: ByBytes, FilterApp: true, App: app.DNS},
			[]string{"198.18.0.5 DNS?", "198.18.0.3 DNS?"}, 2},
		{TalkerQuery{N: 1, By: ByPackets, FilterApp: true, App: app.HTTP},
			[]string{"198.18.0.1 HTTP"}, 2},
		{TalkerQuery{N: 10, By: ByBytes, FilterApp: true, App: app.Unknown},
			[]string{"198.18.0.6 -"}, 1},
		{TalkerQuery{N: 10, By: ByBytes, FilterApp: true, App: app.TLS}, nil, 0},
		// The four largest by bytes, listed by application, unknown last.
		{TalkerQuery{N: 4, By: ByApplication},
			[]string{"198.18.0.5 DNS?", "198.18.0.3 DNS?", "198.18.0.1 HTTP", "198.18.0.6 -"}, 0},
	}
	for _, tc := range tests {
		tc.q.AppOf = appsByPort
		tt := tb.TopTalkersOf(tc.q)
		if diff := cmp.Diff(tc.want, srcs(tt)); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.q, diff)
		}
		if tt.Matched != tc.matched || tt.Processed != 5 {
			t.Errorf("%+v: matched %d of %d; want %d of 5", tc.q, tt.Matched, tt.Processed, tc.matched)
		}
	}
	var b strings.Builder
	tb.TopTalkersOf(TalkerQuery{N: 1, By: ByBytes, AppOf: appsByPort, FilterApp: true, App: app.DNS}).WriteText(&b, nil)
	if want := "1 of 1 top talkers shown. 2 of 5 flows matched (application DNS).\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("filtered summary:\n%s\nwant it to end with %q", b.String(), want)
	}
}

func TestActiveAppsCountsEveryFlowInTheTable(t *testing.T) {
	tb := appTable(t)
	got := tb.ActiveApps(appsByPort)
	if diff := cmp.Diff(map[app.ID]int{app.HTTP: 2, app.DNS: 2, app.Unknown: 1}, got); diff != "" {
		t.Errorf("active flows by application (-want +got):\n%s", diff)
	}
}
