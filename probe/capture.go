package probe

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is one packet record of a capture file.
type Frame struct {
	Number    int       // 1-based record number, as tshark numbers frames
	Timestamp time.Time // capture time, UTC
	LinkType  layers.LinkType
	Data      []byte // the captured bytes, owned by the caller
	OrigLen   int    // length on the wire; more than len(Data) when cut by the snap length
}

// Capture reads the packet records of a pcap or pcapng file, one at a
// time. The format is recognised by its magic number, not by the file
// name; gzip-compressed files are read too (offsets in errors then count
// uncompressed bytes).
type Capture struct {
	name    string
	closer  io.Closer
	counter *countingReader
	head    *bytes.Reader // the file's first bytes, read ahead to tell the format
	buf     *bufio.Reader
	source  interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	pcapng   bool
	linkType layers.LinkType
	n        int   // records returned so far
	end      int64 // byte offset just after the last record returned
	err      error // sticky: the error that ended the capture
}

// Magic numbers of the capture formats, as the first 4 bytes of the file
// read big-endian.
const (
	magicPcapMicro        = 0xa1b2c3d4
	magicPcapNano         = 0xa1b23c4d
	magicPcapMicroSwapped = 0xd4c3b2a1
	magicPcapNanoSwapped  = 0x4d3cb2a1
	magicPcapng           = 0x0a0d0d0a // section header block type
	pcapHeaderLen         = 24
)

// OpenCapture opens the capture file at path.
func OpenCapture(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	c, err := newCapture(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.closer = f
	return c, nil
}

// NewCapture reads a capture from r; name is used in errors. Closing the
// Capture does not close r.
func NewCapture(name string, r io.Reader) (*Capture, error) {
	return newCapture(name, r)
}

func newCapture(name string, r io.Reader) (*Capture, error) {
	c := &Capture{name: name}
	br := bufio.NewReaderSize(r, 1<<16)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture %s: gzip: %w", name, err)
		}
		r = z
	} else {
		r = br
	}
	c.counter = &countingReader{r: r}

	// Both formats open with at least 24 bytes: the pcap file header or
	// the pcapng section header block.
	head := make([]byte, pcapHeaderLen)
	if _, err := io.ReadFull(c.counter, head); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("capture %s: file header: %w", name, err)
	}
	magic := binary.BigEndian.Uint32(head)
	pcap := magic == magicPcapMicro || magic == magicPcapNano ||
		magic == magicPcapMicroSwapped || magic == magicPcapNanoSwapped
	if pcap {
		patchPcapVersion(head)
	}
	// pcapgo wraps its input in bufio.NewReader, which hands back a
	// *bufio.Reader that is big enough unchanged: so the bytes read from
	// counter minus those not yet consumed is the readers' exact position.
	c.head = bytes.NewReader(head)
	c.buf = bufio.NewReaderSize(io.MultiReader(c.head, c.counter), 1<<16)

	switch {
	case pcap:
		pr, err := pcapgo.NewReader(c.buf)
		if err != nil {
			return nil, fmt.Errorf("capture %s: pcap file header: %w", name, err)
		}
		c.source, c.linkType = pr, pr.LinkType()
		if !SupportsLinkType(c.linkType) {
			return nil, fmt.Errorf("capture %s: link type %d (%s) is not supported "+
				"(Ethernet, Linux SLL/SLL2, raw IP, BSD loopback, PPP are)", name, c.linkType, c.linkType)
		}
	case magic == magicPcapng:
		nr, err := pcapgo.NewNgReader(c.buf, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("capture %s: pcapng section header: %w", name, err)
		}
		c.source, c.pcapng = nr, true
	default:
		return nil, fmt.Errorf("capture %s: magic number %#08x is neither pcap nor pcapng", name, magic)
	}
	c.end = c.offset()
	return c, nil
}

// patchPcapVersion makes a pcap file header of version 2.0 to 2.3 read as
// 2.4, the only minor version pcapgo takes. libpcap and tshark read them
// all (nDPI's nfsv3.pcap is a 2.1 file). Versions before 2.4 may have the
// captured and original lengths of each record swapped; pcapgo then stops
// with "capture length exceeds original packet length".
func patchPcapVersion(head []byte) {
	order := binary.ByteOrder(binary.LittleEndian)
	if m := binary.BigEndian.Uint32(head); m == magicPcapMicro || m == magicPcapNano {
		order = binary.BigEndian
	}
	if order.Uint16(head[4:]) == 2 && order.Uint16(head[6:]) < 4 {
		order.PutUint16(head[6:], 4)
	}
}

// Next returns the next record. At the end of the file it returns io.EOF.
// A file that is cut short or corrupt gives an error naming the record
// that broke and the byte offset after which it went wrong (the end of
// the record before it, or of the file header), after every good record
// before it; Next keeps returning that error.
func (c *Capture) Next() (Frame, error) {
	if c.err != nil {
		return Frame{}, c.err
	}
	data, ci, err := c.source.ReadPacketData()
	if err == io.EOF && !c.pcapng && c.offset() != c.end {
		// pcapgo reports a record whose header is whole but whose data
		// is missing as io.EOF.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if err == io.EOF {
			c.err = io.EOF
		} else {
			c.err = fmt.Errorf("capture %s: record %d after byte offset %d: %w", c.name, c.n+1, c.end, err)
		}
		return Frame{}, c.err
	}
	c.n++
	c.end = c.offset()
	lt := c.linkType
	if c.pcapng && len(ci.AncillaryData) > 0 {
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			lt = l
		}
		if c.n == 1 {
			c.linkType = lt
		}
	}
	return Frame{
		Number:    c.n,
		Timestamp: ci.Timestamp,
		LinkType:  lt,
		Data:      data,
		OrigLen:   ci.Length,
	}, nil
}

// LinkType is the link type of a pcap file. A pcapng file names one per
// interface, so each Frame carries its own; LinkType is then that of the
// first record, 0 before it is read.
func (c *Capture) LinkType() layers.LinkType { return c.linkType }

// Close closes the file OpenCapture opened. It is safe to call twice.
func (c *Capture) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

// offset is the position of the pcapgo reader in the (uncompressed) file.
func (c *Capture) offset() int64 {
	return c.counter.n - int64(c.head.Len()) - int64(c.buf.Buffered())
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}
