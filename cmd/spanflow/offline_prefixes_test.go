package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/cmd/internal/agent"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/probe/probetest"
)

// The prefix-table fixtures of cache/prefixes; what they map is written
// out by hand in the expectations below.
const (
	plainTable = "../../cache/prefixes/testdata/plain.txt"
	mrtTable   = "../../cache/prefixes/testdata/rib.mrt.bz2"
)

// prefixFlows are the capture's flows, one UDP packet each.
var prefixFlows = [][2]string{
	{"198.18.0.5", "198.18.0.200"},
	{"198.19.7.9", "192.0.2.77"},
	{"198.18.1.1", "203.0.113.9"},
	{"2001:db8:1::1", "2001:db8:2::1"},
}

// routing is what a printed record says of its addresses' routes.
type routing struct {
	srcAS, dstAS     uint32
	srcMask, dstMask uint8
}

func writePrefixCapture(t *testing.T) string {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var frames []probetest.PcapFrame
	for i, fl := range prefixFlows {
		src, dst := net.ParseIP(fl[0]), net.ParseIP(fl[1])
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0x5f, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0x5f, 0, 0, 2}}
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + i), DstPort: 53}
		var ip gopacket.SerializableLayer
		if src.To4() != nil {
			eth.EthernetType = layers.EthernetTypeIPv4
			v4 := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.To4(), DstIP: dst.To4(), Protocol: layers.IPProtocolUDP}
			udp.SetNetworkLayerForChecksum(v4)
			ip = v4
		} else {
			eth.EthernetType = layers.EthernetTypeIPv6
			v6 := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src, DstIP: dst, NextHeader: layers.IPProtocolUDP}
			udp.SetNetworkLayerForChecksum(v6)
			ip = v6
		}
		frames = append(frames, probetest.PcapFrame{At: start.Add(time.Duration(i) * time.Millisecond),
			Layers: []gopacket.SerializableLayer{eth, ip, udp, gopacket.Payload(make([]byte, 8))}})
	}
	return probetest.WritePcap(t, "prefixes.pcap", frames)
}

func checkRouting(t *testing.T, recs []flowprint.JSON, want map[string]routing) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%d records printed, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		key := r.SrcAddr.String() + " " + r.DstAddr.String()
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected record %s", key)
			continue
		}
		got := routing{r.SrcAS, r.DstAS, r.SrcMask, r.DstMask}
		if got != w {
			t.Errorf("%s: AS %d → %d, masks /%d → /%d; want AS %d → %d, /%d → /%d",
				key, got.srcAS, got.dstAS, got.srcMask, got.dstMask, w.srcAS, w.dstAS, w.srcMask, w.dstMask)
		}
	}
}

// TestOfflinePrefixTableBinary runs the real binary: spanflow -r capture
// --prefix-table F --print=json prints each flow's AS numbers and masks.
func TestOfflinePrefixTableBinary(t *testing.T) {
	pcap := writePrefixCapture(t)
	cmd := exec.Command(spanflowBinary(t), "-r", pcap, "--prefix-table", plainTable, "--print=json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spanflow: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "prefix tables loaded") {
		t.Errorf("no load line in the log:\n%s", stderr.String())
	}
	checkRouting(t, jsonLines[flowprint.JSON](t, "spanflow --print=json", out), map[string]routing{
		"198.18.0.5 198.18.0.200":     {64501, 4200000001, 24, 25},
		"198.19.7.9 192.0.2.77":       {64999, 65546, 24, 24},
		"198.18.1.1 203.0.113.9":      {64500, 0, 15, 0},
		"2001:db8:1::1 2001:db8:2::1": {65551, 64502, 48, 32},
	})
}

// TestOfflinePrefixTables: origin and peer AS, from the plain table and
// a compressed MRT dump; without a table, no AS and no mask.
func TestOfflinePrefixTables(t *testing.T) {
	pcap := writePrefixCapture(t)
	for _, c := range []struct {
		name string
		args []string
		want map[string]routing
	}{
		{"none", nil, map[string]routing{
			"198.18.0.5 198.18.0.200":     {},
			"198.19.7.9 192.0.2.77":       {},
			"198.18.1.1 203.0.113.9":      {},
			"2001:db8:1::1 2001:db8:2::1": {},
		}},
		{"plain-peer", []string{"--prefix-table", "plain:" + plainTable, "--as", "peer"}, map[string]routing{
			"198.18.0.5 198.18.0.200":     {64510, 0, 24, 25},
			"198.19.7.9 192.0.2.77":       {0, 0, 24, 24},
			"198.18.1.1 203.0.113.9":      {0, 0, 15, 0},
			"2001:db8:1::1 2001:db8:2::1": {4200000010, 0, 48, 32},
		}},
		{"mrt-origin", []string{"--prefix-table", mrtTable}, map[string]routing{
			"198.18.0.5 198.18.0.200":     {4200000001, 64520, 24, 25},
			"198.19.7.9 192.0.2.77":       {64510, 0, 16, 0},
			"198.18.1.1 203.0.113.9":      {64500, 0, 15, 0},
			"2001:db8:1::1 2001:db8:2::1": {65551, 64502, 48, 32},
		}},
		{"mrt-peer", []string{"--prefix-table", mrtTable, "--as", "peer"}, map[string]routing{
			"198.18.0.5 198.18.0.200":     {4200000010, 64510, 24, 25},
			"198.19.7.9 192.0.2.77":       {64510, 0, 16, 0},
			"198.18.1.1 203.0.113.9":      {64510, 0, 15, 0},
			"2001:db8:1::1 2001:db8:2::1": {64510, 4200000010, 48, 32},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := runOfflineJSON(t, append([]string{"-r", pcap}, c.args...)...)
			if run.err != nil {
				t.Fatal(run.err)
			}
			checkRouting(t, run.records, c.want)
		})
	}
}

// TestPrefixTableFlagErrors: a bad --as is a flag error; a broken table
// stops the run with the file and line.
func TestPrefixTableFlagErrors(t *testing.T) {
	parse := func(args ...string) (*Config, error) {
		fs := flag.NewFlagSet("spanflow", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := BindFlags(fs)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return cfg, cfg.Validate()
	}
	if _, err := parse("-r", "x.pcap", "--print=json", "--as", "neighbour"); err == nil || !strings.Contains(err.Error(), "--as neighbour") {
		t.Errorf("--as neighbour: %v", err)
	}
	broken := filepath.Join(t.TempDir(), "broken.txt")
	os.WriteFile(broken, []byte("198.18.0.0/15 64500\n198.18.0.0/24 sixty\n"), 0o644)
	cfg, err := parse("-r", writePrefixCapture(t), "--print=json", "--prefix-table", broken)
	if err != nil {
		t.Fatal(err)
	}
	cfg.agent.Stdout = io.Discard
	_, err = agent.Replay(context.Background(), &cfg.agent, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), broken+":2:") {
		t.Errorf("broken table: %v, want an error naming %s:2", err, broken)
	}
}
