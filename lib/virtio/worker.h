/* SPDX-License-Identifier: MIT */
/*
 * A device thread for one virtqueue: what a kick wakes, what reset and pause
 * wait for. Devices keep their work off the vCPU threads with it; the queue
 * is touched only from the worker's thread, between activate and reset.
 * The thread sleeps in poll(2) on the queue's kick eventfd (so a kick that
 * KVM turned into an eventfd signal wakes it with no VMM exit in between),
 * an eventfd of its own for state changes, and optionally a backend's fd.
 */
#ifndef GLUE_INTERNAL_VIRTIO_WORKER_H
#define GLUE_INTERNAL_VIRTIO_WORKER_H

#include <stdbool.h>
#include <stdint.h>

struct glue_virtio_dev;
struct glue_virtq_chain;
struct vworker;

/*
 * Work through queue `queue` of vdev. Return 0 when done (until the next
 * kick), or nanoseconds after which to be called again without one (a rate
 * limit waiting for its budget).
 */
typedef uint64_t (*vworker_fn)(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue);

int vworker_new(struct vworker **out, const char *name, uint16_t queue, vworker_fn fn, void *ctx);
/*
 * A worker that also runs when fd is readable (a network backend), while
 * watched: from the start, and after vworker_watch(w, true). fd stays the
 * caller's.
 */
int vworker_new_fd(struct vworker **out, const char *name, uint16_t queue, vworker_fn fn, void *ctx,
		   int fd);
/* Watch the fd or not (fn calls it: off while there is nowhere to put what it brings). */
void vworker_watch(struct vworker *w, bool on);
/* Stops and joins the thread. Accepts NULL. */
void vworker_free(struct vworker *w);
/*
 * Start serving vdev (its buffers may be there before the first kick), woken
 * by kick_fd: the queue's glue_virtio_dev_kick_fd(), or -1 where something
 * else takes the kicks (vhost) and the worker only runs on its timer and fd.
 */
void vworker_activate(struct vworker *w, struct glue_virtio_dev *vdev, int kick_fd);
/* Stop serving; returns once the thread is off the queue and will take no
 * more kicks from its fd (it may still be asleep in poll on it). */
void vworker_reset(struct vworker *w);
/* Quiesce (returns once the thread is idle) and go on. */
void vworker_pause(struct vworker *w);
void vworker_resume(struct vworker *w);

/* The same for a device's workers w[0..n) at once; each waits on its own queue's kick fd. */
void vworkers_activate(struct vworker *const *w, unsigned int n, struct glue_virtio_dev *vdev);
void vworkers_reset(struct vworker *const *w, unsigned int n);
void vworkers_pause(struct vworker *const *w, unsigned int n);
void vworkers_resume(struct vworker *const *w, unsigned int n);
/* Accepts NULL entries (workers not started). */
void vworkers_free(struct vworker *const *w, unsigned int n);

/*
 * The loop of a queue whose chains are handled one by one: serve queue
 * `queue` of vdev until the driver adds no more, with its notifications off
 * meanwhile (and looked at again once they are back on), signalling the
 * driver for what was used. Returns what a vworker_fn returns.
 */
struct vworker_drain_ops {
	/* Handle one chain: the bytes written into it; it is pushed with them. */
	uint32_t (*chain)(void *ctx, struct glue_virtq_chain *c);
	/* Optional, before each chain: 0 to go on, or nanoseconds to wait (a rate limit). */
	uint64_t (*ready)(void *ctx);
	/* Optional: a malformed chain, which the queue gave back empty. */
	void (*bad)(void *ctx);
};

uint64_t vworker_drain(struct glue_virtio_dev *vdev, uint16_t queue,
		       const struct vworker_drain_ops *ops, void *ctx);

#endif
