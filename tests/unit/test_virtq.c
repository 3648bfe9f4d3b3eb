// SPDX-License-Identifier: MIT
/*
 * The split virtqueue against its driver-side mock: chains in and out,
 * every rule a driver can break, notification suppression, and random
 * descriptor tables that must never make it touch memory outside the guest.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#define KiB 1024ULL
#define MiB (1024ULL * KiB)

/* Two adjacent regions [0, 1M) [1M, 2M), a gap, then [4M, 5M). */
#define QBASE 0x10000ULL
#define DATA 0x40000ULL
#define GAP 0x300000ULL

static struct glue_mem *mem;
static struct glue_virtq *q;
static struct glue_virtq_mock *m;

static void setup_size(uint16_t size, uint32_t features)
{
	struct glue_virtq_layout l;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 1 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 1 * MiB, 1 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 4 * MiB, 1 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_virtq_new(&q, mem, size), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtq_mock_new(&m, mem, QBASE, size), 0, "%s", glue_error_last());
	glue_virtq_mock_layout(m, &l);
	cr_assert_eq(glue_virtq_enable(q, &l, features), 0, "%s", glue_error_last());
}

static void setup(void)
{
	setup_size(16, 0);
}

static void teardown(void)
{
	glue_virtq_mock_free(m);
	glue_virtq_free(q);
	glue_mem_free(mem);
	m = NULL;
	q = NULL;
	mem = NULL;
}

static void *host(uint64_t gpa, uint64_t len)
{
	void *p = glue_mem_ptr(mem, gpa, len);

	cr_assert_not_null(p);
	return p;
}

/* Pop must fail with -EBADMSG naming why, and give the chain back with length 0. */
static void expect_bad(uint16_t head, const char *why)
{
	struct glue_virtq_chain *c = (void *)1;
	uint16_t id;
	uint32_t len;

	cr_assert_eq(glue_virtq_pop(q, &c), -EBADMSG, "chain accepted; wanted: %s", why);
	cr_assert_null(c);
	cr_assert(strstr(glue_error_last(), why), "message '%s' lacks '%s'", glue_error_last(),
		  why);
	cr_assert_eq(glue_virtq_mock_take_used(m, &id, &len), 1);
	cr_assert_eq(id, head);
	cr_assert_eq(len, 0);
	cr_assert(!glue_virtq_broken(q));
}

/* A one-descriptor chain at descriptor 0, published, must fail for why. */
static void expect_bad_desc(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next,
			    const char *why)
{
	glue_virtq_mock_set_desc(m, 0, addr, len, flags, next);
	glue_virtq_mock_publish(m, 0);
	expect_bad(0, why);
}

/* After any bad chain the queue still works. */
static void expect_still_works(void)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;
	uint16_t head, id;
	uint32_t len;

	cr_assert_eq(glue_virtq_mock_add(m, &b, 1, &head), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtq_pop(q, &c), 1, "%s", glue_error_last());
	cr_assert_eq(c->head, head);
	glue_virtq_push(q, c, 8);
	cr_assert_eq(glue_virtq_mock_take_used(m, &id, &len), 1);
	cr_assert_eq(id, head);
	cr_assert_eq(len, 8);
}

TestSuite(virtq, .init = setup, .fini = teardown);
/* These set the queue up themselves (other sizes, features). */
TestSuite(virtq_features, .fini = teardown);

Test(virtq, sizes_and_layouts_are_checked)
{
	struct glue_virtq *q2;
	struct glue_virtq_layout l, bad;

	cr_assert_eq(glue_virtq_new(&q2, mem, 0), -EINVAL);
	cr_assert_eq(glue_virtq_new(&q2, mem, 24), -EINVAL);
	cr_assert_eq(glue_virtq_new(&q2, mem, 32768), 0);
	cr_assert_eq(glue_virtq_max_size(q2), 32768);
	glue_virtq_free(q2);

	glue_virtq_mock_layout(m, &l);
	const struct {
		struct glue_virtq_layout l;
		const char *why;
	} cases[] = {
		{{0, l.desc, l.avail, l.used}, "size 0"},
		{{12, l.desc, l.avail, l.used}, "size 12"},
		{{32, l.desc, l.avail, l.used}, "size 32"}, /* over this queue's 16 */
		{{16, l.desc + 8, l.avail, l.used}, "16-byte aligned"},
		{{16, l.desc, l.avail + 1, l.used}, "2-byte aligned"},
		{{16, l.desc, l.avail, l.used + 2}, "4-byte aligned"},
		{{16, GAP, l.avail, l.used}, "not in guest memory"},
		{{16, l.desc, 5 * MiB - 8, l.used}, "not in guest memory"},
		/* across the edge of two adjacent regions: one host view is needed */
		{{16, 1 * MiB - 128, l.avail, l.used}, "spans two regions"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		glue_virtq_reset(q);
		bad = cases[i].l;
		cr_assert_eq(glue_virtq_enable(q, &bad, 0), -EINVAL, "case %zu accepted", i);
		cr_assert(strstr(glue_error_last(), cases[i].why), "case %zu: %s", i,
			  glue_error_last());
		cr_assert(!glue_virtq_ready(q));
	}
	cr_assert_eq(glue_virtq_enable(q, &l, 0), 0);
	cr_assert(glue_virtq_ready(q));
}

Test(virtq, a_chain_in_and_out)
{
	struct glue_virtq_mock_buf b[] = {
		{DATA, 16, false}, {DATA + 0x1000, 100, false}, {DATA + 0x2000, 512, true}};
	struct glue_virtq_chain *c;
	char got[116], want[116];
	uint16_t head, id;
	uint32_t len;

	memcpy(host(DATA, 16), "0123456789abcdef", 16);
	for (int i = 0; i < 100; i++)
		((char *)host(DATA + 0x1000, 100))[i] = (char)('A' + i % 26);
	cr_assert_eq(glue_virtq_pop(q, &c), 0, "an empty queue pops nothing");
	cr_assert_eq(glue_virtq_mock_add(m, b, 3, &head), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1, "%s", glue_error_last());
	cr_assert_eq(c->head, head);
	cr_assert_eq(c->nout, 2);
	cr_assert_eq(c->nin, 1);
	cr_assert_eq(c->out_len, 116);
	cr_assert_eq(c->in_len, 512);
	cr_assert_eq(c->iov[0].iov_base, host(DATA, 16));
	cr_assert_eq(c->iov[2].iov_base, host(DATA + 0x2000, 512));
	/* the readable bytes, across both buffers, from an offset */
	memcpy(want, host(DATA, 16), 16);
	memcpy(want + 16, host(DATA + 0x1000, 100), 100);
	cr_assert_eq(glue_virtq_chain_read(c, 0, got, sizeof(got)), 116);
	cr_assert_arr_eq(got, want, 116);
	cr_assert_eq(glue_virtq_chain_read(c, 10, got, 20), 20);
	cr_assert_arr_eq(got, want + 10, 20);
	cr_assert_eq(glue_virtq_chain_read(c, 110, got, 20), 6, "short at the end");
	cr_assert_eq(glue_virtq_chain_write(c, 500, "xyzxyzxyzxyzxyz", 15), 12);
	cr_assert_arr_eq(host(DATA + 0x2000 + 500, 12), "xyzxyzxyzxyz", 12);
	glue_virtq_push(q, c, 10000); /* capped at what the chain can hold */
	cr_assert_eq(glue_virtq_mock_take_used(m, &id, &len), 1);
	cr_assert_eq(id, head);
	cr_assert_eq(len, 512);
	cr_assert_eq(glue_virtq_pop(q, &c), 0);
	cr_assert_eq(glue_virtq_mock_take_used(m, &id, &len), 0);
}

Test(virtq, out_of_order_completion_and_index_wrap)
{
	struct glue_virtq_chain *c[4];

	/* 70000 chains through a queue of 16: both 16-bit indices wrap. */
	for (int round = 0; round < 70000 / 4; round++) {
		uint16_t heads[4], id;
		uint32_t len;

		for (int i = 0; i < 4; i++) {
			struct glue_virtq_mock_buf b = {DATA + 64 * i, 64, true};

			cr_assert_eq(glue_virtq_mock_add(m, &b, 1, &heads[i]), 0, "%s",
				     glue_error_last());
		}
		for (int i = 0; i < 4; i++)
			cr_assert_eq(glue_virtq_pop(q, &c[i]), 1, "round %d: %s", round,
				     glue_error_last());
		for (int i = 3; i >= 0; i--)
			glue_virtq_push(q, c[i], (uint32_t)i);
		for (int i = 3; i >= 0; i--) {
			cr_assert_eq(glue_virtq_mock_take_used(m, &id, &len), 1);
			cr_assert_eq(id, heads[i]);
			cr_assert_eq(len, (uint32_t)i);
		}
	}
}

Test(virtq, a_buffer_across_a_region_edge_is_split)
{
	struct glue_virtq_mock_buf b = {1 * MiB - 0x100, 0x300, false};
	struct glue_virtq_chain *c;
	uint8_t want[0x300], got[0x300];

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7);
	cr_assert_eq(glue_mem_write(mem, b.gpa, want, sizeof(want)), 0);
	cr_assert_eq(glue_virtq_mock_add(m, &b, 1, NULL), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1, "%s", glue_error_last());
	cr_assert_eq(c->nout, 2);
	cr_assert_eq(c->iov[0].iov_len, 0x100);
	cr_assert_eq(c->iov[1].iov_len, 0x200);
	cr_assert_eq(c->out_len, 0x300);
	cr_assert_eq(glue_virtq_chain_read(c, 0, got, sizeof(got)), sizeof(got));
	cr_assert_arr_eq(got, want, sizeof(want));
	glue_virtq_push(q, c, 0);
}

Test(virtq, bad_chains_fail_alone)
{
	/* Each: descriptors written raw, head 0 published. */
	glue_virtq_mock_set_desc(m, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	glue_virtq_mock_set_desc(m, 1, DATA, 8, VRING_DESC_F_NEXT, 0);
	glue_virtq_mock_publish(m, 0);
	expect_bad(0, "a loop");

	expect_bad_desc(DATA, 8, VRING_DESC_F_NEXT, 16, "descriptor 16 is past the queue of 16");

	expect_bad_desc(DATA, 0, 0, 0, "length 0");

	glue_virtq_mock_set_desc(m, 0, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	glue_virtq_mock_set_desc(m, 1, DATA, 8, 0, 0);
	glue_virtq_mock_publish(m, 0);
	expect_bad(0, "device-readable descriptor 1 after a writable one");

	expect_bad_desc(GAP, 8, 0, 0, "outside guest memory");

	/* the last bytes of RAM, then past it */
	expect_bad_desc(5 * MiB - 4, 8, VRING_DESC_F_WRITE, 0, "outside guest memory");

	/* an address that wraps around 2^64 */
	expect_bad_desc(~0ULL - 0xff, 0x1000, 0, 0, "outside guest memory");

	/* indirect without the feature */
	expect_bad_desc(DATA, 32, VRING_DESC_F_INDIRECT, 0, "not negotiated");
	expect_still_works();
}

Test(virtq_features, bad_indirect_tables)
{
	struct glue_virtq_mock_buf b[] = {{DATA, 8, false}, {DATA + 8, 8, true}};
	struct glue_virtq_chain *c;
	const uint64_t table = 0x80000;

	setup_size(16, GLUE_VIRTQ_F_INDIRECT);
	/* a good one first */
	cr_assert_eq(glue_virtq_mock_add_indirect(m, b, 2, table, NULL), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1, "%s", glue_error_last());
	cr_assert_eq(c->nout, 1);
	cr_assert_eq(c->nin, 1);
	glue_virtq_push(q, c, 8);
	cr_assert_eq(glue_virtq_mock_take_used(m, &(uint16_t){0}, &(uint32_t){0}), 1);
	expect_still_works();

	expect_bad_desc(table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1, "also has NEXT");

	expect_bad_desc(table, 24, VRING_DESC_F_INDIRECT, 0, "indirect table of 24 bytes");

	expect_bad_desc(table, 0, VRING_DESC_F_INDIRECT, 0, "indirect table of 0 bytes");

	expect_bad_desc(GAP, 32, VRING_DESC_F_INDIRECT, 0,
			"indirect table at 0x300000+0x20 is outside guest memory");

	/* more entries than a chain may have */
	expect_bad_desc(table, 16 * (GLUE_VIRTQ_MAX_SEGS + 1), VRING_DESC_F_INDIRECT, 0,
			"up to 1024 entries");

	/* an indirect entry that points to another table */
	{
		struct vring_desc t[2] = {
			{.addr = table + 0x100, .len = 32, .flags = VRING_DESC_F_INDIRECT},
		};

		glue_mem_write(mem, table, t, sizeof(t));
		glue_virtq_mock_set_desc(m, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
		glue_virtq_mock_publish(m, 0);
		expect_bad(0, "an indirect table inside an indirect table");
	}
	/* a loop inside the table, and a next past its end */
	{
		struct vring_desc t[2] = {
			{.addr = DATA, .len = 8, .flags = VRING_DESC_F_NEXT, .next = 1},
			{.addr = DATA, .len = 8, .flags = VRING_DESC_F_NEXT, .next = 0},
		};

		glue_mem_write(mem, table, t, sizeof(t));
		glue_virtq_mock_publish(m, 0);
		expect_bad(0, "a loop (more than 2 descriptors)");
		t[1].next = 2;
		glue_mem_write(mem, table, t, sizeof(t));
		glue_virtq_mock_publish(m, 0);
		expect_bad(0, "descriptor 2 is past the indirect table of 2");
	}
	expect_still_works();
}

Test(virtq_features, too_many_buffers)
{
	struct glue_virtq_mock_buf *b = calloc(GLUE_VIRTQ_MAX_SEGS + 1, sizeof(*b));
	struct glue_virtq_chain *c;

	setup_size(2048, 0);
	for (int i = 0; i <= GLUE_VIRTQ_MAX_SEGS; i++)
		b[i] = (struct glue_virtq_mock_buf){DATA + 16 * (uint64_t)i, 16, false};
	cr_assert_eq(glue_virtq_mock_add(m, b, GLUE_VIRTQ_MAX_SEGS, NULL), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1, "%s", glue_error_last());
	cr_assert_eq(c->nout, GLUE_VIRTQ_MAX_SEGS);
	glue_virtq_push(q, c, 0);
	glue_virtq_mock_take_used(m, &(uint16_t){0}, &(uint32_t){0});
	cr_assert_eq(glue_virtq_mock_add(m, b, GLUE_VIRTQ_MAX_SEGS + 1, NULL), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), -EBADMSG);
	cr_assert(strstr(glue_error_last(), "more than 1024 buffers"), "%s", glue_error_last());
	free(b);
}

Test(virtq, a_broken_ring_stops_the_queue_until_reset)
{
	struct glue_virtq_chain *c;
	struct glue_virtq_layout l;

	/* 17 new entries in a queue of 16 */
	glue_virtq_mock_set_avail_idx(m, 17);
	cr_assert_eq(glue_virtq_pop(q, &c), -EIO);
	cr_assert(strstr(glue_error_last(), "17 new entries in a queue of 16"), "%s",
		  glue_error_last());
	cr_assert(glue_virtq_broken(q));
	cr_assert_eq(glue_virtq_pop(q, &c), -EIO, "stays broken");
	cr_assert(!glue_virtq_kicks_on(q), "a broken queue has no work");
	glue_virtq_reset(q);
	cr_assert(!glue_virtq_broken(q));
	cr_assert(!glue_virtq_ready(q));
	cr_assert_eq(glue_virtq_pop(q, &c), 0, "not ready: nothing");

	/* a fresh start, then a head past the table */
	glue_virtq_mock_free(m);
	cr_assert_eq(glue_virtq_mock_new(&m, mem, QBASE, 16), 0);
	glue_virtq_mock_layout(m, &l);
	cr_assert_eq(glue_virtq_enable(q, &l, 0), 0);
	expect_still_works();
	glue_virtq_mock_publish(m, 16);
	cr_assert_eq(glue_virtq_pop(q, &c), -EIO);
	cr_assert(strstr(glue_error_last(), "head 16 in a queue of 16"), "%s", glue_error_last());
}

Test(virtq, a_chain_from_before_a_reset_is_not_pushed)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c, *c2;
	struct glue_virtq_layout l;
	uint16_t used_idx;

	glue_virtq_mock_layout(m, &l);
	cr_assert_eq(glue_virtq_mock_add(m, &b, 1, NULL), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	cr_assert_eq(glue_virtq_inflight(q), 1);
	glue_virtq_reset(q);
	cr_assert_eq(glue_virtq_inflight(q), 0);
	glue_virtq_push(q, c, 8); /* not ready: only freed */
	cr_assert_eq(glue_mem_read_u16(mem, l.used + 2, &used_idx), 0);
	cr_assert_eq(used_idx, 0);
	cr_assert(!glue_virtq_should_notify(q));

	/* Reset and enabled again before the push: the new ring never sees it. */
	glue_virtq_mock_free(m);
	cr_assert_eq(glue_virtq_mock_new(&m, mem, QBASE, 16), 0);
	cr_assert_eq(glue_virtq_enable(q, &l, 0), 0);
	cr_assert_eq(glue_virtq_mock_add(m, &b, 1, NULL), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	glue_virtq_reset(q);
	cr_assert_eq(glue_virtq_enable(q, &l, 0), 0);
	glue_virtq_push(q, c, 8);
	cr_assert_eq(glue_mem_read_u16(mem, l.used + 2, &used_idx), 0);
	cr_assert_eq(used_idx, 0, "a stale chain reached the new ring");
	/* nor does another queue's chain */
	{
		struct glue_virtq *other;

		cr_assert_eq(glue_virtq_new(&other, mem, 16), 0);
		cr_assert_eq(glue_virtq_mock_add(m, &b, 1, NULL), 0);
		cr_assert_eq(glue_virtq_pop(q, &c2), 1);
		glue_virtq_push(other, c2, 8);
		cr_assert_eq(glue_mem_read_u16(mem, l.used + 2, &used_idx), 0);
		cr_assert_eq(used_idx, 0);
		glue_virtq_free(other);
	}
}

Test(virtq, a_head_made_available_twice_breaks_the_queue)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c[16];
	uint16_t head;

	cr_assert_eq(glue_virtq_mock_add(m, &b, 1, &head), 0);
	for (int i = 0; i < 16; i++) {
		if (i)
			glue_virtq_mock_publish(m, head);
		cr_assert_eq(glue_virtq_pop(q, &c[i]), 1, "%d: %s", i, glue_error_last());
	}
	cr_assert_eq(glue_virtq_inflight(q), 16);
	glue_virtq_mock_publish(m, head);
	cr_assert_eq(glue_virtq_pop(q, &(struct glue_virtq_chain *){NULL}), -EIO,
		     "a 17th chain in flight in a queue of 16");
	cr_assert(strstr(glue_error_last(), "more than 16 chains in flight"), "%s",
		  glue_error_last());
	for (int i = 0; i < 16; i++)
		glue_virtq_push(q, c[i], 0);
}

Test(virtq, interrupts_as_the_driver_asks)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;

	cr_assert(!glue_virtq_should_notify(q), "nothing used yet");
	glue_virtq_mock_add(m, &b, 1, NULL);
	glue_virtq_pop(q, &c);
	glue_virtq_push(q, c, 1);
	cr_assert(glue_virtq_should_notify(q));
	cr_assert(!glue_virtq_should_notify(q), "nothing new since");
	glue_virtq_mock_set_avail_flags(m, VRING_AVAIL_F_NO_INTERRUPT);
	glue_virtq_mock_add(m, &b, 1, NULL);
	glue_virtq_pop(q, &c);
	glue_virtq_push(q, c, 1);
	cr_assert(!glue_virtq_should_notify(q), "the driver said no interrupts");
}

Test(virtq_features, interrupts_with_event_idx)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;
	bool want[8];

	setup_size(16, GLUE_VIRTQ_F_EVENT_IDX);
	/* The driver wants an interrupt once the used index passes 4. */
	glue_virtq_mock_set_used_event(m, 4);
	/* even NO_INTERRUPT is ignored with EVENT_IDX */
	glue_virtq_mock_set_avail_flags(m, VRING_AVAIL_F_NO_INTERRUPT);
	for (int i = 0; i < 8; i++) {
		glue_virtq_mock_add(m, &b, 1, NULL);
		cr_assert_eq(glue_virtq_pop(q, &c), 1);
		glue_virtq_push(q, c, 1);
		want[i] = glue_virtq_should_notify(q);
		glue_virtq_mock_take_used(m, &(uint16_t){0}, &(uint32_t){0});
	}
	/* the first one always (nothing signalled yet), then used idx 4 -> 5 */
	for (int i = 0; i < 8; i++)
		cr_assert_eq(want[i], i == 0 || i == 4, "push %d (used idx %d)", i, i + 1);
	/* Several pushes before asking: one interrupt if they crossed it. */
	glue_virtq_mock_set_used_event(m, 9);
	for (int i = 0; i < 3; i++) {
		glue_virtq_mock_add(m, &b, 1, NULL);
		glue_virtq_pop(q, &c);
		glue_virtq_push(q, c, 1);
		glue_virtq_mock_take_used(m, &(uint16_t){0}, &(uint32_t){0});
	}
	cr_assert(glue_virtq_should_notify(q), "used idx 8 -> 11 crossed 9");
}

Test(virtq, kick_suppression)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;

	glue_virtq_kicks_off(q);
	cr_assert_eq(glue_virtq_mock_used_flags(m), VRING_USED_F_NO_NOTIFY);
	cr_assert(!glue_virtq_kicks_on(q), "nothing arrived");
	cr_assert_eq(glue_virtq_mock_used_flags(m), 0);
	glue_virtq_kicks_off(q);
	glue_virtq_mock_add(m, &b, 1, NULL); /* arrives while kicks are off */
	cr_assert(glue_virtq_kicks_on(q), "a chain came meanwhile");
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	glue_virtq_push(q, c, 0);
}

/* A device that only pops until empty on each kick, never touching the
 * kick switches: with EVENT_IDX the driver must still kick for every new
 * request (Linux stops kicking if avail_event is left behind). */
Test(virtq_features, a_pop_only_device_gets_every_kick)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;
	int done = 0;

	setup_size(16, GLUE_VIRTQ_F_EVENT_IDX);
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(glue_virtq_mock_add(m, &b, 1, NULL), 0);
		if (i % 3 == 1)
			cr_assert_eq(glue_virtq_mock_add(m, &b, 1, NULL), 0); /* two per kick */
		cr_assert(glue_virtq_mock_kick_wanted(m, true), "request %d: no kick", i);
		while (glue_virtq_pop(q, &c) == 1) {
			glue_virtq_push(q, c, 0);
			done++;
		}
		while (glue_virtq_mock_take_used(m, &(uint16_t){0}, &(uint32_t){0}) == 1)
			;
	}
	cr_assert_eq(done, 40 + 13);
}

Test(virtq_features, direct_then_indirect)
{
	const uint64_t table = 0x80000;
	struct vring_desc t[2] = {
		{.addr = DATA + 0x100, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 1},
		{.addr = DATA + 0x200, .len = 32, .flags = VRING_DESC_F_WRITE},
	};
	struct glue_virtq_chain *c;

	setup_size(16, GLUE_VIRTQ_F_INDIRECT);
	glue_mem_write(mem, table, t, sizeof(t));
	/* one readable direct descriptor, then a table (its WRITE flag means nothing) */
	glue_virtq_mock_set_desc(m, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	glue_virtq_mock_set_desc(m, 1, table, sizeof(t), VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE,
				 0);
	glue_virtq_mock_publish(m, 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1, "%s", glue_error_last());
	cr_assert_eq(c->nout, 2);
	cr_assert_eq(c->nin, 1);
	cr_assert_eq(c->out_len, 24);
	cr_assert_eq(c->in_len, 32);
	glue_virtq_push(q, c, 0);
	/* a writable direct descriptor, then a table with a readable one: refused */
	glue_virtq_mock_set_desc(m, 0, DATA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	glue_virtq_mock_publish(m, 0);
	expect_bad(0, "device-readable descriptor 0 after a writable one");
}

Test(virtq_features, kick_suppression_with_event_idx)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;

	setup_size(16, GLUE_VIRTQ_F_EVENT_IDX);
	for (int i = 0; i < 3; i++) {
		glue_virtq_mock_add(m, &b, 1, NULL);
		cr_assert_eq(glue_virtq_pop(q, &c), 1);
		glue_virtq_push(q, c, 0);
		glue_virtq_mock_take_used(m, &(uint16_t){0}, &(uint32_t){0});
	}
	glue_virtq_kicks_off(q);
	cr_assert_eq(glue_virtq_mock_used_flags(m), 0, "EVENT_IDX does not use the flag");
	cr_assert(!glue_virtq_kicks_on(q));
	cr_assert_eq(glue_virtq_mock_avail_event(m), 3, "kick me when entry 3 arrives");
}

/* A random driver: random descriptors, heads and indices. The queue must
 * never hand out memory outside the guest, and never crash (run it under
 * ASan). */
Test(virtq_features, random_rings_never_escape_guest_memory, .timeout = 60)
{
	const uint64_t addrs[] = {0,	   DATA,	 1 * MiB - 8, 2 * MiB - 8, GAP,
				  4 * MiB, 5 * MiB - 16, ~0ULL - 7,   QBASE};
	unsigned int seed = 12345;
	int results[4] = {0};

	setup_size(16, GLUE_VIRTQ_F_INDIRECT | GLUE_VIRTQ_F_EVENT_IDX);
	for (int iter = 0; iter < 20000; iter++) {
		struct glue_virtq_chain *c;
		int r;

		for (int k = 0; k < 3; k++) {
			uint16_t i = (uint16_t)(rand_r(&seed) % 16);
			uint64_t a = addrs[rand_r(&seed) % (sizeof(addrs) / sizeof(addrs[0]))] +
				     (uint64_t)(rand_r(&seed) % 64);
			uint32_t len = (uint32_t)(rand_r(&seed) % 3 == 0 ? rand_r(&seed)
									 : rand_r(&seed) % 64);

			glue_virtq_mock_set_desc(m, i, a, len, (uint16_t)(rand_r(&seed) % 8),
						 (uint16_t)(rand_r(&seed) % 20));
		}
		/* random indirect table contents too */
		for (int k = 0; k < 4; k++) {
			uint32_t v = (uint32_t)rand_r(&seed);

			glue_mem_write(mem, DATA + 4 * (uint64_t)(rand_r(&seed) % 16), &v, 4);
		}
		if (rand_r(&seed) % 50 == 0)
			glue_virtq_mock_set_avail_idx(m, (uint16_t)rand_r(&seed));
		else if (rand_r(&seed) % 5)
			glue_virtq_mock_publish(m, (uint16_t)(rand_r(&seed) % 18));
		r = glue_virtq_pop(q, &c);
		cr_assert(r == 1 || r == 0 || r == -EBADMSG || r == -EIO, "pop: %d", r);
		if (r == 1) {
			for (size_t s = 0; s < (size_t)c->nout + c->nin; s++) {
				struct glue_mem_region reg;
				bool inside = false;
				uint8_t *p = c->iov[s].iov_base;

				for (size_t g = 0; g < glue_mem_region_count(mem); g++) {
					glue_mem_region_get(mem, g, &reg);
					inside |= p >= (uint8_t *)reg.host &&
						  p + c->iov[s].iov_len <=
							  (uint8_t *)reg.host + reg.size;
				}
				cr_assert(inside, "iovec %zu outside guest memory", s);
			}
			glue_virtq_push(q, c, (uint32_t)rand_r(&seed));
		}
		results[r == 1 ? 0 : r == 0 ? 1 : r == -EBADMSG ? 2 : 3]++;
		glue_virtq_should_notify(q);
		if (r == -EIO) {
			struct glue_virtq_layout l;

			glue_virtq_reset(q);
			glue_virtq_mock_free(m);
			cr_assert_eq(glue_virtq_mock_new(&m, mem, QBASE, 16), 0);
			glue_virtq_mock_layout(m, &l);
			cr_assert_eq(glue_virtq_enable(
					     q, &l, GLUE_VIRTQ_F_INDIRECT | GLUE_VIRTQ_F_EVENT_IDX),
				     0);
		}
	}
	/* the run exercised every outcome */
	for (int i = 0; i < 4; i++)
		cr_assert_gt(results[i], 0, "outcome %d never happened", i);
}
