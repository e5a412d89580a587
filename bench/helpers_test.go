package bench

import (
	"net"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	srcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	dstMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// tcpFrame builds an Ethernet frame with an ACK segment of 64 payload
// bytes between src and dst (IPv4 or IPv6), under an 802.1Q tag when vlan
// is not 0. It is the hot path's packet: a flow in mid-stream.
func tcpFrame(tb testing.TB, src, dst string, sport, dport uint16, vlan uint16) []byte {
	tb.Helper()
	srcIP, dstIP := net.ParseIP(src), net.ParseIP(dst)
	var l3 gopacket.SerializableLayer
	var ethType layers.EthernetType
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true, Window: 1000}
	if v4 := srcIP.To4(); v4 != nil {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4, DstIP: dstIP.To4()}
		tcp.SetNetworkLayerForChecksum(ip)
		l3, ethType = ip, layers.EthernetTypeIPv4
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: srcIP, DstIP: dstIP}
		tcp.SetNetworkLayerForChecksum(ip)
		l3, ethType = ip, layers.EthernetTypeIPv6
	}
	stack := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: ethType}}
	if vlan != 0 {
		stack[0].(*layers.Ethernet).EthernetType = layers.EthernetTypeDot1Q
		stack = append(stack, &layers.Dot1Q{VLANIdentifier: vlan, Type: ethType})
	}
	stack = append(stack, l3, tcp, gopacket.Payload(make([]byte, 64)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, stack...); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// perPacketNs runs prog repeat times on frame in one BPF_PROG_TEST_RUN and
// returns the kernel's time per run. The kernel reports whole nanoseconds
// (time spent ÷ repeat, rounded down) and leaves out time when the loop
// was rescheduled.
func perPacketNs(tb testing.TB, prog *ebpf.Program, frame []byte, repeat int) float64 {
	tb.Helper()
	ret, d, err := prog.Benchmark(frame, repeat, nil)
	if err != nil {
		tb.Fatalf("run %v: %v", prog, err)
	}
	if ret != 2 { // XDP_PASS: anything else means the program under test did not run as meant
		tb.Fatalf("run %v: returned %d, want XDP_PASS", prog, ret)
	}
	return float64(d.Nanoseconds())
}

// loadCollection loads the collection load describes; it is closed when
// the benchmark ends.
func loadCollection(tb testing.TB, load func() (*ebpf.CollectionSpec, error)) *ebpf.Collection {
	tb.Helper()
	spec, err := load()
	if err != nil {
		tb.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		tb.Fatalf("load %v: %+v", spec.Programs, err)
	}
	tb.Cleanup(coll.Close)
	return coll
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
