//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* minimal.c: the least a flow counter must do, as a yardstick for
 * xdp_flow. For every packet, xdp_minimal
 *  1. parses Ethernet (no VLAN) and IPv4 (options skipped by IHL) and, for
 *     TCP and UDP, the two ports, into a 16-byte 5-tuple;
 *  2. reads the clock once (bpf_ktime_get_ns);
 *  3. adds the packet to its flow in a per-CPU hash, in place when the
 *     flow exists, else inserts it;
 *  4. returns XDP_PASS.
 * Anything else (not IPv4, truncated) is passed uncounted: this program
 * measures the hot path, it is not a probe.
 *
 * MINIMAL_KEY_PAD, when defined, widens the key by that many zero bytes
 * (minimal_widekey.c uses it to price xdp_flow's 48-byte key). */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "GPL";

/* tuple: addresses and ports in network byte order. */
struct tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 _pad[3];
#ifdef MINIMAL_KEY_PAD
	__u8 wide[MINIMAL_KEY_PAD];
#endif
};

struct counters {
	__u64 packets;
	__u64 bytes; /* IPv4 total length */
	__u64 last_ns;
};

/* flows: tuple → per-CPU counters. Written by xdp_minimal; read by the
 * benchmarks to check the program counted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple);
	__type(value, struct counters);
} flows SEC(".maps");

SEC("xdp")
int xdp_minimal(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return XDP_PASS;

	struct tuple key = {
		.saddr = ip->saddr,
		.daddr = ip->daddr,
		.proto = ip->protocol,
	};
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__be16 *ports = (void *)ip + ip->ihl * 4;
		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		key.sport = ports[0];
		key.dport = ports[1];
	}
	__u64 bytes = bpf_ntohs(ip->tot_len);
	__u64 now = bpf_ktime_get_ns();

	struct counters *c = bpf_map_lookup_elem(&flows, &key);
	if (c) {
		c->packets++;
		c->bytes += bytes;
		c->last_ns = now;
		return XDP_PASS;
	}
	struct counters fresh = {.packets = 1, .bytes = bytes, .last_ns = now};
	bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST);
	return XDP_PASS;
}
