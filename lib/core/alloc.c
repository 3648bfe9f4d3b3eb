// SPDX-License-Identifier: MIT
/*
 * Resource allocator: per kind, the pools, a sorted free list and a sorted
 * list of taken ranges (to give them back by base). Ranges are kept as
 * [first, last] so that one may end at 2^64 - 1 without overflowing.
 * A handful of devices take a handful of ranges: linear scans are plenty.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <glue/alloc.h>
#include "core/err.h"
#include "core/util.h"

struct arange {
	uint64_t first;
	uint64_t last;
};

struct alist {
	struct arange *v;
	size_t n;
	size_t cap;
};

struct akind {
	struct alist pools; /* sorted, disjoint */
	struct alist free;  /* sorted, disjoint, adjacent ranges merged */
	struct alist used;  /* sorted */
};

struct glue_alloc {
	pthread_mutex_t lock;
	struct akind kinds[GLUE_ALLOC_KIND_COUNT];
};

static const char *const kind_names[GLUE_ALLOC_KIND_COUNT] = {
	[GLUE_ALLOC_MMIO32] = "MMIO32",
	[GLUE_ALLOC_MMIO64] = "MMIO64",
	[GLUE_ALLOC_PIO] = "PIO",
	[GLUE_ALLOC_GSI] = "GSI",
};

static int list_insert(struct alist *l, size_t pos, struct arange r)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		struct arange *v = realloc(l->v, ncap * sizeof(*v));

		if (!v)
			return glue_err(-ENOMEM, "allocator: out of memory");
		l->v = v;
		l->cap = ncap;
	}
	memmove(&l->v[pos + 1], &l->v[pos], (l->n - pos) * sizeof(r));
	l->v[pos] = r;
	l->n++;
	return 0;
}

static void list_remove(struct alist *l, size_t pos)
{
	memmove(&l->v[pos], &l->v[pos + 1], (l->n - pos - 1) * sizeof(l->v[0]));
	l->n--;
}

/* Position of the first range with first > x. */
static size_t list_upper(const struct alist *l, uint64_t x)
{
	size_t i = 0;

	while (i < l->n && l->v[i].first <= x)
		i++;
	return i;
}

/* Add r to the free list, merging it with adjacent free ranges. */
static int free_add(struct alist *l, struct arange r)
{
	size_t pos = list_upper(l, r.first);
	struct arange *prev = pos > 0 ? &l->v[pos - 1] : NULL;
	struct arange *next = pos < l->n ? &l->v[pos] : NULL;
	bool join_prev = prev && prev->last != UINT64_MAX && prev->last + 1 == r.first;
	bool join_next = next && r.last != UINT64_MAX && r.last + 1 == next->first;

	if (join_prev && join_next) {
		prev->last = next->last;
		list_remove(l, pos);
		return 0;
	}
	if (join_prev) {
		prev->last = r.last;
		return 0;
	}
	if (join_next) {
		next->first = r.first;
		return 0;
	}
	return list_insert(l, pos, r);
}

/*
 * Remove [first, last] from the free range at index i, which holds it.
 * Splitting may need one more slot: reserved by the caller's check.
 */
static int free_carve(struct alist *l, size_t i, uint64_t first, uint64_t last)
{
	struct arange f = l->v[i];

	if (f.first == first && f.last == last) {
		list_remove(l, i);
		return 0;
	}
	if (f.first == first) {
		l->v[i].first = last + 1;
		return 0;
	}
	if (f.last == last) {
		l->v[i].last = first - 1;
		return 0;
	}
	/* Insert the upper part first: if that fails nothing changed. */
	if (list_insert(l, i + 1, (struct arange){last + 1, f.last}))
		return -ENOMEM;
	l->v[i].last = first - 1;
	return 0;
}

/* Record [first, last] as taken, carving it from free range i. */
static int take_range(struct akind *k, size_t i, uint64_t first, uint64_t last)
{
	size_t pos = list_upper(&k->used, first);
	int ret;

	/* Insert into "used" first: if that fails nothing changed. */
	ret = list_insert(&k->used, pos, (struct arange){first, last});
	if (ret)
		return ret;
	ret = free_carve(&k->free, i, first, last);
	if (ret)
		list_remove(&k->used, pos);
	return ret;
}

static int check_kind(const struct glue_alloc *a, enum glue_alloc_kind kind)
{
	if (!a)
		return glue_err(-EINVAL, "allocator: no allocator");
	if ((unsigned int)kind >= GLUE_ALLOC_KIND_COUNT)
		return glue_err(-EINVAL, "allocator: bad kind %d", (int)kind);
	return 0;
}

int glue_alloc_new(struct glue_alloc **out)
{
	struct glue_alloc *a;

	if (!out)
		return glue_err(-EINVAL, "allocator: no output pointer");
	a = calloc(1, sizeof(*a));
	if (!a) {
		*out = NULL;
		return glue_err(-ENOMEM, "allocator: out of memory");
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void glue_alloc_free(struct glue_alloc *a)
{
	if (!a)
		return;
	for (int i = 0; i < GLUE_ALLOC_KIND_COUNT; i++) {
		free(a->kinds[i].pools.v);
		free(a->kinds[i].free.v);
		free(a->kinds[i].used.v);
	}
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* check_kind() plus a non-empty range that does not wrap around. */
static int check_range(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base,
		       uint64_t size, const char *what)
{
	int ret = check_kind(a, kind);

	if (ret)
		return ret;
	if (size == 0 || !glue_range_ok(base, size))
		return glue_err(-EINVAL, "allocator: %s%s at 0x%llx: bad size 0x%llx",
				kind_names[kind], what, (unsigned long long)base,
				(unsigned long long)size);
	return 0;
}

int glue_alloc_add_pool(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base,
			uint64_t size)
{
	struct arange r = {base, base + size - 1};
	struct akind *k;
	size_t pos;
	int ret;

	ret = check_range(a, kind, base, size, " pool");
	if (ret)
		return ret;
	k = &a->kinds[kind];
	pthread_mutex_lock(&a->lock);
	pos = list_upper(&k->pools, r.first);
	if ((pos > 0 && k->pools.v[pos - 1].last >= r.first) ||
	    (pos < k->pools.n && k->pools.v[pos].first <= r.last)) {
		const struct arange *o =
			&k->pools.v[pos > 0 && k->pools.v[pos - 1].last >= r.first ? pos - 1 : pos];

		ret = glue_err(-EEXIST,
			       "allocator: %s pool [0x%llx, 0x%llx] overlaps pool [0x%llx, 0x%llx]",
			       kind_names[kind], (unsigned long long)r.first,
			       (unsigned long long)r.last, (unsigned long long)o->first,
			       (unsigned long long)o->last);
	} else {
		ret = list_insert(&k->pools, pos, r);
		if (!ret) {
			ret = free_add(&k->free, r);
			if (ret)
				list_remove(&k->pools, pos);
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int glue_alloc_take(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t size, uint64_t align,
		    uint64_t *out)
{
	struct akind *k;
	int ret;

	ret = check_kind(a, kind);
	if (ret)
		return ret;
	if (!out)
		return glue_err(-EINVAL, "allocator: no output pointer");
	if (align == 0)
		align = 1;
	if (size == 0 || (align & (align - 1)))
		return glue_err(-EINVAL, "allocator: %s: bad size 0x%llx or alignment 0x%llx",
				kind_names[kind], (unsigned long long)size,
				(unsigned long long)align);
	k = &a->kinds[kind];
	pthread_mutex_lock(&a->lock);
	ret = -ENOSPC;
	for (size_t i = 0; i < k->free.n; i++) {
		const struct arange *f = &k->free.v[i];
		uint64_t first = GLUE_ALIGN_UP(f->first, align);

		/* Alignment wrapped past 2^64, or the range is too short. */
		if (first < f->first || first > f->last || f->last - first < size - 1)
			continue;
		ret = take_range(k, i, first, first + size - 1);
		if (!ret)
			*out = first;
		break;
	}
	pthread_mutex_unlock(&a->lock);
	if (ret == -ENOSPC)
		glue_err(ret, "allocator: no free %s range of size 0x%llx aligned to 0x%llx",
			 kind_names[kind], (unsigned long long)size, (unsigned long long)align);
	return ret;
}

/* Whether pools cover all of [first, last] (caller holds the lock). */
static bool pools_cover(const struct alist *pools, uint64_t first, uint64_t last)
{
	for (size_t i = 0; i < pools->n; i++) {
		const struct arange *p = &pools->v[i];

		if (p->first > first)
			return false; /* a hole before p (pools are sorted) */
		if (p->last >= first) {
			if (p->last >= last)
				return true;
			first = p->last + 1;
		}
	}
	return false;
}

int glue_alloc_take_fixed(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base,
			  uint64_t size)
{
	uint64_t last = base + size - 1;
	struct akind *k;
	size_t i;
	int ret;

	ret = check_range(a, kind, base, size, "");
	if (ret)
		return ret;
	k = &a->kinds[kind];
	pthread_mutex_lock(&a->lock);
	if (!pools_cover(&k->pools, base, last)) {
		ret = glue_err(-ERANGE, "allocator: %s [0x%llx, 0x%llx] is outside the pools",
			       kind_names[kind], (unsigned long long)base,
			       (unsigned long long)last);
		goto out;
	}
	i = list_upper(&k->free, base);
	if (i == 0 || k->free.v[i - 1].last < last) {
		ret = glue_err(-EBUSY, "allocator: %s [0x%llx, 0x%llx] is (partly) taken",
			       kind_names[kind], (unsigned long long)base,
			       (unsigned long long)last);
		goto out;
	}
	ret = take_range(k, i - 1, base, last);
out:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int glue_alloc_release(struct glue_alloc *a, enum glue_alloc_kind kind, uint64_t base)
{
	struct akind *k;
	size_t i;
	int ret;

	ret = check_kind(a, kind);
	if (ret)
		return ret;
	k = &a->kinds[kind];
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < k->used.n && k->used.v[i].first != base; i++)
		;
	if (i == k->used.n) {
		ret = glue_err(-ENOENT, "allocator: no %s range taken at 0x%llx", kind_names[kind],
			       (unsigned long long)base);
	} else {
		ret = free_add(&k->free, k->used.v[i]);
		if (!ret)
			list_remove(&k->used, i);
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int glue_alloc_new_x86(struct glue_alloc **out, uint64_t mmio64_base)
{
	struct glue_alloc *a;
	int ret;

	ret = glue_alloc_new(&a);
	if (ret)
		return ret;
	ret = glue_alloc_add_pool(a, GLUE_ALLOC_MMIO32, 3 * GLUE_GiB, 0xFEC00000ULL - 3 * GLUE_GiB);
	if (!ret)
		ret = glue_alloc_add_pool(a, GLUE_ALLOC_MMIO64, mmio64_base, 64 * GLUE_GiB);
	if (!ret)
		ret = glue_alloc_add_pool(a, GLUE_ALLOC_PIO, 0x1000, 0x10000 - 0x1000);
	if (!ret)
		ret = glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 5, 3);
	if (!ret)
		ret = glue_alloc_add_pool(a, GLUE_ALLOC_GSI, 9, 15);
	if (ret) {
		glue_alloc_free(a);
		*out = NULL;
		return glue_err_wrap(ret, "x86 resource pools");
	}
	*out = a;
	return 0;
}
