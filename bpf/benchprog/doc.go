// Package benchprog holds the XDP programs that package bench measures
// spanflow's xdp_flow (the "NIC → map" step of NIC → map → Delta → Record →
// datagram → collector) against, with their bpf2go bindings:
//
//   - xdp_baseline (baseline.c): bumps one per-CPU array counter; the floor.
//   - xdp_minimal (minimal.c): an Ethernet/IPv4 5-tuple into a per-CPU hash,
//     counters updated in place, one clock read; the yardstick of the
//     issue's "≤ 1.3× a minimal counter". minimal_widekey.c is the same
//     with a 48-byte key.
//   - flow_*.c: bpf/xdp.c itself, compiled with one helper call swapped
//     (no clock, no ARRAY_OF_MAPS, no flow map), to say what each part of
//     xdp_flow costs. The coarse clock needs no variant: it is the real
//     program's --clock coarse.
//   - xdp_next_flow (nextflow.c): bumps the ports of the frame in place and
//     tail-calls the program under test, so every run of a test-run loop is
//     a new flow.
//
// None of these is part of the probe; the real program lives in package
// bpf and is never changed here.
package benchprog
