/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x, section 5.2): a raw disk image or block device.
 * Read, write, flush, get-id, discard and write-zeroes; one worker thread
 * per queue doing synchronous preadv/pwritev.
 *
 * The image is opened, checked (a regular file or block device, a size that
 * is a multiple of 512) and locked when the device is made, so a bad disk is
 * reported before anything else starts. The lock is an OFD lock over the
 * whole file, as QEMU takes them: a writer excludes everyone, readers
 * (read-only disks) only writers.
 *
 * Every request is untrusted: its header, data length, sector range and
 * status byte are checked; a bad one fails with VIRTIO_BLK_S_IOERR (or
 * UNSUPP for an unknown type), never touching the image out of range.
 */
#ifndef GLUE_VIRTIO_BLK_H
#define GLUE_VIRTIO_BLK_H

#include <string.h>

#include <glue/common.h>
#include <glue/virtio.h>

GLUE_BEGIN_DECLS

/* Longest serial (virtio's ID string: 20 bytes, not NUL-terminated when full). */
#define GLUE_VIRTIO_BLK_SERIAL_MAX 20
#define GLUE_VIRTIO_BLK_MAX_QUEUES 16

enum glue_virtio_blk_cache {
	GLUE_VIRTIO_BLK_CACHE_WRITEBACK = 0, /* the host's page cache; flush = fdatasync */
	GLUE_VIRTIO_BLK_CACHE_NONE,	     /* O_DIRECT: past the host's page cache */
};

struct glue_virtio_blk_config {
	uint32_t size;	    /* sizeof(struct glue_virtio_blk_config), set by _init */
	const char *path;   /* image file or block device; required */
	bool readonly;	    /* opened read-only; writes fail, VIRTIO_BLK_F_RO offered */
	const char *serial; /* shown by the guest (/sys/block/vda/serial); NULL = none */
	enum glue_virtio_blk_cache cache;
	uint16_t num_queues; /* 1..GLUE_VIRTIO_BLK_MAX_QUEUES; default 1 */
	uint16_t queue_size; /* power of two; default 256 */
};

static inline void glue_virtio_blk_config_init(struct glue_virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->num_queues = 1;
	cfg->queue_size = 256;
}

/*
 * Open, check and lock the disk and fill *out with the device. Errors name
 * the disk: -ENOENT/-EACCES (cannot open), -EINVAL (not a file or block
 * device, size not a multiple of 512, a serial over 20 bytes, bad queue
 * numbers), -EBUSY (locked by another process: another VM uses it).
 */
GLUE_API int glue_virtio_blk_new(struct glue_virtio_device *out,
				 const struct glue_virtio_blk_config *cfg);

GLUE_END_DECLS

#endif
