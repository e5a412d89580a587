//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* nextflow.c: makes every run of a BPF_PROG_TEST_RUN loop a new flow. The
 * test run keeps one packet buffer for all its repeats, so xdp_next_flow
 *  1. adds one to the TCP/UDP source port of an Ethernet + IPv4 (IHL 5)
 *     frame, carrying into the destination port, in place;
 *  2. tail-calls the program in target[0] (xdp_flow, a variant or a
 *     reference program) on the changed frame;
 *  3. returns XDP_ABORTED only if the frame is too short or the tail call
 *     failed (nothing in target).
 * Its own cost is measured by tail-calling xdp_baseline and subtracted. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "GPL";

#define PORTS_OFFSET (14 + 20) /* Ethernet + IPv4 without options */

/* target: 0 → the program under test. Written by the benchmarks; read by
 * xdp_next_flow on every run. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

SEC("xdp")
int xdp_next_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 *ports = data + PORTS_OFFSET;

	if ((void *)(ports + 2) > data_end)
		return XDP_ABORTED;
	if (++ports[0] == 0) /* byte order does not matter: only distinctness */
		ports[1]++;
	bpf_tail_call(ctx, &target, 0);
	return XDP_ABORTED;
}
