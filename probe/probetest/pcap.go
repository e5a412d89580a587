package probetest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapFrame is one frame of a capture written by WritePcap: when it was
// captured, and its layers, outermost first.
type PcapFrame struct {
	At     time.Time
	Layers []gopacket.SerializableLayer
}

// WritePcap writes frames, in order, as a nanosecond Ethernet pcap named
// name in a new t.TempDir() and returns its path. The layers are
// serialized with lengths and checksums fixed (a transport whose checksum
// covers a pseudo-header needs SetNetworkLayerForChecksum); any error
// fails t. WriteCapture is the generator of large random traffic; this is
// for the few hand-built frames of a test.
func WritePcap(t testing.TB, name string, frames []PcapFrame) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i, fr := range frames {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, fr.Layers...); err != nil {
			t.Fatalf("%s: frame %d: %v", name, i, err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: fr.At, CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
