// SPDX-License-Identifier: MIT
/*
 * virtio-rng on the common device part with a mock driver queue: entropy in
 * the buffers, the per-request cap, the rate limit, malformed chains, and
 * pause/reset stopping its thread.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/virtio.h>
#include <glue/virtio_rng.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#include "virtio_driver.h"

#define MiB (1024ULL * 1024)
#define QBASE 0x10000ULL
#define DATA 0x100000ULL

static struct glue_mem *mem;
static struct glue_virtio_dev *v;
static struct glue_virtq_mock *mq;
static atomic_int signals;

static void t_signal_queue(void *tctx, uint16_t q)
{
	atomic_fetch_add(&signals, 1);
}

static void t_signal_config(void *tctx)
{
}

static const struct glue_virtio_transport_ops t_ops = {
	.signal_queue = t_signal_queue,
	.signal_config = t_signal_config,
};

static void start(uint64_t rate)
{
	struct glue_virtio_rng_config cfg;
	struct glue_virtio_device d;

	atomic_store(&signals, 0);
	glue_virtio_rng_config_init(&cfg);
	cfg.bytes_per_sec = rate;
	cfg.queue_size = 16;
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 4 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_virtio_rng_new(&d, &cfg), 0, "%s", glue_error_last());
	cr_assert_eq(d.device_id, VIRTIO_ID_RNG);
	cr_assert_eq(glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 16), 0);

	driver_bring_up(v, mq, 16, false);
}

static void setup(void)
{
	start(0);
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

TestSuite(virtio_rng, .init = setup, .fini = teardown);
TestSuite(virtio_rng_rate, .fini = teardown);

/* Wait up to ms for the next used element. */
static bool wait_used(int ms, uint16_t *id, uint32_t *len)
{
	for (int i = 0; i < ms; i++) {
		if (glue_virtq_mock_take_used(mq, id, len) == 1)
			return true;
		usleep(1000);
	}
	return false;
}

static uint16_t request(uint64_t gpa, uint32_t len)
{
	struct glue_virtq_mock_buf b = {gpa, len, true};
	uint16_t head;

	cr_assert_eq(glue_virtq_mock_add(mq, &b, 1, &head), 0, "%s", glue_error_last());
	glue_virtio_dev_notify(v, 0);
	return head;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

Test(virtio_rng, fills_buffers_with_entropy)
{
	uint8_t *a = glue_mem_ptr(mem, DATA, 64), *b = glue_mem_ptr(mem, DATA + 64, 64);
	uint16_t head, id;
	uint32_t len;

	head = request(DATA, 64);
	cr_assert(wait_used(5000, &id, &len), "no answer");
	cr_assert_eq(id, head);
	cr_assert_eq(len, 64);
	head = request(DATA + 64, 64);
	cr_assert(wait_used(5000, &id, &len));
	cr_assert_eq(len, 64);
	cr_assert_not(all_zero(a, 64));
	cr_assert_neq(memcmp(a, b, 64), 0, "two requests, the same bytes");
	cr_assert_geq(atomic_load(&signals), 1, "the driver was not interrupted");
}

Test(virtio_rng, a_request_gets_at_most_64k)
{
	uint16_t id;
	uint32_t len;

	request(DATA, 1024 * 1024);
	cr_assert(wait_used(5000, &id, &len));
	cr_assert_eq(len, GLUE_VIRTIO_RNG_MAX_REQUEST);
	cr_assert_not(all_zero(glue_mem_ptr(mem, DATA, 65536), 65536));
}

Test(virtio_rng, readable_and_malformed_chains_get_nothing)
{
	struct glue_virtq_mock_buf ro = {DATA, 64, false};
	uint16_t head, id;
	uint32_t len;

	cr_assert_eq(glue_virtq_mock_add(mq, &ro, 1, &head), 0);
	glue_virtio_dev_notify(v, 0);
	cr_assert(wait_used(5000, &id, &len));
	cr_assert_eq(id, head);
	cr_assert_eq(len, 0);

	/* a buffer past the end of guest memory */
	glue_virtq_mock_set_desc(mq, 5, 64 * MiB, 64, VRING_DESC_F_WRITE, 0);
	glue_virtq_mock_publish(mq, 5);
	glue_virtio_dev_notify(v, 0);
	cr_assert(wait_used(5000, &id, &len));
	cr_assert_eq(id, 5);
	cr_assert_eq(len, 0);

	/* and it goes on */
	head = request(DATA, 32);
	cr_assert(wait_used(5000, &id, &len));
	cr_assert_eq(len, 32);
}

Test(virtio_rng, buffers_there_before_driver_ok_are_served)
{
	/* a fresh device: buffers first, DRIVER_OK, no kick */
	uint16_t id;
	uint32_t len;

	glue_virtio_dev_set_status(v, 0);
	glue_virtq_mock_free(mq);
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 16), 0);
	struct glue_virtq_mock_buf b = {DATA, 16, true};
	uint16_t head;
	cr_assert_eq(glue_virtq_mock_add(mq, &b, 1, &head), 0);
	struct glue_virtq_layout l;
	glue_virtq_mock_layout(mq, &l);
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	glue_virtio_dev_set_driver_features(v, 1, 1);
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK);
	glue_virtio_dev_queue_select(v, 0);
	glue_virtio_dev_queue_set_size(v, 16);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, l.desc);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DRIVER, l.avail);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DEVICE, l.used);
	glue_virtio_dev_queue_set_enable(v, true);
	glue_virtio_dev_set_status(v, glue_virtio_dev_get_status(v) | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert(wait_used(5000, &id, &len));
	cr_assert_eq(id, head);
	cr_assert_eq(len, 16);
}

Test(virtio_rng, a_paused_device_does_nothing_until_resumed)
{
	uint16_t id;
	uint32_t len;

	glue_virtio_dev_pause(v);
	request(DATA, 64);
	cr_assert_not(wait_used(200, &id, &len), "served while paused");
	glue_virtio_dev_resume(v);
	cr_assert(wait_used(5000, &id, &len), "not served after resume");
	cr_assert_eq(len, 64);
}

Test(virtio_rng, a_reset_stops_it)
{
	uint16_t id;
	uint32_t len;

	glue_virtio_dev_pause(v);
	request(DATA, 64);
	glue_virtio_dev_set_status(v, 0);
	glue_virtio_dev_resume(v);
	cr_assert_not(wait_used(200, &id, &len), "served after a reset");
}

Test(virtio_rng_rate, the_rate_limit_holds)
{
	uint32_t total = 0, len;
	struct timespec t0, t1;
	double secs;
	uint16_t id;

	start(2000); /* bytes per second: the bucket holds one second's */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 12; i++)
		request(DATA + 4096ULL * i, 4096);
	for (int i = 0; i < 12; i++) {
		if (!wait_used(3000, &id, &len))
			break;
		total += len;
		cr_assert_leq(len, 2000, "one request got more than the bucket holds");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* at most the full bucket plus what dripped in meanwhile (and a byte per request) */
	cr_assert_leq(total, 2000 + 2000 * secs + 12, "%u bytes in %.2f s", total, secs);
	cr_assert_geq(total, 2000, "the first second's bytes were not given");
}

Test(virtio_rng_rate, bad_configs_are_refused)
{
	struct glue_virtio_rng_config cfg;
	struct glue_virtio_device d;

	glue_virtio_rng_config_init(&cfg);
	cfg.queue_size = 24;
	cr_assert_eq(glue_virtio_rng_new(&d, &cfg), -EINVAL);
	cr_assert(strstr(glue_error_last(), "queue size"));
	cfg.queue_size = 0;
	cr_assert_eq(glue_virtio_rng_new(&d, &cfg), -EINVAL);
}
