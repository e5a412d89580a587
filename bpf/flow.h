/* flow.h: the structs and enums shared by the XDP program and Go (bpf2go
 * generates the Go mirrors from BTF; never write them by hand). */
#pragma once

#include <linux/types.h>

/* flow_key: one unidirectional flow as the datapath sees it.
 * Addresses are in network byte order; IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d). Ports are in host byte order. ICMP and ICMPv6 put
 * type<<8|code in dst_port and 0 in src_port (Cisco's convention);
 * non-first fragments and port-less protocols have both ports 0. Fields
 * left out of cfg_key_fields are zero. */
struct flow_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u32 ifindex;       /* ingress ifindex */
	__u16 vlan_id;       /* VID of the outer 802.1Q/802.1ad tag, 0 if untagged */
	__u16 inner_vlan_id; /* VID of the second tag (QinQ), 0 if none */
	__u8 proto;          /* IP protocol of the transport (after IPv6 ext headers) */
	__u8 tos;            /* IPv4 ToS byte / IPv6 traffic class (DSCP+ECN) */
	__u8 ip_version;     /* 4 or 6 */
	__u8 _pad;
};
_Static_assert(sizeof(struct flow_key) == 48, "flow_key must stay 48 bytes");

/* flow_value: per-CPU counters of one flow since the last harvest. */
struct flow_value {
	__u64 packets;
	__u64 bytes;    /* sum of IP total length (IPv6: 40 + payload length) */
	__u64 first_ns; /* CLOCK_MONOTONIC (coarse if cfg_coarse_clock) of the first packet on this CPU */
	__u64 last_ns;  /* same clock, of the last packet on this CPU */
	__u8 tcp_flags; /* OR of the TCP flag byte (CWR..FIN) */
	__u8 _pad[7];
};
_Static_assert(sizeof(struct flow_value) == 40, "flow_value must stay 40 bytes");

/* stat_reason: every packet lands in exactly one outcome from
 * STAT_ACCOUNTED to STAT_MAP_FULL. Reasons after STAT_OUTCOMES are
 * informational subsets of an outcome and are not part of the sum. */
enum stat_reason {
	STAT_ACCOUNTED = 0,   /* counted into a flow */
	STAT_NOT_IP = 1,      /* no IPv4/IPv6 header (ARP, LLDP, MPLS pseudowire …) */
	STAT_TRUNCATED = 2,   /* frame ends inside an L2 or IP header */
	STAT_MALFORMED = 3,   /* IP header is inconsistent (version, IHL, total length) */
	STAT_UNSUPPORTED = 4, /* >2 VLAN tags, MPLS stack or IPv6 ext chain past the bound */
	STAT_SAMPLED_OUT = 5, /* skipped by 1-in-N sampling */
	STAT_MAP_FULL = 6,    /* the active flow slot had no room for a new flow */
	STAT_OUTCOMES = 7,
	STAT_NO_L4 = 7, /* informational: accounted, but the transport header was cut off (ports 0) */
	STAT_MAX = 8,
};

/* stat_value: per-CPU counters of one reason. bytes is the IP total
 * length for STAT_ACCOUNTED, STAT_MAP_FULL and STAT_NO_L4 (what NetFlow
 * would have counted) and the frame length for every other reason. */
struct stat_value {
	__u64 packets;
	__u64 bytes;
};

/* Bits of cfg_key_fields: which key fields the datapath keeps. */
enum key_field {
	KEY_SRC_ADDR = 1 << 0,
	KEY_DST_ADDR = 1 << 1,
	KEY_SRC_PORT = 1 << 2,
	KEY_DST_PORT = 1 << 3,
	KEY_PROTO = 1 << 4,
	KEY_TOS = 1 << 5,
	KEY_IFINDEX = 1 << 6,
	KEY_VLAN = 1 << 7,
	KEY_ALL = (1 << 8) - 1,
};

enum sample_mode {
	SAMPLE_NONE = 0,
	SAMPLE_DETERMINISTIC = 1, /* every Nth packet, counted per CPU */
	SAMPLE_RANDOM = 2,        /* each packet with probability 1/N */
};
