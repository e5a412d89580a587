package probetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NetNS is a network namespace a test created; it is removed at cleanup.
type NetNS struct {
	handle netns.NsHandle
}

// NewNetNS creates an anonymous network namespace with loopback up.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	RequireRoot(t)
	var ns NetNS
	err := onLockedThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		h, err := netns.New() // also switches this thread into it
		if err != nil {
			return fmt.Errorf("create netns: %w", err)
		}
		ns.handle = h
		if lo, err := netlink.LinkByName("lo"); err == nil {
			netlink.LinkSetUp(lo)
		}
		return netns.Set(orig)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.handle.Close() })
	return &ns
}

// Fd returns the namespace file descriptor (for netlink.NsFd).
func (n *NetNS) Fd() int { return int(n.handle) }

// Do runs f on a thread switched into the namespace. Netlink calls, XDP
// attach and sockets opened inside f belong to the namespace.
func (n *NetNS) Do(f func() error) error {
	return onLockedThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(n.handle); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		defer netns.Set(orig)
		return f()
	})
}

// Start starts cmd inside the namespace (a child inherits the namespace
// of the thread that forks it); Wait for it as usual, from any goroutine.
// cmd must not set SysProcAttr.Pdeathsig: the forking thread exits right
// after, and the signal would kill the child with it.
func (n *NetNS) Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Pdeathsig != 0 {
		return errors.New("start in netns: Pdeathsig would fire when the forking thread exits")
	}
	return n.Do(cmd.Start)
}

// Run runs cmd inside the namespace and waits for it.
func (n *NetNS) Run(cmd *exec.Cmd) error {
	if err := n.Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// Sysctl sets a network sysctl inside the namespace, named as sysctl(8)
// names it: Sysctl("net.ipv6.conf.default.disable_ipv6", "1").
func (n *NetNS) Sysctl(name, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	err := n.Do(func() error { return os.WriteFile(path, []byte(value), 0) })
	if err != nil {
		return fmt.Errorf("sysctl %s=%s in netns: %w", name, value, err)
	}
	return nil
}

// LinkStatistics reads the counters of an interface inside the namespace.
func (n *NetNS) LinkStatistics(name string) (*netlink.LinkStatistics, error) {
	var stats *netlink.LinkStatistics
	err := n.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		stats = l.Attrs().Statistics
		if stats == nil {
			return fmt.Errorf("%s has no statistics", name)
		}
		return nil
	})
	return stats, err
}

// LinkIndex returns the ifindex of an interface inside the namespace.
func (n *NetNS) LinkIndex(name string) (int, error) {
	var index int
	err := n.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		index = l.Attrs().Index
		return nil
	})
	return index, err
}

// onLockedThread runs f on a fresh OS thread that is thrown away after,
// so a namespace switch can never leak into other goroutines.
func onLockedThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- f()
	}()
	return <-errc
}

// VethPair creates veth a in ns1 and its peer b in ns2, both up.
func VethPair(t testing.TB, ns1 *NetNS, a string, ns2 *NetNS, b string) {
	t.Helper()
	err := ns1.Do(func() error {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: a, TxQLen: 1000},
			PeerName:      b,
			PeerNamespace: netlink.NsFd(ns2.Fd()),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", a, b, err)
		}
		l, err := netlink.LinkByName(a)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err == nil {
		err = ns2.Do(func() error {
			l, err := netlink.LinkByName(b)
			if err != nil {
				return err
			}
			return netlink.LinkSetUp(l)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}
