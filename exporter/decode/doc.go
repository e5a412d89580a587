// Package decode is the inverse of package exporter: it reads NetFlow v1,
// v5, v7, v8, v9 and IPFIX datagrams back into cache.Records (and v8
// aggregates), keeping templates, sequence numbers and options data per
// exporter. It stands where a collector stands in
// NIC → map → Delta → Record → datagram → collector, and serves
// `spanflow collect` and the exporter's round-trip tests.
//
// Every length is checked before it is read: a hostile or truncated
// datagram is an error wrapping ErrMalformed and a counter, never a panic,
// and the templates one Decoder keeps are bounded.
package decode
