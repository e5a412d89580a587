package classify

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/spanflow/spanflow/probe/probetest"
)

// helloSpec describes a ClientHello built byte by byte in tests.
type helloSpec struct {
	legacy    uint16 // legacy_version; 0x0303 (TLS) or 0xfefd (DTLS) when 0
	sni       string
	sniRaw    []byte // server_name host_name bytes, overriding sni
	alpn      []string
	versions  []uint16 // supported_versions, omitted when nil
	sessionID []byte
	cookie    []byte // DTLS only
	dtls      bool
	noExt     bool
	padTo     int // add a padding extension so that the body reaches padTo bytes
}

func putU16(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func putU24(b []byte, v int) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }

// helloBodyBytes is the ClientHello body (RFC 8446 4.1.2, RFC 6347 4.2.1).
func helloBodyBytes(s helloSpec) []byte {
	legacy := s.legacy
	if legacy == 0 {
		legacy = 0x0303
		if s.dtls {
			legacy = 0xfefd
		}
	}
	b := putU16(nil, int(legacy))
	for i := 0; i < 32; i++ {
		b = append(b, byte(i*7))
	}
	b = append(b, byte(len(s.sessionID)))
	b = append(b, s.sessionID...)
	if s.dtls {
		b = append(b, byte(len(s.cookie)))
		b = append(b, s.cookie...)
	}
	b = putU16(b, 6)
	b = append(b, 0x13, 0x01, 0xc0, 0x2f, 0x00, 0xff) // cipher suites
	b = append(b, 1, 0)                               // compression: null
	if s.noExt {
		return b
	}
	var ext []byte
	addExt := func(typ int, data []byte) {
		ext = putU16(ext, typ)
		ext = putU16(ext, len(data))
		ext = append(ext, data...)
	}
	addExt(0x2a2a, nil) // GREASE
	name := s.sniRaw
	if name == nil && s.sni != "" {
		name = []byte(s.sni)
	}
	if name != nil {
		var d []byte
		d = putU16(d, len(name)+3)
		d = append(d, 0)
		d = putU16(d, len(name))
		d = append(d, name...)
		addExt(extServerName, d)
	}
	addExt(10, []byte{0, 4, 0, 0x1d, 0, 0x17}) // supported_groups
	if s.alpn != nil {
		var list []byte
		for _, p := range s.alpn {
			list = append(list, byte(len(p)))
			list = append(list, p...)
		}
		addExt(extALPN, append(putU16(nil, len(list)), list...))
	}
	if s.versions != nil {
		d := []byte{byte(2 * len(s.versions))}
		for _, v := range s.versions {
			d = putU16(d, int(v))
		}
		addExt(extVersions, d)
	}
	if s.padTo > 0 {
		if n := s.padTo - (len(b) + 2 + len(ext) + 4); n > 0 {
			addExt(21, make([]byte, n))
		}
	}
	b = putU16(b, len(ext))
	return append(b, ext...)
}

// buildClientHello returns a TLS record holding the ClientHello.
func buildClientHello(s helloSpec) []byte {
	body := helloBodyBytes(s)
	msg := putU24([]byte{tlsHandshakeClient}, len(body))
	msg = append(msg, body...)
	rec := []byte{tlsContentHandshake, 3, 1}
	rec = putU16(rec, len(msg))
	return append(rec, msg...)
}

// buildDTLSClientHello returns a DTLS record (RFC 6347 4.1) holding the
// ClientHello as one fragment.
func buildDTLSClientHello(s helloSpec, recordVersion uint16) []byte {
	s.dtls = true
	body := helloBodyBytes(s)
	msg := putU24([]byte{tlsHandshakeClient}, len(body))
	msg = append(msg, 0, 0) // message_seq
	msg = putU24(msg, 0)    // fragment_offset
	msg = putU24(msg, len(body))
	msg = append(msg, body...)
	rec := putU16([]byte{tlsContentHandshake}, int(recordVersion))
	rec = append(rec, 0, 0, 0, 0, 0, 0, 0, 0) // epoch, sequence_number
	rec = putU16(rec, len(msg))
	return append(rec, msg...)
}

func TestTLSClientHelloBuilt(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec helloSpec
		want clientHello
	}{
		{"tls13", helloSpec{sni: "www.example.com", alpn: []string{"h2", "http/1.1"}, versions: []uint16{0x3a3a, 0x0304, 0x0303}},
			clientHello{0x0304, "www.example.com", []string{"h2", "http/1.1"}}},
		{"tls12-no-versions", helloSpec{sni: "a.b", sessionID: make([]byte, 32)}, clientHello{0x0303, "a.b", nil}},
		{"tls10-no-extensions", helloSpec{legacy: 0x0301, noExt: true}, clientHello{0x0301, "", nil}},
		{"draft-versions", helloSpec{versions: []uint16{0x7f1c, 0x0303}}, clientHello{0x7f1c, "", nil}},
		{"only-grease-versions", helloSpec{legacy: 0x0303, versions: []uint16{0x0a0a}}, clientHello{0x0303, "", nil}},
		{"unusual-alpn", helloSpec{alpn: []string{"spdy/3.1", "x-custom", "h2"}}, clientHello{0x0303, "", []string{"spdy/3.1", "x-custom", "h2"}}},
		{"sni-255", helloSpec{sni: strings.Repeat("x", 255)}, clientHello{0x0303, strings.Repeat("x", 255), nil}},
		{"sni-256-dropped", helloSpec{sni: strings.Repeat("x", 256)}, clientHello{0x0303, "", nil}},
		{"sni-binary-dropped", helloSpec{sniRaw: []byte("ex\x00ample.com")}, clientHello{0x0303, "", nil}},
		{"sni-space-dropped", helloSpec{sniRaw: []byte("ex ample")}, clientHello{0x0303, "", nil}},
		{"sni-utf8-dropped", helloSpec{sniRaw: []byte("bücher.de")}, clientHello{0x0303, "", nil}},
		{"padded", helloSpec{sni: "p.example", alpn: []string{"h2"}, padTo: 512}, clientHello{0x0303, "p.example", []string{"h2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := buildClientHello(tc.spec)
			h, ok := parseTLSRecordClientHello(rec)
			if !ok {
				t.Fatal("not ok")
			}
			if h.Version != tc.want.Version || h.SNI != tc.want.SNI || !slices.Equal(h.ALPN, tc.want.ALPN) {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
			if isTLSServerHello(rec) {
				t.Error("ClientHello taken for a ServerHello")
			}
			if _, ok := parseDTLSClientHello(rec); ok {
				t.Error("TLS record taken for DTLS")
			}
		})
	}
}

// captureCryptoTLSHello runs a crypto/tls client against a net.Pipe and
// returns its first write: a ClientHello from an independent encoder.
func captureCryptoTLSHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl := tls.Client(c, cfg)
		_ = cl.Handshake() // fails once the server side closes
		c.Close()
	}()
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(s)
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(r, hdr); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+int(binary.BigEndian.Uint16(hdr[3:])))
	copy(rec, hdr)
	if _, err := io.ReadFull(r, rec[5:]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	<-done
	return rec
}

func TestTLSClientHelloCryptoTLS(t *testing.T) {
	rec := captureCryptoTLSHello(t, &tls.Config{ServerName: "www.example.com", NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12})
	h, ok := parseTLSRecordClientHello(rec)
	if !ok || h.SNI != "www.example.com" || h.Version != tls.VersionTLS13 || !slices.Equal(h.ALPN, []string{"h2", "http/1.1"}) {
		t.Fatalf("crypto/tls ClientHello (%d bytes): ok=%v %+v", len(rec), ok, h)
	}
	rec12 := captureCryptoTLSHello(t, &tls.Config{ServerName: "tls12.example", MaxVersion: tls.VersionTLS12})
	if h, ok := parseTLSRecordClientHello(rec12); !ok || h.SNI != "tls12.example" || h.Version != tls.VersionTLS12 || h.ALPN != nil {
		t.Fatalf("crypto/tls TLS 1.2 ClientHello: ok=%v %+v", ok, h)
	}
	// an IP literal: crypto/tls sends no SNI (RFC 6066 3)
	recIP := captureCryptoTLSHello(t, &tls.Config{ServerName: "192.0.2.1", InsecureSkipVerify: true})
	if h, ok := parseTLSRecordClientHello(recIP); !ok || h.SNI != "" {
		t.Fatalf("crypto/tls ClientHello to an IP: ok=%v %+v", ok, h)
	}
}

// TestTLSClientHelloTruncated cuts hellos at every length: never a panic,
// ok exactly when the record and handshake headers are there, and the SNI
// and ALPN either absent or whole — present from the cut that completes
// their extension on.
func TestTLSClientHelloTruncated(t *testing.T) {
	recs := map[string][]byte{
		"built":      buildClientHello(helloSpec{sni: "cut.example.net", alpn: []string{"h2", "http/1.1"}, versions: []uint16{0x0304}, padTo: 300}),
		"crypto/tls": captureCryptoTLSHello(t, &tls.Config{ServerName: "cut.example.net", NextProtos: []string{"h2", "http/1.1"}}),
	}
	for name, rec := range recs {
		sniEnd := bytes.Index(rec, []byte("cut.example.net")) + len("cut.example.net")
		for n := 0; n <= len(rec); n++ {
			h, ok := parseTLSRecordClientHello(rec[:n])
			if ok != (n >= 9) {
				t.Fatalf("%s cut at %d: ok=%v", name, n, ok)
			}
			if h.SNI != "" && h.SNI != "cut.example.net" {
				t.Fatalf("%s cut at %d: SNI %q", name, n, h.SNI)
			}
			if n >= sniEnd && h.SNI == "" {
				t.Fatalf("%s cut at %d (SNI ends at %d): no SNI", name, n, sniEnd)
			}
			if h.ALPN != nil && !slices.Equal(h.ALPN, []string{"h2", "http/1.1"}) {
				t.Fatalf("%s cut at %d: ALPN %q", name, n, h.ALPN)
			}
			if n == len(rec) && (h.ALPN == nil || h.Version != 0x0304) {
				t.Fatalf("%s whole: %+v", name, h)
			}
			// the same bytes must not read as DTLS or ServerHello
			if _, ok := parseDTLSClientHello(rec[:n]); ok {
				t.Fatalf("%s cut at %d: DTLS", name, n)
			}
			if isTLSServerHello(rec[:n]) {
				t.Fatalf("%s cut at %d: ServerHello", name, n)
			}
		}
	}
}

func TestTLSClientHelloRejects(t *testing.T) {
	good := buildClientHello(helloSpec{sni: "x.example"})
	mod := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	for name, b := range map[string][]byte{
		"application data":     mod(func(b []byte) []byte { b[0] = 23; return b }),
		"SSL 2 record version": mod(func(b []byte) []byte { b[1] = 2; return b }),
		"record version 3.5":   mod(func(b []byte) []byte { b[2] = 5; return b }),
		"record length 0":      mod(func(b []byte) []byte { b[3], b[4] = 0, 0; return b }),
		"record length 40000":  mod(func(b []byte) []byte { b[3], b[4] = 0x9c, 0x40; return b }),
		"server hello type":    mod(func(b []byte) []byte { b[5] = 2; return b }),
		"tiny handshake":       mod(func(b []byte) []byte { b[6], b[7], b[8] = 0, 0, 10; return b }),
		"body version 2.0":     mod(func(b []byte) []byte { b[9] = 2; return b }),
		"session id 33":        mod(func(b []byte) []byte { b[9+34] = 33; return b }),
		"odd cipher suites":    mod(func(b []byte) []byte { b[9+35+1] = 5; return b }),
		"no compression":       mod(func(b []byte) []byte { b[9+35+2+6] = 0; return b }),
		"http":                 []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"empty":                nil,
	} {
		if h, ok := parseTLSRecordClientHello(b); ok {
			t.Errorf("%s: accepted: %+v", name, h)
		}
	}
	// lying lengths inside the extensions: still a ClientHello, no name
	lie := mod(func(b []byte) []byte {
		i := bytes.Index(b, []byte("x.example"))
		b[i-2] = 0xff // host_name length
		return b
	})
	if h, ok := parseTLSRecordClientHello(lie); !ok || h.SNI != "" {
		t.Errorf("lying host_name length: ok=%v %+v", ok, h)
	}
}

// buildServerHello is a TLS 1.3 ServerHello record (RFC 8446 4.1.3).
func buildServerHello() []byte {
	body := putU16(nil, 0x0303)
	body = append(body, make([]byte, 32)...)
	body = append(body, 32)
	body = append(body, make([]byte, 32)...)
	body = append(body, 0x13, 0x01, 0)
	ext := []byte{0, 0x2b, 0, 2, 3, 4}
	body = putU16(body, len(ext))
	body = append(body, ext...)
	msg := putU24([]byte{tlsHandshakeServer}, len(body))
	msg = append(msg, body...)
	rec := []byte{tlsContentHandshake, 3, 3}
	rec = putU16(rec, len(msg))
	return append(rec, msg...)
}

func TestIsTLSServerHello(t *testing.T) {
	sh := buildServerHello()
	if !isTLSServerHello(sh) {
		t.Fatal("ServerHello refused")
	}
	// followed by ChangeCipherSpec and an encrypted record, as TLS 1.3 servers send
	flight := append(slices.Clone(sh), 20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 4, 1, 2, 3, 4)
	if !isTLSServerHello(flight) {
		t.Error("ServerHello flight refused")
	}
	// a head cut in the middle of the ServerHello
	if !isTLSServerHello(sh[:20]) {
		t.Error("cut ServerHello refused")
	}
	if isTLSServerHello(sh[:8]) {
		t.Error("ServerHello without a whole handshake header accepted")
	}
	if isTLSServerHello(buildClientHello(helloSpec{sni: "a"})) {
		t.Error("ClientHello accepted")
	}
	bad := slices.Clone(sh)
	bad[9] = 0xfe
	if isTLSServerHello(bad) {
		t.Error("ServerHello with legacy_version 0xfe.. accepted")
	}
	bad = slices.Clone(sh)
	bad[9+34] = 40
	if isTLSServerHello(bad) {
		t.Error("ServerHello with a 40-byte session id accepted")
	}
}

func TestDTLSClientHello(t *testing.T) {
	spec := helloSpec{sni: "dtls.example.org", cookie: []byte{1, 2, 3, 4, 5, 6, 7, 8}, sessionID: []byte{9, 9}}
	rec := buildDTLSClientHello(spec, 0xfefd)
	h, ok := parseDTLSClientHello(rec)
	if !ok || h.SNI != "dtls.example.org" || h.Version != 0xfefd {
		t.Fatalf("DTLS 1.2: ok=%v %+v", ok, h)
	}
	if _, ok := parseTLSRecordClientHello(rec); ok {
		t.Error("DTLS record taken for TLS")
	}
	// DTLS 1.0 record version, and a DTLS 1.3 hello (supported_versions)
	if h, ok := parseDTLSClientHello(buildDTLSClientHello(helloSpec{legacy: 0xfeff}, 0xfeff)); !ok || h.Version != 0xfeff {
		t.Errorf("DTLS 1.0: ok=%v %+v", ok, h)
	}
	h13, ok := parseDTLSClientHello(buildDTLSClientHello(helloSpec{sni: "d13.example", versions: []uint16{0xfefc, 0xfefd}, alpn: []string{"webrtc"}}, 0xfefd))
	if !ok || h13.Version != 0xfefc || h13.SNI != "d13.example" || !slices.Equal(h13.ALPN, []string{"webrtc"}) {
		t.Errorf("DTLS 1.3: ok=%v %+v", ok, h13)
	}
	mod := func(i int, x byte) []byte { b := slices.Clone(rec); b[i] = x; return b }
	for name, b := range map[string][]byte{
		"TLS version":        mod(2, 0x03),
		"epoch 1":            mod(4, 1),
		"fragment offset":    mod(13+8, 5),
		"server hello":       mod(13, 2),
		"record length 5":    mod(12, 5),
		"TLS 1.2 hello body": mod(25, 3),
	} {
		if h, ok := parseDTLSClientHello(b); ok {
			t.Errorf("%s: accepted: %+v", name, h)
		}
	}
	// every cut: no panic; the name whole or absent
	for n := 0; n <= len(rec); n++ {
		h, ok := parseDTLSClientHello(rec[:n])
		if ok != (n >= 25) {
			t.Fatalf("cut at %d: ok=%v", n, ok)
		}
		if h.SNI != "" && h.SNI != "dtls.example.org" {
			t.Fatalf("cut at %d: SNI %q", n, h.SNI)
		}
	}
}

func FuzzTLSClientHello(f *testing.F) {
	f.Add(buildClientHello(helloSpec{sni: "www.example.com", alpn: []string{"h2", "http/1.1"}, versions: []uint16{0x0304}}))
	f.Add(buildClientHello(helloSpec{legacy: 0x0301, noExt: true}))
	f.Add(buildDTLSClientHello(helloSpec{sni: "dtls.example", cookie: []byte{1}}, 0xfefd))
	f.Add(buildServerHello())
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseTLSRecordClientHello(b)
		if !ok && (h.SNI != "" || h.ALPN != nil || h.Version != 0) {
			t.Fatalf("not ok but %+v", h)
		}
		checkHello(t, h)
		h, ok = parseDTLSClientHello(b)
		if !ok && (h.SNI != "" || h.ALPN != nil || h.Version != 0) {
			t.Fatalf("DTLS not ok but %+v", h)
		}
		checkHello(t, h)
		_ = isTLSServerHello(b)
		// the shared body parser on raw bytes, both layouts
		for _, dtls := range []bool{false, true} {
			v, _ := helloBody(b, dtls)
			h := v.hello()
			checkHello(t, h)
		}
	})
}

func BenchmarkTLSClientHello(b *testing.B) {
	rec := captureCryptoTLSHello(b, &tls.Config{ServerName: "www.example.com", NextProtos: []string{"h2", "http/1.1"}})
	head := rec[:min(len(rec), 512)]
	b.Run("clientHello", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if h, ok := parseTLSRecordClientHello(head); !ok || h.SNI == "" {
				b.Fatal("no SNI")
			}
		}
	})
	b.Run("view", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v, ok := tlsClientHelloView(head); !ok || v.sni == nil {
				b.Fatal("no SNI")
			}
		}
	})
	b.Run("not-tls", func(b *testing.B) {
		junk := []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := parseTLSRecordClientHello(junk); ok {
				b.Fatal("accepted")
			}
		}
	})
}

// ---- real captures against nDPI 4.2 ----

type flowKey struct {
	proto string
	a, b  string // "ip|port", a < b
}

func mkKey(proto, ip1, port1, ip2, port2 string) flowKey {
	x, y := ip1+"|"+port1, ip2+"|"+port2
	if y < x {
		x, y = y, x
	}
	return flowKey{proto, x, y}
}

type ndpiFlow struct {
	pcap, master, sni string
}

// readCapturePackets calls fn for each TCP/UDP payload of a capture, in order.
func readCapturePackets(path string, fn func(key flowKey, payload []byte)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < 24 {
		return errors.New("short file")
	}
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	linkType := layers.LinkTypeEthernet
	if binary.BigEndian.Uint32(data) == 0x0a0d0d0a {
		nr, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return err
		}
		src = nr
	} else {
		// pcapgo takes only version 2.4; older minor versions read the same
		order := binary.ByteOrder(binary.LittleEndian)
		if m := binary.BigEndian.Uint32(data); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
			order = binary.BigEndian
		}
		if order.Uint16(data[4:]) == 2 && order.Uint16(data[6:]) < 4 {
			order.PutUint16(data[6:], 4)
		}
		pr, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			return err
		}
		src, linkType = pr, pr.LinkType()
	}
	for {
		pkt, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // a cut-off capture: what was read counts
		}
		lt := linkType
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		p := gopacket.NewPacket(pkt, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		var srcIP, dstIP string
		for _, l := range p.Layers() {
			switch ip := l.(type) {
			case *layers.IPv4:
				srcIP, dstIP = ip.SrcIP.String(), ip.DstIP.String()
			case *layers.IPv6:
				srcIP, dstIP = ip.SrcIP.String(), ip.DstIP.String()
			}
		}
		if srcIP == "" {
			continue
		}
		switch tl := p.TransportLayer().(type) {
		case *layers.TCP:
			if len(tl.Payload) > 0 {
				fn(mkKey("TCP", srcIP, fmt.Sprint(uint16(tl.SrcPort)), dstIP, fmt.Sprint(uint16(tl.DstPort))), tl.Payload)
			}
		case *layers.UDP:
			if len(tl.Payload) > 0 {
				fn(mkKey("UDP", srcIP, fmt.Sprint(uint16(tl.SrcPort)), dstIP, fmt.Sprint(uint16(tl.DstPort))), tl.Payload)
			}
		}
	}
}

// TestRealCapturesSNIAgreeWithNDPI extracts the server name of every flow
// nDPI 4.2 labels TLS, QUIC or DTLS by DPI in the shared real captures, from
// 512-byte heads of the flow's packets (the first that parses as a hello
// with a name), and compares it with nDPI's hostname_sni.
func TestRealCapturesSNIAgreeWithNDPI(t *testing.T) {
	if testing.Short() {
		t.Skip("reads real captures")
	}
	dir := probetest.RealCapturesDir(t)
	labels, err := os.ReadFile(filepath.Join(dir, "ndpi-labels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[flowKey]ndpiFlow{} // pcap -> flows
	for _, line := range strings.Split(string(labels), "\n") {
		if line == "" || line[0] == '#' || strings.HasPrefix(line, "pcap\t") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 19 || f[8] != "DPI" {
			continue
		}
		master, _, _ := strings.Cut(f[6], ".")
		if master != "TLS" && master != "QUIC" && master != "DTLS" {
			continue
		}
		if want[f[0]] == nil {
			want[f[0]] = map[flowKey]ndpiFlow{}
		}
		want[f[0]][mkKey(f[1], f[2], f[3], f[4], f[5])] = ndpiFlow{f[0], master, f[18]}
	}
	type result struct {
		hello   clientHello
		found   bool // a hello was parsed
		named   bool // a hello with a name was parsed
		packets int
	}
	type tally struct{ flows, withSNI, agree, disagree, noHello, noName, extra int }
	per := map[string]*tally{}
	var disagreements, misses []string
	var pcaps []string
	for p := range want {
		pcaps = append(pcaps, p)
	}
	sort.Strings(pcaps)
	for _, pc := range pcaps {
		flows := want[pc]
		got := map[flowKey]*result{}
		err := readCapturePackets(filepath.Join(dir, pc), func(k flowKey, payload []byte) {
			nf, ok := flows[k]
			if !ok {
				return
			}
			r := got[k]
			if r == nil {
				r = &result{}
				got[k] = r
			}
			if r.named || r.packets >= 32 {
				return
			}
			r.packets++
			head := payload[:min(len(payload), 512)]
			var h clientHello
			var ok2 bool
			switch {
			case k.proto == "TCP":
				h, ok2 = parseTLSRecordClientHello(head)
			case nf.master == "DTLS":
				h, ok2 = parseDTLSClientHello(head)
			default:
				_, h, ok2 = quicInitial(head)
				if !ok2 {
					h, ok2 = parseDTLSClientHello(head)
				}
			}
			if ok2 {
				if !r.found || h.SNI != "" {
					r.hello = h
				}
				r.found = true
				r.named = h.SNI != ""
			}
		})
		if err != nil {
			t.Errorf("%s: %v", pc, err)
			continue
		}
		for k, nf := range flows {
			ta := per[nf.master]
			if ta == nil {
				ta = &tally{}
				per[nf.master] = ta
			}
			ta.flows++
			r := got[k]
			if r == nil {
				r = &result{}
			}
			if nf.sni == "-" {
				if r.named {
					ta.extra++
				}
				continue
			}
			ta.withSNI++
			gotSNI := strings.ToLower(r.hello.SNI)
			switch {
			case !r.found:
				ta.noHello++
				misses = append(misses, fmt.Sprintf("%s %s %s<->%s %s: no hello in %d packets (nDPI %q)", pc, k.proto, k.a, k.b, nf.master, r.packets, nf.sni))
			case gotSNI == "":
				ta.noName++
				misses = append(misses, fmt.Sprintf("%s %s %s<->%s %s: hello without a name (nDPI %q)", pc, k.proto, k.a, k.b, nf.master, nf.sni))
			case gotSNI == strings.ToLower(nf.sni) || len(nf.sni) >= 79 && strings.HasPrefix(gotSNI, strings.ToLower(nf.sni)):
				ta.agree++
			default:
				ta.disagree++
				disagreements = append(disagreements, fmt.Sprintf("%s %s %s<->%s: %q, nDPI %q", pc, k.proto, k.a, k.b, r.hello.SNI, nf.sni))
			}
		}
	}
	var total tally
	t.Logf("%-5s %6s %8s %6s %9s %9s %8s %6s", "proto", "flows", "nDPI-SNI", "agree", "disagree", "no-hello", "no-name", "extra")
	for _, m := range []string{"TLS", "QUIC", "DTLS"} {
		ta := per[m]
		if ta == nil {
			continue
		}
		t.Logf("%-5s %6d %8d %6d %9d %9d %8d %6d", m, ta.flows, ta.withSNI, ta.agree, ta.disagree, ta.noHello, ta.noName, ta.extra)
		total.flows += ta.flows
		total.withSNI += ta.withSNI
		total.agree += ta.agree
		total.disagree += ta.disagree
		total.noHello += ta.noHello
		total.noName += ta.noName
	}
	t.Logf("SNI agreement with nDPI: %d of %d flows nDPI names (%d disagree, %d no hello, %d hello without name)",
		total.agree, total.withSNI, total.disagree, total.noHello, total.noName)
	for _, d := range disagreements {
		t.Logf("disagree: %s", d)
	}
	for _, m := range misses {
		t.Logf("missed: %s", m)
	}
	if total.disagree > 0 {
		t.Errorf("%d flows where the extracted SNI differs from nDPI's", total.disagree)
	}
	if total.withSNI == 0 || total.agree*100 < total.withSNI*90 {
		t.Errorf("SNI agreement %d/%d is below 90%%", total.agree, total.withSNI)
	}
}
