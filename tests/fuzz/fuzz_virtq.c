// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a virtqueue whose descriptor table, rings and buffers are
 * whatever the input says. Every chain popped must lie inside guest memory
 * (each iovec within one region), and nothing may crash, hang or leak.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glue/memory.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#define KiB 1024ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two adjacent regions, a hole, a third: chains may run across the edge
 * (split) or into the hole (refused). */
static const struct {
	uint64_t gpa, size;
} regions[] = {{0, 64 * KiB}, {64 * KiB, 64 * KiB}, {192 * KiB, 64 * KiB}};

static void check_chain(const struct glue_mem *mem, const struct glue_virtq_chain *c)
{
	for (unsigned int i = 0; i < (unsigned int)c->nout + c->nin; i++) {
		const uint8_t *b = c->iov[i].iov_base;
		bool inside = false;

		for (size_t r = 0; r < sizeof(regions) / sizeof(regions[0]); r++) {
			const uint8_t *h = glue_mem_ptr(mem, regions[r].gpa, regions[r].size);

			if (b >= h && c->iov[i].iov_len <= regions[r].size &&
			    (size_t)(b - h) <= regions[r].size - c->iov[i].iov_len)
				inside = true;
		}
		if (!inside || c->iov[i].iov_len == 0)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct glue_virtq_layout l;
	struct glue_virtq_mock *m;
	struct glue_virtq *q;
	struct glue_mem *mem;
	uint32_t features;
	uint16_t qsize;
	size_t off = 0;

	if (size < 2)
		return 0;
	features = data[0] & (GLUE_VIRTQ_F_INDIRECT | GLUE_VIRTQ_F_EVENT_IDX);
	qsize = (uint16_t)(1u << (1 + data[1] % 5)); /* 2..32 */
	if (glue_mem_new(&mem) < 0)
		return 0;
	for (size_t r = 0; r < sizeof(regions) / sizeof(regions[0]); r++)
		glue_mem_add(mem, regions[r].gpa, regions[r].size, GLUE_MEM_RAM);
	/* The queue in the first region; the input over memory from its start. */
	if (glue_virtq_mock_new(&m, mem, 0, qsize) < 0 || glue_virtq_new(&q, mem, qsize) < 0)
		abort();
	glue_virtq_mock_layout(m, &l);
	data += 2;
	size -= 2;
	for (size_t r = 0; r < sizeof(regions) / sizeof(regions[0]) && off < size; r++) {
		size_t n = size - off < regions[r].size ? size - off : regions[r].size;

		glue_mem_write(mem, regions[r].gpa, data + off, n);
		off += n;
	}
	if (glue_virtq_enable(q, &l, features) < 0)
		abort();

	struct glue_virtq_chain *held[8] = {0};
	unsigned int nheld = 0;

	glue_virtq_kicks_off(q);
	for (int i = 0; i < 4 * qsize; i++) {
		struct glue_virtq_chain *c;
		uint8_t buf[64];
		int k = glue_virtq_pop(q, &c);

		if (k == -EBADMSG)
			continue;
		if (k <= 0)
			break;
		check_chain(mem, c);
		glue_virtq_chain_read(c, 0, buf, sizeof(buf));
		glue_virtq_chain_write(c, c->in_len / 2, buf, sizeof(buf));
		/* Keep some in flight, give them back out of order. */
		if (nheld < 8 && (c->head & 1)) {
			held[nheld++] = c;
			continue;
		}
		glue_virtq_push(q, c, c->in_len);
	}
	glue_virtq_kicks_on(q);
	while (nheld)
		glue_virtq_push(q, held[--nheld], 1);
	glue_virtq_should_notify(q);
	if (glue_virtq_inflight(q) != 0)
		__builtin_trap();
	glue_virtq_free(q);
	glue_virtq_mock_free(m);
	glue_mem_free(mem);
	return 0;
}
