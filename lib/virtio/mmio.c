// SPDX-License-Identifier: MIT
/*
 * virtio-mmio version 2: register decoding over the common device part,
 * and the interrupt status register behind a level-triggered line.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_mmio.h>

#include <glue/bus.h>
#include <glue/irq.h>
#include <glue/virtio_mmio.h>

#include "core/err.h"

#define MAGIC 0x74726976 /* "virt" */
#define VERSION 2
#define VENDOR 0x45554c47 /* "GLUE" */

struct glue_virtio_mmio {
	struct glue_virtio_dev *vdev;
	struct glue_irq *irq;
	struct glue_bus *bus;
	uint64_t base;
	/* Driver-chosen selectors; atomic as vCPUs may race on them. */
	atomic_uint dev_features_sel, drv_features_sel;

	pthread_mutex_t isr_lock; /* device threads raise, vCPUs acknowledge */
	uint32_t isr;
	/* Queues whose QueueNotify writes the bus's fast path takes. */
	uint64_t ioevent[GLUE_VIRTIO_MAX_QUEUES / 64];
};

/* QueueNotify with value q signals queue q's kick fd without an exit, where
 * the bus can (KVM_IOEVENTFD with a data match); the register does the same
 * for writes that still come here. */
static void ioevents(struct glue_virtio_mmio *t, bool on)
{
	uint16_t n = glue_virtio_dev_device(t->vdev)->num_queues;

	for (uint16_t q = 0; q < n; q++) {
		uint64_t bit = 1ULL << (q % 64), *word = &t->ioevent[q / 64];
		int fd = glue_virtio_dev_kick_fd(t->vdev, q);

		if (on &&
		    glue_bus_ioevent_add(t->bus, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, fd) == 0)
			*word |= bit;
		if (!on && (*word & bit)) {
			glue_bus_ioevent_del(t->bus, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, fd);
			*word &= ~bit;
		}
	}
}

static void isr_raise(struct glue_virtio_mmio *t, uint32_t bits)
{
	pthread_mutex_lock(&t->isr_lock);
	t->isr |= bits;
	glue_irq_set(t->irq, 1);
	pthread_mutex_unlock(&t->isr_lock);
}

static void isr_ack(struct glue_virtio_mmio *t, uint32_t bits)
{
	pthread_mutex_lock(&t->isr_lock);
	t->isr &= ~bits;
	if (!t->isr)
		glue_irq_set(t->irq, 0);
	pthread_mutex_unlock(&t->isr_lock);
}

static void signal_queue(void *ctx, uint16_t queue)
{
	isr_raise(ctx, VIRTIO_MMIO_INT_VRING);
}

static void signal_config(void *ctx)
{
	isr_raise(ctx, VIRTIO_MMIO_INT_CONFIG);
}

static const struct glue_virtio_transport_ops transport_ops = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
};

static uint32_t reg_read(struct glue_virtio_mmio *t, uint64_t off)
{
	struct glue_virtio_dev *v = t->vdev;
	uint32_t r;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return glue_virtio_dev_device(v)->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return glue_virtio_dev_get_device_features(v, t->dev_features_sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return glue_virtio_dev_queue_max(v);
	case VIRTIO_MMIO_QUEUE_READY:
		return glue_virtio_dev_queue_get_enable(v);
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		pthread_mutex_lock(&t->isr_lock);
		r = t->isr;
		pthread_mutex_unlock(&t->isr_lock);
		return r;
	case VIRTIO_MMIO_STATUS:
		return glue_virtio_dev_get_status(v);
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return (uint32_t)(glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DESC) >>
				  (off & 4 ? 32 : 0));
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return (uint32_t)(glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DRIVER) >>
				  (off & 4 ? 32 : 0));
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return (uint32_t)(glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DEVICE) >>
				  (off & 4 ? 32 : 0));
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return glue_virtio_dev_config_generation(v);
	}
	return 0;
}

/* Half of a 64-bit address register: keep the other half. */
static void set_addr_half(struct glue_virtio_dev *v, enum glue_virtio_area area, uint64_t off,
			  uint32_t val)
{
	uint64_t a = glue_virtio_dev_queue_get_addr(v, area);

	if (off & 4)
		a = (a & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		a = (a & ~0xffffffffULL) | val;
	glue_virtio_dev_queue_set_addr(v, area, a);
}

static void reg_write(struct glue_virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct glue_virtio_dev *v = t->vdev;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		glue_virtio_dev_set_driver_features(v, t->drv_features_sel, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		glue_virtio_dev_queue_select(v, val);
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		/* Sizes past 16 bits cannot be right: make them fail at enable. */
		glue_virtio_dev_queue_set_size(v, val > 0xffff ? 0 : (uint16_t)val);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		glue_virtio_dev_queue_set_enable(v, val & 1);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		glue_virtio_dev_notify(v, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		isr_ack(t, val);
		break;
	case VIRTIO_MMIO_STATUS:
		if ((val & 0xff) == 0) {
			glue_virtio_dev_set_status(v, 0);
			atomic_store(&t->dev_features_sel, 0);
			atomic_store(&t->drv_features_sel, 0);
			isr_ack(t, ~0u);
		} else {
			glue_virtio_dev_set_status(v, (uint8_t)val);
		}
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_addr_half(v, GLUE_VIRTIO_AREA_DESC, off, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_addr_half(v, GLUE_VIRTIO_AREA_DRIVER, off, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_addr_half(v, GLUE_VIRTIO_AREA_DEVICE, off, val);
		break;
	}
}

static void mmio_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct glue_virtio_mmio *t = dev;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		glue_virtio_dev_config_read(t->vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data,
					    len);
		return;
	}
	memset(data, 0, len);
	if (len != 4 || (off & 3))
		return;
	v = reg_read(t, off);
	memcpy(data, &v, 4); /* x86: little-endian, as virtio-mmio is */
}

static void mmio_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct glue_virtio_mmio *t = dev;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		glue_virtio_dev_config_write(t->vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data,
					     len);
		return;
	}
	if (len != 4 || (off & 3))
		return;
	memcpy(&v, data, 4);
	reg_write(t, off, v);
}

static const struct glue_bus_ops mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

int glue_virtio_mmio_new(struct glue_virtio_mmio **out, const struct glue_virtio_device *dev,
			 const struct glue_mem *mem, struct glue_irq *irq)
{
	struct glue_virtio_mmio *t;
	int r;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		if (dev && dev->ops && dev->ops->free)
			dev->ops->free(dev->ctx);
		return glue_err(-ENOMEM, "out of memory");
	}
	if (dev && dev->config_size > GLUE_VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG) {
		if (dev->ops && dev->ops->free)
			dev->ops->free(dev->ctx);
		free(t);
		return glue_err(-EINVAL, "%s: config space too large for virtio-mmio", dev->name);
	}
	t->irq = irq;
	pthread_mutex_init(&t->isr_lock, NULL);
	r = glue_virtio_dev_new(&t->vdev, dev, mem, &transport_ops, t);
	if (r < 0) {
		pthread_mutex_destroy(&t->isr_lock);
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

void glue_virtio_mmio_free(struct glue_virtio_mmio *t)
{
	if (!t)
		return;
	/* No vCPU can reach the registers after this. */
	if (t->bus) {
		ioevents(t, false);
		glue_bus_unregister(t->bus, t->base);
	}
	glue_virtio_dev_free(t->vdev);
	pthread_mutex_destroy(&t->isr_lock);
	free(t);
}

int glue_virtio_mmio_attach(struct glue_virtio_mmio *t, struct glue_bus *mmio, uint64_t base)
{
	int r;

	if (t->bus)
		return glue_err(-EBUSY, "%s: already attached",
				glue_virtio_dev_device(t->vdev)->name);
	r = glue_bus_register(mmio, base, GLUE_VIRTIO_MMIO_SIZE, &mmio_ops, t,
			      glue_virtio_dev_device(t->vdev)->name);
	if (r < 0)
		return r;
	t->bus = mmio;
	t->base = base;
	ioevents(t, true);
	return 0;
}

struct glue_virtio_dev *glue_virtio_mmio_dev(struct glue_virtio_mmio *t)
{
	return t->vdev;
}

int glue_virtio_mmio_cmdline(char *buf, size_t size, uint64_t base, uint32_t gsi)
{
	return snprintf(buf, size, "virtio_mmio.device=%lluK@0x%llx:%u",
			(unsigned long long)(GLUE_VIRTIO_MMIO_SIZE >> 10), (unsigned long long)base,
			gsi);
}
