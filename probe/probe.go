package probe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/classify"
)

// Mode is how the program is attached to an interface.
type Mode int

const (
	ModeAuto    Mode = iota // native if the driver supports it, else generic
	ModeNative              // in the driver; fails when unsupported
	ModeGeneric             // in the core stack (skb); works everywhere, slower
)

func (m Mode) String() string {
	return [...]string{"auto", "native", "generic"}[m]
}

// ParseMode reads --xdp-mode.
func ParseMode(s string) (Mode, error) {
	for m := ModeAuto; m <= ModeGeneric; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("xdp mode %q: must be auto, native or generic", s)
}

// Attachment describes one interface the program is attached to.
type Attachment struct {
	Interface string
	Index     int
	Egress    bool  // tc_egress (AttachEgress); xdp_flow otherwise
	Mode      Mode  // XDP: ModeNative or ModeGeneric, what the kernel accepted
	Hook      Hook  // egress: how tc_egress is attached
	Fallback  error // in ModeAuto, why native was refused; egress, why not TCX; nil otherwise
	Adopted   bool  // an earlier run's pinned link was taken over

	link           link.Link          // nil for a clsact filter
	filter         *netlink.BpfFilter // HookClsact: the filter to delete at detach
	nlHandle       *netlink.Handle    // bound to the interface's namespace
	restorePromisc bool
}

// Probe is the loaded XDP program with its two flow slots.
type Probe struct {
	pinDir   string // "" when nothing is pinned
	adopted  bool   // state was taken over: drain both slots at the first harvest
	classify bool   // payload heads go to the sample ring
	coll     *ebpf.Collection
	prog     *ebpf.Program // xdp_flow
	egress   *ebpf.Program // tc_egress
	slot     *ebpf.Map     // flows_slot: entry 0 is the active slot
	slots    [2]*ebpf.Map  // flows_a, flows_b
	overflow [2]*ebpf.Map  // overflow_a, overflow_b: each slot's overflow records
	active   int           // index into slots of the active slot
	fill     *ebpf.Map     // fill_level: new flows in the active slot
	stats    *ebpf.Map
	ncpu     int
	attached []*Attachment

	// Drain buffers, reused between harvests.
	keys      []bpf.FlowKey
	values    []bpf.FlowValue // len(keys) * ncpu
	readKeys  []bpf.FlowKey   // what ReadSlot read, for ClearSlot: flow keys, then overflow keys
	readFlows int             // how many of readKeys are flow keys
	workers   []worker        // split reads of big slots
	statBuf   []bpf.StatValue
	closers   []func() error // readers of the maps, closed before them
}

// Open checks privileges, sets the load-time options and loads the
// program and its maps into the kernel. It attaches nothing.
func Open(opts Options) (*Probe, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := checkCapabilities(); err != nil {
		return nil, err
	}
	spec, err := configuredSpec(&opts)
	if err != nil {
		return nil, err
	}
	coll, adopted, err := loadCollection(spec, &opts)
	if err != nil {
		return nil, err
	}
	if opts.InterfaceMap != nil {
		if err := opts.InterfaceMap.load(coll); err != nil {
			coll.Close()
			return nil, err
		}
	}
	p, err := newProbe(coll, opts.PinDir, adopted)
	if err != nil {
		coll.Close()
		return nil, err
	}
	p.classify = opts.Classify
	if adopted && opts.Classify {
		// The earlier run's verdicts went with it: what it marked done
		// must be sampled again for the new run's classifier.
		if err := clearAppState(coll.Maps[bpf.MapAppState]); err != nil {
			p.Close()
			return nil, fmt.Errorf("adopt pinned state: %w", err)
		}
	}
	if opts.PinDir != "" && !adopted {
		if err := writeMeta(opts.PinDir, &opts); err != nil {
			coll.Close()
			return nil, err
		}
	}
	return p, nil
}

// OverflowEntries sizes the overflow map of a slot of mapEntries flows: a
// quarter, for the prefixes of what a full slot turns away.
func OverflowEntries(mapEntries uint32) uint32 { return max(MinMapEntries, mapEntries/4) }

// FillSignal is how many new flows in a slot of mapEntries make the
// datapath ask for a harvest at once: a quarter, so that three quarters
// are left for the flows that come while the harvest flips and drains.
func FillSignal(mapEntries uint32) uint32 { return max(1, mapEntries/4) }

// configuredSpec is the program with opts' load-time constants and map
// sizes set.
func configuredSpec(opts *Options) (*ebpf.CollectionSpec, error) {
	spec, err := bpf.LoadSpec()
	if err != nil {
		return nil, err
	}
	for name, value := range map[string]uint32{
		bpf.VarKeyFields:   uint32(opts.KeyFields),
		bpf.VarSampleMode:  uint32(opts.SampleMode),
		bpf.VarSampleRate:  opts.SampleRate,
		bpf.VarAction:      uint32(opts.Action),
		bpf.VarCoarseClock: boolU32(opts.CoarseClock),
		bpf.VarClassify:    boolU32(opts.Classify),
		bpf.VarRoute:       boolU32(opts.Route),
		bpf.VarIfmap:       boolU32(opts.InterfaceMap != nil),
		bpf.VarDecap:       opts.Decap.bits(),
		bpf.VarVXLANPort:   uint32(opts.Decap.vxlanPort()),
		bpf.VarGENEVEPort:  uint32(opts.Decap.genevePort()),
		bpf.VarBudgetTCP:   uint32(classify.BudgetTCP),
		bpf.VarBudgetUDP:   uint32(classify.BudgetUDP),
	} {
		if err := spec.Variables[name].Set(value); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	for _, name := range []string{bpf.MapFlowsA, bpf.MapFlowsB} {
		spec.Maps[name].MaxEntries = opts.MapEntries
	}
	for _, name := range []string{bpf.MapOverflowA, bpf.MapOverflowB} {
		spec.Maps[name].MaxEntries = OverflowEntries(opts.MapEntries)
	}
	if err := spec.Variables[bpf.VarFillSignal].Set(uint64(FillSignal(opts.MapEntries))); err != nil {
		return nil, fmt.Errorf("set %s: %w", bpf.VarFillSignal, err)
	}
	spec.Maps[bpf.MapFlowsSlot].InnerMap.MaxEntries = opts.MapEntries
	// Both directions of every flow of a full slot, while they sample.
	spec.Maps[bpf.MapAppState].MaxEntries = 2 * opts.MapEntries
	spec.Maps[bpf.MapAppSamples].MaxEntries = opts.SampleRing
	// The packets of one window: 100k at 1 Mpps and the longest window;
	// an entry evicted inside its window lets a duplicate through.
	spec.Maps[bpf.MapDedup].MaxEntries = max(2*opts.MapEntries, minDedupEntries)
	if err := spec.Variables[bpf.VarDedupNs].Set(uint64(opts.DedupWindow.Nanoseconds())); err != nil {
		return nil, fmt.Errorf("set %s: %w", bpf.VarDedupNs, err)
	}
	// The active slot is installed by newProbe, never by the loader: when
	// state is adopted, the slot that is active must stay so.
	spec.Maps[bpf.MapFlowsSlot].Contents = nil
	return spec, nil
}

// loadCollection loads spec into the kernel, its maps pinned in (and,
// when compatible state is there, adopted from) opts.PinDir.
func loadCollection(spec *ebpf.CollectionSpec, opts *Options) (coll *ebpf.Collection, adopted bool, err error) {
	var collOpts ebpf.CollectionOptions
	if opts.PinDir != "" {
		if err := prepareFS(opts.PinDir); err != nil {
			return nil, false, err
		}
		if adopted, err = checkPinnedState(opts.PinDir, opts, opts.Replace); err != nil {
			return nil, false, err
		}
		for _, m := range spec.Maps {
			if m.Name != ".rodata" && !strings.HasPrefix(m.Name, ".") {
				m.Pinning = ebpf.PinByName
			}
		}
		collOpts.Maps.PinPath = opts.PinDir
	}
	coll, err = ebpf.NewCollectionWithOptions(spec, collOpts)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, false, fmt.Errorf("load xdp program: %+v", ve)
		}
		if errors.Is(err, unix.EPERM) {
			return nil, false, fmt.Errorf("load xdp program: %w (need CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)", err)
		}
		return nil, false, fmt.Errorf("load xdp program: %w", err)
	}
	return coll, adopted, nil
}

// newProbe wraps a loaded collection and installs the active slot.
func newProbe(coll *ebpf.Collection, pinDir string, adopted bool) (*Probe, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	p := &Probe{
		pinDir:   pinDir,
		adopted:  adopted,
		coll:     coll,
		prog:     coll.Programs[bpf.ProgFlow],
		egress:   coll.Programs[bpf.ProgEgress],
		slot:     coll.Maps[bpf.MapFlowsSlot],
		slots:    [2]*ebpf.Map{coll.Maps[bpf.MapFlowsA], coll.Maps[bpf.MapFlowsB]},
		overflow: [2]*ebpf.Map{coll.Maps[bpf.MapOverflowA], coll.Maps[bpf.MapOverflowB]},
		fill:     coll.Maps[bpf.MapFillLevel],
		stats:    coll.Maps[bpf.MapStats],
		ncpu:     ncpu,
		statBuf:  make([]bpf.StatValue, ncpu),
	}
	p.setBatch(drainBatch(ncpu))
	if err := p.installSlot(); err != nil {
		return nil, err
	}
	return p, nil
}

// installSlot finds which slot is active (adopted state) or makes
// flows_a active (fresh state), with its overflow map.
func (p *Probe) installSlot() error {
	var id uint32
	if err := p.slot.Lookup(bpf.SlotFlows, &id); err == nil && id != 0 {
		for i, m := range p.slots {
			info, err := m.Info()
			if err != nil {
				return fmt.Errorf("flow slot info: %w", err)
			}
			if mid, _ := info.ID(); uint32(mid) == id {
				p.active = i
				return p.installOverflow()
			}
		}
		return fmt.Errorf("pinned active flow slot (map id %d) is neither flows_a nor flows_b", id)
	}
	if err := p.slot.Update(bpf.SlotFlows, p.slots[0], ebpf.UpdateAny); err != nil {
		return fmt.Errorf("install flow slot: %w", err)
	}
	p.active = 0
	return p.installOverflow()
}

// installOverflow makes the active slot's overflow map the active one.
func (p *Probe) installOverflow() error {
	if err := p.slot.Update(bpf.SlotOverflow, p.overflow[p.active], ebpf.UpdateAny); err != nil {
		return fmt.Errorf("install overflow map: %w", err)
	}
	return nil
}

// Adopted reports whether Open took over pinned state from an earlier run.
func (p *Probe) Adopted() bool { return p.adopted }

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// drainBatch sizes the drain buffers to about 4 MiB of values.
func drainBatch(ncpu int) int {
	n := (4 << 20) / (ncpu * int(unsafe.Sizeof(bpf.FlowValue{})))
	return min(max(n, 256), 8192)
}

func (p *Probe) setBatch(n int) {
	p.keys = make([]bpf.FlowKey, n)
	p.values = make([]bpf.FlowValue, n*p.ncpu)
}

// Program returns the loaded XDP program (tests run it with prog.Run).
func (p *Probe) Program() *ebpf.Program { return p.prog }

// EgressProgram returns the loaded TC egress program.
func (p *Probe) EgressProgram() *ebpf.Program { return p.egress }

// Attachments lists the interfaces the program is attached to.
func (p *Probe) Attachments() []*Attachment { return slices.Clone(p.attached) }

// Attach attaches the program to the named interface. With promisc the
// interface is put in promiscuous mode until Close.
func (p *Probe) Attach(name string, mode Mode, promisc bool) (*Attachment, error) {
	// The handle keeps this namespace, so Close restores promiscuous mode
	// on the right interface whichever thread calls it.
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	a, err := p.attach(h, name, mode, promisc)
	if err != nil {
		h.Close()
		return nil, err
	}
	p.attached = append(p.attached, a)
	return a, nil
}

// upLink finds the named interface and checks it is up: both hooks
// attach only there.
func upLink(h *netlink.Handle, name string) (netlink.Link, error) {
	nl, err := h.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil, fmt.Errorf("interface %s does not exist", name)
		}
		return nil, fmt.Errorf("look up interface %s: %w", name, err)
	}
	if nl.Attrs().Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface %s is down (bring it up: ip link set %s up)", name, name)
	}
	return nl, nil
}

func (p *Probe) attach(h *netlink.Handle, name string, mode Mode, promisc bool) (*Attachment, error) {
	nl, err := upLink(h, name)
	if err != nil {
		return nil, err
	}
	attrs := nl.Attrs()
	a := &Attachment{Interface: name, Index: attrs.Index, nlHandle: h}
	if p.pinDir != "" {
		if l, err := link.LoadPinnedLink(a.pinPath(p.pinDir), nil); err == nil {
			// An earlier run left its program attached: swap ours in
			// atomically, so not a packet goes uncounted.
			if err := l.Update(p.prog); err == nil {
				a.link, a.Mode, a.Adopted = l, mode, true
				return a, nil
			}
			// The interface went away meanwhile: the link is defunct.
			l.Unpin()
			l.Close()
		}
	}
	switch mode {
	case ModeNative, ModeGeneric:
		a.Mode = mode
		a.link, err = p.attachXDP(attrs.Index, mode)
		if err != nil && mode == ModeNative && errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("native XDP not supported by the %s driver of %s: use --xdp-mode generic or auto (%w)",
				nl.Type(), name, err)
		}
	default:
		a.Mode = ModeNative
		a.link, err = p.attachXDP(attrs.Index, ModeNative)
		if err != nil && !occupied(err) {
			a.Mode, a.Fallback = ModeGeneric, err
			a.link, err = p.attachXDP(attrs.Index, ModeGeneric)
		}
	}
	if err != nil && occupied(err) {
		return nil, fmt.Errorf("attach xdp to %s: %s (%w)", name, xdpOccupant(attrs), err)
	}
	if err != nil {
		return nil, fmt.Errorf("attach xdp to %s (mode %s): %w", name, a.Mode, err)
	}
	if p.pinDir != "" {
		if err := a.link.Pin(a.pinPath(p.pinDir)); err != nil {
			a.link.Close()
			return nil, fmt.Errorf("pin xdp link of %s: %w", name, err)
		}
	}
	if promisc && attrs.Promisc == 0 {
		if err := h.SetPromiscOn(nl); err != nil {
			a.link.Close()
			return nil, fmt.Errorf("set %s promiscuous: %w", name, err)
		}
		a.restorePromisc = true
	}
	return a, nil
}

// occupied reports whether an XDP attach failed because the interface
// already runs another XDP program.
func occupied(err error) bool { return errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) }

// xdpOccupant names the XDP program already on an interface and what to
// do about it. spanflow does not join a libxdp multi-program dispatcher:
// its verdict (pass, or drop on a mirror port) must be final for every
// packet it counts, which a chain run by another program's dispatcher
// cannot promise.
func xdpOccupant(attrs *netlink.LinkAttrs) string {
	what := "another XDP program"
	if x := attrs.Xdp; x != nil && x.ProgId != 0 {
		what = fmt.Sprintf("XDP program id %d", x.ProgId)
		if prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
			if info, err := prog.Info(); err == nil && info.Name != "" {
				what += fmt.Sprintf(" (%q)", info.Name)
			}
			prog.Close()
		}
	}
	return fmt.Sprintf("the interface already runs %s: spanflow shares no interface with another XDP program; "+
		"see it with `bpftool net show dev %s` and detach it with `ip link set dev %s xdp off` (or its owner's tool) before starting spanflow",
		what, attrs.Name, attrs.Name)
}

func (p *Probe) attachXDP(index int, mode Mode) (link.Link, error) {
	flags := link.XDPDriverMode
	if mode == ModeGeneric {
		flags = link.XDPGenericMode
	}
	return link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: index, Flags: flags})
}

// Stats are the datapath's cumulative counters since load, by reason.
type Stats [bpf.StatMax]bpf.StatValue

// Total is the number of packets that reached the program: the sum of
// every outcome.
func (s *Stats) Total() (packets uint64) {
	for r := bpf.StatReason(0); r < bpf.StatOutcomes; r++ {
		packets += s[r].Packets
	}
	return packets
}

// Harvest makes the other slot active, drains the one that was active
// and appends one Delta per flow it held to dst. The flip returns only when
// no program still writes the old slot, so nothing is read while written.
// It also returns the cumulative stats.
func (p *Probe) Harvest(dst []cache.Delta) ([]cache.Delta, Stats, error) {
	var err error
	if p.adopted {
		// An earlier run may have died mid-drain: the idle slot can hold
		// counts too. Nobody writes it, so drain it before it goes live.
		if dst, err = p.drainSlot(1-p.active, dst); err != nil {
			return dst, Stats{}, err
		}
		p.adopted = false
	}
	old, err := p.Flip()
	if err != nil {
		return dst, Stats{}, err
	}
	if dst, err = p.drainSlot(old, dst); err != nil {
		return dst, Stats{}, err
	}
	stats, err := p.Stats()
	return dst, stats, err
}

// drainSlot drains idle slot i and its overflow map into dst.
func (p *Probe) drainSlot(i int, dst []cache.Delta) ([]cache.Delta, error) {
	dst, err := p.drain(p.slots[i], dst)
	if err != nil {
		return dst, err
	}
	return p.drain(p.overflow[i], dst)
}

// drain moves every entry of m into dst, summing the per-CPU values.
func (p *Probe) drain(m *ebpf.Map, dst []cache.Delta) ([]cache.Delta, error) {
	if m.MaxEntries() >= parallelMinEntries && runtime.NumCPU() > 1 {
		return p.splitRead(m.FD(), m.MaxEntries(), cmdLookupAndDeleteBatch, dst)
	}
	return p.batchRead(m, m.BatchLookupAndDelete, dst, nil)
}

// batchRead appends one Delta per entry that op (a batch lookup, with or
// without delete) returns from m, and each key to keys when not nil.
func (p *Probe) batchRead(m *ebpf.Map, op func(*ebpf.MapBatchCursor, any, any, *ebpf.BatchOptions) (int, error),
	dst []cache.Delta, keys *[]bpf.FlowKey) ([]cache.Delta, error) {
	var cursor ebpf.MapBatchCursor
	for {
		n, err := op(&cursor, p.keys, p.values, nil)
		for i := range n {
			dst = append(dst, sumCPUs(&p.keys[i], p.values[i*p.ncpu:(i+1)*p.ncpu]))
		}
		if keys != nil {
			*keys = append(*keys, p.keys[:n]...)
		}
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return dst, nil
		case errors.Is(err, unix.ENOSPC):
			// A hash bucket holds more entries than the batch: grow and
			// retry from the same cursor (the kernel returned nothing).
			p.setBatch(len(p.keys) * 2)
		case err != nil:
			return dst, fmt.Errorf("read flow slot: %w", err)
		}
	}
}

func sumCPUs(key *bpf.FlowKey, values []bpf.FlowValue) cache.Delta {
	d := cache.Delta{Key: *key}
	for i := range values {
		v := &values[i]
		if v.Packets == 0 {
			continue // this CPU never saw the flow
		}
		if d.Packets == 0 || v.FirstNs < d.FirstNs {
			d.FirstNs = v.FirstNs
		}
		d.LastNs = max(d.LastNs, v.LastNs)
		d.Packets += v.Packets
		d.Bytes += v.Bytes
		d.TCPFlags |= v.TcpFlags
		if v.Out != uint8(bpf.RouteUnknown) {
			d.Out, d.OutIfIndex = cache.Out(v.Out), v.OutIfindex
		}
	}
	return d
}

// Stats reads the datapath's cumulative counters, summed over CPUs.
func (p *Probe) Stats() (Stats, error) {
	var s Stats
	for r := bpf.StatReason(0); r < bpf.StatMax; r++ {
		if err := p.stats.Lookup(r, p.statBuf); err != nil {
			return s, fmt.Errorf("read stats: %w", err)
		}
		for _, v := range p.statBuf {
			s[r].Packets += v.Packets
			s[r].Bytes += v.Bytes
		}
	}
	return s, nil
}

// Close releases the program. Without pinning it detaches from every
// interface and restores promiscuous mode; with pinning the program stays
// attached and keeps counting into the pinned slots for the next run
// (Detach removes it). It is idempotent.
func (p *Probe) Close() error {
	return p.close(p.pinDir == "")
}

// Detach removes the pinned links and maps, then closes: the program
// leaves every interface and the counts not yet harvested are gone.
func (p *Probe) Detach() error {
	var errs []error
	if p.pinDir != "" {
		errs = append(errs, removePins(p.pinDir), os.Remove(p.pinDir))
	}
	return errors.Join(append(errs, p.close(true))...)
}

func (p *Probe) close(detach bool) error {
	var errs []error
	for i := len(p.attached) - 1; i >= 0; i-- {
		a := p.attached[i]
		errs = append(errs, a.release(detach))
		if a.restorePromisc && detach {
			if nl, err := a.nlHandle.LinkByIndex(a.Index); err == nil {
				errs = append(errs, a.nlHandle.SetPromiscOff(nl))
			}
		}
		a.nlHandle.Close()
	}
	p.attached = nil
	for _, c := range p.closers {
		errs = append(errs, c())
	}
	p.closers = nil
	if p.coll != nil {
		p.coll.Close()
		p.coll = nil
	}
	return errors.Join(errs...)
}

// Forget drops every attachment of an interface that went away (its pins
// too), so that it can be attached anew.
func (p *Probe) Forget(name string) {
	p.attached = slices.DeleteFunc(p.attached, func(a *Attachment) bool {
		if a.Interface != name {
			return false
		}
		if p.pinDir != "" {
			os.Remove(a.pinPath(p.pinDir))
		}
		a.release(false)
		a.nlHandle.Close()
		return true
	})
}

// clearAppState deletes every entry of app_state.
func clearAppState(m *ebpf.Map) error {
	var keys []bpf.FlowKey
	var k bpf.FlowKey
	var v bpf.AppState
	it := m.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		return err
	}
	for i := range keys {
		if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}
