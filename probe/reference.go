package probe

import (
	"encoding/binary"
	"math/bits"

	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
)

// Bounds of the datapath's walks, named as in its C source.
const (
	maxVLANTags        = 2 // MAX_VLAN_TAGS
	maxMPLSLabels      = 8 // MAX_MPLS_LABELS
	maxIPv6ExtHeaders  = 8 // MAX_IPV6_EXT_HEADERS
	maxHopByHopOptions = 8 // MAX_HBH_OPTIONS
)

// Header sizes and field values the parser needs.
const (
	ethernetHeaderLen = 14
	vlanTagLen        = 4
	mplsLabelLen      = 4
	pppoeHeaderLen    = 8 // 6 bytes of PPPoE, then the 2-byte PPP protocol
	ipv4HeaderLen     = 20
	ipv6HeaderLen     = 40
	ipv6ExtMinLen     = 8 // every extension header is a multiple of 8 bytes
	ipv6OptPad1       = 0x00
	ipv6OptJumbo      = 0xc2
	sllHeaderLen      = 16
	sll2HeaderLen     = 20
	nullHeaderLen     = 4
	cHDLCHeaderLen    = 4

	// ipProtocolDCCP has no name in gopacket's layers.
	ipProtocolDCCP = layers.IPProtocol(33)

	// Link types that pcap files may use for raw IP besides LINKTYPE_RAW:
	// DLT_RAW is 12 on most systems and 14 on OpenBSD.
	linkTypeRawDLT12 = layers.LinkType(12)
	linkTypeRawDLT14 = layers.LinkType(14)
)

// Parsed is what xdp_flow learns from one frame before sampling, key
// masking and the flow map: its outcome and, when that is
// bpf.StatAccounted, the flow key and the counters the packet adds.
//
// On any other outcome the remaining fields are zero. Key.Ifindex is
// always 0: the caller knows the interface and sets it.
type Parsed struct {
	// Reason is the outcome: StatAccounted, StatNotIP, StatTruncated,
	// StatMalformed or StatUnsupported.
	Reason bpf.StatReason
	// Key is the flow key, before masking. Addresses in network byte
	// order (IPv4 mapped into IPv6), ports in host byte order.
	Key bpf.FlowKey
	// IPBytes is what the packet adds to the flow's bytes: the IPv4 total
	// length, or 40 plus the IPv6 payload (or jumbo) length.
	IPBytes uint64
	// TCPFlags is the TCP flag byte, 0 for other protocols or when the
	// TCP header is too short to hold it.
	TCPFlags uint8
	// NoL4 is set when the transport header was cut off (ports 0): the
	// datapath counts such packets under bpf.StatNoL4 as well.
	NoL4 bool
}

// StatBytes is what xdp_flow adds to the bytes of the packet's stats
// reason: the IP length for an accounted packet, the frame length for
// every other outcome.
func (p Parsed) StatBytes(frameLen int) uint64 {
	if p.Reason == bpf.StatAccounted {
		return p.IPBytes
	}
	return uint64(frameLen)
}

// ParseEthernet parses an Ethernet frame exactly as xdp_flow does, up to
// the flow map: same checks in the same order, same bounds, same outcome.
//
// It is written by hand, byte by byte, rather than on gopacket's decoders,
// because an oracle for the datapath needs the datapath's semantics, and
// gopacket judges packets differently: it rejects headers the datapath
// accounts (IPv4 options that do not parse, an IPv6 payload length of 0
// without a jumbo option), accepts some the datapath refuses (any IP
// version, an IPv4 Total Length of 0), and needs whole headers where the
// datapath reads only the first bytes of them. Each function in this file
// mirrors one parse_* function of the datapath, named in its comment.
// gopacket still reads the capture files, names the constants, builds the
// test frames and gives a second opinion in the tests.
func ParseEthernet(frame []byte) Parsed { return parseEthernet(frame, nil) }

func parseEthernet(frame []byte, pay *Payload) Parsed {
	if len(frame) < ethernetHeaderLen {
		return Parsed{Reason: bpf.StatTruncated}
	}
	return parseFromEtherType(frame, ethernetHeaderLen, etherType(frame[12:]), pay)
}

// ParseFrame parses a frame of a capture's link type. Ethernet frames go
// through ParseEthernet. Other link types enter the datapath's logic where
// their header leaves off: a Linux cooked (SLL, SLL2) or Cisco HDLC header
// names an EtherType, so VLAN tags, MPLS and PPPoE behind it are walked as
// on Ethernet; PPP names IPv4, IPv6 or MPLS; BSD loopback names an address
// family; raw IP is told apart by its version nibble, as behind MPLS.
// A link type the parser does not know is StatUnsupported.
func ParseFrame(linkType layers.LinkType, frame []byte) Parsed {
	return parseFrame(linkType, frame, nil)
}

// Payload locates the transport payload of an accounted packet in its
// frame, for the application classifier: Off is its offset in the frame,
// Len its length on the wire as the IP and transport headers give it
// (the frame may hold less: a capture's snap length). Len is 0 when the
// packet carries none or the parser cannot reach it: a transport other
// than TCP, UDP, UDP-Lite, SCTP and DCCP, a non-first fragment, a
// transport header cut off or longer than the IP payload.
//
// It is kept out of Parsed on purpose: Parsed is what the datapath is
// compared with field by field (the differential and gopacket tests), and
// the datapath's flow counting has no payload offset to compare.
type Payload struct {
	Off, Len int
	// IPOff is where the IP header starts (is_duplicate's ip_off).
	IPOff int
	// L4Off is where the transport header starts, 0 when the parser did
	// not reach one; L4Len its bytes inside the IP payload (tunnel_inner's
	// l4_off and l4_len).
	L4Off, L4Len int
	// Tunnel is the id of the tunnel the packet came out of (ParseFrameDecap;
	// see Decap.tunnelInner), 0 if none.
	Tunnel uint32
}

// Head is the part of the payload frame holds, at most max bytes.
func (p Payload) Head(frame []byte, max int) []byte {
	if p.Len <= 0 || p.Off >= len(frame) {
		return nil
	}
	end := min(len(frame), p.Off+p.Len, p.Off+max)
	return frame[p.Off:end:end]
}

// ParseFramePayload is ParseFrame that also locates the transport payload
// (zero unless the outcome is StatAccounted).
func ParseFramePayload(linkType layers.LinkType, frame []byte) (Parsed, Payload) {
	var pay Payload
	p := parseFrame(linkType, frame, &pay)
	if p.Reason != bpf.StatAccounted {
		pay = Payload{}
	}
	return p, pay
}

// ParseFrameDecap is ParseFramePayload through the tunnels d opens, as
// xdp_flow parses with cfg_decap: when the packet is such a tunnel, what
// counts is its inner Ethernet frame, parsed in place (offsets are into
// frame); a tunnel that is not well formed is an ordinary packet.
func ParseFrameDecap(linkType layers.LinkType, frame []byte, d Decap) (Parsed, Payload) {
	p, pay := ParseFramePayload(linkType, frame)
	if !d.On() || p.Reason != bpf.StatAccounted {
		return p, pay
	}
	inner, tunnel := d.tunnelInner(frame, &p, pay.L4Off, pay.L4Len)
	switch {
	case inner == 0:
		return p, pay
	case inner > maxFrameOffset:
		return Parsed{Reason: bpf.StatUnsupported}, Payload{}
	}
	q, in := ParseFramePayload(layers.LinkTypeEthernet, frame[inner:])
	if q.Reason != bpf.StatAccounted {
		return q, Payload{}
	}
	in.IPOff += inner
	in.Tunnel = tunnel
	if in.Len > 0 {
		in.Off += inner
	}
	if in.L4Off > 0 {
		in.L4Off += inner
	}
	return q, in
}

func parseFrame(linkType layers.LinkType, frame []byte, pay *Payload) Parsed {
	switch linkType {
	case layers.LinkTypeEthernet:
		return parseEthernet(frame, pay)
	case layers.LinkTypeLinuxSLL:
		// Packet type, ARPHRD type, address length, 8 address bytes,
		// then the protocol, an EtherType for the usual ARPHRD types.
		if len(frame) < sllHeaderLen {
			return Parsed{Reason: bpf.StatTruncated}
		}
		return parseFromEtherType(frame, sllHeaderLen, etherType(frame[14:]), pay)
	case layers.LinkTypeLinuxSLL2:
		// The protocol comes first, then reserved bytes, ifindex, ARPHRD
		// type, packet type, address length and 8 address bytes.
		if len(frame) < sll2HeaderLen {
			return Parsed{Reason: bpf.StatTruncated}
		}
		return parseFromEtherType(frame, sll2HeaderLen, etherType(frame[0:]), pay)
	case layers.LinkTypeRaw, linkTypeRawDLT12, linkTypeRawDLT14:
		return parseRawIP(frame, pay)
	case layers.LinkTypeIPv4:
		return parseFromEtherType(frame, 0, layers.EthernetTypeIPv4, pay)
	case layers.LinkTypeIPv6:
		return parseFromEtherType(frame, 0, layers.EthernetTypeIPv6, pay)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return parseNull(frame, linkType == layers.LinkTypeLoop, pay)
	case layers.LinkTypePPP, layers.LinkTypePPP_HDLC:
		return parsePPP(frame, pay)
	case layers.LinkTypeC_HDLC:
		// Address, control, then an EtherType.
		if len(frame) < cHDLCHeaderLen {
			return Parsed{Reason: bpf.StatTruncated}
		}
		return parseFromEtherType(frame, cHDLCHeaderLen, etherType(frame[2:]), pay)
	}
	return Parsed{Reason: bpf.StatUnsupported}
}

// SupportsLinkType reports whether ParseFrame knows the link type.
func SupportsLinkType(linkType layers.LinkType) bool {
	switch linkType {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, linkTypeRawDLT12, linkTypeRawDLT14,
		layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeNull, layers.LinkTypeLoop,
		layers.LinkTypePPP, layers.LinkTypePPP_HDLC, layers.LinkTypeC_HDLC:
		return true
	}
	return false
}

// parseRawIP parses a frame that starts with an IP header, choosing the
// parser by the version nibble as parse_l2 does behind an MPLS stack.
func parseRawIP(frame []byte, pay *Payload) Parsed {
	if len(frame) < 1 {
		return Parsed{Reason: bpf.StatTruncated}
	}
	switch frame[0] >> 4 {
	case 4:
		return parseFromEtherType(frame, 0, layers.EthernetTypeIPv4, pay)
	case 6:
		return parseFromEtherType(frame, 0, layers.EthernetTypeIPv6, pay)
	}
	return Parsed{Reason: bpf.StatNotIP}
}

// parseNull parses a BSD loopback frame: a 4-byte address family in the
// writer's byte order (DLT_NULL) or in network order (DLT_LOOP).
func parseNull(frame []byte, networkOrder bool, pay *Payload) Parsed {
	if len(frame) < nullHeaderLen {
		return Parsed{Reason: bpf.StatTruncated}
	}
	family := binary.LittleEndian.Uint32(frame)
	if networkOrder || (family&0xffff == 0 && family != 0) {
		// Families are small numbers: one in the upper half was written
		// big-endian.
		family = bits.ReverseBytes32(family)
	}
	switch family {
	case 2: // AF_INET everywhere
		return parseFromEtherType(frame, nullHeaderLen, layers.EthernetTypeIPv4, pay)
	case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
		return parseFromEtherType(frame, nullHeaderLen, layers.EthernetTypeIPv6, pay)
	}
	return Parsed{Reason: bpf.StatNotIP}
}

// parsePPP parses a PPP frame: an optional HDLC address and control field
// (0xff 0x03), then the PPP protocol, 1 byte when compressed (odd first
// byte) or 2. IPv4 and IPv6 enter the IP parsers, MPLS enters parse_l2's
// label-stack walk.
func parsePPP(frame []byte, pay *Payload) Parsed {
	off := 0
	if len(frame) >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
		off = 2
	}
	if off+1 > len(frame) {
		return Parsed{Reason: bpf.StatTruncated}
	}
	var proto layers.PPPType
	if frame[off]&0x01 != 0 {
		proto = layers.PPPType(frame[off])
		off++
	} else {
		if off+2 > len(frame) {
			return Parsed{Reason: bpf.StatTruncated}
		}
		proto = layers.PPPType(binary.BigEndian.Uint16(frame[off:]))
		off += 2
	}
	switch proto {
	case layers.PPPTypeIPv4:
		return parseFromEtherType(frame, off, layers.EthernetTypeIPv4, pay)
	case layers.PPPTypeIPv6:
		return parseFromEtherType(frame, off, layers.EthernetTypeIPv6, pay)
	case layers.PPPTypeMPLSUnicast:
		return parseFromEtherType(frame, off, layers.EthernetTypeMPLSUnicast, pay)
	case layers.PPPTypeMPLSMulticast:
		return parseFromEtherType(frame, off, layers.EthernetTypeMPLSMulticast, pay)
	}
	return Parsed{Reason: bpf.StatNotIP}
}

// parseFromEtherType parses the rest of frame from off, where a link
// header has just named proto: parse_l2 after its Ethernet header, then
// parse_ipv4 or parse_ipv6, as xdp_flow calls them.
func parseFromEtherType(frame []byte, off int, proto layers.EthernetType, pay *Payload) Parsed {
	var p Parsed
	ipOff, version, reason := p.parseL2(frame, off, proto)
	if reason != bpf.StatAccounted {
		return Parsed{Reason: reason}
	}
	p.Key.IpVersion = version
	var l4 Payload
	if version == 4 {
		reason, l4 = p.parseIPv4(frame[ipOff:])
	} else {
		reason, l4 = p.parseIPv6(frame[ipOff:])
	}
	if reason != bpf.StatAccounted {
		return Parsed{Reason: reason}
	}
	p.Reason = bpf.StatAccounted
	if pay != nil {
		pay.IPOff = ipOff
		if l4.Len > 0 {
			pay.Off, pay.Len = ipOff+l4.Off, l4.Len
		}
		if l4.L4Off > 0 {
			pay.L4Off, pay.L4Len = ipOff+l4.L4Off, l4.L4Len
		}
	}
	return p
}

func isVLAN(proto layers.EthernetType) bool {
	return proto == layers.EthernetTypeDot1Q || proto == layers.EthernetTypeQinQ
}

// parseL2 mirrors parse_l2 from the point where the Ethernet header named
// proto: up to maxVLANTags 802.1Q/802.1ad tags, then an MPLS label stack
// or a PPPoE session header. On StatAccounted it returns the offset of the
// IP header and the IP version (4 or 6).
func (p *Parsed) parseL2(frame []byte, off int, proto layers.EthernetType) (int, uint8, bpf.StatReason) {
	for i := 0; i < maxVLANTags; i++ {
		if !isVLAN(proto) {
			break
		}
		if off+vlanTagLen > len(frame) {
			return 0, 0, bpf.StatTruncated
		}
		vid := binary.BigEndian.Uint16(frame[off:]) & 0x0fff
		if i == 0 {
			p.Key.VlanId = vid
		} else {
			p.Key.InnerVlanId = vid
		}
		proto = etherType(frame[off+2:])
		off += vlanTagLen
	}
	if isVLAN(proto) {
		return 0, 0, bpf.StatUnsupported // a third tag
	}

	switch proto {
	case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast:
		bottom := false
		for i := 0; i < maxMPLSLabels; i++ {
			if off+mplsLabelLen > len(frame) {
				return 0, 0, bpf.StatTruncated
			}
			s := frame[off+2]&0x01 != 0 // bottom-of-stack bit
			off += mplsLabelLen
			if s {
				bottom = true
				break
			}
		}
		if !bottom {
			return 0, 0, bpf.StatUnsupported
		}
		// MPLS names no payload type: guess from the IP version nibble.
		if off+1 > len(frame) {
			return 0, 0, bpf.StatTruncated
		}
		switch frame[off] >> 4 {
		case 4:
			proto = layers.EthernetTypeIPv4
		case 6:
			proto = layers.EthernetTypeIPv6
		default:
			return 0, 0, bpf.StatNotIP
		}
	case layers.EthernetTypePPPoESession:
		if off+pppoeHeaderLen > len(frame) {
			return 0, 0, bpf.StatTruncated
		}
		ppp := layers.PPPType(binary.BigEndian.Uint16(frame[off+6:]))
		off += pppoeHeaderLen
		switch ppp {
		case layers.PPPTypeIPv4:
			proto = layers.EthernetTypeIPv4
		case layers.PPPTypeIPv6:
			proto = layers.EthernetTypeIPv6
		default:
			return 0, 0, bpf.StatNotIP
		}
	}

	switch proto {
	case layers.EthernetTypeIPv4:
		return off, 4, bpf.StatAccounted
	case layers.EthernetTypeIPv6:
		return off, 6, bpf.StatAccounted
	}
	return 0, 0, bpf.StatNotIP
}

// parseIPv4 mirrors parse_ipv4 on ip, which runs from the IPv4 header to
// the end of the frame.
func (p *Parsed) parseIPv4(ip []byte) (bpf.StatReason, Payload) {
	if len(ip) < ipv4HeaderLen {
		return bpf.StatTruncated, Payload{}
	}
	version, ihl := ip[0]>>4, ip[0]&0x0f
	if version != 4 || ihl < 5 {
		return bpf.StatMalformed, Payload{}
	}
	hlen := int(ihl) * 4
	if hlen > len(ip) {
		return bpf.StatTruncated, Payload{}
	}
	total := uint32(binary.BigEndian.Uint16(ip[2:]))
	if total < uint32(hlen) {
		return bpf.StatMalformed, Payload{}
	}

	// IPv4-mapped IPv6: ::ffff:a.b.c.d.
	p.Key.SrcAddr[10], p.Key.SrcAddr[11] = 0xff, 0xff
	copy(p.Key.SrcAddr[12:], ip[12:16])
	p.Key.DstAddr[10], p.Key.DstAddr[11] = 0xff, 0xff
	copy(p.Key.DstAddr[12:], ip[16:20])
	p.Key.Proto = ip[9]
	p.Key.Tos = ip[1]
	p.IPBytes = uint64(total)

	if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
		return bpf.StatAccounted, Payload{} // non-first fragment: no transport header
	}
	pay := p.parseL4(ip[hlen:], total-uint32(hlen))
	pay.Off += hlen
	pay.L4Off, pay.L4Len = hlen, int(total)-hlen
	return bpf.StatAccounted, pay
}

// parseL4 mirrors parse_l4: l4 runs from the transport header to the end
// of the frame, avail is how much of it the IP header says is payload.
// It returns where the transport payload starts in l4 and its length, for
// the classifier (the datapath's counting does not need them).
func (p *Parsed) parseL4(l4 []byte, avail uint32) Payload {
	switch layers.IPProtocol(p.Key.Proto) {
	case layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolUDPLite,
		layers.IPProtocolSCTP, ipProtocolDCCP:
		// All five start with source and destination port.
		if avail < 4 || len(l4) < 4 {
			p.NoL4 = true
			return Payload{}
		}
		p.Key.SrcPort = binary.BigEndian.Uint16(l4[0:])
		p.Key.DstPort = binary.BigEndian.Uint16(l4[2:])
		if layers.IPProtocol(p.Key.Proto) == layers.IPProtocolTCP && avail >= 14 && len(l4) >= 14 {
			p.TCPFlags = l4[13]
		}
		return l4Payload(layers.IPProtocol(p.Key.Proto), l4, avail)
	case layers.IPProtocolICMPv4, layers.IPProtocolICMPv6:
		if avail < 2 || len(l4) < 2 {
			p.NoL4 = true
			return Payload{}
		}
		p.Key.DstPort = binary.BigEndian.Uint16(l4) // type<<8 | code
	}
	return Payload{}
}

// Transport header lengths before the payload.
const (
	udpHeaderLen     = 8
	sctpHeaderLen    = 12 // the common header; chunks follow
	tcpMinHeaderLen  = 20
	dccpMinHeaderLen = 12
)

// l4Payload finds the payload behind a transport header whose ports were
// read: TCP and DCCP by their data offset, UDP and UDP-Lite after 8 bytes,
// SCTP after its common header. A header the frame cuts before its length
// field, or longer than avail, gives none.
func l4Payload(proto layers.IPProtocol, l4 []byte, avail uint32) Payload {
	hdr := 0
	switch proto {
	case layers.IPProtocolUDP, layers.IPProtocolUDPLite:
		hdr = udpHeaderLen
	case layers.IPProtocolSCTP:
		hdr = sctpHeaderLen
	case layers.IPProtocolTCP:
		if len(l4) < 13 {
			return Payload{}
		}
		hdr = int(l4[12]>>4) * 4
		if hdr < tcpMinHeaderLen {
			return Payload{}
		}
	case ipProtocolDCCP:
		if len(l4) < 5 {
			return Payload{}
		}
		hdr = int(l4[4]) * 4
		if hdr < dccpMinHeaderLen {
			return Payload{}
		}
	default:
		return Payload{}
	}
	if uint32(hdr) >= avail {
		return Payload{}
	}
	return Payload{Off: hdr, Len: int(avail) - hdr}
}

func isIPv6Ext(nh uint8) bool {
	switch layers.IPProtocol(nh) {
	case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing,
		layers.IPProtocolIPv6Destination, layers.IPProtocolIPv6Fragment:
		return true
	}
	return false
}

// parseIPv6 mirrors parse_ipv6 on ip, which runs from the IPv6 header to
// the end of the frame: it walks at most maxIPv6ExtHeaders hop-by-hop,
// routing, fragment and destination-options headers; one that is not
// wholly inside frame and payload ends the walk and becomes the protocol.
func (p *Parsed) parseIPv6(ip []byte) (bpf.StatReason, Payload) {
	if len(ip) < ipv6HeaderLen {
		return bpf.StatTruncated, Payload{}
	}
	if ip[0]>>4 != 6 {
		return bpf.StatMalformed, Payload{}
	}
	copy(p.Key.SrcAddr[:], ip[8:24])
	copy(p.Key.DstAddr[:], ip[24:40])
	p.Key.Tos = ip[0]<<4 | ip[1]>>4 // traffic class straddles bytes 0 and 1

	avail := uint32(binary.BigEndian.Uint16(ip[4:]))
	nh := ip[6]
	h := ipv6HeaderLen

	if avail == 0 && layers.IPProtocol(nh) == layers.IPProtocolIPv6HopByHop && h+2 <= len(ip) {
		hbhLen := (uint32(ip[h+1]) + 1) * 8
		avail = ipv6JumboLen(ip[h:], hbhLen)
	}
	p.IPBytes = ipv6HeaderLen + uint64(avail) // 64 bits: a jumbo length may be 2^32-1

	for i := 0; i < maxIPv6ExtHeaders; i++ {
		if !isIPv6Ext(nh) {
			break
		}
		if avail < ipv6ExtMinLen || h+ipv6ExtMinLen > len(ip) {
			p.Key.Proto = nh
			p.NoL4 = true
			return bpf.StatAccounted, Payload{}
		}
		if layers.IPProtocol(nh) == layers.IPProtocolIPv6Fragment {
			offset := binary.BigEndian.Uint16(ip[h+2:]) & 0xfff8
			nh = ip[h]
			h += ipv6ExtMinLen
			avail -= ipv6ExtMinLen
			if offset != 0 {
				p.Key.Proto = nh // non-first fragment: no transport header
				return bpf.StatAccounted, Payload{}
			}
			continue
		}
		n := (uint32(ip[h+1]) + 1) * 8
		if n > avail || h+int(n) > len(ip) {
			p.Key.Proto = nh
			p.NoL4 = true
			return bpf.StatAccounted, Payload{}
		}
		nh = ip[h]
		h += int(n)
		avail -= n
	}
	if isIPv6Ext(nh) {
		return bpf.StatUnsupported, Payload{}
	}
	p.Key.Proto = nh
	pay := p.parseL4(ip[h:], avail)
	pay.Off += h
	pay.L4Off, pay.L4Len = h, int(avail)
	return bpf.StatAccounted, pay
}

// ipv6JumboLen mirrors ipv6_jumbo_len: the Jumbo Payload length (RFC 2675)
// from the hop-by-hop header hbh (running to the end of the frame) that
// claims hbhLen bytes, or 0 if it has none among its first
// maxHopByHopOptions options.
func ipv6JumboLen(hbh []byte, hbhLen uint32) uint32 {
	off := uint32(2)
	for i := 0; i < maxHopByHopOptions; i++ {
		if off+2 > hbhLen {
			return 0
		}
		o := int(off & 0x7ff) // the datapath's verifier mask; off < 2048 here
		if o+2 > len(hbh) {
			return 0
		}
		if hbh[o] == ipv6OptPad1 { // Pad1 has no length byte
			off++
			continue
		}
		if hbh[o] == ipv6OptJumbo && hbh[o+1] == 4 {
			if o+6 > len(hbh) || off+6 > hbhLen {
				return 0
			}
			return binary.BigEndian.Uint32(hbh[o+2:])
		}
		off += 2 + uint32(hbh[o+1])
	}
	return 0
}

func etherType(b []byte) layers.EthernetType {
	return layers.EthernetType(binary.BigEndian.Uint16(b))
}
