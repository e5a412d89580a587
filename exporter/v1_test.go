package exporter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/cache"
)

// The -update flag rewrites golden files. Other test files of this
// package may register it too, so it is looked up, not assumed.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata/golden/*.hex from the encoders' output")
	}
}

func legacyUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// Fixed clock of the legacy tests: boot at 2026-01-01 00:00 UTC, export
// one hour, 123456789 ns later.
var (
	legacyBoot = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	legacyNow  = legacyBoot.Add(time.Hour + 123456789*time.Nanosecond)
)

func legacySettings() Settings {
	return Settings{Boot: legacyBoot, EngineType: 1, EngineID: 7}
}

// legacyRecords is the fixture every legacy golden file is made from:
// TCP, UDP and ICMP over IPv4 (198.18.0.0/15), an IPv6 flow the legacy
// versions must skip, an IPv4-mapped flow they must carry as IPv4, and a
// second TCP flow in the same /24 and /16 as the first. Routing fields
// are set (a later capability fills them) so their placement is checked;
// DstAS 4200000000 is a 4-byte AS that must become AS_TRANS.
func legacyRecords() []cache.Record {
	at := func(ms int) time.Time { return legacyBoot.Add(time.Duration(ms) * time.Millisecond) }
	a := netip.MustParseAddr
	return []cache.Record{
		{
			SrcAddr: a("198.18.0.1"), DstAddr: a("198.19.1.2"), SrcPort: 40000, DstPort: 443,
			Proto: 6, ToS: 0x10, IPVersion: 4, InIfIndex: 3, OutIfIndex: 7,
			Packets: 10, Bytes: 4321, TCPFlags: 0x1b, Start: at(10_005), End: at(70_000),
			EndReason: cache.EndOfFlow, SrcAS: 64512, DstAS: 4200000000, SrcMask: 24, DstMask: 16,
			NextHop: a("198.18.255.254"),
		},
		{
			SrcAddr: a("198.18.0.7"), DstAddr: a("198.19.200.9"), SrcPort: 5353, DstPort: 53,
			Proto: 17, ToS: 0, IPVersion: 4, InIfIndex: 3,
			Packets: 1, Bytes: 76, Start: at(1_500_000), End: at(1_500_000), EndReason: cache.EndIdle,
		},
		{
			SrcAddr: a("198.18.0.1"), DstAddr: a("198.19.1.2"), SrcPort: 0, DstPort: 8<<8 | 0,
			Proto: 1, ToS: 0x10, IPVersion: 4, InIfIndex: 3, OutIfIndex: 7,
			Packets: 3, Bytes: 252, Start: at(20_000), End: at(22_000), EndReason: cache.EndIdle,
			SrcAS: 64512, DstAS: 4200000000, SrcMask: 24, DstMask: 16, NextHop: a("198.18.255.254"),
		},
		{
			SrcAddr: a("2001:db8::1"), DstAddr: a("2001:db8::2"), SrcPort: 51000, DstPort: 80,
			Proto: 6, IPVersion: 6, InIfIndex: 3, Packets: 5, Bytes: 600, TCPFlags: 0x02,
			Start: at(30_000), End: at(31_000), EndReason: cache.EndIdle,
		},
		{
			SrcAddr: a("::ffff:198.18.3.4"), DstAddr: a("::ffff:198.19.5.6"), SrcPort: 123, DstPort: 123,
			Proto: 17, ToS: 0xb8, IPVersion: 4, InIfIndex: 4, OutIfIndex: 3,
			Packets: 2, Bytes: 152, Start: at(3_599_000), End: at(3_599_999), EndReason: cache.EndForced,
			SrcMask: 32, DstMask: 8,
		},
		{
			SrcAddr: a("198.18.0.99"), DstAddr: a("198.19.1.77"), SrcPort: 40001, DstPort: 443,
			Proto: 6, ToS: 0x10, IPVersion: 4, InIfIndex: 3, OutIfIndex: 7,
			Packets: 20, Bytes: 9000, TCPFlags: 0x12, Start: at(5_000), End: at(1_800_000),
			EndReason: cache.EndActive, SrcAS: 64512, DstAS: 4200000000, SrcMask: 24, DstMask: 16,
			NextHop: a("198.18.255.254"),
		},
	}
}

// collect runs encode and returns copies of the datagrams it emitted.
func collect(t testing.TB, encode func(emit func([]byte)) error) [][]byte {
	t.Helper()
	var out [][]byte
	if err := encode(func(d []byte) { out = append(out, bytes.Clone(d)) }); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return out
}

// checkGolden compares datagrams with testdata/golden/name, a commented
// hexdump; with -update it rewrites the file, headed by about.
func checkGolden(t *testing.T, name, about string, got [][]byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if legacyUpdate() {
		var b strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(about), "\n") {
			fmt.Fprintf(&b, "# %s\n", line)
		}
		b.WriteString("# Rewrite with: go test ./exporter -run " + t.Name() + " -update\n")
		for i, d := range got {
			fmt.Fprintf(&b, "#\n# datagram %d of %d: %d bytes\n", i+1, len(got), len(d))
			for off := 0; off < len(d); off += 16 {
				end := min(off+16, len(d))
				fmt.Fprintf(&b, "%04x: % x\n", off, d[off:end])
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := readGolden(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d datagrams, golden has %d", name, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: datagram %d differs from golden:\n%s", name, i+1, hexDiff(want[i], got[i]))
		}
	}
}

// readGolden parses a golden hexdump: "# datagram" lines start a datagram,
// other "#" lines are comments, data lines are "offset: hex bytes".
func readGolden(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# datagram"):
			out = append(out, nil)
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			_, hexPart, ok := strings.Cut(line, ":")
			if !ok || len(out) == 0 {
				return nil, fmt.Errorf("%s:%d: not a hexdump line", path, n)
			}
			b, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n, err)
			}
			out[len(out)-1] = append(out[len(out)-1], b...)
		}
	}
	return out, sc.Err()
}

// hexDiff lists the offsets where two datagrams differ.
func hexDiff(want, got []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "length want %d got %d\n", len(want), len(got))
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = fmt.Sprintf("%02x", want[i])
		}
		if i < len(got) {
			g = fmt.Sprintf("%02x", got[i])
		}
		if w != g {
			fmt.Fprintf(&b, "  offset %d: want %s got %s\n", i, w, g)
		}
	}
	return b.String()
}

// legacyPort is the UDP port the pcaps send to; tshark is told it is cflow.
const legacyPort = 9995

// writePcap wraps datagrams in Ethernet/IPv4/UDP (built with gopacket)
// from 127.0.0.1 to 127.0.0.1:legacyPort and writes them as a classic
// pcap file. (gopacket's pcapgo would need golang.org/x/net, which go.sum
// does not list yet; the file format is two fixed little-endian headers.)
func writePcap(t *testing.T, path string, datagrams [][]byte) {
	t.Helper()
	var file bytes.Buffer
	le := binary.LittleEndian
	file.Write(le.AppendUint32(nil, 0xa1b2c3d4)) // magic: microsecond timestamps
	file.Write(le.AppendUint16(nil, 2))          // version 2.4
	file.Write(le.AppendUint16(nil, 4))
	file.Write(make([]byte, 8))             // thiszone, sigfigs
	file.Write(le.AppendUint32(nil, 65535)) // snaplen
	file.Write(le.AppendUint32(nil, uint32(layers.LinkTypeEthernet)))
	for i, d := range datagrams {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1), Flags: layers.IPv4DontFragment}
		udp := &layers.UDP{SrcPort: 40555, DstPort: legacyPort}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(d)); err != nil {
			t.Fatal(err)
		}
		frame := buf.Bytes()
		ts := legacyNow.Add(time.Duration(i) * time.Millisecond)
		file.Write(le.AppendUint32(nil, uint32(ts.Unix())))
		file.Write(le.AppendUint32(nil, uint32(ts.Nanosecond()/1000)))
		file.Write(le.AppendUint32(nil, uint32(len(frame))))
		file.Write(le.AppendUint32(nil, uint32(len(frame))))
		file.Write(frame)
	}
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = cmp.Diff
