// Package peers is spanflow's benchmark against its peers: spanflow,
// softflowd and pmacctd's nfprobe plugin each watch the same generated
// traffic on a veth pair in network namespaces, export NetFlow v9 to an
// nfcapd of their own on loopback, and what nfdump reads back is scored
// against the generator's ground truth. `make bench-peers` runs it (as
// root; scripts/bench-peers.sh) and writes bench/results/peers.md and
// peers.png; plain `go test` runs only the generator's correctness tests.
//
// The traffic comes from livegen.c (package benchprog), run by
// BPF_PROG_RUN: every frame is a function of a sequence number and the
// mix (mix.go holds the same functions in Go), so the truth of a run —
// packets, IP bytes, flows — is recomputed from the numbers it used and
// checked against the program's own counts.
package peers
