//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* xdp.c: spanflow's datapath. For every packet, xdp_flow
 *  1. applies 1-in-N sampling (cfg_sample_mode), counting what it skips;
 *  2. parses Ethernet, VLAN/MPLS/PPPoE, IPv4/IPv6 (+ext headers) and the
 *     transport header into a flow_key (parse.h);
 *  3. zeroes the key fields left out of cfg_key_fields;
 *  4. adds the packet to its flow in the active slot (flows_slot[0]);
 *  5. with cfg_route, asks the kernel FIB where a new flow goes;
 *  6. with cfg_classify, hands the payload heads of a TCP or UDP flow's
 *     first packets to user space (app_samples) until it needs no more;
 *  7. counts the outcome in stats and returns cfg_action.
 * No packet leaves without exactly one outcome counted in stats.
 * tc_egress, at the end, does the same for packets leaving an interface. */

#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "config.h"
#include "flow.h"
#include "maps.h"
#include "parse.h"

char __license[] SEC("license") = "GPL";

/* MAX_FRAME_OFFSET bounds where parse_frame may start: an inner frame
 * lies within the first page. */
#define MAX_FRAME_OFFSET 1024

/* Address families of bpf_fib_lookup (linux/socket.h is not for BPF). */
#define AF_INET 2
#define AF_INET6 10

static __always_inline void count_n(__u32 reason, __u64 packets, __u64 bytes)
{
	struct stat_value *s = bpf_map_lookup_elem(&stats, &reason);
	if (s) {
		s->packets += packets;
		s->bytes += bytes;
	}
}

static __always_inline void count(__u32 reason, __u64 bytes)
{
	count_n(reason, 1, bytes);
}

/* sampled_out reports whether 1-in-N sampling skips this packet. */
static __always_inline int sampled_out(void)
{
	__u32 mode = cfg_sample_mode; /* once: every read of a cfg_ is a load */

	if (mode == SAMPLE_RANDOM)
		return bpf_get_prandom_u32() % cfg_sample_rate != 0;
	if (mode == SAMPLE_DETERMINISTIC) {
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
	/* The verifier drops the branches on a cfg_ but not its loads: read
	 * it once, and let the default (every field) leave at one test. */
	__u32 fields = cfg_key_fields;

	if ((fields & KEY_ALL) == KEY_ALL)
		return;
	if (!(fields & KEY_SRC_ADDR))
		__builtin_memset(key->src_addr, 0, sizeof(key->src_addr));
	if (!(fields & KEY_DST_ADDR))
		__builtin_memset(key->dst_addr, 0, sizeof(key->dst_addr));
	if (!(fields & KEY_SRC_PORT))
		key->src_port = 0;
	if (!(fields & KEY_DST_PORT))
		key->dst_port = 0;
	if (!(fields & KEY_PROTO))
		key->proto = 0;
	if (!(fields & KEY_TOS))
		key->tos = 0;
	if (!(fields & KEY_IFINDEX))
		key->ifindex = 0;
	if (!(fields & KEY_VLAN)) {
		key->vlan_id = 0;
		key->inner_vlan_id = 0;
	}
}

/* packets is how many packets on the wire pkt stands for: one, or on
 * egress (skb) a GSO packet's segments. */
static __always_inline __u64 packets(int skb, struct packet *pkt)
{
	return skb ? pkt->segments : 1;
}

static __always_inline void add(struct flow_value *v, int skb, struct packet *pkt, __u64 now)
{
	/* Another CPU may have created the entry: this CPU's value is zero. */
	if (v->packets == 0)
		v->first_ns = now;
	v->packets += packets(skb, pkt);
	v->bytes += pkt->ip_bytes;
	v->last_ns = now;
	v->tcp_flags |= pkt->tcp_flags;
}

/* frame_len is the bytes of a packet load_bytes can read: the XDP frame,
 * or the whole skb (tc_egress: its head may be only the headers). */
static __always_inline __u64 frame_len(void *ctx, int skb)
{
	if (skb)
		return ((struct __sk_buff *)ctx)->len;
	struct xdp_md *xdp = ctx;
	/* 64-bit, so that the verifier sees the bounds on the register the
	 * helper gets (32-bit clamps are made on copies under -mcpu=v1). */
	return (__u64)xdp->data_end - (__u64)xdp->data;
}

static __always_inline long load_bytes(void *ctx, int skb, __u32 off, void *to, __u32 len)
{
	if (skb)
		return bpf_skb_load_bytes(ctx, off, to, len);
	return bpf_xdp_load_bytes(ctx, off, to, len);
}

/* emit hands user space the packet's payload head (or, with no payload,
 * a bare note) through app_samples. skb says what ctx is: a constant, so
 * each program gets its own copy. */
static __always_inline void emit(void *ctx, int skb, struct flow_key *key, __u32 payload_off,
				 __u32 payload_len, __u8 flags)
{
	if (payload_len == 0) {
		struct app_note *n = bpf_ringbuf_reserve(&app_samples, sizeof(*n), 0);
		if (!n) {
			count(STAT_APP_DROPPED, 0);
			return;
		}
		n->key = *key;
		n->payload_len = 0;
		n->head_len = 0;
		n->flags = flags;
		n->_pad = 0;
		bpf_ringbuf_submit(n, 0);
		count(STAT_APP_SAMPLED, 0);
		return;
	}
	struct app_sample *s = bpf_ringbuf_reserve(&app_samples, sizeof(*s), 0);
	if (!s) {
		count(STAT_APP_DROPPED, payload_len);
		return;
	}
	__u64 frame = frame_len(ctx, skb);
	__u64 len = 0;
	if (payload_off < frame) {
		len = frame - payload_off;
		if (len > payload_len)
			len = payload_len;
		if (len > APP_HEAD_SIZE)
			len = APP_HEAD_SIZE;
		if (len > 0 && load_bytes(ctx, skb, payload_off, s->head, len) != 0)
			len = 0;
	}
	s->note.key = *key;
	s->note.payload_len = payload_len;
	s->note.head_len = len;
	s->note.flags = flags;
	s->note._pad = 0;
	bpf_ringbuf_submit(s, 0);
	count(STAT_APP_SAMPLED, len);
}

/* app_sample decides, for a packet of a flow at step (enum app_step),
 * whether its head goes to user space, and returns the flow's next step.
 * A direction's first packet always sends something (its head, or a
 * note), so that user space knows which end spoke first; then only
 * payload packets count, up to the budget, until user space marks the
 * direction done. */
static __always_inline int app_sample(void *ctx, int skb, struct flow_key *key, __u32 payload_off,
				      __u32 payload_len, __u32 step)
{
	if (key->proto != IPPROTO_TCP && key->proto != IPPROTO_UDP)
		return APP_DONE;
	if (step == APP_SAMPLING && payload_len == 0)
		return APP_SAMPLING; /* nothing to hand out: skip the lookup */

	__u8 flags = 0;
	struct app_state *st = bpf_map_lookup_elem(&app_state, key);
	if (!st) {
		struct app_state fresh = {};
		/* Of two CPUs racing here, only the one that creates it is first. */
		if (bpf_map_update_elem(&app_state, key, &fresh, BPF_NOEXIST) == 0)
			flags = APP_FIRST;
		st = bpf_map_lookup_elem(&app_state, key);
		if (!st)
			return APP_DONE; /* evicted at once: the map is far too small */
	}
	if (st->done)
		return APP_DONE;
	if (payload_len > 0) {
		__u32 budget = key->proto == IPPROTO_TCP ? cfg_app_budget_tcp : cfg_app_budget_udp;
		/* Read, then add: two CPUs may both take the last sample (the
		 * classifier ignores what passes its budget), but the add needs
		 * no fetch, which -mcpu=v1 lacks. */
		if (st->sampled >= budget) {
			if (!flags)
				return APP_DONE;
			payload_len = 0; /* first, yet past the budget: a note only */
		} else {
			__sync_fetch_and_add(&st->sampled, 1);
		}
	} else if (!flags) {
		return APP_SAMPLING;
	}
	emit(ctx, skb, key, payload_off, payload_len, flags);
	return APP_SAMPLING;
}

/* app_sample_packet and app_sample_skb are app_sample as global functions
 * for xdp_flow and tc_egress: the verifier checks each once, not once per
 * parse path that reaches it, and the hot path of a flow that is done
 * never calls them. */
__noinline int app_sample_packet(struct xdp_md *ctx, struct flow_key *key, __u32 payload_off,
				 __u32 payload_len, __u32 step)
{
	if (!ctx || !key)
		return APP_DONE;
	return app_sample(ctx, 0, key, payload_off, payload_len, step);
}

__noinline int app_sample_skb(struct __sk_buff *ctx, struct flow_key *key, __u32 payload_off,
			      __u32 payload_len, __u32 step)
{
	if (!ctx || !key)
		return APP_DONE;
	return app_sample(ctx, 1, key, payload_off, payload_len, step);
}

/* sample hands out a packet of flow value v at its step: ctx is xdp_md,
 * or __sk_buff if skb. */
static __always_inline int sample_step(void *ctx, int skb, struct flow_key *key,
				       struct packet *pkt, __u32 step)
{
	if (skb)
		return app_sample_skb(ctx, key, pkt->payload_off, pkt->payload_len, step);
	return app_sample_packet(ctx, key, pkt->payload_off, pkt->payload_len, step);
}

static __always_inline void sample(void *ctx, int skb, struct flow_key *key, struct packet *pkt,
				   struct flow_value *v)
{
	if (cfg_classify && v->app != APP_DONE)
		v->app = sample_step(ctx, skb, key, pkt, v->app);
}

/* route_lookup asks the kernel FIB where a packet of key entering on ctx's
 * interface goes, as forwarding would (policy rules included), and
 * returns enum route_out with the output interface in *out_ifindex. A
 * global function: verified once, called once per flow per slot and CPU. */
__noinline int route_lookup(struct xdp_md *ctx, struct flow_key *key, __u32 *out_ifindex)
{
	if (!ctx || !key || !out_ifindex)
		return ROUTE_UNKNOWN;
	struct bpf_fib_lookup fib = {};
	if (key->ip_version == 4) {
		fib.family = AF_INET;
		fib.tos = key->tos;
		fib.ipv4_src = *(__u32 *)&key->src_addr[12];
		fib.ipv4_dst = *(__u32 *)&key->dst_addr[12];
	} else {
		fib.family = AF_INET6;
		fib.flowinfo = 0;
		__builtin_memcpy(fib.ipv6_src, key->src_addr, 16);
		__builtin_memcpy(fib.ipv6_dst, key->dst_addr, 16);
	}
	fib.l4_protocol = key->proto;
	fib.sport = bpf_htons(key->src_port);
	fib.dport = bpf_htons(key->dst_port);
	fib.tot_len = 0; /* no MTU check: any size is routed the same */
	fib.ifindex = ctx->ingress_ifindex;

	switch (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0)) {
	case BPF_FIB_LKUP_RET_SUCCESS:
	case BPF_FIB_LKUP_RET_NO_NEIGH: /* routed; the neighbour is not resolved yet */
		*out_ifindex = fib.ifindex;
		return ROUTE_IFACE;
	case BPF_FIB_LKUP_RET_NOT_FWDED: /* local, broadcast or multicast */
		return ROUTE_LOCAL;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return ROUTE_NULL;
	}
	return ROUTE_UNKNOWN;
}

/* route stores in a flow's fresh copy where it leaves: what the FIB says
 * (cfg_route), the mirrored router's output port (cfg_ifmap) or, on
 * egress (skb), the interface it leaves by (pkt->out_ifindex). */
static __always_inline void route(void *ctx, int skb, struct flow_key *key, struct packet *pkt,
				  struct flow_value *v)
{
	__u32 ifindex = 0;
	if (cfg_route && !skb) {
		v->out = route_lookup(ctx, key, &ifindex);
		v->out_ifindex = ifindex;
	} else if (pkt->out_ifindex) {
		v->out = ROUTE_IFACE;
		v->out_ifindex = pkt->out_ifindex;
	}
}

/* DEDUP_BYTES: the IP header (IPv4's first 20 bytes, IPv6's 40) and the
 * 20 bytes that follow it — ports, TCP sequence and acknowledgement, UDP
 * length and checksum — are what makes a packet itself, with the TTL (hop
 * limit) and IPv4 checksum zeroed: a copy mirrored one hop later differs
 * in those alone. */
#define DEDUP_L3 40
#define DEDUP_L4 20

/* is_duplicate reports whether the packet whose IP header starts at ip_off
 * is a copy of one seen within cfg_dedup_ns, and remembers it if not. Two
 * copies arriving at the same moment on two CPUs may both pass. */
__noinline int is_duplicate(struct xdp_md *ctx, __u32 ip_off, __u32 ip_version)
{
	__u8 b[DEDUP_L3 + DEDUP_L4] = {};
	__u32 l3, l4_off, ip_end;

	if (!ctx)
		return 0;
	if (ip_version == 4) {
		l3 = 20;
		if (bpf_xdp_load_bytes(ctx, ip_off, b, 20))
			return 0;
		b[8] = 0;            /* TTL */
		b[10] = b[11] = 0;   /* header checksum */
		l4_off = ip_off + (b[0] & 0x0f) * 4;
		ip_end = ip_off + bpf_ntohs(*(__u16 *)&b[2]); /* total length */
	} else {
		l3 = 40;
		if (bpf_xdp_load_bytes(ctx, ip_off, b, 40))
			return 0;
		b[7] = 0; /* hop limit */
		l4_off = ip_off + 40;
		ip_end = l4_off + bpf_ntohs(*(__u16 *)&b[4]); /* payload length */
	}
	/* Up to the packet's end, not the frame's: Ethernet padding may
	 * differ between two copies of one packet. */
	__u64 frame = (__u64)ctx->data_end - (__u64)ctx->data;
	if (ip_end < frame)
		frame = ip_end;
	__u64 len = 0;
	if (l4_off < frame)
		len = frame - l4_off;
	if (len > DEDUP_L4)
		len = DEDUP_L4;
	if (len > 0 && bpf_xdp_load_bytes(ctx, l4_off, b + DEDUP_L3, len))
		len = 0;

	__u64 h = 0xcbf29ce484222325ULL; /* FNV-1a, 64 bits */
	for (int i = 0; i < DEDUP_L3 + DEDUP_L4; i++) {
		if (i >= 20 && i < DEDUP_L3 && l3 == 20)
			continue; /* IPv4: the unused part of the header buffer */
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	__u64 now = cfg_coarse_clock ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();
	__u64 *seen = bpf_map_lookup_elem(&dedup, &h);
	if (seen && now - *seen <= cfg_dedup_ns)
		return 1;
	bpf_map_update_elem(&dedup, &h, &now, BPF_ANY);
	return 0;
}

/* map_interfaces finds the mirrored router's ports of a frame on vlan that
 * came in tunnel (0: none) from --interface-map: *in the port it entered
 * by (0: keep the capture interface), *out the one it left by (0:
 * unknown). The tunnel first, then the VLAN, then the MACs: the most
 * specific says last. */
__noinline int map_interfaces(struct xdp_md *ctx, __u32 vlan, __u32 tunnel, __u32 *in,
				  __u32 *out)
{
	__u8 macs[12] = {};

	if (!ctx || !in || !out)
		return 0;
	struct ifmap_value *v = bpf_map_lookup_elem(&ifmap_tunnel, &tunnel);
	if (v && tunnel) {
		if (v->dir == IFMAP_INPUT)
			*in = v->ifindex;
		else
			*out = v->ifindex;
	}
	v = bpf_map_lookup_elem(&ifmap_vlan, &vlan);
	if (v) {
		if (v->dir == IFMAP_INPUT)
			*in = v->ifindex;
		else
			*out = v->ifindex;
	}
	if (bpf_xdp_load_bytes(ctx, 0, macs, 12))
		return 0;
	__u64 dst = 0, src = 0;
	__builtin_memcpy(&dst, macs, 6);
	__builtin_memcpy(&src, macs + 6, 6);
	if ((v = bpf_map_lookup_elem(&ifmap_mac, &dst)))
		*in = v->ifindex;
	if ((v = bpf_map_lookup_elem(&ifmap_mac, &src)))
		*out = v->ifindex;
	return 0;
}

/* note_new_flow counts a flow put into the active slot and, at
 * cfg_fill_signal of them, asks user space once for a harvest now: the
 * slot is drained when it fills, not only on the interval. */
static __always_inline void note_new_flow(void)
{
	__u32 zero = 0;
	struct slot_fill *f = bpf_map_lookup_elem(&fill_level, &zero);
	if (!f)
		return;
	__sync_fetch_and_add(&f->new_flows, 1);
	if (f->new_flows >= cfg_fill_signal && !f->signaled) {
		f->signaled = 1;
		bpf_ringbuf_output(&fill_signal, &f->new_flows, sizeof(f->new_flows), BPF_RB_FORCE_WAKEUP);
	}
}

/* overflow_account counts a packet whose flow found the active slot full
 * into its overflow record: protocol, input interface and direction, and
 * the source and destination prefixes (/24 for IPv4, /64 for IPv6), so
 * that a flood's packets all reach the collector and its sources and
 * targets are still named. It returns STAT_OVERFLOW, or STAT_MAP_FULL
 * when the overflow map is full too. A global function: it runs only
 * when the slot is full. */
__noinline int overflow_account(struct flow_key *key, struct packet *pkt, __u64 now, __u64 packets)
{
	__u32 entry = SLOT_OVERFLOW;

	if (!key || !pkt)
		return STAT_MAP_FULL;
	void *ovf = bpf_map_lookup_elem(&flows_slot, &entry);
	if (!ovf)
		return STAT_MAP_FULL;
	struct flow_key k = {};
	__builtin_memcpy(k.src_addr, key->src_addr, 16);
	__builtin_memcpy(k.dst_addr, key->dst_addr, 16);
	if (key->ip_version == 4) {
		k.src_addr[15] = 0;
		k.dst_addr[15] = 0;
	} else {
		__builtin_memset(&k.src_addr[8], 0, 8);
		__builtin_memset(&k.dst_addr[8], 0, 8);
	}
	k.ifindex = key->ifindex;
	k.proto = key->proto;
	k.ip_version = key->ip_version;
	k.direction = key->direction | FLOW_OVERFLOW;

	struct flow_value *v = bpf_map_lookup_elem(ovf, &k);
	if (!v) {
		struct flow_value fresh = {.first_ns = now};
		long err = bpf_map_update_elem(ovf, &k, &fresh, BPF_NOEXIST);
		if (err != 0 && err != -EEXIST)
			return STAT_MAP_FULL;
		v = bpf_map_lookup_elem(ovf, &k);
		if (!v)
			return STAT_MAP_FULL;
	}
	if (v->packets == 0)
		v->first_ns = now;
	v->packets += packets;
	v->bytes += pkt->ip_bytes;
	v->last_ns = now;
	v->tcp_flags |= pkt->tcp_flags;
	return STAT_OVERFLOW;
}

/* account adds the packet (pkt->segments of them) to its flow in the
 * active slot and returns STAT_ACCOUNTED; when the slot has no room, to
 * its overflow record (STAT_OVERFLOW), or nowhere (STAT_MAP_FULL). ctx is
 * xdp_md, or __sk_buff if skb (a constant). */
static __always_inline __u32 account(void *ctx, int skb, struct flow_key *key, struct packet *pkt)
{
	__u32 entry = SLOT_FLOWS;
	void *flows = bpf_map_lookup_elem(&flows_slot, &entry);
	if (!flows)
		return STAT_MAP_FULL; /* no slot installed: nowhere to count */

	__u64 now = cfg_coarse_clock ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();
	struct flow_value *v = bpf_map_lookup_elem(flows, key);
	if (v) {
		/* packets first: a flow's later packets read no cfg_ here. */
		if (v->packets == 0 && (cfg_route || cfg_ifmap || skb)) /* this CPU's copy is new */
			route(ctx, skb, key, pkt, v);
		add(v, skb, pkt, now);
		sample(ctx, skb, key, pkt, v);
		return STAT_ACCOUNTED;
	}

	struct flow_value fresh = {
		.packets = packets(skb, pkt),
		.bytes = pkt->ip_bytes,
		.first_ns = now,
		.last_ns = now,
		.tcp_flags = pkt->tcp_flags,
	};
	if (cfg_route || cfg_ifmap || skb)
		route(ctx, skb, key, pkt, &fresh);
	long err = bpf_map_update_elem(flows, key, &fresh, BPF_NOEXIST);
	if (err == 0) {
		if (cfg_fill_signal)
			note_new_flow();
		/* The copy in the map stays at APP_LOOKUP: its next packet asks
		 * app_state again, which this one has just set up. */
		if (cfg_classify)
			sample_step(ctx, skb, key, pkt, APP_LOOKUP);
		return STAT_ACCOUNTED;
	}
	if (err == -EEXIST) { /* another CPU inserted it first */
		v = bpf_map_lookup_elem(flows, key);
		if (v) {
			if (v->packets == 0 && (cfg_route || cfg_ifmap || skb))
				route(ctx, skb, key, pkt, v);
			add(v, skb, pkt, now);
			sample(ctx, skb, key, pkt, v);
			return STAT_ACCOUNTED;
		}
	}
	return overflow_account(key, pkt, now, packets(skb, pkt));
}

/* parse_at parses the frame from offset off (0, or a tunnel's inner
 * frame) into key and pkt, which must be zero, and returns the outcome:
 * STAT_ACCOUNTED means parsed. */
static __always_inline int parse_at(void *data, void *data_end, __u32 off, struct flow_key *key,
				    struct packet *pkt, int skb)
{
	if (off > MAX_FRAME_OFFSET)
		return STAT_UNSUPPORTED;
	void *ip = data + off;
	__u32 reason = parse_l2(&ip, data_end, key, &key->ip_version);
	if (reason != STAT_ACCOUNTED)
		return reason;
	/* An offset, fixed here: a packet pointer kept live to the dedup
	 * check would differ on every parse path and keep the verifier from
	 * merging them. */
	__u32 ip_off = ip - data;
	asm volatile("" : "+r"(ip_off));
	pkt->ip_off = ip_off;
	if (key->ip_version == 4)
		return parse_ipv4(data, ip, data_end, key, pkt, skb);
	return parse_ipv6(data, ip, data_end, key, pkt, skb);
}

/* parse_frame is parse_at as a global function, for --decap, which parses
 * twice: the verifier checks its many paths once, not once per call, and
 * the caller goes on from one state. Without --decap the hot path parses
 * inline: the call and the key written through memory cost ~10 ns. */
__noinline int parse_frame(struct xdp_md *ctx, __u32 off, struct flow_key *key,
			   struct packet *pkt)
{
	if (!ctx || !key || !pkt)
		return STAT_MALFORMED;
	return parse_at((void *)(long)ctx->data, (void *)(long)ctx->data_end, off, key, pkt, 0);
}

#define IPPROTO_GRE_ 47
#define GRE_CSUM 0x8000
#define GRE_ROUTING 0x4000
#define GRE_KEY 0x2000
#define GRE_SEQ 0x1000
#define GRE_VERSION 0x0007


/* tunnel_inner returns where the inner Ethernet frame starts when the
 * packet parsed into key and pkt is a tunnel cfg_decap opens, 0 when it
 * is not; *id gets the VXLAN/GENEVE VNI or the ERSPAN session, with its
 * enum tunnel_kind in the high byte (0 for ERSPAN type I, which has none). */
__noinline int tunnel_inner(struct xdp_md *ctx, struct flow_key *key, struct packet *pkt,
			    __u32 *id)
{
	__u8 h[12] = {};

	if (!ctx || !key || !pkt || !id || pkt->l4_off == 0)
		return 0;
	__u32 off = pkt->l4_off, len = pkt->l4_len;
	if (key->proto == IPPROTO_UDP) {
		/* 8 bytes of UDP, 8 of VXLAN or GENEVE's fixed header. */
		if (len < 16 || bpf_xdp_load_bytes(ctx, off + 8, h, 8))
			return 0;
		__u32 vni = ((__u32)h[4] << 16) | ((__u32)h[5] << 8) | h[6];
		if ((cfg_decap & DECAP_VXLAN) && key->dst_port == cfg_vxlan_port) {
			if (!(h[0] & 0x08)) /* the I flag: a valid VNI */
				return 0;
			*id = TUNNEL_VNI << 24 | vni;
			return off + 16;
		}
		if ((cfg_decap & DECAP_GENEVE) && key->dst_port == cfg_geneve_port) {
			__u32 opts = (h[0] & 0x3f) * 4;
			if (h[0] >> 6 || h[2] != 0x65 || h[3] != 0x58 || len < 16 + opts)
				return 0; /* version 0, Ethernet inside, options inside */
			*id = TUNNEL_VNI << 24 | vni;
			return off + 16 + opts;
		}
		return 0;
	}
	if (key->proto != IPPROTO_GRE_ || !(cfg_decap & DECAP_ERSPAN))
		return 0;
	if (len < 4 || bpf_xdp_load_bytes(ctx, off, h, 4))
		return 0;
	__u16 flags = ((__u16)h[0] << 8) | h[1], proto = ((__u16)h[2] << 8) | h[3];
	if (flags & (GRE_VERSION | GRE_ROUTING))
		return 0;
	__u32 gre = 4 + (flags & GRE_CSUM ? 4 : 0) + (flags & GRE_KEY ? 4 : 0) + (flags & GRE_SEQ ? 4 : 0);
	__u32 erspan;
	/* linux/if_ether.h: ETH_P_ERSPAN is type II's 0x88be, ETH_P_ERSPAN2
	 * type III's 0x22eb. */
	if (proto == ETH_P_ERSPAN && !(flags & GRE_SEQ)) {
		erspan = 0; /* type I: the frame follows GRE at once */
	} else if (proto == ETH_P_ERSPAN) {
		if (len < gre + 8 || bpf_xdp_load_bytes(ctx, off + gre, h, 8) || h[0] >> 4 != 1)
			return 0;
		erspan = 8;
	} else if (proto == ETH_P_ERSPAN2) {
		if (len < gre + 12 || bpf_xdp_load_bytes(ctx, off + gre, h, 12) || h[0] >> 4 != 2)
			return 0;
		erspan = h[11] & 0x01 ? 20 : 12; /* O: an 8-byte platform subheader follows */
	} else {
		return 0;
	}
	if (len < gre + erspan)
		return 0;
	if (erspan)
		*id = TUNNEL_SESSION << 24 | ((__u32)(h[2] & 0x03) << 8) | h[3];
	return off + gre + erspan;
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
	__u32 reason, tunnel = 0;
	if (!cfg_decap) {
		reason = parse_at(data, data_end, 0, &key, &pkt, 0);
	} else if ((reason = parse_frame(ctx, 0, &key, &pkt)) == STAT_ACCOUNTED) {
		__u32 id = 0, inner = tunnel_inner(ctx, &key, &pkt, &id);
		if (inner) { /* the mirrored packet is inside: it alone counts */
			__builtin_memset(&key, 0, sizeof(key));
			__builtin_memset(&pkt, 0, sizeof(pkt));
			reason = parse_frame(ctx, inner, &key, &pkt);
			tunnel = id;
		}
	}
	if (reason != STAT_ACCOUNTED) {
		count(reason, frame_len);
		return cfg_action;
	}

	if (cfg_dedup_ns && is_duplicate(ctx, pkt.ip_off, key.ip_version)) {
		count(STAT_DUPLICATE, pkt.ip_bytes);
		return cfg_action;
	}
	key.ifindex = ctx->ingress_ifindex;
	if (cfg_ifmap) {
		__u32 in = 0, out = 0;
		map_interfaces(ctx, key.vlan_id, tunnel, &in, &out);
		if (in)
			key.ifindex = in;
		pkt.out_ifindex = out;
	}
	mask_key(&key);
	reason = account(ctx, 0, &key, &pkt);
	count(reason, pkt.ip_bytes);
	if (reason == STAT_ACCOUNTED && pkt.no_l4)
		count(STAT_NO_L4, pkt.ip_bytes);
	return cfg_action;
}

/* EGRESS_HEADERS: the bytes tc_egress wants in the skb's linear head to
 * parse a frame: Ethernet, two tags, IPv6 and its extension headers, TCP. */
#define EGRESS_HEADERS 256

/* skb_transport completes what parse_skb found, from the transport header
 * at pkt->l4_off: with cfg_classify the payload of TCP and UDP (as
 * locate_payload does; apart, so that its branches do not multiply the
 * parse's), and the packets on the wire skb stands for. A GSO packet is
 * pkt->segments packets, whose IP bytes are its own IP length (from the
 * skb: the IP header of a GSO packet may not hold it, IPv6 BIG TCP) plus
 * the IP and transport headers each further segment repeats. A global
 * function, called once the parse has its one state. */
__noinline int skb_transport(struct __sk_buff *skb, struct flow_key *key, struct packet *pkt)
{
	__u8 doff = 0;
	__u32 hlen = 0;

	if (!skb || !key || !pkt)
		return 0;
	__u32 off = pkt->no_l4 ? 0 : pkt->l4_off, avail = pkt->l4_len;
	if (off && key->proto == IPPROTO_UDP && avail >= 8)
		hlen = 8;
	else if (off && key->proto == IPPROTO_TCP && avail >= 13 && !bpf_skb_load_bytes(skb, off + 12, &doff, 1))
		hlen = (doff >> 4) * 4 >= 20 ? (doff >> 4) * 4 : 0;
	if (cfg_classify && hlen && hlen < avail) {
		pkt->payload_len = avail - hlen;
		pkt->payload_off = off + hlen;
	}
	pkt->segments = 1;
	__u32 segs = skb->gso_segs;
	if (segs > 1) {
		__u32 hdr = hlen ? off + hlen - pkt->ip_off : 0;
		pkt->segments = segs;
		pkt->ip_bytes = skb->len - pkt->ip_off + (__u64)(segs - 1) * hdr;
	}
	return 0;
}

/* parse_skb is parse_at for tc_egress, with the headers pulled into the
 * skb's linear head first. A global function: the verifier checks its
 * many paths once, and tc_egress goes on from one state. */
__noinline int parse_skb(struct __sk_buff *skb, struct flow_key *key, struct packet *pkt)
{
	if (!skb || !key || !pkt)
		return STAT_MALFORMED;
	__u32 want = skb->len < EGRESS_HEADERS ? skb->len : EGRESS_HEADERS;
	if (skb->data_end - skb->data < want)
		bpf_skb_pull_data(skb, want); /* on failure parse says truncated */
	return parse_at((void *)(long)skb->data, (void *)(long)skb->data_end, 0, key, pkt, 1);
}

/* tc_egress counts packets as they leave the interface it is attached to
 * (TC egress, --direction egress|both), as IOS's `ip flow egress`: into
 * the same slots as xdp_flow, with direction DIR_EGRESS in the key, the
 * interface it arrived by (0: sent by this host) as input and this one as
 * output. A GSO packet counts as the segments it leaves as. It never
 * drops: what xdp_flow's cfg_action does to a mirror port does not apply
 * to a router's traffic. */
SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	if (sampled_out()) {
		count(STAT_SAMPLED_OUT, skb->len);
		return TC_ACT_UNSPEC;
	}
	struct flow_key key = {};
	struct packet pkt = {};
	__u32 reason = parse_skb(skb, &key, &pkt);
	if (reason != STAT_ACCOUNTED) {
		count(reason, skb->len);
		return TC_ACT_UNSPEC;
	}
	skb_transport(skb, &key, &pkt);
	key.ifindex = skb->ingress_ifindex;
	key.direction = DIR_EGRESS;
	pkt.out_ifindex = skb->ifindex;
	mask_key(&key);
	reason = account(skb, 1, &key, &pkt);
	count_n(reason, pkt.segments, pkt.ip_bytes);
	if (reason == STAT_ACCOUNTED && pkt.no_l4)
		count_n(STAT_NO_L4, pkt.segments, pkt.ip_bytes);
	return TC_ACT_UNSPEC;
}
