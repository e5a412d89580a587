package probetest

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestCasesAreUniqueAndDeterministic(t *testing.T) {
	a, b := Cases(), Cases()
	if len(a) != len(b) {
		t.Fatalf("two calls gave %d and %d cases", len(a), len(b))
	}
	names := make(map[string]bool)
	name := regexp.MustCompile(`^[a-z0-9][a-z0-9./_-]*$`)
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Frame, b[i].Frame) {
			t.Errorf("case %d differs between calls: %s, %s", i, a[i].Name, b[i].Name)
		}
		if names[a[i].Name] {
			t.Errorf("two cases are named %s", a[i].Name)
		}
		names[a[i].Name] = true
		if !name.MatchString(a[i].Name) {
			t.Errorf("case name %q is not lowercase words and slashes", a[i].Name)
		}
	}
	// Frames handed out are the caller's: changing one changes no other.
	a[0].Frame[0] ^= 0xff
	if c := Cases(); bytes.Equal(a[0].Frame, c[0].Frame) {
		t.Error("Cases shares frame memory between calls")
	}
}

// TestCasesUseOnlyTestAddresses decodes every frame gopacket can and
// checks each IP header it finds, inner ones included.
func TestCasesUseOnlyTestAddresses(t *testing.T) {
	v4 := netip.MustParsePrefix("198.18.0.0/15")
	v6 := netip.MustParsePrefix("2001:db8::/32")
	checked := 0
	for _, c := range Cases() {
		pkt := gopacket.NewPacket(c.Frame, layers.LayerTypeEthernet, gopacket.Default)
		for _, l := range pkt.Layers() {
			var addrs [][]byte
			switch ip := l.(type) {
			case *layers.IPv4:
				addrs = [][]byte{ip.SrcIP, ip.DstIP}
			case *layers.IPv6:
				addrs = [][]byte{ip.SrcIP, ip.DstIP}
			default:
				continue
			}
			for _, raw := range addrs {
				a, ok := netip.AddrFromSlice(raw)
				if !ok {
					continue
				}
				a = a.Unmap()
				checked++
				if !v4.Contains(a) && !v6.Contains(a) && !a.IsUnspecified() {
					t.Errorf("%s: address %s is outside 198.18.0.0/15 and 2001:db8::/32", c.Name, a)
				}
			}
		}
	}
	if checked < 200 {
		t.Errorf("only %d addresses checked", checked)
	}
}

// TestCasesHaveValidChecksums: frames built whole carry correct IPv4 and
// transport checksums (they are built with ComputeChecksums), so a
// datapath that checked them would still take them.
func TestCasesHaveValidChecksums(t *testing.T) {
	for _, name := range []string{"ipv4/tcp", "ipv4/udp", "ipv6/tcp", "vlan-8100/ipv4/tcp", "ipv4-options-ihl6/tcp"} {
		frame := caseFrame(t, name)
		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			hdr := append([]byte(nil), ip.Contents...)
			if sum := onesComplement(hdr); sum != 0xffff {
				t.Errorf("%s: IPv4 header checksum does not verify (sum %#04x)", name, sum)
			}
		}
		if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			if tcp.Checksum == 0 {
				t.Errorf("%s: TCP checksum left 0", name)
			}
		}
	}
}

func onesComplement(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func caseFrame(t *testing.T, name string) []byte {
	t.Helper()
	for _, c := range Cases() {
		if c.Name == name {
			return c.Frame
		}
	}
	t.Fatalf("no case %q", name)
	return nil
}

// TestCutCasesAreEveryPrefix: each cut family holds the frame cut at every
// offset from 0 to its length - 1, each no longer than its name says.
func TestCutCasesAreEveryPrefix(t *testing.T) {
	families := make(map[string][][]byte)
	for _, c := range Cases() {
		rest, ok := strings.CutPrefix(c.Name, "cut/")
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, "/at-")
		if i < 0 {
			t.Fatalf("cut case %q has no /at-N", c.Name)
		}
		families[rest[:i]] = append(families[rest[:i]], c.Frame)
	}
	if len(families) < 5 {
		t.Fatalf("%d cut families, want at least 5", len(families))
	}
	for fam, frames := range families {
		longest := frames[len(frames)-1]
		for n, f := range frames {
			if len(f) != n {
				t.Errorf("%s: case %d holds %d bytes", fam, n, len(f))
				continue
			}
			if !bytes.Equal(f, longest[:n]) {
				t.Errorf("%s at %d: not a prefix of the frame", fam, n)
			}
			if n > 0 && n+1 < len(frames) { // each cut owns its bytes
				before := frames[n+1][n-1]
				f[n-1] ^= 0xff
				if frames[n+1][n-1] != before {
					t.Errorf("%s at %d: shares memory with the next cut", fam, n)
				}
				f[n-1] ^= 0xff
			}
		}
	}
}
