package probe

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/probetest"
)

// loIfindex is what BPF_PROG_TEST_RUN reports as the ingress interface.
const loIfindex = 1

func openProbe(t *testing.T, opts Options) *Probe {
	t.Helper()
	probetest.RequireRoot(t)
	p, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func run(t testing.TB, p *Probe, frame []byte) uint32 {
	t.Helper()
	ret, err := p.Program().Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("run program on %d-byte frame: %v", len(frame), err)
	}
	return ret
}

func tcpFrame(t testing.TB, src, dst string, sport, dport uint16, syn, ack bool, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, TOS: 0x28, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Window: 1000}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(make([]byte, payload)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func v4key(src, dst string, sport, dport uint16, proto, tos uint8) bpf.FlowKey {
	k := bpf.FlowKey{SrcPort: sport, DstPort: dport, Proto: proto, Tos: tos, IpVersion: 4, Ifindex: loIfindex}
	k.SrcAddr = netip.MustParseAddr("::ffff:" + src).As16()
	k.DstAddr = netip.MustParseAddr("::ffff:" + dst).As16()
	return k
}

func byKey(deltas []cache.Delta) map[bpf.FlowKey]cache.Delta {
	m := make(map[bpf.FlowKey]cache.Delta, len(deltas))
	for _, d := range deltas {
		if _, dup := m[d.Key]; dup {
			panic("duplicate key in one harvest")
		}
		m[d.Key] = d
	}
	return m
}

func TestHarvestReturnsCountedFlowsAndEmptiesSlot(t *testing.T) {
	p := openProbe(t, Options{})
	syn := tcpFrame(t, "198.18.0.1", "198.18.0.2", 40000, 23, true, false, 0)
	data := tcpFrame(t, "198.18.0.1", "198.18.0.2", 40000, 23, false, true, 100)
	reply := tcpFrame(t, "198.18.0.2", "198.18.0.1", 23, 40000, true, true, 0)
	for _, f := range [][]byte{syn, data, data, reply} {
		if ret := run(t, p, f); ret != uint32(ActionPass) {
			t.Fatalf("action = %d, want XDP_PASS", ret)
		}
	}
	deltas, stats, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := byKey(deltas)
	fwd := got[v4key("198.18.0.1", "198.18.0.2", 40000, 23, 6, 0x28)]
	rev := got[v4key("198.18.0.2", "198.18.0.1", 23, 40000, 6, 0x28)]
	if len(got) != 2 || fwd.Packets != 3 || fwd.Bytes != 40+140+140 || fwd.TCPFlags != 0x12 ||
		rev.Packets != 1 || rev.Bytes != 40 || rev.TCPFlags != 0x12 {
		t.Fatalf("harvest = %+v", deltas)
	}
	if fwd.FirstNs == 0 || fwd.LastNs < fwd.FirstNs {
		t.Errorf("times first=%d last=%d", fwd.FirstNs, fwd.LastNs)
	}
	if stats[bpf.StatAccounted].Packets != 4 || stats[bpf.StatAccounted].Bytes != 360 || stats.Total() != 4 {
		t.Errorf("stats = %+v", stats)
	}

	// Both slots are now empty: nothing is harvested twice.
	for range 2 {
		deltas, _, err = p.Harvest(deltas[:0])
		if err != nil || len(deltas) != 0 {
			t.Fatalf("second harvest = %v, %v; want nothing", deltas, err)
		}
	}
}

func TestXDPDropsWhenConfigured(t *testing.T) {
	p := openProbe(t, Options{Action: ActionDrop})
	if ret := run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 1, 2, true, false, 0)); ret != uint32(ActionDrop) {
		t.Fatalf("action = %d, want XDP_DROP", ret)
	}
	arp := make([]byte, 60)
	arp[12], arp[13] = 0x08, 0x06
	if ret := run(t, p, arp); ret != uint32(ActionDrop) {
		t.Fatalf("action on non-IP = %d, want XDP_DROP", ret)
	}
	_, stats, _ := p.Harvest(nil)
	if stats[bpf.StatNotIP].Packets != 1 || stats[bpf.StatNotIP].Bytes != 60 {
		t.Errorf("not-ip stats = %+v", stats[bpf.StatNotIP])
	}
}

func TestXDPMasksKeyFields(t *testing.T) {
	fields, err := ParseKeyFields("proto")
	if err != nil {
		t.Fatal(err)
	}
	p := openProbe(t, Options{KeyFields: fields})
	run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 1000, 80, true, false, 0))
	run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 1001, 443, true, false, 0))
	deltas, _, _ := p.Harvest(nil)
	want := v4key("198.18.0.1", "198.18.0.2", 0, 0, 6, 0)
	if len(deltas) != 1 || deltas[0].Key != want || deltas[0].Packets != 2 {
		t.Fatalf("harvest = %+v, want one flow %+v with 2 packets", deltas, want)
	}
}

func TestDeterministicSamplingKeepsOneInN(t *testing.T) {
	p := openProbe(t, Options{SampleMode: bpf.SampleDeterministic, SampleRate: 4})
	frame := tcpFrame(t, "198.18.0.1", "198.18.0.2", 1000, 80, false, true, 10)
	for range 40 {
		run(t, p, frame)
	}
	deltas, stats, _ := p.Harvest(nil)
	if len(deltas) != 1 || deltas[0].Packets != 10 {
		t.Fatalf("harvest = %+v, want 10 sampled packets", deltas)
	}
	if stats[bpf.StatSampledOut].Packets != 30 || stats[bpf.StatAccounted].Packets != 10 {
		t.Errorf("stats = %+v", stats)
	}
}

func TestRandomSamplingKeepsAboutOneInN(t *testing.T) {
	p := openProbe(t, Options{SampleMode: bpf.SampleRandom, SampleRate: 10})
	frame := tcpFrame(t, "198.18.0.1", "198.18.0.2", 1000, 80, false, true, 10)
	const n = 20000
	if _, err := p.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: n}); err != nil {
		t.Fatal(err)
	}
	_, stats, _ := p.Harvest(nil)
	kept := stats[bpf.StatAccounted].Packets
	// Binomial(20000, 0.1): mean 2000, sd ≈ 42; 6 sd either side.
	if kept < 1750 || kept > 2250 || kept+stats[bpf.StatSampledOut].Packets != stats.Total() {
		t.Fatalf("kept %d of %d, stats %+v", kept, n, stats)
	}
}

// TestFullSlotOverflowsByPrefix: the flows a full slot turns away are
// counted into overflow records by protocol, interface and the source and
// destination /24, whose counts make up the total; only what the overflow
// map has no room for either is map full.
func TestFullSlotOverflowsByPrefix(t *testing.T) {
	p := openProbe(t, Options{MapEntries: MinMapEntries})
	// Every flow its own pair of /24s: 198.18.(i%256).1 → 198.19.(i/256).2.
	slot, overflow := int(MinMapEntries), int(OverflowEntries(MinMapEntries))
	const lost = 50
	frames := slot + overflow + lost + 100 // a hash map may take a few beyond max_entries
	for i := range frames {
		f := tcpFrame(t, fmt.Sprintf("198.18.%d.1", i%256), fmt.Sprintf("198.19.%d.2", i/256), 40000, 80, true, false, 0)
		run(t, p, f)
	}
	deltas, stats, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	var flows, overflowed, overflowRecs uint64
	for _, d := range deltas {
		if d.Key.Direction&bpf.FlowOverflow == 0 {
			flows += d.Packets
			continue
		}
		overflowed += d.Packets
		overflowRecs++
		src, dst := d.Key.SrcIP().As4(), d.Key.DstIP().As4()
		if src[3] != 0 || dst[3] != 0 || d.Key.SrcPort != 0 || d.Key.DstPort != 0 || d.Key.Proto != 6 || d.Key.Ifindex != loIfindex {
			t.Errorf("overflow key %+v: want /24 prefixes, no ports, TCP, the interface", d.Key)
		}
		if d.Bytes != 40*d.Packets {
			t.Errorf("overflow record %+v: %d bytes for %d packets of 40", d.Key, d.Bytes, d.Packets)
		}
	}
	full := stats[bpf.StatMapFull].Packets
	if flows != stats[bpf.StatAccounted].Packets || overflowed != stats[bpf.StatOverflow].Packets ||
		flows+overflowed+full != uint64(frames) || overflowRecs == 0 || full == 0 {
		t.Fatalf("%d packets in flows, %d in %d overflow records, %d map full; stats %+v; want %d in all, some of each",
			flows, overflowed, overflowRecs, full, stats, frames)
	}
	if overflowRecs < uint64(overflow) {
		t.Errorf("%d overflow records, want the overflow map full (%d)", overflowRecs, overflow)
	}
	// The next slot and its overflow map start empty, so the same flows fit again.
	run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 10000, 80, true, false, 0))
	deltas, _, _ = p.Harvest(deltas[:0])
	if len(deltas) != 1 || deltas[0].Key.Direction != 0 {
		t.Fatalf("after harvest: %+v, want 1 flow", deltas)
	}
}

// TestHarvestWhileRunningLosesNothing flips and drains slots while other
// goroutines keep running the program: the summed deltas must equal what
// was sent, to the packet.
func TestHarvestWhileRunningLosesNothing(t *testing.T) {
	p := openProbe(t, Options{})
	const workers, rounds, repeat = 2, 100, 50
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = tcpFrame(t, "198.18.0.1", "198.18.1.1", uint16(2000+i), 80, false, true, i)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				f := frames[(w+r)%len(frames)]
				if _, err := p.Program().Run(&ebpf.RunOptions{Data: f, Repeat: repeat}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	total := map[bpf.FlowKey]cache.Delta{}
	var deltas []cache.Delta
	collect := func() {
		var err error
		deltas, _, err = p.Harvest(deltas[:0])
		if err != nil {
			t.Error(err)
		}
		for _, d := range deltas {
			s := total[d.Key]
			s.Packets += d.Packets
			s.Bytes += d.Bytes
			total[d.Key] = s
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			collect()
		}
	}
	collect()
	var packets, bytes uint64
	for _, d := range total {
		packets += d.Packets
		bytes += d.Bytes
	}
	// Each Run with Repeat may run the program more than Repeat times when
	// interrupted, so the truth is the stats map, which counts every run.
	_, stats, _ := p.Harvest(nil)
	if packets < workers*rounds*repeat || packets != stats[bpf.StatAccounted].Packets || bytes != stats[bpf.StatAccounted].Bytes {
		t.Fatalf("harvested %d packets %d bytes; stats say %+v; at least %d were sent",
			packets, bytes, stats[bpf.StatAccounted], workers*rounds*repeat)
	}
}

func TestOptionsRejectOutOfRangeMapSize(t *testing.T) {
	for _, n := range []uint32{1, MinMapEntries - 1, MaxMapEntries + 1} {
		_, err := Open(Options{MapEntries: n})
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("map size %d: err = %v, want out of range", n, err)
		}
	}
}

func TestParseKeyFields(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bpf.KeyField
		bad  bool
	}{
		{in: "full", want: bpf.KeyAll},
		{in: "ip", want: bpf.KeySrcAddr | bpf.KeyDstAddr | bpf.KeyIfindex | bpf.KeyVLAN},
		{in: "src-addr,dst-port", want: bpf.KeySrcAddr | bpf.KeyDstPort},
		{in: "src-addr,bogus", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseKeyFields(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseKeyFields(%q) = %#x, %v", tc.in, got, err)
		}
	}
}

// TestClocksStampFlowsOnTheMonotonicClock: each clock stamps a flow within
// the moments around the run, read from user space on the same clock. The
// coarse BPF clock is the timekeeper's tick-time, which CLOCK_MONOTONIC_COARSE
// reads too; comparing it with the fine clock would need a tolerance, and a
// tick can be late by more than its nominal resolution on a tickless kernel.
func TestClocksStampFlowsOnTheMonotonicClock(t *testing.T) {
	now := func() uint64 {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		return uint64(ts.Nano())
	}
	for _, coarse := range []bool{false, true} {
		p := openProbe(t, Options{CoarseClock: coarse})
		before := now()
		run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 1, 2, true, false, 0))
		after := now()
		deltas, _, _ := p.Harvest(nil)
		if len(deltas) != 1 {
			t.Fatalf("coarse=%v: %d flows", coarse, len(deltas))
		}
		// The coarse clock is the monotonic clock as of the last tick:
		// never ahead of it, and behind by a tick (4 ms at HZ=250) or,
		// with a tick late on a busy machine, somewhat more — one run in
		// three here lagged 4.05 ms behind the coarse clock read before.
		// Its window is therefore the fine clock's, widened by a bound no
		// late tick reaches and far below what a wrong clock is off by.
		earliest := before
		if coarse {
			earliest -= uint64(coarseLagBound)
		}
		if d := deltas[0]; d.FirstNs < earliest || d.FirstNs > after || d.LastNs != d.FirstNs {
			t.Errorf("coarse=%v: stamped %d, run between %d and %d (monotonic)", coarse, d.FirstNs, before, after)
		}
	}
}

// coarseLagBound is how far behind the monotonic clock a coarse stamp may
// be: 25 ticks at HZ=250.
const coarseLagBound = 100 * time.Millisecond

// TestReadSlotLeavesTheSlotUntilCleared: the durable steps read an idle
// slot without emptying it, and ClearSlot removes exactly that.
func TestReadSlotLeavesTheSlotUntilCleared(t *testing.T) {
	p := openProbe(t, Options{})
	for i := range 3 {
		run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", uint16(1000+i), 80, true, false, 0))
	}
	active := p.ActiveSlotIndex()
	if _, err := p.ReadSlot(active, nil); err == nil {
		t.Fatal("ReadSlot of the active slot did not fail")
	}
	old, err := p.Flip()
	if err != nil || old != active || p.ActiveSlotIndex() == old {
		t.Fatalf("Flip = %d, %v; active now %d", old, err, p.ActiveSlotIndex())
	}
	run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 2000, 80, true, false, 0)) // into the new slot
	for range 2 {
		got, err := p.ReadSlot(old, nil)
		if err != nil || len(got) != 3 {
			t.Fatalf("ReadSlot = %d flows, %v; want the same 3 each time", len(got), err)
		}
	}
	if err := p.ClearSlot(old); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.ReadSlot(old, nil); len(got) != 0 {
		t.Fatalf("after ClearSlot: %d flows", len(got))
	}
	deltas, _, _ := p.Harvest(nil)
	if len(deltas) != 1 || deltas[0].Key.SrcPort != 2000 {
		t.Fatalf("next harvest = %+v, want only the flow counted after the flip", deltas)
	}
}

// TestSplitReadsReturnEveryFlowOnce fills a big slot, so that reading it
// is split among workers, and checks the durable read (twice), the clear
// and the drain each see every flow exactly once.
func TestSplitReadsReturnEveryFlowOnce(t *testing.T) {
	const slot, flows = 1 << 17, 100_000
	p := openProbe(t, Options{MapEntries: slot})
	keys := make([]bpf.FlowKey, flows)
	values := make([]bpf.FlowValue, flows*p.ncpu)
	for i := range keys {
		keys[i] = v4key("198.18.0.1", "198.19.0.1", uint16(i), uint16(i>>16), 17, 0)
		values[i*p.ncpu] = bpf.FlowValue{Packets: 1, Bytes: uint64(i), FirstNs: 1, LastNs: 1}
	}
	fill := func() {
		t.Helper()
		if n, err := p.slots[p.active].BatchUpdate(keys, values, nil); err != nil || n != flows {
			t.Fatalf("fill: %d of %d: %v", n, flows, err)
		}
	}
	check := func(what string, got []cache.Delta) {
		t.Helper()
		seen := make(map[bpf.FlowKey]bool, len(got))
		for _, d := range got {
			if seen[d.Key] {
				t.Fatalf("%s: %+v twice", what, d.Key)
			}
			seen[d.Key] = true
			if d.Bytes != uint64(d.Key.SrcPort)|uint64(d.Key.DstPort)<<16 {
				t.Fatalf("%s: %+v has %d bytes", what, d.Key, d.Bytes)
			}
		}
		if len(got) != flows {
			t.Fatalf("%s: %d flows, want %d", what, len(got), flows)
		}
	}
	fill()
	old, err := p.Flip()
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"first read", "second read"} {
		got, err := p.ReadSlot(old, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(what, got)
	}
	if err := p.ClearSlot(old); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.ReadSlot(old, nil); len(got) != 0 {
		t.Fatalf("after ClearSlot: %d flows", len(got))
	}
	fill()
	got, _, err := p.Harvest(nil)
	if err != nil {
		t.Fatal(err)
	}
	check("drain", got)
}

// TestFillSignalAsksForAHarvest: the datapath signals once when the active
// slot has taken FillSignal new flows, not before, and again only after a
// flip has given it a fresh slot.
func TestFillSignalAsksForAHarvest(t *testing.T) {
	p := openProbe(t, Options{MapEntries: MinMapEntries})
	signals, err := p.FillSignals()
	if err != nil {
		t.Fatal(err)
	}
	threshold := int(FillSignal(MinMapEntries))
	flows := func(from, n int) {
		for i := range n {
			run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", uint16(from+i), 80, true, false, 0))
		}
	}
	// A signal is in the ring once run returns; the reader passes it on
	// at once, so a long wait only guards a stalled machine, and a short
	// one suffices to see none came.
	wait := func(d time.Duration) bool {
		select {
		case <-signals:
			return true
		case <-time.After(d):
			return false
		}
	}
	signalled := func() bool { return wait(10 * time.Second) }
	noSignal := func() bool { return !wait(200 * time.Millisecond) }
	flows(10000, threshold-1)
	run(t, p, tcpFrame(t, "198.18.0.1", "198.18.0.2", 10000, 80, true, false, 0)) // not new
	if !noSignal() {
		t.Fatalf("signal after %d new flows, before %d", threshold-1, threshold)
	}
	if n, err := p.FillLevel(); err != nil || n != uint64(threshold-1) {
		t.Fatalf("fill level %d (%v), want %d", n, err, threshold-1)
	}
	flows(20000, 10)
	if !signalled() {
		t.Fatalf("no signal after %d new flows", threshold+9)
	}
	if !noSignal() {
		t.Fatal("a second signal for the same slot")
	}
	if _, _, err := p.Harvest(nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.FillLevel(); n != 0 {
		t.Fatalf("fill level %d after the flip, want 0", n)
	}
	flows(30000, threshold)
	if !signalled() {
		t.Fatal("no signal for the next slot")
	}
}
