package agent

// The NIC cross-check of `show interfaces` and /metrics: what the driver
// says it received on each -i interface since spanflow attached, beside
// the packets the XDP program accounted into flows from it, so that loss
// before XDP (ring overruns, missed, FIFO errors) shows — the NetFlow
// lecture's cross-check of flow data against SNMP's interface counters.
//
// Both sides are taken at each harvest: the NIC's counters just before
// the slot flip, XDP's from the flows that flip drained (every flow key
// carries its ingress ifindex). Once traffic pauses they agree exactly;
// under traffic they differ by the packets in flight between the two
// reads. The NIC's counters count since the link was created, so each is
// shown as its growth since attach.

import (
	"fmt"
	"io"

	"github.com/vishvananda/netlink"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
)

// nicCounters are a link's receive counters (rtnl stats64, what
// `ip -s link` prints).
type nicCounters struct {
	Packets, Dropped, Missed, Errors, FIFOErrors, OverErrors uint64
}

func nicCountersOf(s *netlink.LinkStatistics) nicCounters {
	return nicCounters{Packets: s.RxPackets, Dropped: s.RxDropped, Missed: s.RxMissedErrors,
		Errors: s.RxErrors, FIFOErrors: s.RxFifoErrors, OverErrors: s.RxOverErrors}
}

// since is c's growth from base. A counter below its base was reset (a
// driver reload): it counts from zero again.
func (c nicCounters) since(base nicCounters) nicCounters {
	d := func(now, then uint64) uint64 {
		if now < then {
			return now
		}
		return now - then
	}
	return nicCounters{Packets: d(c.Packets, base.Packets), Dropped: d(c.Dropped, base.Dropped), Missed: d(c.Missed, base.Missed),
		Errors: d(c.Errors, base.Errors), FIFOErrors: d(c.FIFOErrors, base.FIFOErrors), OverErrors: d(c.OverErrors, base.OverErrors)}
}

// nicReader reads the counters of the link with the given ifindex.
type nicReader func(index int) (nicCounters, error)

// openNICReader reads through a netlink socket of the namespace the
// agent runs in, the one its -i interfaces are in. It is used by the
// harvest loop only (a Handle is not for concurrent use).
func openNICReader() (nicReader, func(), error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, nil, fmt.Errorf("netlink: %w", err)
	}
	read := func(index int) (nicCounters, error) {
		l, err := h.LinkByIndex(index)
		if err != nil {
			return nicCounters{}, fmt.Errorf("read counters of ifindex %d: %w", index, err)
		}
		s := l.Attrs().Statistics
		if s == nil {
			return nicCounters{}, fmt.Errorf("ifindex %d reports no counters", index)
		}
		return nicCountersOf(s), nil
	}
	return read, h.Close, nil
}

// nicCheck is the cross-check of one interface as `show interfaces`
// prints it, all since attach.
type nicCheck struct {
	// RxPackets … RxOverErrors are the NIC's receive counters.
	RxPackets, RxDropped, RxMissed, RxErrors, RxFIFOErrors, RxOverErrors uint64
	// Accounted is what XDP counted into flows from this interface; null
	// when --key leaves the ifindex out of the flow key.
	Accounted *uint64
	// NotAccounted is RxPackets − Accounted: received by the NIC and in
	// no flow (lost before XDP, or seen but not accounted: not IP,
	// truncated … as `show stats` counts for all interfaces together).
	// Null without Accounted, and when sampling (XDP then accounts 1 in N).
	NotAccounted *int64
	Error        string `json:",omitempty"` // why the NIC could not be read
}

// ifindexKeyed says the flow key keeps the ingress ifindex, which the
// per-interface tally needs.
func (d *Agent) ifindexKeyed() bool {
	f := d.cfg.Probe.KeyFields
	return f == 0 || f&bpf.KeyIfindex != 0 // 0: every field
}

// readNICs reads the counters of every attached interface, by ifindex.
// Errors are kept beside, to be shown.
func (d *Agent) readNICs() map[int]nicRead {
	if d.nic == nil {
		return nil
	}
	d.mu.Lock()
	var indexes []int
	for _, st := range d.ifaces {
		if st.Attached {
			indexes = append(indexes, st.Index)
		}
	}
	d.mu.Unlock()
	out := make(map[int]nicRead, len(indexes))
	for _, i := range indexes {
		c, err := d.nic(i)
		out[i] = nicRead{c, err}
	}
	return out
}

type nicRead struct {
	c   nicCounters
	err error
}

// noteHarvested adds a harvest's packets to the per-ifindex tally and
// keeps the NIC counters read before it. d.mu is held.
func (d *Agent) noteHarvested(deltas []cache.Delta, nics map[int]nicRead) {
	if d.accounted == nil {
		d.accounted = map[uint32]uint64{}
	}
	for i := range deltas {
		d.accounted[deltas[i].Key.Ifindex] += deltas[i].Packets
	}
	for _, st := range d.ifaces {
		if r, ok := nics[st.Index]; ok && st.Attached {
			st.nicLast, st.nicErr = r.c, errText(r.err)
		}
	}
}

// noteNICBase starts an interface's cross-check at attach. d.mu is held.
func (d *Agent) noteNICBase(st *ifaceState) {
	st.acctBase = d.accounted[uint32(st.Index)]
	st.nicBase, st.nicLast, st.nicErr = nicCounters{}, nicCounters{}, ""
	if d.nic == nil {
		return
	}
	c, err := d.nic(st.Index)
	st.nicBase, st.nicLast, st.nicErr = c, c, errText(err)
}

// nicCheckOf is st's cross-check as of the last harvest. d.mu is held.
func (d *Agent) nicCheckOf(st *ifaceState) *nicCheck {
	n := st.nicLast.since(st.nicBase)
	c := &nicCheck{RxPackets: n.Packets, RxDropped: n.Dropped, RxMissed: n.Missed, RxErrors: n.Errors,
		RxFIFOErrors: n.FIFOErrors, RxOverErrors: n.OverErrors, Error: st.nicErr}
	if !d.ifindexKeyed() {
		return c
	}
	acc := d.accounted[uint32(st.Index)] - st.acctBase
	c.Accounted = &acc
	if d.cfg.Probe.SampleRate <= 1 && st.nicErr == "" {
		diff := int64(n.Packets) - int64(acc)
		c.NotAccounted = &diff
	}
	return c
}

// writeNICCheck prints the cross-check lines of `show interfaces`.
func writeNICCheck(w io.Writer, c *nicCheck, sampleRate uint32) {
	if c.Error != "" {
		fmt.Fprintf(w, "  NIC counters: %s\n", c.Error)
	} else {
		fmt.Fprintf(w, "  NIC since attach: %d packets received, %d dropped, %d missed, %d errors (%d FIFO, %d overrun)\n",
			c.RxPackets, c.RxDropped, c.RxMissed, c.RxErrors, c.RxFIFOErrors, c.RxOverErrors)
	}
	switch {
	case c.Accounted == nil:
		fmt.Fprintln(w, "  XDP accounted since attach: n/a (--key leaves the ifindex out of the flow key)")
	case c.NotAccounted == nil && sampleRate > 1:
		fmt.Fprintf(w, "  XDP accounted since attach: %d packets into flows (sampling 1 in %d: not comparable)\n", *c.Accounted, sampleRate)
	case c.NotAccounted == nil:
		fmt.Fprintf(w, "  XDP accounted since attach: %d packets into flows\n", *c.Accounted)
	default:
		fmt.Fprintf(w, "  XDP accounted since attach: %d packets into flows; %d received by the NIC but not accounted\n",
			*c.Accounted, *c.NotAccounted)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
