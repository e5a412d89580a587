package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
)

// DefaultPinDir is where --pin-dir keeps maps and links by default.
const DefaultPinDir = "/sys/fs/bpf/spanflow"

// metaMap is the pinned record of what made the pinned state: the program
// build and the load-time options. State is adopted only when all match.
const metaMap = "spanflow_meta"

type pinMeta struct {
	Hash       [32]byte
	KeyFields  uint32
	SampleMode uint32
	SampleRate uint32
	Action     uint32
	MapEntries uint32
	Coarse     uint32
	Classify   uint32
	Route      uint32
	DedupNs    uint64
	IfMap      uint32
	Decap      uint32 // bits, and the VXLAN port above them
	GENEVEPort uint32
}

func (o *Options) meta() pinMeta {
	return pinMeta{
		Hash:       bpf.ObjectHash(),
		KeyFields:  uint32(o.KeyFields),
		SampleMode: uint32(o.SampleMode),
		SampleRate: o.SampleRate,
		Action:     uint32(o.Action),
		MapEntries: o.MapEntries,
		Coarse:     boolU32(o.CoarseClock),
		Classify:   o.sampleRingInUse(),
		Route:      boolU32(o.Route),
		DedupNs:    uint64(o.DedupWindow.Nanoseconds()),
		IfMap:      boolU32(o.InterfaceMap != nil),
		Decap:      o.Decap.bits() | uint32(o.Decap.vxlanPort())<<16,
		GENEVEPort: uint32(o.Decap.genevePort()),
	}
}

// differences names what differs between two metas, for the refusal.
func (m pinMeta) differences(want pinMeta) []string {
	var d []string
	if m.Hash != want.Hash {
		d = append(d, "program version")
	}
	if m.KeyFields != want.KeyFields {
		d = append(d, fmt.Sprintf("key fields (%#x, want %#x)", m.KeyFields, want.KeyFields))
	}
	if m.SampleMode != want.SampleMode || m.SampleRate != want.SampleRate {
		d = append(d, fmt.Sprintf("sampling (mode %d 1-in-%d, want mode %d 1-in-%d)", m.SampleMode, m.SampleRate, want.SampleMode, want.SampleRate))
	}
	if m.Action != want.Action {
		d = append(d, "xdp action")
	}
	if m.Coarse != want.Coarse {
		d = append(d, "clock")
	}
	if m.Decap != want.Decap || m.GENEVEPort != want.GENEVEPort {
		d = append(d, "--decap")
	}
	if m.IfMap != want.IfMap {
		d = append(d, "interface map (on or off)")
	}
	if m.DedupNs != want.DedupNs {
		d = append(d, "dedup window")
	}
	if m.Route != want.Route {
		d = append(d, "router mode")
	}
	if m.Classify != want.Classify {
		d = append(d, "classification or sample ring size")
	}
	if m.MapEntries != want.MapEntries {
		d = append(d, fmt.Sprintf("map size (%d, want %d)", m.MapEntries, want.MapEntries))
	}
	return d
}

// prepareFS makes sure dir is on a mounted bpf filesystem, mounting one at
// /sys/fs/bpf when dir lies below it and nothing is mounted there yet.
func prepareFS(dir string) error {
	const root = "/sys/fs/bpf"
	if strings.HasPrefix(filepath.Clean(dir)+"/", root+"/") && !isBPFFS(root) {
		if err := unix.Mount("bpf", root, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs at %s: %w", root, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pin dir: %w", err)
	}
	if !isBPFFS(dir) {
		return fmt.Errorf("pin dir %s is not on a bpf filesystem (mount -t bpf bpf DIR)", dir)
	}
	return nil
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// checkPinnedState compares the state pinned in dir with opts. It returns
// adopt = true when there is compatible state to take over; incompatible
// state is an error unless replace, which removes it.
func checkPinnedState(dir string, opts *Options, replace bool) (adopt bool, err error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, metaMap), nil)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pinned state in %s: %w", dir, err)
	}
	defer m.Close()
	var raw []byte
	if err := m.Lookup(uint32(0), &raw); err != nil {
		return false, fmt.Errorf("read pinned state in %s: %w", dir, err)
	}
	var have pinMeta
	var diff []string
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &have); err != nil {
		diff = []string{"program version"} // an older build's shorter record
	} else {
		diff = have.differences(opts.meta())
	}
	if len(diff) == 0 {
		return true, nil
	}
	if !replace {
		return false, fmt.Errorf("pinned state in %s has a different %s: restart with the same settings, or use --replace to discard it (its uncollected counts are lost)",
			dir, strings.Join(diff, ", "))
	}
	return false, removePins(dir)
}

// removePins unpins every map and link in dir; a link's program detaches
// once nothing else holds it.
func removePins(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("pin dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// writeMeta pins the record of what made this state.
func writeMeta(dir string, opts *Options) error {
	m, err := ebpf.NewMapWithOptions(&ebpf.MapSpec{
		Name: metaMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(binary.Size(pinMeta{})), MaxEntries: 1, Pinning: ebpf.PinByName,
	}, ebpf.MapOptions{PinPath: dir})
	if err != nil {
		return fmt.Errorf("pin state record: %w", err)
	}
	defer m.Close()
	var buf bytes.Buffer
	binary.Write(&buf, binary.NativeEndian, opts.meta())
	return m.Put(uint32(0), buf.Bytes())
}

func linkPinPath(dir, iface string) string { return filepath.Join(dir, "link_"+iface) }

// sampleRingInUse is the sample ring's size when classification is on, 0
// when it is off: pinned state is adopted only where both match.
func (o *Options) sampleRingInUse() uint32 {
	if !o.Classify {
		return 0
	}
	return o.SampleRing
}
