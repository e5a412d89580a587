package probetest

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// SendFrames writes raw Ethernet frames out of iface inside ns through an
// AF_PACKET socket; the veth peer receives them (and its XDP program sees
// them). Frames must use only the test networks.
func (n *NetNS) SendFrames(iface string, frames [][]byte) error {
	return n.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("send on %s: %w", iface, err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		addr := &unix.SockaddrLinklayer{Ifindex: ifi.Index}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, addr); err != nil {
				return fmt.Errorf("send %d-byte frame on %s: %w", len(f), iface, err)
			}
		}
		return nil
	})
}
