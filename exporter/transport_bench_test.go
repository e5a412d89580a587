package exporter

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// BenchmarkUDPLoopbackSend measures full v5 datagrams (30 records) sent
// through a Collector and a UDPTransport to a reader on loopback. One op
// is one datagram.
func BenchmarkUDPLoopbackSend(b *testing.B) {
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ln.SetReadBuffer(8 << 20)
	received := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		n := 0
		for {
			if _, err := ln.Read(buf); err != nil {
				received <- n
				return
			}
			n++
		}
	}()
	tr, err := DialUDP(ln.LocalAddr().String(), "")
	if err != nil {
		b.Fatal(err)
	}
	boot := time.Unix(1_700_000_000, 0)
	enc, err := NewV5Encoder(Settings{Boot: boot})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]cache.Record, 30)
	for i := range recs {
		recs[i] = cache.Record{SrcAddr: netip.MustParseAddr("198.18.0.1"), DstAddr: netip.MustParseAddr("198.18.0.2"),
			SrcPort: uint16(1000 + i), DstPort: 80, Packets: 1, Bytes: 64, Proto: 6, Start: boot, End: boot, IPVersion: 4}
	}
	c := NewStream("bench", enc, tr, 1024, func() time.Time { return boot.Add(time.Second) })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.OfferWait(recs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s := c.Stats()
	b.ReportMetric(float64(s.Datagrams)/b.Elapsed().Seconds(), "datagrams/s")
	ln.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	got := <-received
	b.ReportMetric(float64(got)/float64(max(s.Datagrams, 1)), "received-ratio")
}
