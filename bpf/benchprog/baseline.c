//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* baseline.c: the cheapest XDP program that still touches a map. For every
 * packet, xdp_baseline
 *  1. bumps its CPU's slot of packets[0];
 *  2. returns XDP_PASS.
 * Benchmarks subtract it to see what a program costs beyond the test-run
 * loop and one inlined per-CPU array access. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "GPL";

/* packets: 0 → per-CPU packet count. Written by xdp_baseline; read by
 * the benchmarks to check the program ran. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

SEC("xdp")
int xdp_baseline(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&packets, &zero);
	if (n)
		(*n)++;
	return XDP_PASS;
}
