// Package ie is the table of NetFlow v9 field types and IPFIX information
// elements that spanflow writes and reads, shared by the encoders (package
// exporter: Record → datagram) and the decoder behind `spanflow collect`
// (package exporter/decode: datagram → Record), so both sides agree on
// every number without one living inside the other.
package ie
