// SPDX-License-Identifier: MIT
/* One thread per virtqueue (see worker.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "virtio/worker.h"

struct vworker {
	vworker_fn fn;
	void *ctx;
	uint16_t queue;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct glue_virtio_dev *vdev; /* set while active */
	bool kicked, paused, stopping;
	bool busy; /* in fn: on the queue */
};

static void *worker_main(void *p)
{
	struct vworker *w = p;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct glue_virtio_dev *vdev;
		uint64_t again;

		while (!w->stopping && (w->paused || !w->vdev || !w->kicked))
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stopping)
			break;
		w->kicked = false;
		w->busy = true;
		vdev = w->vdev;
		pthread_mutex_unlock(&w->lock);

		again = w->fn(w->ctx, vdev, w->queue);

		pthread_mutex_lock(&w->lock);
		w->busy = false;
		pthread_cond_broadcast(&w->cond);
		if (again && w->vdev && !w->stopping) {
			struct timespec ts;

			/* Come back then, or sooner when woken (a kick, pause, reset). */
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(again / 1000000000ULL);
			ts.tv_nsec += (long)(again % 1000000000ULL);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			w->kicked = true;
			pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int vworker_new(struct vworker **out, const char *name, uint16_t queue, vworker_fn fn, void *ctx)
{
	struct vworker *w;
	int e;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return glue_err(-ENOMEM, "out of memory");
	w->fn = fn;
	w->ctx = ctx;
	w->queue = queue;
	pthread_condattr_t ca;

	pthread_mutex_init(&w->lock, NULL);
	/* Timed waits on the monotonic clock: a wall-clock step must not stall them. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	e = pthread_create(&w->thread, NULL, worker_main, w);
	if (e) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return glue_err_sys(-e, "%s: cannot start its thread", name);
	}
	pthread_setname_np(w->thread, name); /* truncated to 15 bytes; ERANGE ignored */
	*out = w;
	return 0;
}

void vworker_free(struct vworker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void wait_idle(struct vworker *w)
{
	while (w->busy)
		pthread_cond_wait(&w->cond, &w->lock);
}

void vworker_activate(struct vworker *w, struct glue_virtio_dev *vdev)
{
	pthread_mutex_lock(&w->lock);
	w->vdev = vdev;
	w->kicked = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void vworker_reset(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->vdev = NULL;
	w->kicked = false;
	pthread_cond_broadcast(&w->cond);
	wait_idle(w);
	pthread_mutex_unlock(&w->lock);
}

void vworker_kick(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->kicked = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void vworker_pause(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->paused = true;
	wait_idle(w);
	pthread_mutex_unlock(&w->lock);
}

void vworker_resume(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->paused = false;
	w->kicked = true; /* what the driver queued meanwhile */
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}
