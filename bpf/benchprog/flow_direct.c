//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* flow_direct.c: the real xdp.c with the ARRAY_OF_MAPS step removed:
 * looking up flows_slot yields flows_a itself, so every flow lookup and
 * update names one known map (as xdp_minimal's do). Prices the slot
 * indirection; loses the clean flip, so it is not a usable probe. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define bpf_map_lookup_elem(map, key)                                                             \
	((void *)(map) == (void *)&flows_slot ? (void *)&flows_a : (bpf_map_lookup_elem)(map, key))
#include "../xdp.c"
