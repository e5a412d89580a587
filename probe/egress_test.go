package probe

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/probetest"
)

// skbContext is the __sk_buff BPF_PROG_TEST_RUN builds the test skb from:
// the interface the packet came in by, and a GSO packet's segments. The
// offsets are linux/bpf.h's; the packet leaves by loopback.
func skbContext(ingress uint32, gsoSegs, gsoSize uint32) []byte {
	const (
		offIngressIfindex = 36
		offGSOSegs        = 164
		offGSOSize        = 176
		sizeofSkBuff      = 192
	)
	b := make([]byte, sizeofSkBuff)
	binary.NativeEndian.PutUint32(b[offIngressIfindex:], ingress)
	binary.NativeEndian.PutUint32(b[offGSOSegs:], gsoSegs)
	binary.NativeEndian.PutUint32(b[offGSOSize:], gsoSize)
	return b
}

// maxSkbFrame is the most BPF_PROG_TEST_RUN takes for an skb (a page less
// headroom and skb_shared_info).
const maxSkbFrame = 4096 - 66 - 320

// runnableSkb says whether BPF_PROG_TEST_RUN makes an skb of the frame: it
// wants more than an Ethernet header and, for an untagged IPv4 or IPv6
// frame, the whole IP header (an skb the stack sends always has it).
func runnableSkb(frame []byte) bool {
	if len(frame) <= 14 || len(frame) > maxSkbFrame {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		return len(frame) >= 14+20
	case 0x86dd:
		return len(frame) >= 14+40
	}
	return true
}

// egressIn is the input interface the egress tests give their packets.
const egressIn = 7

func runEgress(t testing.TB, p *Probe, frame []byte, ctx []byte) {
	t.Helper()
	ret, err := p.EgressProgram().Run(&ebpf.RunOptions{Data: frame, Context: ctx})
	if err != nil {
		t.Fatalf("run tc_egress on %d-byte frame: %v", len(frame), err)
	}
	if int32(ret) != -1 { // TC_ACT_UNSPEC: the packet goes on
		t.Fatalf("tc_egress returned %d, want TC_ACT_UNSPEC (-1)", int32(ret))
	}
}

// egressKey is what tc_egress makes of the reference parser's key.
func egressKey(k bpf.FlowKey) bpf.FlowKey {
	k.Ifindex = egressIn
	k.Direction = uint8(bpf.DirEgress)
	return k
}

// TestEgressMatchesReferenceOnGeneratedCases: tc_egress counts every
// generated case as the reference parser (and xdp_flow) does, keyed with
// direction egress and the packet's input interface, and says it leaves
// by the interface the program runs on.
func TestEgressMatchesReferenceOnGeneratedCases(t *testing.T) {
	p := openProbe(t, Options{})
	var before Stats
	reasons := map[bpf.StatReason]int{}
	for _, c := range probetest.Cases() {
		if !runnableSkb(c.Frame) {
			continue
		}
		runEgress(t, p, c.Frame, skbContext(egressIn, 0, 0))
		deltas, stats, err := p.Harvest(nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := ParseEthernet(c.Frame)
		reasons[ref.Reason]++
		for r := range stats {
			want := uint64(0)
			if bpf.StatReason(r) == ref.Reason || (bpf.StatReason(r) == bpf.StatNoL4 && ref.Reason == bpf.StatAccounted && ref.NoL4) {
				want = 1
			}
			if got := stats[r].Packets - before[r].Packets; got != want {
				t.Errorf("%s: stat %d counted %d, want %d", c.Name, r, got, want)
			}
		}
		before = stats
		if ref.Reason != bpf.StatAccounted {
			if len(deltas) != 0 {
				t.Errorf("%s: outcome %d, yet flows %+v", c.Name, ref.Reason, deltas)
			}
			continue
		}
		want := cache.Delta{Key: egressKey(ref.Key), Packets: 1, Bytes: uint64(ref.IPBytes), TCPFlags: ref.TCPFlags,
			Out: cache.OutIface, OutIfIndex: loIfindex}
		if len(deltas) != 1 {
			t.Fatalf("%s: %d flows, want 1", c.Name, len(deltas))
		}
		got := deltas[0]
		got.FirstNs, got.LastNs = 0, 0
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.Name, got, want)
		}
	}
	if reasons[bpf.StatAccounted] == 0 || reasons[bpf.StatTruncated] == 0 || reasons[bpf.StatMalformed] == 0 {
		t.Errorf("the cases reach too few outcomes: %v", reasons)
	}
}

// TestEgressCountsGSOSegments: a GSO packet is the segments it leaves as,
// each with its own IP and transport headers.
func TestEgressCountsGSOSegments(t *testing.T) {
	p := openProbe(t, Options{})
	payload := bytes.Repeat([]byte{'x'}, 3000)
	for _, tc := range []struct {
		name     string
		frame    []byte
		segs     uint32
		hdrBytes uint64 // IP + transport header of one segment
	}{
		{"tcp", segment(t, true, false, true, payload), 3, 20 + 20},
		{"tcp, 1 segment", segment(t, true, false, true, payload[:100]), 1, 20 + 20},
		{"udp", udpFrame(t, payload), 4, 20 + 8},
	} {
		runEgress(t, p, tc.frame, skbContext(egressIn, tc.segs, 1400))
		deltas, _, err := p.Harvest(nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := ParseEthernet(tc.frame)
		want := uint64(ref.IPBytes) + uint64(tc.segs-1)*tc.hdrBytes
		if len(deltas) != 1 || deltas[0].Packets != uint64(tc.segs) || deltas[0].Bytes != want {
			t.Errorf("%s: flows %+v, want %d packets of %d bytes", tc.name, deltas, tc.segs, want)
		}
	}
}

func udpFrame(t *testing.T, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	udp := &layers.UDP{SrcPort: 40001, DstPort: 40002}
	udp.SetNetworkLayerForChecksum(ip)
	return payloadFrame(t, eth, ip, udp, gopacket.Payload(payload))
}

// TestEgressSamplesWhatTheReferenceLocates: with classification on, the
// first packet of each flow tc_egress sees hands out the payload head and
// length the reference parser locates, as xdp_flow's does.
func TestEgressSamplesWhatTheReferenceLocates(t *testing.T) {
	p := openProbe(t, Options{Classify: true})
	r := openSamples(t, p)
	checked := 0
	for _, c := range probetest.Cases() {
		if !runnableSkb(c.Frame) {
			continue
		}
		ref, pay := ParseFramePayload(layers.LinkTypeEthernet, c.Frame)
		runEgress(t, p, c.Frame, skbContext(egressIn, 0, 0))
		got := pending(t, r)
		if _, _, err := p.Harvest(nil); err != nil {
			t.Fatal(err)
		}
		if ref.Reason != bpf.StatAccounted || (ref.Key.Proto != pTCP && ref.Key.Proto != pUDP) {
			if len(got) != 0 {
				t.Errorf("%s: samples %+v of a packet with no TCP/UDP flow", c.Name, got)
			}
			continue
		}
		key := egressKey(ref.Key)
		if len(got) != 1 || got[0].Key != key || !got[0].First || got[0].PayloadLen != pay.Len ||
			!bytes.Equal(got[0].Head, pay.Head(c.Frame, 512)) {
			t.Errorf("%s: samples %+v, want one first sample of %d bytes, head %q", c.Name, got, pay.Len, pay.Head(c.Frame, 512))
		}
		if err := p.ForgetSampling([]bpf.FlowKey{key}); err != nil {
			t.Fatal(err)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d TCP/UDP cases", checked)
	}
}

// TestAttachEgressCountsWhatLeaves attaches tc_egress to a veth, with a
// TCX link and with the clsact filter older kernels get, sends frames out
// of it, and checks they are counted once each as egress by that
// interface, and that Close takes the hook away.
func TestAttachEgressCountsWhatLeaves(t *testing.T) {
	for _, clsact := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcx", true: "clsact"}[clsact], func(t *testing.T) {
			ns1, ns2 := probetest.NewNetNS(t), probetest.NewNetNS(t)
			probetest.VethPair(t, ns1, "probe0", ns2, "peer0")
			p := openProbe(t, Options{})
			var a *Attachment
			err := ns1.Do(func() (err error) {
				a, err = p.attachEgress("probe0", clsact)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]Hook{false: HookTCX, true: HookClsact}[clsact]; a.Hook != want || !a.Egress {
				t.Fatalf("attachment %+v, want egress by %s", a, want)
			}
			const n = 25
			frame := segment(t, true, false, true, []byte("hello"))
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = frame
			}
			if err := ns1.SendFrames("probe0", frames); err != nil {
				t.Fatal(err)
			}
			deltas, _, err := p.Harvest(nil)
			if err != nil {
				t.Fatal(err)
			}
			ref := ParseEthernet(frame)
			want := ref.Key
			want.Direction = uint8(bpf.DirEgress) // input 0: this host sent it
			if len(deltas) != 1 || deltas[0].Key != want || deltas[0].Packets != n ||
				deltas[0].Bytes != n*uint64(ref.IPBytes) || deltas[0].Out != cache.OutIface || deltas[0].OutIfIndex != uint32(a.Index) {
				t.Fatalf("flows %+v, want %d packets of %+v out of ifindex %d", deltas, n, want, a.Index)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			var filters []netlink.Filter
			ns1.Do(func() (err error) {
				filters, err = netlink.FilterList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: a.Index}}, netlink.HANDLE_MIN_EGRESS)
				return err
			})
			if len(filters) != 0 {
				t.Errorf("after Close: egress filters %+v", filters)
			}
			var tcx *link.QueryResult
			ns1.Do(func() (err error) {
				tcx, err = link.QueryPrograms(link.QueryOptions{Target: a.Index, Attach: ebpf.AttachTCXEgress})
				return err
			})
			if tcx == nil || len(tcx.Programs) != 0 {
				t.Errorf("after Close: TCX egress programs %+v", tcx)
			}
		})
	}
}
