// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <glue/bus.h>
#include <glue/error.h>

/* A fake device: remembers the last access and answers reads with a
 * pattern derived from the offset. */
struct fake {
	uint64_t last_offset;
	uint32_t last_len;
	uint8_t last_data[8];
	atomic_int reads, writes;
	atomic_int inside; /* calls in progress */
	int delay_us;
};

static void fake_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct fake *f = dev;
	uint8_t *p = data;

	atomic_fetch_add(&f->inside, 1);
	if (f->delay_us)
		usleep(f->delay_us);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(0xA0 + offset + i);
	f->last_offset = offset;
	f->last_len = len;
	atomic_fetch_add(&f->reads, 1);
	atomic_fetch_sub(&f->inside, 1);
}

static void fake_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct fake *f = dev;

	atomic_fetch_add(&f->inside, 1);
	if (f->delay_us)
		usleep(f->delay_us);
	f->last_offset = offset;
	f->last_len = len;
	memcpy(f->last_data, data, len < 8 ? len : 8);
	atomic_fetch_add(&f->writes, 1);
	atomic_fetch_sub(&f->inside, 1);
}

static const struct glue_bus_ops fake_ops = {.read = fake_read, .write = fake_write};

Test(bus, dispatch_with_offset)
{
	struct glue_bus *bus;
	struct fake a = {0}, b = {0};
	uint8_t buf[4];

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x3f8, 8, &fake_ops, &a, "serial"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x60, 1, &fake_ops, &b, "kbd"), 0);

	cr_assert_eq(glue_bus_read(bus, 0x3fa, buf, 2), 0);
	cr_assert_eq(a.last_offset, 2);
	cr_assert_eq(a.last_len, 2);
	cr_assert_eq(buf[0], 0xA2);
	cr_assert_eq(buf[1], 0xA3);

	uint8_t v = 0x55;
	cr_assert_eq(glue_bus_write(bus, 0x60, &v, 1), 0);
	cr_assert_eq(b.writes, 1);
	cr_assert_eq(b.last_offset, 0);
	cr_assert_eq(b.last_data[0], 0x55);
	cr_assert_eq(a.writes, 0);
	glue_bus_free(bus);
}

Test(bus, unmapped_reads_ff)
{
	struct glue_bus *bus;
	struct fake a = {0};
	uint8_t buf[4] = {0};

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_bus_read(bus, 0x80, buf, 4), -ENOENT);
	cr_assert_eq(buf[0], 0xff);
	cr_assert_eq(buf[3], 0xff);
	cr_assert(strstr(glue_error_last(), "0x80"), "%s", glue_error_last());
	cr_assert_eq(glue_bus_register(bus, 0x100, 0x10, &fake_ops, &a, "dev"), 0);
	/* Just below and just above the range. */
	cr_assert_eq(glue_bus_read(bus, 0xff, buf, 1), -ENOENT);
	cr_assert_eq(glue_bus_write(bus, 0x110, buf, 1), -ENOENT);
	cr_assert_eq(a.reads + a.writes, 0);
	/* First and last byte. */
	cr_assert_eq(glue_bus_read(bus, 0x100, buf, 1), 0);
	cr_assert_eq(glue_bus_read(bus, 0x10f, buf, 1), 0);
	cr_assert_eq(a.last_offset, 0xf);
	glue_bus_free(bus);
}

Test(bus, overlap_refused_with_both_names)
{
	struct glue_bus *bus;
	struct fake a = {0};

	cr_assert_eq(glue_bus_new(&bus, "mmio"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x1000, 0x100, &fake_ops, &a, "first"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x2000, 0x100, &fake_ops, &a, "third"), 0);
	/* Overlaps the end of "first". */
	cr_assert_eq(glue_bus_register(bus, 0x10ff, 0x10, &fake_ops, &a, "second"), -EEXIST);
	cr_assert(strstr(glue_error_last(), "first") && strstr(glue_error_last(), "second"), "%s",
		  glue_error_last());
	/* Overlaps the start of "third". */
	cr_assert_eq(glue_bus_register(bus, 0x1f00, 0x101, &fake_ops, &a, "fourth"), -EEXIST);
	cr_assert(strstr(glue_error_last(), "third") && strstr(glue_error_last(), "fourth"), "%s",
		  glue_error_last());
	/* Covering both entirely. */
	cr_assert_eq(glue_bus_register(bus, 0, 0x10000, &fake_ops, &a, "big"), -EEXIST);
	/* The exact gap fits. */
	cr_assert_eq(glue_bus_register(bus, 0x1100, 0xf00, &fake_ops, &a, "gap"), 0);
	glue_bus_free(bus);
}

Test(bus, bad_lengths)
{
	struct glue_bus *bus;
	struct fake a = {0};
	uint8_t buf[2];

	cr_assert_eq(glue_bus_new(&bus, "mmio"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x1000, 0, &fake_ops, &a, "zero"), -EINVAL);
	cr_assert_eq(glue_bus_register(bus, UINT64_MAX - 1, 3, &fake_ops, &a, "wrap"), -EINVAL);
	/* The very top of the address space is fine. */
	cr_assert_eq(glue_bus_register(bus, UINT64_MAX - 1, 2, &fake_ops, &a, "top"), 0);
	cr_assert_eq(glue_bus_read(bus, UINT64_MAX - 1, buf, 2), 0);
	cr_assert_eq(glue_bus_read(bus, UINT64_MAX, buf, 2), -ENOENT);
	cr_assert_eq(glue_bus_read(bus, 0x10, buf, 0), -EINVAL);
	glue_bus_free(bus);
}

Test(bus, straddling_access_refused)
{
	struct glue_bus *bus;
	struct fake a = {0}, b = {0};
	uint8_t buf[4] = {0};

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x70, 2, &fake_ops, &a, "rtc"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x72, 2, &fake_ops, &b, "next"), 0);
	cr_assert_eq(glue_bus_read(bus, 0x71, buf, 2), -ENOENT);
	cr_assert_eq(buf[0], 0xff);
	cr_assert_eq(buf[1], 0xff);
	cr_assert(strstr(glue_error_last(), "rtc"), "%s", glue_error_last());
	cr_assert_eq(glue_bus_write(bus, 0x70, buf, 4), -ENOENT);
	cr_assert_eq(a.reads + a.writes + b.reads + b.writes, 0);
	cr_assert_eq(glue_bus_write(bus, 0x70, buf, 2), 0);
	glue_bus_free(bus);
}

Test(bus, unregister)
{
	struct glue_bus *bus;
	struct fake a = {0};
	uint8_t buf[1];

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_bus_register(bus, 0x500, 4, &fake_ops, &a, "dev"), 0);
	cr_assert_eq(glue_bus_unregister(bus, 0x501), -ENOENT);
	cr_assert_eq(glue_bus_unregister(bus, 0x500), 0);
	cr_assert_eq(glue_bus_read(bus, 0x500, buf, 1), -ENOENT);
	cr_assert_eq(glue_bus_unregister(bus, 0x500), -ENOENT);
	/* The range is free again. */
	cr_assert_eq(glue_bus_register(bus, 0x502, 4, &fake_ops, &a, "again"), 0);
	glue_bus_free(bus);
}

Test(bus, many_ranges_sorted)
{
	struct glue_bus *bus;
	struct fake devs[64] = {0};
	uint8_t buf[1];

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	/* Register out of order. */
	for (int i = 0; i < 64; i++) {
		int k = (i * 37) % 64;

		cr_assert_eq(glue_bus_register(bus, 0x1000 + k * 0x10, 8, &fake_ops, &devs[k], "d"),
			     0);
	}
	for (int k = 0; k < 64; k++) {
		cr_assert_eq(glue_bus_read(bus, 0x1000 + k * 0x10 + 7, buf, 1), 0);
		cr_assert_eq(devs[k].reads, 1, "device %d", k);
		cr_assert_eq(glue_bus_read(bus, 0x1000 + k * 0x10 + 8, buf, 1), -ENOENT);
	}
	glue_bus_free(bus);
}

struct hammer {
	struct glue_bus *bus;
	atomic_bool stop;
	atomic_long ok;
	int errors;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	uint8_t buf[2];

	while (!atomic_load(&h->stop)) {
		/* 0x10 is always there; 0x20 comes and goes. */
		if (glue_bus_read(h->bus, 0x10, buf, 2) != 0 || buf[0] != 0xA0 || buf[1] != 0xA1)
			h->errors++;
		int r = glue_bus_write(h->bus, 0x21, buf, 1);

		if (r != 0 && r != -ENOENT)
			h->errors++;
		atomic_fetch_add(&h->ok, 1);
	}
	return NULL;
}

Test(bus, concurrent_dispatch_and_unregister, .timeout = 60)
{
	struct hammer h = {0};
	struct fake fixed = {0};
	pthread_t th[3];

	cr_assert_eq(glue_bus_new(&h.bus, "pio"), 0);
	cr_assert_eq(glue_bus_register(h.bus, 0x10, 4, &fake_ops, &fixed, "fixed"), 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, hammer_thread, &h);

	for (int round = 0; round < 200; round++) {
		struct fake *f = calloc(1, sizeof(*f));

		f->delay_us = round % 3 ? 0 : 50;
		cr_assert_eq(glue_bus_register(h.bus, 0x20, 4, &fake_ops, f, "moving"), 0);
		usleep(100);
		cr_assert_eq(glue_bus_unregister(h.bus, 0x20), 0);
		/* Nobody may still be inside the device. */
		cr_assert_eq(atomic_load(&f->inside), 0, "round %d", round);
		memset(f, 0xee, sizeof(*f)); /* would corrupt a late caller */
		free(f);
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(h.errors, 0);
	cr_assert_gt(h.ok, 10, "the threads did run");
	glue_bus_free(h.bus);
}

/* A device whose write handler moves itself and registers a neighbour: the
 * bus must not deadlock on its own lock. */
struct mover {
	struct glue_bus *bus;
	struct fake other;
	int calls;
};

static void mover_write(void *dev, uint64_t offset, const void *data, uint32_t len);
static const struct glue_bus_ops mover_ops = {.write = mover_write};

static void mover_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct mover *m = dev;

	m->calls++;
	cr_assert_eq(glue_bus_unregister(m->bus, 0x100), 0);
	cr_assert_eq(glue_bus_register(m->bus, 0x200, 4, &mover_ops, m, "moved"), 0);
	cr_assert_eq(glue_bus_register(m->bus, 0x100, 4, &fake_ops, &m->other, "other"), 0);
}

Test(bus, callback_may_change_registrations, .timeout = 10)
{
	struct mover m = {0};
	uint8_t v = 1, buf[1];

	cr_assert_eq(glue_bus_new(&m.bus, "pio"), 0);
	cr_assert_eq(glue_bus_register(m.bus, 0x100, 4, &mover_ops, &m, "mover"), 0);
	cr_assert_eq(glue_bus_write(m.bus, 0x100, &v, 1), 0);
	cr_assert_eq(m.calls, 1);
	cr_assert_eq(glue_bus_read(m.bus, 0x101, buf, 1), 0);
	cr_assert_eq(m.other.reads, 1);
	cr_assert_eq(buf[0], 0xA1);
	/* A NULL read op reads as 0xff. */
	cr_assert_eq(glue_bus_read(m.bus, 0x200, buf, 1), 0);
	cr_assert_eq(buf[0], 0xff);
	glue_bus_free(m.bus);
}

static int last_fd = -1;

static int fake_ioevent(void *ctx, uint64_t addr, uint32_t len, int64_t dm, int fd, bool assign)
{
	cr_assert_eq(ctx, &last_fd);
	cr_assert_eq(addr, 0x1000);
	cr_assert_eq(len, 2);
	cr_assert_eq(dm, 7);
	last_fd = assign ? fd : -1;
	return assign ? 0 : -1;
}

Test(bus, write_notifications_are_passed_to_the_fast_path)
{
	struct glue_bus *bus;

	cr_assert_eq(glue_bus_new(&bus, "mmio"), 0);
	cr_assert_eq(glue_bus_ioevent_add(bus, 0x1000, 2, 7, 5), -ENOTSUP, "none set");
	cr_assert_not_null(strstr(glue_error_last(), "mmio"));
	glue_bus_ioevent_del(bus, 0x1000, 2, 7, 5); /* harmless */
	glue_bus_set_ioevent(bus, fake_ioevent, &last_fd);
	cr_assert_eq(glue_bus_ioevent_add(bus, 0x1000, 2, 7, 5), 0);
	cr_assert_eq(last_fd, 5);
	glue_bus_ioevent_del(bus, 0x1000, 2, 7, 5);
	cr_assert_eq(last_fd, -1);
	glue_bus_free(bus);
}
