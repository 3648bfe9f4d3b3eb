/* SPDX-License-Identifier: MIT */
/*
 * What a virtio driver does to bring a device up, for device unit tests:
 * status, features (everything offered, or the given words), queue 0 at a
 * mock queue's layout, DRIVER_OK.
 */
#ifndef GLUE_TEST_VIRTIO_DRIVER_H
#define GLUE_TEST_VIRTIO_DRIVER_H

#include <criterion/criterion.h>
#include <linux/virtio_config.h>

#include <glue/virtio.h>
#include <glue/virtq_mock.h>

/* Take every feature offered (all_features) or only VERSION_1. */
static inline void driver_bring_up(struct glue_virtio_dev *v, struct glue_virtq_mock *mq,
				   uint16_t size, bool all_features)
{
	const uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	struct glue_virtq_layout l;

	glue_virtio_dev_set_status(v, s);
	glue_virtio_dev_set_driver_features(
		v, 0, all_features ? glue_virtio_dev_get_device_features(v, 0) : 0);
	glue_virtio_dev_set_driver_features(v, 1, 1); /* VERSION_1 */
	glue_virtio_dev_set_status(v, s | VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_FEATURES_OK);
	glue_virtq_mock_layout(mq, &l);
	glue_virtio_dev_queue_select(v, 0);
	glue_virtio_dev_queue_set_size(v, size);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, l.desc);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DRIVER, l.avail);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DEVICE, l.used);
	glue_virtio_dev_queue_set_enable(v, true);
	glue_virtio_dev_set_status(v, s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

#endif
