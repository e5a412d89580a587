package probetest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/spanflow/spanflow/bpf"
)

// GenConfig says which capture WriteCapture builds. The same config
// always gives the same file, byte for byte.
type GenConfig struct {
	Packets int    // Ethernet frames in the capture
	Flows   int    // distinct flow keys among them (1 ≤ Flows ≤ Packets)
	Seed    uint64 // seeds every random choice
	Ifindex uint32 // ingress ifindex the probe will see; goes into the keys
}

// FlowTotals is what one flow adds up to over the whole capture, counted
// as the datapath counts: IP total length, OR of the TCP flag byte.
type FlowTotals struct {
	Packets  uint64
	Bytes    uint64
	TCPFlags uint8
}

// Capture is a written capture and its ground truth, known by
// construction rather than by parsing the file back.
type Capture struct {
	Path       string
	Packets    int
	FrameBytes uint64 // sum of frame lengths
	IPBytes    uint64 // sum of IP total lengths (what the flows count)
	Flows      map[bpf.FlowKey]FlowTotals
	Frames     map[string]int // frames per feature: "ipv4", "tcp", "802.1q", …
}

// TCP flag bits as they sit in the flag byte.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
	tcpECE = 0x40
	tcpCWR = 0x80
)

// genFlow is one flow of the capture: its key as the datapath will key
// it, how its frames look, and what it has been sent so far.
type genFlow struct {
	key       bpf.FlowKey
	planned   uint32 // frames this flow gets in all
	sent      uint32
	qinq      bool   // outer tag is 802.1ad, key.InnerVlanId the 802.1Q tag
	pcp       uint16 // priority and DEI bits of the tags (the VID is in the key)
	options   bool   // IPv4 with a Router Alert option / IPv6 with hop-by-hop
	reply     bool   // sent by the server: SYN comes with ACK
	midstream bool   // TCP flow already open when the capture starts: no SYN
	ecn       bool   // SYN negotiates ECN (ECE|CWR)
	last      uint8  // TCP flags of the last frame
	totals    FlowTotals
}

var (
	genSrcMAC = []byte{0x02, 0x00, 0x5f, 0x00, 0x00, 0x01}
	genDstMAC = []byte{0x02, 0x00, 0x5f, 0x00, 0x00, 0x02}
	genTOS    = []uint8{0, 0, 0, 0, 0, 0, 0x10, 0x28, 0x48, 0x88, 0xb8, 0xc0, 0x01, 0x02, 0x03}
	tcpPorts  = []uint16{80, 443, 22, 25, 179, 3306, 8080, 9090}
	udpPorts  = []uint16{53, 123, 161, 443, 514, 2055, 4739, 5353}
	icmpTypes = [][2]uint8{{8, 0}, {0, 0}, {3, 1}, {3, 3}, {11, 0}, {5, 1}}
	icmp6Type = [][2]uint8{{128, 0}, {129, 0}, {1, 4}, {2, 0}, {3, 0}}
)

// WriteCapture writes a deterministic pcap of cfg.Packets Ethernet frames
// in cfg.Flows flows to path and returns its ground truth. The frames mix
// IPv4 and IPv6, TCP (with handshake, data, FIN/RST and ECN flags), UDP,
// ICMP and ICMPv6; some are 802.1Q- or QinQ-tagged, some carry IPv4
// options or an IPv6 hop-by-hop header; short frames are padded to 60
// bytes as Ethernet pads them; checksums are correct. Addresses
// come only from 198.18.0.0/15 and 2001:db8::/32. Flow sizes are
// heavy-tailed and the frames of all flows are shuffled together, so most
// flows span the whole capture.
func WriteCapture(path string, cfg GenConfig) (*Capture, error) {
	if cfg.Flows < 1 || cfg.Packets < cfg.Flows {
		return nil, fmt.Errorf("capture of %d packets in %d flows: need 1 ≤ flows ≤ packets", cfg.Packets, cfg.Flows)
	}
	g := &generator{
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5f1a_7e57)),
		ifindex: cfg.Ifindex,
		buf:     make([]byte, 0, 2048),
	}
	g.payload = make([]byte, 2048)
	for i := range g.payload {
		g.payload[i] = uint8(g.rng.Uint32())
	}
	flows := g.drawFlows(cfg.Flows)
	schedule := g.schedule(flows, cfg.Packets)

	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	c := &Capture{Path: path, Packets: len(schedule), Frames: map[string]int{}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, fi := range schedule {
		fl := &flows[fi]
		frame, ipBytes, flags := g.frame(fl, c.Frames)
		fl.sent++
		fl.totals.Packets++
		fl.totals.Bytes += uint64(ipBytes)
		fl.totals.TCPFlags |= flags
		c.FrameBytes += uint64(len(frame))
		c.IPBytes += uint64(ipBytes)
		ci := gopacket.CaptureInfo{
			Timestamp:     start.Add(time.Duration(i) * 2 * time.Microsecond),
			CaptureLength: len(frame),
			Length:        len(frame),
		}
		if err := w.WritePacket(ci, frame); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	c.Flows = make(map[bpf.FlowKey]FlowTotals, len(flows))
	for i := range flows {
		c.Flows[flows[i].key] = flows[i].totals
	}
	return c, nil
}

type generator struct {
	rng     *rand.Rand
	ifindex uint32
	buf     []byte // the frame being built, reused
	payload []byte // random bytes that payloads are cut from
	ipID    uint16
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// drawFlows draws n flows with distinct keys.
func (g *generator) drawFlows(n int) []genFlow {
	flows := make([]genFlow, n)
	seen := make(map[bpf.FlowKey]struct{}, n)
	for i := range flows {
		for {
			g.drawFlow(&flows[i])
			if _, dup := seen[flows[i].key]; !dup {
				seen[flows[i].key] = struct{}{}
				break
			}
		}
	}
	return flows
}

func (g *generator) drawFlow(f *genFlow) {
	r := g.rng
	*f = genFlow{planned: 1}
	k := &f.key
	k.Ifindex = g.ifindex
	k.IpVersion = 4
	if r.IntN(100) < 30 {
		k.IpVersion = 6
	}
	// 8192 clients talk to 1024 servers.
	client, server := uint32(r.IntN(8192)), uint32(r.IntN(1024))
	clientPort, serverPort := uint16(1024+r.IntN(64512)), uint16(0)
	switch p := r.IntN(100); {
	case p < 55:
		k.Proto = uint8(layers.IPProtocolTCP)
		serverPort = pick(r, tcpPorts)
	case p < 85:
		k.Proto = uint8(layers.IPProtocolUDP)
		serverPort = pick(r, udpPorts)
	case k.IpVersion == 4:
		k.Proto = uint8(layers.IPProtocolICMPv4)
	default:
		k.Proto = uint8(layers.IPProtocolICMPv6)
	}
	src, dst := hostAddr(k.IpVersion, 1, client), hostAddr(k.IpVersion, 2, server)
	k.SrcPort, k.DstPort = clientPort, serverPort
	f.reply = r.IntN(2) == 0
	if f.reply {
		src, dst = dst, src
		k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	}
	k.SrcAddr, k.DstAddr = src, dst
	switch k.Proto {
	case uint8(layers.IPProtocolICMPv4):
		t := pick(r, icmpTypes)
		k.SrcPort, k.DstPort = 0, uint16(t[0])<<8|uint16(t[1])
	case uint8(layers.IPProtocolICMPv6):
		t := pick(r, icmp6Type)
		k.SrcPort, k.DstPort = 0, uint16(t[0])<<8|uint16(t[1])
	case uint8(layers.IPProtocolTCP):
		f.midstream = r.IntN(100) < 20
		f.ecn = r.IntN(100) < 10
		f.last = [...]uint8{tcpFIN | tcpACK, tcpFIN | tcpACK, tcpFIN | tcpPSH | tcpACK, tcpRST, tcpRST | tcpACK, tcpACK}[r.IntN(6)]
	}
	k.Tos = pick(r, genTOS)
	f.pcp = uint16(r.IntN(16)) << 12 // PCP and DEI: the datapath must ignore them
	switch v := r.IntN(100); {
	case v < 15:
		k.VlanId = uint16(1 + r.IntN(4094))
	case v < 17:
		f.qinq = true
		k.VlanId = uint16(100 + r.IntN(100))
		k.InnerVlanId = uint16(1 + r.IntN(4094))
	}
	f.options = r.IntN(100) < 5
}

// hostAddr is host n of a site, as the key stores it: IPv4 in
// 198.18.0.0/16 (site 1) or 198.19.0.0/16 (site 2), IPv4-mapped; IPv6 in
// 2001:db8:<site>::/48.
func hostAddr(version uint8, site, n uint32) [16]byte {
	var a [16]byte
	if version == 4 {
		a[10], a[11] = 0xff, 0xff
		binary.BigEndian.PutUint32(a[12:], 198<<24|(17+site)<<16|(n+1))
		return a
	}
	binary.BigEndian.PutUint32(a[0:], 0x20010db8)
	binary.BigEndian.PutUint16(a[4:], uint16(site))
	binary.BigEndian.PutUint32(a[12:], n+1)
	return a
}

// schedule gives every flow one frame, spreads the rest over the flows
// with a Zipf law (a few elephants, many mice) and shuffles the lot.
func (g *generator) schedule(flows []genFlow, packets int) []uint32 {
	z := rand.NewZipf(g.rng, 1.1, 4, uint64(len(flows)-1))
	for range packets - len(flows) {
		flows[z.Uint64()].planned++
	}
	s := make([]uint32, 0, packets)
	for i := range flows {
		for range flows[i].planned {
			s = append(s, uint32(i))
		}
	}
	g.rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// payloadLen draws a payload size: mostly small, a few near the MTU.
func (g *generator) payloadLen() int {
	switch p := g.rng.IntN(100); {
	case p < 80:
		return g.rng.IntN(32)
	case p < 98:
		return 32 + g.rng.IntN(160)
	default:
		return 192 + g.rng.IntN(1209) // ≤ 1400: IPv6+HBH+TCP stays ≤ 1500
	}
}

// tcpFlags chooses the flags of the flow's next frame and whether it
// carries data: SYN (or SYN|ACK) first, FIN or RST last, ACK and PSH|ACK
// between, with a sprinkle of URG and ECE.
func (g *generator) tcpFlags(f *genFlow) (flags uint8, data bool) {
	switch {
	case f.sent == 0 && !f.midstream:
		flags = tcpSYN
		if f.reply {
			flags |= tcpACK
		}
		if f.ecn {
			flags |= tcpECE
			if !f.reply {
				flags |= tcpCWR
			}
		}
		return flags, false
	case f.sent == f.planned-1 && (f.planned > 1 || f.midstream):
		return f.last, f.last&tcpPSH != 0
	}
	switch p := g.rng.IntN(100); {
	case p < 55:
		return tcpACK, false
	case p < 96:
		return tcpPSH | tcpACK, true
	case p < 98:
		return tcpECE | tcpACK, true
	default:
		return tcpURG | tcpPSH | tcpACK, true
	}
}

// frame builds the flow's next frame in g.buf and returns it with its IP
// total length and TCP flags. frames counts the features used.
func (g *generator) frame(f *genFlow, frames map[string]int) (frame []byte, ipBytes int, flags uint8) {
	k := &f.key
	b := append(g.buf[:0], genDstMAC...)
	b = append(b, genSrcMAC...)
	switch {
	case f.qinq:
		b = binary.BigEndian.AppendUint16(b, uint16(layers.EthernetTypeQinQ))
		b = binary.BigEndian.AppendUint16(b, f.pcp|k.VlanId)
		b = binary.BigEndian.AppendUint16(b, uint16(layers.EthernetTypeDot1Q))
		b = binary.BigEndian.AppendUint16(b, f.pcp|k.InnerVlanId)
		frames["qinq"]++
	case k.VlanId != 0:
		b = binary.BigEndian.AppendUint16(b, uint16(layers.EthernetTypeDot1Q))
		b = binary.BigEndian.AppendUint16(b, f.pcp|k.VlanId)
		frames["802.1q"]++
	}

	// Transport header and payload first, so the IP header knows its length.
	var l4 [20]byte
	var l4len int
	var payload int
	var proto string
	switch k.Proto {
	case uint8(layers.IPProtocolTCP):
		var data bool
		flags, data = g.tcpFlags(f)
		if data {
			payload = g.payloadLen()
		}
		binary.BigEndian.PutUint16(l4[0:], k.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], k.DstPort)
		binary.BigEndian.PutUint32(l4[4:], 1000+f.sent*1460)   // sequence
		binary.BigEndian.PutUint32(l4[8:], 7000+f.sent*100)    // acknowledgement
		l4[12], l4[13] = 5<<4, flags                           // data offset 5 words
		binary.BigEndian.PutUint16(l4[14:], 64240)             // window
		binary.BigEndian.PutUint16(l4[18:], uint16(payload/2)) // urgent pointer
		l4len, proto = 20, "tcp"
	case uint8(layers.IPProtocolUDP):
		payload = g.payloadLen()
		binary.BigEndian.PutUint16(l4[0:], k.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], k.DstPort)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+payload))
		l4len, proto = 8, "udp"
	default: // ICMP or ICMPv6: type, code, checksum, identifier, sequence
		payload = 8 + g.payloadLen()
		binary.BigEndian.PutUint16(l4[0:], k.DstPort)
		binary.BigEndian.PutUint16(l4[4:], uint16(k.SrcAddr[15])<<8|uint16(k.DstAddr[15]))
		binary.BigEndian.PutUint16(l4[6:], uint16(f.sent))
		l4len, proto = 8, "icmp"
		if k.IpVersion == 6 {
			proto = "icmpv6"
		}
	}
	segLen := l4len + payload

	var ipStart, ipHdrLen int
	if k.IpVersion == 4 {
		b = binary.BigEndian.AppendUint16(b, uint16(layers.EthernetTypeIPv4))
		ipStart = len(b)
		ipHdrLen = 20
		if f.options {
			ipHdrLen = 24
			frames["ipv4-options"]++
		}
		g.ipID++
		b = append(b, 0x40|uint8(ipHdrLen/4), k.Tos)
		b = binary.BigEndian.AppendUint16(b, uint16(ipHdrLen+segLen))
		b = binary.BigEndian.AppendUint16(b, g.ipID)
		b = append(b, 0x40, 0, 64, k.Proto, 0, 0) // DF, TTL 64, checksum later
		b = append(b, k.SrcAddr[12:]...)
		b = append(b, k.DstAddr[12:]...)
		if f.options {
			b = append(b, 0x94, 0x04, 0, 0) // Router Alert
		}
		binary.BigEndian.PutUint16(b[ipStart+10:], checksum(b[ipStart:], 0))
		frames["ipv4"]++
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(layers.EthernetTypeIPv6))
		ipHdrLen = 40
		next := k.Proto
		extLen := 0
		if f.options {
			next, extLen = 0, 8 // hop-by-hop
			frames["ipv6-hop-by-hop"]++
		}
		label := uint32(k.SrcPort) ^ uint32(k.DstAddr[15])<<4 // flow label
		b = append(b, 0x60|k.Tos>>4, k.Tos<<4|uint8(label>>16&0x0f), uint8(label>>8), uint8(label))
		b = binary.BigEndian.AppendUint16(b, uint16(extLen+segLen))
		b = append(b, next, 64)
		b = append(b, k.SrcAddr[:]...)
		b = append(b, k.DstAddr[:]...)
		if f.options {
			b = append(b, k.Proto, 0, 1, 4, 0, 0, 0, 0) // PadN of 4 bytes
		}
		ipHdrLen += extLen
		frames["ipv6"]++
	}
	frames[proto]++

	l4Start := len(b)
	b = append(b, l4[:l4len]...)
	off := int(f.sent*7+uint32(k.DstPort)) % (len(g.payload) - payload)
	b = append(b, g.payload[off:off+payload]...)
	seg := b[l4Start:]

	// Checksums: TCP, UDP and ICMPv6 cover a pseudo-header, ICMP does not.
	var sum uint32
	if k.Proto != uint8(layers.IPProtocolICMPv4) {
		if k.IpVersion == 4 {
			sum = sumBytes(k.SrcAddr[12:], 0)
			sum = sumBytes(k.DstAddr[12:], sum)
		} else {
			sum = sumBytes(k.SrcAddr[:], 0)
			sum = sumBytes(k.DstAddr[:], sum)
		}
		sum += uint32(k.Proto) + uint32(len(seg))
	}
	csumAt := 2 // ICMP, ICMPv6
	switch k.Proto {
	case uint8(layers.IPProtocolTCP):
		csumAt = 16
	case uint8(layers.IPProtocolUDP):
		csumAt = 6
	}
	c := checksum(seg, sum)
	if c == 0 && k.Proto == uint8(layers.IPProtocolUDP) {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(seg[csumAt:], c)

	// Ethernet pads short frames to 60 bytes (64 with the FCS); the padding
	// is not part of the IP packet and must not be counted.
	if len(b) < 60 {
		b = append(b, make([]byte, 60-len(b))...)
		frames["padded"]++
	}
	g.buf = b
	return b, ipHdrLen + segLen, flags
}

// sumBytes adds b as big-endian 16-bit words to sum (ones' complement,
// carries folded later).
func sumBytes(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	sum = sumBytes(b, sum)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
