// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <glue/config.h>

#if GLUE_HAVE_I8042
#include <glue/bus.h>
#include <glue/i8042.h>
#include <glue/irq.h>

#define DATA GLUE_I8042_DATA_PORT
#define CMD GLUE_I8042_CMD_PORT
#define STR_OBF 0x01
#define STR_SYS 0x04

struct env {
	struct glue_bus *bus;
	struct glue_irq *irq;
	struct glue_i8042 *kbc;
	int level;
	int rises; /* 0 -> 1 transitions: what an edge-triggered PIC sees */
	int resets;
};

static int set_level(void *ctx, int level)
{
	struct env *e = ctx;

	if (level && !e->level)
		e->rises++;
	e->level = level;
	return 0;
}

static void on_reset(void *ctx)
{
	struct env *e = ctx;

	e->resets++;
}

static void setup(struct env *e)
{
	memset(e, 0, sizeof(*e));
	cr_assert_eq(glue_bus_new(&e->bus, "pio"), 0);
	cr_assert_eq(glue_irq_new_fn(&e->irq, set_level, e), 0);
	cr_assert_eq(glue_i8042_new(&e->kbc, e->irq, on_reset, e), 0);
	cr_assert_eq(glue_i8042_attach(e->kbc, e->bus), 0);
}

static void teardown(struct env *e)
{
	glue_i8042_free(e->kbc);
	glue_irq_free(e->irq);
	glue_bus_free(e->bus);
}

static uint8_t rd(struct env *e, uint16_t port)
{
	uint8_t v;

	cr_assert_eq(glue_bus_read(e->bus, port, &v, 1), 0);
	return v;
}

static void wr(struct env *e, uint16_t port, uint8_t v)
{
	cr_assert_eq(glue_bus_write(e->bus, port, &v, 1), 0);
}

/* As Linux's i8042_command(): write, then read one reply when OBF. */
static uint8_t reply(struct env *e)
{
	cr_assert(rd(e, CMD) & STR_OBF, "a reply is waiting");
	return rd(e, DATA);
}

static void assert_empty(struct env *e)
{
	cr_assert_eq(rd(e, CMD) & STR_OBF, 0, "no more output");
}

Test(i8042, status_and_self_test)
{
	struct env e;
	uint8_t st;

	setup(&e);
	st = rd(&e, CMD);
	cr_assert_eq(st & STR_OBF, 0);
	cr_assert_eq(st & 0x02, 0, "IBF never set: writes complete at once");
	cr_assert(st & STR_SYS);
	wr(&e, CMD, 0xAA);
	cr_assert(rd(&e, CMD) & 0x08, "last write was a command");
	cr_assert_eq(reply(&e), 0x55);
	wr(&e, CMD, 0xAB);
	cr_assert_eq(reply(&e), 0x00);
	assert_empty(&e);
	teardown(&e);
}

Test(i8042, command_byte)
{
	struct env e;
	uint8_t ctr;

	setup(&e);
	wr(&e, CMD, 0x20);
	ctr = reply(&e);
	cr_assert(ctr & 0x01, "keyboard interrupt enabled by default");
	cr_assert(ctr & 0x40, "translation on by default");
	/* Linux: disable the keyboard and its interrupt. */
	wr(&e, CMD, 0x60);
	wr(&e, DATA, (ctr | 0x10) & ~0x01);
	wr(&e, CMD, 0x20);
	cr_assert_eq(reply(&e), (ctr | 0x10) & ~0x01);
	/* 0xAE / 0xAD and 0xA8 / 0xA7 flip the disable bits. */
	wr(&e, CMD, 0xAE);
	wr(&e, CMD, 0xA8);
	wr(&e, CMD, 0x20);
	cr_assert_eq(reply(&e) & 0x30, 0x00);
	wr(&e, CMD, 0xAD);
	wr(&e, CMD, 0xA7);
	wr(&e, CMD, 0x20);
	cr_assert_eq(reply(&e) & 0x30, 0x30);
	/* Clearing SYS shows in the status register. */
	wr(&e, CMD, 0x60);
	wr(&e, DATA, 0x00);
	cr_assert_eq(rd(&e, CMD) & STR_SYS, 0);
	teardown(&e);
}

Test(i8042, reset_line)
{
	struct env e;

	setup(&e);
	wr(&e, CMD, 0xFF); /* pulse nothing */
	cr_assert_eq(e.resets, 0);
	wr(&e, CMD, 0xFE);
	cr_assert_eq(e.resets, 1);
	/* Output port: bit 0 low resets; A20 toggling does not. */
	wr(&e, CMD, 0xD0);
	uint8_t outp = reply(&e);
	cr_assert_eq(outp & 0x03, 0x03);
	wr(&e, CMD, 0xD1);
	wr(&e, DATA, 0xDD); /* A20 off, reset high */
	cr_assert_eq(e.resets, 1);
	wr(&e, CMD, 0xD0);
	cr_assert_eq(reply(&e) & 0x03, 0x01);
	wr(&e, CMD, 0xD1);
	wr(&e, DATA, 0xDE);
	cr_assert_eq(e.resets, 2);
	teardown(&e);
}

Test(i8042, keyboard_commands)
{
	struct env e;

	setup(&e);
	wr(&e, DATA, 0xFF); /* reset */
	cr_assert_eq(reply(&e), 0xFA);
	cr_assert_eq(reply(&e), 0xAA);
	wr(&e, DATA, 0xF2); /* identify, translated */
	cr_assert_eq(reply(&e), 0xFA);
	cr_assert_eq(reply(&e), 0xAB);
	cr_assert_eq(reply(&e), 0x41);
	wr(&e, DATA, 0xED); /* LEDs + argument */
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0x07);
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0xF3); /* typematic + argument */
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0x20);
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0xF0); /* get scancode set */
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0x00);
	cr_assert_eq(reply(&e), 0xFA);
	cr_assert_eq(reply(&e), 2);
	wr(&e, DATA, 0xF5);
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0xF4);
	cr_assert_eq(reply(&e), 0xFA);
	wr(&e, DATA, 0xEE);
	cr_assert_eq(reply(&e), 0xEE);
	wr(&e, DATA, 0x42); /* not a command */
	cr_assert_eq(reply(&e), 0xFE);
	assert_empty(&e);
	teardown(&e);
}

Test(i8042, no_aux_port_detected_quickly)
{
	struct env e;

	setup(&e);
	/* Linux's AUX loop test: the reply must not carry AUXDATA... */
	wr(&e, CMD, 0xD3);
	wr(&e, DATA, 0x5A);
	cr_assert_eq(rd(&e, CMD) & 0x21, 0x01);
	/* ...and its fallback AUX test then reads an error code. */
	wr(&e, CMD, 0xA9);
	uint8_t r = reply(&e);
	cr_assert(r != 0x00 && r != 0xFA && r != 0xFF, "got 0x%02x", r);
	assert_empty(&e);
	teardown(&e);
}

Test(i8042, interrupt_per_byte)
{
	struct env e;

	setup(&e);
	cr_assert_eq(e.level, 0);
	wr(&e, DATA, 0xFF); /* two reply bytes */
	cr_assert_eq(e.level, 1);
	cr_assert_eq(e.rises, 1);
	cr_assert_eq(rd(&e, DATA), 0xFA);
	cr_assert_eq(e.rises, 2, "a new edge for the second byte");
	cr_assert_eq(e.level, 1);
	cr_assert_eq(rd(&e, DATA), 0xAA);
	cr_assert_eq(e.level, 0);
	/* Interrupt disabled in the command byte: no line, still OBF. */
	wr(&e, CMD, 0x60);
	wr(&e, DATA, 0x44);
	wr(&e, DATA, 0xF4);
	cr_assert_eq(e.level, 0);
	cr_assert(rd(&e, CMD) & STR_OBF);
	/* Re-enabling it with a byte waiting raises the line. */
	wr(&e, CMD, 0x60);
	cr_assert_eq(e.level, 0);
	wr(&e, DATA, 0x45);
	cr_assert_eq(e.level, 1);
	cr_assert_eq(rd(&e, DATA), 0xFA);
	cr_assert_eq(e.level, 0);
	teardown(&e);
}

Test(i8042, ctrl_alt_del)
{
	static const uint8_t want[] = {0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D};
	struct env e;

	setup(&e);
	cr_assert_eq(glue_i8042_send_ctrl_alt_del(e.kbc), 0);
	cr_assert_eq(e.level, 1);
	for (size_t i = 0; i < sizeof(want); i++) {
		cr_assert_eq(e.level, 1, "byte %zu", i);
		cr_assert_eq(reply(&e), want[i], "byte %zu", i);
	}
	cr_assert_eq(e.level, 0);
	cr_assert_eq(e.rises, 8);
	assert_empty(&e);
	teardown(&e);
}

Test(i8042, ctrl_alt_del_untranslated_and_held_while_disabled)
{
	static const uint8_t want[] = {0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0,
				       0x71, 0xF0, 0x11, 0xF0, 0x14};
	struct env e;

	setup(&e);
	/* Translation off, keyboard interface disabled. */
	wr(&e, CMD, 0x60);
	wr(&e, DATA, 0x15);
	cr_assert_eq(glue_i8042_send_ctrl_alt_del(e.kbc), 0);
	assert_empty(&e);
	cr_assert_eq(e.level, 0);
	wr(&e, CMD, 0xAE); /* enable: the bytes come out */
	cr_assert_eq(e.level, 1);
	for (size_t i = 0; i < sizeof(want); i++)
		cr_assert_eq(reply(&e), want[i], "byte %zu", i);
	teardown(&e);
}

Test(i8042, buffer_full)
{
	struct env e;
	int ok = 0;

	setup(&e);
	for (int i = 0; i < 10; i++)
		if (glue_i8042_send_ctrl_alt_del(e.kbc) == 0)
			ok++;
	cr_assert_geq(ok, 2);
	cr_assert_lt(ok, 10, "the buffer is bounded");
	teardown(&e);
}

Test(i8042, free_detaches)
{
	struct glue_bus *bus;
	struct glue_i8042 *kbc;
	uint8_t v;

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_i8042_new(&kbc, NULL, NULL, NULL), 0);
	cr_assert_eq(glue_i8042_attach(kbc, bus), 0);
	cr_assert_eq(glue_i8042_attach(kbc, bus), -EBUSY);
	v = 0xFE;
	cr_assert_eq(glue_bus_write(bus, CMD, &v, 1), 0); /* no callback: fine */
	glue_i8042_free(kbc);
	cr_assert_eq(glue_bus_read(bus, DATA, &v, 1), -ENOENT);
	cr_assert_eq(glue_bus_read(bus, CMD, &v, 1), -ENOENT);
	glue_bus_free(bus);
}
#endif
