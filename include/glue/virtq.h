/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x, section 2.7), the device side: take the
 * descriptor chains a driver made available, give them back as used, and
 * tell when the driver wants an interrupt or a kick. Transport-independent:
 * the transport (virtio-mmio, virtio-pci) says where the driver put the
 * queue's three areas; a device only pops and pushes.
 *
 * Everything in guest memory is untrusted, and read once. A chain that
 * breaks a rule (a loop, a zero length, a buffer outside guest memory, a
 * device-readable buffer after a writable one, an indirect table that is
 * nested, not negotiated, of a bad length or combined with NEXT, more than
 * GLUE_VIRTQ_MAX_SEGS buffers or 4 GiB) is given back used with length 0
 * and reported. An available ring that cannot be right (a head index past
 * the table, more new entries than the queue holds, more chains in flight
 * than it holds: a head made available twice) marks the queue broken: it
 * pops nothing until it is reset, and the transport should set
 * DEVICE_NEEDS_RESET.
 *
 * A device that advertises a segment limit (virtio-blk's seg_max) keeps it
 * a few below GLUE_VIRTQ_MAX_SEGS: a buffer that runs from one memory
 * region into the next takes two iovecs.
 *
 * Thread-safety: one thread at a time per queue, reset and enable included:
 * the transport stops the device's worker before it resets a queue. The
 * driver runs concurrently in the guest; the ring accesses here have the
 * ordering virtio requires.
 */
#ifndef GLUE_VIRTQ_H
#define GLUE_VIRTQ_H

#include <sys/uio.h>

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_mem;
struct glue_virtq;

/* Largest split queue virtio allows. */
#define GLUE_VIRTQ_MAX_SIZE 32768
/* Most buffers (iovecs) one chain may have, after splitting at region edges. */
#define GLUE_VIRTQ_MAX_SEGS 1024

/* Features that change how a queue works (the negotiated ones). */
#define GLUE_VIRTQ_F_INDIRECT (1u << 0)	 /* VIRTIO_F_INDIRECT_DESC */
#define GLUE_VIRTQ_F_EVENT_IDX (1u << 1) /* VIRTIO_F_EVENT_IDX */

/* Where the driver put the queue (guest-physical), as the transport got it. */
struct glue_virtq_layout {
	uint16_t size;	/* entries: a power of two, at most the queue's maximum */
	uint64_t desc;	/* descriptor table, 16-byte aligned */
	uint64_t avail; /* driver area (available ring), 2-byte aligned */
	uint64_t used;	/* device area (used ring), 4-byte aligned */
};

/*
 * One available chain: iov[0, nout) are the device-readable buffers, in
 * order, then iov[nout, nout + nin) the device-writable ones. The iovecs
 * point into guest memory, valid while the glue_mem lives.
 */
struct glue_virtq_chain {
	uint16_t head;	  /* its first descriptor: what goes back in the used ring */
	uint16_t nout;	  /* device-readable iovecs */
	uint16_t nin;	  /* device-writable iovecs */
	uint32_t out_len; /* bytes readable */
	uint32_t in_len;  /* bytes writable */
	/* the queue's, not the device's: which queue and which life of it */
	const struct glue_virtq *queue;
	uint32_t generation;
	struct iovec iov[];
};

/* A queue on mem of at most max_size entries (a power of two); not ready. */
GLUE_API int glue_virtq_new(struct glue_virtq **out, const struct glue_mem *mem, uint16_t max_size);
GLUE_API void glue_virtq_free(struct glue_virtq *q);
GLUE_API uint16_t glue_virtq_max_size(const struct glue_virtq *q);

/*
 * Make the queue ready with the driver's layout and the negotiated
 * features (GLUE_VIRTQ_F_*). Checks the size and alignments, and that each
 * area lies in guest memory, within one region. Returns 0 or -EINVAL with a
 * message; the queue stays as it was on failure.
 */
GLUE_API int glue_virtq_enable(struct glue_virtq *q, const struct glue_virtq_layout *layout,
			       uint32_t features);

/*
 * The rings of a ready queue as host addresses (checked at enable), for a
 * data path outside glue that serves the queue itself (vhost): then glue's
 * pop/push must not be used on it. -ENODEV when not ready.
 */
struct glue_virtq_host_rings {
	uint16_t size;
	void *desc, *avail, *used;
};
GLUE_API int glue_virtq_host_rings(const struct glue_virtq *q, struct glue_virtq_host_rings *out);

/* Not ready, indices back to 0, not broken (a device reset). */
GLUE_API void glue_virtq_reset(struct glue_virtq *q);
GLUE_API bool glue_virtq_ready(const struct glue_virtq *q);
/* True once the driver broke the available ring (see the top). */
GLUE_API bool glue_virtq_broken(const struct glue_virtq *q);

/*
 * The next available chain. Returns 1 with *out set (give it back with
 * glue_virtq_push()), 0 when none is available or the queue is not ready,
 * -EBADMSG for a bad chain (already given back with length 0; the next
 * call goes on), -EIO when the queue is broken, -ENOMEM (nothing taken:
 * try again later). Errors carry a message naming the rule broken.
 * With EVENT_IDX it also tells the driver which entry to kick for, so a
 * device that pops until 0 on each kick never misses one.
 */
GLUE_API int glue_virtq_pop(struct glue_virtq *q, struct glue_virtq_chain **out);

/*
 * Give chain c back as used, len bytes written into its writable buffers
 * (capped at c->in_len), and free it. Chains may be pushed in any order.
 * A chain popped before a reset (or from another queue) is only freed: the
 * driver no longer waits for it. Then, also after -EBADMSG from pop, ask
 * glue_virtq_should_notify() whether to interrupt the driver.
 */
GLUE_API void glue_virtq_push(struct glue_virtq *q, struct glue_virtq_chain *c, uint32_t len);

/*
 * Push n chains (len[i] bytes written into c[i]) and publish them with one
 * used-index update, so the driver sees all or none of them: virtio-net's
 * mergeable receive buffers of one frame.
 */
GLUE_API void glue_virtq_push_n(struct glue_virtq *q, struct glue_virtq_chain *const *c,
				const uint32_t *len, unsigned int n);

/* Chains popped and not yet pushed since the last enable. */
GLUE_API unsigned int glue_virtq_inflight(const struct glue_virtq *q);

/*
 * Copy between a chain and host memory: from its readable bytes at offset
 * off, or into its writable bytes at offset off. Return the bytes copied
 * (less than len where the chain ends).
 */
GLUE_API size_t glue_virtq_chain_read(const struct glue_virtq_chain *c, size_t off, void *buf,
				      size_t len);
GLUE_API size_t glue_virtq_chain_write(const struct glue_virtq_chain *c, size_t off,
				       const void *buf, size_t len);

/*
 * After pushing: true when the driver wants an interrupt for what was
 * pushed since the last true (VIRTQ_AVAIL_F_NO_INTERRUPT, or with
 * EVENT_IDX the driver's used_event).
 */
GLUE_API bool glue_virtq_should_notify(struct glue_virtq *q);

/*
 * Kick suppression while a device works through a queue: kicks off, pop
 * until empty, kicks on; kicks on returns true when chains arrived in the
 * meantime (pop on, the driver may not kick for them).
 */
GLUE_API void glue_virtq_kicks_off(struct glue_virtq *q);
GLUE_API bool glue_virtq_kicks_on(struct glue_virtq *q);

GLUE_END_DECLS

#endif
