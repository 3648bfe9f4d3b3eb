/* SPDX-License-Identifier: MIT */
/*
 * The driver side of a split virtqueue, in a glue_mem: what a guest's
 * virtio driver does, for testing a queue or a device without a guest.
 * It lays the queue out, makes chains of buffers available (direct or
 * through an indirect table), and reads back what the device used. Raw
 * descriptor and index writes let a test build chains no good driver would.
 *
 * Not for production VMMs; single-threaded unless the test serialises.
 */
#ifndef GLUE_VIRTQ_MOCK_H
#define GLUE_VIRTQ_MOCK_H

#include <glue/common.h>
#include <glue/virtq.h>

GLUE_BEGIN_DECLS

struct glue_mem;
struct glue_virtq_mock;

/* One buffer of a chain. */
struct glue_virtq_mock_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* Bytes a queue of size entries takes from its base (all three areas). */
GLUE_API uint64_t glue_virtq_mock_bytes(uint16_t size);

/*
 * A queue of size entries laid out at base (4 KiB aligned; the areas are
 * zeroed): descriptor table, then driver area, then device area.
 */
GLUE_API int glue_virtq_mock_new(struct glue_virtq_mock **out, struct glue_mem *mem, uint64_t base,
				 uint16_t size);
GLUE_API void glue_virtq_mock_free(struct glue_virtq_mock *m);
GLUE_API void glue_virtq_mock_layout(const struct glue_virtq_mock *m,
				     struct glue_virtq_layout *out);

/*
 * Write bufs[0..n) as a chain into the next free descriptors and make it
 * available; *head (may be NULL) gets its first descriptor. -ENOSPC when the
 * table has not n free descriptors left (they are reused after take_used).
 */
GLUE_API int glue_virtq_mock_add(struct glue_virtq_mock *m, const struct glue_virtq_mock_buf *bufs,
				 size_t n, uint16_t *head);
/* The same through an indirect table written at table_gpa, one descriptor in the ring. */
GLUE_API int glue_virtq_mock_add_indirect(struct glue_virtq_mock *m,
					  const struct glue_virtq_mock_buf *bufs, size_t n,
					  uint64_t table_gpa, uint16_t *head);

/* Raw access: descriptor i as given (flags: VRING_DESC_F_* of <linux/virtio_ring.h>). */
GLUE_API int glue_virtq_mock_set_desc(struct glue_virtq_mock *m, uint16_t i, uint64_t addr,
				      uint32_t len, uint16_t flags, uint16_t next);
/* Put head in the next available slot and publish it (the index moves by one). */
GLUE_API int glue_virtq_mock_publish(struct glue_virtq_mock *m, uint16_t head);
/* Set the available index to any value (publishes slots that were never filled). */
GLUE_API int glue_virtq_mock_set_avail_idx(struct glue_virtq_mock *m, uint16_t idx);

/* The next used element: 1 with *id and *len, 0 when the device used nothing new. */
GLUE_API int glue_virtq_mock_take_used(struct glue_virtq_mock *m, uint16_t *id, uint32_t *len);

/* What the driver asks of notifications: the avail flags (VRING_AVAIL_F_NO_INTERRUPT),
 * and with EVENT_IDX the used_event word. */
GLUE_API int glue_virtq_mock_set_avail_flags(struct glue_virtq_mock *m, uint16_t flags);
GLUE_API int glue_virtq_mock_set_used_event(struct glue_virtq_mock *m, uint16_t idx);
/* What the device asks: its used flags (VRING_USED_F_NO_NOTIFY) and avail_event word. */
GLUE_API uint16_t glue_virtq_mock_used_flags(const struct glue_virtq_mock *m);
GLUE_API uint16_t glue_virtq_mock_avail_event(const struct glue_virtq_mock *m);

/*
 * Whether a driver would kick now for what it made available since it last
 * asked (as Linux's virtqueue_kick_prepare decides: the device's
 * avail_event with EVENT_IDX, else its NO_NOTIFY flag).
 */
GLUE_API bool glue_virtq_mock_kick_wanted(struct glue_virtq_mock *m, bool event_idx);

GLUE_END_DECLS

#endif
