package agent

import (
	"context"
	"net"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// watchLinks subscribes to link updates of this network namespace; only
// the -i interfaces matter.
func (d *Agent) watchLinks(ctx context.Context) (<-chan netlink.LinkUpdate, error) {
	ch := make(chan netlink.LinkUpdate, 64)
	err := netlink.LinkSubscribeWithOptions(ch, ctx.Done(), netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			if ctx.Err() == nil { // closing the watch at shutdown is no news
				d.log.Warn("interface watch", "err", err)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// linkEvent logs and counts what happened to one of our interfaces and
// attaches again when it returns under a new ifindex.
func (d *Agent) linkEvent(ev netlink.LinkUpdate) {
	attrs := ev.Link.Attrs()
	if attrs == nil || !slices.Contains(d.cfg.Interfaces, attrs.Name) {
		return
	}
	name, up := attrs.Name, attrs.Flags&net.FlagUp != 0
	d.mu.Lock()
	st := d.ifaces[name]
	d.mu.Unlock()
	if st == nil {
		return
	}
	switch {
	case ev.Header.Type == unix.RTM_DELLINK:
		if !st.Attached {
			return // already counted: a deletion can be announced twice
		}
		d.countIface(st, "deleted", func() { st.Attached = false })
		d.log.Warn("interface deleted: will attach again when it returns", "interface", name)
	case !st.Attached || st.Index != attrs.Index:
		if !up {
			return // attach once it is up
		}
		d.probe.Forget(name)
		if _, err := d.attach(name); err != nil {
			d.probe.Forget(name) // half attached (one direction): none
			d.countIface(st, "reattach-failed", func() { st.LastErr = err.Error() })
			d.log.Error("re-attach failed", "interface", name, "err", err)
			return
		}
		d.countIface(st, "reattached", nil)
	case !up && !st.Down:
		d.countIface(st, "down", func() { st.Down = true })
		d.log.Warn("interface down: no packets until it is up again", "interface", name)
	case up && st.Down:
		d.countIface(st, "up", func() { st.Down = false })
		d.log.Info("interface up again", "interface", name)
	}
}

func (d *Agent) countIface(st *ifaceState, event string, change func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st.Events[event]++
	if change != nil {
		change()
	}
}
