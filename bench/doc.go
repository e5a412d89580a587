// Package bench holds spanflow's kernel-path and cross-package benchmarks:
// they measure each step of NIC → map → Delta → Record → datagram →
// collector, and the whole, side by side with simpler baselines.
// They run with `make bench` (scripts/bench.sh, as root), never as timed
// tests, and scripts/bench.sh writes their output to bench/results/.
//
// Every figure is compared with a reference measured in the same run:
// xdp_flow against package benchprog's baseline and minimal flow counter,
// round-robin, so the ratios hold even on a noisy machine where the
// absolute nanoseconds drift.
//
// How the numbers are taken:
//   - ns/pkt is the kernel's own BPF_PROG_TEST_RUN time per run (whole
//     nanoseconds, rounded down; time spent rescheduled left out), the
//     median of the rounds. Wall time around the syscall is useless here:
//     a test run with repeat > 1 installs the program in the kernel's XDP
//     dispatcher and removes it again, about 25 ms per call on the dev VM
//     against 2 µs with repeat 1.
//   - New flows: xdp_next_flow bumps the frame's ports in place and
//     tail-calls the program under test, so each repeat is a new flow;
//     its own cost is measured through xdp_baseline and subtracted.
//     "flow-cold" cross-checks with one syscall per new flow.
//   - Harvest: a slot filled by BatchUpdate, drained by probe.Harvest.
//   - Memory: the flow slot's memlock (map info) ÷ max_entries, and the
//     kernel's formula for a preallocated per-CPU hash projected to 64 CPUs.
package bench
