// SPDX-License-Identifier: MIT
/* One thread per virtqueue (see worker.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <glue/virtio.h>
#include <glue/virtq.h>

#include "core/err.h"
#include "core/util.h"
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
	/* With a watched fd the thread sleeps in poll(2), woken through efd. */
	int fd, efd;
	bool watch; /* fd readable counts as a kick */
};

static void wake(struct vworker *w)
{
	pthread_cond_broadcast(&w->cond);
	if (w->efd >= 0) {
		uint64_t one = 1;

		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is already non-zero, the wakeup pending */
		}
	}
}

/* Sleep until woken, the fd is readable (when watched) or timeout_ms passes
 * (-1: no timeout); w->lock held, dropped while asleep. */
static void sleep_poll(struct vworker *w, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = w->efd, .events = POLLIN}, {.fd = w->fd, .events = POLLIN}};
	nfds_t n = w->watch && !w->paused && w->vdev ? 2 : 1;
	uint64_t v;

	pthread_mutex_unlock(&w->lock);
	if (poll(p, n, timeout_ms) > 0 && (p[0].revents & POLLIN)) {
		if (read(w->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another reader got there; nothing lost */
		}
	}
	pthread_mutex_lock(&w->lock);
	if (n == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		w->kicked = true;
}

static void *worker_main(void *p)
{
	struct vworker *w = p;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct glue_virtio_dev *vdev;
		uint64_t again;

		while (!w->stopping && (w->paused || !w->vdev || !w->kicked)) {
			if (w->efd >= 0)
				sleep_poll(w, -1);
			else
				pthread_cond_wait(&w->cond, &w->lock);
		}
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
		if (again && w->vdev && !w->stopping && w->efd >= 0) {
			w->kicked = true;
			sleep_poll(w,
				   (int)GLUE_MIN((again + 999999) / 1000000, (uint64_t)INT32_MAX));
		} else if (again && w->vdev && !w->stopping) {
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
	return vworker_new_fd(out, name, queue, fn, ctx, -1);
}

int vworker_new_fd(struct vworker **out, const char *name, uint16_t queue, vworker_fn fn, void *ctx,
		   int fd)
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
	w->fd = fd;
	w->efd = -1;
	if (fd >= 0) {
		w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->efd < 0) {
			e = errno;
			free(w);
			return glue_err_sys(-e, "%s: eventfd", name);
		}
		w->watch = true;
	}
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
		if (w->efd >= 0)
			close(w->efd);
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
	wake(w);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	if (w->efd >= 0)
		close(w->efd);
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
	wake(w);
	pthread_mutex_unlock(&w->lock);
}

void vworker_reset(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->vdev = NULL;
	w->kicked = false;
	wake(w);
	wait_idle(w);
	pthread_mutex_unlock(&w->lock);
}

void vworker_kick(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->kicked = true;
	wake(w);
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
	wake(w);
	pthread_mutex_unlock(&w->lock);
}

void vworker_watch(struct vworker *w, bool on)
{
	pthread_mutex_lock(&w->lock);
	w->watch = on && w->fd >= 0;
	pthread_mutex_unlock(&w->lock);
}

/* Chains one vworker_drain() call handles at most (good and malformed). */
#define VWORKER_DRAIN_BUDGET 1024

uint64_t vworker_drain(struct glue_virtio_dev *vdev, uint16_t queue,
		       const struct vworker_drain_ops *ops, void *ctx)
{
	struct glue_virtq *q = glue_virtio_dev_queue(vdev, queue);
	/* A driver that adds chains as fast as they are used would keep the
	 * thread here for ever, and its own reset waiting for it. */
	unsigned int budget = VWORKER_DRAIN_BUDGET;
	bool more = true;

	if (!q)
		return 0;
	while (more) {
		glue_virtq_kicks_off(q);
		for (;;) {
			struct glue_virtq_chain *c;
			uint64_t wait = ops->ready ? ops->ready(ctx) : 0;
			int k;

			if (!budget--)
				wait = 1; /* at once, after a look at pause and reset */
			if (wait) {
				glue_virtq_kicks_on(q);
				glue_virtio_dev_signal(vdev, queue);
				return wait;
			}
			k = glue_virtq_pop(q, &c);
			if (k == -EBADMSG) {
				if (ops->bad)
					ops->bad(ctx);
				continue; /* given back empty; the next may be fine */
			}
			if (k == -ENOMEM) {
				glue_virtq_kicks_on(q);
				glue_virtio_dev_signal(vdev, queue);
				return 1000000; /* try again in a millisecond */
			}
			if (k <= 0)
				break; /* empty, or broken (the signal reports it) */
			glue_virtq_push(q, c, ops->chain(ctx, c));
		}
		more = glue_virtq_kicks_on(q);
		glue_virtio_dev_signal(vdev, queue);
	}
	return 0;
}
