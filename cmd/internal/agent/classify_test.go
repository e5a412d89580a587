package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/probe/probetest"
)

// The lecture's web server on port 9090, as the test sees it.
var (
	lectureClient = netip.MustParseAddr("198.18.0.10")
	lectureServer = netip.MustParseAddr("198.19.0.80")
)

const (
	lectureClientPort = 40000
	lectureServerPort = 9090
	lectureHost       = "www.example.com"
	// httpAppID is the applicationId of HTTP, restated by hand: engine 22
	// (nDPI) in the top byte, nDPI's protocol number 7 as the selector.
	httpAppID = 22<<24 | 7
)

// tcpSeg is one segment of a hand-built conversation.
type tcpSeg struct {
	fromClient bool
	flags      string // S, A, P, F
	payload    string
}

// writeCapture writes segs as an Ethernet pcap, 10 ms apart, between
// client:cport and server:sport, and returns its path.
func writeCapture(t *testing.T, client, server netip.Addr, cport, sport uint16, segs []tcpSeg) string {
	t.Helper()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	seq := [2]uint32{1000, 5000}
	var frames []probetest.PcapFrame
	for i, s := range segs {
		src, dst, sp, dp, me := client, server, cport, sport, 0
		if !s.fromClient {
			src, dst, sp, dp, me = server, client, sport, cport, 1
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Window: 65535,
			Seq: seq[me], Ack: seq[1-me],
			SYN: strings.Contains(s.flags, "S"), ACK: strings.Contains(s.flags, "A"),
			PSH: strings.Contains(s.flags, "P"), FIN: strings.Contains(s.flags, "F")}
		tcp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(1 + me)},
			DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(2 - me)}, EthernetType: layers.EthernetTypeIPv4}
		seq[me] += uint32(len(s.payload))
		if tcp.SYN || tcp.FIN {
			seq[me]++
		}
		frames = append(frames, probetest.PcapFrame{At: at.Add(time.Duration(i) * 10 * time.Millisecond),
			Layers: []gopacket.SerializableLayer{eth, ip, tcp, gopacket.Payload(s.payload)}})
	}
	return probetest.WritePcap(t, "flow.pcap", frames)
}

// lectureFlow is a client fetching / from the web server on 9090: the
// handshake, the request naming its Host, the answer, the close.
func lectureFlow() []tcpSeg {
	return []tcpSeg{
		{true, "S", ""},
		{false, "SA", ""},
		{true, "A", ""},
		{true, "PA", "GET / HTTP/1.1\r\nHost: " + lectureHost + "\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"},
		{false, "A", ""},
		{false, "PA", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"},
		{true, "A", ""},
		{true, "FA", ""},
		{false, "FA", ""},
		{true, "A", ""},
	}
}

// replayPrinted runs offline mode on path with --print in format and
// returns what it printed.
func replayPrinted(t *testing.T, path string, format flowprint.Format, bidir, noClassify bool) string {
	t.Helper()
	var out bytes.Buffer
	cfg := &Config{ReadFile: path, Cache: cache.DefaultConfig(), Print: format, Stdout: &out, NoClassify: noClassify}
	cfg.Cache.Bidirectional = bidir
	if _, err := Replay(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func printedJSON(t *testing.T, out string) []flowprint.JSON {
	t.Helper()
	var recs []flowprint.JSON
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r flowprint.JSON
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("--print=json line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestOfflineNamesHTTPOnPort9090 is the lecture's example: a web server
// on port 9090, no port configured, comes out of offline mode as HTTP by
// its payload, with the Host it was asked for, in both directions'
// records and in the biflow.
func TestOfflineNamesHTTPOnPort9090(t *testing.T) {
	path := writeCapture(t, lectureClient, lectureServer, lectureClientPort, lectureServerPort, lectureFlow())
	for _, bidir := range []bool{false, true} {
		recs := printedJSON(t, replayPrinted(t, path, "json", bidir, false))
		want := 2
		if bidir {
			want = 1
		}
		if len(recs) != want {
			t.Fatalf("bidirectional %v: %d records, want %d: %+v", bidir, len(recs), want, recs)
		}
		var pkts uint64
		for _, r := range recs {
			if r.Application != "HTTP" || r.AppVerdict != "payload" || r.AppServer != lectureHost {
				t.Errorf("bidirectional %v: %s:%d -> %s:%d is %q (%s, server %q), want HTTP by payload from %s",
					bidir, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Application, r.AppVerdict, r.AppServer, lectureHost)
			}
			pkts += r.Packets
			if r.RevPackets != nil {
				pkts += *r.RevPackets
			}
		}
		if pkts != uint64(len(lectureFlow())) {
			t.Errorf("bidirectional %v: %d packets in the records, the capture has %d", bidir, pkts, len(lectureFlow()))
		}
	}

	// The text form shows the name in its column, unmarked.
	text := replayPrinted(t, path, "text", false, false)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "Application") {
		t.Fatalf("text:\n%s", text)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) < 2 || f[len(f)-2] != "HTTP" {
			t.Errorf("text line %q: want application HTTP before the end reason", l)
		}
	}

	// Off: no application.
	for _, r := range printedJSON(t, replayPrinted(t, path, "json", false, true)) {
		if r.Application != "" || r.AppVerdict != "unknown" || r.AppServer != "" {
			t.Errorf("classification off, yet %q (%s, %q)", r.Application, r.AppVerdict, r.AppServer)
		}
	}
}

// TestOfflineMarksPortGuesses: a connection to port 80 that carries no
// payload is HTTP only by its port, which the views mark; the same on
// port 9090 is unknown.
func TestOfflineMarksPortGuesses(t *testing.T) {
	noPayload := []tcpSeg{{true, "S", ""}, {false, "SA", ""}, {true, "A", ""}, {true, "FA", ""}, {false, "FA", ""}, {true, "A", ""}}
	for _, tc := range []struct {
		port              uint16
		app, verdict, col string
	}{{80, "HTTP", "port-guess", "HTTP?"}, {9090, "", "unknown", "-"}} {
		path := writeCapture(t, lectureClient, lectureServer, lectureClientPort, tc.port, noPayload)
		for _, r := range printedJSON(t, replayPrinted(t, path, "json", true, false)) {
			if r.Application != tc.app || r.AppVerdict != tc.verdict || r.AppServer != "" {
				t.Errorf("port %d: %q (%s, %q), want %q (%s)", tc.port, r.Application, r.AppVerdict, r.AppServer, tc.app, tc.verdict)
			}
		}
		text := replayPrinted(t, path, "text", true, false)
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) != 2 {
			t.Fatalf("text:\n%s", text)
		}
		if !strings.Contains(lines[1], " "+tc.col+" ") {
			t.Errorf("port %d: text line %q lacks the column %q", tc.port, lines[1], tc.col)
		}
	}
}

// TestExportCarriesTheApplication: v9 and IPFIX exports of the lecture's
// flow carry applicationId 22:7 (RFC 6759: engine 22 = nDPI, selector 7 =
// HTTP) in every record, and the application options data names it.
func TestExportCarriesTheApplication(t *testing.T) {
	path := writeCapture(t, lectureClient, lectureServer, lectureClientPort, lectureServerPort, lectureFlow())
	for _, version := range []int{9, 10} {
		for _, bidir := range []bool{false, true} {
			ln, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cfg := &Config{ReadFile: path, Cache: cache.DefaultConfig(), Collectors: []string{ln.LocalAddr().String()},
				Version: version, Transport: "udp", Export: exporter.Settings{MTU: 1500}, StreamQueue: 16}
			cfg.Cache.Bidirectional = bidir
			if _, err := Replay(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			d := decode.NewDecoder()
			var recs []cache.Record
			var info *decode.ExporterInfo
			buf := make([]byte, 65536)
			for {
				ln.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				n, from, err := ln.ReadFrom(buf)
				if err != nil {
					break // all sent before Replay returned
				}
				src := from.(*net.UDPAddr).AddrPort()
				msg, err := d.Decode(src, buf[:n])
				if err != nil {
					t.Fatalf("v%d: %v", version, err)
				}
				recs = append(recs, msg.Records...)
				if i := d.Exporter(src, uint16(version), 0); i != nil {
					info = i
				}
			}
			want := 2
			if bidir {
				want = 1
			}
			if len(recs) != want {
				t.Fatalf("v%d bidirectional %v: %d records decoded, want %d", version, bidir, len(recs), want)
			}
			for _, r := range recs {
				if r.AppID != httpAppID {
					t.Errorf("v%d bidirectional %v: %s:%d -> %s:%d applicationId %#x, want %#x",
						version, bidir, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.AppID, httpAppID)
				}
			}
			if info == nil {
				t.Fatalf("v%d: no options data decoded", version)
			}
			if a, ok := info.Applications[httpAppID]; !ok || a.Name != "HTTP" {
				t.Errorf("v%d: application %#x named %+v (%d names), want HTTP", version, httpAppID, a, len(info.Applications))
			}
			if a := info.Applications[22<<24|91]; a.Name != "TLS" {
				t.Errorf("v%d: application 22:91 named %+v, want TLS", version, a)
			}
		}
	}
}

// TestClassifiesByDefault: live and offline classify unless told not to.
func TestClassifiesByDefault(t *testing.T) {
	for _, cfg := range []*Config{{}, {ReadFile: "x.pcap"}} {
		if !cfg.classifies() {
			t.Errorf("%+v does not classify by default", cfg)
		}
		cfg.NoClassify = true
		if cfg.classifies() {
			t.Errorf("%+v: NoClassify, yet classifying", cfg)
		}
	}
}
