/* parse.h: header-cursor parsers for xdp_flow. Each parse_* function takes
 * the frame bounds, fills the key and the packet facts it owns, and returns
 * an enum stat_reason: STAT_ACCOUNTED means "parsed, go on". Every packet
 * access is bounds-checked against the frame end (for the verifier) and
 * every transport access against the IP payload length too (for meaning). */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "config.h"
#include "flow.h"

#define MAX_VLAN_TAGS 2
#define MAX_MPLS_LABELS 8
#define MAX_IPV6_EXT_HEADERS 8
#define MAX_HBH_OPTIONS 8

#define ETH_P_PPP_SES_ 0x8864
#define PPP_IP 0x0021
#define PPP_IPV6 0x0057
#define IPV6_OPT_JUMBO 0xc2

/* packet: what a parsed frame adds to its flow besides the key. */
struct packet {
	__u64 ip_bytes;  /* IPv4 total length, IPv6 40 + payload (or jumbo) length */
	__u8 tcp_flags;  /* TCP flag byte, 0 for other protocols */
	__u8 no_l4;      /* the transport header was cut off */
	/* With cfg_classify, for TCP and UDP: the transport payload's length
	 * inside the IP packet (0: none, or the header is cut or overlong) and
	 * its offset in the frame, as probe.ParseFramePayload says. Scalars,
	 * not a packet pointer: one that differs on every parse path would
	 * keep the verifier from merging the paths after it. */
	__u32 payload_len;
	__u32 payload_off;
	__u32 ip_off;      /* where the IP header starts in the frame */
	__u32 l4_off;      /* with cfg_decap: where the transport header starts, 0 if none */
	__u32 l4_len;      /* with cfg_decap: its bytes inside the IP payload */
	__u32 out_ifindex; /* with cfg_ifmap: the mirrored router's output port, 0 if unmapped */
	__u32 segments;    /* tc_egress: the packets on the wire a GSO packet stands for */
};

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* parse_l2 walks Ethernet, up to MAX_VLAN_TAGS tags, an MPLS label stack or
 * a PPPoE session header. On STAT_ACCOUNTED, *ip_version is 4 or 6 and
 * *pos points at the IP header. */
static __always_inline int parse_l2(void **pos, void *end, struct flow_key *key, __u8 *ip_version)
{
	struct ethhdr *eth = *pos;
	if ((void *)(eth + 1) > end)
		return STAT_TRUNCATED;
	__be16 proto = eth->h_proto;
	void *p = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (!is_vlan(proto))
			break;
		struct vlan_tag *tag = p;
		if ((void *)(tag + 1) > end)
			return STAT_TRUNCATED;
		__u16 vid = bpf_ntohs(tag->tci) & 0x0fff;
		if (i == 0)
			key->vlan_id = vid;
		else
			key->inner_vlan_id = vid;
		proto = tag->proto;
		p = tag + 1;
	}
	if (is_vlan(proto))
		return STAT_UNSUPPORTED;

	if (proto == bpf_htons(ETH_P_MPLS_UC) || proto == bpf_htons(ETH_P_MPLS_MC)) {
		int bottom = 0;
#pragma unroll
		for (int i = 0; i < MAX_MPLS_LABELS; i++) {
			__u8 *label = p;
			if ((void *)(label + 4) > end)
				return STAT_TRUNCATED;
			p = label + 4;
			if (label[2] & 0x01) { /* bottom-of-stack bit */
				bottom = 1;
				break;
			}
		}
		if (!bottom)
			return STAT_UNSUPPORTED;
		/* MPLS names no payload type: guess from the IP version nibble. */
		__u8 *first = p;
		if ((void *)(first + 1) > end)
			return STAT_TRUNCATED;
		switch (*first >> 4) {
		case 4:
			proto = bpf_htons(ETH_P_IP);
			break;
		case 6:
			proto = bpf_htons(ETH_P_IPV6);
			break;
		default:
			return STAT_NOT_IP;
		}
	} else if (proto == bpf_htons(ETH_P_PPP_SES_)) {
		/* 6 bytes of PPPoE header, then the 2-byte PPP protocol. */
		__u8 *pppoe = p;
		if ((void *)(pppoe + 8) > end)
			return STAT_TRUNCATED;
		__u16 ppp = ((__u16)pppoe[6] << 8) | pppoe[7];
		p = pppoe + 8;
		if (ppp == PPP_IP)
			proto = bpf_htons(ETH_P_IP);
		else if (ppp == PPP_IPV6)
			proto = bpf_htons(ETH_P_IPV6);
		else
			return STAT_NOT_IP;
	}

	if (proto == bpf_htons(ETH_P_IP))
		*ip_version = 4;
	else if (proto == bpf_htons(ETH_P_IPV6))
		*ip_version = 6;
	else
		return STAT_NOT_IP;
	*pos = p;
	return STAT_ACCOUNTED;
}

/* locate_payload finds the TCP or UDP payload of the header at l4, of
 * which avail bytes lie inside the IP payload. */
static __always_inline void locate_payload(void *frame, __u8 *l4, void *end, __u32 avail,
					   __u8 proto, struct packet *pkt)
{
	__u32 hlen;

	if (proto == IPPROTO_UDP) {
		hlen = 8;
	} else if (proto == IPPROTO_TCP) {
		if (avail < 13 || (void *)(l4 + 13) > end)
			return;
		hlen = (l4[12] >> 4) * 4;
		if (hlen < 20)
			return;
	} else {
		return;
	}
	if (hlen >= avail)
		return;
	pkt->payload_len = avail - hlen;
	pkt->payload_off = (void *)l4 + hlen - frame;
}

/* parse_l4 reads ports (and TCP flags) of the transport header at p, of
 * which avail bytes lie inside the IP payload. A header that is cut off
 * leaves the ports 0 and sets pkt->no_l4; it never fails the packet. */
static __always_inline void parse_l4(void *frame, void *p, void *end, __u32 avail,
				     struct flow_key *key, struct packet *pkt, int skb)
{
	__u8 *l4 = p;

	if (cfg_decap || skb) {
		pkt->l4_off = p - frame;
		pkt->l4_len = avail;
	}

	switch (key->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		/* All five start with source and destination port. */
		if (avail < 4 || (void *)(l4 + 4) > end) {
			pkt->no_l4 = 1;
			return;
		}
		key->src_port = ((__u16)l4[0] << 8) | l4[1];
		key->dst_port = ((__u16)l4[2] << 8) | l4[3];
		if (key->proto == IPPROTO_TCP && avail >= 14 && (void *)(l4 + 14) <= end)
			pkt->tcp_flags = l4[13];
		if (cfg_classify && !skb) /* tc_egress: skb_transport (xdp.c) */
			locate_payload(frame, l4, end, avail, key->proto, pkt);
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (avail < 2 || (void *)(l4 + 2) > end) {
			pkt->no_l4 = 1;
			return;
		}
		key->dst_port = ((__u16)l4[0] << 8) | l4[1]; /* type<<8 | code */
		return;
	}
}

/* parse_ipv4 reads the IPv4 header at p (options skipped by IHL). */
static __always_inline int parse_ipv4(void *frame, void *p, void *end, struct flow_key *key,
				      struct packet *pkt, int skb)
{
	struct iphdr *ip = p;
	if ((void *)(ip + 1) > end)
		return STAT_TRUNCATED;
	if (ip->version != 4 || ip->ihl < 5)
		return STAT_MALFORMED;
	__u32 hlen = ip->ihl * 4;
	if (p + hlen > end)
		return STAT_TRUNCATED;
	__u32 total = bpf_ntohs(ip->tot_len);
	if (total < hlen)
		return STAT_MALFORMED;

	__u32 *src = (__u32 *)key->src_addr, *dst = (__u32 *)key->dst_addr;
	src[2] = bpf_htonl(0xffff);
	src[3] = ip->saddr;
	dst[2] = bpf_htonl(0xffff);
	dst[3] = ip->daddr;
	key->proto = ip->protocol;
	key->tos = ip->tos;
	pkt->ip_bytes = total;

	if (bpf_ntohs(ip->frag_off) & 0x1fff)
		return STAT_ACCOUNTED; /* non-first fragment: no transport header */
	parse_l4(frame, p + hlen, end, total - hlen, key, pkt, skb);
	return STAT_ACCOUNTED;
}

/* ipv6_jumbo_len returns the Jumbo Payload length (RFC 2675) from the
 * hop-by-hop header at hbh of hbh_len bytes, or 0 if it has none. */
static __always_inline __u32 ipv6_jumbo_len(__u8 *hbh, __u32 hbh_len, void *end)
{
	__u32 off = 2;

	for (int i = 0; i < MAX_HBH_OPTIONS; i++) {
		if (off + 2 > hbh_len)
			return 0;
		__u8 *opt = hbh + (off & 0x7ff); /* mask: verifier needs a bounded offset */
		if ((void *)(opt + 2) > end)
			return 0;
		if (opt[0] == 0) { /* Pad1 has no length byte */
			off++;
			continue;
		}
		if (opt[0] == IPV6_OPT_JUMBO && opt[1] == 4) {
			if ((void *)(opt + 6) > end || off + 6 > hbh_len)
				return 0;
			return ((__u32)opt[2] << 24) | ((__u32)opt[3] << 16) | ((__u32)opt[4] << 8) | opt[5];
		}
		off += 2 + opt[1];
	}
	return 0;
}

static __always_inline int is_ipv6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT;
}

/* parse_ipv6 reads the IPv6 header at p and walks hop-by-hop, routing,
 * fragment and destination-options headers to the transport. A header
 * that is not wholly inside frame and payload ends the walk: it becomes
 * the protocol, with ports 0. */
static __always_inline int parse_ipv6(void *frame, void *p, void *end, struct flow_key *key,
				      struct packet *pkt, int skb)
{
	struct ipv6hdr *ip6 = p;
	if ((void *)(ip6 + 1) > end)
		return STAT_TRUNCATED;
	if (ip6->version != 6)
		return STAT_MALFORMED;

	__builtin_memcpy(key->src_addr, &ip6->saddr, 16);
	__builtin_memcpy(key->dst_addr, &ip6->daddr, 16);
	key->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);

	__u32 avail = bpf_ntohs(ip6->payload_len);
	__u8 nh = ip6->nexthdr;
	__u8 *h = (__u8 *)(ip6 + 1);

	if (avail == 0 && nh == IPPROTO_HOPOPTS && (void *)(h + 2) <= end) {
		__u32 hbh_len = (h[1] + 1) * 8;
		avail = ipv6_jumbo_len(h, hbh_len, end);
	}
	pkt->ip_bytes = 40 + (__u64)avail;

	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		if (!is_ipv6_ext(nh))
			break;
		if (avail < 8 || (void *)(h + 8) > end) {
			key->proto = nh;
			pkt->no_l4 = 1;
			return STAT_ACCOUNTED;
		}
		if (nh == IPPROTO_FRAGMENT) {
			__u16 offset = (((__u16)h[2] << 8) | h[3]) & 0xfff8;
			nh = h[0];
			h += 8;
			avail -= 8;
			if (offset) { /* non-first fragment: no transport header */
				key->proto = nh;
				return STAT_ACCOUNTED;
			}
			continue;
		}
		__u32 len = (h[1] + 1) * 8;
		if (len > avail || (void *)(h + len) > end) {
			key->proto = nh;
			pkt->no_l4 = 1;
			return STAT_ACCOUNTED;
		}
		nh = h[0];
		h += len;
		avail -= len;
	}
	if (is_ipv6_ext(nh))
		return STAT_UNSUPPORTED;

	key->proto = nh;
	parse_l4(frame, h, end, avail, key, pkt, skb);
	return STAT_ACCOUNTED;
}
