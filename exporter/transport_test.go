package exporter

import (
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// closedUDPPort returns a loopback address nobody listens on: datagrams
// sent there are answered with ICMP port unreachable.
func closedUDPPort(t *testing.T) *net.UDPAddr {
	t.Helper()
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.LocalAddr().(*net.UDPAddr)
	ln.Close()
	return addr
}

// awaitPendingError waits until the kernel has stored an error on the
// socket (the ICMP answer to a datagram), without consuming it: poll
// reports POLLERR for a pending socket error.
func awaitPendingError(t *testing.T, conn *net.UDPConn) {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var revents int16
	var perr error
	err = raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd)}}
		_, perr = unix.Poll(fds, 5000)
		revents = fds[0].Revents
	})
	if err != nil || perr != nil {
		t.Fatal(err, perr)
	}
	if revents&unix.POLLERR == 0 {
		t.Fatal("no ICMP port unreachable came back within 5 s")
	}
}

// TestUDPSendDeliversTheDatagramAfterAnEarlierRefusal: the collector was
// down when the first datagram went (its port unreachable is pending on
// the socket) and is back for the second. The write of the second
// reports the first's refusal and sends nothing; Send must write it again
// so that it arrives, and count the retry.
func TestUDPSendDeliversTheDatagramAfterAnEarlierRefusal(t *testing.T) {
	addr := closedUDPPort(t)
	tr, err := DialUDP(addr.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send([]byte("first")); err != nil {
		t.Fatal(err)
	}
	awaitPendingError(t, tr.conn)

	ln, err := net.ListenUDP("udp", addr) // the collector is back
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := tr.Send([]byte("second")); err != nil {
		t.Fatalf("the datagram in hand was not sent: %v", err)
	}
	buf := make([]byte, 64)
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := ln.Read(buf)
	if err != nil || string(buf[:n]) != "second" {
		t.Fatalf("collector read %q, %v; want the second datagram", buf[:n], err)
	}
	if tr.Resent() != 1 {
		t.Errorf("Resent = %d, want 1", tr.Resent())
	}
}

// TestTCPTransportBacksOffWhileCollectorDown: each failed dial doubles
// the wait before the next, up to the bound; before the wait is over no
// dial is made; a successful dial resets the wait and says fresh.
func TestTCPTransportBacksOffWhileCollectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr, err := NewTCPTransport(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	unit := 20 * time.Millisecond
	tr.minBackoff, tr.maxBackoff, tr.backoff = unit, 4*unit, unit
	for _, wantWait := range []time.Duration{unit, 2 * unit, 4 * unit, 4 * unit} {
		before := time.Now()
		if _, err := tr.EnsureConnected(); !errors.Is(err, ErrRefused) {
			t.Fatalf("dial to a closed port: %v, want %v", err, ErrRefused)
		}
		if wait := tr.NextDial().Sub(before); wait < wantWait || wait > wantWait+time.Second {
			t.Fatalf("next dial in %v, want %v", wait, wantWait)
		}
		if _, err := tr.EnsureConnected(); !errors.Is(err, ErrNotSent) && time.Now().Before(tr.NextDial()) {
			t.Fatalf("before the wait was over: %v, want %v and no dial", err, ErrNotSent)
		}
		time.Sleep(time.Until(tr.NextDial())) // the wait under test, a few tens of ms
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fresh, err := tr.EnsureConnected()
	if err != nil || !fresh {
		t.Fatalf("collector back: fresh %v, %v", fresh, err)
	}
	if tr.backoff != unit {
		t.Errorf("backoff %v after a connection, want %v", tr.backoff, unit)
	}
}
