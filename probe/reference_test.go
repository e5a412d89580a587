package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

// The generated frames' endpoints, written out (not taken from probetest)
// so that a change there shows up here.
var (
	src4 = netip.MustParseAddr("198.18.0.1")
	dst4 = netip.MustParseAddr("198.19.255.254")
	src6 = netip.MustParseAddr("2001:db8::1")
	dst6 = netip.MustParseAddr("2001:db8:ffff::2")
)

func flowKey(src, dst netip.Addr, proto uint8, sport, dport uint16) bpf.FlowKey {
	k := bpf.FlowKey{SrcAddr: src.As16(), DstAddr: dst.As16(), SrcPort: sport, DstPort: dport, Proto: proto}
	k.IpVersion = 6
	if src.Is4() {
		k.IpVersion = 4
	}
	return k
}

func key4(proto uint8, sport, dport uint16) bpf.FlowKey {
	return flowKey(src4, dst4, proto, sport, dport)
}
func key6(proto uint8, sport, dport uint16) bpf.FlowKey {
	return flowKey(src6, dst6, proto, sport, dport)
}

func vlan(k bpf.FlowKey, outer, inner uint16) bpf.FlowKey {
	k.VlanId, k.InnerVlanId = outer, inner
	return k
}

func tos(k bpf.FlowKey, t uint8) bpf.FlowKey {
	k.Tos = t
	return k
}

func accounted(k bpf.FlowKey, ipBytes uint64, flags uint8) Parsed {
	return Parsed{Reason: bpf.StatAccounted, Key: k, IPBytes: ipBytes, TCPFlags: flags}
}

func noL4(k bpf.FlowKey, ipBytes uint64) Parsed {
	return Parsed{Reason: bpf.StatAccounted, Key: k, IPBytes: ipBytes, NoL4: true}
}

func outcome(r bpf.StatReason) Parsed { return Parsed{Reason: r} }

func casesByName(t *testing.T) map[string][]byte {
	t.Helper()
	m := make(map[string][]byte)
	for _, c := range probetest.Cases() {
		if _, dup := m[c.Name]; dup {
			t.Fatalf("two cases are named %q", c.Name)
		}
		m[c.Name] = c.Frame
	}
	return m
}

// Protocol numbers, as the wire has them.
const (
	pICMP    = 1
	pIGMP    = 2
	pIPIP    = 4
	pTCP     = 6
	pUDP     = 17
	pDCCP    = 33
	pGRE     = 47
	pESP     = 50
	pAH      = 51
	pICMPv6  = 58
	pNoNext  = 59
	pDstOpts = 60
	pSCTP    = 132
	pMobil   = 135
	pUDPLite = 136
	pHopOpts = 0
)

// TestParseEthernetOnGeneratedCases checks the main branches of the
// datapath with outcomes worked out by hand from its parse_* functions.
func TestParseEthernetOnGeneratedCases(t *testing.T) {
	const synAckEce = 0x52
	tests := []struct {
		name string
		want Parsed
	}{
		// Transports, untagged. IPv4 bytes = 20 + transport; IPv6 = 40 + ….
		{"ipv4/tcp", accounted(key4(pTCP, 40001, 443), 20+20+16, synAckEce)},
		{"ipv6/tcp", accounted(key6(pTCP, 40001, 443), 40+20+16, synAckEce)},
		{"ipv4/udp", accounted(key4(pUDP, 40002, 53), 20+8+8, 0)},
		{"ipv6/udp", accounted(key6(pUDP, 40002, 53), 40+8+8, 0)},
		{"ipv4/sctp", accounted(key4(pSCTP, 40003, 3868), 20+12+16, 0)},
		{"ipv6/dccp", accounted(key6(pDCCP, 40004, 5004), 40+16, 0)},
		{"ipv4/udplite", accounted(key4(pUDPLite, 40005, 5060), 20+16, 0)},
		{"ipv4/icmp-echo", accounted(key4(pICMP, 0, 8<<8), 20+8+8, 0)},
		{"ipv4/icmp-unreachable", accounted(key4(pICMP, 0, 3<<8|3), 20+8+28, 0)},
		{"ipv6/icmpv6-echo", accounted(key6(pICMPv6, 0, 128<<8), 40+8, 0)},
		{"ipv6/icmpv6-too-big", accounted(key6(pICMPv6, 0, 2<<8), 40+4+48, 0)}, // gopacket writes the 4-byte ICMPv6 header, the rest is payload
		{"ipv4/icmpv6-proto", accounted(key4(pICMPv6, 0, 128<<8), 20+8, 0)},
		{"ipv4/gre", accounted(key4(pGRE, 0, 0), 20+4+20+8+8, 0)},
		{"ipv6/esp", accounted(key6(pESP, 0, 0), 40+32, 0)},
		{"ipv4/ah", accounted(key4(pAH, 0, 0), 20+24+8+8, 0)},
		{"ipv4/igmp", accounted(key4(pIGMP, 0, 0), 20+8, 0)},
		{"ipv4/ipip", accounted(key4(pIPIP, 0, 0), 20+20+8+8, 0)},
		{"ipv4/tos-b9/udp", accounted(tos(key4(pUDP, 40002, 53), 0xb9), 36, 0)},
		{"ipv6/tclass-b9-flow-fedcb/udp", accounted(tos(key6(pUDP, 40002, 53), 0xb9), 56, 0)},

		// VLAN tags: the outer VID, then the inner; PCP and DEI masked off.
		{"vlan-8100/ipv4/tcp", accounted(vlan(key4(pTCP, 40001, 443), 100, 0), 56, synAckEce)},
		{"vlan-88a8/ipv4/tcp", accounted(vlan(key4(pTCP, 40001, 443), 101, 0), 56, synAckEce)},
		{"vlan-8100-pcp7-dei/ipv4/tcp", accounted(vlan(key4(pTCP, 40001, 443), 102, 0), 56, synAckEce)},
		{"vlan-8100-vid4095/ipv4/tcp", accounted(vlan(key4(pTCP, 40001, 443), 4095, 0), 56, synAckEce)},
		{"qinq-88a8-8100/ipv4/tcp", accounted(vlan(key4(pTCP, 40001, 443), 200, 201), 56, synAckEce)},
		{"qinq-88a8-88a8/ipv6/udp", accounted(vlan(key6(pUDP, 40002, 53), 204, 205), 56, 0)},
		{"vlan3-8100/ipv4/tcp", outcome(bpf.StatUnsupported)},
		{"vlan3-third-tag-missing", outcome(bpf.StatUnsupported)},
		{"vlan-8100/arp", outcome(bpf.StatNotIP)},

		// Not IP.
		{"arp", outcome(bpf.StatNotIP)},
		{"lldp", outcome(bpf.StatNotIP)},
		{"ieee802.3-length", outcome(bpf.StatNotIP)},
		{"pppoe-discovery", outcome(bpf.StatNotIP)},

		// MPLS: up to 8 labels; the payload guessed by its first nibble.
		{"mpls1/ipv4/udp", accounted(key4(pUDP, 40002, 53), 36, 0)},
		{"mpls8/ipv4/udp", accounted(key4(pUDP, 40002, 53), 36, 0)},
		{"mpls9/ipv4/udp", outcome(bpf.StatUnsupported)},
		{"mpls8-no-bottom-of-stack/ipv4/udp", outcome(bpf.StatUnsupported)},
		{"mpls2/ipv6/tcp", accounted(key6(pTCP, 40001, 443), 76, synAckEce)},
		{"mpls-8848/ipv4/udp", accounted(key4(pUDP, 40002, 53), 36, 0)},
		{"mpls/pseudowire-ethernet", outcome(bpf.StatNotIP)},
		{"mpls/nibble-5", outcome(bpf.StatNotIP)},
		{"vlan-8100/mpls2/ipv4/udp", accounted(vlan(key4(pUDP, 40002, 53), 110, 0), 36, 0)},
		{"qinq-88a8-8100/mpls1/ipv6/udp", accounted(vlan(key6(pUDP, 40002, 53), 111, 112), 56, 0)},
		{"mpls1/ipv4-ihl3", outcome(bpf.StatMalformed)},

		// PPPoE sessions.
		{"pppoe/ipv4/tcp", accounted(key4(pTCP, 40001, 443), 56, synAckEce)},
		{"pppoe/ipv6/udp", accounted(key6(pUDP, 40002, 53), 56, 0)},
		{"pppoe/lcp", outcome(bpf.StatNotIP)},
		{"pppoe/mpls", outcome(bpf.StatNotIP)},
		{"qinq-88a8-8100/pppoe/ipv4/udp", accounted(vlan(key4(pUDP, 40002, 53), 120, 121), 36, 0)},

		// IPv4 options and fragments.
		{"ipv4-options-ihl6/tcp", accounted(key4(pTCP, 40001, 443), 24+20+16, synAckEce)},
		{"ipv4-options-ihl15/udp", accounted(key4(pUDP, 40002, 53), 60+8+8, 0)},
		{"ipv4-options-length0/udp", accounted(key4(pUDP, 40002, 53), 24+8+8, 0)},
		{"ipv4-frag-first/udp", accounted(key4(pUDP, 40002, 53), 20+8+64, 0)},
		{"ipv4-frag-middle/udp", accounted(key4(pUDP, 0, 0), 20+72, 0)},
		{"ipv4-frag-last/udp", accounted(key4(pUDP, 0, 0), 20+30, 0)},
		{"ipv4-frag-offset1/tcp", accounted(key4(pTCP, 0, 0), 20+20+8, 0)},
		{"ipv4-frag-max-offset/icmp", accounted(key4(pICMP, 0, 0), 20+8, 0)},
		{"ipv4-reserved-flag-mf/udp", accounted(key4(pUDP, 40002, 53), 36, 0)},

		// IPv6 extension headers.
		{"ipv6/hbh/udp", accounted(key6(pUDP, 40002, 53), 40+8+16, 0)},
		{"ipv6/routing/udp", accounted(key6(pUDP, 40002, 53), 40+24+16, 0)},
		{"ipv6/dstopts-2040/udp", accounted(key6(pUDP, 40002, 53), 40+2040+16, 0)},
		{"ipv6/frag-first/udp", accounted(key6(pUDP, 40002, 53), 40+8+16, 0)},
		{"ipv6/frag-nonfirst/udp", accounted(key6(pUDP, 0, 0), 40+8+64, 0)},
		{"ipv6/frag-nonfirst/dstopts", accounted(key6(pDstOpts, 0, 0), 40+8+64, 0)},
		{"ipv6/hbh/routing/frag-first/dstopts/udp", accounted(key6(pUDP, 40002, 53), 40+8+24+8+8+16, 0)},
		{"ipv6/hbh/tcp", accounted(key6(pTCP, 40001, 443), 40+8+36, synAckEce)},
		{"ipv6/dstopts/icmpv6", accounted(key6(pICMPv6, 0, 128<<8), 40+8+8, 0)},
		{"ipv6/hbh/ah", accounted(key6(pAH, 0, 0), 40+8+24, 0)},
		{"ipv6/hbh/esp", accounted(key6(pESP, 0, 0), 40+8+24, 0)},
		{"ipv6/hbh/mobility", accounted(key6(pMobil, 0, 0), 40+8+24, 0)},
		{"ipv6/hbh/no-next-header", accounted(key6(pNoNext, 0, 0), 40+8+24, 0)},
		{"ipv6/ah/udp", accounted(key6(pAH, 0, 0), 40+24+16, 0)},
		{"ipv6/ext-chain-8/udp", accounted(key6(pUDP, 40002, 53), 40+8*8+16, 0)},
		{"ipv6/ext-chain-9/udp", outcome(bpf.StatUnsupported)},
		{"ipv6/ext-chain-7-frag/udp", accounted(key6(pUDP, 40002, 53), 40+8*8+16, 0)},
		{"ipv6/dstopts-longer-than-payload", noL4(key6(pDstOpts, 0, 0), 40+12)},
		{"ipv6/dstopts-cut-by-frame", noL4(key6(pDstOpts, 0, 0), 40+16+16)},
		{"ipv6/hbh-payload-below-8", noL4(key6(pHopOpts, 0, 0), 40+6)},
		{"ipv6/jumbo/udp", accounted(key6(pUDP, 40002, 53), 40+70000, 0)},
		{"ipv6/jumbo-after-pad1-padn/udp", accounted(key6(pUDP, 40002, 53), 40+70000, 0)},
		{"ipv6/jumbo-short-option", noL4(key6(pHopOpts, 0, 0), 40)},
		{"ipv6/hbh-payload0-no-jumbo", noL4(key6(pHopOpts, 0, 0), 40)},
		{"ipv6/jumbo-max", accounted(key6(pUDP, 40002, 53), 40+0xffffffff, 0)}, // needs 64 bits

		// Transport headers shorter than what is read.
		{"ipv4/tcp-10-bytes-in-payload", accounted(key4(pTCP, 40001, 443), 30, 0)},
		{"ipv4/tcp-13-bytes-in-frame", accounted(key4(pTCP, 40001, 443), 56, 0)},
		{"ipv4/udp-3-bytes-in-payload", noL4(key4(pUDP, 0, 0), 23)},
		{"ipv4/icmp-1-byte-in-payload", noL4(key4(pICMP, 0, 0), 21)},
		{"ipv6/tcp-payload0", noL4(key6(pTCP, 0, 0), 40)},
		{"ipv6/sctp-payload3", noL4(key6(pSCTP, 0, 0), 43)},

		// Malformed and lying IP headers.
		{"ipv4/version5", outcome(bpf.StatMalformed)},
		{"ipv4/version6-under-0800", outcome(bpf.StatMalformed)},
		{"ipv4/ihl0", outcome(bpf.StatMalformed)},
		{"ipv4/ihl4", outcome(bpf.StatMalformed)},
		{"ipv4/ihl15-beyond-frame", outcome(bpf.StatTruncated)},
		{"ipv4/total-below-ihl", outcome(bpf.StatMalformed)},
		{"ipv4/total-0", outcome(bpf.StatMalformed)},
		{"ipv4/total-ihl6-below-24", outcome(bpf.StatMalformed)},
		{"ipv4/total-equals-ihl", noL4(key4(pUDP, 0, 0), 20)},
		{"ipv4/total-beyond-frame", accounted(key4(pUDP, 40002, 53), 1500, 0)},
		{"ipv6/version4-under-86dd", outcome(bpf.StatMalformed)},
		{"ipv6/version0", outcome(bpf.StatMalformed)},
		{"ipv6/payload-beyond-frame", accounted(key6(pUDP, 40002, 53), 1040, 0)},
		{"ipv6/payload-below-udp", noL4(key6(pUDP, 0, 0), 42)},
	}
	frames := casesByName(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame, ok := frames[tc.name]
			if !ok {
				t.Fatalf("probetest.Cases has no case %q", tc.name)
			}
			got := ParseEthernet(frame)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseEthernet (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseEthernetCutAtEveryOffset checks the "cut/" cases: each frame
// cut to its first n bytes gives the outcome of the layer n falls in,
// with the layer boundaries counted by hand.
func TestParseEthernetCutAtEveryOffset(t *testing.T) {
	const synAckEce = 0x52
	// Each family: layer boundaries (ascending frame offsets) and the
	// outcome while n is below each boundary; full is the outcome from
	// the last boundary on.
	type span struct {
		below int
		want  Parsed
	}
	tcp4 := vlan(key4(pTCP, 40001, 443), 130, 0)
	udp6 := vlan(key6(pUDP, 40002, 53), 131, 132)
	udp4 := key4(pUDP, 40002, 53)
	tcp6 := key6(pTCP, 40001, 443)
	families := []struct {
		name  string
		spans []span
	}{
		{"vlan-8100/ipv4-options-ihl6/tcp", []span{ // 14 eth + 4 tag + 24 ip + 20 tcp = 62
			{14 + 4 + 24, outcome(bpf.StatTruncated)},
			{14 + 4 + 24 + 4, noL4(vlan(key4(pTCP, 0, 0), 130, 0), 44)},
			{14 + 4 + 24 + 14, accounted(tcp4, 44, 0)},
			{1 << 30, accounted(tcp4, 44, synAckEce)},
		}},
		{"qinq-88a8-8100/ipv6/hbh/frag-first/udp", []span{ // 14 + 8 + 40 + 8 + 8 + 8 = 86
			{14 + 8 + 40, outcome(bpf.StatTruncated)},
			{14 + 8 + 40 + 8, noL4(vlan(key6(pHopOpts, 0, 0), 131, 132), 64)},
			{14 + 8 + 40 + 8 + 8, noL4(vlan(key6(44, 0, 0), 131, 132), 64)},
			{14 + 8 + 40 + 8 + 8 + 4, noL4(vlan(key6(pUDP, 0, 0), 131, 132), 64)},
			{1 << 30, accounted(udp6, 64, 0)},
		}},
		{"mpls2/ipv4/udp", []span{ // 14 + 8 + 20 + 8 = 50
			{14 + 8 + 20, outcome(bpf.StatTruncated)},
			{14 + 8 + 20 + 4, noL4(key4(pUDP, 0, 0), 28)},
			{1 << 30, accounted(udp4, 28, 0)},
		}},
		{"pppoe/ipv6/tcp", []span{ // 14 + 8 + 40 + 20 = 82
			{14 + 8 + 40, outcome(bpf.StatTruncated)},
			{14 + 8 + 40 + 4, noL4(key6(pTCP, 0, 0), 60)},
			{14 + 8 + 40 + 14, accounted(tcp6, 60, 0)},
			{1 << 30, accounted(tcp6, 60, synAckEce)},
		}},
		{"ipv4/icmp", []span{ // 14 + 20 + 8 = 42, padded to 60
			{14 + 20, outcome(bpf.StatTruncated)},
			{14 + 20 + 2, noL4(key4(pICMP, 0, 0), 28)},
			{1 << 30, accounted(key4(pICMP, 0, 8<<8), 28, 0)},
		}},
		{"ipv6/jumbo/udp", []span{ // 14 + 40 + 8 hop-by-hop (jumbo at 2..7) + 8 udp
			{14 + 40, outcome(bpf.StatTruncated)},
			// The jumbo option is read from the frame: until it is all
			// there, the payload length (0) stands and the hop-by-hop
			// header does not fit in it.
			{14 + 40 + 8, noL4(key6(pHopOpts, 0, 0), 40)},
			{14 + 40 + 8 + 4, noL4(key6(pUDP, 0, 0), 40+70000)},
			{1 << 30, accounted(key6(pUDP, 40002, 53), 40+70000, 0)},
		}},
	}
	frames := casesByName(t)
	for _, fam := range families {
		prefix := "cut/" + fam.name + "/at-"
		n := 0
		for name, frame := range frames {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			n++
			at := len(frame)
			if name != prefix+itoa(at) {
				t.Errorf("%s holds %d bytes", name, at)
			}
			var want Parsed
			for _, s := range fam.spans {
				if at < s.below {
					want = s.want
					break
				}
			}
			if diff := cmp.Diff(want, ParseEthernet(frame)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
		if n == 0 {
			t.Errorf("probetest.Cases has no %s* cases", prefix)
		}
	}
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestCasesCoverEveryOutcome makes sure the generated cases reach every
// outcome the parser can give, and keep to the test address ranges.
func TestCasesCoverEveryOutcome(t *testing.T) {
	seen := make(map[bpf.StatReason]int)
	noL4Seen := 0
	v4 := netip.MustParsePrefix("198.18.0.0/15")
	v6 := netip.MustParsePrefix("2001:db8::/32")
	for _, c := range probetest.Cases() {
		p := ParseEthernet(c.Frame)
		seen[p.Reason]++
		if p.NoL4 {
			noL4Seen++
		}
		if p.Reason != bpf.StatAccounted {
			continue
		}
		for _, a := range []netip.Addr{p.Key.SrcIP(), p.Key.DstIP()} {
			if !v4.Contains(a) && !v6.Contains(a) {
				t.Errorf("%s: address %s is outside 198.18.0.0/15 and 2001:db8::/32", c.Name, a)
			}
		}
	}
	for _, r := range []bpf.StatReason{bpf.StatAccounted, bpf.StatNotIP, bpf.StatTruncated, bpf.StatMalformed, bpf.StatUnsupported} {
		if seen[r] == 0 {
			t.Errorf("no generated case has outcome %d", r)
		}
	}
	if noL4Seen == 0 {
		t.Error("no generated case has its transport header cut off")
	}
}

// TestParseFrameLinkTypes checks the link types of capture files: each
// enters the datapath's logic where its header leaves off.
func TestParseFrameLinkTypes(t *testing.T) {
	frames := casesByName(t)
	ipv4UDP := frames["ipv4/udp"][14:]      // the IP packet behind Ethernet
	ipv6TCP := frames["ipv6/tcp"][14:]      // the IP packet behind Ethernet
	vlanTCP := frames["vlan-8100/ipv4/tcp"] // the Ethernet frame with one tag
	mplsUDP := frames["mpls2/ipv4/udp"][14:]
	wantUDP4 := accounted(key4(pUDP, 40002, 53), 36, 0)
	wantTCP6 := accounted(key6(pTCP, 40001, 443), 76, 0x52)

	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	sll := func(proto uint16) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0) // to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], proto)
		return h
	}
	sll2 := func(proto uint16) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], proto)
		binary.BigEndian.PutUint32(h[4:], 7) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[11] = 6
		return h
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

	tests := []struct {
		name     string
		linkType layers.LinkType
		frame    []byte
		want     Parsed
	}{
		{"ethernet", layers.LinkTypeEthernet, frames["ipv4/udp"], wantUDP4},
		{"sll/ipv4", layers.LinkTypeLinuxSLL, cat(sll(0x0800), ipv4UDP), wantUDP4},
		{"sll/vlan", layers.LinkTypeLinuxSLL, cat(sll(0x8100), vlanTCP[14:]), accounted(vlan(key4(pTCP, 40001, 443), 100, 0), 56, 0x52)},
		{"sll/mpls", layers.LinkTypeLinuxSLL, cat(sll(0x8847), mplsUDP), wantUDP4},
		{"sll/arp", layers.LinkTypeLinuxSLL, cat(sll(0x0806), make([]byte, 28)), outcome(bpf.StatNotIP)},
		{"sll/llc", layers.LinkTypeLinuxSLL, cat(sll(0x0004), make([]byte, 28)), outcome(bpf.StatNotIP)},
		{"sll/short", layers.LinkTypeLinuxSLL, sll(0x0800)[:15], outcome(bpf.StatTruncated)},
		{"sll/ipv4-cut", layers.LinkTypeLinuxSLL, cat(sll(0x0800), ipv4UDP[:19]), outcome(bpf.StatTruncated)},
		{"sll2/ipv6", layers.LinkTypeLinuxSLL2, cat(sll2(0x86dd), ipv6TCP), wantTCP6},
		{"sll2/short", layers.LinkTypeLinuxSLL2, sll2(0x86dd)[:19], outcome(bpf.StatTruncated)},
		{"raw/ipv4", layers.LinkTypeRaw, ipv4UDP, wantUDP4},
		{"raw/ipv6", layers.LinkTypeRaw, ipv6TCP, wantTCP6},
		{"raw-dlt12/ipv4", layers.LinkType(12), ipv4UDP, wantUDP4},
		{"raw-dlt14/ipv6", layers.LinkType(14), ipv6TCP, wantTCP6},
		{"raw/empty", layers.LinkTypeRaw, nil, outcome(bpf.StatTruncated)},
		{"raw/nibble-5", layers.LinkTypeRaw, append([]byte{0x50}, ipv4UDP[1:]...), outcome(bpf.StatNotIP)},
		{"raw/ipv4-ihl4", layers.LinkTypeRaw, append([]byte{0x44}, ipv4UDP[1:]...), outcome(bpf.StatMalformed)},
		{"linktype-ipv4", layers.LinkTypeIPv4, ipv4UDP, wantUDP4},
		{"linktype-ipv4/carrying-ipv6", layers.LinkTypeIPv4, ipv6TCP, outcome(bpf.StatMalformed)},
		{"linktype-ipv6", layers.LinkTypeIPv6, ipv6TCP, wantTCP6},
		{"null-le/ipv4", layers.LinkTypeNull, cat(le32(2), ipv4UDP), wantUDP4},
		{"null-be/ipv4", layers.LinkTypeNull, cat(be32(2), ipv4UDP), wantUDP4},
		{"null-le/ipv6-linux", layers.LinkTypeNull, cat(le32(10), ipv6TCP), wantTCP6},
		{"null-le/ipv6-bsd", layers.LinkTypeNull, cat(le32(24), ipv6TCP), wantTCP6},
		{"null-be/ipv6-freebsd", layers.LinkTypeNull, cat(be32(28), ipv6TCP), wantTCP6},
		{"null-le/ipv6-darwin", layers.LinkTypeNull, cat(le32(30), ipv6TCP), wantTCP6},
		{"null/af-inet-carrying-ipv6", layers.LinkTypeNull, cat(le32(2), ipv6TCP), outcome(bpf.StatMalformed)},
		{"null/af-unknown", layers.LinkTypeNull, cat(le32(17), ipv4UDP), outcome(bpf.StatNotIP)},
		{"null/short", layers.LinkTypeNull, []byte{2, 0, 0}, outcome(bpf.StatTruncated)},
		{"loop/ipv4", layers.LinkTypeLoop, cat(be32(2), ipv4UDP), wantUDP4},
		{"ppp/ipv4", layers.LinkTypePPP, cat([]byte{0x00, 0x21}, ipv4UDP), wantUDP4},
		{"ppp/hdlc-ipv6", layers.LinkTypePPP, cat([]byte{0xff, 0x03, 0x00, 0x57}, ipv6TCP), wantTCP6},
		{"ppp/compressed-ipv4", layers.LinkTypePPP, cat([]byte{0x21}, ipv4UDP), wantUDP4},
		{"ppp/mpls", layers.LinkTypePPP, cat([]byte{0xff, 0x03, 0x02, 0x81}, mplsUDP), wantUDP4},
		{"ppp/lcp", layers.LinkTypePPP, cat([]byte{0xc0, 0x21}, make([]byte, 20)), outcome(bpf.StatNotIP)},
		{"ppp/short", layers.LinkTypePPP, []byte{0xff, 0x03, 0x00}, outcome(bpf.StatTruncated)},
		{"ppp_hdlc/ipv4", layers.LinkTypePPP_HDLC, cat([]byte{0xff, 0x03, 0x00, 0x21}, ipv4UDP), wantUDP4},
		{"c_hdlc/ipv4", layers.LinkTypeC_HDLC, cat([]byte{0x0f, 0x00, 0x08, 0x00}, ipv4UDP), wantUDP4},
		{"unknown-linktype", layers.LinkTypeIEEE802_11, frames["ipv4/udp"], outcome(bpf.StatUnsupported)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ParseFrame(tc.linkType, tc.frame)); diff != "" {
				t.Errorf("ParseFrame(%d) (-want +got):\n%s", tc.linkType, diff)
			}
			if tc.want.Reason != bpf.StatUnsupported && !SupportsLinkType(tc.linkType) {
				t.Errorf("SupportsLinkType(%d) = false", tc.linkType)
			}
		})
	}
}

func TestParsedStatBytes(t *testing.T) {
	acc := Parsed{Reason: bpf.StatAccounted, IPBytes: 1500}
	if got := acc.StatBytes(1514); got != 1500 {
		t.Errorf("accounted: StatBytes = %d, want the IP length 1500", got)
	}
	trunc := Parsed{Reason: bpf.StatTruncated}
	if got := trunc.StatBytes(17); got != 17 {
		t.Errorf("truncated: StatBytes = %d, want the frame length 17", got)
	}
}

// dot1qStack is gopacket's Dot1Q decoder that keeps the VLAN ID of every
// tag it decodes: a DecodingLayerParser reuses one layer value per type.
type dot1qStack struct {
	layers.Dot1Q
	ids []uint16
}

func (d *dot1qStack) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := d.Dot1Q.DecodeFromBytes(data, df); err != nil {
		return err
	}
	d.ids = append(d.ids, d.VLANIdentifier)
	return nil
}

// outerIPv4 and outerIPv6 stop decoding at an inner IP header, which
// would overwrite the outer one's values (spanflow keys the outer one).
type outerIPv4 struct{ layers.IPv4 }

func (ip *outerIPv4) NextLayerType() gopacket.LayerType {
	if ip.Protocol == layers.IPProtocolIPv4 || ip.Protocol == layers.IPProtocolIPv6 {
		return gopacket.LayerTypePayload
	}
	return ip.IPv4.NextLayerType()
}

type outerIPv6 struct{ layers.IPv6 }

func (ip *outerIPv6) NextLayerType() gopacket.LayerType {
	next := ip.NextHeader
	if ip.HopByHop != nil {
		next = ip.HopByHop.NextHeader
	}
	return stopAtIP(next, ip.IPv6.NextLayerType())
}

type outerIPv6Ext struct{ layers.IPv6ExtensionSkipper }

func (e *outerIPv6Ext) NextLayerType() gopacket.LayerType {
	return stopAtIP(e.NextHeader, e.IPv6ExtensionSkipper.NextLayerType())
}

type outerIPv6Fragment struct{ layers.IPv6Fragment }

func (f *outerIPv6Fragment) NextLayerType() gopacket.LayerType {
	return stopAtIP(f.NextHeader, f.IPv6Fragment.NextLayerType())
}

func stopAtIP(next layers.IPProtocol, lt gopacket.LayerType) gopacket.LayerType {
	if next == layers.IPProtocolIPv4 || next == layers.IPProtocolIPv6 {
		return gopacket.LayerTypePayload
	}
	return lt
}

// gopacketOpinion decodes Ethernet frames with gopacket's
// DecodingLayerParser and says what the reference parser should make of
// the frames it decodes cleanly.
type gopacketOpinion struct {
	parser *gopacket.DecodingLayerParser
	eth    layers.Ethernet
	dot1q  dot1qStack
	ip4    outerIPv4
	ip6    outerIPv6
	ext    outerIPv6Ext
	frag   outerIPv6Fragment
	tcp    layers.TCP
	udp    layers.UDP
	sctp   layers.SCTP
	icmp4  layers.ICMPv4
	icmp6  layers.ICMPv6

	decoded []gopacket.LayerType
}

func newGopacketOpinion() *gopacketOpinion {
	g := &gopacketOpinion{}
	g.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet,
		&g.eth, &g.dot1q, &g.ip4, &g.ip6, &g.ext, &g.frag, &g.tcp, &g.udp, &g.sctp, &g.icmp4, &g.icmp6)
	g.parser.IgnoreUnsupported = true
	return g
}

// want returns gopacket's opinion of frame, and false when gopacket could
// not decode it cleanly (an error, a truncated layer) or when its decoders
// do not reach the layers that decide the outcome (MPLS, PPPoE).
func (g *gopacketOpinion) want(frame []byte) (Parsed, bool) {
	g.dot1q.ids = g.dot1q.ids[:0]
	if err := g.parser.DecodeLayers(frame, &g.decoded); err != nil || g.parser.Truncated {
		return Parsed{}, false
	}
	if len(g.dot1q.ids) > 2 {
		return Parsed{Reason: bpf.StatUnsupported}, true
	}
	var p Parsed
	if len(g.dot1q.ids) > 0 {
		p.Key.VlanId = g.dot1q.ids[0]
	}
	if len(g.dot1q.ids) > 1 {
		p.Key.InnerVlanId = g.dot1q.ids[1]
	}

	var next layers.IPProtocol // the protocol the last decoded IP layer names
	var transport bool
	ipSeen, extHeaders := false, 0
	fragment := false      // a non-first fragment: no transport header
	firstFragment := false // gopacket does not decode behind a first fragment either
	for _, lt := range g.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			ipSeen = true
			ip := &g.ip4.IPv4
			p.Key.IpVersion = 4
			src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
			dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
			p.Key.SrcAddr, p.Key.DstAddr = src.As16(), dst.As16()
			p.Key.Tos = ip.TOS
			p.IPBytes = uint64(ip.Length)
			next = ip.Protocol
			fragment = ip.FragOffset != 0
			firstFragment = ip.FragOffset == 0 && ip.Flags&layers.IPv4MoreFragments != 0
			if ip.Version != 4 || binary.BigEndian.Uint16(ip.Contents[2:]) == 0 {
				// gopacket takes any version, and a Total Length of 0 as
				// TSO (it uses the frame's length); the datapath finds
				// such headers malformed.
				return Parsed{Reason: bpf.StatMalformed}, true
			}
		case layers.LayerTypeIPv6:
			ipSeen = true
			ip := &g.ip6.IPv6
			p.Key.IpVersion = 6
			p.Key.SrcAddr = [16]byte(ip.SrcIP.To16())
			p.Key.DstAddr = [16]byte(ip.DstIP.To16())
			p.Key.Tos = ip.TrafficClass
			if ip.Version != 6 {
				return Parsed{Reason: bpf.StatMalformed}, true // gopacket takes any version
			}
			p.IPBytes = 40 + uint64(ip.Length)
			next = ip.NextHeader
			if ip.HopByHop != nil {
				extHeaders++
				next = ip.HopByHop.NextHeader
				if ip.Length == 0 {
					p.IPBytes = 40 + uint64(jumboOption(ip.HopByHop))
				}
			}
		case layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6HopByHop:
			extHeaders++
			next = g.ext.NextHeader
		case layers.LayerTypeIPv6Fragment:
			extHeaders++
			next = g.frag.NextHeader
			fragment = g.frag.FragmentOffset != 0
			firstFragment = g.frag.FragmentOffset == 0 && g.frag.MoreFragments
		case layers.LayerTypeTCP:
			transport = true
			p.Key.SrcPort, p.Key.DstPort = uint16(g.tcp.SrcPort), uint16(g.tcp.DstPort)
			p.TCPFlags = tcpFlagByte(&g.tcp)
		case layers.LayerTypeUDP:
			transport = true
			p.Key.SrcPort, p.Key.DstPort = uint16(g.udp.SrcPort), uint16(g.udp.DstPort)
		case layers.LayerTypeSCTP:
			transport = true
			p.Key.SrcPort, p.Key.DstPort = uint16(g.sctp.SrcPort), uint16(g.sctp.DstPort)
		case layers.LayerTypeICMPv4:
			transport = true
			p.Key.DstPort = uint16(g.icmp4.TypeCode)
		case layers.LayerTypeICMPv6:
			transport = true
			p.Key.DstPort = uint16(g.icmp6.TypeCode)
		}
	}
	if !ipSeen {
		// Only Ethernet and tags: the EtherType they end on decides.
		et := g.eth.EthernetType
		if len(g.dot1q.ids) > 0 {
			et = g.dot1q.Type
		}
		switch et {
		case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast, layers.EthernetTypePPPoESession,
			layers.EthernetTypeIPv4, layers.EthernetTypeIPv6, layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ:
			return Parsed{}, false // gopacket stopped before the layer that decides
		}
		return Parsed{Reason: bpf.StatNotIP}, true
	}
	if extHeaders > maxIPv6ExtHeaders && !fragment {
		return Parsed{Reason: bpf.StatUnsupported}, true
	}
	if firstFragment && !transport {
		return Parsed{}, false
	}
	if !transport && !fragment {
		switch next {
		case layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP, layers.IPProtocolUDPLite,
			ipProtocolDCCP, layers.IPProtocolICMPv4, layers.IPProtocolICMPv6:
			return Parsed{}, false // a transport gopacket did not decode
		}
	}
	p.Key.Proto = uint8(next)
	p.Reason = bpf.StatAccounted
	return p, true
}

// jumboOption is the Jumbo Payload length of a hop-by-hop header as
// gopacket decoded its options, 0 if it has none.
func jumboOption(h *layers.IPv6HopByHop) uint32 {
	for _, o := range h.Options {
		if o.OptionType == 0xc2 && len(o.OptionData) == 4 {
			return binary.BigEndian.Uint32(o.OptionData)
		}
	}
	return 0
}

func tcpFlagByte(t *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

// TestReferenceAgreesWithGopacket compares the reference parser with
// gopacket's decoders on every frame gopacket decodes cleanly: the
// generated cases, and the Ethernet frames of the real captures when they
// are there.
func TestReferenceAgreesWithGopacket(t *testing.T) {
	g := newGopacketOpinion()
	compare := func(name string, frame []byte) bool {
		want, ok := g.want(frame)
		if !ok {
			return false
		}
		got := ParseEthernet(frame)
		got.NoL4 = false // gopacket has no opinion: it decodes whole headers only
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: reference and gopacket disagree (-gopacket +reference):\n%s", name, diff)
		}
		return true
	}

	whole, compared := 0, 0
	for _, c := range probetest.Cases() {
		cut := strings.HasPrefix(c.Name, "cut/")
		if !cut {
			whole++
		}
		if compare(c.Name, c.Frame) && !cut {
			compared++
		}
	}
	t.Logf("generated: %d of %d whole frames compared (and the cut ones gopacket decodes)", compared, whole)
	if compared < whole/2 {
		t.Errorf("gopacket decoded only %d of %d generated frames cleanly", compared, whole)
	}

	realFolder := realDir(t)
	realFrames, realCompared := 0, 0
	for _, pc := range readPcapsTSV(t, realFolder) {
		if pc.linkType != int(layers.LinkTypeEthernet) {
			continue
		}
		c, err := OpenCapture(filepath.Join(realFolder, pc.file))
		if err != nil {
			t.Fatal(err)
		}
		for {
			f, err := c.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("%s: %v", pc.file, err)
				}
				break
			}
			if f.LinkType != layers.LinkTypeEthernet {
				continue
			}
			realFrames++
			if compare(fmt.Sprintf("%s frame %d", pc.file, f.Number), f.Data) {
				realCompared++
			}
		}
		c.Close()
	}
	t.Logf("real captures: %d of %d Ethernet frames compared", realCompared, realFrames)
	if realCompared < realFrames/2 {
		t.Errorf("gopacket decoded only %d of %d real Ethernet frames cleanly", realCompared, realFrames)
	}
}

// FuzzParseFrame checks, on arbitrary bytes, that the parser never panics,
// that its outcome is consistent, and that every entry point reaches the
// same IP parser: the IP packet d parses the same raw, behind a DLT_IPv4 or
// DLT_IPv6 link type, behind Ethernet and behind Linux SLL.
func FuzzParseFrame(f *testing.F) {
	for _, c := range probetest.Cases() {
		if !strings.HasPrefix(c.Name, "cut/") {
			f.Add(c.Frame[14:])
		}
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		for _, et := range []uint16{0x0800, 0x86dd} {
			eth := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, byte(et >> 8), byte(et)}, d...)
			want := ParseEthernet(eth)
			checkParsed(t, want)
			sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, byte(et >> 8), byte(et)}, d...)
			if got := ParseFrame(layers.LinkTypeLinuxSLL, sll); got != want {
				t.Errorf("SLL %+v, Ethernet %+v", got, want)
			}
			lt := layers.LinkTypeIPv4
			if et == 0x86dd {
				lt = layers.LinkTypeIPv6
			}
			if got := ParseFrame(lt, d); got != want {
				t.Errorf("link type %v: %+v, Ethernet %+v", lt, got, want)
			}
			if len(d) > 0 && d[0]>>4 == map[uint16]byte{0x0800: 4, 0x86dd: 6}[et] {
				if got := ParseFrame(layers.LinkTypeRaw, d); got != want {
					t.Errorf("raw: %+v, Ethernet %+v", got, want)
				}
			}
		}
	})
}

// checkParsed asserts what holds for every outcome of the parser.
func checkParsed(t *testing.T, p Parsed) {
	t.Helper()
	if p.Reason != bpf.StatAccounted {
		if p != (Parsed{Reason: p.Reason}) {
			t.Errorf("outcome %d carries a key or counters: %+v", p.Reason, p)
		}
		if p.Reason >= bpf.StatSampledOut {
			t.Errorf("outcome %d is not one the parser gives", p.Reason)
		}
		return
	}
	if p.Key.IpVersion != 4 && p.Key.IpVersion != 6 {
		t.Errorf("accounted with IP version %d", p.Key.IpVersion)
	}
	if p.Key.Ifindex != 0 || p.Key.Direction != 0 {
		t.Errorf("ifindex %d, direction %d: the parser sets neither", p.Key.Ifindex, p.Key.Direction)
	}
	if p.NoL4 && (p.Key.SrcPort != 0 || p.Key.DstPort != 0 || p.TCPFlags != 0) {
		t.Errorf("transport cut off, yet ports %d>%d flags %#x", p.Key.SrcPort, p.Key.DstPort, p.TCPFlags)
	}
	if p.TCPFlags != 0 && p.Key.Proto != pTCP {
		t.Errorf("TCP flags %#x on protocol %d", p.TCPFlags, p.Key.Proto)
	}
	if p.Key.IpVersion == 4 && (p.IPBytes < 20 || p.IPBytes > 65535) {
		t.Errorf("IPv4 length %d outside 20..65535", p.IPBytes)
	}
	if a := netip.AddrFrom16(p.Key.SrcAddr); p.Key.IpVersion == 4 && !a.Is4In6() {
		t.Errorf("IPv4 with source address %s, want it IPv4-mapped", a)
	}
}
