// Package exporter is the last stage of the data flow
// NIC → map → Delta → Record → datagram → collector: it turns expired
// cache.Records into NetFlow v1, v5, v7, v8, v9 and IPFIX datagrams and
// sends them.
//
// Three jobs, in three kinds of file:
//   - encoders (v1.go … ipfix.go, template*.go): one Encoder per version,
//     pure — records in, datagrams no larger than the MTU out, sequence
//     numbers and templates kept per stream;
//   - transports (transport.go): UDP to each collector, TCP for IPFIX,
//     sends bounded in time;
//   - streams (stream.go): one goroutine per collector owning an encoder
//     and a transport behind a bounded queue, so harvesting never waits for
//     a collector and every record dropped is counted.
//
// The element numbers shared with the decoder live in exporter/ie; the
// decoder itself, the inverse of the encoders, in exporter/decode. The
// package never sees a kernel type.
package exporter
