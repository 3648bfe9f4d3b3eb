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
	pthread_cond_t cond;	      /* busy went false */
	struct glue_virtio_dev *vdev; /* set while active */
	bool kicked, paused, stopping;
	bool busy;  /* in fn: on the queue */
	int efd;    /* wakes the thread for a change of the above */
	int kick;   /* the queue's kick eventfd, while active (-1: none) */
	int fd;	    /* a backend's, or -1 */
	bool watch; /* fd readable counts as a kick */
};

static void wake(struct vworker *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the wakeup pending */
	}
}

/* Take what an eventfd counted. */
static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing there after all */
	}
}

/*
 * Sleep until woken, kicked, the fd is readable (when watched) or timeout
 * passes (NULL: none); w->lock held, dropped while asleep. A kick is taken
 * only while the queue is still this worker's: after vworker_reset() the fd
 * may belong to vhost.
 */
static void sleep_poll(struct vworker *w, const struct timespec *timeout)
{
	struct pollfd p[3] = {{.fd = w->efd, .events = POLLIN}};
	bool live = w->vdev && !w->paused;
	int kick = live ? w->kick : -1, fd = live && w->watch ? w->fd : -1;
	nfds_t n = 1;

	if (kick >= 0)
		p[n++] = (struct pollfd){.fd = kick, .events = POLLIN};
	if (fd >= 0)
		p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
	pthread_mutex_unlock(&w->lock);
	if (ppoll(p, n, timeout, NULL) > 0 && (p[0].revents & POLLIN))
		drain(w->efd);
	pthread_mutex_lock(&w->lock);
	for (nfds_t i = 1; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == kick && kick == w->kick && w->vdev) {
			drain(kick);
			w->kicked = true;
		} else if (p[i].fd == fd && w->watch && w->vdev) {
			w->kicked = true; /* readable, or hung up: fn finds out */
		}
	}
}

static void *worker_main(void *p)
{
	struct vworker *w = p;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct glue_virtio_dev *vdev;
		uint64_t again;

		while (!w->stopping && (w->paused || !w->vdev || !w->kicked))
			sleep_poll(w, NULL);
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
			/* Come back then, or sooner when kicked or woken (pause, reset). */
			struct timespec ts = {.tv_sec = (time_t)(again / 1000000000ULL),
					      .tv_nsec = (long)(again % 1000000000ULL)};

			w->kicked = true;
			sleep_poll(w, &ts);
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
	w->kick = -1;
	w->watch = fd >= 0;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		e = errno;
		free(w);
		return glue_err_sys(-e, "%s: eventfd", name);
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	e = pthread_create(&w->thread, NULL, worker_main, w);
	if (e) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
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
	close(w->efd);
	free(w);
}

static void wait_idle(struct vworker *w)
{
	while (w->busy)
		pthread_cond_wait(&w->cond, &w->lock);
}

void vworker_activate(struct vworker *w, struct glue_virtio_dev *vdev, int kick_fd)
{
	pthread_mutex_lock(&w->lock);
	w->vdev = vdev;
	w->kick = kick_fd;
	w->kicked = true;
	wake(w);
	pthread_mutex_unlock(&w->lock);
}

void vworker_reset(struct vworker *w)
{
	pthread_mutex_lock(&w->lock);
	w->vdev = NULL;
	w->kick = -1;
	w->kicked = false;
	wake(w);
	wait_idle(w);
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

void vworkers_activate(struct vworker *const *w, unsigned int n, struct glue_virtio_dev *vdev)
{
	for (unsigned int i = 0; i < n; i++)
		vworker_activate(w[i], vdev, glue_virtio_dev_kick_fd(vdev, w[i]->queue));
}

void vworkers_reset(struct vworker *const *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vworker_reset(w[i]);
}

void vworkers_pause(struct vworker *const *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vworker_pause(w[i]);
}

void vworkers_resume(struct vworker *const *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vworker_resume(w[i]);
}

void vworkers_free(struct vworker *const *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vworker_free(w[i]);
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
