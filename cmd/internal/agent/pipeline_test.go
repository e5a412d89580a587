package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter"
)

// TestLegacyDatagramsFitTheMTUOverIPv6: a v5 datagram of 30 records is
// 1464 bytes, too big for a 1500-byte MTU once IPv6 and UDP headers (48
// bytes) are added; to an IPv6 collector spanflow packs fewer records.
func TestLegacyDatagramsFitTheMTUOverIPv6(t *testing.T) {
	for _, tc := range []struct {
		listen  string
		maxData int
	}{{"127.0.0.1:0", 1500 - 28}, {"[::1]:0", 1500 - 48}} {
		ln, err := net.ListenPacket("udp", tc.listen)
		if err != nil {
			t.Skipf("no %s on this host: %v", tc.listen, err)
		}
		defer ln.Close()
		cfg := &Config{Collectors: []string{ln.LocalAddr().String()}, Version: 5, Transport: "udp",
			Export: exporter.Settings{MTU: 1500}, StreamQueue: 256}
		boot := time.Unix(1_700_000_000, 0)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		p, err := newPipeline(cfg, log, boot, func() time.Time { return boot.Add(time.Minute) }, nil)
		if err != nil {
			t.Fatal(err)
		}
		recs := make([]cache.Record, 90)
		for i := range recs {
			recs[i] = cache.Record{SrcAddr: netip.MustParseAddr("198.18.0.1"), DstAddr: netip.MustParseAddr("198.18.0.2"),
				SrcPort: uint16(i), DstPort: 80, Proto: 6, IPVersion: 4, Packets: 1, Bytes: 40, Start: boot, End: boot}
		}
		p.export(recs)
		if err := p.close(context.Background()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		got, biggest := 0, 0
		for got < len(recs) {
			ln.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _, err := ln.ReadFrom(buf)
			if err != nil {
				t.Fatalf("%s: after %d records: %v", tc.listen, got, err)
			}
			got += int(buf[2])<<8 | int(buf[3])
			biggest = max(biggest, n)
		}
		if biggest > tc.maxData {
			t.Errorf("%s: a %d-byte datagram; at most %d fit a 1500-byte MTU", tc.listen, biggest, tc.maxData)
		}
		if biggest+28 < 1400 {
			t.Errorf("%s: datagrams of %d bytes are far from full", tc.listen, biggest)
		}
	}
}

// TestOfflineExportReportsUndeliveredRecords: offline, records that never
// reached a collector (nobody listens, over TCP or UDP) make the run fail,
// saying so, instead of exiting 0.
func TestOfflineExportReportsUndeliveredRecords(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // a port, then nobody on it
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := &Config{Collectors: []string{addr}, Version: 10, Transport: transport, ReadFile: "capture.pcap",
			Export: exporter.Settings{MTU: 1500}, StreamQueue: 256}
		boot := time.Unix(1_700_000_000, 0)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		p, err := newPipeline(cfg, log, boot, func() time.Time { return boot.Add(time.Minute) }, nil)
		if err != nil {
			t.Fatalf("%s: %v", transport, err)
		}
		recs := make([]cache.Record, 3)
		for i := range recs {
			recs[i] = cache.Record{SrcAddr: netip.MustParseAddr("198.18.0.1"), DstAddr: netip.MustParseAddr("198.18.0.2"),
				SrcPort: uint16(i), DstPort: 80, Proto: 6, IPVersion: 4, Packets: 1, Bytes: 40, Start: boot, End: boot}
		}
		for range 3 { // UDP learns of the refusal from the ICMP answer to an earlier datagram
			p.export(recs)
			p.sync(time.Second)
		}
		err = p.close(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not every record was delivered") {
			t.Errorf("%s to a closed port: close returned %v; want the records reported undelivered", transport, err)
		}
	}
}

// TestBiflowPairsDirectionsWithDifferentToS: in wireshark-wiki's
// http.pcap the client sends with ToS 0x00 and the server answers with
// 0x10; --bidirectional gives one biflow carrying each direction's ToS.
func TestBiflowPairsDirectionsWithDifferentToS(t *testing.T) {
	path := filepath.Join("..", "..", "..", "testdata", "real", "wireshark-wiki", "http.pcap")
	client, server := netip.MustParseAddrPort("145.254.160.237:3371"), netip.MustParseAddrPort("216.239.59.99:80")
	var found []flowprint.JSON
	for _, r := range printedJSON(t, replayPrinted(t, path, "json", true, true)) {
		a, b := netip.AddrPortFrom(r.SrcAddr, r.SrcPort), netip.AddrPortFrom(r.DstAddr, r.DstPort)
		if a == client && b == server || a == server && b == client {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d records of %s <-> %s, want one biflow: %+v", len(found), client, server, found)
	}
	r := found[0]
	if r.RevPackets == nil || *r.RevPackets == 0 || r.ToS != 0x00 || r.RevToS == nil || *r.RevToS != 0x10 {
		t.Errorf("biflow %+v: want both directions, ToS 0x00 forward and 0x10 reverse", r)
	}
}
