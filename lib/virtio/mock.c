// SPDX-License-Identifier: MIT
/* The driver side of a split virtqueue, for tests (see <glue/virtq_mock.h>). */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include <glue/memory.h>
#include <glue/virtq_mock.h>
#include "core/err.h"
#include "core/util.h"

struct glue_virtq_mock {
	struct glue_mem *mem;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, last_used;
	uint16_t kicked_idx; /* avail_idx when kick_wanted last looked */
	/* descriptors in use, and the head of the chain each is in */
	bool *in_use;
	uint16_t *chain_of;
};

static uint64_t avail_at(uint64_t base, uint16_t size)
{
	return base + 16ULL * size;
}

static uint64_t used_at(uint64_t base, uint16_t size)
{
	return GLUE_ALIGN_UP(avail_at(base, size) + 6 + 2ULL * size, 4);
}

uint64_t glue_virtq_mock_bytes(uint16_t size)
{
	return used_at(0, size) + 6 + 8ULL * size;
}

int glue_virtq_mock_new(struct glue_virtq_mock **out, struct glue_mem *mem, uint64_t base,
			uint16_t size)
{
	struct glue_virtq_mock *m;
	int r;

	*out = NULL;
	if (size == 0 || size & (size - 1) || !GLUE_IS_ALIGNED(base, 4096))
		return glue_err(-EINVAL, "virtqueue mock: size %u or base 0x%llx is unusable", size,
				(unsigned long long)base);
	r = glue_mem_fill(mem, base, 0, glue_virtq_mock_bytes(size));
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (m) {
		m->in_use = calloc(size, sizeof(*m->in_use));
		m->chain_of = calloc(size, sizeof(*m->chain_of));
	}
	if (!m || !m->in_use || !m->chain_of) {
		glue_virtq_mock_free(m);
		return glue_err(-ENOMEM, "virtqueue mock: out of memory");
	}
	m->mem = mem;
	m->size = size;
	m->desc = base;
	m->avail = avail_at(base, size);
	m->used = used_at(base, size);
	*out = m;
	return 0;
}

void glue_virtq_mock_free(struct glue_virtq_mock *m)
{
	if (!m)
		return;
	free(m->in_use);
	free(m->chain_of);
	free(m);
}

void glue_virtq_mock_layout(const struct glue_virtq_mock *m, struct glue_virtq_layout *out)
{
	*out = (struct glue_virtq_layout){
		.size = m->size, .desc = m->desc, .avail = m->avail, .used = m->used};
}

int glue_virtq_mock_set_desc(struct glue_virtq_mock *m, uint16_t i, uint64_t addr, uint32_t len,
			     uint16_t flags, uint16_t next)
{
	struct vring_desc d = {.addr = htole64(addr),
			       .len = htole32(len),
			       .flags = htole16(flags),
			       .next = htole16(next)};

	if (i >= m->size)
		return glue_err(-EINVAL, "virtqueue mock: descriptor %u of %u", i, m->size);
	return glue_mem_write(m->mem, m->desc + 16ULL * i, &d, sizeof(d));
}

static int publish_idx(struct glue_virtq_mock *m, uint16_t idx)
{
	uint16_t *p = glue_mem_ptr(m->mem, m->avail + 2, 2);

	if (!p)
		return glue_err(-EFAULT, "virtqueue mock: driver area not in memory");
	/* Release: ring slot and descriptors before the index, as a driver does. */
	__atomic_store_n(p, htole16(idx), __ATOMIC_RELEASE);
	m->avail_idx = idx;
	return 0;
}

int glue_virtq_mock_set_avail_idx(struct glue_virtq_mock *m, uint16_t idx)
{
	return publish_idx(m, idx);
}

int glue_virtq_mock_publish(struct glue_virtq_mock *m, uint16_t head)
{
	uint64_t slot = m->avail + 4 + 2ULL * (m->avail_idx & (m->size - 1));
	int r = glue_mem_write_u16(m->mem, slot, head);

	return r < 0 ? r : publish_idx(m, (uint16_t)(m->avail_idx + 1));
}

/* n free descriptors, linked in the order found; -ENOSPC if there are not enough. */
static int take_descs(struct glue_virtq_mock *m, size_t n, uint16_t *idx)
{
	size_t got = 0;

	for (uint32_t i = 0; i < m->size && got < n; i++)
		if (!m->in_use[i])
			idx[got++] = (uint16_t)i;
	if (got < n || n == 0)
		return glue_err(-ENOSPC, "virtqueue mock: %zu descriptors wanted, %zu free", n,
				got);
	for (size_t i = 0; i < n; i++) {
		m->in_use[idx[i]] = true;
		m->chain_of[idx[i]] = idx[0];
	}
	return 0;
}

int glue_virtq_mock_add(struct glue_virtq_mock *m, const struct glue_virtq_mock_buf *bufs, size_t n,
			uint16_t *head)
{
	uint16_t *idx = calloc(n ? n : 1, sizeof(*idx));
	int r;

	if (!idx)
		return glue_err(-ENOMEM, "virtqueue mock: out of memory");
	r = take_descs(m, n, idx);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = glue_virtq_mock_set_desc(m, idx[i], bufs[i].gpa, bufs[i].len,
					     (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
						     (i + 1 < n ? VRING_DESC_F_NEXT : 0),
					     i + 1 < n ? idx[i + 1] : 0);
	if (r == 0)
		r = glue_virtq_mock_publish(m, idx[0]);
	if (r == 0 && head)
		*head = idx[0];
	free(idx);
	return r;
}

int glue_virtq_mock_add_indirect(struct glue_virtq_mock *m, const struct glue_virtq_mock_buf *bufs,
				 size_t n, uint64_t table_gpa, uint16_t *head)
{
	uint16_t idx;
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		struct vring_desc d = {.addr = htole64(bufs[i].gpa),
				       .len = htole32(bufs[i].len),
				       .flags = htole16((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
							(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
				       .next = htole16(i + 1 < n ? (uint16_t)(i + 1) : 0)};

		r = glue_mem_write(m->mem, table_gpa + 16 * i, &d, sizeof(d));
	}
	if (r == 0)
		r = take_descs(m, 1, &idx);
	if (r == 0)
		r = glue_virtq_mock_set_desc(m, idx, table_gpa, (uint32_t)(16 * n),
					     VRING_DESC_F_INDIRECT, 0);
	if (r == 0)
		r = glue_virtq_mock_publish(m, idx);
	if (r == 0 && head)
		*head = idx;
	return r;
}

int glue_virtq_mock_take_used(struct glue_virtq_mock *m, uint16_t *id, uint32_t *len)
{
	uint16_t *idxp = glue_mem_ptr(m->mem, m->used + 2, 2);
	uint64_t elem;
	uint32_t v[2];

	if (!idxp)
		return glue_err(-EFAULT, "virtqueue mock: device area not in memory");
	if (le16toh(__atomic_load_n(idxp, __ATOMIC_ACQUIRE)) == m->last_used)
		return 0;
	elem = m->used + 4 + 8ULL * (m->last_used & (m->size - 1));
	if (glue_mem_read(m->mem, elem, v, sizeof(v)) < 0)
		return glue_err(-EFAULT, "virtqueue mock: device area not in memory");
	m->last_used++;
	*id = (uint16_t)le32toh(v[0]);
	*len = le32toh(v[1]);
	/* Free the chain's descriptors (when it is one this mock made). */
	if (*id < m->size && m->in_use[*id] && m->chain_of[*id] == *id)
		for (uint32_t i = 0; i < m->size; i++)
			if (m->in_use[i] && m->chain_of[i] == *id)
				m->in_use[i] = false;
	return 1;
}

int glue_virtq_mock_set_avail_flags(struct glue_virtq_mock *m, uint16_t flags)
{
	return glue_mem_write_u16(m->mem, m->avail, flags);
}

int glue_virtq_mock_set_used_event(struct glue_virtq_mock *m, uint16_t idx)
{
	return glue_mem_write_u16(m->mem, m->avail + 4 + 2ULL * m->size, idx);
}

uint16_t glue_virtq_mock_used_flags(const struct glue_virtq_mock *m)
{
	uint16_t v = 0;

	glue_mem_read_u16(m->mem, m->used, &v);
	return v;
}

uint16_t glue_virtq_mock_avail_event(const struct glue_virtq_mock *m)
{
	uint16_t v = 0;

	glue_mem_read_u16(m->mem, m->used + 4 + 8ULL * m->size, &v);
	return v;
}

bool glue_virtq_mock_kick_wanted(struct glue_virtq_mock *m, bool event_idx)
{
	uint16_t old = m->kicked_idx, now = m->avail_idx;
	bool kick;

	if (old == now)
		return false;
	/* A driver's full barrier between publishing and reading the device's wish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx)
		kick = vring_need_event(glue_virtq_mock_avail_event(m), now, old);
	else
		kick = !(glue_virtq_mock_used_flags(m) & VRING_USED_F_NO_NOTIFY);
	m->kicked_idx = now;
	return kick;
}
