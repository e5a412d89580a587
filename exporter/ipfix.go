package exporter

import (
	"time"

	"github.com/spanflow/spanflow/cache"
)

// IPFIXEncoder writes IPFIX messages (RFC 7011) for UDP transport: flow
// templates with flowStart/EndMilliseconds (152/153) and flowEndReason
// (136), RFC 5103 reverse elements (PEN 29305) for biflows, options
// templates and data for sampling (PSAMP 302/304/305/306/309/310 and the
// older 34/35/48/49/50), interface names and application names, re-sent
// on the same schedule as v9. The sequence number counts the data records
// (options data included) sent before each message in the observation
// domain Settings.SourceID.
type IPFIXEncoder struct{ st *stream }

var _ Encoder = (*IPFIXEncoder)(nil)

// NewIPFIXEncoder returns an encoder for one IPFIX export stream.
func NewIPFIXEncoder(s Settings, o TemplateOptions) (*IPFIXEncoder, error) {
	st, err := newStream(true, s, o)
	if err != nil {
		return nil, err
	}
	return &IPFIXEncoder{st: st}, nil
}

// Encode implements Encoder.
func (e *IPFIXEncoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	return e.st.encode(now, recs, emit)
}

// Stats returns what the encoder has sent so far.
func (e *IPFIXEncoder) Stats() TemplateStats { return e.st.stats }

// Sequence is the sequence number the next message will carry.
func (e *IPFIXEncoder) Sequence() uint32 { return e.st.seq }

func (e *IPFIXEncoder) hasAppID() bool { return e.st.appID }

// ResendTemplates makes the next Encode start with a full refresh. A TCP
// transport calls it after reconnecting, with Settings'
// TemplateRefreshPackets and TemplateRefreshTimeout negative (RFC 7011
// §8: no periodic refresh over TCP).
func (e *IPFIXEncoder) ResendTemplates() { e.st.refreshed = false }
