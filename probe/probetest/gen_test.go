package probetest

import (
	"crypto/sha256"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/spanflow/spanflow/bpf"
)

// decodeKey keys a frame independently of the generator, with gopacket's
// decoders, and checks every checksum on the way.
func decodeKey(t *testing.T, frame []byte, ifindex uint32) (bpf.FlowKey, FlowTotals) {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	k := bpf.FlowKey{Ifindex: ifindex}
	var tot FlowTotals
	var tags []uint16
	var network gopacket.NetworkLayer
	var l4 bool // the transport header has been decoded
	type verifier interface {
		VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
	}
	verify := func(name string, v verifier) {
		err, res := v.VerifyChecksum()
		if err != nil || !res.Valid {
			t.Fatalf("%s checksum: %v %+v\n%s", name, err, res, pkt.Dump())
		}
	}
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *gopacket.DecodeFailure:
			// Random payload may fail to decode as DNS and the like; the
			// headers up to the transport must not.
			if !l4 {
				t.Fatalf("gopacket cannot decode a generated frame: %v\n%s", l.Error(), pkt.Dump())
			}
		case *layers.Dot1Q:
			tags = append(tags, l.VLANIdentifier)
		case *layers.IPv4:
			network = l
			k.IpVersion, k.Tos, k.Proto = 4, l.TOS, uint8(l.Protocol)
			k.SrcAddr = netip.AddrFrom4([4]byte(l.SrcIP.To4())).As16()
			k.DstAddr = netip.AddrFrom4([4]byte(l.DstIP.To4())).As16()
			tot.Bytes = uint64(l.Length)
			verify("ipv4", l)
		case *layers.IPv6:
			network = l
			k.IpVersion, k.Tos = 6, l.TrafficClass
			k.SrcAddr, k.DstAddr = [16]byte(l.SrcIP), [16]byte(l.DstIP)
			tot.Bytes = 40 + uint64(l.Length)
		case *layers.TCP:
			k.Proto = uint8(layers.IPProtocolTCP)
			k.SrcPort, k.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
			tot.TCPFlags = l.Contents[13]
			l.SetNetworkLayerForChecksum(network)
			verify("tcp", l)
			l4 = true
		case *layers.UDP:
			k.Proto = uint8(layers.IPProtocolUDP)
			k.SrcPort, k.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
			l.SetNetworkLayerForChecksum(network)
			verify("udp", l)
			l4 = true
		case *layers.ICMPv4:
			k.Proto = uint8(layers.IPProtocolICMPv4)
			k.DstPort = uint16(l.TypeCode)
			verify("icmp", l)
			l4 = true
		case *layers.ICMPv6:
			k.Proto = uint8(layers.IPProtocolICMPv6)
			k.DstPort = uint16(l.TypeCode)
			l.SetNetworkLayerForChecksum(network)
			verify("icmpv6", l)
			l4 = true
		}
	}
	if !l4 {
		t.Fatalf("no transport header decoded\n%s", pkt.Dump())
	}
	if len(tags) > 2 {
		t.Fatalf("%d VLAN tags", len(tags))
	}
	if len(tags) > 0 {
		k.VlanId = tags[0]
	}
	if len(tags) > 1 {
		k.InnerVlanId = tags[1]
	}
	tot.Packets = 1
	return k, tot
}

func inTestNets(a [16]byte) bool {
	ip := netip.AddrFrom16(a).Unmap()
	return netip.MustParsePrefix("198.18.0.0/15").Contains(ip) || netip.MustParsePrefix("2001:db8::/32").Contains(ip)
}

func TestWriteCaptureMatchesItsGroundTruth(t *testing.T) {
	const ifindex = 7
	cfg := GenConfig{Packets: 60000, Flows: 6000, Seed: 1, Ifindex: ifindex}
	c, err := WriteCapture(filepath.Join(t.TempDir(), "gen.pcap"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != cfg.Packets || len(c.Flows) != cfg.Flows {
		t.Fatalf("capture has %d packets in %d flows, want %d in %d", c.Packets, len(c.Flows), cfg.Packets, cfg.Flows)
	}

	f, err := os.Open(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	got := map[bpf.FlowKey]FlowTotals{}
	var frames int
	var frameBytes, ipBytes uint64
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.CaptureLength != ci.Length || len(data) < 60 || len(data) > 1514+8 {
			t.Fatalf("frame %d: %d of %d bytes captured", frames, ci.CaptureLength, ci.Length)
		}
		k, tot := decodeKey(t, data, ifindex)
		if !inTestNets(k.SrcAddr) || !inTestNets(k.DstAddr) {
			t.Fatalf("frame %d: %v → %v is outside 198.18.0.0/15 and 2001:db8::/32", frames, k.SrcIP(), k.DstIP())
		}
		s := got[k]
		s.Packets++
		s.Bytes += tot.Bytes
		s.TCPFlags |= tot.TCPFlags
		got[k] = s
		frames++
		frameBytes += uint64(len(data))
		ipBytes += tot.Bytes
	}
	if frames != c.Packets || frameBytes != c.FrameBytes || ipBytes != c.IPBytes {
		t.Errorf("file: %d frames, %d frame bytes, %d IP bytes; capture says %d, %d, %d",
			frames, frameBytes, ipBytes, c.Packets, c.FrameBytes, c.IPBytes)
	}
	if diff := cmp.Diff(c.Flows, got); diff != "" {
		t.Fatalf("ground truth differs from the decoded file (-truth +decoded):\n%s", diff)
	}

	// Every feature the capture promises is there in a fair share.
	for feature, atLeast := range map[string]float64{
		"ipv4": 0.5, "ipv6": 0.15, "tcp": 0.3, "udp": 0.15, "icmp": 0.03, "icmpv6": 0.01,
		"802.1q": 0.05, "qinq": 0.003, "ipv4-options": 0.01, "ipv6-hop-by-hop": 0.003, "padded": 0.05,
	} {
		if share := float64(c.Frames[feature]) / float64(c.Packets); share < atLeast {
			t.Errorf("%s: %.3f of frames, want ≥ %.3f (mix %v)", feature, share, atLeast, c.Frames)
		}
	}
	var flags uint8
	var single, big int
	for _, tot := range c.Flows {
		flags |= tot.TCPFlags
		if tot.Packets == 1 {
			single++
		}
		if tot.Packets >= 100 {
			big++
		}
	}
	if flags != 0xff || single == 0 || big == 0 {
		t.Errorf("flags seen %#x, %d one-packet flows, %d flows of ≥ 100 packets; want all flags and both kinds", flags, single, big)
	}
}

func TestWriteCaptureIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	digest := func(name string, seed uint64) [32]byte {
		c, err := WriteCapture(filepath.Join(dir, name), GenConfig{Packets: 5000, Flows: 500, Seed: seed, Ifindex: 3})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(c.Path)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	a, b, other := digest("a", 42), digest("b", 42), digest("c", 43)
	if a != b {
		t.Error("two captures from the same seed differ")
	}
	if a == other {
		t.Error("captures from different seeds are identical")
	}
}

func TestWriteCaptureRejectsMoreFlowsThanPackets(t *testing.T) {
	if _, err := WriteCapture(filepath.Join(t.TempDir(), "x"), GenConfig{Packets: 10, Flows: 11}); err == nil {
		t.Fatal("11 flows in 10 packets: no error")
	}
}
