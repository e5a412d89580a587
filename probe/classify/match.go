package classify

import "github.com/spanflow/spanflow/cache/app"

// recognizer matches one packet head against one protocol family.
type recognizer func(p *packet) (app.ID, conf)

// Recognizers in the order they are tried. Cheap, strong checks on the
// first bytes come first; a sure match ends the search, a weak one is kept
// unless a later recognizer is sure.
var (
	tcpRecognizers = [...]recognizer{
		matchTLS, matchRequestLine, matchSSH, matchBanner, matchMailClient,
		matchNetBIOSSession, matchDNSTCP, matchBER, matchRDP, matchMySQL,
		matchPostgreSQL, matchRedis, matchMQTT, matchOpenVPNTCP, matchBitTorrentTCP,
		matchGnutella, matchTelnet, matchSOCKS, matchXMPP, matchDNP3, matchModbus,
		matchPPTP, matchVNC, matchRPC, matchCassandra, matchDiameter,
	}
	udpRecognizers = [...]recognizer{
		matchDNS, matchQUIC, matchDTLS, matchNetBIOSUDP, matchDHCP, matchRequestLine,
		matchSTUN, matchBER, matchNTP, matchSyslog, matchRTCP, matchRTP,
		matchWireGuard, matchIKE, matchOpenVPNUDP, matchBitTorrentUDP, matchGnutella,
		matchTFTP, matchExport, matchTeredo, matchDHCPv6, matchGTP, matchRadius,
		matchRPC, matchDNP3, matchLANSync,
	}
)

func matchTCP(p *packet) (app.ID, conf) { return firstMatch(p, tcpRecognizers[:]) }
func matchUDP(p *packet) (app.ID, conf) { return firstMatch(p, udpRecognizers[:]) }

func firstMatch(p *packet, rs []recognizer) (app.ID, conf) {
	var weakID app.ID
	for _, r := range rs {
		id, c := r(p)
		if c == sure {
			return id, sure
		}
		if c == weak && weakID == app.Unknown {
			weakID = id
		}
	}
	if weakID != app.Unknown {
		return weakID, weak
	}
	return app.Unknown, none
}

// sureIf is sure when ok, else weak: for a signature that needs a
// well-known port or a second packet to be believed.
func sureIf(id app.ID, ok bool) (app.ID, conf) {
	if ok {
		return id, sure
	}
	return id, weak
}

// portGuess names the application a well-known port suggests, trying the
// responder's port first. Only ports where one application dominates are
// listed.
func portGuess(proto uint8, responder, initiator uint16) app.ID {
	for _, port := range [2]uint16{responder, initiator} {
		var id app.ID
		switch proto {
		case ProtoTCP:
			id = tcpPorts(port)
		case ProtoUDP:
			id = udpPorts(port)
		}
		if id != app.Unknown {
			return id
		}
	}
	return app.Unknown
}

func tcpPorts(port uint16) app.ID {
	switch port {
	case 21:
		return app.FTPControl
	case 22:
		return app.SSH
	case 23:
		return app.Telnet
	case 25, 587:
		return app.SMTP
	case 53:
		return app.DNS
	case 80, 8080:
		return app.HTTP
	case 88:
		return app.Kerberos
	case 110:
		return app.POP3
	case 139:
		return app.NetBIOS
	case 143:
		return app.IMAP
	case 389:
		return app.LDAP
	case 443:
		return app.TLS
	case 445:
		return app.SMBv23
	case 465:
		return app.SMTPS
	case 502:
		return app.Modbus
	case 554:
		return app.RTSP
	case 853:
		return app.DoHDoT
	case 993:
		return app.IMAPS
	case 995:
		return app.POPS
	case 1080:
		return app.SOCKS
	case 1194:
		return app.OpenVPN
	case 1723:
		return app.PPTP
	case 1883:
		return app.MQTT
	case 3306:
		return app.MySQL
	case 3389:
		return app.RDP
	case 5060, 5061:
		return app.SIP
	case 5222, 5269:
		return app.Jabber
	case 5432:
		return app.PostgreSQL
	case 5900:
		return app.VNC
	case 6379:
		return app.Redis
	case 6881:
		return app.BitTorrent
	case 9042:
		return app.Cassandra
	case 20000:
		return app.DNP3
	}
	return app.Unknown
}

func udpPorts(port uint16) app.ID {
	switch port {
	case 53:
		return app.DNS
	case 67, 68:
		return app.DHCP
	case 69:
		return app.TFTP
	case 88:
		return app.Kerberos
	case 123:
		return app.NTP
	case 137, 138:
		return app.NetBIOS
	case 161, 162:
		return app.SNMP
	case 389:
		return app.LDAP
	case 443:
		return app.QUIC
	case 500, 4500:
		return app.IPsec
	case 514:
		return app.Syslog
	case 546, 547:
		return app.DHCPv6
	case 1194:
		return app.OpenVPN
	case 1812, 1813:
		return app.Radius
	case 1900:
		return app.SSDP
	case 2055, 2056, 4739, 9995, 9996:
		return app.NetFlow
	case 2152:
		return app.GTP
	case 3478:
		return app.STUN
	case 3544:
		return app.Teredo
	case 5060:
		return app.SIP
	case 5353:
		return app.MDNS
	case 5355:
		return app.LLMNR
	case 6343:
		return app.SFlow
	case 51820:
		return app.WireGuard
	}
	return app.Unknown
}
