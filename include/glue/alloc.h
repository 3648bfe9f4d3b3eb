/* SPDX-License-Identifier: MIT */
/*
 * Resource allocator: hands out guest address ranges (MMIO below and above
 * 4 GiB, port I/O) and interrupt numbers (GSIs), so that devices never
 * hard-code them and two devices never collide.
 *
 * Thread-safety: internally locked; may be used from any thread.
 */
#ifndef GLUE_ALLOC_H
#define GLUE_ALLOC_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_alloc;

enum glue_alloc_kind {
	GLUE_ALLOC_MMIO32 = 0, /* MMIO below 4 GiB */
	GLUE_ALLOC_MMIO64,     /* MMIO above RAM */
	GLUE_ALLOC_PIO,        /* port I/O */
	GLUE_ALLOC_GSI,        /* interrupt numbers */
	GLUE_ALLOC_KIND_COUNT,
};

/* An allocator with no pools. Returns 0, -EINVAL or -ENOMEM. */
GLUE_API int glue_alloc_new(struct glue_alloc **out);
/* Accepts NULL. */
GLUE_API void glue_alloc_free(struct glue_alloc *a);

/* Make [base, base + size) of kind available. Pools of one kind must not
 * overlap (-EEXIST); -EINVAL for size 0, wrap-around or a bad kind.
 * Adjacent pools join: a range may span them. */
GLUE_API int glue_alloc_add_pool(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base,
				 uint64_t size);

/* Any free range of size, aligned to align (a power of two, 0 = 1), lowest
 * address first. -ENOSPC when nothing fits. */
GLUE_API int glue_alloc_take(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t size,
			     uint64_t align, uint64_t *out);
/* Exactly [base, base + size); -EBUSY if any of it is taken, -ERANGE if it is
 * outside every pool. */
GLUE_API int glue_alloc_take_fixed(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base,
				   uint64_t size);
/* Give back the range that starts at base. -ENOENT if none does. */
GLUE_API int glue_alloc_release(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base);

/* The PC defaults: MMIO32 in [3 GiB, 0xFEC00000) (below the IOAPIC and LAPIC),
 * MMIO64 from mmio64_base (64 GiB long), PIO 0x1000-0xFFFF, GSI 5-7 and 9-23
 * (the legacy ISA IRQs 0-4 and 8 belong to the PIT, keyboard, cascade, COM
 * ports and RTC, which use them by their fixed numbers). */
GLUE_API int glue_alloc_new_x86(struct glue_alloc **out, uint64_t mmio64_base);

GLUE_END_DECLS

#endif
