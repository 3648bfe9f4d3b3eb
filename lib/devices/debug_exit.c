// SPDX-License-Identifier: MIT
/*
 * Debug-exit port. Occupies 4 ports so that 16- and 32-bit writes at the
 * base are accepted by the bus; only writes that start at the base count.
 */
#include <stdlib.h>
#include <string.h>

#include <glue/bus.h>
#include <glue/debug_exit.h>
#include "core/err.h"

#define DEBUG_EXIT_PORTS 4

struct glue_debug_exit {
	glue_debug_exit_fn fn;
	void *ctx;
	struct glue_bus *bus;
	uint64_t port;
};

static void debug_exit_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0xff, len);
}

static void debug_exit_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct glue_debug_exit *d = dev;
	const uint8_t *p = data;
	uint32_t value = 0;

	if (offset != 0 || len > 4)
		return;
	for (uint32_t i = 0; i < len; i++)
		value |= (uint32_t)p[i] << (8 * i); /* port data is little-endian */
	if (d->fn)
		d->fn(d->ctx, value);
}

static const struct glue_bus_ops debug_exit_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

int glue_debug_exit_new(struct glue_debug_exit **out, glue_debug_exit_fn fn, void *ctx)
{
	struct glue_debug_exit *d;

	if (!out)
		return glue_err(-EINVAL, "debug-exit: no output pointer");
	*out = NULL;
	if (!fn)
		return glue_err(-EINVAL, "debug-exit: no exit function");
	d = calloc(1, sizeof(*d));
	if (!d)
		return glue_err(-ENOMEM, "debug-exit: out of memory");
	d->fn = fn;
	d->ctx = ctx;
	*out = d;
	return 0;
}

void glue_debug_exit_free(struct glue_debug_exit *dev)
{
	if (!dev)
		return;
	if (dev->bus)
		glue_bus_unregister(dev->bus, dev->port);
	free(dev);
}

int glue_debug_exit_attach(struct glue_debug_exit *dev, struct glue_bus *pio, uint64_t port)
{
	int ret;

	if (!dev || !pio)
		return glue_err(-EINVAL, "debug-exit: attach needs a device and a bus");
	if (dev->bus)
		return glue_err(-EBUSY, "debug-exit: already attached at 0x%llx",
				(unsigned long long)dev->port);
	ret = glue_bus_register(pio, port, DEBUG_EXIT_PORTS, &debug_exit_ops, dev, "debug-exit");
	if (ret)
		return ret;
	dev->bus = pio;
	dev->port = port;
	return 0;
}
