package probe

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
)

// payloadFrame serializes eth/ip/l4/payload with gopacket, lengths and
// checksums computed.
func payloadFrame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParseFramePayload checks the payload the parser locates against the
// one gopacket decodes (its ApplicationLayer), and the cases gopacket has
// no payload for: Ethernet padding is not payload, a cut frame gives a
// shorter head with the wire length, a non-first fragment gives none.
func TestParseFramePayload(t *testing.T) {
	eth4 := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	eth6 := &layers.Ethernet{SrcMAC: eth4.SrcMAC, DstMAC: eth4.DstMAC, EthernetType: layers.EthernetTypeIPv6}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 19, 0, 2}}
	}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	get := []byte("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
	dns := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}

	tcp := &layers.TCP{SrcPort: 40000, DstPort: 9090, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 512,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	tcpIP := ip4(layers.IPProtocolTCP)
	tcp.SetNetworkLayerForChecksum(tcpIP)
	udp := &layers.UDP{SrcPort: 40001, DstPort: 40002} // ports gopacket decodes nothing on
	udpIP := ip4(layers.IPProtocolUDP)
	udp.SetNetworkLayerForChecksum(udpIP)
	udp6 := &layers.UDP{SrcPort: 40001, DstPort: 40002}
	udp6.SetNetworkLayerForChecksum(ip6)
	syn := &layers.TCP{SrcPort: 40000, DstPort: 9090, SYN: true, Window: 512}
	synIP := ip4(layers.IPProtocolTCP)
	syn.SetNetworkLayerForChecksum(synIP)

	for _, tc := range []struct {
		name  string
		frame []byte
		want  []byte // the payload gopacket sees
	}{
		{"tcp with options", payloadFrame(t, eth4, tcpIP, tcp, gopacket.Payload(get)), get},
		{"udp", payloadFrame(t, eth4, udpIP, udp, gopacket.Payload(dns)), dns},
		{"udp over ipv6", payloadFrame(t, eth6, ip6, udp6, gopacket.Payload(dns)), dns},
		{"syn", payloadFrame(t, eth4, synIP, syn), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := gopacket.NewPacket(tc.frame, layers.LayerTypeEthernet, gopacket.Default)
			var gp []byte
			if a := pkt.ApplicationLayer(); a != nil {
				gp = a.Payload()
			}
			if !bytes.Equal(gp, tc.want) {
				t.Fatalf("gopacket payload %q, want %q: the test frame is wrong", gp, tc.want)
			}
			p, pay := ParseFramePayload(layers.LinkTypeEthernet, tc.frame)
			if p.Reason != bpf.StatAccounted {
				t.Fatalf("outcome %d", p.Reason)
			}
			if p != ParseEthernet(tc.frame) {
				t.Fatalf("ParseFramePayload's Parsed %+v differs from ParseEthernet's", p)
			}
			if got := pay.Head(tc.frame, 512); !bytes.Equal(got, tc.want) || pay.Len != len(tc.want) {
				t.Errorf("payload %q (len %d), want %q (len %d)", got, pay.Len, tc.want, len(tc.want))
			}
			// Ethernet padding after the IP packet is not payload.
			padded := append(append([]byte(nil), tc.frame...), make([]byte, 30)...)
			if _, pay := ParseFramePayload(layers.LinkTypeEthernet, padded); !bytes.Equal(pay.Head(padded, 512), tc.want) {
				t.Errorf("padded frame: payload %q, want %q", pay.Head(padded, 512), tc.want)
			}
			if len(tc.want) > 4 {
				// A capture cut 4 bytes into the payload: the head is
				// those 4 bytes, the length the wire's; max cuts too.
				cut := tc.frame[:bytes.Index(tc.frame, tc.want)+4] // gopacket may pad the frame
				_, pay := ParseFramePayload(layers.LinkTypeEthernet, cut)
				if got := pay.Head(cut, 512); !bytes.Equal(got, tc.want[:4]) || pay.Len != len(tc.want) {
					t.Errorf("cut frame: head %q len %d, want %q len %d", got, pay.Len, tc.want[:4], len(tc.want))
				}
				_, pay = ParseFramePayload(layers.LinkTypeEthernet, tc.frame)
				if got := pay.Head(tc.frame, 3); !bytes.Equal(got, tc.want[:3]) {
					t.Errorf("head of 3: %q", got)
				}
			}
			// The same packet behind a Linux cooked header: same payload.
			sll := append(make([]byte, sllHeaderLen), tc.frame[ethernetHeaderLen:]...)
			copy(sll[14:], tc.frame[12:14])
			if _, pay := ParseFramePayload(layers.LinkTypeLinuxSLL, sll); !bytes.Equal(pay.Head(sll, 512), tc.want) {
				t.Errorf("SLL: payload %q, want %q", pay.Head(sll, 512), tc.want)
			}
		})
	}

	t.Run("non-first fragment", func(t *testing.T) {
		ip := ip4(layers.IPProtocolUDP)
		ip.FragOffset = 100
		frame := payloadFrame(t, eth4, ip, gopacket.Payload(dns))
		p, pay := ParseFramePayload(layers.LinkTypeEthernet, frame)
		if p.Reason != bpf.StatAccounted || pay != (Payload{IPOff: ethernetHeaderLen}) {
			t.Errorf("outcome %d payload %+v, want accounted with none", p.Reason, pay)
		}
	})
	t.Run("tcp data offset past the packet", func(t *testing.T) {
		frame := payloadFrame(t, eth4, tcpIP, tcp, gopacket.Payload(get))
		frame[ethernetHeaderLen+ipv4HeaderLen+12] = 0xf0 // 60 bytes of header
		frame = frame[:ethernetHeaderLen+ipv4HeaderLen+40]
		frame[ethernetHeaderLen+2], frame[ethernetHeaderLen+3] = 0, ipv4HeaderLen+40
		want := Payload{IPOff: ethernetHeaderLen, L4Off: ethernetHeaderLen + ipv4HeaderLen, L4Len: 40}
		if p, pay := ParseFramePayload(layers.LinkTypeEthernet, frame); p.Reason != bpf.StatAccounted || pay != want {
			t.Errorf("outcome %d payload %+v, want accounted with none", p.Reason, pay)
		}
	})
	t.Run("not accounted", func(t *testing.T) {
		if p, pay := ParseFramePayload(layers.LinkTypeEthernet, []byte{1, 2, 3}); p.Reason == bpf.StatAccounted || pay != (Payload{}) {
			t.Errorf("outcome %d payload %+v", p.Reason, pay)
		}
	})
}
