/* SPDX-License-Identifier: MIT */
/*
 * What a virtio driver does to bring a device up, for device unit tests:
 * status, features, queues at mock queues' layouts, DRIVER_OK.
 */
#ifndef GLUE_TEST_VIRTIO_DRIVER_H
#define GLUE_TEST_VIRTIO_DRIVER_H

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include <glue/virtio.h>
#include <glue/virtq_mock.h>

/* Queues 0..n-1 at mq[i] (NULL: left disabled), taking the offered features in features0. */
static inline void driver_bring_up_queues(struct glue_virtio_dev *v, struct glue_virtq_mock **mq,
					  unsigned int n, uint16_t size, uint32_t features0)
{
	const uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	glue_virtio_dev_set_status(v, s);
	glue_virtio_dev_set_driver_features(v, 0,
					    glue_virtio_dev_get_device_features(v, 0) & features0);
	glue_virtio_dev_set_driver_features(v, 1, 1); /* VERSION_1 */
	glue_virtio_dev_set_status(v, s | VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned int i = 0; i < n; i++) {
		struct glue_virtq_layout l;

		if (!mq[i])
			continue;
		glue_virtq_mock_layout(mq[i], &l);
		glue_virtio_dev_queue_select(v, i);
		glue_virtio_dev_queue_set_size(v, size);
		glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, l.desc);
		glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DRIVER, l.avail);
		glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DEVICE, l.used);
		glue_virtio_dev_queue_set_enable(v, true);
	}
	glue_virtio_dev_set_status(v, s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* Queue 0 only; every feature offered (all_features) or only VERSION_1. */
static inline void driver_bring_up(struct glue_virtio_dev *v, struct glue_virtq_mock *mq,
				   uint16_t size, bool all_features)
{
	driver_bring_up_queues(v, &mq, 1, size, all_features ? ~0u : 0);
}

/*
 * A device that records what the common part and a transport do to it, for
 * their tests: ctx is the struct fake_device.
 */
struct fake_device {
	int activated, resets, frees, irqfd_changes;
	int activate_ret;	      /* what activate returns */
	struct glue_virtio_dev *vdev; /* from the last activate */
	uint8_t config[16];
};

static inline void fake_device_config_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, ((struct fake_device *)ctx)->config + off, len);
}

static inline void fake_device_config_write(void *ctx, uint32_t off, const void *data, uint32_t len)
{
	memcpy(((struct fake_device *)ctx)->config + off, data, len);
}

static inline int fake_device_activate(void *ctx, struct glue_virtio_dev *vdev)
{
	struct fake_device *f = ctx;

	f->activated++;
	f->vdev = vdev;
	return f->activate_ret;
}

static inline void fake_device_reset(void *ctx)
{
	((struct fake_device *)ctx)->resets++;
}

static inline void fake_device_irqfd_changed(void *ctx)
{
	((struct fake_device *)ctx)->irqfd_changes++;
}

static inline void fake_device_free(void *ctx)
{
	((struct fake_device *)ctx)->frees++;
}

static const struct glue_virtio_device_ops fake_device_ops = {
	.config_read = fake_device_config_read,
	.config_write = fake_device_config_write,
	.activate = fake_device_activate,
	.reset = fake_device_reset,
	.irqfd_changed = fake_device_irqfd_changed,
	.free = fake_device_free,
};

/* f as a device of type id: nq queues of up to qmax entries, config_size bytes of config. */
static inline struct glue_virtio_device fake_device(struct fake_device *f, uint32_t id,
						    uint64_t features, uint16_t nq, uint16_t qmax,
						    uint32_t config_size)
{
	struct glue_virtio_device d = {
		.ops = &fake_device_ops,
		.ctx = f,
		.name = "fake",
		.device_id = id,
		.features = features,
		.num_queues = nq,
		.queue_max_size = qmax,
		.config_size = config_size,
	};

	return d;
}

/* Kicks counted on queue q's kick eventfd since the last look (taking them). */
static inline uint64_t driver_kicks(struct glue_virtio_dev *v, uint16_t q)
{
	uint64_t n = 0;

	cr_assert_geq(glue_virtio_dev_kick_fd(v, q), 0);
	if (read(glue_virtio_dev_kick_fd(v, q), &n, sizeof(n)) != sizeof(n))
		return 0; /* EAGAIN: none */
	return n;
}

#endif
