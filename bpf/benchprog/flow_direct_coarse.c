//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* flow_direct_coarse.c: flow_direct.c and flow_coarse.c together. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define bpf_ktime_get_ns() bpf_ktime_get_coarse_ns()
#define bpf_map_lookup_elem(map, key)                                                             \
	((void *)(map) == (void *)&flows_slot ? (void *)&flows_a : (bpf_map_lookup_elem)(map, key))
#include "../xdp.c"
