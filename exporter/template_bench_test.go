package exporter

import (
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

// benchRecords is a mix of IPv4/IPv6, uni- and bidirectional records.
func benchRecords(n int, s Settings, app bool) []cache.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]cache.Record, n)
	for i := range recs {
		recs[i] = randomRecord(rng, s, app)
	}
	return recs
}

// BenchmarkTemplateEncode reports records/s on one core and allocations
// per datagram for steady-state encoding (templates already announced,
// Cisco's refresh schedule).
func BenchmarkTemplateEncode(b *testing.B) {
	for _, ek := range templateEncoders {
		b.Run(ek.name, func(b *testing.B) {
			s := Settings{Boot: tplBoot, SourceID: 1, SamplingInterval: 10}
			e, err := ek.new(s, TemplateOptions{AppID: true, Interfaces: []ie.Interface{{Index: 1, Name: "eth0", Description: "span"}}})
			if err != nil {
				b.Fatal(err)
			}
			recs := benchRecords(4096, s, true)
			var datagrams, bytes int
			emit := func(d []byte) { datagrams++; bytes += len(d) }
			if err := e.Encode(tplNow, recs, emit); err != nil { // announce templates
				b.Fatal(err)
			}
			datagrams, bytes = 0, 0
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := threadCPU()
			for i := 0; i < b.N; i++ {
				if err := e.Encode(tplNow, recs, emit); err != nil {
					b.Fatal(err)
				}
			}
			cpu := threadCPU() - cpu0
			b.StopTimer()
			n := float64(b.N) * float64(len(recs))
			b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
			// On a loaded machine wall time undercounts; CPU time of the
			// encoding thread is what one core can do.
			b.ReportMetric(n/cpu.Seconds(), "records/cpu-s")
			b.ReportMetric(float64(datagrams)/float64(b.N), "datagrams/op")
			b.ReportMetric(float64(bytes)/n, "bytes/record")
		})
	}
}

// threadCPU is the CPU time the calling (locked) thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecode reports records/s the Decoder reads back.
func BenchmarkDecode(b *testing.B) {
	for _, ek := range templateEncoders {
		b.Run(ek.name, func(b *testing.B) {
			s := Settings{Boot: tplBoot, SourceID: 1}
			e, _ := ek.new(s, TemplateOptions{})
			dg := encodeAll(b, e, tplNow, benchRecords(4096, s, false))
			d := decode.NewDecoder()
			for _, x := range dg {
				_, _ = d.Decode(tplFrom, x)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := threadCPU()
			recs := 0
			for i := 0; i < b.N; i++ {
				for _, x := range dg[1:] {
					m, err := d.Decode(tplFrom, x)
					if err != nil {
						b.Fatal(err)
					}
					recs += len(m.Records)
				}
			}
			b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(recs)/(threadCPU()-cpu0).Seconds(), "records/cpu-s")
		})
	}
}
