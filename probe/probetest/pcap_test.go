package probetest

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestWritePcapReadsBack: the frames come back in order with their
// nanosecond times, lengths fixed and checksums valid.
func TestWritePcapReadsBack(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
	var frames []PcapFrame
	for i := range 3 {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: SrcIPv4, DstIP: DstIPv4}
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + i), DstPort: 53}
		udp.SetNetworkLayerForChecksum(ip)
		frames = append(frames, PcapFrame{At: at.Add(time.Duration(i) * time.Nanosecond), Layers: []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4},
			ip, udp, gopacket.Payload(make([]byte, 8+i))}})
	}
	path := WritePcap(t, "x.pcap", frames)

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", r.LinkType())
	}
	for i := range frames {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := at.Add(time.Duration(i)); !ci.Timestamp.Equal(want) {
			t.Errorf("frame %d at %v, want %v", i, ci.Timestamp, want)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			t.Fatalf("frame %d does not decode: %v", i, p)
		}
		if int(ip.Length) != 20+8+8+i || int(udp.Length) != 8+8+i || udp.SrcPort != layers.UDPPort(40000+i) {
			t.Errorf("frame %d: IP length %d, UDP length %d, port %d", i, ip.Length, udp.Length, udp.SrcPort)
		}
		if ipSum := onesComplement(data[14:34]); ipSum != 0xffff {
			t.Errorf("frame %d: IPv4 checksum does not verify (%#x)", i, ipSum)
		}
		if udp.Checksum == 0 {
			t.Errorf("frame %d: UDP checksum not computed", i)
		}
		if !net.IP(ip.SrcIP).Equal(SrcIPv4) {
			t.Errorf("frame %d from %v", i, ip.SrcIP)
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("more frames than written")
	}
}
