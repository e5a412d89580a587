package cache

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTopTalkers(t *testing.T) {
	big := key(protoTCP, "198.18.0.1:40000", "198.18.0.2:80")   // few huge packets
	chatty := key(protoUDP, "198.18.0.3:5000", "198.18.0.4:53") // many small ones
	tieLow := key(protoUDP, "198.18.0.5:1", "198.18.0.9:2")
	tieHigh := key(protoUDP, "198.18.0.6:1", "198.18.0.9:2")
	deltas := []Delta{
		{Key: big, Packets: 100, Bytes: 150_000, FirstNs: 1, LastNs: 2},
		{Key: chatty, Packets: 1000, Bytes: 64_000, FirstNs: 1, LastNs: 2},
		{Key: tieHigh, Packets: 10, Bytes: 1000, FirstNs: 1, LastNs: 2},
		{Key: tieLow, Packets: 10, Bytes: 1000, FirstNs: 1, LastNs: 2},
	}
	tests := []struct {
		n    int
		by   SortBy
		want []string
	}{
		{n: 2, by: ByBytes, want: []string{"198.18.0.1", "198.18.0.3"}},
		{n: 1, by: ByPackets, want: []string{"198.18.0.3"}},
		{n: 10, by: ByPackets, want: []string{"198.18.0.3", "198.18.0.1", "198.18.0.5", "198.18.0.6"}},
		{n: 0, by: ByBytes, want: nil},
	}
	tb := newTestTable(t, DefaultConfig(), &fakeClock{})
	tb.Merge(deltas)
	for _, tc := range tests {
		tt := tb.TopTalkers(tc.n, tc.by)
		var got []string
		for _, r := range tt.Flows {
			got = append(got, r.SrcAddr.String())
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("top %d by %v (-want +got):\n%s", tc.n, tc.by, diff)
		}
		if tt.Processed != 4 {
			t.Errorf("processed %d flows, want 4", tt.Processed)
		}
	}
}

func TestTopTalkersSumBothDirections(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bidirectional = true
	tb := newTestTable(t, cfg, &fakeClock{})
	tb.Merge([]Delta{
		{Key: tcpAB, Packets: 5, Bytes: 500, FirstNs: 1, LastNs: 2},
		{Key: tcpBA, Packets: 5, Bytes: 5000, FirstNs: 3, LastNs: 4},
		{Key: udpAB, Packets: 1, Bytes: 4000, FirstNs: 1, LastNs: 2},
	})
	tt := tb.TopTalkers(1, ByBytes)
	if len(tt.Flows) != 1 || tt.Flows[0].Proto != protoTCP || tt.Flows[0].Bytes+tt.Flows[0].RevBytes != 5500 {
		t.Errorf("top talker %+v, want the TCP conversation with 5500 bytes", tt.Flows)
	}
}

func TestTopTalkersText(t *testing.T) {
	tb := newTestTable(t, DefaultConfig(), &fakeClock{})
	tb.Merge([]Delta{
		{Key: key(protoTCP, "198.18.0.1:40000", "198.18.0.2:80"), Packets: 100, Bytes: 150_000, FirstNs: 1, LastNs: 2},
		{Key: icmpKey(protoICMP, "198.18.0.3", "198.18.0.4", 8, 0), Packets: 3, Bytes: 252, FirstNs: 1, LastNs: 2},
	})
	var b strings.Builder
	err := tb.TopTalkers(5, ByBytes).WriteText(&b, func(i uint32) string { return map[uint32]string{2: "eth1"}[i] })
	if err != nil {
		t.Fatal(err)
	}
	want := `SrcIf SrcIPaddress DstIf DstIPaddress Pr SrcP DstP Bytes
eth1  198.18.0.1   -     198.18.0.2   06 9C40 0050 150K
eth1  198.18.0.3   -     198.18.0.4   01 0000 0800 252
2 of 5 top talkers shown. 2 flows processed.
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("top talkers text (-want +got):\n%s", diff)
	}
}

func TestParseSortBy(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    SortBy
		wantErr bool
	}{{"bytes", ByBytes, false}, {"packets", ByPackets, false}, {"application", ByApplication, false}, {"app", ByApplication, false}, {"flows", 0, true}} {
		got, err := ParseSortBy(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseSortBy(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestTopTalkersTextNamesTheOutput: DstIf is the output interface's
// name, Local, Null, or - when unknown, as in show cache verbose.
func TestTopTalkersTextNamesTheOutput(t *testing.T) {
	var b strings.Builder
	if err := verboseTable(t).TopTalkers(10, ByBytes).WriteText(&b, verboseNames); err != nil {
		t.Fatal(err)
	}
	want := `SrcIf SrcIPaddress DstIf DstIPaddress Pr SrcP DstP Bytes
eth0  198.18.1.10  eth7  198.19.0.5   06 03E8 0050 4000
eth0  198.18.9.9   Null  203.0.113.9  01 0000 0800 252
eth3  198.18.2.30  Local 192.0.2.1    11 0035 14E9 200
eth0  2001:db8::1  -     2001:db8::2  11 0001 0002 100
4 of 10 top talkers shown. 4 flows processed.
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("top talkers text (-want +got):\n%s", diff)
	}
}
