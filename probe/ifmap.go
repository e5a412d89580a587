package probe

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/spanflow/spanflow/bpf"
)

// InterfaceMap is --interface-map: on a mirror port, which port of the
// mirrored router a frame entered or left by, told by its VLAN or by the
// router port's MAC address in it. A MAC entry gives the input interface
// when the MAC is the frame's destination (the router receives it on that
// port) and the output interface when it is the source; a VLAN entry says
// which it is. Unmapped frames keep the capture interface as input and 0
// as output.
type InterfaceMap struct {
	Entries []InterfaceMapEntry
}

// InterfaceMapEntry is one line of the file.
type InterfaceMapEntry struct {
	Tunnel  uint32           // tunnel entries: kind << 24 | VNI or ERSPAN session
	VLAN    uint16           // VLAN entries: the VID
	MAC     net.HardwareAddr // MAC entries: the router port's address
	IfIndex uint32           // the router's ifIndex of the port (SNMP ifIndex)
	Name    string           // its name, as the router calls it (Gi0/1)
	Output  bool             // VLAN and tunnel entries: frames on it left the router
}

// ReadInterfaceMap reads the file: one entry a line,
//
//	vlan    VID     IFINDEX NAME input|output
//	mac     MAC     IFINDEX NAME
//	vni     VNI     IFINDEX NAME input|output   (--decap vxlan, geneve)
//	session SESSION IFINDEX NAME input|output   (--decap erspan)
//
// blank lines and # comments aside. A bad line is an error naming it.
func ReadInterfaceMap(path string) (*InterfaceMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("interface map: %w", err)
	}
	defer f.Close()
	m := &InterfaceMap{}
	seen := map[string]int{}
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		text, _, _ := strings.Cut(s.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		e, err := parseInterfaceMapLine(fields)
		if err != nil {
			return nil, fmt.Errorf("interface map %s line %d: %w", path, line, err)
		}
		what := fields[0] + " " + strings.ToLower(fields[1])
		if first, dup := seen[what]; dup {
			return nil, fmt.Errorf("interface map %s line %d: %s mapped already on line %d", path, line, what, first)
		}
		seen[what] = line
		m.Entries = append(m.Entries, e)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("interface map %s: %w", path, err)
	}
	if len(m.Entries) == 0 {
		return nil, fmt.Errorf("interface map %s: no entries", path)
	}
	if len(m.Entries) > maxInterfaceMapEntries {
		return nil, fmt.Errorf("interface map %s: %d entries, at most %d", path, len(m.Entries), maxInterfaceMapEntries)
	}
	return m, nil
}

// maxInterfaceMapEntries is the size of each datapath map (maps.h).
const maxInterfaceMapEntries = 4096

func parseInterfaceMapLine(f []string) (InterfaceMapEntry, error) {
	var e InterfaceMapEntry
	usage := map[string]string{
		"vlan": "vlan VID IFINDEX NAME input|output", "mac": "mac MAC IFINDEX NAME",
		"vni": "vni VNI IFINDEX NAME input|output", "session": "session ID IFINDEX NAME input|output",
	}[f[0]]
	if usage == "" {
		return e, fmt.Errorf("%q: an entry starts with vlan, mac, vni or session", f[0])
	}
	if want := len(strings.Fields(usage)); len(f) != want {
		return e, fmt.Errorf("%s entry has %d fields, want %d (%s)", f[0], len(f), want, usage)
	}
	idx, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil || idx == 0 {
		return e, fmt.Errorf("ifIndex %q: must be 1 to %d", f[2], uint32(1<<32-1))
	}
	e.IfIndex, e.Name = uint32(idx), f[3]
	if f[0] == "mac" {
		mac, err := net.ParseMAC(f[1])
		if err != nil || len(mac) != 6 {
			return e, fmt.Errorf("MAC %q: want six bytes, like 00:1b:54:c2:10:01", f[1])
		}
		e.MAC = mac
		return e, nil
	}
	switch f[4] {
	case "input":
	case "output":
		e.Output = true
	default:
		return e, fmt.Errorf("direction %q: must be input or output", f[4])
	}
	var bits int
	switch f[0] {
	case "vlan":
		vid, err := strconv.ParseUint(f[1], 10, 12)
		if err != nil || vid == 0 || vid == 4095 {
			return e, fmt.Errorf("VLAN %q: must be 1 to 4094", f[1])
		}
		e.VLAN = uint16(vid)
		return e, nil
	case "vni":
		bits = 24
	case "session":
		bits = 10
	}
	id, err := strconv.ParseUint(f[1], 10, bits)
	if err != nil {
		return e, fmt.Errorf("%s %q: must be 0 to %d", f[0], f[1], 1<<bits-1)
	}
	kind := uint32(bpf.TunnelVNI)
	if f[0] == "session" {
		kind = uint32(bpf.TunnelSession)
	}
	e.Tunnel = kind<<24 | uint32(id)
	return e, nil
}

// Names maps the mapped ifIndexes to their names, for views and the
// v9/IPFIX interface options.
func (m *InterfaceMap) Names() map[uint32]string {
	names := map[uint32]string{}
	if m != nil {
		for _, e := range m.Entries {
			names[e.IfIndex] = e.Name
		}
	}
	return names
}

// Map is map_interfaces for offline mode: the input (0 = keep the
// capture's) and output (0 = unknown) ports of an Ethernet frame on vlan
// that came out of tunnel (0: none).
func (m *InterfaceMap) Map(vlan uint16, tunnel uint32, frame []byte) (in, out uint32) {
	for _, e := range m.Entries {
		if e.Tunnel != 0 && e.Tunnel == tunnel {
			if e.Output {
				out = e.IfIndex
			} else {
				in = e.IfIndex
			}
		}
	}
	for _, e := range m.Entries {
		if e.MAC == nil && e.Tunnel == 0 && e.VLAN == vlan && vlan != 0 {
			if e.Output {
				out = e.IfIndex
			} else {
				in = e.IfIndex
			}
		}
	}
	if len(frame) < 12 {
		return in, out
	}
	for _, e := range m.Entries {
		switch {
		case e.MAC == nil:
		case string(e.MAC) == string(frame[0:6]):
			in = e.IfIndex
		}
	}
	for _, e := range m.Entries {
		if e.MAC != nil && string(e.MAC) == string(frame[6:12]) {
			out = e.IfIndex
		}
	}
	return in, out
}

// load fills the datapath's maps.
func (m *InterfaceMap) load(coll *ebpf.Collection) error {
	vlans, macs, tunnels := coll.Maps[bpf.MapIfmapVLAN], coll.Maps[bpf.MapIfmapMAC], coll.Maps[bpf.MapIfmapTunnel]
	for _, e := range m.Entries {
		var err error
		dir := bpf.IfmapInput
		if e.Output {
			dir = bpf.IfmapOutput
		}
		switch {
		case e.Tunnel != 0:
			err = tunnels.Update(e.Tunnel, bpf.IfmapValue{Ifindex: e.IfIndex, Dir: uint32(dir)}, ebpf.UpdateAny)
		case e.MAC == nil:
			err = vlans.Update(uint32(e.VLAN), bpf.IfmapValue{Ifindex: e.IfIndex, Dir: uint32(dir)}, ebpf.UpdateAny)
		default:
			var b [8]byte
			copy(b[:], e.MAC)
			err = macs.Update(binary.NativeEndian.Uint64(b[:]), bpf.IfmapValue{Ifindex: e.IfIndex}, ebpf.UpdateAny)
		}
		if err != nil {
			return fmt.Errorf("interface map: load into the datapath: %w", err)
		}
	}
	return nil
}
