//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* minimal_widekey.c: xdp_minimal with its key padded from 16 to 48 bytes,
 * the size of xdp_flow's flow_key, to price hashing and comparing a wider
 * key on its own. */

#define MINIMAL_KEY_PAD 32
#include "minimal.c"
