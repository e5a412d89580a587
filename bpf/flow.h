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
	__u32 ifindex;       /* input interface (egress: 0 if the host sent it) */
	__u16 vlan_id;       /* VID of the outer 802.1Q/802.1ad tag, 0 if untagged */
	__u16 inner_vlan_id; /* VID of the second tag (QinQ), 0 if none */
	__u8 proto;          /* IP protocol of the transport (after IPv6 ext headers) */
	__u8 tos;            /* IPv4 ToS byte / IPv6 traffic class (DSCP+ECN) */
	__u8 ip_version;     /* 4 or 6 */
	__u8 direction;      /* enum flow_direction, | FLOW_OVERFLOW for an overflow record's key */
};
_Static_assert(sizeof(struct flow_key) == 48, "flow_key must stay 48 bytes");

/* flow_value: per-CPU counters of one flow since the last harvest. */
struct flow_value {
	__u64 packets;
	__u64 bytes;    /* sum of IP total length (IPv6: 40 + payload length) */
	__u64 first_ns; /* CLOCK_MONOTONIC (coarse if cfg_coarse_clock) of the first packet on this CPU */
	__u64 last_ns;  /* same clock, of the last packet on this CPU */
	__u8 tcp_flags; /* OR of the TCP flag byte (CWR..FIN) */
	__u8 app;       /* enum app_step of this CPU's copy: whether packets still go to app_state */
	__u8 out;       /* enum route_out (cfg_route): what the FIB said, 0 if not asked */
	__u8 _pad;
	__u32 out_ifindex; /* ROUTE_IFACE: the output interface (the FIB's, mapped, or egress's own) */
};
_Static_assert(sizeof(struct flow_value) == 40, "flow_value must stay 40 bytes");

/* flow_direction: IPFIX's flowDirection (IE 61). xdp_flow counts packets
 * as they enter an interface; tc_egress as they leave one, as IOS's
 * `ip flow egress` does. Part of the key, so that a packet counted both
 * ways makes two flows, never one with double counts. */
enum flow_direction {
	DIR_INGRESS = 0,
	DIR_EGRESS = 1,
};

/* flow_mark: FLOW_OVERFLOW marks the key of an overflow record (in
 * flow_key.direction): the packets of flows that found the slot full, by
 * protocol, input interface, direction and source and destination prefix
 * (/24, /64). */
enum flow_mark {
	FLOW_OVERFLOW = 0x80,
};

/* slot_fill: the new flows put into the active slot since the last flip,
 * and whether a program has asked for a harvest (fill_signal). */
struct slot_fill {
	__u64 new_flows;
	__u64 signaled;
};

/* route_out: where the kernel's FIB sends a flow (bpf_fib_lookup, asked
 * once per flow per slot and CPU, with cfg_route). */
enum route_out {
	ROUTE_UNKNOWN = 0, /* not asked, or the FIB could not say (forwarding off on input …) */
	ROUTE_IFACE = 1,   /* forwarded out of out_ifindex */
	ROUTE_LOCAL = 2,   /* to this host (or broadcast/multicast): IOS's "Local" */
	ROUTE_NULL = 3,    /* blackhole, unreachable or prohibit route: IOS's "Null" */
};

/* decap: the tunnels cfg_decap opens (bits). */
enum decap {
	DECAP_VXLAN = 1,  /* UDP to cfg_vxlan_port (4789): AWS VPC Traffic Mirroring, Azure vTAP */
	DECAP_GENEVE = 2, /* UDP to cfg_geneve_port (6081), Ethernet inside */
	DECAP_ERSPAN = 4, /* GRE 0x88be (type I/II) and 0x22eb (type III) from a remote switch */
};

/* ifmap_dir: what a VLAN of --interface-map stands for. */
enum ifmap_dir {
	IFMAP_INPUT = 1,  /* frames on this VLAN entered the router on ifindex */
	IFMAP_OUTPUT = 2, /* frames on this VLAN left the router on ifindex */
};

/* tunnel_kind: the high byte of a tunnel id (tunnel_inner, ifmap_tunnel),
 * so that a VNI and an ERSPAN session with one number stay apart. */
enum tunnel_kind {
	TUNNEL_VNI = 1,     /* VXLAN or GENEVE VNI in the low 24 bits */
	TUNNEL_SESSION = 2, /* ERSPAN session ID in the low 10 bits */
};

/* ifmap_value: one entry of --interface-map (ifmap_vlan, ifmap_mac). A
 * MAC entry's direction follows from where the MAC is in the frame: the
 * router's port as destination is its input, as source its output. */
struct ifmap_value {
	__u32 ifindex;
	__u32 dir; /* enum ifmap_dir; unused for MAC entries */
};

/* app_step: where a flow's copy in the active slot stands with payload
 * sampling (cfg_classify). It caches the answer of app_state on this CPU
 * for this slot, so that a classified flow costs one byte test per packet;
 * app_state itself outlives the slot flip. */
enum app_step {
	APP_LOOKUP = 0,   /* not asked yet on this CPU in this slot: look up app_state */
	APP_SAMPLING = 1, /* payload packets still go to app_state */
	APP_DONE = 2,     /* verdict reached, budget spent or not TCP/UDP: nothing more */
};

/* app_state: the sampling state of one direction of a flow, shared by all
 * CPUs and slots. Created by xdp_flow at the direction's first packet;
 * done set by user space when the conversation has its verdict; deleted by
 * user space when the conversation is forgotten (or evicted, LRU). */
struct app_state {
	__u32 sampled; /* payload packets of this direction handed out (atomic) */
	__u32 done;    /* 1: user space needs no more */
};

/* APP_HEAD_SIZE is the most payload bytes a sample carries: the
 * classifier's HeadSize (probe/classify), where its reasons are given. */
#define APP_HEAD_SIZE 512

/* app_sample_flags */
enum app_sample_flag {
	APP_FIRST = 1, /* the first packet of this direction the datapath saw */
};

/* app_note: a sample's header; alone (head_len 0) it tells user space a
 * direction began without payload (a TCP SYN), so it knows which end
 * initiated the conversation. */
struct app_note {
	struct flow_key key; /* as accounted (masked by cfg_key_fields) */
	__u32 payload_len;   /* transport payload length on the wire */
	__u16 head_len;      /* bytes of head that follow (≤ APP_HEAD_SIZE) */
	__u8 flags;          /* app_sample_flag bits */
	__u8 _pad;
};
_Static_assert(sizeof(struct app_note) == 56, "app_note must stay 56 bytes");

/* app_sample: one payload head handed to user space through app_samples. */
struct app_sample {
	struct app_note note;
	__u8 head[APP_HEAD_SIZE];
};

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
	STAT_MAP_FULL = 6,    /* neither the active flow slot nor its overflow had room: in no record */
	STAT_DUPLICATE = 7,   /* a second copy of a packet inside the dedup window (cfg_dedup_ns) */
	STAT_OVERFLOW = 8,    /* the slot was full: counted into an overflow record (overflow_key) */
	STAT_OUTCOMES = 9,
	STAT_NO_L4 = 9, /* informational: accounted, but the transport header was cut off (ports 0) */
	STAT_APP_SAMPLED = 10, /* informational: accounted, and its head (or note) went to user space */
	STAT_APP_DROPPED = 11, /* informational: accounted, but app_samples had no room for its sample */
	STAT_MAX = 12,
};

/* stat_value: per-CPU counters of one reason. bytes is the IP total
 * length for STAT_ACCOUNTED, STAT_MAP_FULL, STAT_DUPLICATE and STAT_NO_L4 (what NetFlow
 * would have counted), the head bytes handed out for STAT_APP_SAMPLED,
 * the payload length for STAT_APP_DROPPED, and the frame length for
 * every other reason. */
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
