// SPDX-License-Identifier: MIT
/*
 * The common part of virtio devices, driven as a driver would (and as a
 * hostile one would), with a recording fake device and transport: status
 * rules, feature negotiation, queue setup, config bounds, interrupts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/virtio.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#include "virtio_driver.h"

#define MiB (1024ULL * 1024)
#define QBASE 0x10000ULL
#define DATA 0x40000ULL
#define DEV_FEATURE (1ULL << 5)

struct fake {
	struct fake_device d;
	int signals[4], config_signals;
};

static struct fake f;
static struct glue_mem *mem;
static struct glue_virtio_dev *v;
static struct glue_virtq_mock *mq;

static void t_signal_queue(void *tctx, uint16_t q)
{
	f.signals[q]++;
}

static void t_signal_config(void *tctx)
{
	f.config_signals++;
}

static const struct glue_virtio_transport_ops t_ops = {
	.signal_queue = t_signal_queue,
	.signal_config = t_signal_config,
};

static struct glue_virtio_device fake_dev(void)
{
	return fake_device(&f.d, 4, DEV_FEATURE, 2, 16, 8);
}

static void setup(void)
{
	struct glue_virtio_device d = fake_dev();

	memset(&f, 0, sizeof(f));
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 2 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 16), 0);
}

static void teardown(void)
{
	glue_virtio_dev_free(v);
	glue_virtq_mock_free(mq);
	glue_mem_free(mem);
	v = NULL;
	mq = NULL;
	mem = NULL;
}

TestSuite(virtio_dev, .init = setup, .fini = teardown);

static uint64_t offered(void)
{
	return glue_virtio_dev_get_device_features(v, 0) |
	       (uint64_t)glue_virtio_dev_get_device_features(v, 1) << 32;
}

static void negotiate(uint64_t features)
{
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	glue_virtio_dev_set_driver_features(v, 0, (uint32_t)features);
	glue_virtio_dev_set_driver_features(v, 1, (uint32_t)(features >> 32));
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK);
}

/* Set queue sel up at the mock's layout (with size). */
static void setup_queue(uint32_t sel, uint16_t size)
{
	struct glue_virtq_layout l;

	glue_virtq_mock_layout(mq, &l);
	glue_virtio_dev_queue_select(v, sel);
	glue_virtio_dev_queue_set_size(v, size);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, l.desc);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DRIVER, l.avail);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DEVICE, l.used);
	glue_virtio_dev_queue_set_enable(v, true);
}

static void driver_ok(void)
{
	glue_virtio_dev_set_status(v, glue_virtio_dev_get_status(v) | VIRTIO_CONFIG_S_DRIVER_OK);
}

static bool needs_reset(void)
{
	return glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

Test(virtio_dev, offers_version_1_ring_features_and_its_own)
{
	uint64_t o = offered();

	cr_assert(o & (1ULL << VIRTIO_F_VERSION_1));
	cr_assert(o & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	cr_assert(o & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	cr_assert(o & DEV_FEATURE);
	cr_assert_eq(glue_virtio_dev_get_device_features(v, 2), 0);
	cr_assert_eq(glue_virtio_dev_get_device_features(v, 0xffffffff), 0);
}

Test(virtio_dev, features_ok_only_for_an_acceptable_choice)
{
	/* without VERSION_1 (a legacy driver): refused */
	negotiate(DEV_FEATURE);
	cr_assert_not(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* a bit that was not offered: refused */
	glue_virtio_dev_set_status(v, 0);
	negotiate((1ULL << VIRTIO_F_VERSION_1) | (1ULL << 7));
	cr_assert_not(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* a subset of the offer: taken, and fixed from then on */
	glue_virtio_dev_set_status(v, 0);
	negotiate((1ULL << VIRTIO_F_VERSION_1) | DEV_FEATURE);
	cr_assert(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_FEATURES_OK);
	glue_virtio_dev_set_driver_features(v, 0, 0);
	cr_assert_eq(glue_virtio_dev_get_driver_features(v, 0), DEV_FEATURE);
	cr_assert_eq(glue_virtio_dev_features(v), (1ULL << VIRTIO_F_VERSION_1) | DEV_FEATURE);
	/* words past the second hold nothing */
	cr_assert_eq(glue_virtio_dev_get_driver_features(v, 2), 0);
}

Test(virtio_dev, status_bits_are_only_added_and_zero_resets)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cr_assert_eq(glue_virtio_dev_get_status(v),
		     VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK,
		     "a driver cannot clear bits");
	/* nor set the device's own NEEDS_RESET */
	glue_virtio_dev_set_status(v, 0xff & ~VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_not(needs_reset());
	setup_queue(0, 16);
	driver_ok();
	cr_assert_eq(f.d.activated, 1);
	cr_assert_not_null(glue_virtio_dev_queue(v, 0));
	cr_assert_null(glue_virtio_dev_queue(v, 1), "never enabled");
	cr_assert_null(glue_virtio_dev_queue(v, 2));
	driver_ok(); /* again: not activated twice */
	cr_assert_eq(f.d.activated, 1);

	glue_virtio_dev_set_status(v, 0);
	cr_assert_eq(f.d.resets, 1);
	cr_assert_eq(glue_virtio_dev_get_status(v), 0);
	cr_assert_eq(glue_virtio_dev_get_driver_features(v, 0), 0);
	glue_virtio_dev_queue_select(v, 0);
	cr_assert_not(glue_virtio_dev_queue_get_enable(v));
	cr_assert_eq(glue_virtio_dev_queue_get_size(v), 16);
	cr_assert_eq(glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DESC), 0);
	/* a reset of a device never activated does not call reset() */
	glue_virtio_dev_set_status(v, 0);
	cr_assert_eq(f.d.resets, 1);
}

Test(virtio_dev, driver_ok_without_features_ok_needs_reset)
{
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(f.d.activated, 0);
	cr_assert(needs_reset());
	cr_assert_eq(f.config_signals, 1);
	glue_virtio_dev_set_status(v, 0);
	cr_assert_not(needs_reset(), "a reset clears it");
}

Test(virtio_dev, a_failed_activate_needs_reset)
{
	f.d.activate_ret = -EIO;
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 16);
	driver_ok();
	cr_assert_eq(f.d.activated, 1);
	cr_assert(needs_reset());
	glue_virtio_dev_set_status(v, 0);
	cr_assert_eq(f.d.resets, 0, "never active: nothing to reset");
}

Test(virtio_dev, bad_queue_layouts_need_reset)
{
	const uint16_t sizes[] = {0, 12, 32, 0xffff};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		glue_virtio_dev_set_status(v, 0);
		negotiate(1ULL << VIRTIO_F_VERSION_1);
		setup_queue(0, sizes[i]);
		cr_assert(needs_reset(), "size %u taken", sizes[i]);
		cr_assert_not(glue_virtio_dev_queue_get_enable(v));
	}
	glue_virtio_dev_set_status(v, 0);
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	glue_virtio_dev_queue_select(v, 1);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, 64 * MiB); /* no RAM there */
	glue_virtio_dev_queue_set_enable(v, true);
	cr_assert(needs_reset());
	cr_assert_not(glue_virtio_dev_queue_get_enable(v));
}

Test(virtio_dev, queue_setup_is_fixed_once_enabled)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 8);
	cr_assert(glue_virtio_dev_queue_get_enable(v));
	glue_virtio_dev_queue_set_size(v, 4);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, 0);
	glue_virtio_dev_queue_set_enable(v, false); /* a queue is disabled by a reset only */
	cr_assert_eq(glue_virtio_dev_queue_get_size(v), 8);
	cr_assert_neq(glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DESC), 0);
	cr_assert(glue_virtio_dev_queue_get_enable(v));
	driver_ok();
	/* after DRIVER_OK, another queue cannot be set up either */
	glue_virtio_dev_queue_select(v, 1);
	glue_virtio_dev_queue_set_size(v, 4);
	cr_assert_eq(glue_virtio_dev_queue_get_size(v), 16);
}

Test(virtio_dev, a_selector_past_the_last_queue_is_a_missing_queue)
{
	glue_virtio_dev_queue_select(v, 2);
	cr_assert_eq(glue_virtio_dev_queue_selected(v), 2);
	cr_assert_eq(glue_virtio_dev_queue_max(v), 0);
	cr_assert_eq(glue_virtio_dev_queue_get_size(v), 0);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, QBASE);
	cr_assert_eq(glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DESC), 0);
	glue_virtio_dev_queue_set_enable(v, true);
	cr_assert_not(glue_virtio_dev_queue_get_enable(v));
	cr_assert_not(needs_reset());
	glue_virtio_dev_queue_select(v, 0xffffffff);
	cr_assert_eq(glue_virtio_dev_queue_max(v), 0);
	glue_virtio_dev_queue_select(v, 1);
	cr_assert_eq(glue_virtio_dev_queue_max(v), 16);
}

Test(virtio_dev, config_space_is_bounds_checked)
{
	uint8_t buf[8];
	uint32_t word = 0x11223344;

	memcpy(f.d.config, "ABCDEFGH", 8);
	glue_virtio_dev_config_read(v, 4, buf, 4);
	cr_assert_arr_eq(buf, "EFGH", 4);
	memset(buf, 0x55, sizeof(buf));
	glue_virtio_dev_config_read(v, 6, buf, 4); /* runs past the end */
	cr_assert_arr_eq(buf, "\0\0\0\0", 4);
	glue_virtio_dev_config_read(v, 0xfffffffe, buf, 4); /* offset + len wraps */
	cr_assert_arr_eq(buf, "\0\0\0\0", 4);
	glue_virtio_dev_config_write(v, 0xfffffffc, &word, 8);
	glue_virtio_dev_config_write(v, 6, &word, 4);
	cr_assert_arr_eq(f.d.config, "ABCDEFGH", 8, "no write landed");
	glue_virtio_dev_config_write(v, 0, &word, 4);
	cr_assert_eq(memcmp(f.d.config, &word, 4), 0);
}

Test(virtio_dev, config_changes_bump_the_generation_and_interrupt)
{
	uint32_t g = glue_virtio_dev_config_generation(v);

	glue_virtio_dev_config_changed(v);
	cr_assert_neq(glue_virtio_dev_config_generation(v), g);
	cr_assert_eq(f.config_signals, 1);
}

Test(virtio_dev, kicks_are_counted_on_each_queues_eventfd)
{
	cr_assert_neq(glue_virtio_dev_kick_fd(v, 0), glue_virtio_dev_kick_fd(v, 1));
	cr_assert_eq(glue_virtio_dev_kick_fd(v, 2), -1, "no such queue");
	cr_assert_eq(driver_kicks(v, 0), 0);
	/* Counted in any state: the device looks at them while active, and
	 * serves its queues once at activation anyway. */
	glue_virtio_dev_notify(v, 0);
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 16);
	driver_ok();
	glue_virtio_dev_notify(v, 0);
	glue_virtio_dev_notify(v, 1);	    /* not enabled */
	glue_virtio_dev_notify(v, 2);	    /* no such queue */
	glue_virtio_dev_notify(v, 0x10000); /* not even 16 bits */
	cr_assert_eq(driver_kicks(v, 0), 2);
	cr_assert_eq(driver_kicks(v, 0), 0, "taken");
	cr_assert_eq(driver_kicks(v, 1), 1);
	cr_assert_eq(f.d.activated, 1);
}

Test(virtio_dev, signals_follow_the_drivers_wishes)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;
	struct glue_virtq *q;
	uint16_t head;

	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 16);
	driver_ok();
	q = glue_virtio_dev_queue(v, 0);
	cr_assert_not_null(q);

	cr_assert_eq(glue_virtq_mock_add(mq, &b, 1, &head), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	glue_virtq_push(q, c, 8);
	glue_virtio_dev_signal(v, 0);
	cr_assert_eq(f.signals[0], 1);

	glue_virtq_mock_set_avail_flags(mq, VRING_AVAIL_F_NO_INTERRUPT);
	cr_assert_eq(glue_virtq_mock_add(mq, &b, 1, &head), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	glue_virtq_push(q, c, 8);
	glue_virtio_dev_signal(v, 0);
	cr_assert_eq(f.signals[0], 1, "the driver asked for no interrupt");
	glue_virtio_dev_signal(v, 1); /* not enabled: nothing */
	cr_assert_eq(f.signals[1], 0);
}

Test(virtio_dev, a_broken_ring_sets_needs_reset_once)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 16);
	driver_ok();
	/* 40 new entries in a queue of 16 cannot be right */
	glue_virtq_mock_set_avail_idx(mq, 40);
	struct glue_virtq_chain *c;
	cr_assert_eq(glue_virtq_pop(glue_virtio_dev_queue(v, 0), &c), -EIO);
	glue_virtio_dev_signal(v, 0);
	glue_virtio_dev_signal(v, 0);
	cr_assert(needs_reset());
	cr_assert_eq(f.config_signals, 1);
	glue_virtio_dev_set_status(v, 0);
	cr_assert_not(needs_reset());
	cr_assert_eq(f.d.resets, 1);
}

Test(virtio_dev, free_resets_an_active_device_and_frees_it)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 16);
	driver_ok();
	glue_virtio_dev_free(v);
	v = NULL;
	cr_assert_eq(f.d.resets, 1);
	cr_assert_eq(f.d.frees, 1);
}

Test(virtio_dev, a_bad_descriptor_is_refused_and_freed)
{
	struct glue_virtio_dev *w;
	struct glue_virtio_device d;
	const struct {
		uint16_t queues, size;
		uint32_t config;
	} cases[] = {{0, 16, 0}, {257, 16, 0}, {1, 0, 0}, {1, 24, 0}, {1, 16, 4097}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = fake_dev();
		d.num_queues = cases[i].queues;
		d.queue_max_size = cases[i].size;
		d.config_size = cases[i].config;
		f.d.frees = 0;
		cr_assert_eq(glue_virtio_dev_new(&w, &d, mem, &t_ops, NULL), -EINVAL, "case %zu",
			     i);
		cr_assert_null(w);
		cr_assert_eq(f.d.frees, 1, "case %zu: the device was not freed", i);
	}
	d = fake_dev();
	d.ops = NULL;
	cr_assert_eq(glue_virtio_dev_new(&w, &d, mem, &t_ops, NULL), -EINVAL);
}

Test(virtio_dev, queues_wait_for_features_ok)
{
	/* the ring features are fixed with FEATURES_OK: a queue enabled before is not */
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	setup_queue(0, 16);
	cr_assert_not(glue_virtio_dev_queue_get_enable(v));
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 16);
	cr_assert(glue_virtio_dev_queue_get_enable(v));
}
