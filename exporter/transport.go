package exporter

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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
	resent atomic.Uint64
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

// maxRefusedRetries bounds how often Send writes a datagram again after
// refusals of earlier ones: each retry consumes one, and a new one can only
// come from an ICMP message arriving between two back-to-back writes.
const maxRefusedRetries = 3

// Send writes one datagram. On a connected socket, ECONNREFUSED is the ICMP
// port unreachable that answered an earlier datagram: Linux keeps it as the
// socket's pending error and returns it from the next write, which it then
// does not send. So the datagram in hand is written again (counted by
// Resent); a datagram still refused after maxRefusedRetries is ErrRefused.
func (t *UDPTransport) Send(b []byte) error {
	t.conn.SetWriteDeadline(time.Now().Add(SendTimeout))
	_, err := t.conn.Write(b)
	for i := 0; i < maxRefusedRetries && errors.Is(err, syscall.ECONNREFUSED); i++ {
		t.resent.Add(1)
		_, err = t.conn.Write(b)
	}
	return classify(err)
}

// Resent counts the writes Send repeated because the socket reported an
// earlier datagram refused.
func (t *UDPTransport) Resent() uint64 { return t.resent.Load() }

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

// TCPTransport carries IPFIX messages over TCP (RFC 7011 §10.4). It can
// be without a connection — the collector is down at startup, or a write
// failed and dropped it: EnsureConnected dials again once NextDial has
// come, backing off from minTCPBackoff to maxTCPBackoff while dials fail,
// and says when the connection is fresh so the encoder sends its templates
// first.
type TCPTransport struct {
	collector string
	local     *net.TCPAddr // nil: the kernel's choice

	minBackoff, maxBackoff time.Duration

	mu       sync.Mutex
	conn     net.Conn
	backoff  time.Duration // the wait after the next failed dial
	nextDial time.Time
}

// Backoff between TCP dials while the collector is unreachable: doubled
// after each failed dial, back to the minimum once one succeeds.
const (
	minTCPBackoff = time.Second
	maxTCPBackoff = 30 * time.Second
)

// NewTCPTransport returns a transport to collector (HOST:PORT) from the
// optional source IP, not yet connected: the first EnsureConnected dials.
func NewTCPTransport(collector, source string) (*TCPTransport, error) {
	t := &TCPTransport{collector: collector, minBackoff: minTCPBackoff, maxBackoff: maxTCPBackoff,
		backoff: minTCPBackoff}
	if source != "" {
		ip := net.ParseIP(source)
		if ip == nil {
			return nil, fmt.Errorf("source address %s: not an IP address", source)
		}
		t.local = &net.TCPAddr{IP: ip}
	}
	return t, nil
}

// EnsureConnected dials when there is no connection and NextDial has
// come; before that it returns ErrNotSent. fresh is true when a new
// connection was made.
func (t *TCPTransport) EnsureConnected() (fresh bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		return false, nil
	}
	if time.Now().Before(t.nextDial) {
		return false, ErrNotSent
	}
	d := net.Dialer{Timeout: time.Second, LocalAddr: t.local}
	conn, err := d.Dial("tcp", t.collector)
	if err != nil {
		t.nextDial = time.Now().Add(t.backoff)
		t.backoff = min(2*t.backoff, t.maxBackoff)
		return false, classify(fmt.Errorf("collector %s: %w", t.collector, err))
	}
	t.conn, t.backoff = conn, t.minBackoff
	return true, nil
}

// NextDial is when EnsureConnected will dial next; in the past while
// connected or when a dial is due.
func (t *TCPTransport) NextDial() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nextDial
}

// Send writes one message; on failure the connection is dropped, to be
// dialled again at once.
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
		t.nextDial = time.Time{}
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
