package probe

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

func writeInterfaceMap(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ifmap")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mapped is what the interface map makes of a flow: its packets and the
// output port it was given.
type mapped struct {
	Packets uint64
	Out     uint32
}

// onOneCPU runs the rest of the test on one CPU: the datapath asks where
// a flow leaves at its first packet on each CPU, so flows given several
// outputs in turn (as these tests do) would otherwise depend on which
// CPUs the runs landed on.
func onOneCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	one.Set(0)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
}

// mappedFlows is the reference side of an interface-map comparison.
type mappedFlows map[string]mapped

// add counts one sample and returns its key (the capture interface, as the
// test run reports it, where the map gave none). The datapath asks where
// a flow leaves once, at its first packet in a slot: the first sample's
// output stands.
func (m mappedFlows) add(s Sample) bpf.FlowKey {
	k := s.Key
	if k.Ifindex == 0 {
		k.Ifindex = loIfindex
	}
	e, seen := m[flowString(k)]
	if !seen {
		e.Out = s.OutIfIndex
	}
	e.Packets++
	m[flowString(k)] = e
	return k
}

// equalsHarvest drains p and demands the same flows, inputs and outputs.
func (m mappedFlows) equalsHarvest(t *testing.T, p *Probe) {
	t.Helper()
	deltas, _, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mappedFlows{}
	for _, d := range deltas {
		got[flowString(d.Key)] = mapped{Packets: d.Packets, Out: d.OutIfIndex}
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("flows differ (-reference +xdp):\n%s", diff)
	}
}

// TestXDPMapsInterfacesAsTheReferenceDoes runs every generated case with
// its MAC addresses rewritten in turn to the mapped router ports' (as
// destination, as source, both, neither) through the program and offline
// mode's FrameSource with the same map: every flow must have the same
// input interface (in its key) and output interface on both sides.
func TestXDPMapsInterfacesAsTheReferenceDoes(t *testing.T) {
	m, err := ReadInterfaceMap(writeInterfaceMap(t, `
# the router's ports as the SPAN session shows them
vlan 100 10 Vl100 input
vlan 101 11 Vl101 output
vlan 200 12 Vl200 input
mac 00:1b:54:c2:10:01 21 Gi0/1
mac 00:1b:54:c2:10:02 22 Gi0/2
`))
	if err != nil {
		t.Fatal(err)
	}
	p := openProbe(t, Options{InterfaceMap: m})
	onOneCPU(t)
	source := NewFrameSource(Options{InterfaceMap: m})
	macs := [][2][]byte{
		{{0x00, 0x1b, 0x54, 0xc2, 0x10, 0x01}, {0x02, 0, 0, 0, 0, 1}},
		{{0x02, 0, 0, 0, 0, 2}, {0x00, 0x1b, 0x54, 0xc2, 0x10, 0x02}},
		{{0x00, 0x1b, 0x54, 0xc2, 0x10, 0x02}, {0x00, 0x1b, 0x54, 0xc2, 0x10, 0x01}},
		{{0x02, 0, 0, 0, 0, 2}, {0x02, 0, 0, 0, 0, 1}},
	}
	ref := mappedFlows{}
	var mappedIn, mappedOut int
	for i, c := range probetest.Cases() {
		if !runnable(c.Frame) {
			continue
		}
		f := append([]byte(nil), c.Frame...)
		copy(f[0:6], macs[i%len(macs)][0])
		copy(f[6:12], macs[i%len(macs)][1])
		run(t, p, f)
		s := source.Sample(Frame{LinkType: layers.LinkTypeEthernet, Timestamp: time.Unix(0, 0), Data: f})
		if s.Packets == 0 {
			continue
		}
		if s.Key.Ifindex != 0 {
			mappedIn++
		}
		if s.OutIfIndex != 0 {
			mappedOut++
		}
		ref.add(s) // this test gives one flow several MACs in turn
	}
	ref.equalsHarvest(t, p)
	if mappedIn < 50 || mappedOut < 50 {
		t.Errorf("only %d packets mapped to an input port and %d to an output port", mappedIn, mappedOut)
	}
}

func TestReadInterfaceMapNamesTheBadLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"vlan 100 10 Vl100 sideways\n", "line 1: direction"},
		{"# ok\nmac 00:1b:54 21 Gi0/1\n", "line 2: MAC"},
		{"vlan 4095 10 x input\n", "line 1: VLAN"},
		{"vlan 10 0 x input\n", "line 1: ifIndex"},
		{"port 1 2 3\n", "line 1: \"port\""},
		{"vni 16777216 5 x input\n", "line 1: vni"},
		{"session 1024 5 x output\n", "line 1: session"},
		{"mac 00:1b:54:c2:10:01 21 Gi0/1\nmac 00:1B:54:C2:10:01 22 Gi0/2\n", "line 2: mac 00:1b:54:c2:10:01 mapped already on line 1"},
		{"# nothing\n", "no entries"},
	} {
		_, err := ReadInterfaceMap(writeInterfaceMap(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestXDPMapsTunnelsAsTheReferenceDoes: with --decap, a tunnel's VNI or
// ERSPAN session names the router port its inner frames entered or left
// by; the program and offline mode agree flow by flow.
func TestXDPMapsTunnelsAsTheReferenceDoes(t *testing.T) {
	m, err := ReadInterfaceMap(writeInterfaceMap(t, `
vni 1193046 31 Tunnel-in input
session 42 32 Tunnel-out output
session 43 33 Other input
`)) // 1193046 = 0x123456, the VNI of tunnels()' vxlan
	if err != nil {
		t.Fatal(err)
	}
	d := Decap{VXLAN: true, ERSPAN: true}
	p := openProbe(t, Options{InterfaceMap: m, Decap: d})
	onOneCPU(t)
	source := NewFrameSource(Options{InterfaceMap: m, Decap: d})
	ref := mappedFlows{}
	var in, out int
	for _, tun := range tunnels() {
		for _, c := range probetest.Cases()[:40] {
			f := wrap(t, tun, c.Frame)
			if !runnable(f) {
				continue
			}
			run(t, p, f)
			s := source.Sample(Frame{LinkType: layers.LinkTypeEthernet, Timestamp: time.Unix(0, 0), Data: f})
			if s.Packets == 0 {
				continue
			}
			switch k := ref.add(s); {
			case k.Ifindex == 31:
				in++
			case s.OutIfIndex == 32:
				out++
			}
		}
	}
	ref.equalsHarvest(t, p)
	if in < 20 || out < 20 {
		t.Errorf("only %d packets mapped in by VNI and %d out by ERSPAN session", in, out)
	}
}
