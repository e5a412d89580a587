//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* livegen.c: the traffic generator of bench/peers. xdp_livegen is run by
 * BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES from the sender's end of a
 * veth pair: every repeat
 *  1. takes the next sequence number from state (one runner at a time: the
 *     harness pins its single sender thread, so no atomics are needed);
 *  2. derives the whole frame from that number and the mix (headers,
 *     length), writing every header byte, because live mode recycles its
 *     pages and a frame may start as the original or as any earlier one;
 *  3. returns XDP_TX, which live mode turns into a transmit out of the
 *     sender's veth end, or XDP_DROP for a slot the mix leaves empty or
 *     once the limit is reached, and counts what it sent.
 * The harness paces a run by the number of repeats per syscall.
 * bench/peers holds the same functions in Go (mix.go): its ground truth
 * is recomputed from the sequence numbers used and must equal the counts
 * here, and a test compares the frames byte for byte. L4 checksums are
 * left 0: none of the probes reads them. */

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "GPL";

enum mix { MIX_STEADY, MIX_REALISTIC, MIX_SHORT, MIX_FLOOD };

/* state: 0 → the run's configuration and counters. Written by the harness
 * before a run (mix, limit, next = 0), read back after it. */
struct gen_state {
	__u64 next;     /* next sequence number */
	__u64 limit;    /* sequence numbers from here on are not sent */
	__u64 sent;     /* frames sent (XDP_TX, or clones the qdisc took) */
	__u64 ip_bytes; /* their IP total lengths */
	__u64 refused;  /* tc_livegen: clones the qdisc refused, tried again */
	__u64 errors;   /* frames that could not be sized or written */
	__u32 mix;
	__u32 ifindex; /* tc_livegen: where clones go */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_state);
} state SEC(".maps");

/* pkt is one frame before it is written: addresses in host order. */
struct pkt {
	__u32 src4, dst4; /* IPv4; IPv6 2001:db8::/96 plus these 32 bits */
	__u16 sport, dport; /* ICMP: type and code in sport's two bytes */
	__u16 iplen;        /* IP total length */
	__u16 vlan;         /* 802.1Q VID, 0 = untagged */
	__u8 v6, proto, flags;
};

#define NET_A 0xc6120000 /* 198.18.0.0: clients and flood sources */
#define NET_B 0xc6130000 /* 198.19.0.0: servers */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* Mixes. Each fills p from seq and returns 1 to send, 0 to skip. */

/* steady: 1,024 long TCP flows, round robin, 60 to 1,020-byte frames. */
static __always_inline int mix_steady(__u64 seq, struct pkt *p)
{
	__u32 f = seq & 1023;

	p->src4 = NET_A | f;
	p->dst4 = NET_B | 1;
	p->proto = IPPROTO_TCP;
	p->flags = TCP_ACK;
	p->sport = 10000 + f;
	p->dport = 443;
	p->iplen = 46 + (f & 15) * 64;
	return 1;
}

/* realistic: units of 32 packets, 256 units under way at once. A unit is
 * a DNS query and answer, an ICMP echo and reply, and three TCP sessions
 * (IPv4 to 443, IPv6 to 443, VLAN-tagged IPv4 to 8080), both directions:
 * 10 flows. Its client and server addresses come from the unit number,
 * so every flow of the run has its own 5-tuple. */
enum kind { K_DNS, K_TCP4, K_ICMP, K_TCP6, K_VLAN };

struct step {
	__u8 kind, reply, flags;
	__u16 iplen;
};

#define SA (TCP_SYN | TCP_ACK)
#define PA (TCP_PSH | TCP_ACK)
#define FA (TCP_FIN | TCP_ACK)
static const struct step unit_steps[32] = {
	{K_DNS, 0, 0, 60},      {K_DNS, 1, 0, 120},     {K_TCP4, 0, TCP_SYN, 40},
	{K_TCP4, 1, SA, 40},    {K_TCP4, 0, TCP_ACK, 40}, {K_TCP4, 0, PA, 300},
	{K_TCP4, 1, TCP_ACK, 1500}, {K_TCP4, 1, TCP_ACK, 1500}, {K_TCP4, 0, TCP_ACK, 40},
	{K_TCP4, 1, PA, 1500},  {K_ICMP, 0, 8, 84},     {K_ICMP, 1, 0, 84},
	{K_TCP6, 0, TCP_SYN, 60}, {K_TCP6, 1, SA, 60},  {K_TCP6, 0, TCP_ACK, 60},
	{K_TCP6, 0, PA, 400},   {K_TCP6, 1, TCP_ACK, 1280}, {K_VLAN, 0, TCP_SYN, 40},
	{K_VLAN, 1, SA, 40},    {K_VLAN, 0, TCP_ACK, 40}, {K_VLAN, 0, PA, 200},
	{K_VLAN, 1, PA, 900},   {K_TCP4, 0, TCP_ACK, 40}, {K_TCP4, 1, PA, 700},
	{K_TCP6, 1, PA, 1000},  {K_TCP6, 0, TCP_ACK, 60}, {K_TCP4, 0, FA, 40},
	{K_TCP4, 1, FA, 40},    {K_TCP4, 0, TCP_ACK, 40}, {K_VLAN, 0, FA, 40},
	{K_VLAN, 1, FA, 40},    {K_TCP6, 0, FA, 60},
};

#define LANES 256 /* units or flows under way at once */

static __always_inline int mix_realistic(__u64 seq, struct pkt *p)
{
	__u64 block = seq / (LANES * 32);
	__u32 within = seq % (LANES * 32);
	__u32 u = block * LANES + within % LANES;
	const struct step *s = &unit_steps[(within / LANES) & 31];
	__u32 client = NET_A | (u & 0xffff), server = NET_B | (((u >> 16) + 1) & 0xffff);
	__u16 cport = 20000 + (u & 0x3fff), sport;

	p->iplen = s->iplen;
	p->flags = s->flags;
	switch (s->kind) {
	case K_DNS:
		p->proto = IPPROTO_UDP;
		sport = 53;
		break;
	case K_ICMP: /* type and code in sport; flags says the type */
		p->proto = IPPROTO_ICMP;
		p->flags = 0;
		p->src4 = s->reply ? server : client;
		p->dst4 = s->reply ? client : server;
		p->sport = (__u16)s->flags << 8;
		return 1;
	case K_TCP6:
		p->v6 = 1;
		/* fall through */
	case K_TCP4:
		p->proto = IPPROTO_TCP;
		sport = 443;
		break;
	default: /* K_VLAN */
		p->proto = IPPROTO_TCP;
		p->vlan = 100 + (u & 7);
		sport = 8080;
		break;
	}
	p->src4 = s->reply ? server : client;
	p->dst4 = s->reply ? client : server;
	p->sport = s->reply ? sport : cport;
	p->dport = s->reply ? cport : sport;
	return 1;
}

/* hash32 spreads a flow number over 32 bits (any fixed mixing would do). */
static __always_inline __u32 hash32(__u32 x)
{
	x *= 0x9e3779b1;
	return x ^ (x >> 15);
}

/* short: flows of 1 to 5 packets, 256 under way at once: each flow has 5
 * slots, one every 256 packets, and uses the first 1-5 of them. Odd flows
 * are UDP to 53, even ones TCP to 80 (SYN first). */
static __always_inline int mix_short(__u64 seq, struct pkt *p)
{
	__u64 block = seq / (LANES * 5);
	__u32 within = seq % (LANES * 5);
	__u32 f = block * LANES + within % LANES, r = within / LANES, h = hash32(f);

	if (r >= 1 + h % 5)
		return 0;
	p->src4 = NET_A | (f & 0xffff);
	p->dst4 = NET_B | (((f >> 16) + 1) & 0xffff);
	p->sport = 1024 + (f & 0x7fff);
	p->iplen = 40 + ((h >> 8) & 7) * 40;
	if (f & 1) {
		p->proto = IPPROTO_UDP;
		p->dport = 53;
	} else {
		p->proto = IPPROTO_TCP;
		p->dport = 80;
		p->flags = r == 0 ? TCP_SYN : TCP_ACK;
	}
	return 1;
}

/* flood: every packet a new flow, a 60-byte TCP SYN from a scattered
 * source address in 198.18.0.0/15 and port to 198.18.0.1:80. Both steps
 * of the scramble are one-to-one on 33 bits, so sources repeat only after
 * 2^33 packets. */
static __always_inline int mix_flood(__u64 seq, struct pkt *p)
{
	__u64 h = (seq * 0x9e3779b97f4a7c15ULL) & 0x1ffffffffULL;

	h ^= h >> 17;
	p->src4 = NET_A + (__u32)(h >> 16);
	p->sport = h & 0xffff;
	p->dst4 = NET_A | 1;
	p->dport = 80;
	p->proto = IPPROTO_TCP;
	p->flags = TCP_SYN;
	p->iplen = 40;
	return 1;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __always_inline void put16(__u8 *b, __u16 v)
{
	b[0] = v >> 8;
	b[1] = v;
}

static __always_inline void put32(__u8 *b, __u32 v)
{
	put16(b, v >> 16);
	put16(b + 2, v);
}

/* write_l4 writes the TCP, UDP or ICMP header at l4 (bounds checked by the
 * caller for 20 bytes). */
static __always_inline void write_l4(__u8 *l4, const struct pkt *p, __u16 l4len)
{
	__u32 i;

	for (i = 0; i < 20; i++)
		l4[i] = 0;
	if (p->proto == IPPROTO_ICMP) {
		put16(l4, p->sport); /* type, code; checksum, id, seq 0 */
		return;
	}
	put16(l4, p->sport);
	put16(l4 + 2, p->dport);
	if (p->proto == IPPROTO_UDP) {
		put16(l4 + 4, l4len);
		return;
	}
	l4[12] = 5 << 4;
	l4[13] = p->flags;
	put16(l4 + 14, 65535);
}

static __always_inline void sent(struct gen_state *st, __u64 seq, const struct pkt *p)
{
	st->next = seq + 1;
	st->sent++;
	st->ip_bytes += p->iplen;
}

/* pick fills p with the packet of seq in mix; 0: an empty slot. */
static __always_inline int pick(__u32 mix, __u64 seq, struct pkt *p)
{
	switch (mix) {
	case MIX_STEADY:
		return mix_steady(seq, p);
	case MIX_REALISTIC:
		return mix_realistic(seq, p);
	case MIX_SHORT:
		return mix_short(seq, p);
	default:
		return mix_flood(seq, p);
	}
}

static __always_inline int frame_len(const struct pkt *p)
{
	int len = (p->vlan ? 18 : 14) + p->iplen;

	return len < 60 ? 60 : len;
}

/* write_frame writes every header of p from data on; -1 if the frame
 * (already frame_len long) does not hold them. */
static __always_inline int write_frame(__u8 *data, __u8 *end, const struct pkt *p)
{
	__u32 i;

	if (data + 18 > end)
		return -1;
	/* Ethernet: 02:00:be:00:00:02 ← 02:00:be:00:00:01 */
	for (i = 0; i < 12; i++)
		data[i] = 0;
	data[0] = data[6] = 0x02;
	data[2] = data[8] = 0xbe;
	data[5] = 0x02;
	data[11] = 0x01;
	__u16 ethertype = p->v6 ? 0x86dd : 0x0800;
	if (p->vlan) {
		put16(data + 12, 0x8100);
		put16(data + 14, p->vlan);
		put16(data + 16, ethertype);
	} else {
		put16(data + 12, ethertype);
	}

	__u8 *ip = data + (p->vlan ? 18 : 14);
	if (p->v6) {
		if (ip + 40 + 20 > end)
			return -1;
		__u16 plen = p->iplen - 40;
		put32(ip, 0x60000000);
		put16(ip + 4, plen);
		ip[6] = p->proto;
		ip[7] = 64;
		for (i = 8; i < 40; i++)
			ip[i] = 0;
		put32(ip + 8, 0x20010db8);
		put32(ip + 20, p->src4);
		put32(ip + 24, 0x20010db8);
		put32(ip + 36, p->dst4);
		write_l4(ip + 40, p, plen);
		return 0;
	}
	if (ip + 20 + 20 > end)
		return -1;
	__u32 sum = 0;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, p->iplen);
	put32(ip + 4, 0);
	ip[8] = 64;
	ip[9] = p->proto;
	put16(ip + 10, 0);
	put32(ip + 12, p->src4);
	put32(ip + 16, p->dst4);
	for (i = 0; i < 20; i += 2)
		sum += (__u32)ip[i] << 8 | ip[i + 1];
	put16(ip + 10, csum_fold(sum));
	write_l4(ip + 20, p, p->iplen - 20);
	return 0;
}

SEC("xdp")
int xdp_livegen(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct gen_state *st = bpf_map_lookup_elem(&state, &zero);
	struct pkt p = {};
	__u64 seq;
	int len;

	if (!st)
		return XDP_ABORTED;
	seq = st->next;
	if (seq >= st->limit)
		return XDP_DROP;
	if (!pick(st->mix, seq, &p)) {
		st->next = seq + 1;
		return XDP_DROP;
	}
	len = frame_len(&p) - (ctx->data_end - ctx->data);
	if (len && bpf_xdp_adjust_tail(ctx, len))
		goto fail;
	if (write_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p))
		goto fail;
	sent(st, seq, &p);
	return XDP_TX;
fail:
	st->errors++;
	return XDP_ABORTED;
}

/* tc_livegen is the same generator for kernels that refuse live frames:
 * run by BPF_PROG_RUN as a TC program, it writes the frame into the test
 * run's skb and transmits a clone out of state.ifindex (0: none, a dry
 * run). A clone the sender's qdisc refuses (full) is not counted and its
 * sequence number is tried again on the next repeat, so the sender goes as
 * fast as the receiver drains the veth and loses nothing on the way. */
SEC("tc")
int tc_livegen(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct gen_state *st = bpf_map_lookup_elem(&state, &zero);
	struct pkt p = {};
	__u64 seq;
	int len;

	if (!st)
		return TC_ACT_SHOT;
	seq = st->next;
	if (seq >= st->limit)
		return TC_ACT_SHOT;
	if (!pick(st->mix, seq, &p)) {
		st->next = seq + 1;
		return TC_ACT_SHOT;
	}
	len = frame_len(&p);
	/* change_tail sizes the frame; pull_data makes it private (a clone
	 * sent before shares its data) and linear for direct access. */
	if ((skb->len != len && bpf_skb_change_tail(skb, len, 0)) || bpf_skb_pull_data(skb, len))
		goto fail;
	if (write_frame((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
		goto fail;
	if (st->ifindex && bpf_clone_redirect(skb, st->ifindex, 0)) {
		st->refused++;
		return TC_ACT_SHOT;
	}
	sent(st, seq, &p);
	return TC_ACT_OK;
fail:
	st->errors++;
	return TC_ACT_SHOT;
}
