// Package collect is the collector behind `spanflow collect`, for
// debugging and the demo: it stands at the far end of
// NIC → map → Delta → Record → datagram → collector, listening on UDP (and
// for IPFIX over TCP), decoding with exporter/decode, printing each record
// as it arrives and, on exit, a summary. Corrupt datagrams are counted and
// logged at most once a second.
package collect
