package probe

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Direction says which way an interface's packets are counted
// (--direction): as they enter it (XDP), as they leave it (TC egress, as
// IOS's `ip flow egress`), or both.
type Direction uint8

const (
	Ingress Direction = 1 << iota
	Egress
	Both = Ingress | Egress
)

func (d Direction) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	case Both:
		return "both"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// ParseDirection reads a --direction value.
func ParseDirection(s string) (Direction, error) {
	for _, d := range []Direction{Ingress, Egress, Both} {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("direction %q: must be ingress, egress or both", s)
}

// Hook is how tc_egress is attached to an interface.
type Hook uint8

const (
	HookTCX    Hook = iota + 1 // a TCX link (kernel 6.6 and later)
	HookClsact                 // a direct-action filter on a clsact qdisc (older kernels)
)

func (h Hook) String() string {
	switch h {
	case HookTCX:
		return "tcx"
	case HookClsact:
		return "clsact"
	}
	return ""
}

// clsactPriority and clsactHandle name spanflow's egress filter, so that a
// later run replaces it rather than adding a second.
const (
	clsactPriority = 0x5346 // "SF"
	clsactHandle   = 1
	clsactName     = "spanflow"
)

// AttachEgress attaches tc_egress to the named interface's egress, with a
// TCX link where the kernel has them and a clsact filter where not.
func (p *Probe) AttachEgress(name string) (*Attachment, error) {
	return p.attachEgress(name, false)
}

func (p *Probe) attachEgress(name string, forceClsact bool) (*Attachment, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	a, err := p.egressLink(h, name, forceClsact)
	if err != nil {
		h.Close()
		return nil, err
	}
	p.attached = append(p.attached, a)
	return a, nil
}

func (p *Probe) egressLink(h *netlink.Handle, name string, forceClsact bool) (*Attachment, error) {
	nl, err := upLink(h, name)
	if err != nil {
		return nil, err
	}
	attrs := nl.Attrs()
	a := &Attachment{Interface: name, Index: attrs.Index, Egress: true, Hook: HookTCX, nlHandle: h}
	if p.pinDir != "" && !forceClsact {
		if l, err := link.LoadPinnedLink(a.pinPath(p.pinDir), nil); err == nil {
			if err := l.Update(p.egress); err == nil {
				a.link, a.Adopted = l, true
				return a, nil
			}
			l.Unpin()
			l.Close()
		}
	}
	if !forceClsact {
		a.link, err = link.AttachTCX(link.TCXOptions{Interface: attrs.Index, Program: p.egress, Attach: ebpf.AttachTCXEgress})
		if err == nil {
			if p.pinDir != "" {
				if err := a.link.Pin(a.pinPath(p.pinDir)); err != nil {
					a.link.Close()
					return nil, fmt.Errorf("pin egress link of %s: %w", name, err)
				}
			}
			return a, nil
		}
		a.Fallback = err
	}
	// No TCX: a clsact filter, which outlives this process as a pinned
	// link would; the next run replaces it, Detach deletes it.
	a.Hook, a.link = HookClsact, nil
	if err := h.QdiscReplace(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: attrs.Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}); err != nil {
		return nil, fmt.Errorf("attach tc egress to %s: add clsact qdisc: %w (TCX: %v)", name, err, a.Fallback)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: attrs.Index, Parent: netlink.HANDLE_MIN_EGRESS,
			Handle: clsactHandle, Priority: clsactPriority, Protocol: unix.ETH_P_ALL},
		Fd: p.egress.FD(), Name: clsactName, DirectAction: true,
	}
	if err := h.FilterReplace(f); err != nil {
		return nil, fmt.Errorf("attach tc egress to %s: %w (TCX: %v)", name, err, a.Fallback)
	}
	a.filter = f
	return a, nil
}

// release detaches a: a link is closed (a pinned one stays in the kernel
// until its pin goes); a clsact filter is deleted only on detach, since
// like a pinned link it keeps counting for the next run.
func (a *Attachment) release(detach bool) error {
	if a.link != nil {
		return a.link.Close()
	}
	if a.filter != nil && detach {
		err := a.nlHandle.FilterDel(a.filter)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return nil // the interface, and its filter, went away
		}
		return err
	}
	return nil
}

// pinPath is where a's link is pinned under dir.
func (a *Attachment) pinPath(dir string) string {
	if a.Egress {
		return filepath.Join(dir, "egress_"+a.Interface)
	}
	return linkPinPath(dir, a.Interface)
}
