/* maps.h: the maps of the datapath (xdp_flow and tc_egress share them). */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "flow.h"

/* flows_a, flows_b: the two flow slots, flow_key → per-CPU flow_value.
 * Written by xdp_flow while it is the active slot; drained with batch
 * lookup-and-delete by probe.Harvest once it is not. max_entries is set
 * at load time (one harvest interval's flows). */
struct flow_table {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows_a SEC(".maps"), flows_b SEC(".maps");

/* overflow_a, overflow_b: the overflow records of flows_a and flows_b:
 * what found the slot full, by overflow key (xdp.c). Smaller; max_entries
 * is set at load time. */
struct flow_table overflow_a SEC(".maps"), overflow_b SEC(".maps");

/* flows_slot: entry SLOT_FLOWS holds the active flow slot, SLOT_OVERFLOW
 * its overflow map. Written by probe.Harvest (each update returns only
 * once no program still uses the old map); read by the programs on every
 * packet (SLOT_OVERFLOW only when the slot is full). */
enum slot_entry {
	SLOT_FLOWS = 0,
	SLOT_OVERFLOW = 1,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct flow_table);
} flows_slot SEC(".maps") = {
	.values = {&flows_a, &overflow_a},
};

/* fill_level: 0 → struct slot_fill of the active slot, shared by all
 * CPUs: the slot fills by all of them together. Counted by the programs at
 * each new flow, zeroed by probe at each flip. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot_fill);
} fill_level SEC(".maps");

/* fill_signal: the program that finds the slot's new flows at
 * cfg_fill_signal writes the count here, once per slot (two CPUs at the
 * same moment may both), waking the harvester to flip at once. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} fill_signal SEC(".maps");

/* stats: enum stat_reason → per-CPU stat_value. Written by xdp_flow on
 * every packet; read (never reset) by probe.Harvest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, enum stat_reason);
	__type(value, struct stat_value);
} stats SEC(".maps");

/* sample_count: 0 → per-CPU packets since the last sampled packet, for
 * SAMPLE_DETERMINISTIC. Only xdp_flow reads and writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sample_count SEC(".maps");

/* app_state: flow_key (one direction) → struct app_state, while payload
 * sampling goes on for it (cfg_classify). LRU: a direction evicted before
 * its verdict only starts sampling again. max_entries is set at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct app_state);
} app_state SEC(".maps");

/* app_samples: the ring buffer of struct app_sample and app_note records,
 * read by probe.SampleReader. Size set at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} app_samples SEC(".maps");

/* dedup: hash of a packet's invariant bytes → when it was first seen, for
 * cfg_dedup_ns. LRU: entries older than the window are worth nothing and
 * go first. max_entries is set at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} dedup SEC(".maps");

/* ifmap_vlan: VLAN ID → the router port its frames entered or left by;
 * ifmap_mac: a router port's MAC (6 bytes in the low end of a __u64, as
 * they appear in the frame) → that port. Filled by probe from
 * --interface-map before attach; read by xdp_flow with cfg_ifmap. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ifmap_value);
} ifmap_vlan SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct ifmap_value);
} ifmap_mac SEC(".maps");

/* ifmap_tunnel: a tunnel id (enum tunnel_kind << 24 | VNI or session) →
 * the router port its inner frames entered or left by (--decap). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ifmap_value);
} ifmap_tunnel SEC(".maps");

/* Unused: they make the compiler emit the BTF bpf2go builds the Go
 * mirrors of a sample and of the enums no map names from. */
const struct app_sample *unused_app_sample __attribute__((unused));
const enum app_step *unused_app_step __attribute__((unused));
const enum app_sample_flag *unused_app_sample_flag __attribute__((unused));
const enum route_out *unused_route_out __attribute__((unused));
const enum ifmap_dir *unused_ifmap_dir __attribute__((unused));
const enum decap *unused_decap __attribute__((unused));
const enum tunnel_kind *unused_tunnel_kind __attribute__((unused));
const enum flow_direction *unused_flow_direction __attribute__((unused));
const enum slot_entry *unused_slot_entry __attribute__((unused));
const enum flow_mark *unused_flow_mark __attribute__((unused));
