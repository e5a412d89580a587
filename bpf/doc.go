// Package bpf holds spanflow's XDP program (xdp.c and its headers) and the
// Go bindings bpf2go generates from it: the "NIC → map" step of
// NIC → map → Delta → Record → datagram → collector. The C structs in flow.h are the
// kernel/user contract; their Go mirrors are generated, never hand-written.
//
// The package only embeds and describes the program. Loading, attaching
// and harvesting belong to package probe.
package bpf
