package exporter

import (
	"time"

	"github.com/spanflow/spanflow/cache"
)

// AggregatingEncoder is one v8 export stream: expired main-cache records
// go into its own aggregation cache (as a router's ip flow-aggregation
// cache), and what that cache exports is encoded in the scheme's layout.
// Encode with no records still ages the cache.
type AggregatingEncoder struct {
	agg *cache.Aggregator
	enc *V8Encoder
	buf []cache.Aggregate
}

// NewAggregatingEncoder builds the cache and encoder of one scheme.
func NewAggregatingEncoder(s Settings, scheme cache.Scheme, cfg cache.AggregatorConfig) (*AggregatingEncoder, error) {
	cfg.Fields16 = true // the key as the datagram carries it
	agg, err := cache.NewAggregator(scheme, cfg)
	if err != nil {
		return nil, err
	}
	enc, err := NewV8Encoder(s, scheme)
	if err != nil {
		return nil, err
	}
	return &AggregatingEncoder{agg: agg, enc: enc}, nil
}

// Encode adds recs to the aggregation cache and encodes what expires.
func (a *AggregatingEncoder) Encode(now time.Time, recs []cache.Record, emit func([]byte)) error {
	a.buf = a.agg.Add(now, recs, a.buf[:0])
	a.buf = a.agg.Expire(now, a.buf)
	return a.enc.EncodeAggregates(now, a.buf, emit)
}

// Flush exports every aggregate (end reason forced), for shutdown.
func (a *AggregatingEncoder) Flush(now time.Time, emit func([]byte)) error {
	a.buf = a.agg.Flush(a.buf[:0])
	return a.enc.EncodeAggregates(now, a.buf, emit)
}

// Aggregator exposes the cache, for statistics.
func (a *AggregatingEncoder) Aggregator() *cache.Aggregator { return a.agg }

// Stats are the v8 encoder's counters, with the IPv6 records the
// aggregation cache left out counted as skipped.
func (a *AggregatingEncoder) Stats() LegacyStats {
	s := a.enc.Stats()
	s.Skipped += a.agg.Stats().Skipped
	return s
}
