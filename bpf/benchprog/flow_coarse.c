//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* flow_coarse.c: the real xdp.c with its clock read replaced by the coarse
 * clock (CLOCK_MONOTONIC as of the last tick: one jiffy of resolution). */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define bpf_ktime_get_ns() bpf_ktime_get_coarse_ns()
#include "../xdp.c"
