package exporter

import (
	"time"

	"github.com/spanflow/spanflow/cache"
)

// V9Encoder writes NetFlow v9 export packets (RFC 3954): flow templates for
// IPv4 and IPv6, unidirectional and bidirectional (IN_/OUT_ BYTES and PKTS),
// each announced before its first use; options templates and data for
// sampling, interface names and application names; all of them re-sent
// every Settings.TemplateRefreshPackets packets and every
// Settings.TemplateRefreshTimeout. The sequence number counts export
// packets; the source id is Settings.SourceID.
type V9Encoder struct{ st *stream }

var _ Encoder = (*V9Encoder)(nil)

// NewV9Encoder returns an encoder for one v9 export stream.
func NewV9Encoder(s Settings, o TemplateOptions) (*V9Encoder, error) {
	st, err := newStream(false, s, o)
	if err != nil {
		return nil, err
	}
	return &V9Encoder{st: st}, nil
}

// Encode implements Encoder.
func (e *V9Encoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	return e.st.encode(now, recs, emit)
}

// Stats returns what the encoder has sent so far.
func (e *V9Encoder) Stats() TemplateStats { return e.st.stats }

// Sequence is the sequence number the next export packet will carry.
func (e *V9Encoder) Sequence() uint32 { return e.st.seq }

func (e *V9Encoder) hasAppID() bool { return e.st.appID }

// ResendTemplates makes the next Encode start with a full refresh (all
// templates announced so far, options templates and options data), as
// after a collector restart the transport noticed.
func (e *V9Encoder) ResendTemplates() { e.st.refreshed = false }
