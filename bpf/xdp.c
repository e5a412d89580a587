//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* xdp.c: spanflow's datapath. For every packet, xdp_flow
 *  1. applies 1-in-N sampling (cfg_sample_mode), counting what it skips;
 *  2. parses Ethernet, VLAN/MPLS/PPPoE, IPv4/IPv6 (+ext headers) and the
 *     transport header into a flow_key (parse.h);
 *  3. zeroes the key fields left out of cfg_key_fields;
 *  4. adds the packet to its flow in the active slot (flows_slot[0]);
 *  5. counts the outcome in stats and returns cfg_action.
 * No packet leaves without exactly one outcome counted in stats. */

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>

#include "config.h"
#include "flow.h"
#include "maps.h"
#include "parse.h"

char __license[] SEC("license") = "GPL";

static __always_inline void count(__u32 reason, __u64 bytes)
{
	struct stat_value *s = bpf_map_lookup_elem(&stats, &reason);
	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

/* sampled_out reports whether 1-in-N sampling skips this packet. */
static __always_inline int sampled_out(void)
{
	if (cfg_sample_mode == SAMPLE_RANDOM)
		return bpf_get_prandom_u32() % cfg_sample_rate != 0;
	if (cfg_sample_mode == SAMPLE_DETERMINISTIC) {
		__u32 zero = 0;
		__u32 *n = bpf_map_lookup_elem(&sample_count, &zero);
		if (!n)
			return 0;
		if (++*n < cfg_sample_rate)
			return 1;
		*n = 0;
	}
	return 0;
}

static __always_inline void mask_key(struct flow_key *key)
{
	if (!(cfg_key_fields & KEY_SRC_ADDR))
		__builtin_memset(key->src_addr, 0, sizeof(key->src_addr));
	if (!(cfg_key_fields & KEY_DST_ADDR))
		__builtin_memset(key->dst_addr, 0, sizeof(key->dst_addr));
	if (!(cfg_key_fields & KEY_SRC_PORT))
		key->src_port = 0;
	if (!(cfg_key_fields & KEY_DST_PORT))
		key->dst_port = 0;
	if (!(cfg_key_fields & KEY_PROTO))
		key->proto = 0;
	if (!(cfg_key_fields & KEY_TOS))
		key->tos = 0;
	if (!(cfg_key_fields & KEY_IFINDEX))
		key->ifindex = 0;
	if (!(cfg_key_fields & KEY_VLAN)) {
		key->vlan_id = 0;
		key->inner_vlan_id = 0;
	}
}

static __always_inline void add(struct flow_value *v, struct packet *pkt, __u64 now)
{
	/* Another CPU may have created the entry: this CPU's value is zero. */
	if (v->packets == 0)
		v->first_ns = now;
	v->packets++;
	v->bytes += pkt->ip_bytes;
	v->last_ns = now;
	v->tcp_flags |= pkt->tcp_flags;
}

/* account adds the packet to its flow in the active slot and returns
 * STAT_ACCOUNTED, or STAT_MAP_FULL when the slot has no room. */
static __always_inline __u32 account(struct flow_key *key, struct packet *pkt)
{
	__u32 zero = 0;
	void *flows = bpf_map_lookup_elem(&flows_slot, &zero);
	if (!flows)
		return STAT_MAP_FULL; /* no slot installed: nowhere to count */

	__u64 now = cfg_coarse_clock ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();
	struct flow_value *v = bpf_map_lookup_elem(flows, key);
	if (v) {
		add(v, pkt, now);
		return STAT_ACCOUNTED;
	}

	struct flow_value fresh = {
		.packets = 1,
		.bytes = pkt->ip_bytes,
		.first_ns = now,
		.last_ns = now,
		.tcp_flags = pkt->tcp_flags,
	};
	long err = bpf_map_update_elem(flows, key, &fresh, BPF_NOEXIST);
	if (err == 0)
		return STAT_ACCOUNTED;
	if (err == -EEXIST) { /* another CPU inserted it first */
		v = bpf_map_lookup_elem(flows, key);
		if (v) {
			add(v, pkt, now);
			return STAT_ACCOUNTED;
		}
	}
	return STAT_MAP_FULL;
}

SEC("xdp")
int xdp_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 frame_len = data_end - data;

	if (sampled_out()) {
		count(STAT_SAMPLED_OUT, frame_len);
		return cfg_action;
	}

	struct flow_key key = {};
	struct packet pkt = {};
	void *ip = data;
	__u32 reason = parse_l2(&ip, data_end, &key, &key.ip_version);
	if (reason == STAT_ACCOUNTED) {
		if (key.ip_version == 4)
			reason = parse_ipv4(ip, data_end, &key, &pkt);
		else
			reason = parse_ipv6(ip, data_end, &key, &pkt);
	}
	if (reason != STAT_ACCOUNTED) {
		count(reason, frame_len);
		return cfg_action;
	}

	key.ifindex = ctx->ingress_ifindex;
	mask_key(&key);
	reason = account(&key, &pkt);
	count(reason, pkt.ip_bytes);
	if (reason == STAT_ACCOUNTED && pkt.no_l4)
		count(STAT_NO_L4, pkt.ip_bytes);
	return cfg_action;
}
