//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* flow_nomap.c: the real xdp.c with no flow slot installed, so every packet
 * is parsed, keyed and counted in stats (as STAT_MAP_FULL) but touches no
 * flow map and reads no clock: the price of parsing and stats alone. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define bpf_map_lookup_elem(map, key)                                                             \
	((void *)(map) == (void *)&flows_slot ? (void *)0 : (bpf_map_lookup_elem)(map, key))
#include "../xdp.c"
