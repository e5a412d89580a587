package cache

// The router's protocol classes, in the order `show ip cache flow` prints
// them. A TCP or UDP flow is named by a well-known port on either side;
// one with both ports 0 is a non-first fragment (the datapath cannot see
// ports there).
var protocolClasses = [...]struct {
	name  string
	proto uint8
	ports func(p uint16) bool // nil: any port
}{
	{"TCP-Telnet", protoTCP, port(23)},
	{"TCP-FTP", protoTCP, port(21)},
	{"TCP-FTPD", protoTCP, port(20)},
	{"TCP-WWW", protoTCP, port(80)},
	{"TCP-SMTP", protoTCP, port(25)},
	{"TCP-X", protoTCP, func(p uint16) bool { return p >= 6000 && p <= 6063 }},
	{"TCP-BGP", protoTCP, port(179)},
	{"TCP-NNTP", protoTCP, port(119)},
	{"TCP-Frag", protoTCP, nil},
	{"TCP-other", protoTCP, nil},
	{"UDP-DNS", protoUDP, port(53)},
	{"UDP-NTP", protoUDP, port(123)},
	{"UDP-TFTP", protoUDP, port(69)},
	{"UDP-Frag", protoUDP, nil},
	{"UDP-other", protoUDP, nil},
	{"ICMP", protoICMP, nil},
	{"ICMPv6", protoICMPv6, nil},
	{"IGMP", 2, nil},
	{"IPINIP", 4, nil},
	{"GRE", 47, nil},
	{"IP-other", 0, nil},
}

const numProtocolClasses = len(protocolClasses)

func port(n uint16) func(uint16) bool { return func(p uint16) bool { return p == n } }

// Indexes of the classes classify picks by rule rather than by table.
const (
	classTCPFrag  = 8
	classTCPOther = 9
	classUDPFrag  = 13
	classUDPOther = 14
	classIPOther  = numProtocolClasses - 1
)

// classify returns the protocol class of a one-way flow: the first class
// in the router's order whose port is either port. Either, so that a
// client's flow and the server's answer land in the same class.
func classify(proto uint8, src, dst uint16) int {
	switch proto {
	case protoTCP, protoUDP:
		frag, other := classTCPFrag, classTCPOther
		if proto == protoUDP {
			frag, other = classUDPFrag, classUDPOther
		}
		if src == 0 && dst == 0 {
			return frag
		}
		for c, pc := range protocolClasses {
			if pc.proto == proto && pc.ports != nil && (pc.ports(src) || pc.ports(dst)) {
				return c
			}
		}
		return other
	}
	for c := classUDPOther + 1; c < classIPOther; c++ {
		if protocolClasses[c].proto == proto {
			return c
		}
	}
	return classIPOther
}
