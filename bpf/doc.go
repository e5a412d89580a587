// Package bpf holds spanflow's datapath (xdp.c and its headers: xdp_flow,
// the XDP program counting packets as they arrive, and tc_egress, the TC
// program counting them as they leave, into the same maps) and the Go
// bindings bpf2go generates from it: the "NIC → map" step of
// NIC → map → Delta → Record → datagram → collector. The C structs in flow.h are the
// kernel/user contract; their Go mirrors are generated, never hand-written.
//
// The package only embeds and describes the program. Loading, attaching
// and harvesting belong to package probe.
package bpf
