package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/cache"
)

// kernelRoutes mirrors the host's main routing table for router mode: the
// datapath asks the kernel FIB for each new flow's output interface (Local
// or Null included), and this mirror adds what bpf_fib_lookup does not
// return — the matching routes' prefix lengths (the masks) and the next
// hop of the route the flow leaves by. Netlink route events rebuild it, so
// a route change is seen within routeSettle, and no count depends on it.
// Policy routing (ip rule, other tables) is not mirrored: masks and next
// hops come from the main table.
type kernelRoutes struct {
	table atomic.Pointer[bart.Table[kernelRoute]]
	log   *slog.Logger
}

// kernelRoute is one route of the mirror.
type kernelRoute struct {
	bits uint8
	hops []nextHop // one per path of a multipath route
}

type nextHop struct {
	ifindex uint32
	gw      netip.Addr // invalid on a connected route
	other   bool       // the gateway is another family's address ("via inet6")
}

// routeSettle is how long a burst of route events may last before the
// mirror is rebuilt once (a routing daemon installs routes in bursts).
const routeSettle = 200 * time.Millisecond

// watchKernelRoutes loads the main table and follows its changes until ctx
// ends.
func watchKernelRoutes(ctx context.Context, log *slog.Logger) (*kernelRoutes, error) {
	k := &kernelRoutes{log: log}
	events := make(chan netlink.RouteUpdate, 256)
	if err := netlink.RouteSubscribeWithOptions(events, ctx.Done(), netlink.RouteSubscribeOptions{
		ErrorCallback: func(err error) { log.Warn("route events", "err", err) },
	}); err != nil {
		return nil, fmt.Errorf("router mode: follow route changes: %w", err)
	}
	if err := k.load(); err != nil {
		return nil, err
	}
	go func() {
		var settle <-chan time.Time
		for {
			select {
			case _, ok := <-events:
				if !ok {
					return
				}
				if settle == nil {
					settle = time.After(routeSettle)
				}
			case <-settle:
				settle = nil
				if err := k.load(); err != nil {
					log.Warn("router mode: reload routes (the previous table stays)", "err", err)
				}
			}
		}
	}()
	return k, nil
}

// load rebuilds the mirror from the kernel's main table.
func (k *kernelRoutes) load() error {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("router mode: list routes: %w", err)
	}
	t := new(bart.Table[kernelRoute])
	for _, r := range routes {
		pfx, ok := routePrefix(r)
		if !ok {
			continue
		}
		kr := kernelRoute{bits: uint8(pfx.Bits())}
		if len(r.MultiPath) == 0 {
			kr.hops = []nextHop{{ifindex: uint32(r.LinkIndex), gw: addrOf(r.Gw), other: r.Via != nil}}
		}
		for _, p := range r.MultiPath {
			kr.hops = append(kr.hops, nextHop{ifindex: uint32(p.LinkIndex), gw: addrOf(p.Gw), other: p.Via != nil})
		}
		// Of routes to one prefix the kernel uses the lowest metric;
		// RouteList returns them in table order, lowest first.
		if _, dup := t.Get(pfx); !dup {
			t.Insert(pfx, kr)
		}
	}
	k.table.Store(t)
	return nil
}

// routePrefix is r's destination (the default route has none).
func routePrefix(r netlink.Route) (netip.Prefix, bool) {
	if r.Dst == nil {
		switch r.Family {
		case netlink.FAMILY_V4:
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
		case netlink.FAMILY_V6:
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0), true
		}
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := r.Dst.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits).Masked(), true
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// enrich sets the masks of routed records (those the datapath asked the
// FIB about) and the next hop of those that leave by an interface: the
// gateway of the route's path through that interface, or 0.0.0.0 (::) on
// a connected route, as IOS shows it. A gateway given as another family's
// address (RFC 5549 "via inet6") is not kept: v5–v9 have no field for it.
func (k *kernelRoutes) enrich(recs []cache.Record) {
	if k == nil {
		return
	}
	t := k.table.Load()
	for i := range recs {
		r := &recs[i]
		if r.Out == cache.OutUnknown {
			continue
		}
		if src, ok := t.Lookup(r.SrcAddr); ok {
			r.SrcMask = src.bits
		}
		dst, ok := t.Lookup(r.DstAddr)
		if !ok {
			continue
		}
		r.DstMask = dst.bits
		if r.Out != cache.OutIface {
			continue
		}
		// The path the FIB chose is the one through its interface; when
		// none is (policy routing, a route that just changed, a gateway
		// of the other family) the next hop stays unknown, not
		// "connected".
		for _, h := range dst.hops {
			if h.ifindex != r.OutIfIndex || h.other {
				continue
			}
			r.NextHop = h.gw
			if !h.gw.IsValid() {
				r.NextHop = unspecified(r.DstAddr)
			}
			break
		}
	}
}

func unspecified(like netip.Addr) netip.Addr {
	if like.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// forwarding reports whether this host routes IPv4 or IPv6 (router mode's
// "auto"): read in the namespace spanflow runs in.
func forwarding() bool {
	for _, path := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		b, err := os.ReadFile(path)
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return true
		}
	}
	return false
}
