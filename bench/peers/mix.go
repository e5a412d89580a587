package peers

import (
	"encoding/binary"
	"net/netip"
)

// Mix is a traffic pattern: a function from a packet's sequence number to
// the packet. The same functions, in C, are xdp_livegen's
// (bpf/benchprog/livegen.c), so the ground truth of a live run is
// recomputed here from the sequence numbers it used.
type Mix uint32

// The mixes, numbered as livegen.c numbers them.
const (
	Steady    Mix = iota // 1,024 long TCP flows, round robin
	Realistic            // DNS, ICMP, IPv4/IPv6/VLAN TCP sessions, 256 units under way
	Short                // flows of 1-5 packets, 256 under way
	Flood                // every packet a new flow (TCP SYN)
)

var mixNames = []string{"steady", "realistic", "short", "flood"}

func (m Mix) String() string { return mixNames[m] }

// Packet is one frame before it is written, as livegen.c's struct pkt:
// addresses in host order; IPv6 addresses are 2001:db8::/96 plus Src4 or
// Dst4; ICMP carries type and code in Sport.
type Packet struct {
	Src4, Dst4   uint32
	Sport, Dport uint16
	IPLen        uint16 // IP total length
	VLAN         uint16 // 0: untagged
	V6           bool
	Proto, Flags uint8
}

// Info is what the generator knows of a sequence number beyond its
// packet: whether it is sent at all, whether it opens a flow, and the
// flow's number within the mix (short mix: to stop at a flow count).
type Info struct {
	Send, First bool
	Flow        uint64
}

const (
	netA  = 0xc6120000 // 198.18.0.0: clients and flood sources
	netB  = 0xc6130000 // 198.19.0.0: servers
	lanes = 256        // units or flows under way at once

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpPSH = 0x08
	tcpACK = 0x10

	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17
)

type kind uint8

const (
	kDNS kind = iota
	kTCP4
	kICMP
	kTCP6
	kVLAN
)

type step struct {
	kind  kind
	reply bool
	flags uint8 // TCP flags; for ICMP the type
	iplen uint16
}

// unitSteps is livegen.c's unit_steps: one realistic unit, 10 flows.
var unitSteps = func() [32]step {
	const sa, pa, fa = tcpSYN | tcpACK, tcpPSH | tcpACK, tcpFIN | tcpACK
	return [32]step{
		{kDNS, false, 0, 60}, {kDNS, true, 0, 120}, {kTCP4, false, tcpSYN, 40},
		{kTCP4, true, sa, 40}, {kTCP4, false, tcpACK, 40}, {kTCP4, false, pa, 300},
		{kTCP4, true, tcpACK, 1500}, {kTCP4, true, tcpACK, 1500}, {kTCP4, false, tcpACK, 40},
		{kTCP4, true, pa, 1500}, {kICMP, false, 8, 84}, {kICMP, true, 0, 84},
		{kTCP6, false, tcpSYN, 60}, {kTCP6, true, sa, 60}, {kTCP6, false, tcpACK, 60},
		{kTCP6, false, pa, 400}, {kTCP6, true, tcpACK, 1280}, {kVLAN, false, tcpSYN, 40},
		{kVLAN, true, sa, 40}, {kVLAN, false, tcpACK, 40}, {kVLAN, false, pa, 200},
		{kVLAN, true, pa, 900}, {kTCP4, false, tcpACK, 40}, {kTCP4, true, pa, 700},
		{kTCP6, true, pa, 1000}, {kTCP6, false, tcpACK, 60}, {kTCP4, false, fa, 40},
		{kTCP4, true, fa, 40}, {kTCP4, false, tcpACK, 40}, {kVLAN, false, fa, 40},
		{kVLAN, true, fa, 40}, {kTCP6, false, fa, 60},
	}
}()

// firstStep marks the step that opens each of a unit's flows (a kind and
// a direction).
var firstStep = func() (first [32]bool) {
	seen := map[step]bool{}
	for i, s := range unitSteps {
		k := step{kind: s.kind, reply: s.reply}
		first[i], seen[k] = !seen[k], true
	}
	return first
}()

// FlowsPerUnit is the number of flows in one realistic unit.
const FlowsPerUnit = 10

// Packet returns the packet of sequence number seq.
func (m Mix) Packet(seq uint64) (Packet, Info) {
	var p Packet
	switch m {
	case Steady:
		f := uint32(seq & 1023)
		p = Packet{Src4: netA | f, Dst4: netB | 1, Proto: protoTCP, Flags: tcpACK,
			Sport: uint16(10000 + f), Dport: 443, IPLen: uint16(46 + (f&15)*64)}
		return p, Info{Send: true, First: seq < 1024, Flow: uint64(f)}
	case Realistic:
		block, within := seq/(lanes*32), uint32(seq%(lanes*32))
		u := uint32(block*lanes) + within%lanes
		i := (within / lanes) & 31
		s := unitSteps[i]
		client, server := netA|(u&0xffff), netB|(((u>>16)+1)&0xffff)
		cport, sport := uint16(20000+(u&0x3fff)), uint16(0)
		p.IPLen, p.Flags = s.iplen, s.flags
		info := Info{Send: true, First: firstStep[i], Flow: uint64(u)}
		switch s.kind {
		case kDNS:
			p.Proto, sport = protoUDP, 53
		case kICMP:
			p.Proto, p.Flags = protoICMP, 0
			p.Src4, p.Dst4 = client, server
			if s.reply {
				p.Src4, p.Dst4 = server, client
			}
			p.Sport = uint16(s.flags) << 8
			return p, info
		case kTCP6:
			p.V6 = true
			p.Proto, sport = protoTCP, 443
		case kTCP4:
			p.Proto, sport = protoTCP, 443
		default:
			p.Proto, p.VLAN, sport = protoTCP, uint16(100+(u&7)), 8080
		}
		p.Src4, p.Dst4, p.Sport, p.Dport = client, server, cport, sport
		if s.reply {
			p.Src4, p.Dst4, p.Sport, p.Dport = server, client, sport, cport
		}
		return p, info
	case Short:
		block, within := seq/(lanes*5), uint32(seq%(lanes*5))
		f := uint32(block*lanes) + within%lanes
		r, h := within/lanes, hash32(f)
		info := Info{Send: r < 1+h%5, First: r == 0, Flow: uint64(f)}
		if !info.Send {
			return p, info
		}
		p = Packet{Src4: netA | (f & 0xffff), Dst4: netB | (((f >> 16) + 1) & 0xffff),
			Sport: uint16(1024 + (f & 0x7fff)), IPLen: uint16(40 + ((h>>8)&7)*40)}
		if f&1 != 0 {
			p.Proto, p.Dport = protoUDP, 53
		} else {
			p.Proto, p.Dport, p.Flags = protoTCP, 80, tcpACK
			if r == 0 {
				p.Flags = tcpSYN
			}
		}
		return p, info
	default: // Flood
		h := (seq * 0x9e3779b97f4a7c15) & 0x1ffffffff
		h ^= h >> 17
		p = Packet{Src4: netA + uint32(h>>16), Sport: uint16(h), Dst4: netA | 1, Dport: 80,
			Proto: protoTCP, Flags: tcpSYN, IPLen: 40}
		return p, Info{Send: true, First: true, Flow: seq}
	}
}

func hash32(x uint32) uint32 {
	x *= 0x9e3779b1
	return x ^ x>>15
}

// Frame returns the Ethernet frame xdp_livegen writes for p, payload
// zero: headers, IPv4 checksum, L4 checksums 0, at least 60 bytes.
func (p Packet) Frame() []byte {
	l2 := 14
	if p.VLAN != 0 {
		l2 = 18
	}
	f := make([]byte, max(60, l2+int(p.IPLen)))
	copy(f, []byte{2, 0, 0xbe, 0, 0, 2, 2, 0, 0xbe, 0, 0, 1})
	ethertype := uint16(0x0800)
	if p.V6 {
		ethertype = 0x86dd
	}
	be := binary.BigEndian
	if p.VLAN != 0 {
		be.PutUint16(f[12:], 0x8100)
		be.PutUint16(f[14:], p.VLAN)
	}
	be.PutUint16(f[l2-2:], ethertype)
	ip := f[l2:]
	var l4 []byte
	if p.V6 {
		be.PutUint32(ip, 0x60000000)
		be.PutUint16(ip[4:], p.IPLen-40)
		ip[6], ip[7] = p.Proto, 64
		be.PutUint32(ip[8:], 0x20010db8)
		be.PutUint32(ip[20:], p.Src4)
		be.PutUint32(ip[24:], 0x20010db8)
		be.PutUint32(ip[36:], p.Dst4)
		l4 = ip[40:]
	} else {
		ip[0], ip[8], ip[9] = 0x45, 64, p.Proto
		be.PutUint16(ip[2:], p.IPLen)
		be.PutUint32(ip[12:], p.Src4)
		be.PutUint32(ip[16:], p.Dst4)
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(be.Uint16(ip[i:]))
		}
		sum = sum&0xffff + sum>>16
		sum = sum&0xffff + sum>>16
		be.PutUint16(ip[10:], ^uint16(sum))
		l4 = ip[20:]
	}
	be.PutUint16(l4, p.Sport)
	switch p.Proto {
	case protoICMP:
	case protoUDP:
		be.PutUint16(l4[2:], p.Dport)
		be.PutUint16(l4[4:], p.IPLen-uint16(len(ip)-len(l4))) // total length less the IP header
	default:
		be.PutUint16(l4[2:], p.Dport)
		l4[12], l4[13] = 5<<4, p.Flags
		be.PutUint16(l4[14:], 65535)
	}
	return f
}

// Key is a flow's 5-tuple as collectors show it: addresses in 16 bytes
// (IPv4 mapped), ICMP without ports (probes carry type and code
// differently).
type Key struct {
	Proto        uint8
	Src, Dst     [16]byte
	Sport, Dport uint16
}

// Key returns p's flow key.
func (p Packet) Key() Key {
	k := Key{Proto: p.Proto, Src: p.addr(p.Src4), Dst: p.addr(p.Dst4), Sport: p.Sport, Dport: p.Dport}
	if p.Proto == protoICMP {
		k.Sport, k.Dport = 0, 0
	}
	return k
}

func (p Packet) addr(a uint32) [16]byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	if !p.V6 {
		return netip.AddrFrom4(b).As16()
	}
	v6 := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	copy(v6[12:], b[:])
	return v6
}

// KeysOf returns the flow keys sent for sequence numbers 0 to end-1.
func (m Mix) KeysOf(end uint64) map[Key]struct{} {
	keys := map[Key]struct{}{}
	for seq := range end {
		if p, info := m.Packet(seq); info.Send && info.First {
			keys[p.Key()] = struct{}{}
		}
	}
	return keys
}

// Truth is what a run sent, counted as the probes count: packets, IP
// bytes (IP total lengths) and distinct flows (5-tuples).
type Truth struct {
	Packets, Bytes, Flows uint64
}

// Add counts one sent packet.
func (t *Truth) Add(p Packet, info Info) {
	t.Packets++
	t.Bytes += uint64(p.IPLen)
	if info.First {
		t.Flows++
	}
}

// TruthOf recomputes what xdp_livegen sent for sequence numbers 0 to
// end-1 (every flow's 5-tuple is its own, so counting first packets
// counts flows).
func (m Mix) TruthOf(end uint64) Truth {
	var t Truth
	for seq := range end {
		if p, info := m.Packet(seq); info.Send {
			t.Add(p, info)
		}
	}
	return t
}
