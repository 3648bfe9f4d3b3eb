// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <glue/alloc.h>
#include <glue/error.h>

Test(alloc, take_lowest_first_and_release)
{
	struct glue_alloc *a;
	uint64_t x, y, z;

	cr_assert_eq(glue_alloc_new(&a), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_PIO, 0x1000, 0x100), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x10, 0, &x), 0);
	cr_assert_eq(x, 0x1000);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x10, 1, &y), 0);
	cr_assert_eq(y, 0x1010);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, x), 0);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, x), -ENOENT);
	/* The hole at the bottom is reused. */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x8, 0, &z), 0);
	cr_assert_eq(z, 0x1000);
	/* Kinds are separate. */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_GSI, 1, 0, &z), -ENOSPC);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_GSI, 0x1010), -ENOENT);
	glue_alloc_free(a);
}

Test(alloc, alignment)
{
	struct glue_alloc *a;
	uint64_t x;

	cr_assert_eq(glue_alloc_new(&a), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_MMIO32, 0xC0000100, 0x10000), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO32, 0x1000, 0x1000, &x), 0);
	cr_assert_eq(x, 0xC0001000);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO32, 0x10, 0x10, &x), 0);
	cr_assert_eq(x, 0xC0000100); /* the space skipped by alignment */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO32, 0x10, 3, &x), -EINVAL);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO32, 0, 1, &x), -EINVAL);
	/* Bigger than anything left once aligned. */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO32, 0x10000, 0x10000, &x), -ENOSPC);
	cr_assert(strstr(glue_error_last(), "MMIO32"), "%s", glue_error_last());
	glue_alloc_free(a);
}

Test(alloc, enospc_when_full)
{
	struct glue_alloc *a;
	uint64_t x;

	cr_assert_eq(glue_alloc_new(&a), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 5, 3), 0);
	for (uint64_t i = 5; i < 8; i++) {
		cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_GSI, 1, 0, &x), 0);
		cr_assert_eq(x, i);
	}
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_GSI, 1, 0, &x), -ENOSPC);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_GSI, 6), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_GSI, 1, 0, &x), 0);
	cr_assert_eq(x, 6);
	glue_alloc_free(a);
}

Test(alloc, fixed)
{
	struct glue_alloc *a;
	uint64_t x;

	cr_assert_eq(glue_alloc_new(&a), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_PIO, 0x1000, 0x1000), 0);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1800, 0x10), 0);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1808, 0x10), -EBUSY);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x17f8, 0x10), -EBUSY);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x0ff0, 0x20), -ERANGE);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1ff0, 0x20), -ERANGE);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x3f8, 8), -ERANGE);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x17f0, 0x10), 0); /* adjacent */
	/* take() goes around fixed ranges. */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x800, 0, &x), -ENOSPC);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x7f0, 0, &x), 0);
	cr_assert_eq(x, 0x1000);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x7f0, 0, &x), 0);
	cr_assert_eq(x, 0x1810);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 1, 0, &x), -ENOSPC);
	/* Releasing everything merges back into one range. */
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x1800), 0);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x17f0), 0);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x1000), 0);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x1810), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x1000, 0, &x), 0);
	cr_assert_eq(x, 0x1000);
	glue_alloc_free(a);
}

/* A fixed range at the very start (and end) of a free range: the free
 * space left is exactly the rest, on the right side of it. */
Test(alloc, fixed_at_the_edges_of_a_free_range)
{
	struct glue_alloc *a;
	uint64_t x;

	cr_assert_eq(glue_alloc_new(&a), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_PIO, 0x1000, 0x1000), 0);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1000, 0x100), 0);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1000, 1), -EBUSY);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x10ff, 1), -EBUSY);
	/* What is left starts right after it and runs to the end. */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 1, 0, &x), 0);
	cr_assert_eq(x, 0x1100);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x1100), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0xf00, 0, &x), 0);
	cr_assert_eq(x, 0x1100);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 1, 0, &x), -ENOSPC);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x1100), 0);
	/* The same at the end of the free range [0x1100, 0x2000). */
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1f00, 0x100), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0xe00, 0, &x), 0);
	cr_assert_eq(x, 0x1100);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 1, 0, &x), -ENOSPC);
	/* A fixed range at the start of a free range in the middle. */
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_PIO, 0x1100), 0);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_PIO, 0x1100, 0x80), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0xd80, 0, &x), 0);
	cr_assert_eq(x, 0x1180);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 1, 0, &x), -ENOSPC);
	glue_alloc_free(a);
}

Test(alloc, pools)
{
	struct glue_alloc *a;
	uint64_t x;

	cr_assert_eq(glue_alloc_new(&a), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 9, 15), 0);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 20, 10), -EEXIST);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 0, 10), -EEXIST);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 5, 0), -EINVAL);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, UINT64_MAX, 2), -EINVAL);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_KIND_COUNT, 0, 1), -EINVAL);
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 5, 3), 0);
	/* The same range in another kind is fine. */
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_PIO, 5, 3), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_GSI, 1, 0, &x), 0);
	cr_assert_eq(x, 5);
	/* Fixed across a hole between pools (8 is in none). */
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_GSI, 7, 3), -ERANGE);
	/* A pool that reaches the last address. */
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_MMIO64, UINT64_MAX - 0xfff, 0x1000), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO64, 0x1000, 0x1000, &x), 0);
	cr_assert_eq(x, UINT64_MAX - 0xfff);
	cr_assert_eq(glue_alloc_release(a, GLUE_ALLOC_MMIO64, x), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO64, 0x10, 1ULL << 63, &x), -ENOSPC);
	glue_alloc_free(a);
}

Test(alloc, x86_defaults)
{
	struct glue_alloc *a;
	uint64_t x;

	cr_assert_eq(glue_alloc_new_x86(&a, 0x100000000ULL * 4), 0);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_GSI, 1, 0, &x), 0);
	cr_assert_eq(x, 5);
	/* The legacy IRQs are not handed out. */
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_GSI, 8, 1), -ERANGE);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_GSI, 4, 1), -ERANGE);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_GSI, 23, 1), 0);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_GSI, 24, 1), -ERANGE);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 0x100, 0x100, &x), 0);
	cr_assert_eq(x, 0x1000);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO32, 0x1000, 0x1000, &x), 0);
	cr_assert_eq(x, 0xC0000000);
	cr_assert_eq(glue_alloc_take_fixed(a, GLUE_ALLOC_MMIO32, 0xFEC00000, 0x1000), -ERANGE);
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_MMIO64, 1ULL << 30, 1ULL << 30, &x), 0);
	cr_assert_eq(x, 0x400000000ULL);
	glue_alloc_free(a);
}

static void *taker(void *arg)
{
	struct glue_alloc *a = arg;
	uint64_t got[50];

	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 50; i++)
			if (glue_alloc_take(a, GLUE_ALLOC_PIO, 4, 4, &got[i]))
				return (void *)1;
		for (int i = 0; i < 50; i++)
			if (glue_alloc_release(a, GLUE_ALLOC_PIO, got[i]))
				return (void *)1;
	}
	return NULL;
}

Test(alloc, threads_never_share_a_range)
{
	struct glue_alloc *a;
	pthread_t th[4];
	void *ret;
	uint64_t x;

	cr_assert_eq(glue_alloc_new(&a), 0);
	/* Exactly enough for 4 threads x 50 ranges. */
	cr_assert_eq(glue_alloc_add_pool(a, GLUE_ALLOC_PIO, 0x1000, 4 * 50 * 4), 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, taker, a);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &ret);
		cr_assert_null(ret);
	}
	/* Everything came back. */
	cr_assert_eq(glue_alloc_take(a, GLUE_ALLOC_PIO, 4 * 50 * 4, 0, &x), 0);
	glue_alloc_free(a);
}
