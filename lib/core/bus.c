// SPDX-License-Identifier: MIT
/*
 * Address bus: a sorted array of ranges searched with a binary search.
 *
 * Dispatch holds the read lock only while it looks the range up and takes a
 * reference on it; the device is called without any bus lock held. That way
 * a device may (un)register ranges on the same bus from its own callback (a
 * PCI BAR being moved, say) without deadlocking, and glue_bus_unregister()
 * waits on the range's reference count instead of on a lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <glue/bus.h>
#include "core/err.h"
#include "core/util.h"

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct glue_bus_ops *ops;
	void *dev;
	/*
	 * Dispatches in progress, plus RANGE_DEAD once unregistered. One word,
	 * so that a dispatch learns whether it must wake the unregistering
	 * thread from the same atomic operation that drops its reference and
	 * never touches the range afterwards (it may be freed at once).
	 */
	atomic_uint refs;
	char name[];
};

#define RANGE_DEAD 0x80000000u

struct glue_bus {
	pthread_rwlock_t lock;	   /* guards ranges/count/cap */
	struct bus_range **ranges; /* sorted by base, never overlapping */
	size_t count;
	size_t cap;
	/* For glue_bus_unregister() waiting on in-flight dispatches. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	char name[32];
	glue_bus_ioevent_fn ioevent; /* set once, before devices attach */
	void *ioevent_ctx;
};

/*
 * Dispatches running in this thread, innermost first, so that a device that
 * unregisters itself from its own callback does not wait for itself. Lives
 * on the dispatching thread's stack: no allocation on the hot path.
 */
struct bus_frame {
	struct bus_range *range;
	struct bus_frame *prev;
	/* Set by glue_bus_unregister() in this thread: free range on return. */
	bool free_range;
};

static _Thread_local struct bus_frame *bus_frames;

int glue_bus_new(struct glue_bus **out, const char *name)
{
	struct glue_bus *bus;

	if (!out)
		return glue_err(-EINVAL, "bus: no output pointer");
	*out = NULL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return glue_err(-ENOMEM, "bus: out of memory");
	if (pthread_rwlock_init(&bus->lock, NULL)) {
		free(bus);
		return glue_err(-ENOMEM, "bus: cannot create lock");
	}
	pthread_mutex_init(&bus->wait_lock, NULL);
	pthread_cond_init(&bus->wait_cond, NULL);
	snprintf(bus->name, sizeof(bus->name), "%s", name ? name : "bus");
	*out = bus;
	return 0;
}

void glue_bus_free(struct glue_bus *bus)
{
	if (!bus)
		return;
	for (size_t i = 0; i < bus->count; i++)
		free(bus->ranges[i]);
	free(bus->ranges);
	pthread_cond_destroy(&bus->wait_cond);
	pthread_mutex_destroy(&bus->wait_lock);
	pthread_rwlock_destroy(&bus->lock);
	free(bus);
}

/* Index of the first range whose base is > addr (caller holds the lock). */
static size_t bus_upper_bound(const struct glue_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid]->base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Last byte of a range; ranges never wrap, so this cannot overflow. */
static uint64_t range_last(const struct bus_range *r)
{
	return r->base + r->len - 1;
}

int glue_bus_register(struct glue_bus *bus, uint64_t base, uint64_t len,
		      const struct glue_bus_ops *ops, void *dev, const char *name)
{
	struct bus_range *r, *prev, *next;
	size_t pos, nlen;
	int ret = 0;

	if (!bus || !ops)
		return glue_err(-EINVAL, "bus: register needs a bus and ops");
	if (!name)
		name = "device";
	if (len == 0 || !glue_range_ok(base, len))
		return glue_err(-EINVAL, "%s: '%s' at 0x%llx: bad length 0x%llx", bus->name, name,
				(unsigned long long)base, (unsigned long long)len);

	nlen = strlen(name);
	r = calloc(1, sizeof(*r) + nlen + 1);
	if (!r)
		return glue_err(-ENOMEM, "%s: out of memory", bus->name);
	r->base = base;
	r->len = len;
	r->ops = ops;
	r->dev = dev;
	atomic_init(&r->refs, 0);
	memcpy(r->name, name, nlen + 1);

	pthread_rwlock_wrlock(&bus->lock);
	pos = bus_upper_bound(bus, base);
	prev = pos > 0 ? bus->ranges[pos - 1] : NULL;
	next = pos < bus->count ? bus->ranges[pos] : NULL;
	if (prev && range_last(prev) >= base) {
		ret = glue_err(-EEXIST, "%s: '%s' [0x%llx, 0x%llx] overlaps '%s' [0x%llx, 0x%llx]",
			       bus->name, name, (unsigned long long)base,
			       (unsigned long long)range_last(r), prev->name,
			       (unsigned long long)prev->base,
			       (unsigned long long)range_last(prev));
		goto fail;
	}
	if (next && next->base <= range_last(r)) {
		ret = glue_err(-EEXIST, "%s: '%s' [0x%llx, 0x%llx] overlaps '%s' [0x%llx, 0x%llx]",
			       bus->name, name, (unsigned long long)base,
			       (unsigned long long)range_last(r), next->name,
			       (unsigned long long)next->base,
			       (unsigned long long)range_last(next));
		goto fail;
	}
	if (bus->count == bus->cap) {
		size_t ncap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range **n = realloc(bus->ranges, ncap * sizeof(*n));

		if (!n) {
			ret = glue_err(-ENOMEM, "%s: out of memory", bus->name);
			goto fail;
		}
		bus->ranges = n;
		bus->cap = ncap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->count - pos) * sizeof(r));
	bus->ranges[pos] = r;
	bus->count++;
	pthread_rwlock_unlock(&bus->lock);
	return 0;

fail:
	pthread_rwlock_unlock(&bus->lock);
	free(r);
	return ret;
}

int glue_bus_unregister(struct glue_bus *bus, uint64_t base)
{
	struct bus_frame *outer = NULL;
	struct bus_range *r = NULL;
	unsigned int own = 0;
	size_t pos;

	if (!bus)
		return glue_err(-EINVAL, "bus: unregister needs a bus");

	pthread_rwlock_wrlock(&bus->lock);
	pos = bus_upper_bound(bus, base);
	if (pos > 0 && bus->ranges[pos - 1]->base == base) {
		r = bus->ranges[pos - 1];
		memmove(&bus->ranges[pos - 1], &bus->ranges[pos], (bus->count - pos) * sizeof(r));
		bus->count--;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!r)
		return glue_err(-ENOENT, "%s: no device registered at 0x%llx", bus->name,
				(unsigned long long)base);

	/*
	 * No new dispatch can find r now. Wait for the ones in flight, except
	 * those of this very thread (a device removing itself from its own
	 * callback): waiting for those would never end.
	 */
	for (struct bus_frame *f = bus_frames; f; f = f->prev) {
		if (f->range == r) {
			own++;
			outer = f;
		}
	}
	atomic_fetch_or(&r->refs, RANGE_DEAD);
	pthread_mutex_lock(&bus->wait_lock);
	while ((atomic_load(&r->refs) & ~RANGE_DEAD) > own)
		pthread_cond_wait(&bus->wait_cond, &bus->wait_lock);
	pthread_mutex_unlock(&bus->wait_lock);

	if (outer)
		outer->free_range = true; /* our outermost caller frees it */
	else
		free(r);
	return 0;
}

/*
 * Find the range holding [addr, addr + len) and take a reference on it.
 * Returns NULL (with an error recorded in *err) when nothing covers the
 * access.
 */
static struct bus_range *bus_get(struct glue_bus *bus, uint64_t addr, uint32_t len, int *err)
{
	struct bus_range *r = NULL;
	size_t pos;

	pthread_rwlock_rdlock(&bus->lock);
	pos = bus_upper_bound(bus, addr);
	if (pos > 0 && addr <= range_last(bus->ranges[pos - 1])) {
		r = bus->ranges[pos - 1];
		if (len - 1 > range_last(r) - addr) {
			*err = glue_err(-ENOENT,
					"%s: %u-byte access at 0x%llx runs past the end of '%s' "
					"[0x%llx, 0x%llx]",
					bus->name, len, (unsigned long long)addr, r->name,
					(unsigned long long)r->base,
					(unsigned long long)range_last(r));
			pthread_rwlock_unlock(&bus->lock);
			return NULL;
		}
		atomic_fetch_add(&r->refs, 1);
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!r)
		*err = glue_err(-ENOENT, "%s: no device at 0x%llx", bus->name,
				(unsigned long long)addr);
	return r;
}

static void bus_put(struct glue_bus *bus, struct bus_frame *frame)
{
	/* After this, r may be freed by the unregistering thread. */
	unsigned int old = atomic_fetch_sub(&frame->range->refs, 1);

	if (old & RANGE_DEAD) {
		pthread_mutex_lock(&bus->wait_lock);
		pthread_cond_broadcast(&bus->wait_cond);
		pthread_mutex_unlock(&bus->wait_lock);
	}
	if (frame->free_range)
		free(frame->range);
}

int glue_bus_read(struct glue_bus *bus, uint64_t addr, void *data, uint32_t len)
{
	struct bus_frame frame = {0};
	int err = 0;

	if (!bus || !data || len == 0)
		return glue_err(-EINVAL, "bus: bad read arguments");
	frame.range = bus_get(bus, addr, len, &err);
	if (!frame.range) {
		memset(data, 0xff, len);
		return err;
	}
	frame.prev = bus_frames;
	bus_frames = &frame;
	if (frame.range->ops->read)
		frame.range->ops->read(frame.range->dev, addr - frame.range->base, data, len);
	else
		memset(data, 0xff, len);
	bus_frames = frame.prev;
	bus_put(bus, &frame);
	return 0;
}

int glue_bus_write(struct glue_bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	struct bus_frame frame = {0};
	int err = 0;

	if (!bus || !data || len == 0)
		return glue_err(-EINVAL, "bus: bad write arguments");
	frame.range = bus_get(bus, addr, len, &err);
	if (!frame.range)
		return err;
	frame.prev = bus_frames;
	bus_frames = &frame;
	if (frame.range->ops->write)
		frame.range->ops->write(frame.range->dev, addr - frame.range->base, data, len);
	bus_frames = frame.prev;
	bus_put(bus, &frame);
	return 0;
}

void glue_bus_set_ioevent(struct glue_bus *bus, glue_bus_ioevent_fn fn, void *ctx)
{
	bus->ioevent = fn;
	bus->ioevent_ctx = ctx;
}

int glue_bus_ioevent_add(struct glue_bus *bus, uint64_t addr, uint32_t len, int64_t datamatch,
			 int fd)
{
	if (!bus->ioevent)
		return glue_err(-ENOTSUP, "%s: no write notifications on this bus", bus->name);
	return bus->ioevent(bus->ioevent_ctx, addr, len, datamatch, fd, true);
}

void glue_bus_ioevent_del(struct glue_bus *bus, uint64_t addr, uint32_t len, int64_t datamatch,
			  int fd)
{
	if (bus->ioevent)
		bus->ioevent(bus->ioevent_ctx, addr, len, datamatch, fd, false);
}
