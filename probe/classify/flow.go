package classify

import "github.com/spanflow/spanflow/cache/app"

// HeadSize is the most L4 payload bytes the classifier looks at per packet:
// the XDP program copies at most this many bytes of each sampled packet
// into the ring buffer. 512 bytes hold every signature the recognizers
// use, including a DHCP magic cookie (offset 236), a QUIC Initial's
// CRYPTO frame start (after ~50 bytes of header) and most TLS ClientHellos
// up to the SNI; longer heads cost ring-buffer space and copies for no
// verdict the agreement test could measure.
const HeadSize = 512

// Budgets: payload-carrying packets per direction after which a flow stops
// being sampled and gives up. Chosen by measuring recall against nDPI on
// the real captures as a function of the budget (see doc.go).
const (
	BudgetTCP = 4
	BudgetUDP = 4
)

// IP protocol numbers the classifier needs.
const (
	ProtoICMP   = 1
	ProtoIGMP   = 2
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoGRE    = 47
	ProtoESP    = 50
	ProtoAH     = 51
	ProtoICMPv6 = 58
	ProtoOSPF   = 89
	ProtoVRRP   = 112
	ProtoSCTP   = 132
)

// Direction says which end of the conversation sent a packet.
type Direction uint8

const (
	// FromInitiator is the direction of the conversation's first packet.
	FromInitiator Direction = 0
	// FromResponder is the other direction.
	FromResponder Direction = 1
)

// Kind says how a verdict was reached, so that a user can tell what the
// payload proved from what a port suggests.
type Kind uint8

const (
	// KindUnknown: no verdict.
	KindUnknown Kind = iota
	// KindPayload: the payload matched the protocol's format.
	KindPayload
	// KindPortGuess: nothing in the payload; a well-known port suggests
	// the application.
	KindPortGuess
	// KindProtocol: an IP protocol with no ports or payload to read (ICMP,
	// GRE, ESP …), known by its protocol number alone.
	KindProtocol
)

func (k Kind) String() string {
	switch k {
	case KindPayload:
		return "payload"
	case KindPortGuess:
		return "port"
	case KindProtocol:
		return "protocol"
	}
	return "unknown"
}

// Verdict is what the classifier says about a flow.
type Verdict struct {
	App  app.ID
	Kind Kind
	// Server is the name the client asked for: TLS/QUIC/DTLS SNI, HTTP,
	// RTSP or SIP Host, or the first DNS/mDNS/LLMNR question name.
	Server string
	// TLSVersion is the highest version a TLS, DTLS or QUIC ClientHello
	// offered (0x0304 for TLS 1.3), 0 when none was seen.
	TLSVersion uint16
	// ALPN is the first protocol a ClientHello offered ("h2", "h3" …).
	ALPN string
	// QUICVersion is the version of a QUIC long header (1, 0x6b3343cf for
	// v2, 0xff00001d for draft-29, "Q050" as a number for gQUIC).
	QUICVersion uint32
}

// conf is how strongly a recognizer matched one packet.
type conf uint8

const (
	none conf = iota
	// weak: the packet has the protocol's shape but random data would
	// have it too often; a second agreeing packet or the protocol's
	// well-known port is needed.
	weak
	// sure: the packet alone proves the protocol.
	sure
)

// maxName bounds the server name kept per flow: a DNS name is at most
// 253 characters.
const maxName = 255

// Flow is the classification state of one conversation. The caller keeps
// one per conversation, creates it with NewFlow, feeds it the payload heads
// of the first packets in both directions and reads Verdict when Feed
// reports done or the flow ends. A Flow is about 400 bytes, allocates
// nothing while fed and may be reused with Reset.
type Flow struct {
	proto uint8
	// port[FromInitiator] is the initiator's port, port[FromResponder]
	// the responder's.
	port   [2]uint16
	seen   [2]uint8 // payload packets fed, per direction
	budget uint8    // Budget(proto), kept so tests can vary it
	done   bool

	v       Verdict
	weakApp app.ID // protocol a weak match suggested, waiting for a second
	hint    uint8  // protocol-specific progress, see the hint* constants
	rtp     [2]rtpState
	sess    [8]byte // an OpenVPN session ID or uTP connection ID to see echoed

	name    [maxName]byte // Server when a recognizer copied it from the payload
	nameLen uint8

	// pkt is the head being matched. It lives in the Flow because the
	// recognizers are called through function values, which would make a
	// local escape to the heap on every packet.
	pkt packet
}

// NewFlow starts a conversation of IP protocol proto between the
// initiator's port and the responder's. A protocol without ports (ICMP,
// GRE …) gets its verdict at once.
func NewFlow(proto uint8, initiatorPort, responderPort uint16) Flow {
	var f Flow
	f.Reset(proto, initiatorPort, responderPort)
	return f
}

// Reset makes f a new conversation, as NewFlow does, without allocating.
func (f *Flow) Reset(proto uint8, initiatorPort, responderPort uint16) {
	*f = Flow{proto: proto, port: [2]uint16{initiatorPort, responderPort}, budget: uint8(Budget(proto))}
	if id := protocolApp(proto); id != app.Unknown {
		f.v = Verdict{App: id, Kind: KindProtocol}
		f.done = true
	}
}

// Budget is the number of payload packets per direction a flow of IP
// protocol proto is given.
func Budget(proto uint8) int {
	if proto == ProtoTCP {
		return BudgetTCP
	}
	return BudgetUDP
}

// Wants reports whether a packet in direction dir would still be looked
// at: false once the flow is done or dir's budget is spent. The datapath
// stops sampling a direction when it is false.
func (f *Flow) Wants(dir Direction) bool {
	return !f.done && f.seen[dir&1] < f.budget
}

// Done reports whether the flow has a verdict or has spent its budget in
// both directions.
func (f *Flow) Done() bool { return f.done }

// Feed gives the flow one packet: head is the start of its L4 payload (at
// most HeadSize bytes are read) and payloadLen the payload's length on the
// wire, which is more than len(head) when the head was cut. Packets with
// no payload are ignored. Feed reports whether the flow is done.
func (f *Flow) Feed(dir Direction, head []byte, payloadLen int) (done bool) {
	dir &= 1
	if f.done || payloadLen <= 0 {
		return f.done
	}
	budget := f.budget
	if f.seen[dir] >= budget {
		return false
	}
	f.seen[dir]++
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	if payloadLen < len(head) {
		payloadLen = len(head)
	}
	if len(head) > 0 {
		f.pkt = packet{f: f, dir: dir, b: head, n: payloadLen,
			src: f.port[dir], dst: f.port[dir^1]}
		var id app.ID
		var c conf
		switch f.proto {
		case ProtoTCP:
			id, c = matchTCP(&f.pkt)
		case ProtoUDP:
			id, c = matchUDP(&f.pkt)
		}
		f.pkt = packet{} // hold no reference to the caller's buffer
		f.decide(id, c)
	}
	if !f.done && f.seen[0] >= budget && f.seen[1] >= budget {
		f.done = true
	}
	return f.done
}

// decide turns one packet's match into the flow's verdict: a sure match at
// once, a weak one when an earlier weak match named the same protocol.
func (f *Flow) decide(id app.ID, c conf) {
	switch {
	case c == sure || c == weak && id == f.weakApp:
		f.v.App, f.v.Kind = id, KindPayload
		f.done = true
	case c == weak:
		f.weakApp = id
	}
}

// Verdict is the flow's verdict so far: a payload verdict when one was
// reached, else a protocol-number verdict, else a guess from a well-known
// port, else unknown. It allocates only to return a server name read from
// the payload.
func (f *Flow) Verdict() Verdict {
	v := f.v
	if f.nameLen > 0 && v.Server == "" {
		v.Server = string(f.name[:f.nameLen])
	}
	if v.Kind != KindUnknown {
		return v
	}
	if id := portGuess(f.proto, f.port[FromResponder], f.port[FromInitiator]); id != app.Unknown {
		v.App, v.Kind = id, KindPortGuess
	}
	return v
}

// setName keeps a server name read from the payload, lower-cased; the
// first one wins.
func (f *Flow) setName(b []byte) {
	if f.nameLen > 0 || f.v.Server != "" {
		return
	}
	if len(b) > maxName {
		b = b[:maxName]
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		f.name[i] = c
	}
	f.nameLen = uint8(len(b))
}

// packet is one head being matched, with what the recognizers need.
type packet struct {
	f   *Flow
	dir Direction
	b   []byte // the head
	n   int    // payload length on the wire, ≥ len(b)
	src uint16 // sender's port
	dst uint16 // receiver's port
}

// port reports whether either end uses one of ports.
func (p *packet) port(ports ...uint16) bool {
	for _, q := range ports {
		if p.src == q || p.dst == q {
			return true
		}
	}
	return false
}

// cut reports whether the head holds less than the payload.
func (p *packet) cut() bool { return len(p.b) < p.n }

// Classify runs one conversation through a new Flow: heads[i] was sent in
// direction dirs[i]. It is the stateless form of Flow for tests and
// one-off use; heads are taken as whole payloads.
func Classify(proto uint8, initiatorPort, responderPort uint16, dirs []Direction, heads [][]byte) Verdict {
	f := NewFlow(proto, initiatorPort, responderPort)
	for i, h := range heads {
		if i < len(dirs) && f.Feed(dirs[i], h, len(h)) {
			break
		}
	}
	return f.Verdict()
}

// protocolApp names the IP protocols that are known by number alone.
func protocolApp(proto uint8) app.ID {
	switch proto {
	case ProtoICMP:
		return app.ICMP
	case ProtoICMPv6:
		return app.ICMPv6
	case ProtoIGMP:
		return app.IGMP
	case ProtoGRE:
		return app.GRE
	case ProtoESP, ProtoAH:
		return app.IPsec
	case ProtoSCTP:
		return app.SCTP
	case ProtoVRRP:
		return app.VRRP
	case ProtoOSPF:
		return app.OSPF
	}
	return app.Unknown
}
