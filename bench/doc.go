// Package bench holds spanflow's kernel-path and cross-package benchmarks.
// They run with `make bench` (scripts/bench.sh, as root), never as timed
// tests, and scripts/bench.sh writes their output to bench/results/.
//
// Every figure is compared with a reference measured in the same run:
// xdp_flow against package benchprog's baseline and minimal flow counter,
// round-robin, so the ratios hold even on a noisy machine where the
// absolute nanoseconds drift.
package bench
