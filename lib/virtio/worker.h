/* SPDX-License-Identifier: MIT */
/*
 * A device thread for one virtqueue: what a kick wakes, what reset and pause
 * wait for. Devices keep their work off the vCPU threads with it; the queue
 * is touched only from the worker's thread, between activate and reset.
 */
#ifndef GLUE_INTERNAL_VIRTIO_WORKER_H
#define GLUE_INTERNAL_VIRTIO_WORKER_H

#include <stdint.h>

struct glue_virtio_dev;
struct vworker;

/*
 * Work through queue `queue` of vdev. Return 0 when done (until the next
 * kick), or nanoseconds after which to be called again without one (a rate
 * limit waiting for its budget).
 */
typedef uint64_t (*vworker_fn)(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue);

int vworker_new(struct vworker **out, const char *name, uint16_t queue, vworker_fn fn, void *ctx);
/* Stops and joins the thread. Accepts NULL. */
void vworker_free(struct vworker *w);
/* Start serving vdev (its buffers may be there before the first kick). */
void vworker_activate(struct vworker *w, struct glue_virtio_dev *vdev);
/* Stop serving; returns once the thread is off the queue. */
void vworker_reset(struct vworker *w);
void vworker_kick(struct vworker *w);
/* Quiesce (returns once the thread is idle) and go on. */
void vworker_pause(struct vworker *w);
void vworker_resume(struct vworker *w);

#endif
