package classify_test

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/classify"
	"github.com/spanflow/spanflow/probe/probetest"
)

// The real captures are read once per test binary, grouped into flows the
// way nDPI 4.2 groups them (bidirectional; key = L4 protocol, innermost
// VLAN, the two endpoints in either order; IP-in-IP keyed by the inner
// header, GRE/UDP tunnels not opened), and their payload heads kept in
// order for every test and benchmark below.

type endpoint struct {
	addr netip.Addr
	port uint16
}

type flowKey struct {
	proto uint8
	vlan  uint16
	a, b  endpoint // a < b
}

func makeKey(proto uint8, vlan uint16, src, dst endpoint) flowKey {
	if less(dst, src) {
		src, dst = dst, src
	}
	return flowKey{proto, vlan, src, dst}
}

func less(x, y endpoint) bool {
	if c := x.addr.Compare(y.addr); c != 0 {
		return c < 0
	}
	return x.port < y.port
}

// head is one payload-carrying packet of a flow.
type head struct {
	dir  classify.Direction
	b    []byte // at most classify.HeadSize bytes
	wire int    // payload length on the wire
}

type realFlow struct {
	pcap      string
	key       flowKey
	initiator endpoint
	heads     []head // the first 64 per flow are kept
}

type realSet struct {
	flows map[string]map[flowKey]*realFlow // pcap → key → flow
	list  []*realFlow
}

var (
	realOnce sync.Once
	realData *realSet
	realErr  error
)

const maxHeadsKept = 64

func loadReal(t testing.TB) *realSet {
	t.Helper()
	dir := probetest.RealCapturesDir(t)
	realOnce.Do(func() { realData, realErr = readReal(dir) })
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realData
}

func readReal(dir string) (*realSet, error) {
	labels, err := readLabels(filepath.Join(dir, "ndpi-labels.tsv"))
	if err != nil {
		return nil, err
	}
	s := &realSet{flows: map[string]map[flowKey]*realFlow{}}
	pcaps := map[string]bool{}
	for _, l := range labels {
		pcaps[l.pcap] = true
	}
	names := make([]string, 0, len(pcaps))
	for n := range pcaps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m, list, err := readCapture(filepath.Join(dir, name), name)
		if err != nil {
			return nil, err
		}
		s.flows[name] = m
		s.list = append(s.list, list...)
	}
	return s, nil
}

func readCapture(path, name string) (map[flowKey]*realFlow, []*realFlow, error) {
	c, err := probe.OpenCapture(path)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	m := map[flowKey]*realFlow{}
	var list []*realFlow
	for {
		fr, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			break // a broken capture ends where it breaks, as for ndpiReader
		}
		proto, vlan, src, dst, payload, ok := decode(fr)
		if !ok {
			continue
		}
		k := makeKey(proto, vlan, src, dst)
		f := m[k]
		if f == nil {
			f = &realFlow{pcap: name, key: k, initiator: src}
			m[k] = f
			list = append(list, f)
		}
		if len(payload) == 0 || len(f.heads) >= maxHeadsKept {
			continue
		}
		dir := classify.FromInitiator
		if src != f.initiator {
			dir = classify.FromResponder
		}
		wire := len(payload) + max(0, fr.OrigLen-len(fr.Data))
		h := payload
		if len(h) > classify.HeadSize {
			h = h[:classify.HeadSize]
		}
		f.heads = append(f.heads, head{dir, append([]byte(nil), h...), wire})
	}
	return m, list, nil
}

// decode finds the flow key and L4 payload of a frame as nDPI 4.2 sees it.
func decode(fr probe.Frame) (proto uint8, vlan uint16, src, dst endpoint, payload []byte, ok bool) {
	pkt := gopacket.NewPacket(fr.Data, fr.LinkType, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var ip gopacket.Layer
	var l4 gopacket.Layer
	afterIP := false
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.Dot1Q:
			if ip == nil {
				vlan = l.VLANIdentifier
			}
		case *layers.IPv4:
			if ip != nil && !afterIP {
				break
			}
			if l.Flags&layers.IPv4MoreFragments != 0 && l.FragOffset != 0 || l.FragOffset != 0 {
				return 0, 0, src, dst, nil, false // nDPI drops non-first fragments
			}
			ip, afterIP, l4 = l, true, nil
		case *layers.IPv6:
			if ip != nil && !afterIP {
				break
			}
			ip, afterIP, l4 = l, true, nil
		case *layers.IPv6HopByHop, *layers.IPv6Routing, *layers.IPv6Destination, *layers.IPv6Fragment:
			// extension headers keep us "right after IP"
		default:
			if ip != nil && afterIP && l4 == nil {
				l4 = l
				afterIP = false
			}
		}
	}
	if ip == nil {
		return 0, 0, src, dst, nil, false
	}
	switch v := ip.(type) {
	case *layers.IPv4:
		src.addr, _ = netip.AddrFromSlice(v.SrcIP.To4())
		dst.addr, _ = netip.AddrFromSlice(v.DstIP.To4())
		proto = uint8(v.Protocol)
	case *layers.IPv6:
		src.addr, _ = netip.AddrFromSlice(v.SrcIP.To16())
		dst.addr, _ = netip.AddrFromSlice(v.DstIP.To16())
		proto = uint8(v.NextHeader)
		if ext, ok := lastIPv6Next(pkt); ok {
			proto = ext
		}
	}
	switch l := l4.(type) {
	case *layers.TCP:
		proto = classify.ProtoTCP
		src.port, dst.port = uint16(l.SrcPort), uint16(l.DstPort)
		payload = l.Payload
	case *layers.UDP:
		proto = classify.ProtoUDP
		src.port, dst.port = uint16(l.SrcPort), uint16(l.DstPort)
		payload = l.Payload
	}
	return proto, vlan, src, dst, payload, true
}

// lastIPv6Next is the protocol after the innermost IPv6 header's
// extension headers.
func lastIPv6Next(pkt gopacket.Packet) (uint8, bool) {
	var nh uint8
	found := false
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv6:
			nh, found = uint8(l.NextHeader), true
		case *layers.IPv6HopByHop:
			nh = uint8(l.NextHeader)
		case *layers.IPv6Routing:
			nh = uint8(l.NextHeader)
		case *layers.IPv6Destination:
			nh = uint8(l.NextHeader)
		case *layers.IPv6Fragment:
			nh = uint8(l.NextHeader)
		}
	}
	return nh, found
}

// label is one row of ndpi-labels.tsv.
type label struct {
	pcap       string
	key        flowKey
	proto      string // nDPI's full name, e.g. TLS.Google
	master     string // the part before the dot
	confidence string
}

func readLabels(path string) ([]label, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []label
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "pcap\t") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) < 11 {
			continue
		}
		var proto uint8
		switch c[1] {
		case "TCP":
			proto = 6
		case "UDP":
			proto = 17
		case "ICMP":
			proto = 1
		case "ICMPV6":
			proto = 58
		case "IGMP":
			proto = 2
		case "VRRP":
			proto = 112
		default:
			n, err := strconv.Atoi(c[1])
			if err != nil {
				continue
			}
			proto = uint8(n)
		}
		sa, err1 := netip.ParseAddr(c[2])
		da, err2 := netip.ParseAddr(c[4])
		sp, _ := strconv.Atoi(c[3])
		dp, _ := strconv.Atoi(c[5])
		if err1 != nil || err2 != nil {
			continue
		}
		var vlan uint16
		if c[10] != "-" {
			v, _ := strconv.Atoi(c[10])
			vlan = uint16(v)
		}
		master, _, _ := strings.Cut(c[6], ".")
		out = append(out, label{
			pcap: c[0], key: makeKey(proto, vlan, endpoint{sa.Unmap(), uint16(sp)}, endpoint{da.Unmap(), uint16(dp)}),
			proto: c[6], master: master, confidence: c[8],
		})
	}
	return out, sc.Err()
}
