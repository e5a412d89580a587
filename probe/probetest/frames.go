package probetest

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Case is one generated Ethernet frame. Name is stable and says what the
// frame exercises, as "<layers, outermost first>" or "<what is wrong>",
// e.g. "qinq-88a8-8100/ipv4/udp", "mpls9/ipv4/udp" or
// "cut/vlan/ipv4-options/tcp/at-41" (the frame cut to its first 41 bytes).
type Case struct {
	Name  string
	Frame []byte
}

// Addresses and ports of the generated frames. Only the benchmarking
// ranges 198.18.0.0/15 and 2001:db8::/32 are used.
var (
	SrcIPv4 = net.IP{198, 18, 0, 1}
	DstIPv4 = net.IP{198, 19, 255, 254}
	SrcIPv6 = net.ParseIP("2001:db8::1")
	DstIPv6 = net.ParseIP("2001:db8:ffff::2")

	srcMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	dstMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
)

// Ports of the transports, distinct so that a swap or a mix-up shows.
const (
	TCPSrcPort     = 40001
	TCPDstPort     = 443
	UDPSrcPort     = 40002
	UDPDstPort     = 53
	SCTPSrcPort    = 40003
	SCTPDstPort    = 3868
	DCCPSrcPort    = 40004
	DCCPDstPort    = 5004
	UDPLiteSrcPort = 40005
	UDPLiteDstPort = 5060

	// TCPFlags is the flag byte of every generated TCP header: SYN|ACK|ECE.
	TCPFlags = 0x52
)

// IP protocol numbers gopacket has no name for.
const (
	protoDCCP     = layers.IPProtocol(33)
	protoMobility = layers.IPProtocol(135)
)

// Cases returns every generated frame: each parse branch of the datapath
// (Ethernet, VLAN, MPLS, PPPoE, IPv4, IPv6 and its extension headers, the
// transports), malformed headers, and a few representative frames cut at
// every byte offset. The result is the same on every call, and each frame
// is the caller's to change.
//
// The frames cut below 14 bytes ("cut/…/at-0" to "at-13") are shorter than
// an Ethernet header: BPF_PROG_TEST_RUN refuses them (EINVAL), so an XDP
// test has to leave them out; the reference parser calls them truncated.
func Cases() []Case {
	var cs []Case
	add := func(name string, frame []byte) {
		cs = append(cs, Case{Name: name, Frame: frame})
	}

	// Untagged IPv4 and IPv6 with every transport.
	for _, t := range transports() {
		add("ipv4/"+t.name, build(append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ipv4(t.proto)}, t.layers(false)...)...))
		add("ipv6/"+t.name, build(append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ipv6(t.proto)}, t.layers(true)...)...))
	}
	add("ipv4/icmp-unreachable", build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable,
			layers.ICMPv4CodePort)}, gopacket.Payload(make([]byte, 28))))
	add("ipv6/icmpv6-too-big", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolICMPv6),
		icmp6(layers.ICMPv6TypePacketTooBig, 0), gopacket.Payload(make([]byte, 48))))
	add("ipv4/icmpv6-proto", build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv6),
		gopacket.Payload([]byte{128, 0, 0, 0, 0, 1, 0, 1})))
	add("ipv6/icmpv4-proto", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolICMPv4),
		gopacket.Payload([]byte{8, 0, 0, 0, 0, 1, 0, 1})))

	// ToS and traffic class.
	tos := ipv4(layers.IPProtocolUDP)
	tos.TOS = 0xb9 // DSCP EF, ECN 01
	add("ipv4/tos-b9/udp", build(eth(layers.EthernetTypeIPv4), tos, udp(), payload(8)))
	tc := ipv6(layers.IPProtocolUDP)
	tc.TrafficClass = 0xb9
	tc.FlowLabel = 0xfedcb
	add("ipv6/tclass-b9-flow-fedcb/udp", build(eth(layers.EthernetTypeIPv6), tc, udp(), payload(8)))

	// VLAN tags.
	tcpV4 := func(l2 ...gopacket.SerializableLayer) []byte {
		return build(append(l2, ipv4(layers.IPProtocolTCP), tcp(), payload(16))...)
	}
	add("vlan-8100/ipv4/tcp", tcpV4(eth(layers.EthernetTypeDot1Q), tag(100, layers.EthernetTypeIPv4)))
	add("vlan-88a8/ipv4/tcp", tcpV4(eth(layers.EthernetTypeQinQ), tag(101, layers.EthernetTypeIPv4)))
	prio := tag(102, layers.EthernetTypeIPv4)
	prio.Priority, prio.DropEligible = 7, true
	add("vlan-8100-pcp7-dei/ipv4/tcp", tcpV4(eth(layers.EthernetTypeDot1Q), prio))
	add("vlan-8100-vid0/ipv4/tcp", tcpV4(eth(layers.EthernetTypeDot1Q), tag(0, layers.EthernetTypeIPv4)))
	add("vlan-8100-vid4095/ipv4/tcp", tcpV4(eth(layers.EthernetTypeDot1Q), tag(4095, layers.EthernetTypeIPv4)))
	add("qinq-88a8-8100/ipv4/tcp", tcpV4(eth(layers.EthernetTypeQinQ),
		tag(200, layers.EthernetTypeDot1Q), tag(201, layers.EthernetTypeIPv4)))
	add("qinq-8100-8100/ipv4/tcp", tcpV4(eth(layers.EthernetTypeDot1Q),
		tag(202, layers.EthernetTypeDot1Q), tag(203, layers.EthernetTypeIPv4)))
	add("qinq-88a8-88a8/ipv6/udp", build(eth(layers.EthernetTypeQinQ), tag(204, layers.EthernetTypeQinQ),
		tag(205, layers.EthernetTypeIPv6), ipv6(layers.IPProtocolUDP), udp(), payload(8)))
	add("vlan3-8100/ipv4/tcp", tcpV4(eth(layers.EthernetTypeDot1Q), tag(300, layers.EthernetTypeDot1Q),
		tag(301, layers.EthernetTypeDot1Q), tag(302, layers.EthernetTypeIPv4)))
	add("vlan3-88a8-8100-8100/ipv4/tcp", tcpV4(eth(layers.EthernetTypeQinQ), tag(303, layers.EthernetTypeDot1Q),
		tag(304, layers.EthernetTypeDot1Q), tag(305, layers.EthernetTypeIPv4)))
	// Two whole tags naming a third that the frame no longer holds: the
	// third tag is refused before it is read.
	add("vlan3-third-tag-missing", build(eth(layers.EthernetTypeDot1Q),
		tag(306, layers.EthernetTypeDot1Q), tag(307, layers.EthernetTypeDot1Q))[:22])
	add("vlan-8100/arp", build(eth(layers.EthernetTypeDot1Q), tag(100, layers.EthernetTypeARP), arp()))

	// Frames without IP.
	add("arp", build(eth(layers.EthernetTypeARP), arp()))
	add("lldp", build(eth(layers.EthernetTypeLinkLayerDiscovery), payload(32)))
	add("ethertype-88b5", build(eth(layers.EthernetType(0x88b5)), payload(46)))
	llc := build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(8))
	binary.BigEndian.PutUint16(llc[12:], 46) // an 802.3 length, not an EtherType
	add("ieee802.3-length", llc)
	add("pppoe-discovery", build(eth(layers.EthernetTypePPPoEDiscovery), payload(20)))

	// MPLS: 1 to 8 labels are walked, a 9th is unsupported.
	for n := 1; n <= 9; n++ {
		l2 := []gopacket.SerializableLayer{eth(layers.EthernetTypeMPLSUnicast)}
		l2 = append(l2, labels(n)...)
		add(fmt.Sprintf("mpls%d/ipv4/udp", n), build(append(l2, ipv4(layers.IPProtocolUDP), udp(), payload(8))...))
	}
	noBottom := labels(8)
	noBottom[7].(*layers.MPLS).StackBottom = false
	add("mpls8-no-bottom-of-stack/ipv4/udp", build(append(append([]gopacket.SerializableLayer{
		eth(layers.EthernetTypeMPLSUnicast)}, noBottom...), ipv4(layers.IPProtocolUDP), udp(), payload(8))...))
	add("mpls2/ipv6/tcp", build(eth(layers.EthernetTypeMPLSUnicast), label(1000, false), label(1001, true),
		ipv6(layers.IPProtocolTCP), tcp(), payload(16)))
	add("mpls-8848/ipv4/udp", build(eth(layers.EthernetTypeMPLSMulticast), label(1002, true),
		ipv4(layers.IPProtocolUDP), udp(), payload(8)))
	// A pseudowire control word (first nibble 0) before an Ethernet frame.
	add("mpls/pseudowire-ethernet", build(eth(layers.EthernetTypeMPLSUnicast), label(1003, true),
		gopacket.Payload([]byte{0, 0, 0, 1}), eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(8)))
	add("mpls/nibble-5", build(eth(layers.EthernetTypeMPLSUnicast), label(1004, true),
		gopacket.Payload(append([]byte{0x50}, make([]byte, 45)...))))
	add("vlan-8100/mpls2/ipv4/udp", build(eth(layers.EthernetTypeDot1Q), tag(110, layers.EthernetTypeMPLSUnicast),
		label(1005, false), label(1006, true), ipv4(layers.IPProtocolUDP), udp(), payload(8)))
	add("qinq-88a8-8100/mpls1/ipv6/udp", build(eth(layers.EthernetTypeQinQ), tag(111, layers.EthernetTypeDot1Q),
		tag(112, layers.EthernetTypeMPLSUnicast), label(1007, true), ipv6(layers.IPProtocolUDP), udp(), payload(8)))
	// MPLS names no payload type: a bad IPv4 header behind it is still
	// parsed as IPv4 (nibble 4) and found malformed.
	badBehindMPLS := build(eth(layers.EthernetTypeMPLSUnicast), label(1008, true), ipv4(layers.IPProtocolUDP), udp(), payload(8))
	badBehindMPLS[18] = 0x43 // version 4, IHL 3
	add("mpls1/ipv4-ihl3", badBehindMPLS)

	// PPPoE sessions.
	add("pppoe/ipv4/tcp", build(eth(layers.EthernetTypePPPoESession), pppoe(), ppp(layers.PPPTypeIPv4),
		ipv4(layers.IPProtocolTCP), tcp(), payload(16)))
	add("pppoe/ipv6/udp", build(eth(layers.EthernetTypePPPoESession), pppoe(), ppp(layers.PPPTypeIPv6),
		ipv6(layers.IPProtocolUDP), udp(), payload(8)))
	add("pppoe/lcp", build(eth(layers.EthernetTypePPPoESession), pppoe(), ppp(layers.PPPType(0xc021)), payload(14)))
	add("pppoe/mpls", build(eth(layers.EthernetTypePPPoESession), pppoe(), ppp(layers.PPPTypeMPLSUnicast),
		label(1009, true), ipv4(layers.IPProtocolUDP), udp(), payload(8)))
	add("qinq-88a8-8100/pppoe/ipv4/udp", build(eth(layers.EthernetTypeQinQ), tag(120, layers.EthernetTypeDot1Q),
		tag(121, layers.EthernetTypePPPoESession), pppoe(), ppp(layers.PPPTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(8)))

	// IPv4 options and fragments.
	add("ipv4-options-ihl6/tcp", build(eth(layers.EthernetTypeIPv4), ipv4opts(layers.IPProtocolTCP, routerAlert()), tcp(), payload(16)))
	add("ipv4-options-ihl15/udp", build(eth(layers.EthernetTypeIPv4), ipv4opts(layers.IPProtocolUDP, recordRoute(39)), udp(), payload(8)))
	// An option of length 0: gopacket's decoder rejects the header, the
	// datapath skips the options by IHL.
	badOpt := build(eth(layers.EthernetTypeIPv4), ipv4opts(layers.IPProtocolUDP, routerAlert()), udp(), payload(8))
	badOpt[14+20+1] = 0
	add("ipv4-options-length0/udp", badOpt)
	add("ipv4-frag-first/udp", build(eth(layers.EthernetTypeIPv4), frag4(layers.IPProtocolUDP, 0, true), udp(), payload(64)))
	add("ipv4-frag-middle/udp", build(eth(layers.EthernetTypeIPv4), frag4(layers.IPProtocolUDP, 9, true), payload(72)))
	add("ipv4-frag-last/udp", build(eth(layers.EthernetTypeIPv4), frag4(layers.IPProtocolUDP, 18, false), payload(30)))
	add("ipv4-frag-offset1/tcp", build(eth(layers.EthernetTypeIPv4), frag4(layers.IPProtocolTCP, 1, false), tcp(), payload(8)))
	add("ipv4-frag-max-offset/icmp", build(eth(layers.EthernetTypeIPv4), frag4(layers.IPProtocolICMPv4, 0x1fff, false), payload(8)))
	df := ipv4(layers.IPProtocolTCP)
	df.Flags = layers.IPv4DontFragment
	add("ipv4-df/tcp", build(eth(layers.EthernetTypeIPv4), df, tcp(), payload(16)))
	evil := ipv4(layers.IPProtocolUDP)
	evil.Flags = layers.IPv4EvilBit | layers.IPv4MoreFragments
	add("ipv4-reserved-flag-mf/udp", build(eth(layers.EthernetTypeIPv4), evil, udp(), payload(8)))

	// IPv6 extension headers.
	udp6 := func(nh layers.IPProtocol, ext ...gopacket.SerializableLayer) []byte {
		ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ipv6(nh)}
		ls = append(ls, ext...)
		return build(append(ls, udp(), payload(8))...)
	}
	add("ipv6/hbh/udp", udp6(layers.IPProtocolIPv6HopByHop, ext6(layers.IPProtocolUDP, 0)))
	add("ipv6/routing/udp", udp6(layers.IPProtocolIPv6Routing, ext6(layers.IPProtocolUDP, 2)))
	add("ipv6/dstopts/udp", udp6(layers.IPProtocolIPv6Destination, ext6(layers.IPProtocolUDP, 1)))
	add("ipv6/dstopts-2040/udp", udp6(layers.IPProtocolIPv6Destination, ext6(layers.IPProtocolUDP, 254)))
	add("ipv6/frag-first/udp", udp6(layers.IPProtocolIPv6Fragment, frag6(layers.IPProtocolUDP, 0, true)))
	add("ipv6/frag-atomic/udp", udp6(layers.IPProtocolIPv6Fragment, frag6(layers.IPProtocolUDP, 0, false)))
	add("ipv6/frag-nonfirst/udp", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment),
		frag6(layers.IPProtocolUDP, 100, true), payload(64)))
	add("ipv6/frag-nonfirst/dstopts", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment),
		frag6(layers.IPProtocolIPv6Destination, 100, false), payload(64)))
	add("ipv6/hbh/routing/frag-first/dstopts/udp", udp6(layers.IPProtocolIPv6HopByHop,
		ext6(layers.IPProtocolIPv6Routing, 0), ext6(layers.IPProtocolIPv6Fragment, 2),
		frag6(layers.IPProtocolIPv6Destination, 0, true), ext6(layers.IPProtocolUDP, 0)))
	add("ipv6/hbh/tcp", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop),
		ext6(layers.IPProtocolTCP, 0), tcp(), payload(16)))
	add("ipv6/dstopts/icmpv6", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Destination),
		ext6(layers.IPProtocolICMPv6, 0), icmp6(layers.ICMPv6TypeEchoRequest, 0), &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}))
	for _, end := range []struct {
		name  string
		proto layers.IPProtocol
	}{{"ah", layers.IPProtocolAH}, {"esp", layers.IPProtocolESP}, {"mobility", protoMobility}, {"no-next-header", layers.IPProtocolNoNextHeader}} {
		add("ipv6/hbh/"+end.name, build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop),
			ext6(end.proto, 0), payload(24)))
	}
	// AH ends the walk even when a transport header follows it.
	add("ipv6/ah/udp", build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolAH),
		ext6(layers.IPProtocolUDP, 2), udp(), payload(8)))
	// Chains: 8 extension headers are walked, a 9th is unsupported.
	add("ipv6/ext-chain-8/udp", udp6(layers.IPProtocolIPv6HopByHop, chain(8)...))
	add("ipv6/ext-chain-9/udp", udp6(layers.IPProtocolIPv6HopByHop, chain(9)...))
	add("ipv6/ext-chain-7-frag/udp", udp6(layers.IPProtocolIPv6HopByHop,
		append(chain(7)[:6], ext6(layers.IPProtocolIPv6Fragment, 0), frag6(layers.IPProtocolUDP, 0, true))...))
	// An extension header that does not fit: in the payload, in the frame.
	longExt := udp6(layers.IPProtocolIPv6Destination, ext6(layers.IPProtocolUDP, 1))
	binary.BigEndian.PutUint16(longExt[18:], 12) // payload 12 < 16-byte header
	add("ipv6/dstopts-longer-than-payload", longExt)
	add("ipv6/dstopts-cut-by-frame", udp6(layers.IPProtocolIPv6Destination, ext6(layers.IPProtocolUDP, 1))[:14+40+12])
	add("ipv6/hbh-payload-below-8", setPayloadLen(udp6(layers.IPProtocolIPv6HopByHop, ext6(layers.IPProtocolUDP, 0)), 6))

	// Jumbograms (RFC 2675): payload length 0 and a jumbo option.
	add("ipv6/jumbo/udp", jumbo(70000, nil))
	add("ipv6/jumbo-after-pad1-padn/udp", jumbo(70000, []byte{0, 1, 0}))
	add("ipv6/jumbo-short-option", jumboRaw([]byte{ipv6OptJumbo, 3, 0, 1, 0x11, 0x70, 1, 0}))
	add("ipv6/hbh-payload0-no-jumbo", jumboRaw([]byte{1, 4, 0, 0, 0, 0, 1, 0}))
	add("ipv6/jumbo-max", jumbo(0xffffffff, nil)) // 40 + length needs 64 bits

	// Transport headers shorter than what the datapath reads.
	add("ipv4/tcp-10-bytes-in-payload", setTotalLen(build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp(), payload(16)), 30))
	add("ipv4/tcp-13-bytes-in-frame", build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp(), payload(16))[:14+20+13])
	add("ipv4/udp-3-bytes-in-payload", setTotalLen(build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(8)), 23))
	add("ipv4/icmp-1-byte-in-payload", setTotalLen(build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4), icmp4(8, 0), payload(8)), 21))
	add("ipv6/tcp-payload0", setPayloadLen(build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP), tcp(), payload(16)), 0))
	add("ipv6/sctp-payload3", setPayloadLen(build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolSCTP), sctp(), payload(16)), 3))

	// Malformed and lying IP headers.
	v4 := func() []byte {
		return build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(8))
	}
	add("ipv4/version5", edit(v4(), 14, 0x55))
	add("ipv4/version6-under-0800", edit(v4(), 14, 0x65))
	add("ipv4/ihl0", edit(v4(), 14, 0x40))
	add("ipv4/ihl4", edit(v4(), 14, 0x44))
	add("ipv4/ihl15-beyond-frame", edit(v4(), 14, 0x4f)[:14+48])
	add("ipv4/total-below-ihl", setTotalLen(v4(), 19))
	add("ipv4/total-0", setTotalLen(v4(), 0))
	add("ipv4/total-equals-ihl", setTotalLen(v4(), 20))
	add("ipv4/total-beyond-frame", setTotalLen(v4(), 1500))
	add("ipv4/total-ihl6-below-24", setTotalLen(build(eth(layers.EthernetTypeIPv4),
		ipv4opts(layers.IPProtocolUDP, routerAlert()), udp(), payload(8)), 22))
	v6 := func() []byte {
		return build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolUDP), udp(), payload(8))
	}
	add("ipv6/version4-under-86dd", edit(v6(), 14, 0x40))
	add("ipv6/version0", edit(v6(), 14, 0x00))
	add("ipv6/payload-beyond-frame", setPayloadLen(v6(), 1000))
	add("ipv6/payload-below-udp", setPayloadLen(v6(), 2))

	// Representative frames cut at every byte offset: truncation at every
	// layer they have.
	for _, c := range []Case{
		{"vlan-8100/ipv4-options-ihl6/tcp", build(eth(layers.EthernetTypeDot1Q), tag(130, layers.EthernetTypeIPv4),
			ipv4opts(layers.IPProtocolTCP, routerAlert()), tcp())},
		{"qinq-88a8-8100/ipv6/hbh/frag-first/udp", build(eth(layers.EthernetTypeQinQ), tag(131, layers.EthernetTypeDot1Q),
			tag(132, layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), ext6(layers.IPProtocolIPv6Fragment, 0),
			frag6(layers.IPProtocolUDP, 0, true), udp())},
		{"mpls2/ipv4/udp", build(eth(layers.EthernetTypeMPLSUnicast), label(1010, false), label(1011, true),
			ipv4(layers.IPProtocolUDP), udp())},
		{"pppoe/ipv6/tcp", build(eth(layers.EthernetTypePPPoESession), pppoe(), ppp(layers.PPPTypeIPv6),
			ipv6(layers.IPProtocolTCP), tcp())},
		{"ipv4/icmp", build(eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4), icmp4(8, 0))},
		{"ipv6/jumbo/udp", jumbo(70000, nil)[:14+40+8+8]},
	} {
		for n := 0; n < len(c.Frame); n++ {
			add(fmt.Sprintf("cut/%s/at-%d", c.Name, n), append([]byte(nil), c.Frame[:n]...))
		}
	}
	return cs
}

// transport is one transport protocol of the generated frames: layers
// returns its header and payload behind an IPv4 or IPv6 header.
type transport struct {
	name   string
	proto  layers.IPProtocol
	layers func(v6 bool) []gopacket.SerializableLayer
}

func transports() []transport {
	one := func(l ...gopacket.SerializableLayer) func(bool) []gopacket.SerializableLayer {
		return func(bool) []gopacket.SerializableLayer { return l }
	}
	return []transport{
		{"tcp", layers.IPProtocolTCP, func(bool) []gopacket.SerializableLayer {
			return []gopacket.SerializableLayer{tcp(), payload(16)}
		}},
		{"udp", layers.IPProtocolUDP, func(bool) []gopacket.SerializableLayer {
			return []gopacket.SerializableLayer{udp(), payload(8)}
		}},
		{"sctp", layers.IPProtocolSCTP, func(bool) []gopacket.SerializableLayer {
			return []gopacket.SerializableLayer{sctp(), payload(16)}
		}},
		{"dccp", protoDCCP, one(gopacket.Payload(portHeader(DCCPSrcPort, DCCPDstPort, 16)))},
		{"udplite", layers.IPProtocolUDPLite, one(gopacket.Payload(portHeader(UDPLiteSrcPort, UDPLiteDstPort, 16)))},
		{"icmp-echo", layers.IPProtocolICMPv4, func(bool) []gopacket.SerializableLayer {
			return []gopacket.SerializableLayer{icmp4(layers.ICMPv4TypeEchoRequest, 0), payload(8)}
		}},
		{"icmpv6-echo", layers.IPProtocolICMPv6, func(v6 bool) []gopacket.SerializableLayer {
			if !v6 { // ICMPv6's checksum needs an IPv6 pseudo-header
				return []gopacket.SerializableLayer{gopacket.Payload([]byte{layers.ICMPv6TypeEchoRequest, 0, 0, 0, 0, 1, 0, 1})}
			}
			return []gopacket.SerializableLayer{icmp6(layers.ICMPv6TypeEchoRequest, 0), &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}}
		}},
		{"gre", layers.IPProtocolGRE, func(bool) []gopacket.SerializableLayer {
			return []gopacket.SerializableLayer{&layers.GRE{Protocol: layers.EthernetTypeIPv4},
				ipv4(layers.IPProtocolUDP), udp(), payload(8)}
		}},
		{"esp", layers.IPProtocolESP, one(gopacket.Payload(append([]byte{0, 0, 0x10, 0x01, 0, 0, 0, 1}, make([]byte, 24)...)))},
		{"ah", layers.IPProtocolAH, one(gopacket.Payload(append([]byte{byte(layers.IPProtocolUDP), 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1},
			make([]byte, 12)...)), udp(), payload(8))},
		{"igmp", layers.IPProtocolIGMP, one(gopacket.Payload([]byte{0x16, 0, 0, 0, 239, 1, 2, 3}))},
		{"ipip", layers.IPProtocolIPv4, func(bool) []gopacket.SerializableLayer {
			return []gopacket.SerializableLayer{ipv4(layers.IPProtocolUDP), udp(), payload(8)}
		}},
	}
}

// build serializes the layers of a frame, fixing lengths and checksums.
// The transports' checksums cover the last IP header before them.
func build(ls ...gopacket.SerializableLayer) []byte {
	var network gopacket.NetworkLayer
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			network = l
		case *layers.IPv6:
			network = l
		case *layers.TCP:
			must1(l.SetNetworkLayerForChecksum(network))
		case *layers.UDP:
			must1(l.SetNetworkLayerForChecksum(network))
		case *layers.ICMPv6:
			must1(l.SetNetworkLayerForChecksum(network))
		}
	}
	return must(serialize(ls...))
}

func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		return nil, err
	}
	return append([]byte(nil), buf.Bytes()...), nil
}

// must stops on an error of the generator itself: every frame is fixed,
// so an error is a bug in this file, found by its first test run.
func must(b []byte, err error) []byte {
	must1(err)
	return b
}

func must1(err error) {
	if err != nil {
		panic(fmt.Sprintf("probetest: building a frame: %v", err))
	}
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: t}
}

func tag(vid uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: vid, Type: next}
}

func label(l uint32, bottom bool) *layers.MPLS {
	return &layers.MPLS{Label: l, TTL: 64, StackBottom: bottom}
}

// labels is a stack of n MPLS labels, the last one at the bottom.
func labels(n int) []gopacket.SerializableLayer {
	var ls []gopacket.SerializableLayer
	for i := 1; i <= n; i++ {
		ls = append(ls, label(uint32(2000+i), i == n))
	}
	return ls
}

func pppoe() *layers.PPPoE {
	return &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x1234}
}

func ppp(t layers.PPPType) *layers.PPP {
	return &layers.PPP{PPPType: t}
}

func arp() *layers.ARP {
	return &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: srcMAC, SourceProtAddress: SrcIPv4,
		DstHwAddress: make([]byte, 6), DstProtAddress: DstIPv4,
	}
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 0x4242, Protocol: proto, SrcIP: SrcIPv4, DstIP: DstIPv4}
}

func ipv4opts(proto layers.IPProtocol, opts ...layers.IPv4Option) *layers.IPv4 {
	ip := ipv4(proto)
	ip.Options = opts
	return ip
}

// routerAlert is a 4-byte IPv4 option (RFC 2113): IHL 6.
func routerAlert() layers.IPv4Option {
	return layers.IPv4Option{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}
}

// recordRoute is a record-route option of n bytes (IHL 5 + ceil(n/4)).
func recordRoute(n uint8) layers.IPv4Option {
	return layers.IPv4Option{OptionType: 0x07, OptionLength: n, OptionData: append([]byte{4}, make([]byte, n-3)...)}
}

// frag4 is an IPv4 header of a fragment at offset (in 8-byte units).
func frag4(proto layers.IPProtocol, offset uint16, more bool) *layers.IPv4 {
	ip := ipv4(proto)
	ip.FragOffset = offset
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	return ip
}

func ipv6(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: SrcIPv6, DstIP: DstIPv6}
}

// ext6 is a hop-by-hop, routing or destination-options header of
// 8*(hdrExtLen+1) bytes, filled with a PadN option.
func ext6(next layers.IPProtocol, hdrExtLen uint8) gopacket.Payload {
	h := make([]byte, 8*(int(hdrExtLen)+1))
	h[0], h[1] = byte(next), hdrExtLen
	h[2], h[3] = 1, byte(len(h)-4) // PadN over the rest
	return h
}

// chain is n extension headers (a hop-by-hop header, then destination
// options) ending in UDP.
func chain(n int) []gopacket.SerializableLayer {
	var ls []gopacket.SerializableLayer
	for i := 0; i < n; i++ {
		next := layers.IPProtocolIPv6Destination
		if i == n-1 {
			next = layers.IPProtocolUDP
		}
		ls = append(ls, ext6(next, 0))
	}
	return ls
}

// frag6 is an IPv6 fragment header at offset (in 8-byte units).
func frag6(next layers.IPProtocol, offset uint16, more bool) *layers.IPv6Fragment {
	return &layers.IPv6Fragment{NextHeader: next, FragmentOffset: offset, MoreFragments: more, Identification: 0x01020304}
}

const ipv6OptJumbo = 0xc2

// jumbo is an IPv6 jumbogram of the given Jumbo Payload length: payload
// length 0 and a hop-by-hop header holding pad (whole options) and the
// jumbo option, then UDP. Only the first bytes of the payload are there.
func jumbo(length uint32, pad []byte) []byte {
	opts := append(append([]byte(nil), pad...), ipv6OptJumbo, 4, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(opts[len(opts)-4:], length)
	return jumboRaw(opts)
}

// jumboRaw is an IPv6 frame with payload length 0 and a hop-by-hop header
// holding opts (padded to a multiple of 8 bytes), then UDP.
func jumboRaw(opts []byte) []byte {
	hbh := append([]byte{byte(layers.IPProtocolUDP), 0}, opts...)
	for len(hbh)%8 != 0 {
		hbh = append(hbh, 0) // Pad1
	}
	hbh[1] = byte(len(hbh)/8 - 1)
	f := build(eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), gopacket.Payload(hbh), udp(), payload(8))
	return setPayloadLen(f, 0)
}

func tcp() *layers.TCP {
	return &layers.TCP{SrcPort: TCPSrcPort, DstPort: TCPDstPort, Seq: 1000, Ack: 2000,
		SYN: true, ACK: true, ECE: true, Window: 65535}
}

func udp() *layers.UDP {
	return &layers.UDP{SrcPort: UDPSrcPort, DstPort: UDPDstPort}
}

func sctp() *layers.SCTP {
	return &layers.SCTP{SrcPort: SCTPSrcPort, DstPort: SCTPDstPort, VerificationTag: 0x11223344}
}

func icmp4(typ, code uint8) *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: 1, Seq: 1}
}

func icmp6(typ, code uint8) *layers.ICMPv6 {
	return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
}

// portHeader is a transport header of n bytes that starts with two ports
// (DCCP and UDP-Lite, which gopacket does not build).
func portHeader(src, dst uint16, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	return b
}

func payload(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// edit sets one byte of a frame.
func edit(f []byte, off int, v byte) []byte {
	f[off] = v
	return f
}

// setTotalLen overwrites the Total Length of the IPv4 header of an
// untagged frame.
func setTotalLen(f []byte, n uint16) []byte {
	binary.BigEndian.PutUint16(f[14+2:], n)
	return f
}

// setPayloadLen overwrites the Payload Length of the IPv6 header of an
// untagged frame.
func setPayloadLen(f []byte, n uint16) []byte {
	binary.BigEndian.PutUint16(f[14+4:], n)
	return f
}
