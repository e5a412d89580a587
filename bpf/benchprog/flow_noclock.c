//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* flow_noclock.c: the real xdp.c with no clock read at all (every time is
 * 0), to price bpf_ktime_get_ns alone. Not a usable probe. */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define bpf_ktime_get_ns() 0ULL
#include "../xdp.c"
