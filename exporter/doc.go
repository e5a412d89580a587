// Package exporter turns expired cache.Records into NetFlow v1, v5, v7,
// v8, v9 and IPFIX datagrams (one Encoder per version, pure: records in,
// bytes out) and sends them to collectors (transports, separate types).
// It never sees a kernel type.
package exporter
