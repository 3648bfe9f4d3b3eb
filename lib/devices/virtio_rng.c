// SPDX-License-Identifier: MIT
/*
 * virtio-rng: fills each buffer the driver makes available with bytes from
 * getrandom(2). A kick only wakes the device's worker thread, which empties
 * the queue with kicks suppressed while it works. The optional rate limit is a
 * token bucket holding at most one second of bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <linux/virtio_ids.h>

#include <glue/virtio.h>
#include <glue/virtio_rng.h>
#include <glue/virtq.h>

#include "core/err.h"
#include "core/util.h"
#include "virtio/worker.h"

struct rng {
	uint64_t rate; /* bytes per second, 0 = unlimited */
	struct vworker *worker;
	/* the worker's own: */
	double tokens;
	struct timespec refilled;
};

static void refill(struct rng *r)
{
	struct timespec ts;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	dt = (double)(ts.tv_sec - r->refilled.tv_sec) +
	     (double)(ts.tv_nsec - r->refilled.tv_nsec) / 1e9;
	r->refilled = ts;
	r->tokens += dt * (double)r->rate;
	if (r->tokens > (double)r->rate)
		r->tokens = (double)r->rate;
}

/* Bytes this request may have now (0: wait for the bucket). */
static size_t allowance(struct rng *r, size_t want)
{
	if (!r->rate)
		return want;
	refill(r);
	if (r->tokens < 1)
		return 0;
	return want < r->tokens ? want : (size_t)r->tokens;
}

/* With a rate limit: come back when a few bytes have dripped into the bucket. */
static uint64_t serve_ready(void *ctx)
{
	struct rng *r = ctx;

	if (!r->rate || allowance(r, 1) > 0)
		return 0;
	return GLUE_MAX(GLUE_MIN(64 * 1000000000ULL / r->rate, 100000000ULL), 1000ULL);
}

static uint32_t serve_chain(void *ctx, struct glue_virtq_chain *c)
{
	struct rng *r = ctx;
	uint8_t buf[4096];
	size_t want, n, done = 0;

	want = GLUE_MIN((size_t)c->in_len, (size_t)GLUE_VIRTIO_RNG_MAX_REQUEST);
	want = allowance(r, want);
	while (done < want) {
		ssize_t got;

		n = GLUE_MIN(want - done, sizeof(buf));
		got = getrandom(buf, n, 0);
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			break;
		}
		glue_virtq_chain_write(c, done, buf, (size_t)got);
		done += (size_t)got;
	}
	if (r->rate)
		r->tokens -= (double)done;
	explicit_bzero(buf, sizeof(buf));
	return (uint32_t)done;
}

static uint64_t serve(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue)
{
	static const struct vworker_drain_ops ops = {.chain = serve_chain, .ready = serve_ready};

	return vworker_drain(vdev, queue, &ops, ctx);
}

static int rng_activate(void *ctx, struct glue_virtio_dev *vdev)
{
	vworkers_activate(&((struct rng *)ctx)->worker, 1, vdev);
	return 0;
}

static void rng_reset(void *ctx)
{
	vworker_reset(((struct rng *)ctx)->worker);
}

static void rng_pause(void *ctx)
{
	vworker_pause(((struct rng *)ctx)->worker);
}

static void rng_resume(void *ctx)
{
	vworker_resume(((struct rng *)ctx)->worker);
}

static void rng_free(void *ctx)
{
	struct rng *r = ctx;

	vworker_free(r->worker);
	free(r);
}

static const struct glue_virtio_device_ops rng_ops = {
	.activate = rng_activate,
	.reset = rng_reset,
	.pause = rng_pause,
	.resume = rng_resume,
	.free = rng_free,
};

int glue_virtio_rng_new(struct glue_virtio_device *out, const struct glue_virtio_rng_config *cfg)
{
	struct glue_virtio_rng_config c;
	struct rng *r;
	int e;

	glue_virtio_rng_config_init(&c);
	if (cfg)
		memcpy(&c, cfg, GLUE_MIN((size_t)cfg->size, sizeof(c)));
	memset(out, 0, sizeof(*out));
	if (!c.queue_size || c.queue_size > GLUE_VIRTQ_MAX_SIZE ||
	    (c.queue_size & (c.queue_size - 1)))
		return glue_err(-EINVAL, "virtio-rng: queue size %u is not a power of two up to %u",
				c.queue_size, GLUE_VIRTQ_MAX_SIZE);
	r = calloc(1, sizeof(*r));
	if (!r)
		return glue_err(-ENOMEM, "out of memory");
	r->rate = c.bytes_per_sec;
	r->tokens = (double)r->rate;
	clock_gettime(CLOCK_MONOTONIC, &r->refilled);
	e = vworker_new(&r->worker, "virtio-rng", 0, serve, r);
	if (e < 0) {
		free(r);
		return e;
	}
	out->ops = &rng_ops;
	out->ctx = r;
	out->name = "virtio-rng";
	out->device_id = VIRTIO_ID_RNG;
	out->features = 0;
	out->num_queues = 1;
	out->queue_max_size = c.queue_size;
	out->config_size = 0;
	return 0;
}
