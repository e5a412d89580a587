package probe

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

// tunnel wraps an inner Ethernet frame in one tunnel's headers, written
// byte by byte from the specifications (RFC 7348 VXLAN, RFC 8926 GENEVE,
// the ERSPAN draft's types I–III over RFC 2784/2890 GRE).
type tunnel struct {
	name  string
	proto layers.IPProtocol
	port  uint16 // UDP destination port
	head  []byte // between the outer transport header's start and the inner frame
}

func tunnels() []tunnel {
	vxlan := []byte{0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0}
	geneveOpt := []byte{0x01, 0, 0x65, 0x58, 0x00, 0x00, 0x2a, 0, // 1 option word
		0x01, 0x02, 0x80, 0x01} // option class, type, length 1 word … (4 bytes)
	erspan2 := []byte{0x10, 0x64, 0x00, 0x2a, 0, 0, 0, 0}                                      // ver 1, VLAN 100, session 42
	erspan3 := []byte{0x20, 0x64, 0x00, 0x2b, 1, 2, 3, 4, 0, 0, 0, 0}                          // ver 2, session 43, no subheader
	erspan3o := []byte{0x20, 0x64, 0x00, 0x2c, 1, 2, 3, 4, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9} // O: 8-byte subheader
	gre := func(flags, proto uint16, extra int) []byte {
		b := binary.BigEndian.AppendUint16(nil, flags)
		b = binary.BigEndian.AppendUint16(b, proto)
		return append(b, make([]byte, extra)...)
	}
	cat := func(parts ...[]byte) (out []byte) {
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return []tunnel{
		{"vxlan", layers.IPProtocolUDP, 4789, vxlan},
		{"vxlan-no-I-flag", layers.IPProtocolUDP, 4789, []byte{0, 0, 0, 0, 0x12, 0x34, 0x56, 0}},
		{"vxlan-other-port", layers.IPProtocolUDP, 4790, vxlan},
		{"geneve", layers.IPProtocolUDP, 6081, []byte{0x00, 0, 0x65, 0x58, 0x00, 0x00, 0x2a, 0}},
		{"geneve-options", layers.IPProtocolUDP, 6081, geneveOpt},
		{"geneve-ipv4-inside", layers.IPProtocolUDP, 6081, []byte{0x00, 0, 0x08, 0x00, 0x00, 0x00, 0x2a, 0}},
		{"erspan-I", layers.IPProtocolGRE, 0, gre(0x0000, 0x88be, 0)},
		{"erspan-II", layers.IPProtocolGRE, 0, cat(gre(greSeq, 0x88be, 4), erspan2)},
		{"erspan-II-key", layers.IPProtocolGRE, 0, cat(gre(greSeq|greKey, 0x88be, 8), erspan2)},
		{"erspan-III", layers.IPProtocolGRE, 0, cat(gre(greSeq, 0x22eb, 4), erspan3)},
		{"erspan-III-subheader", layers.IPProtocolGRE, 0, cat(gre(greSeq, 0x22eb, 4), erspan3o)},
		{"erspan-II-bad-version", layers.IPProtocolGRE, 0, cat(gre(greSeq, 0x88be, 4), []byte{0x20, 0, 0, 1, 0, 0, 0, 0})},
		{"gre-routing", layers.IPProtocolGRE, 0, gre(greRouting|greSeq, 0x88be, 4)},
		{"gre-ip", layers.IPProtocolGRE, 0, gre(0, 0x0800, 0)},
	}
}

// wrap builds outer Ethernet/IPv4/(UDP|raw) around tun.head and inner.
func wrap(t *testing.T, tun tunnel, inner []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 8}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: tun.proto, SrcIP: net.IP{198, 19, 0, 1}, DstIP: net.IP{198, 19, 0, 2}}
	body := append(append([]byte(nil), tun.head...), inner...)
	ls := []gopacket.SerializableLayer{eth, ip}
	if tun.proto == layers.IPProtocolUDP {
		udp := &layers.UDP{SrcPort: 50000, DstPort: layers.UDPPort(tun.port)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(body))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestXDPOpensTunnelsAsTheReferenceDoes wraps every generated case in each
// tunnel (well formed or not, on its port or not) and runs them through
// the program with every tunnel opened and through the reference parser
// with the same: outcomes and flows must agree frame by frame, and the
// well-formed tunnels must count their inner packet and not the outer.
func TestXDPOpensTunnelsAsTheReferenceDoes(t *testing.T) {
	d := Decap{VXLAN: true, GENEVE: true, ERSPAN: true}
	r := &xdpRunner{p: openProbe(t, Options{Decap: d})}
	opened := 0
	for _, tun := range tunnels() {
		for _, c := range probetest.Cases() {
			frame := wrap(t, tun, c.Frame)
			if !runnable(frame) {
				continue
			}
			ref := newAggregate()
			p, _ := ParseFrameDecap(layers.LinkTypeEthernet, frame, d)
			ref.Stats[p.Reason].Packets++
			ref.Stats[p.Reason].Bytes += p.StatBytes(len(frame))
			if p.Reason == bpf.StatAccounted {
				if p.NoL4 {
					ref.Stats[bpf.StatNoL4].Packets++
					ref.Stats[bpf.StatNoL4].Bytes += p.IPBytes
				}
				k := p.Key
				k.Ifindex = loIfindex
				f := ref.Flows[k]
				f.Packets++
				f.Bytes += p.IPBytes
				f.TCPFlags |= p.TCPFlags
				ref.Flows[k] = f
				if k.Proto != uint8(tun.proto) || k.DstAddr[15] != 2 || k.DstAddr[14] != 0 || k.DstAddr[13] != 19 {
					opened++
				}
			}
			r.run(t, frame)
			compareAggregates(t, fmt.Sprintf("%s/%s", tun.name, c.Name), r.harvest(t), ref)
		}
	}
	if opened < 500 {
		t.Errorf("only %d tunnelled packets counted as their inner packet", opened)
	}
}

// TestDecapOffCountsTheOuterPacket: without --decap a tunnel is a packet
// like any other.
func TestDecapOffCountsTheOuterPacket(t *testing.T) {
	inner := probetest.Cases()[0].Frame
	for _, tun := range tunnels() {
		p, _ := ParseFrameDecap(layers.LinkTypeEthernet, wrap(t, tun, inner), Decap{})
		if p.Reason != bpf.StatAccounted || p.Key.Proto != uint8(tun.proto) {
			t.Errorf("%s: outcome %d proto %d, want the outer %d", tun.name, p.Reason, p.Key.Proto, tun.proto)
		}
	}
}

func TestParseDecap(t *testing.T) {
	var d Decap
	for _, s := range []string{"erspan", "vxlan:8472", "geneve"} {
		if err := d.Parse(s); err != nil {
			t.Fatal(err)
		}
	}
	if want := (Decap{VXLAN: true, VXLANPort: 8472, GENEVE: true, ERSPAN: true}); d != want {
		t.Errorf("got %+v, want %+v", d, want)
	}
	for _, bad := range []string{"gre", "vxlan:0", "vxlan:70000", "erspan:1", ""} {
		if err := new(Decap).Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
