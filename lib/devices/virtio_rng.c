// SPDX-License-Identifier: MIT
/*
 * virtio-rng: fills each buffer the driver makes available with bytes from
 * getrandom(2). A kick only wakes the device thread; the thread empties the
 * queue, with kicks suppressed while it works. The optional rate limit is a
 * token bucket holding at most one second of bytes.
 */
#include <errno.h>
#include <pthread.h>
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

struct rng {
	uint64_t rate; /* bytes per second, 0 = unlimited */

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct glue_virtio_dev *vdev; /* set while active */
	bool kicked, paused, stopping;
	bool busy; /* the thread is using the queue */

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

/* Serve what is in the queue. Returns false when the bucket ran dry. */
static bool serve(struct rng *r, struct glue_virtio_dev *vdev)
{
	struct glue_virtq *q = glue_virtio_dev_queue(vdev, 0);
	uint8_t buf[4096];
	bool more = true;

	if (!q)
		return true;
	while (more) {
		glue_virtq_kicks_off(q);
		for (;;) {
			struct glue_virtq_chain *c;
			size_t want, n, done = 0;
			int k;

			if (r->rate && allowance(r, 1) == 0) {
				glue_virtq_kicks_on(q);
				glue_virtio_dev_signal(vdev, 0);
				return false;
			}
			k = glue_virtq_pop(q, &c);
			if (k == -EBADMSG)
				continue; /* given back empty; the next may be fine */
			if (k <= 0)
				break; /* empty, broken (signal reports it), or no memory */
			want = c->in_len < GLUE_VIRTIO_RNG_MAX_REQUEST
				       ? c->in_len
				       : GLUE_VIRTIO_RNG_MAX_REQUEST;
			want = allowance(r, want);
			while (done < want) {
				ssize_t got;

				n = want - done < sizeof(buf) ? want - done : sizeof(buf);
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
			glue_virtq_push(q, c, (uint32_t)done);
		}
		more = glue_virtq_kicks_on(q);
		glue_virtio_dev_signal(vdev, 0);
	}
	explicit_bzero(buf, sizeof(buf));
	return true;
}

static void *rng_thread(void *p)
{
	struct rng *r = p;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct glue_virtio_dev *vdev;
		bool done;

		while (!r->stopping && (r->paused || !r->vdev || !r->kicked))
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stopping)
			break;
		r->kicked = false;
		r->busy = true;
		vdev = r->vdev;
		pthread_mutex_unlock(&r->lock);

		done = serve(r, vdev);

		pthread_mutex_lock(&r->lock);
		r->busy = false;
		pthread_cond_broadcast(&r->cond);
		if (!done && r->vdev) {
			/* Come back when a few bytes have dripped in (or sooner, if woken). */
			struct timespec ts;
			double wait = 64.0 / (double)r->rate;

			if (wait > 0.1)
				wait = 0.1;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(wait * 1e9);
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			r->kicked = true;
			if (!r->stopping)
				pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int rng_activate(void *ctx, struct glue_virtio_dev *vdev)
{
	struct rng *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->vdev = vdev;
	r->kicked = true; /* buffers may be there before the first kick */
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Wait until the thread is off the queue. Called with the lock held. */
static void wait_idle(struct rng *r)
{
	while (r->busy)
		pthread_cond_wait(&r->cond, &r->lock);
}

static void rng_reset(void *ctx)
{
	struct rng *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->vdev = NULL;
	r->kicked = false;
	pthread_cond_broadcast(&r->cond);
	wait_idle(r);
	pthread_mutex_unlock(&r->lock);
}

static void rng_notify(void *ctx, uint16_t queue)
{
	struct rng *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->kicked = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void rng_pause(void *ctx)
{
	struct rng *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->paused = true;
	wait_idle(r);
	pthread_mutex_unlock(&r->lock);
}

static void rng_resume(void *ctx)
{
	struct rng *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->paused = false;
	r->kicked = true; /* what the driver queued while paused */
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void rng_free(void *ctx)
{
	struct rng *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct glue_virtio_device_ops rng_ops = {
	.activate = rng_activate,
	.reset = rng_reset,
	.notify = rng_notify,
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
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	e = pthread_create(&r->thread, NULL, rng_thread, r);
	if (e) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return glue_err_sys(-e, "virtio-rng: cannot start its thread");
	}
	pthread_setname_np(r->thread, "virtio-rng");
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
