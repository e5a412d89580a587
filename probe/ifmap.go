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
	VLAN    uint16           // VLAN entries: the VID
	MAC     net.HardwareAddr // MAC entries: the router port's address
	IfIndex uint32           // the router's ifIndex of the port (SNMP ifIndex)
	Name    string           // its name, as the router calls it (Gi0/1)
	Output  bool             // VLAN entries: frames on it left the router
}

// ReadInterfaceMap reads the file: one entry a line,
//
//	vlan VID IFINDEX NAME input|output
//	mac  MAC IFINDEX NAME
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
	want := map[string]int{"vlan": 5, "mac": 4}[f[0]]
	if want == 0 {
		return e, fmt.Errorf("%q: an entry starts with vlan or mac", f[0])
	}
	if len(f) != want {
		return e, fmt.Errorf("%s entry has %d fields, want %d (%s)", f[0], len(f), want,
			map[string]string{"vlan": "vlan VID IFINDEX NAME input|output", "mac": "mac MAC IFINDEX NAME"}[f[0]])
	}
	idx, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil || idx == 0 {
		return e, fmt.Errorf("ifIndex %q: must be 1 to %d", f[2], uint32(1<<32-1))
	}
	e.IfIndex, e.Name = uint32(idx), f[3]
	switch f[0] {
	case "vlan":
		vid, err := strconv.ParseUint(f[1], 10, 12)
		if err != nil || vid == 0 || vid == 4095 {
			return e, fmt.Errorf("VLAN %q: must be 1 to 4094", f[1])
		}
		e.VLAN = uint16(vid)
		switch f[4] {
		case "input":
		case "output":
			e.Output = true
		default:
			return e, fmt.Errorf("direction %q: must be input or output", f[4])
		}
	case "mac":
		mac, err := net.ParseMAC(f[1])
		if err != nil || len(mac) != 6 {
			return e, fmt.Errorf("MAC %q: want six bytes, like 00:1b:54:c2:10:01", f[1])
		}
		e.MAC = mac
	}
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
// capture's) and output (0 = unknown) ports of an Ethernet frame on vlan.
func (m *InterfaceMap) Map(vlan uint16, frame []byte) (in, out uint32) {
	for _, e := range m.Entries {
		if e.MAC == nil && e.VLAN == vlan && vlan != 0 {
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
	vlans, macs := coll.Maps[bpf.MapIfmapVLAN], coll.Maps[bpf.MapIfmapMAC]
	for _, e := range m.Entries {
		var err error
		if e.MAC == nil {
			dir := bpf.IfmapInput
			if e.Output {
				dir = bpf.IfmapOutput
			}
			err = vlans.Update(uint32(e.VLAN), bpf.IfmapValue{Ifindex: e.IfIndex, Dir: uint32(dir)}, ebpf.UpdateAny)
		} else {
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
