// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>

#include <glue/config.h>

#if GLUE_HAVE_DEBUG_EXIT
#include <glue/bus.h>
#include <glue/debug_exit.h>

struct exits {
	uint32_t values[8];
	int n;
};

static void on_exit_value(void *ctx, uint32_t value)
{
	struct exits *x = ctx;

	if (x->n < 8)
		x->values[x->n++] = value;
}

Test(debug_exit, writes_of_1_to_4_bytes)
{
	struct glue_bus *bus;
	struct glue_debug_exit *d;
	struct exits x = {0};
	uint8_t b = 0x07;
	uint16_t w = 0x1234;
	uint32_t l = 0xdeadbeef;
	uint8_t r[4];

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_debug_exit_new(&d, on_exit_value, &x), 0);
	cr_assert_eq(glue_debug_exit_attach(d, bus, GLUE_DEBUG_EXIT_PORT), 0);
	cr_assert_eq(glue_bus_write(bus, GLUE_DEBUG_EXIT_PORT, &b, 1), 0);
	cr_assert_eq(glue_bus_write(bus, GLUE_DEBUG_EXIT_PORT, &w, 2), 0);
	cr_assert_eq(glue_bus_write(bus, GLUE_DEBUG_EXIT_PORT, &l, 4), 0);
	cr_assert_eq(x.n, 3);
	cr_assert_eq(x.values[0], 0x07);
	cr_assert_eq(x.values[1], 0x1234);
	cr_assert_eq(x.values[2], 0xdeadbeef);
	/* Writes not at the port itself do not count. */
	cr_assert_eq(glue_bus_write(bus, GLUE_DEBUG_EXIT_PORT + 1, &b, 1), 0);
	cr_assert_eq(x.n, 3);
	cr_assert_eq(glue_bus_read(bus, GLUE_DEBUG_EXIT_PORT, r, 4), 0);
	cr_assert_eq(r[0], 0xff);
	cr_assert_eq(r[3], 0xff);
	glue_debug_exit_free(d);
	cr_assert_eq(glue_bus_write(bus, GLUE_DEBUG_EXIT_PORT, &b, 1), -ENOENT);
	glue_bus_free(bus);
}

Test(debug_exit, errors)
{
	struct glue_bus *bus;
	struct glue_debug_exit *d;
	struct exits x = {0};

	cr_assert_eq(glue_debug_exit_new(&d, NULL, NULL), -EINVAL);
	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_debug_exit_new(&d, on_exit_value, &x), 0);
	cr_assert_eq(glue_debug_exit_attach(d, bus, 0xf4), 0);
	cr_assert_eq(glue_debug_exit_attach(d, bus, 0xf4), -EBUSY);
	glue_debug_exit_free(d);
	glue_debug_exit_free(NULL);
	glue_bus_free(bus);
}
#endif
