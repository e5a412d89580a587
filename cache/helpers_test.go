package cache

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/spanflow/spanflow/bpf"
)

// boot is the fake clock's boot time: a Delta stamped mono ns means the
// wall time boot + mono, so every test also checks that the table
// converts datapath timestamps through its Clock.
var boot = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// fakeClock behaves like MonotonicClock with a fixed boot offset; tests
// set its monotonic now by hand.
type fakeClock struct{ mono time.Duration }

func (c *fakeClock) Now() time.Time                 { return boot.Add(c.mono) }
func (c *fakeClock) Wall(sourceNs uint64) time.Time { return boot.Add(time.Duration(sourceNs)) }

// key builds a flow key from two "addr:port" endpoints.
func key(proto uint8, src, dst string) bpf.FlowKey {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	k := bpf.FlowKey{
		SrcAddr:   s.Addr().As16(),
		DstAddr:   d.Addr().As16(),
		SrcPort:   s.Port(),
		DstPort:   d.Port(),
		Proto:     proto,
		IpVersion: 6,
		Ifindex:   2,
	}
	if s.Addr().Is4() {
		k.IpVersion = 4
	}
	return k
}

// icmpKey builds an ICMP/ICMPv6 key the datapath's way (type<<8|code in
// the destination port).
func icmpKey(proto uint8, src, dst string, typ, code uint8) bpf.FlowKey {
	k := key(proto, netip.AddrPortFrom(netip.MustParseAddr(src), 0).String(),
		netip.AddrPortFrom(netip.MustParseAddr(dst), 0).String())
	k.DstPort = uint16(typ)<<8 | uint16(code)
	return k
}

// pkt is a one-packet delta at mono time at.
func pkt(k bpf.FlowKey, at time.Duration, size uint64, flags uint8) Delta {
	return Delta{Key: k, Packets: 1, Bytes: size, FirstNs: uint64(at), LastNs: uint64(at), TCPFlags: flags}
}

// summary is the part of a Record the timer and pairing tests look at,
// with times as offsets from boot.
type summary struct {
	Flow                 string
	Packets, Bytes       uint64
	Flags                uint8
	Start, End           time.Duration
	RevPackets, RevBytes uint64
	RevFlags             uint8
	RevStart, RevEnd     time.Duration
	Reason               EndReason
}

func summarize(recs []Record) []summary {
	var out []summary
	for _, r := range recs {
		s := summary{
			Flow:    fmt.Sprintf("%d %s > %s", r.Proto, netip.AddrPortFrom(r.SrcAddr, r.SrcPort), netip.AddrPortFrom(r.DstAddr, r.DstPort)),
			Packets: r.Packets, Bytes: r.Bytes, Flags: r.TCPFlags,
			Start: r.Start.Sub(boot), End: r.End.Sub(boot),
			RevPackets: r.RevPackets, RevBytes: r.RevBytes, RevFlags: r.RevTCPFlags,
			Reason: r.EndReason,
		}
		if r.RevPackets > 0 {
			s.RevStart, s.RevEnd = r.RevStart.Sub(boot), r.RevEnd.Sub(boot)
		}
		out = append(out, s)
	}
	return out
}

func newTestTable(t testing.TB, cfg Config, c Clock) *Table {
	t.Helper()
	tb, err := NewTable(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

const s = time.Second
