package cache

import (
	"bytes"

	"github.com/spanflow/spanflow/bpf"
)

// Bidirectional pairing.
//
// Both directions of a conversation share one table entry, found under a
// canonical key: the key with its endpoints (address, port) in a fixed
// order and without the fields that may differ between the directions of
// one conversation — the ToS byte (servers often mark differently from
// clients, or a network re-marks one way) and the capture interface (a
// tap has a port per direction, a router takes the request on one
// interface and the reply on another). What identifies the conversation
// stays: addresses, ports, protocol, VLANs, IP version, the hook
// (ingress or egress) and the overflow mark.
//
// The entry's own key is the forward direction's — the initiator, the
// side that sent first. A Delta belongs to the forward direction when its
// key equals the entry's key, and to the reverse one when it is the
// mirror of it with the reverse direction's own ToS and interface: those
// of the entry's first reverse Delta. So each direction still has one
// key, as in unidirectional mode: a direction whose ToS changes (ECN, a
// re-marking) starts a flow of its own, and two span ports that each
// carry both directions make two biflows, not one that counts every
// packet twice (an entry whose reverse is not known yet prefers the
// reverse Delta seen on its own forward interface).
//
// ICMP carries type<<8|code where a port would be, so an echo reply's key
// is not the mirror of its request's. canonical maps the reply types of
// the query/answer pairs to their request type, which makes a ping and
// its answers one entry.

const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// icmpRequest maps an ICMP answer type to the type of its request.
func icmpRequest(proto, typ uint8) (uint8, bool) {
	switch {
	case proto == protoICMP && typ == 0: // echo reply
		return 8, true
	case proto == protoICMP && (typ == 14 || typ == 16 || typ == 18): // timestamp, information, address mask
		return typ - 1, true
	case proto == protoICMPv6 && typ == 129: // echo reply
		return 128, true
	}
	return 0, false
}

// canonical returns the key both directions of k's conversation share.
func canonical(k bpf.FlowKey) bpf.FlowKey {
	k.Tos, k.Ifindex = 0, 0
	if k.Proto == protoICMP || k.Proto == protoICMPv6 {
		typ := uint8(k.DstPort >> 8)
		if req, ok := icmpRequest(k.Proto, typ); ok {
			k.SrcAddr, k.DstAddr = k.DstAddr, k.SrcAddr
			k.DstPort = uint16(req)<<8 | k.DstPort&0xff
		}
		return k
	}
	c := bytes.Compare(k.SrcAddr[:], k.DstAddr[:])
	if c > 0 || c == 0 && k.SrcPort > k.DstPort {
		k.SrcAddr, k.DstAddr = k.DstAddr, k.SrcAddr
		k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	}
	return k
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// synOnly reports flags that opened a connection and nothing more was seen
// from that side: a SYN without ACK.
func synOnly(flags uint8) bool { return flags&tcpSYN != 0 && flags&tcpACK == 0 }

// initiatorIsOther decides, when both directions of a new flow arrive in
// the same Merge, whether the side that came second in the batch (other)
// opened the conversation rather than the one that created the entry
// (first). A SYN without ACK decides; otherwise the earlier first packet;
// on a tie the entry keeps its first side.
func initiatorIsOther(firstFlags uint8, firstStartNs int64, otherFlags uint8, otherStartNs int64) bool {
	if a, b := synOnly(firstFlags), synOnly(otherFlags); a != b {
		return b
	}
	return otherStartNs < firstStartNs
}

// icmpAnswer maps an ICMP request type to the type of its answer.
func icmpAnswer(proto, typ uint8) (uint8, bool) {
	switch {
	case proto == protoICMP && typ == 8: // echo
		return 0, true
	case proto == protoICMP && (typ == 13 || typ == 15 || typ == 17): // timestamp, information, address mask
		return typ + 1, true
	case proto == protoICMPv6 && typ == 128: // echo
		return 129, true
	}
	return 0, false
}

// ReverseKey returns the key of the other direction of k's conversation,
// as bidirectional pairing matches them; ok is false for ICMP messages
// that have no answer and for overflow records (they never pair).
func ReverseKey(k bpf.FlowKey) (bpf.FlowKey, bool) {
	if k.Direction&bpf.FlowOverflow != 0 {
		return k, false // an aggregate of many flows: no one answer
	}
	r := k
	r.SrcAddr, r.DstAddr = k.DstAddr, k.SrcAddr
	if k.Proto != protoICMP && k.Proto != protoICMPv6 {
		r.SrcPort, r.DstPort = k.DstPort, k.SrcPort
		return r, true
	}
	typ := uint8(k.DstPort >> 8)
	if ans, ok := icmpAnswer(k.Proto, typ); ok {
		r.DstPort = uint16(ans)<<8 | k.DstPort&0xff
		return r, true
	}
	if req, ok := icmpRequest(k.Proto, typ); ok {
		r.DstPort = uint16(req)<<8 | k.DstPort&0xff
		return r, true
	}
	return k, false
}

// reverseID is what may differ between the directions of a conversation,
// as the reverse direction's first Delta had it (known false: none yet).
// It stays with the entry across active timeouts.
type reverseID struct {
	ifindex uint32
	tos     uint8
	known   bool
}

func (id reverseID) of(k *bpf.FlowKey) bool {
	return id.known && k.Tos == id.tos && k.Ifindex == id.ifindex
}

// mirrors reports whether k is the reverse direction of fwd's
// conversation, whatever its ToS and interface.
func mirrors(fwd, k *bpf.FlowKey) bool {
	r, ok := ReverseKey(*fwd)
	r.Tos, r.Ifindex = k.Tos, k.Ifindex
	return ok && r == *k
}

// findPair returns the entry a Delta keyed k belongs to among those
// stored under conv (canonical of k) and whether it is that entry's
// forward direction. A direction already paired wins, then an entry
// without a known reverse captured on k's interface, then any entry
// without a known reverse.
func (t *Table) findPair(conv, k *bpf.FlowKey) (i int32, fwd, ok bool) {
	x := &t.index
	h := x.hash(conv)
	mask := len(x.slots) - 1
	open, openHere := int32(-1), int32(-1)
	for at := int(h) & mask; x.slots[at].ref != 0; at = (at + 1) & mask {
		if x.slots[at].hash != h {
			continue
		}
		j := int32(x.slots[at].ref - 1)
		f := t.slab.flow(j)
		if f.key == *k {
			return j, true, true
		}
		if canonical(f.key) != *conv || !mirrors(&f.key, k) {
			continue
		}
		rev := t.slab.side(j).rev
		switch {
		case rev.of(k):
			return j, false, true
		case rev.known:
		case openHere < 0 && f.key.Ifindex == k.Ifindex:
			openHere = j
		case open < 0:
			open = j
		}
	}
	if openHere >= 0 {
		return openHere, false, true
	}
	return open, false, open >= 0
}

// fillReverse sets what r knows of its reverse direction's identity: its
// ToS, its interface, and that interface as r's output on a mirror port
// (where no route says otherwise) when it is another one: the forward
// direction leaves the network where the reverse one enters it. One port
// carrying both directions says nothing of the output: 0.
func (s *side) fillReverse(r *Record) {
	if !s.rev.known {
		return
	}
	r.RevToS, r.RevIfIndex = s.rev.tos, s.rev.ifindex
	if r.Out == OutUnknown && s.rev.ifindex != r.InIfIndex {
		r.OutIfIndex = s.rev.ifindex
	}
}
