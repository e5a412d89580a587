package exporter

import (
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// writeExportPcap writes datagrams as Ethernet/IPv4/UDP frames from
// 198.18.0.1:40000 to 198.18.0.2:port, one a millisecond from at, for
// tshark and nfacctd to read.
func writeExportPcap(t testing.TB, path string, port uint16, at time.Time, dgrams [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// pcapgo would pull golang.org/x/net into go.mod; the classic pcap
	// format is small enough to write here: microsecond magic, v2.4,
	// snaplen 65535, link type Ethernet.
	var out []byte
	out = binary.LittleEndian.AppendUint32(out, 0xa1b2c3d4)
	out = binary.LittleEndian.AppendUint16(out, 2)
	out = binary.LittleEndian.AppendUint16(out, 4)
	out = binary.LittleEndian.AppendUint64(out, 0) // thiszone, sigfigs
	out = binary.LittleEndian.AppendUint32(out, 65535)
	out = binary.LittleEndian.AppendUint32(out, uint32(layers.LinkTypeEthernet))
	for i, d := range dgrams {
		eth := &layers.Ethernet{
			SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
			DstMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4,
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 18, 0, 2}}
		udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(d)); err != nil {
			t.Fatal(err)
		}
		ts := at.Add(time.Duration(i) * time.Millisecond)
		frame := buf.Bytes()
		out = binary.LittleEndian.AppendUint32(out, uint32(ts.Unix()))
		out = binary.LittleEndian.AppendUint32(out, uint32(ts.Nanosecond()/1000))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = append(out, frame...)
	}
	if _, err := f.Write(out); err != nil {
		t.Fatal(err)
	}
}
