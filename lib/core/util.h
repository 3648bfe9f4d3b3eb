/* SPDX-License-Identifier: MIT */
/* Small internal helpers. */
#ifndef GLUE_INTERNAL_UTIL_H
#define GLUE_INTERNAL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define GLUE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GLUE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GLUE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GLUE_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define GLUE_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define GLUE_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)

#define GLUE_KiB (1024ULL)
#define GLUE_MiB (1024ULL * 1024)
#define GLUE_GiB (1024ULL * 1024 * 1024)

/* True when [base, base + len) does not wrap around 2^64. */
static inline int glue_range_ok(uint64_t base, uint64_t len)
{
	return len == 0 || base + len - 1 >= base;
}

#endif
