// SPDX-License-Identifier: MIT
/*
 * The common part of every virtio device: status, features, queue setup and
 * config space, written once for all devices and both transports.
 *
 * The lock orders register accesses from vCPU threads. Device threads never
 * take it: what they set (needs_reset, the config generation) is atomic, so
 * a device's reset() may wait for its threads while the lock is held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <glue/virtio.h>
#include <glue/virtq.h>

#include "core/err.h"

/* Always offered: modern only, and the ring features glue_virtq implements. */
#define COMMON_FEATURES                                                         \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

struct vqueue {
	struct glue_virtq *q;
	int kick; /* eventfd */
	uint16_t size;
	uint64_t addr[3];
	bool enabled;
};

struct glue_virtio_dev {
	struct glue_virtio_device dev;
	const struct glue_mem *mem;
	const struct glue_virtio_transport_ops *t;
	void *tctx;

	pthread_mutex_t lock;
	uint8_t status;
	bool active; /* activate() succeeded: reset() owed */
	uint64_t offered, driver;
	uint32_t queue_sel;
	struct vqueue *queues;

	atomic_bool broken; /* DEVICE_NEEDS_RESET */
	atomic_uint generation;
};

static void vqueue_defaults(struct glue_virtio_dev *v, struct vqueue *vq)
{
	vq->size = v->dev.queue_max_size;
	memset(vq->addr, 0, sizeof(vq->addr));
	vq->enabled = false;
}

int glue_virtio_dev_new(struct glue_virtio_dev **out, const struct glue_virtio_device *dev,
			const struct glue_mem *mem, const struct glue_virtio_transport_ops *t,
			void *tctx)
{
	struct glue_virtio_dev *v;
	int r;

	*out = NULL;
	if (!dev || !dev->ops || !dev->ops->activate || !dev->ops->reset || !t ||
	    !t->signal_queue || !t->signal_config) {
		r = glue_err(-EINVAL, "virtio device: missing operations");
		goto fail_dev;
	}
	if (dev->num_queues == 0 || dev->num_queues > GLUE_VIRTIO_MAX_QUEUES ||
	    dev->queue_max_size == 0 || dev->queue_max_size > GLUE_VIRTQ_MAX_SIZE ||
	    (dev->queue_max_size & (dev->queue_max_size - 1)) ||
	    dev->config_size > GLUE_VIRTIO_MAX_CONFIG) {
		r = glue_err(-EINVAL, "%s: bad queue count, queue size or config size",
			     dev->name ? dev->name : "virtio device");
		goto fail_dev;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		r = glue_err(-ENOMEM, "out of memory");
		goto fail_dev;
	}
	v->dev = *dev;
	if (!v->dev.name)
		v->dev.name = "virtio";
	v->mem = mem;
	v->t = t;
	v->tctx = tctx;
	v->offered = dev->features | COMMON_FEATURES;
	pthread_mutex_init(&v->lock, NULL);
	v->queues = calloc(dev->num_queues, sizeof(*v->queues));
	if (!v->queues) {
		glue_virtio_dev_free(v);
		return glue_err(-ENOMEM, "out of memory");
	}
	for (uint16_t i = 0; i < dev->num_queues; i++)
		v->queues[i].kick = -1;
	for (uint16_t i = 0; i < dev->num_queues; i++) {
		vqueue_defaults(v, &v->queues[i]);
		r = glue_virtq_new(&v->queues[i].q, mem, dev->queue_max_size);
		if (r == 0) {
			v->queues[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (v->queues[i].kick < 0)
				r = glue_err_sys(-errno, "%s: eventfd", v->dev.name);
		}
		if (r < 0) {
			glue_virtio_dev_free(v);
			return r;
		}
	}
	*out = v;
	return 0;
fail_dev:
	if (dev && dev->ops && dev->ops->free)
		dev->ops->free(dev->ctx);
	return r;
}

/* Back to the state after power-on. Called with the lock held. */
static void reset_locked(struct glue_virtio_dev *v)
{
	if (v->active)
		v->dev.ops->reset(v->dev.ctx);
	v->active = false;
	for (uint16_t i = 0; i < v->dev.num_queues; i++) {
		if (v->queues[i].q) /* NULL only when glue_virtio_dev_new ran out of memory */
			glue_virtq_reset(v->queues[i].q);
		vqueue_defaults(v, &v->queues[i]);
	}
	v->status = 0;
	v->driver = 0;
	v->queue_sel = 0;
	atomic_store(&v->broken, false);
}

void glue_virtio_dev_free(struct glue_virtio_dev *v)
{
	if (!v)
		return;
	pthread_mutex_lock(&v->lock);
	if (v->queues)
		reset_locked(v);
	pthread_mutex_unlock(&v->lock);
	if (v->dev.ops->free)
		v->dev.ops->free(v->dev.ctx);
	for (uint16_t i = 0; v->queues && i < v->dev.num_queues; i++) {
		glue_virtq_free(v->queues[i].q);
		if (v->queues[i].kick >= 0)
			close(v->queues[i].kick);
	}
	free(v->queues);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

const struct glue_virtio_device *glue_virtio_dev_device(const struct glue_virtio_dev *v)
{
	return &v->dev;
}

uint8_t glue_virtio_dev_get_status(struct glue_virtio_dev *v)
{
	uint8_t s;

	pthread_mutex_lock(&v->lock);
	s = v->status;
	pthread_mutex_unlock(&v->lock);
	if (atomic_load(&v->broken))
		s |= VIRTIO_CONFIG_S_NEEDS_RESET;
	return s;
}

static void set_broken(struct glue_virtio_dev *v)
{
	if (!atomic_exchange(&v->broken, true))
		v->t->signal_config(v->tctx);
}

/* The negotiated ring features, as glue_virtq takes them. */
static uint32_t ring_features(uint64_t f)
{
	return ((f & (1ULL << VIRTIO_RING_F_INDIRECT_DESC)) ? GLUE_VIRTQ_F_INDIRECT : 0) |
	       ((f & (1ULL << VIRTIO_RING_F_EVENT_IDX)) ? GLUE_VIRTQ_F_EVENT_IDX : 0);
}

static bool features_acceptable(const struct glue_virtio_dev *v)
{
	return !(v->driver & ~v->offered) && (v->driver & (1ULL << VIRTIO_F_VERSION_1));
}

void glue_virtio_dev_set_status(struct glue_virtio_dev *v, uint8_t status)
{
	uint8_t add;

	pthread_mutex_lock(&v->lock);
	if (status == 0) {
		reset_locked(v);
		goto out;
	}
	/* A driver may only add bits; DEVICE_NEEDS_RESET is the device's. */
	add = status & ~v->status & ~VIRTIO_CONFIG_S_NEEDS_RESET;
	if (add & VIRTIO_CONFIG_S_FEATURES_OK) {
		/* Not acceptable: FEATURES_OK stays clear, the driver reads it back. */
		if (!features_acceptable(v))
			add &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	v->status |= add;
	if ((add & VIRTIO_CONFIG_S_DRIVER_OK) && !v->active) {
		int r = -EINVAL;

		if (v->status & VIRTIO_CONFIG_S_FEATURES_OK)
			r = v->dev.ops->activate(v->dev.ctx, v);
		if (r == 0)
			v->active = true;
		else
			set_broken(v);
	}
out:
	pthread_mutex_unlock(&v->lock);
}

uint32_t glue_virtio_dev_get_device_features(struct glue_virtio_dev *v, uint32_t sel)
{
	return sel < 2 ? (uint32_t)(v->offered >> (32 * sel)) : 0;
}

void glue_virtio_dev_set_driver_features(struct glue_virtio_dev *v, uint32_t sel, uint32_t value)
{
	pthread_mutex_lock(&v->lock);
	if (sel < 2 && !(v->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		v->driver &= ~(0xffffffffULL << (32 * sel));
		v->driver |= (uint64_t)value << (32 * sel);
	}
	pthread_mutex_unlock(&v->lock);
}

uint32_t glue_virtio_dev_get_driver_features(struct glue_virtio_dev *v, uint32_t sel)
{
	uint32_t r;

	pthread_mutex_lock(&v->lock);
	r = sel < 2 ? (uint32_t)(v->driver >> (32 * sel)) : 0;
	pthread_mutex_unlock(&v->lock);
	return r;
}

void glue_virtio_dev_queue_select(struct glue_virtio_dev *v, uint32_t sel)
{
	pthread_mutex_lock(&v->lock);
	v->queue_sel = sel;
	pthread_mutex_unlock(&v->lock);
}

uint32_t glue_virtio_dev_queue_selected(struct glue_virtio_dev *v)
{
	uint32_t sel;

	pthread_mutex_lock(&v->lock);
	sel = v->queue_sel;
	pthread_mutex_unlock(&v->lock);
	return sel;
}

/* The selected queue, or NULL past the last. Called with the lock held. */
static struct vqueue *selected(struct glue_virtio_dev *v)
{
	return v->queue_sel < v->dev.num_queues ? &v->queues[v->queue_sel] : NULL;
}

/* Whether the driver may still change the selected queue's setup. */
static struct vqueue *selected_setup(struct glue_virtio_dev *v)
{
	struct vqueue *vq = selected(v);

	if (!vq || vq->enabled || (v->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return NULL;
	return vq;
}

uint16_t glue_virtio_dev_queue_max(struct glue_virtio_dev *v)
{
	uint16_t n;

	pthread_mutex_lock(&v->lock);
	n = selected(v) ? v->dev.queue_max_size : 0;
	pthread_mutex_unlock(&v->lock);
	return n;
}

uint16_t glue_virtio_dev_queue_get_size(struct glue_virtio_dev *v)
{
	struct vqueue *vq;
	uint16_t n;

	pthread_mutex_lock(&v->lock);
	vq = selected(v);
	n = vq ? vq->size : 0;
	pthread_mutex_unlock(&v->lock);
	return n;
}

void glue_virtio_dev_queue_set_size(struct glue_virtio_dev *v, uint16_t size)
{
	struct vqueue *vq;

	pthread_mutex_lock(&v->lock);
	/* Checked when the queue is enabled (glue_virtq_enable). */
	vq = selected_setup(v);
	if (vq)
		vq->size = size;
	pthread_mutex_unlock(&v->lock);
}

uint64_t glue_virtio_dev_queue_get_addr(struct glue_virtio_dev *v, enum glue_virtio_area area)
{
	struct vqueue *vq;
	uint64_t a = 0;

	pthread_mutex_lock(&v->lock);
	vq = selected(v);
	if (vq && (unsigned int)area < 3)
		a = vq->addr[area];
	pthread_mutex_unlock(&v->lock);
	return a;
}

void glue_virtio_dev_queue_set_addr(struct glue_virtio_dev *v, enum glue_virtio_area area,
				    uint64_t gpa)
{
	struct vqueue *vq;

	pthread_mutex_lock(&v->lock);
	vq = selected_setup(v);
	if (vq && (unsigned int)area < 3)
		vq->addr[area] = gpa;
	pthread_mutex_unlock(&v->lock);
}

bool glue_virtio_dev_queue_get_enable(struct glue_virtio_dev *v)
{
	struct vqueue *vq;
	bool e;

	pthread_mutex_lock(&v->lock);
	vq = selected(v);
	e = vq && vq->enabled;
	pthread_mutex_unlock(&v->lock);
	return e;
}

void glue_virtio_dev_queue_set_enable(struct glue_virtio_dev *v, bool enable)
{
	struct glue_virtq_layout l;
	struct vqueue *vq;

	pthread_mutex_lock(&v->lock);
	vq = selected_setup(v);
	/* Queues come after feature negotiation: the ring features are fixed then. */
	if (!vq || !enable || !(v->status & VIRTIO_CONFIG_S_FEATURES_OK))
		goto out;
	l.size = vq->size;
	l.desc = vq->addr[GLUE_VIRTIO_AREA_DESC];
	l.avail = vq->addr[GLUE_VIRTIO_AREA_DRIVER];
	l.used = vq->addr[GLUE_VIRTIO_AREA_DEVICE];
	if (glue_virtq_enable(vq->q, &l, ring_features(v->driver)) == 0)
		vq->enabled = true;
	else
		set_broken(v);
out:
	pthread_mutex_unlock(&v->lock);
}

void glue_virtio_dev_notify(struct glue_virtio_dev *v, uint32_t queue)
{
	uint64_t one = 1;

	/* What KVM's ioeventfd would have done with the same write. */
	if (queue < v->dev.num_queues && write(v->queues[queue].kick, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the kick pending anyway */
	}
}

int glue_virtio_dev_kick_fd(const struct glue_virtio_dev *v, uint16_t queue)
{
	return queue < v->dev.num_queues ? v->queues[queue].kick : -1;
}

static bool config_range(const struct glue_virtio_dev *v, uint32_t offset, uint32_t len)
{
	return len <= v->dev.config_size && offset <= v->dev.config_size - len;
}

void glue_virtio_dev_config_read(struct glue_virtio_dev *v, uint32_t offset, void *data,
				 uint32_t len)
{
	memset(data, 0, len);
	if (!config_range(v, offset, len) || !v->dev.ops->config_read)
		return;
	pthread_mutex_lock(&v->lock);
	v->dev.ops->config_read(v->dev.ctx, offset, data, len);
	pthread_mutex_unlock(&v->lock);
}

void glue_virtio_dev_config_write(struct glue_virtio_dev *v, uint32_t offset, const void *data,
				  uint32_t len)
{
	if (!config_range(v, offset, len) || !v->dev.ops->config_write)
		return;
	pthread_mutex_lock(&v->lock);
	v->dev.ops->config_write(v->dev.ctx, offset, data, len);
	pthread_mutex_unlock(&v->lock);
}

uint32_t glue_virtio_dev_config_generation(struct glue_virtio_dev *v)
{
	return atomic_load(&v->generation);
}

void glue_virtio_dev_pause(struct glue_virtio_dev *v)
{
	if (v->dev.ops->pause)
		v->dev.ops->pause(v->dev.ctx);
}

void glue_virtio_dev_resume(struct glue_virtio_dev *v)
{
	if (v->dev.ops->resume)
		v->dev.ops->resume(v->dev.ctx);
}

const struct glue_mem *glue_virtio_dev_mem(const struct glue_virtio_dev *v)
{
	return v->mem;
}

uint64_t glue_virtio_dev_features(const struct glue_virtio_dev *v)
{
	/* Fixed from FEATURES_OK until the reset that ends the device's use. */
	return v->driver;
}

struct glue_virtq *glue_virtio_dev_queue(struct glue_virtio_dev *v, uint16_t index)
{
	if (index >= v->dev.num_queues || !v->queues[index].enabled)
		return NULL;
	return v->queues[index].q;
}

void glue_virtio_dev_signal(struct glue_virtio_dev *v, uint16_t index)
{
	struct glue_virtq *q = glue_virtio_dev_queue(v, index);

	if (!q)
		return;
	if (glue_virtq_broken(q))
		set_broken(v);
	if (glue_virtq_should_notify(q))
		v->t->signal_queue(v->tctx, index);
}

void glue_virtio_dev_interrupt(struct glue_virtio_dev *v, uint16_t index)
{
	if (glue_virtio_dev_queue(v, index))
		v->t->signal_queue(v->tctx, index);
}

int glue_virtio_dev_irqfd(struct glue_virtio_dev *v, uint16_t index)
{
	if (!v->t->queue_irqfd || !glue_virtio_dev_queue(v, index))
		return -1;
	return v->t->queue_irqfd(v->tctx, index);
}

void glue_virtio_dev_irqfds_changed(struct glue_virtio_dev *v)
{
	pthread_mutex_lock(&v->lock);
	/* Under the lock: no reset can slip in between the check and the call. */
	if (v->active && v->dev.ops->irqfd_changed)
		v->dev.ops->irqfd_changed(v->dev.ctx);
	pthread_mutex_unlock(&v->lock);
}

void glue_virtio_dev_needs_reset(struct glue_virtio_dev *v)
{
	set_broken(v);
}

void glue_virtio_dev_config_changed(struct glue_virtio_dev *v)
{
	atomic_fetch_add(&v->generation, 1);
	v->t->signal_config(v->tctx);
}
