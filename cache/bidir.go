package cache

import (
	"bytes"

	"github.com/spanflow/spanflow/bpf"
)

// Bidirectional pairing.
//
// Both directions of a conversation share one table entry, found under a
// canonical key: the key with its endpoints (address, port) in a fixed
// order. The entry's own key is the forward direction's — the initiator,
// the side that sent first. A Delta belongs to the forward direction when
// its key equals the entry's key, and to the reverse one otherwise.
//
// ICMP carries type<<8|code where a port would be, so an echo reply's key
// is not the mirror of its request's. canonical maps the reply types of
// the query/answer pairs to their request type, which makes a ping and
// its answers one entry. Other fields (ifindex, VLAN, ToS) stay in the
// key: both directions must be seen on the same interface and VLAN with
// the same ToS to pair, which keeps two span ports carrying the same
// conversation from being summed into one record.

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
