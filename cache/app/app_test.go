package app

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spanflow/spanflow/probe/probetest"
)

// TestIDsMatchNDPIPrintedNames checks the constants against numbers and
// names as nDPI 4.2 printed them for real flows (ndpi-labels.tsv), so a
// mistyped constant fails here rather than in a collector.
func TestIDsMatchNDPIPrintedNames(t *testing.T) {
	for _, tc := range []struct {
		id   ID
		name string
	}{
		{Unknown, "Unknown"}, {FTPControl, "FTP_CONTROL"}, {POP3, "POP3"}, {SMTP, "SMTP"},
		{IMAP, "IMAP"}, {DNS, "DNS"}, {HTTP, "HTTP"}, {MDNS, "MDNS"}, {NTP, "NTP"},
		{NetBIOS, "NetBIOS"}, {SSDP, "SSDP"}, {SNMP, "SNMP"}, {SMBv1, "SMBv1"},
		{Syslog, "Syslog"}, {DHCP, "DHCP"}, {PostgreSQL, "PostgreSQL"}, {MySQL, "MySQL"},
		{DTLS, "DTLS"}, {Gnutella, "Gnutella"}, {BitTorrent, "BitTorrent"}, {SMBv23, "SMBv23"},
		{Modbus, "Modbus"}, {RTSP, "RTSP"}, {IMAPS, "IMAPS"}, {Jabber, "Jabber"}, {VRRP, "VRRP"},
		{Telnet, "Telnet"}, {STUN, "STUN"}, {IPsec, "IPsec"}, {GRE, "GRE"}, {ICMP, "ICMP"},
		{IGMP, "IGMP"}, {SCTP, "SCTP"}, {RTP, "RTP"}, {RDP, "RDP"}, {TLS, "TLS"}, {SSH, "SSH"},
		{TFTP, "TFTP"}, {SIP, "SIP"}, {ICMPv6, "ICMPV6"}, {DHCPv6, "DHCPV6"}, {Kerberos, "Kerberos"},
		{LDAP, "LDAP"}, {NetFlow, "NetFlow"}, {SFlow, "sFlow"}, {LLMNR, "LLMNR"}, {OpenVPN, "OpenVPN"},
		{RTCP, "RTCP"}, {SOCKS, "SOCKS"}, {Redis, "Redis"}, {QUIC, "QUIC"}, {WireGuard, "WireGuard"},
		{Teredo, "Teredo"}, {MQTT, "MQTT"}, {DNP3, "DNP3"}, {Cassandra, "Cassandra"},
	} {
		if got := tc.id.String(); got != tc.name {
			t.Errorf("ID %d: String() = %q, want %q", tc.id, got, tc.name)
		}
		if got, ok := Lookup(strings.ToLower(tc.name)); !ok || got != tc.id {
			t.Errorf("Lookup(%q) = %d, %v; want %d", tc.name, got, ok, tc.id)
		}
	}
}

// TestTableAgreesWithNDPILabels reads every name.id pair nDPI 4.2 printed
// in the real-capture labels and requires the table to give the same.
func TestTableAgreesWithNDPILabels(t *testing.T) {
	f, err := os.Open(filepath.Join(probetest.RealCapturesDir(t), "ndpi-labels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "pcap\t") {
			continue
		}
		col := strings.Split(line, "\t")
		if len(col) < 8 {
			continue
		}
		names, ids := strings.Split(col[6], "."), strings.Split(col[7], ".")
		if len(names) != len(ids) {
			continue
		}
		for i := range names {
			n, err := strconv.Atoi(ids[i])
			if err != nil {
				t.Fatalf("bad id %q in %q", ids[i], line)
			}
			if got := ID(n).String(); got != names[i] {
				t.Errorf("ID %d: String() = %q, nDPI printed %q", n, got, names[i])
			}
			seen++
		}
	}
	if seen < 1000 {
		t.Fatalf("only %d labels read", seen)
	}
}

func TestApplicationIDRoundTrip(t *testing.T) {
	b := HTTP.ApplicationID()
	if b != [3]byte{22, 0, 7} {
		t.Fatalf("HTTP.ApplicationID() = % x, want 16 00 07", b)
	}
	for _, tc := range []struct {
		in   []byte
		want ID
		ok   bool
	}{
		{[]byte{22, 0, 91}, TLS, true},
		{[]byte{22, 91}, TLS, true},
		{[]byte{22, 0, 0, 0, 188}, QUIC, true},
		{[]byte{3, 0, 80}, Unknown, false}, // IANA-L4 port 80, not an nDPI id
		{[]byte{22}, Unknown, false},
		{[]byte{22, 1, 0, 0, 0}, Unknown, false},
	} {
		got, ok := ParseApplicationID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseApplicationID(% x) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAllListsNamesOnceWithDescriptions(t *testing.T) {
	all := All()
	if len(all) < 200 || all[0].ID != Unknown {
		t.Fatalf("All() has %d rows starting at %v", len(all), all[0])
	}
	seen := map[string]bool{}
	for i, e := range all {
		if seen[e.Name] {
			t.Errorf("name %q twice", e.Name)
		}
		seen[e.Name] = true
		if i > 0 && e.ID <= all[i-1].ID {
			t.Errorf("not sorted at %d", e.ID)
		}
		if e.Description == "" {
			t.Errorf("%s: empty description", e.Name)
		}
	}
	if HTTP.Description() != "Hypertext Transfer Protocol" {
		t.Errorf("HTTP description %q", HTTP.Description())
	}
	if got := ID(999).String(); got != "Unknown(999)" {
		t.Errorf("ID(999) = %q", got)
	}
}
