package cache

import "testing"

func TestSizeBucketBoundaries(t *testing.T) {
	tests := []struct {
		size uint64
		want string
	}{
		{1, "1-32"}, {32, "1-32"}, {33, "64"}, {64, "64"}, {65, "96"},
		{544, "544"}, {545, "576"}, {576, "576"}, {577, "1024"}, {1024, "1024"},
		{1025, "1536"}, {1500, "1536"}, {1536, "1536"}, {1537, "2048"},
		{4096, "4096"}, {4097, "4608"}, {4608, "4608"}, {4609, ">4608"}, {9000, ">4608"},
	}
	for _, tc := range tests {
		if got := SizeBucketNames[SizeBucket(tc.size)]; got != tc.want {
			t.Errorf("SizeBucket(%d) = %s, want %s", tc.size, got, tc.want)
		}
	}
}

func TestClassifyNamesCiscoProtocols(t *testing.T) {
	tests := []struct {
		proto    uint8
		src, dst uint16
		want     string
	}{
		{protoTCP, 40000, 23, "TCP-Telnet"},
		{protoTCP, 23, 40000, "TCP-Telnet"}, // the server's answer
		{protoTCP, 40000, 21, "TCP-FTP"},
		{protoTCP, 20, 40000, "TCP-FTPD"},
		{protoTCP, 40000, 80, "TCP-WWW"},
		{protoTCP, 40000, 25, "TCP-SMTP"},
		{protoTCP, 40000, 6000, "TCP-X"},
		{protoTCP, 40000, 6063, "TCP-X"},
		{protoTCP, 40000, 6064, "TCP-other"},
		{protoTCP, 40000, 179, "TCP-BGP"},
		{protoTCP, 40000, 119, "TCP-NNTP"},
		{protoTCP, 0, 0, "TCP-Frag"},
		{protoTCP, 40000, 443, "TCP-other"},
		{protoUDP, 5353, 53, "UDP-DNS"},
		{protoUDP, 123, 123, "UDP-NTP"},
		{protoUDP, 40000, 69, "UDP-TFTP"},
		{protoUDP, 0, 0, "UDP-Frag"},
		{protoUDP, 40000, 443, "UDP-other"},
		{protoUDP, 6000, 40000, "UDP-other"}, // X is a TCP class
		{protoICMP, 0, 0x0800, "ICMP"},
		{protoICMPv6, 0, 0x8000, "ICMPv6"},
		{2, 0, 0, "IGMP"},
		{4, 0, 0, "IPINIP"},
		{47, 0, 0, "GRE"},
		{50, 0, 0, "IP-other"},
	}
	for _, tc := range tests {
		if got := protocolClasses[classify(tc.proto, tc.src, tc.dst)].name; got != tc.want {
			t.Errorf("classify(%d, %d, %d) = %s, want %s", tc.proto, tc.src, tc.dst, got, tc.want)
		}
	}
}

func TestCanonicalKeyIsSharedByBothDirections(t *testing.T) {
	tests := []struct {
		name string
		fwd  Delta
		rev  Delta
		pair bool
	}{
		{"tcp", pkt(tcpAB, 0, 1, 0), pkt(tcpBA, 0, 1, 0), true},
		{"icmp echo", pkt(icmpKey(protoICMP, "198.18.0.1", "198.18.0.2", 8, 0), 0, 1, 0), pkt(icmpKey(protoICMP, "198.18.0.2", "198.18.0.1", 0, 0), 0, 1, 0), true},
		{"icmp timestamp", pkt(icmpKey(protoICMP, "198.18.0.1", "198.18.0.2", 13, 0), 0, 1, 0), pkt(icmpKey(protoICMP, "198.18.0.2", "198.18.0.1", 14, 0), 0, 1, 0), true},
		{"icmpv6 echo", pkt(icmpKey(protoICMPv6, "2001:db8::1", "2001:db8::2", 128, 0), 0, 1, 0), pkt(icmpKey(protoICMPv6, "2001:db8::2", "2001:db8::1", 129, 0), 0, 1, 0), true},
		{"echo replies to different hosts", pkt(icmpKey(protoICMP, "198.18.0.1", "198.18.0.2", 8, 0), 0, 1, 0), pkt(icmpKey(protoICMP, "198.18.0.2", "198.18.0.3", 0, 0), 0, 1, 0), false},
		{"unreachable is no answer", pkt(icmpKey(protoICMP, "198.18.0.1", "198.18.0.2", 8, 0), 0, 1, 0), pkt(icmpKey(protoICMP, "198.18.0.2", "198.18.0.1", 3, 3), 0, 1, 0), false},
		{"other port", pkt(tcpAB, 0, 1, 0), pkt(key(protoTCP, "198.18.0.2:23", "198.18.0.1:40001"), 0, 1, 0), false},
	}
	for _, tc := range tests {
		if got := canonical(tc.fwd.Key) == canonical(tc.rev.Key); got != tc.pair {
			t.Errorf("%s: canonical keys equal = %v, want %v", tc.name, got, tc.pair)
		}
	}
}
