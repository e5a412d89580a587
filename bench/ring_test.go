package bench

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/bpf/benchprog"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/conversations"
	"github.com/spanflow/spanflow/probe/probetest"
)

const (
	// ringBurst is how many new flows one test run makes (xdp_next_flow,
	// repeat ringBurst): 4096 samples, 2.4 MB of the default 8 MiB ring.
	ringBurst = 4096
	// ringFlows bounds one measurement: the flow slot holds them all
	// (no harvest runs beside it).
	ringFlows = 100 * ringBurst
	// mixHeads bounds how many distinct payload heads the mix takes from
	// the real captures.
	mixHeads = 4096
)

// realMix returns IPv4 Ethernet frames, one per distinct first payload
// packet of a flow direction (TCP or UDP) in the real captures, rebuilt
// with their ports and payload (IPv6 ones as IPv4: xdp_next_flow needs
// IPv4 without options) and cut at 1024 payload bytes.
func realMix(b *testing.B) [][]byte {
	b.Helper()
	dir := probetest.RealCapturesDir(b)
	seen := map[string]bool{}
	var frames [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || len(frames) >= mixHeads ||
			!(strings.HasSuffix(path, ".pcap") || strings.HasSuffix(path, ".pcapng")) {
			return err
		}
		c, err := probe.OpenCapture(path)
		if err != nil {
			return nil // not a capture this reader takes
		}
		defer c.Close()
		for len(frames) < mixHeads {
			fr, err := c.Next()
			if err != nil {
				return nil
			}
			pkt := gopacket.NewPacket(fr.Data, fr.LinkType, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
			nl, tl := pkt.NetworkLayer(), pkt.TransportLayer()
			if nl == nil || tl == nil || len(tl.LayerPayload()) == 0 {
				continue
			}
			var l4 gopacket.SerializableLayer
			var proto layers.IPProtocol
			switch t := tl.(type) {
			case *layers.TCP:
				l4, proto = &layers.TCP{SrcPort: t.SrcPort, DstPort: t.DstPort, ACK: true, PSH: true, Window: 1000}, layers.IPProtocolTCP
			case *layers.UDP:
				l4, proto = &layers.UDP{SrcPort: t.SrcPort, DstPort: t.DstPort}, layers.IPProtocolUDP
			default:
				continue
			}
			id := string(nl.NetworkFlow().Src().Raw()) + string(nl.NetworkFlow().Dst().Raw()) +
				string(tl.TransportFlow().Src().Raw()) + string(tl.TransportFlow().Dst().Raw()) + proto.String()
			if seen[id] {
				continue
			}
			seen[id] = true
			payload := tl.LayerPayload()
			payload = bytes.Clone(payload[:min(len(payload), 1024)])
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{198, 18, 0, 2}}
			stack := []gopacket.SerializableLayer{
				&layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, l4, gopacket.Payload(payload)}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, stack...); err != nil {
				return err
			}
			frames = append(frames, bytes.Clone(buf.Bytes()))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(frames) == 0 {
		b.Skipf("no TCP or UDP payload in the real captures under %s", dir)
	}
	return frames
}

// ringRun is what one measurement of the sample ring saw.
type ringRun struct {
	produced, read, dropped uint64
	produceRate, readRate   float64 // per second of the run
	classified              int
}

// runRing pushes ringFlows new flows, each with a payload from the mix,
// through a fresh probe (classification on, default ring) at up to rate
// flows per second (0: as fast as one goroutine's test runs go) while a
// reader goroutine drains the ring into the agent's conversation
// classifier and marks what it classified, as the agent's reader does.
func runRing(b *testing.B, mix [][]byte, nextProg *ebpf.Program, setTarget func(*ebpf.Program), rate float64) ringRun {
	p, err := probe.Open(probe.Options{Classify: true, MapEntries: ringFlows})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	r, err := p.Samples()
	if err != nil {
		b.Fatal(err)
	}
	setTarget(p.Program())

	var read atomic.Uint64
	var lastRead atomic.Int64 // UnixNano of the latest sample read
	cls := conversations.New()
	gone := func(bpf.FlowKey) bool { return false }
	stopped := make(chan error, 1)
	go func() {
		var s probe.AppSample
		var done []bpf.FlowKey
		for {
			err := r.Read(&s)
			if errors.Is(err, probe.ErrSamplesClosed) {
				stopped <- nil
				return
			}
			if err != nil {
				stopped <- err
				return
			}
			read.Add(1)
			lastRead.Store(time.Now().UnixNano())
			done = cls.ObserveSample(&s, done)
			if read.Load()%(1<<16) == 0 {
				// No flow table here: conversations go as the agent's
				// sweep lets go of flows the table never held.
				cls.Sweep(gone)
			}
			if len(done) > 0 && (r.Pending() == 0 || len(done) >= 1024) {
				if err := p.MarkClassified(done); err != nil {
					stopped <- err
					return
				}
				done = done[:0]
			}
		}
	}()

	start := time.Now()
	for i := 0; i < ringFlows/ringBurst; i++ {
		f := mix[i%len(mix)]
		// A source address of its own for every burst: xdp_next_flow
		// counts the ports from the frame's each time.
		f[14+12], f[14+13], f[14+14], f[14+15] = 10, byte(i>>16), byte(i>>8), byte(i)
		if ret, _, err := nextProg.Benchmark(f, ringBurst, nil); err != nil || ret != 2 {
			b.Fatalf("burst: %d, %v", ret, err)
		}
		if rate > 0 {
			if ahead := time.Duration(float64((i+1)*ringBurst)/rate*1e9) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	produced := time.Since(start)
	stats, err := p.Stats()
	if err != nil {
		b.Fatal(err)
	}
	sampled, dropped := stats[bpf.StatAppSampled].Packets, stats[bpf.StatAppDropped].Packets
	for deadline := time.Now().Add(10 * time.Second); read.Load() < sampled && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	r.Close()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
	if n := read.Load(); n != sampled {
		b.Fatalf("read %d samples of %d handed out", n, sampled)
	}
	// A test run that a signal interrupts is run again whole by the
	// library (its first flows then hit), so a few more packets than
	// ringFlows may be accounted; never fewer, and never a full map.
	if stats[bpf.StatAccounted].Packets < ringFlows || stats[bpf.StatMapFull].Packets != 0 {
		b.Fatalf("accounted %d packets (map full %d), want %d; sampled %d dropped %d in %v", stats[bpf.StatAccounted].Packets, stats[bpf.StatMapFull].Packets, ringFlows, sampled, dropped, produced)
	}
	elapsed := time.Duration(lastRead.Load() - start.UnixNano())
	return ringRun{
		produced: sampled + dropped, read: sampled, dropped: dropped,
		produceRate: float64(ringFlows) / produced.Seconds(),
		readRate:    float64(sampled) / elapsed.Seconds(),
		classified:  int(cls.Stats().Classified),
	}
}

// BenchmarkSampleRing measures the sample ring buffer end to end: new
// flows, each with a payload head from the real captures (mixHeads
// distinct first payload packets, TCP and UDP), are pushed through
// xdp_flow with classification on and the default ring
// (probe.DefaultSampleRing) as fast as one goroutine's test runs go
// (bursts of ringBurst new flows through xdp_next_flow), while a reader
// goroutine drains the ring into the classifier and marks verdicts, as
// the agent does. Every packet is a sample. It reports samples/s read and
// app_dropped at full speed; if any were dropped, it paces the producer
// down (0.95×, 0.85×, 0.7×, 0.5×, 0.3× of the rate the reader drained at
// full speed) and reports the first paced rate with none ("no-drop"
// samples/s).
func BenchmarkSampleRing(b *testing.B) {
	probetest.RequireRoot(b)
	mix := realMix(b)
	next := loadCollection(b, benchprog.NextFlow)
	nextProg, nextTarget := next.Programs[benchprog.ProgNextFlow], next.Maps[benchprog.MapNextTarget]
	setTarget := func(p *ebpf.Program) {
		if err := nextTarget.Put(uint32(0), p); err != nil {
			b.Fatalf("tail-call target: %v", err)
		}
	}

	full := runRing(b, mix, nextProg, setTarget, 0)
	best := full
	paced := 0.0
	for _, f := range []float64{0.95, 0.85, 0.7, 0.5, 0.3} {
		if full.dropped == 0 {
			break
		}
		paced = f * full.readRate
		best = runRing(b, mix, nextProg, setTarget, paced)
		if best.dropped == 0 {
			break
		}
	}
	b.Run("full-speed", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(full.produceRate, "offered/s")
		b.ReportMetric(full.readRate, "samples/s")
		b.ReportMetric(float64(full.dropped), "app_dropped")
		b.ReportMetric(float64(full.classified)/float64(full.read), "classified/sample")
		b.ReportMetric(float64(len(mix)), "mix-heads")
		b.ReportMetric(float64(probe.DefaultSampleRing>>20), "MiB-ring")
	})
	b.Run("no-drop", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		if best.dropped > 0 {
			b.ReportMetric(float64(best.dropped), "app_dropped")
			return // none found: no no-drop rate to report
		}
		b.ReportMetric(best.readRate, "samples/s")
		b.ReportMetric(paced, "paced/s")
		b.ReportMetric(0, "app_dropped")
	})
}
