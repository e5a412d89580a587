package classify

import (
	"testing"
	"time"
)

// FuzzFeed runs arbitrary payloads through every recognizer, as either
// direction of a TCP or UDP flow on any ports: no panic, a bounded time
// per head, and never a verdict that is not in the app table.
func FuzzFeed(f *testing.F) {
	seeds := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		[]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"),
		[]byte("SSH-2.0-OpenSSH_9.6\r\n"),
		{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1},
		{0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c', 0xa0, 0x19},
		{0x05, 0x64, 0x05, 0xc9, 0x01, 0x00, 0x02, 0x00, 0, 0},
		{0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0},
		{0, 0, 0, 0x40, 0xff, 'S', 'M', 'B'},
	}
	for _, s := range seeds {
		f.Add(s, uint16(80), uint16(12345), true, false)
		f.Add(s, uint16(53), uint16(5353), false, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, sport, dport uint16, tcp, responder bool) {
		proto := uint8(ProtoUDP)
		if tcp {
			proto = ProtoTCP
		}
		fl := NewFlow(proto, sport, dport)
		dir := FromInitiator
		if responder {
			dir = FromResponder
		}
		start := time.Now()
		fl.Feed(dir, b, len(b))
		fl.Feed(dir^1, b, len(b)+100) // the same head, as if cut
		// Generous: coverage instrumentation and a busy machine slow a
		// run by 100x; a loop that does not end on a 512-byte head does
		// not finish at all.
		if d := time.Since(start); d > time.Second {
			t.Fatalf("two heads took %v", d)
		}
		v := fl.Verdict()
		if v.App.String() == "" || len(v.Server) > maxName {
			t.Fatalf("bad verdict %+v", v)
		}
	})
}
