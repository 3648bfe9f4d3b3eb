// SPDX-License-Identifier: MIT
/*
 * Split virtqueue, device side (virtio 1.2, 2.7). The rings live in guest
 * memory, written by the driver at any time: every field is loaded once
 * into a local and checked there, never re-read.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include <glue/memory.h>
#include <glue/virtq.h>
#include "core/err.h"
#include "core/util.h"

#define DESC_SIZE 16U

struct glue_virtq {
	const struct glue_mem *mem;
	uint16_t max_size;
	bool ready, broken;
	uint16_t size;
	uint32_t features;
	/* host views of the three areas, checked at enable */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;	 /* next avail ring slot to take */
	uint16_t used_idx;	 /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last interrupt we asked for */
	bool signalled_valid;
	uint32_t unsignalled; /* pushes since should_notify last looked */
	bool kicks_wanted;    /* kicks on (glue_virtq_kicks_off/on) */
	uint32_t inflight;    /* popped, not pushed */
	uint32_t generation;  /* bumped at every enable and reset */
	/* scratch for one chain: its iovecs, an indirect table */
	struct iovec *iov;
	struct vring_desc *indirect;
};

static uint16_t load16(const uint16_t *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

static void store16(uint16_t *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}

int glue_virtq_new(struct glue_virtq **out, const struct glue_mem *mem, uint16_t max_size)
{
	struct glue_virtq *q;

	*out = NULL;
	if (max_size == 0 || max_size & (max_size - 1) || max_size > GLUE_VIRTQ_MAX_SIZE)
		return glue_err(-EINVAL,
				"virtqueue: maximum size %u is not a power of two up to %u",
				max_size, GLUE_VIRTQ_MAX_SIZE);
	q = calloc(1, sizeof(*q));
	if (q) {
		q->iov = calloc(GLUE_VIRTQ_MAX_SEGS, sizeof(*q->iov));
		q->indirect = calloc(GLUE_VIRTQ_MAX_SEGS, sizeof(*q->indirect));
	}
	if (!q || !q->iov || !q->indirect) {
		glue_virtq_free(q);
		return glue_err(-ENOMEM, "virtqueue: out of memory");
	}
	q->mem = mem;
	q->max_size = max_size;
	*out = q;
	return 0;
}

void glue_virtq_free(struct glue_virtq *q)
{
	if (!q)
		return;
	free(q->iov);
	free(q->indirect);
	free(q);
}

uint16_t glue_virtq_max_size(const struct glue_virtq *q)
{
	return q->max_size;
}

/* Host view of one area, which must sit in one region, aligned. */
static void *area(const struct glue_virtq *q, const char *what, uint64_t gpa, uint64_t len,
		  uint64_t align, int *r)
{
	void *p;

	if (*r)
		return NULL;
	if (!GLUE_IS_ALIGNED(gpa, align)) {
		*r = glue_err(-EINVAL, "virtqueue: %s at 0x%llx is not %llu-byte aligned", what,
			      (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	p = glue_mem_ptr(q->mem, gpa, len);
	if (!p)
		*r = glue_err(-EINVAL,
			      "virtqueue: %s at 0x%llx+0x%llx is not in guest memory (or spans "
			      "two regions)",
			      what, (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

int glue_virtq_enable(struct glue_virtq *q, const struct glue_virtq_layout *l, uint32_t features)
{
	void *desc, *avail, *used;
	uint64_t n = l->size;
	int r = 0;

	if (n == 0 || n & (n - 1) || n > q->max_size)
		return glue_err(-EINVAL, "virtqueue: size %u is not a power of two up to %u",
				l->size, q->max_size);
	/* The areas' sizes include the event-index words (2.7, table). */
	desc = area(q, "descriptor table", l->desc, n * DESC_SIZE, 16, &r);
	avail = area(q, "driver area", l->avail, 6 + 2 * n, 2, &r);
	used = area(q, "device area", l->used, 6 + 8 * n, 4, &r);
	if (r)
		return r;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->size = l->size;
	q->features = features;
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->signalled_valid = false;
	q->unsignalled = q->inflight = 0;
	q->kicks_wanted = true;
	q->broken = false;
	q->generation++;
	q->ready = true;
	return 0;
}

int glue_virtq_host_rings(const struct glue_virtq *q, struct glue_virtq_host_rings *out)
{
	if (!q || !q->ready)
		return -ENODEV;
	out->size = q->size;
	out->desc = q->desc;
	out->avail = q->avail;
	out->used = q->used;
	return 0;
}

void glue_virtq_reset(struct glue_virtq *q)
{
	q->ready = q->broken = false;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	q->size = 0;
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->signalled_valid = false;
	q->unsignalled = q->inflight = 0;
	q->generation++;
}

bool glue_virtq_ready(const struct glue_virtq *q)
{
	return q->ready;
}

bool glue_virtq_broken(const struct glue_virtq *q)
{
	return q->broken;
}

/* The available ring itself is wrong: nothing more can be trusted. */
#define BROKEN(q, ...) \
	((q)->broken = true, glue_err(-EIO, "virtqueue broken by the driver: " __VA_ARGS__))

/* An element, not yet published. */
static void put_used_elem(struct glue_virtq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &q->used->ring[q->used_idx & (q->size - 1)];

	__atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(len), __ATOMIC_RELAXED);
	q->used_idx++;
	q->unsignalled++;
}

static void publish_used(struct glue_virtq *q)
{
	/* The elements before the index that publishes them. */
	store16(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

static void put_used(struct glue_virtq *q, uint16_t head, uint32_t len)
{
	put_used_elem(q, head, len);
	publish_used(q);
}

struct walk {
	uint16_t nout, nin;
	uint64_t out_len, in_len;
};

#define BAD(...) glue_err(-EBADMSG, "virtqueue: bad descriptor chain: " __VA_ARGS__)

/* Follow the chain at head into q->iov. 0, or -EBADMSG with what was wrong. */
static int walk(struct glue_virtq *q, uint16_t head, struct walk *w)
{
	const struct vring_desc *table = q->desc;
	uint32_t tsize = q->size, idx = head, count = 0;
	bool indirect = false;

	memset(w, 0, sizeof(*w));
	for (;;) {
		uint16_t flags, next;
		uint32_t len;
		uint64_t addr;
		size_t n, nseg = (size_t)w->nout + w->nin;
		int r;

		if (idx >= tsize)
			return BAD("descriptor %u is past the %s of %u", idx,
				   indirect ? "indirect table" : "queue", tsize);
		if (++count > tsize)
			return BAD("a loop (more than %u descriptors)", tsize);
		/* Each field once (READ_ONCE): the driver may change them meanwhile. */
		addr = le64toh(__atomic_load_n(&table[idx].addr, __ATOMIC_RELAXED));
		len = le32toh(__atomic_load_n(&table[idx].len, __ATOMIC_RELAXED));
		flags = le16toh(__atomic_load_n(&table[idx].flags, __ATOMIC_RELAXED));
		next = le16toh(__atomic_load_n(&table[idx].next, __ATOMIC_RELAXED));

		if (flags & VRING_DESC_F_INDIRECT) {
			if (!(q->features & GLUE_VIRTQ_F_INDIRECT))
				return BAD("indirect descriptor, but VIRTIO_F_INDIRECT_DESC was "
					   "not negotiated");
			if (indirect)
				return BAD("an indirect table inside an indirect table");
			if (flags & VRING_DESC_F_NEXT)
				return BAD("indirect descriptor %u also has NEXT", idx);
			if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > GLUE_VIRTQ_MAX_SEGS)
				return BAD("indirect table of %u bytes (a multiple of 16, up to %u "
					   "entries)",
					   len, GLUE_VIRTQ_MAX_SEGS);
			/* A copy: read once, whatever the driver does to it meanwhile. */
			if (glue_mem_read(q->mem, addr, q->indirect, len) < 0)
				return BAD("indirect table at 0x%llx+0x%x is outside guest memory",
					   (unsigned long long)addr, len);
			table = q->indirect;
			tsize = len / DESC_SIZE;
			idx = 0;
			count = 0;
			indirect = true;
			continue;
		}
		/* Not forbidden by the spec, but QEMU refuses them too, so no
		 * driver that works there sends them. */
		if (len == 0)
			return BAD("descriptor %u has length 0", idx);
		if (flags & VRING_DESC_F_WRITE) {
			w->in_len += len;
		} else {
			if (w->nin)
				return BAD("device-readable descriptor %u after a writable one",
					   idx);
			w->out_len += len;
		}
		if (w->out_len + w->in_len > UINT32_MAX)
			return BAD("more than 4 GiB in one chain");
		r = glue_mem_iov(q->mem, addr, len, q->iov + nseg, GLUE_VIRTQ_MAX_SEGS - nseg, &n);
		if (r == -E2BIG)
			return BAD("more than %u buffers", GLUE_VIRTQ_MAX_SEGS);
		if (r < 0)
			return BAD("buffer 0x%llx+0x%x is outside guest memory",
				   (unsigned long long)addr, len);
		if (flags & VRING_DESC_F_WRITE)
			w->nin += n;
		else
			w->nout += n;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		idx = next;
	}
}

/* With EVENT_IDX: "kick me when you add entry last_avail". */
static void want_kick(struct glue_virtq *q)
{
	store16((uint16_t *)&q->used->ring[q->size], q->last_avail, __ATOMIC_RELAXED);
}

static uint16_t avail_pending(struct glue_virtq *q)
{
	/* Acquire: the ring entries and descriptors before the index. */
	return (uint16_t)(load16(&q->avail->idx, __ATOMIC_ACQUIRE) - q->last_avail);
}

int glue_virtq_pop(struct glue_virtq *q, struct glue_virtq_chain **out)
{
	const bool event_idx = q->features & GLUE_VIRTQ_F_EVENT_IDX;
	struct glue_virtq_chain *c = NULL;
	uint16_t head, pending;
	struct walk w;
	size_t nseg = 0;
	int r;

	*out = NULL;
	if (!q->ready)
		return 0;
	if (q->broken)
		return glue_err(-EIO, "virtqueue broken by the driver: reset it");
	pending = avail_pending(q);
	if (pending == 0 && event_idx && q->kicks_wanted) {
		/* Empty: ask for a kick for the next entry, then look once more,
		 * in case it came before the driver could see our wish. */
		want_kick(q);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		pending = avail_pending(q);
	}
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return BROKEN(q, "%u new entries in a queue of %u", pending, q->size);
	if (q->inflight >= q->size)
		return BROKEN(q, "more than %u chains in flight (a head made available twice)",
			      q->size);
	head = load16(&q->avail->ring[q->last_avail & (q->size - 1)], __ATOMIC_RELAXED);
	if (head >= q->size)
		return BROKEN(q, "head %u in a queue of %u", head, q->size);

	r = walk(q, head, &w);
	if (r == 0) {
		nseg = (size_t)w.nout + w.nin;
		c = malloc(sizeof(*c) + nseg * sizeof(c->iov[0]));
		if (!c) /* nothing taken: the entry stays for a later pop */
			return glue_err(-ENOMEM, "virtqueue: out of memory");
	}
	q->last_avail++;
	if (event_idx && q->kicks_wanted)
		want_kick(q);
	if (r < 0) {
		put_used(q, head, 0);
		return r;
	}
	c->head = head;
	c->nout = w.nout;
	c->nin = w.nin;
	c->out_len = (uint32_t)w.out_len;
	c->in_len = (uint32_t)w.in_len;
	c->queue = q;
	c->generation = q->generation;
	memcpy(c->iov, q->iov, nseg * sizeof(c->iov[0]));
	q->inflight++;
	*out = c;
	return 1;
}

void glue_virtq_push(struct glue_virtq *q, struct glue_virtq_chain *c, uint32_t len)
{
	if (!c)
		return;
	/* Popped before a reset, or from another queue: nobody waits for it. */
	if (q->ready && c->queue == q && c->generation == q->generation) {
		put_used(q, c->head, GLUE_MIN(len, c->in_len));
		q->inflight--;
	}
	free(c);
}

void glue_virtq_push_n(struct glue_virtq *q, struct glue_virtq_chain *const *c, const uint32_t *len,
		       unsigned int n)
{
	bool any = false;

	for (unsigned int i = 0; i < n; i++) {
		if (!c[i])
			continue;
		if (q->ready && c[i]->queue == q && c[i]->generation == q->generation) {
			put_used_elem(q, c[i]->head, GLUE_MIN(len[i], c[i]->in_len));
			q->inflight--;
			any = true;
		}
		free(c[i]);
	}
	if (any)
		publish_used(q);
}

unsigned int glue_virtq_inflight(const struct glue_virtq *q)
{
	return q->inflight;
}

static size_t copy(const struct iovec *iov, size_t n, size_t off, void *buf, size_t len,
		   bool to_chain)
{
	size_t done = 0;

	for (size_t i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = GLUE_MIN(iov[i].iov_len - off, len - done);
		if (to_chain)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t glue_virtq_chain_read(const struct glue_virtq_chain *c, size_t off, void *buf, size_t len)
{
	return copy(c->iov, c->nout, off, buf, len, false);
}

size_t glue_virtq_chain_write(const struct glue_virtq_chain *c, size_t off, const void *buf,
			      size_t len)
{
	return copy(c->iov + c->nout, c->nin, off, (void *)buf, len, true);
}

bool glue_virtq_should_notify(struct glue_virtq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx;
	bool valid = q->signalled_valid;

	uint32_t pushed = q->unsignalled;

	if (!q->ready || !pushed)
		return false;
	/* Our used index must be visible before we read what the driver
	 * wants (it writes its wish, then reads our index). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->unsignalled = 0;
	q->signalled_used = now;
	q->signalled_valid = true;
	if (q->features & GLUE_VIRTQ_F_EVENT_IDX) {
		uint16_t event = load16(&q->avail->ring[q->size], __ATOMIC_RELAXED);

		/* 2^16 pushes unasked wrap the index: then old means nothing. */
		return !valid || pushed > UINT16_MAX || vring_need_event(event, now, old);
	}
	return !(load16(&q->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

void glue_virtq_kicks_off(struct glue_virtq *q)
{
	if (!q->ready)
		return;
	q->kicks_wanted = false;
	/* With EVENT_IDX, an avail_event left behind already means "no kicks". */
	if (!(q->features & GLUE_VIRTQ_F_EVENT_IDX))
		store16(&q->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool glue_virtq_kicks_on(struct glue_virtq *q)
{
	if (!q->ready)
		return false;
	q->kicks_wanted = true;
	if (q->features & GLUE_VIRTQ_F_EVENT_IDX)
		want_kick(q);
	else
		store16(&q->used->flags, 0, __ATOMIC_RELAXED);
	/* Our wish visible before we look again: a chain added just before
	 * it would otherwise wait for a kick that never comes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !q->broken && load16(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}
