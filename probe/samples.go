package probe

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/classify"
)

// The ring's head size is the classifier's: a compile-time check.
var _ [classify.HeadSize]byte = bpf.AppSample{}.Head

// noteSize is the header every sample record starts with.
const noteSize = int(unsafe.Sizeof(bpf.AppSample{}.Note))

// AppSample is one packet the datapath handed to the classifier: the
// head of its transport payload, or a bare note that a direction began.
type AppSample struct {
	Key bpf.FlowKey
	// First: the first packet of this direction the datapath saw (its
	// sampling state was created by it).
	First bool
	// PayloadLen is the payload's length on the wire, 0 for a note.
	PayloadLen int
	// Head is the payload's first bytes (≤ classify.HeadSize), valid
	// until the next Read.
	Head []byte
}

// SampleReader reads the samples of the datapath's ring buffer. One
// goroutine reads; Close may be called from another to end a Read.
type SampleReader struct {
	rd  *ringbuf.Reader
	rec ringbuf.Record
}

// ErrSamplesClosed is what Read returns once the reader was closed.
var ErrSamplesClosed = ringbuf.ErrClosed

// Samples opens the reader of the sample ring. It fails unless the probe
// was opened with Options.Classify.
func (p *Probe) Samples() (*SampleReader, error) {
	m := p.coll.Maps[bpf.MapAppSamples]
	if !p.classify {
		return nil, errors.New("samples: the datapath was opened without classification")
	}
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("open sample ring: %w", err)
	}
	return &SampleReader{rd: rd}, nil
}

// Read waits for the next sample (until the deadline, if one is set) and
// fills s. A record too short to hold a note is an error (it cannot come
// from the program).
func (r *SampleReader) Read(s *AppSample) error {
	if err := r.rd.ReadInto(&r.rec); err != nil {
		return err
	}
	raw := r.rec.RawSample
	if len(raw) < noteSize {
		return fmt.Errorf("sample ring: record of %d bytes, want ≥ %d", len(raw), noteSize)
	}
	// Copied out, not cast: the record may be a bare note, shorter than
	// an AppSample.
	var a bpf.AppSample
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&a.Note)), noteSize), raw)
	note := a.Note
	head := min(int(note.HeadLen), len(raw)-noteSize, classify.HeadSize)
	*s = AppSample{
		Key:        note.Key,
		First:      note.Flags&uint8(bpf.AppFirst) != 0,
		PayloadLen: int(note.PayloadLen),
		Head:       raw[noteSize : noteSize+head],
	}
	return nil
}

// ReadPending calls fn for every sample in the ring when it is called,
// and returns without waiting. Samples that come meanwhile are left for
// the next call: a producer that outruns fn cannot keep it from
// returning, and what it read is what was in the ring when it began.
func (r *SampleReader) ReadPending(fn func(*AppSample)) error {
	left := r.Pending()
	r.rd.SetDeadline(time.Now())
	defer r.rd.SetDeadline(time.Time{})
	var s AppSample
	for left > 0 {
		err := r.Read(&s)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
		left -= ringRecordSize(len(r.rec.RawSample))
		fn(&s)
	}
	return nil
}

// ringRecordSize is the room a record of n bytes takes in a BPF ring
// buffer: an 8-byte header (BPF_RINGBUF_HDR_SZ), the data padded to 8.
func ringRecordSize(n int) int { return 8 + (n+7)&^7 }

// Pending is the number of bytes of samples waiting in the ring.
func (r *SampleReader) Pending() int { return r.rd.AvailableBytes() }

// Close ends a waiting Read with ErrSamplesClosed.
func (r *SampleReader) Close() error { return r.rd.Close() }

// MarkClassified tells the datapath to sample no more of these flow
// directions: their conversations have a verdict. Only keys the datapath
// has state for are marked (BPF_EXIST), the others skipped: state made
// here would take LRU room for a key that may never come, and would
// outlive a ForgetSampling that ran before it. One update per key: the
// kernel's batch update takes no BPF_EXIST.
func (p *Probe) MarkClassified(keys []bpf.FlowKey) error {
	m := p.coll.Maps[bpf.MapAppState]
	done := bpf.AppState{Done: 1}
	for _, k := range keys {
		err := m.Update(k, done, ebpf.UpdateExist)
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("mark classified: %w", err)
		}
	}
	return nil
}

// ForgetSampling drops the sampling state of these flow directions, whose
// conversations ended: a new flow with the same key is sampled afresh.
// Keys the datapath never tracked (or the LRU evicted) are skipped.
func (p *Probe) ForgetSampling(keys []bpf.FlowKey) error {
	m := p.coll.Maps[bpf.MapAppState]
	for len(keys) > 0 {
		n, err := m.BatchDelete(keys, &ebpf.BatchOptions{})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ebpf.ErrKeyNotExist) || errors.Is(err, unix.ENOENT):
			keys = keys[n+1:] // the batch stops at the missing key
		default:
			return fmt.Errorf("forget sampling state: %w", err)
		}
	}
	return nil
}
