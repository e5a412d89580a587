package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestE2ERouterModeAsksTheKernel runs spanflow on a three-namespace
// software router: client 198.18.1.2 ─ rA [router] rB ─ server 198.18.2.2,
// with a route to 198.19.0.0/16 via the server, a blackhole for
// 198.19.128.0/17 and a local address on the router's loopback. The
// client pings through the router, to it and into the blackhole; every
// flow spanflow exports must have the output interface (or Local, Null),
// next hop and masks the router's kernel gives: `ip route get` for the
// first three, `ip route show match` (longest prefix) for the masks.
func TestE2ERouterModeAsksTheKernel(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	client, router, _, run := routerLab(t)

	var out exportertest.Buffer
	control := e2eControlPath(t)
	// --mode auto: the router forwards, so spanflow must see it is one.
	cmd := exec.Command(bin, "-i", "rA", "-i", "rB", "--xdp-mode", "native", "--print=json",
		"--classify=false", "--harvest-interval", "100ms", "--control", control, "--pin-dir", e2ePinDir(t))
	cmd.Stdout = &out
	d := &e2eDaemon{Proc: e2eStart(t, router, "spanflow", cmd), bin: bin, control: control}
	if !exportertest.Within(15*time.Second, func() bool { _, err := d.show("stats"); return err == nil || !d.Running() }) || !d.Running() {
		t.Fatalf("spanflow not answering within 15 s; its log:\n%s", d.Out.String())
	}
	if !strings.Contains(d.Out.String(), "router mode") {
		t.Errorf("forwarding is on, yet spanflow did not say it runs in router mode:\n%s", d.Out.String())
	}
	for _, dst := range []string{"198.18.2.2", "198.19.5.5", "198.18.1.1", "198.18.9.1"} {
		run(client, "ping", "-c", "2", "-i", "0.2", "-W", "2", dst)
	}
	pingNull := exec.Command("ping", "-c", "1", "-W", "1", "198.19.200.1")
	client.Run(pingNull) // the blackhole answers nothing: the error is expected

	if code := d.Stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("spanflow exited with %d:\n%s", code, d.Out.String())
	}
	ifindex := map[uint32]string{}
	for _, name := range []string{"rA", "rB"} {
		i, err := router.LinkIndex(name)
		if err != nil {
			t.Fatal(err)
		}
		ifindex[uint32(i)] = name
	}

	checked := map[string]bool{}
	for _, r := range jsonLines[flowprint.JSON](t, "spanflow --print=json", []byte(out.String())) {
		if r.Proto != 1 {
			continue // the kernel's own chatter (IPv6 is off in these namespaces, ARP is not IP)
		}
		in := ifindex[r.InIf]
		want := kernelRoute(t, run, router, r.SrcAddr, r.DstAddr, in)
		got := routeOf{out: r.Out, mask: [2]uint8{r.SrcMask, r.DstMask}}
		if r.Out == "interface" {
			got.out = ifindex[r.OutIf]
		}
		if r.NextHop != nil {
			got.nextHop = *r.NextHop
		}
		if got != want {
			t.Errorf("%s → %s in %s: spanflow says %+v, the kernel %+v", r.SrcAddr, r.DstAddr, in, got, want)
		}
		t.Logf("%s → %s in %s: %+v", r.SrcAddr, r.DstAddr, in, got)
		checked[r.DstAddr.String()] = true
	}
	for _, dst := range []string{"198.18.2.2", "198.19.5.5", "198.18.1.1", "198.18.9.1", "198.19.200.1", "198.18.1.2"} {
		if !checked[dst] {
			t.Errorf("no ICMP flow to %s was exported; output:\n%s\nlog:\n%s", dst, out.String(), d.Out.String())
		}
	}
}

// routeOf is what a flow record says about its route.
type routeOf struct {
	out     string // interface name, "Local" or "Null"
	nextHop netip.Addr
	mask    [2]uint8 // source, destination
}

// kernelRoute asks the router's kernel with ip(8) what spanflow should say.
func kernelRoute(t *testing.T, run func(*probetest.NetNS, ...string) string, router *probetest.NetNS, src, dst netip.Addr, in string) routeOf {
	t.Helper()
	var want routeOf
	want.mask = [2]uint8{longestMatch(t, run, router, src), longestMatch(t, run, router, dst)}
	cmd := exec.Command("ip", "-j", "route", "get", dst.String(), "from", src.String(), "iif", in)
	var b strings.Builder
	cmd.Stdout = &b
	if err := router.Run(cmd); err != nil {
		// ip route get refuses a blackhole destination.
		want.out = "Null"
		return want
	}
	var got []struct{ Type, Dev, Gateway string }
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil || len(got) != 1 {
		t.Fatalf("ip route get %s: %v: %s", dst, err, b.String())
	}
	switch {
	case got[0].Type == "local":
		want.out = "Local"
	case got[0].Gateway != "":
		want.out, want.nextHop = got[0].Dev, netip.MustParseAddr(got[0].Gateway)
	default:
		want.out, want.nextHop = got[0].Dev, netip.IPv4Unspecified()
	}
	return want
}

// longestMatch is the prefix length of the most specific main-table
// route that matches a.
func longestMatch(t *testing.T, run func(*probetest.NetNS, ...string) string, router *probetest.NetNS, a netip.Addr) uint8 {
	t.Helper()
	var routes []struct{ Dst string }
	out := run(router, "ip", "-j", "route", "show", "match", a.String(), "table", "main")
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("ip route show match %s: %v: %s", a, err, out)
	}
	best := -1
	for _, r := range routes {
		bits := 0
		if r.Dst == "default" {
			bits = 0
		} else if p, err := netip.ParsePrefix(r.Dst); err == nil {
			bits = p.Bits()
		} else if _, err := netip.ParseAddr(r.Dst); err == nil {
			bits = a.BitLen()
		} else {
			t.Fatalf("ip route show match %s: route %q", a, r.Dst)
		}
		best = max(best, bits)
	}
	if best < 0 {
		return 0
	}
	return uint8(best)
}

// routerLab builds the three namespaces of the router tests: client
// 198.18.1.2 ─ rA [router] rB ─ server 198.18.2.2, with a route to
// 198.19.0.0/16 via the server, a blackhole for 198.19.128.0/17, a local
// address 198.18.9.1 on the router's loopback, and forwarding on. run runs
// a command in a namespace and returns its output.
func routerLab(t *testing.T) (client, router, server *probetest.NetNS, run func(*probetest.NetNS, ...string) string) {
	t.Helper()
	client, router, server = probetest.NewNetNS(t), probetest.NewNetNS(t), probetest.NewNetNS(t)
	probetest.VethPair(t, client, "c0", router, "rA")
	probetest.VethPair(t, router, "rB", server, "s0")
	run = func(ns *probetest.NetNS, args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := ns.Run(cmd); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	for _, c := range []struct {
		ns   *probetest.NetNS
		args string
	}{
		{client, "ip addr add 198.18.1.2/24 dev c0"},
		{client, "ip route add default via 198.18.1.1"},
		{router, "ip link set lo up"},
		{router, "ip addr add 198.18.1.1/24 dev rA"},
		{router, "ip addr add 198.18.2.1/24 dev rB"},
		{router, "ip addr add 198.18.9.1/32 dev lo"},
		{router, "ip route add 198.19.0.0/16 via 198.18.2.2"},
		{router, "ip route add blackhole 198.19.128.0/17"},
		{server, "ip link set lo up"},
		{server, "ip addr add 198.18.2.2/24 dev s0"},
		{server, "ip addr add 198.19.5.5/32 dev lo"},
		{server, "ip route add default via 198.18.2.1"},
	} {
		run(c.ns, strings.Fields(c.args)...)
	}
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	return client, router, server, run
}

// TestE2EEgressCountsEachDirectionAsked runs spanflow on the router lab
// with --direction both on rA and rB. The client pings the server through
// the router and the router itself: each forwarded packet is counted once
// entering and once leaving (two flows of equal counts, the egress one
// keyed by the interface it came in by and leaving by the other), a ping
// to the router enters only (Local), and the router's answer leaves only,
// with input 0 (the router sent it).
func TestE2EEgressCountsEachDirectionAsked(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	client, router, _, run := routerLab(t)
	var out exportertest.Buffer
	control := e2eControlPath(t)
	cmd := exec.Command(bin, "-i", "rA", "-i", "rB", "--direction", "both", "--mode", "router", "--xdp-mode", "native",
		"--print=json", "--classify=false", "--harvest-interval", "100ms", "--control", control, "--pin-dir", e2ePinDir(t))
	cmd.Stdout = &out
	d := &e2eDaemon{Proc: e2eStart(t, router, "spanflow", cmd), bin: bin, control: control}
	if !exportertest.Within(15*time.Second, func() bool { _, err := d.show("stats"); return err == nil || !d.Running() }) || !d.Running() {
		t.Fatalf("spanflow not answering within 15 s; its log:\n%s", d.Out.String())
	}
	ifaces, err := d.show("interfaces")
	if err != nil || strings.Count(ifaces, "XDP native mode and TC egress (tcx)") != 2 {
		t.Errorf("show interfaces (err %v) does not say both hooks on both interfaces:\n%s", err, ifaces)
	}
	const pings = 3
	for _, dst := range []string{"198.18.2.2", "198.18.1.1"} {
		run(client, "ping", "-c", fmt.Sprint(pings), "-i", "0.2", "-W", "2", dst)
	}
	if code := d.Stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("spanflow exited with %d:\n%s", code, d.Out.String())
	}
	name := map[uint32]string{0: "-"}
	for _, n := range []string{"rA", "rB"} {
		i, err := router.LinkIndex(n)
		if err != nil {
			t.Fatal(err)
		}
		name[uint32(i)] = n
	}

	// packets by "direction src>dst type in out"
	got := map[string]uint64{}
	for _, r := range jsonLines[flowprint.JSON](t, "spanflow --print=json", []byte(out.String())) {
		if r.Proto != 1 {
			continue
		}
		dir, outIf := "ingress", r.Out
		if r.Direction != "" {
			dir = r.Direction
		}
		if r.Out == "interface" {
			outIf = name[r.OutIf]
		}
		got[fmt.Sprintf("%s %s>%s type %d in %s out %s", dir, r.SrcAddr, r.DstAddr, r.DstPort>>8, name[r.InIf], outIf)] += r.Packets
	}
	want := map[string]uint64{
		"ingress 198.18.1.2>198.18.2.2 type 8 in rA out rB":    pings,
		"egress 198.18.1.2>198.18.2.2 type 8 in rA out rB":     pings,
		"ingress 198.18.2.2>198.18.1.2 type 0 in rB out rA":    pings,
		"egress 198.18.2.2>198.18.1.2 type 0 in rB out rA":     pings,
		"ingress 198.18.1.2>198.18.1.1 type 8 in rA out Local": pings,
		"egress 198.18.1.1>198.18.1.2 type 0 in - out rA":      pings,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ICMP flows (-want +got):\n%s\nlog:\n%s", diff, d.Out.String())
	}
}
