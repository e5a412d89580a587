package exporter

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Transport carries datagrams (or IPFIX messages) to one collector.
type Transport interface {
	// Send delivers one datagram; it never blocks longer than its timeout.
	Send(b []byte) error
	// HeaderLen is the IP+UDP header size of the path (28 over IPv4, 48
	// over IPv6), which the MTU limit must leave room for.
	HeaderLen() int
	Close() error
}

// SendTimeout bounds every write, so a slow collector never stalls export.
const SendTimeout = 200 * time.Millisecond

// UDPTransport sends datagrams to one collector over UDP.
type UDPTransport struct {
	conn   *net.UDPConn
	header int
}

// DialUDP resolves collector (HOST:PORT) and binds the optional source
// address (IP or IP:PORT). No packet is sent.
func DialUDP(collector, source string) (*UDPTransport, error) {
	raddr, err := net.ResolveUDPAddr("udp", collector)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", collector, err)
	}
	var laddr *net.UDPAddr
	if source != "" {
		if laddr, err = resolveSource("udp", source); err != nil {
			return nil, err
		}
	}
	conn, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", collector, err)
	}
	header := 28
	if raddr.IP.To4() == nil {
		header = 48
	}
	return &UDPTransport{conn: conn, header: header}, nil
}

func resolveSource(network, source string) (*net.UDPAddr, error) {
	if ip := net.ParseIP(source); ip != nil {
		return &net.UDPAddr{IP: ip}, nil
	}
	a, err := net.ResolveUDPAddr(network, source)
	if err != nil {
		return nil, fmt.Errorf("source address %s: %w", source, err)
	}
	return a, nil
}

// Send writes one datagram. A collector that answered an earlier datagram
// with ICMP port unreachable shows up here as ErrRefused.
func (t *UDPTransport) Send(b []byte) error {
	t.conn.SetWriteDeadline(time.Now().Add(SendTimeout))
	_, err := t.conn.Write(b)
	return classify(err)
}

func (t *UDPTransport) HeaderLen() int { return t.header }
func (t *UDPTransport) Close() error   { return t.conn.Close() }

// Send failure reasons, as counted per collector.
var (
	ErrRefused     = errors.New("refused (port unreachable)")
	ErrUnreachable = errors.New("network unreachable")
	ErrTimeout     = errors.New("send timed out")
	ErrNotSent     = errors.New("not connected")
)

func classify(err error) error {
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %v", ErrRefused, err)
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return err
}

// TCPTransport carries IPFIX messages over TCP (RFC 7011 §10.4). After a
// failed write it drops the connection; EnsureConnected dials again, at
// most once per backoff interval, and says when the connection is fresh
// so the encoder sends its templates first.
type TCPTransport struct {
	collector, source string
	backoff           time.Duration

	mu       sync.Mutex
	conn     net.Conn
	lastDial time.Time
}

// DialTCP connects to collector, or returns an error saying why not.
func DialTCP(collector, source string) (*TCPTransport, error) {
	t := &TCPTransport{collector: collector, source: source, backoff: 2 * time.Second}
	if err := t.dial(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *TCPTransport) dial() error {
	t.lastDial = time.Now()
	d := net.Dialer{Timeout: time.Second}
	if t.source != "" {
		ip := net.ParseIP(t.source)
		if ip == nil {
			return fmt.Errorf("source address %s: not an IP address", t.source)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.Dial("tcp", t.collector)
	if err != nil {
		return classify(fmt.Errorf("collector %s: %w", t.collector, err))
	}
	t.conn = conn
	return nil
}

// EnsureConnected redials a dropped connection once the backoff has
// passed. fresh is true when a new connection was made.
func (t *TCPTransport) EnsureConnected() (fresh bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		return false, nil
	}
	if time.Since(t.lastDial) < t.backoff {
		return false, ErrNotSent
	}
	if err := t.dial(); err != nil {
		return false, err
	}
	return true, nil
}

// Send writes one message; on failure the connection is dropped.
func (t *TCPTransport) Send(b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return ErrNotSent
	}
	t.conn.SetWriteDeadline(time.Now().Add(SendTimeout))
	if _, err := t.conn.Write(b); err != nil {
		t.conn.Close()
		t.conn = nil
		return classify(err)
	}
	return nil
}

func (t *TCPTransport) HeaderLen() int { return 0 } // a stream: no datagram limit

func (t *TCPTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}
