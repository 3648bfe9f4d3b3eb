// SPDX-License-Identifier: MIT
/*
 * ACPI power management registers (hardware-reduced): sleep control and
 * status, and the Generic Event Device's event register. See
 * <glue/acpi_pm.h>.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <glue/acpi_pm.h>
#include <glue/bus.h>
#include <glue/irq.h>
#include "core/err.h"

#define REG_SLEEP_CONTROL 0
#define REG_SLEEP_STATUS 1
#define REG_GED_EVENTS 2

#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x7
#define SLP_EN (1U << 5)

struct glue_acpi_pm {
	struct glue_irq *irq;
	glue_acpi_pm_sleep_fn sleep;
	void *ctx;
	struct glue_bus *bus;
	uint64_t base;
	pthread_mutex_t lock;
	uint8_t events; /* pending GED events */
};

static void pm_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct glue_acpi_pm *d = opaque;
	uint8_t v = 0;

	if (offset == REG_GED_EVENTS) {
		pthread_mutex_lock(&d->lock);
		v = d->events;
		d->events = 0;
		pthread_mutex_unlock(&d->lock);
	}
	/* Wider reads see the byte, then zeros: nothing else is there. */
	memset(data, 0, len);
	if (len)
		*(uint8_t *)data = v;
}

static void pm_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct glue_acpi_pm *d = opaque;
	uint8_t v = len ? *(const uint8_t *)data : 0;

	if (offset != REG_SLEEP_CONTROL || !(v & SLP_EN))
		return;
	if (((v >> SLP_TYP_SHIFT) & SLP_TYP_MASK) == GLUE_ACPI_PM_SLP_TYP_S5)
		d->sleep(d->ctx, 5);
}

static const struct glue_bus_ops pm_ops = {
	.read = pm_read,
	.write = pm_write,
};

int glue_acpi_pm_new(struct glue_acpi_pm **out, struct glue_irq *irq, glue_acpi_pm_sleep_fn sleep,
		     void *ctx)
{
	struct glue_acpi_pm *d;

	if (!out)
		return glue_err(-EINVAL, "ACPI PM: no output pointer");
	*out = NULL;
	if (!sleep)
		return glue_err(-EINVAL, "ACPI PM: no sleep function");
	d = calloc(1, sizeof(*d));
	if (!d)
		return glue_err(-ENOMEM, "ACPI PM: out of memory");
	d->irq = irq;
	d->sleep = sleep;
	d->ctx = ctx;
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	return 0;
}

void glue_acpi_pm_free(struct glue_acpi_pm *dev)
{
	if (!dev)
		return;
	if (dev->bus)
		glue_bus_unregister(dev->bus, dev->base);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

int glue_acpi_pm_attach(struct glue_acpi_pm *dev, struct glue_bus *pio, uint64_t base)
{
	int r;

	if (!dev || !pio)
		return glue_err(-EINVAL, "ACPI PM: attach needs a device and a bus");
	if (dev->bus)
		return glue_err(-EBUSY, "ACPI PM: already attached at 0x%llx",
				(unsigned long long)dev->base);
	r = glue_bus_register(pio, base, GLUE_ACPI_PM_PORTS, &pm_ops, dev, "acpi-pm");
	if (r < 0)
		return r;
	dev->bus = pio;
	dev->base = base;
	return 0;
}

int glue_acpi_pm_press_power(struct glue_acpi_pm *dev)
{
	if (!dev->irq)
		return glue_err(-ENODEV, "ACPI PM: no interrupt line for the power button");
	pthread_mutex_lock(&dev->lock);
	dev->events |= GLUE_ACPI_PM_EVENT_POWER_BUTTON;
	pthread_mutex_unlock(&dev->lock);
	return glue_irq_pulse(dev->irq);
}

bool glue_acpi_pm_power_pending(struct glue_acpi_pm *dev)
{
	bool pending;

	pthread_mutex_lock(&dev->lock);
	pending = dev->events & GLUE_ACPI_PM_EVENT_POWER_BUTTON;
	pthread_mutex_unlock(&dev->lock);
	return pending;
}
