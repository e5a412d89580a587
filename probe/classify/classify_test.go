package classify

import (
	"encoding/binary"
	"testing"

	"github.com/spanflow/spanflow/cache/app"
)

// The payloads below are written from the protocols' specifications, byte
// by byte, not produced by the code under test.

func dnsQuery(name ...string) []byte {
	b := []byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0} // RD, one question
	for _, l := range name {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1) // root, type A, class IN
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRecognizersOnHandBuiltPayloads(t *testing.T) {
	dhcp := make([]byte, 300)
	dhcp[0], dhcp[1], dhcp[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, hlen 6
	copy(dhcp[236:], []byte{0x63, 0x82, 0x53, 0x63})
	ntp := make([]byte, 48)
	ntp[0] = 0x23 // LI 0, VN 4, mode 3 (client)
	stun := cat([]byte{0, 1, 0, 0}, be32(0x2112a442), make([]byte, 12))
	ike := cat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, make([]byte, 8), []byte{33, 0x20, 34, 8}, be32(0), be32(28))
	wg := cat([]byte{1, 0, 0, 0}, make([]byte, 144))
	nfv5 := cat([]byte{0, 5, 0, 1}, make([]byte, 20), make([]byte, 48))
	ipfix := cat([]byte{0, 10, 0, 24}, make([]byte, 12), []byte{0, 2, 0, 8}, make([]byte, 4))
	snmp := []byte{0x30, 0x1a, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c',
		0xa0, 0x0d, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x02, 0x30, 0x00}
	ldapBind := []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00}
	krbASReq := []byte{0x6a, 0x0b, 0x30, 0x09, 0xa1, 0x03, 0x02, 0x01, 0x05, 0xa2, 0x02, 0x02, 0x00}
	dnp3 := []byte{0x05, 0x64, 0x05, 0xc0, 0x01, 0x00, 0x00, 0x04, 0, 0}
	crc := dnpCRC(dnp3[:8])
	dnp3[8], dnp3[9] = byte(crc), byte(crc>>8)
	modbus := []byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10}
	mqtt := cat([]byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4}, []byte("abcd"))
	mysql := cat([]byte{0x0e, 0, 0, 0, 10}, []byte("8.0.36\x00"), make([]byte, 6))
	mysql[0] = byte(len(mysql) - 4)
	pg := cat(be32(0), be32(0x00030000), []byte("user\x00bob\x00\x00"))
	copy(pg, be32(uint32(len(pg))))
	nbName := cat([]byte{32}, []byte("EBEFEEEFCACACACACACACACACACACAAA"), []byte{0})
	nbns := cat([]byte{0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0}, nbName, []byte{0, 0x20, 0, 1})
	nbss := cat([]byte{0x81, 0, 0, 68}, nbName, nbName)
	smb2 := cat([]byte{0, 0, 0, 64}, []byte("\xfeSMB"), make([]byte, 60))
	tftp := []byte("\x00\x01boot.img\x00octet\x00")
	rdp := cat([]byte{3, 0, 0, 0}, []byte{0, 0xe0, 0, 0, 0, 0, 0}, []byte("Cookie: mstshash=bob\r\n"), []byte{1, 0, 8, 0, 3, 0, 0, 0})
	binary.BigEndian.PutUint16(rdp[2:], uint16(len(rdp)))
	rdp[4] = byte(len(rdp) - 5)
	teredo := cat([]byte{0x60, 0, 0, 0, 0, 8, 17, 64}, make([]byte, 32), make([]byte, 8))
	rtcp := []byte{0x81, 201, 0, 1, 0, 0, 0, 1}
	syslog := []byte("<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - failed")
	sip := []byte("INVITE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.com\r\n\r\n")
	rtsp := []byte("OPTIONS rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 1\r\n\r\n")
	ssdp := []byte("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n\r\n")
	bt := cat([]byte("\x13BitTorrent protocol"), make([]byte, 48))
	dht := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
	gnut := []byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: x\r\n\r\n")
	socks5 := []byte{5, 1, 0}
	xmpp := []byte("<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client'>")
	redis := []byte("*1\r\n$4\r\nPING\r\n")
	pptp := cat([]byte{0, 156, 0, 1}, be32(0x1a2b3c4d), make([]byte, 148))
	sflow := cat(be32(5), be32(1), []byte{192, 0, 2, 1}, be32(0), be32(7), be32(1000), be32(1), make([]byte, 40))
	dhcp6 := cat([]byte{1, 0xaa, 0xbb, 0xcc}, []byte{0, 8, 0, 2, 0, 0})

	for _, tc := range []struct {
		name         string
		proto        uint8
		sport, dport uint16
		dir          Direction
		payload      []byte
		want         app.ID
	}{
		{"HTTP on 9090 names its host", ProtoTCP, 40000, 9090, FromInitiator, []byte("GET /index.html HTTP/1.1\r\nHost: WWW.Example.com:9090\r\n\r\n"), app.HTTP},
		{"HTTP response", ProtoTCP, 9090, 40000, FromInitiator, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), app.HTTP},
		{"HTTP CONNECT", ProtoTCP, 40000, 3128, FromInitiator, []byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), app.HTTPConnect},
		{"RTSP", ProtoTCP, 40000, 8554, FromInitiator, rtsp, app.RTSP},
		{"SIP over UDP", ProtoUDP, 5062, 5070, FromInitiator, sip, app.SIP},
		{"SSDP search", ProtoUDP, 40000, 1900, FromInitiator, ssdp, app.SSDP},
		{"SSH banner", ProtoTCP, 2222, 40000, FromResponder, []byte("SSH-2.0-OpenSSH_9.6\r\n"), app.SSH},
		{"SMTP greeting", ProtoTCP, 40000, 2500, FromResponder, []byte("220 mail.example.com ESMTP Postfix\r\n"), app.SMTP},
		{"FTP greeting", ProtoTCP, 40000, 2100, FromResponder, []byte("220 (vsFTPd 3.0.5)\r\n"), app.FTPControl},
		{"POP3 greeting", ProtoTCP, 40000, 1100, FromResponder, []byte("+OK POP3 server ready\r\n"), app.POP3},
		{"IMAP greeting", ProtoTCP, 40000, 1430, FromResponder, []byte("* OK [CAPABILITY IMAP4rev1] ready\r\n"), app.IMAP},
		{"IMAP command", ProtoTCP, 40000, 1430, FromInitiator, []byte("a001 CAPABILITY\r\n"), app.IMAP},
		{"Telnet negotiation", ProtoTCP, 40000, 2323, FromResponder, []byte{0xff, 0xfd, 0x18, 0xff, 0xfd, 0x20, 0xff, 0xfb, 0x01}, app.Telnet},
		{"DNS query on 53", ProtoUDP, 40000, 53, FromInitiator, dnsQuery("www", "example", "com"), app.DNS},
		{"DNS query on 8053", ProtoUDP, 40000, 8053, FromInitiator, dnsQuery("www", "example", "com"), app.DNS},
		{"mDNS by port", ProtoUDP, 5353, 5353, FromInitiator, dnsQuery("printer", "local"), app.MDNS},
		{"LLMNR by port", ProtoUDP, 40000, 5355, FromInitiator, dnsQuery("wpad"), app.LLMNR},
		{"DNS over TCP", ProtoTCP, 40000, 53, FromInitiator, cat([]byte{0, 33}, dnsQuery("www", "example", "com")), app.DNS},
		{"NetBIOS name query", ProtoUDP, 137, 137, FromInitiator, nbns, app.NetBIOS},
		{"NetBIOS session request", ProtoTCP, 40000, 139, FromInitiator, nbss, app.NetBIOS},
		{"SMB2 on 445", ProtoTCP, 40000, 445, FromInitiator, smb2, app.SMBv23},
		{"DHCP request", ProtoUDP, 68, 67, FromInitiator, dhcp, app.DHCP},
		{"DHCPv6 solicit", ProtoUDP, 546, 547, FromInitiator, dhcp6, app.DHCPv6},
		{"NTP client on 123", ProtoUDP, 40000, 123, FromInitiator, ntp, app.NTP},
		{"SNMP get", ProtoUDP, 40000, 1161, FromInitiator, snmp, app.SNMP},
		{"LDAP bind", ProtoTCP, 40000, 3890, FromInitiator, ldapBind, app.LDAP},
		{"Kerberos AS-REQ", ProtoUDP, 40000, 8800, FromInitiator, krbASReq, app.Kerberos},
		{"Syslog on 514", ProtoUDP, 40000, 514, FromInitiator, syslog, app.Syslog},
		{"STUN binding", ProtoUDP, 40000, 19302, FromInitiator, stun, app.STUN},
		{"RTCP receiver report", ProtoUDP, 40001, 50001, FromInitiator, rtcp, app.RTCP},
		{"IKEv2 SA_INIT", ProtoUDP, 500, 500, FromInitiator, ike, app.IPsec},
		{"WireGuard initiation", ProtoUDP, 40000, 40001, FromInitiator, wg, app.WireGuard},
		{"NetFlow v5", ProtoUDP, 40000, 9999, FromInitiator, nfv5, app.NetFlow},
		{"IPFIX", ProtoUDP, 40000, 9999, FromInitiator, ipfix, app.NetFlow},
		{"sFlow v5", ProtoUDP, 40000, 9999, FromInitiator, sflow, app.SFlow},
		{"TFTP read request", ProtoUDP, 40000, 6900, FromInitiator, tftp, app.TFTP},
		{"RDP connection request", ProtoTCP, 40000, 33890, FromInitiator, rdp, app.RDP},
		{"MySQL greeting", ProtoTCP, 40000, 33060, FromResponder, mysql, app.MySQL},
		{"PostgreSQL startup", ProtoTCP, 40000, 54320, FromInitiator, pg, app.PostgreSQL},
		{"Redis command", ProtoTCP, 40000, 16379, FromInitiator, redis, app.Redis},
		{"MQTT connect", ProtoTCP, 40000, 18830, FromInitiator, mqtt, app.MQTT},
		{"BitTorrent handshake", ProtoTCP, 40000, 51413, FromInitiator, bt, app.BitTorrent},
		{"BitTorrent DHT ping", ProtoUDP, 40000, 51413, FromInitiator, dht, app.BitTorrent},
		{"Gnutella connect", ProtoTCP, 40000, 6346, FromInitiator, gnut, app.Gnutella},
		{"SOCKS5 greeting on 1080", ProtoTCP, 40000, 1080, FromInitiator, socks5, app.SOCKS},
		{"XMPP stream", ProtoTCP, 40000, 5222, FromInitiator, xmpp, app.Jabber},
		{"DNP3 link header", ProtoTCP, 40000, 20000, FromInitiator, dnp3, app.DNP3},
		{"Modbus read holding registers", ProtoTCP, 40000, 502, FromInitiator, modbus, app.Modbus},
		{"Teredo IPv6 in UDP", ProtoUDP, 40000, 3544, FromInitiator, teredo, app.Teredo},
		{"PPTP start-control", ProtoTCP, 40000, 1723, FromInitiator, pptp, app.PPTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFlow(tc.proto, tc.sport, tc.dport)
			if tc.dir == FromResponder {
				f = NewFlow(tc.proto, tc.dport, tc.sport)
			}
			f.Feed(tc.dir, tc.payload, len(tc.payload))
			v := f.Verdict()
			if v.App != tc.want || v.Kind != KindPayload {
				t.Fatalf("got %v (%v), want %v by payload", v.App, v.Kind, tc.want)
			}
			// Every proper prefix is a truncated head: never a panic, and
			// never a different protocol by payload.
			for n := 0; n < len(tc.payload); n++ {
				g := NewFlow(tc.proto, tc.sport, tc.dport)
				g.Feed(tc.dir, tc.payload[:n], n)
				if w := g.Verdict(); w.Kind == KindPayload && w.App != tc.want {
					t.Errorf("prefix of %d bytes gives %v", n, w.App)
				}
			}
		})
	}
}

func TestServerNames(t *testing.T) {
	v := Classify(ProtoTCP, 40000, 9090, []Direction{FromInitiator},
		[][]byte{[]byte("GET / HTTP/1.1\r\nHost: WWW.Example.com:9090\r\n\r\n")})
	if v.Server != "www.example.com" {
		t.Errorf("HTTP Host: %q", v.Server)
	}
	v = Classify(ProtoUDP, 40000, 53, []Direction{FromInitiator}, [][]byte{dnsQuery("www", "example", "com")})
	if v.Server != "www.example.com" {
		t.Errorf("DNS qname: %q", v.Server)
	}
}

func TestWeakSignaturesNeedCorroboration(t *testing.T) {
	ntp := make([]byte, 48)
	ntp[0] = 0x23
	if v := Classify(ProtoUDP, 40000, 40001, []Direction{FromInitiator}, [][]byte{ntp}); v.Kind == KindPayload {
		t.Errorf("NTP-shaped datagram off port 123 gave %v", v.App)
	}
	syslog := []byte("<13>Jan  1 00:00:00 host app: hi")
	one := Classify(ProtoUDP, 40000, 40001, []Direction{FromInitiator}, [][]byte{syslog})
	two := Classify(ProtoUDP, 40000, 40001, []Direction{FromInitiator, FromInitiator}, [][]byte{syslog, syslog})
	if one.Kind == KindPayload || two.App != app.Syslog || two.Kind != KindPayload {
		t.Errorf("syslog off 514: one packet %v/%v, two %v/%v", one.App, one.Kind, two.App, two.Kind)
	}
	rtp := func(seq uint16) []byte {
		return []byte{0x80, 0, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
	}
	if v := Classify(ProtoUDP, 40000, 40002, []Direction{0}, [][]byte{rtp(7)}); v.Kind == KindPayload {
		t.Errorf("one RTP-shaped packet gave %v", v.App)
	}
	if v := Classify(ProtoUDP, 40000, 40002, []Direction{0, 0}, [][]byte{rtp(7), rtp(8)}); v.App != app.RTP {
		t.Errorf("two RTP packets of one SSRC gave %v", v.App)
	}
}

func TestPortGuessAndProtocolNumber(t *testing.T) {
	v := Classify(ProtoTCP, 40000, 443, []Direction{0}, [][]byte{{0x17, 0x03, 0x03, 0x00, 0x10, 1, 2, 3}})
	if v.App != app.TLS || v.Kind != KindPortGuess {
		t.Errorf("TLS application data on 443: %v/%v, want a TLS port guess", v.App, v.Kind)
	}
	f := NewFlow(ProtoICMP, 0, 0)
	if v := f.Verdict(); !f.Done() || v.App != app.ICMP || v.Kind != KindProtocol {
		t.Errorf("ICMP: %v/%v", v.App, v.Kind)
	}
	if v := Classify(ProtoUDP, 40000, 40001, []Direction{0}, [][]byte{[]byte("hello")}); v.Kind != KindUnknown {
		t.Errorf("random UDP: %v/%v", v.App, v.Kind)
	}
}

func TestBudgetStopsTheFlow(t *testing.T) {
	f := NewFlow(ProtoUDP, 40000, 40001)
	junk := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	for i := 0; i < BudgetUDP; i++ {
		if !f.Wants(FromInitiator) {
			t.Fatalf("gave up after %d packets", i)
		}
		f.Feed(FromInitiator, junk, len(junk))
	}
	if f.Wants(FromInitiator) || f.Done() {
		t.Fatalf("after %d packets: wants %v, done %v", BudgetUDP, f.Wants(FromInitiator), f.Done())
	}
	for i := 0; i < BudgetUDP; i++ {
		f.Feed(FromResponder, junk, len(junk))
	}
	if !f.Done() {
		t.Fatal("not done after both budgets")
	}
}

func TestFeedDoesNotAllocate(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	dns := dnsQuery("www", "example", "com")
	var f Flow
	n := testing.AllocsPerRun(100, func() {
		f.Reset(ProtoTCP, 40000, 80)
		f.Feed(FromInitiator, req, len(req))
		f.Reset(ProtoUDP, 40000, 53)
		f.Feed(FromInitiator, dns, len(dns))
	})
	if n != 0 {
		t.Errorf("%v allocations per two heads", n)
	}
}
