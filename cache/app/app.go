package app

import "encoding/binary"

// ID is an application: nDPI 4.2's protocol number. 0 is Unknown.
type ID uint16

// The IDs the classifier emits, named after nDPI's NDPI_PROTOCOL_*
// constants. The numbers are nDPI's and must never be renumbered.
const (
	Unknown     ID = 0
	FTPControl  ID = 1
	POP3        ID = 2
	SMTP        ID = 3
	IMAP        ID = 4
	DNS         ID = 5
	HTTP        ID = 7
	MDNS        ID = 8
	NTP         ID = 9
	NetBIOS     ID = 10
	NFS         ID = 11
	SSDP        ID = 12
	SNMP        ID = 14
	SMBv1       ID = 16
	Syslog      ID = 17
	DHCP        ID = 18
	PostgreSQL  ID = 19
	MySQL       ID = 20
	POPS        ID = 23
	SMTPS       ID = 29
	DTLS        ID = 30
	Gnutella    ID = 35
	BitTorrent  ID = 37
	SMBv23      ID = 41
	Modbus      ID = 44
	RTSP        ID = 50
	IMAPS       ID = 51
	Jabber      ID = 67
	VRRP        ID = 73
	Telnet      ID = 77
	STUN        ID = 78
	IPsec       ID = 79
	GRE         ID = 80
	ICMP        ID = 81
	IGMP        ID = 82
	SCTP        ID = 84
	OSPF        ID = 85
	RTP         ID = 87
	RDP         ID = 88
	VNC         ID = 89
	TLS         ID = 91
	SSH         ID = 92
	TFTP        ID = 96
	SIP         ID = 100
	ICMPv6      ID = 102
	DHCPv6      ID = 103
	Kerberos    ID = 111
	LDAP        ID = 112
	PPTP        ID = 115
	Dropbox     ID = 121
	NetFlow     ID = 128 // NetFlow v1-v9 and IPFIX: nDPI has one ID for both
	SFlow       ID = 129
	HTTPConnect ID = 130
	Radius      ID = 146
	GTP         ID = 152
	LLMNR       ID = 154
	Spotify     ID = 156
	OpenVPN     ID = 159
	RTCP        ID = 165
	SOCKS       ID = 172
	Redis       ID = 182
	QUIC        ID = 188
	DoHDoT      ID = 196
	WireGuard   ID = 206
	Teredo      ID = 214
	MQTT        ID = 222
	Diameter    ID = 237
	DNP3        ID = 244
	Cassandra   ID = 264
)

// String is the name nDPI 4.2 prints for id, or "Unknown(n)" for a number
// it does not name.
func (id ID) String() string {
	if int(id) < len(names) && names[id] != "" {
		return names[id]
	}
	return "Unknown(" + itoa(int(id)) + ")"
}

// Description is a one-line description for the options template
// (applicationDescription, IE 94): ours for the protocols the classifier
// recognises, the name otherwise.
func (id ID) Description() string {
	if d, ok := descriptions[id]; ok {
		return d
	}
	return id.String()
}

// Lookup finds an ID by its nDPI name, ignoring ASCII case ("http",
// "HTTP"). It reports false for a name nDPI 4.2 does not have.
func Lookup(name string) (ID, bool) {
	for i, n := range names {
		if n != "" && equalFold(n, name) {
			return ID(i), true
		}
	}
	return Unknown, false
}

// Entry is one row of the application table.
type Entry struct {
	ID          ID
	Name        string
	Description string
}

// All lists every application nDPI 4.2 names, by ID, Unknown first: the
// rows of the options template that maps IE 95 to IE 96 and IE 94.
func All() []Entry {
	out := make([]Entry, 0, len(names))
	for i, n := range names {
		if n != "" {
			out = append(out, Entry{ID(i), n, ID(i).Description()})
		}
	}
	return out
}

// EngineNDPI is the RFC 6759 Classification Engine ID under which IE 95
// carries nDPI protocol numbers. RFC 6759 itself lists engines 0-20; IANA's
// "Classification Engine IDs" registry, which the RFC created, has since
// assigned 21 to Qosmos and 22 to nDPI, the value pmacct and ntopng use.
const EngineNDPI = 22

// ApplicationIDLen is the length of the encoded applicationId: one byte of
// engine and a two-byte selector, nDPI numbers being below 65536.
const ApplicationIDLen = 3

// ApplicationID is id as IE 95 carries it (RFC 6759 section 4): the
// classification engine ID, then the selector ID in network byte order.
func (id ID) ApplicationID() [ApplicationIDLen]byte {
	var b [ApplicationIDLen]byte
	b[0] = EngineNDPI
	binary.BigEndian.PutUint16(b[1:], uint16(id))
	return b
}

// ParseApplicationID decodes an applicationId. It accepts engine
// EngineNDPI with a selector of 1 to 4 bytes (collectors may pad it) and
// reports false for any other engine.
func ParseApplicationID(b []byte) (ID, bool) {
	if len(b) < 2 || len(b) > 5 || b[0] != EngineNDPI {
		return Unknown, false
	}
	var v uint32
	for _, c := range b[1:] {
		v = v<<8 | uint32(c)
	}
	if v > 0xffff {
		return Unknown, false
	}
	return ID(v), true
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
