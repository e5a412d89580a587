/* config.h: load-time tunables. probe sets them through
 * CollectionSpec.Variables before load; the verifier treats them as
 * constants, so branches on them cost nothing at run time. */
#pragma once

#include <linux/bpf.h>
#include <linux/types.h>

#include "flow.h"

volatile const enum key_field cfg_key_fields = KEY_ALL; /* OR of key_field bits */
volatile const enum sample_mode cfg_sample_mode = SAMPLE_NONE;
volatile const __u32 cfg_sample_rate = 1;           /* N of 1-in-N, ≥ 1 */
volatile const __u32 cfg_action = XDP_PASS;         /* XDP_PASS or XDP_DROP */
/* 1: stamp flows with bpf_ktime_get_coarse_ns (CLOCK_MONOTONIC as of the
 * last tick, 1/CONFIG_HZ resolution), half the hot path's cost; 0: the
 * precise bpf_ktime_get_ns. Both count from the same origin. */
volatile const __u32 cfg_coarse_clock = 0;
/* 1: sample the payload heads of TCP and UDP flows into app_samples for
 * the application classifier; 0: no sampling code runs at all. */
volatile const __u32 cfg_classify = 0;
/* Payload packets per direction handed out at most (classify.Budget). */
volatile const __u32 cfg_app_budget_tcp = 4;
volatile const __u32 cfg_app_budget_udp = 4;
/* 1: a software router's datapath: ask the kernel FIB where each new flow
 * goes (output interface, Local, Null); 0: a mirror port, nothing asked. */
volatile const __u32 cfg_route = 0;
/* > 0: drop from the accounting the second copy of a packet seen within
 * this many nanoseconds (a SPAN session mirroring both directions of two
 * ports shows each packet twice); 0: no deduplication. */
volatile const __u64 cfg_dedup_ns = 0;
/* 1: a mirror port's frames are mapped to the mirrored router's ports by
 * VLAN and MAC (ifmap_vlan, ifmap_mac): input and output interface. */
volatile const __u32 cfg_ifmap = 0;
/* Tunnels whose inner packet is the mirrored traffic (enum decap bits):
 * the inner packet is accounted, the outer one not at all. */
volatile const __u32 cfg_decap = 0;
volatile const __u32 cfg_vxlan_port = 4789;
volatile const __u32 cfg_geneve_port = 6081;
/* > 0: when this many new flows are in the active slot, ask user space
 * for a harvest now (fill_signal); 0: never. */
volatile const __u64 cfg_fill_signal = 0;
