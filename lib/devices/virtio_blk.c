// SPDX-License-Identifier: MIT
/*
 * virtio-blk: requests from each queue are handled on that queue's worker
 * thread with positioned, vectored I/O straight between the image and guest
 * memory (no copy, except through an aligned bounce buffer for O_DIRECT).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include <glue/virtio.h>
#include <glue/virtio_blk.h>
#include <glue/virtq.h>

#include "core/err.h"
#include "core/util.h"
#include "virtio/worker.h"

#define SECTOR 512ULL
#define HDR_LEN 16 /* struct virtio_blk_outhdr */
/* Data segments a request may have: the queue's limit less header, status and
 * a few for buffers split at memory region edges. */
#define SEG_MAX (GLUE_VIRTQ_MAX_SEGS - 8)
/* Discard and write-zeroes: one range per request, up to 1 GiB. */
#define RANGE_MAX_SECTORS (1U << 21)
/* The bounce buffer for O_DIRECT, per queue; bigger requests go in pieces. */
#define BOUNCE_BYTES (1U << 20)
#define DIRECT_ALIGN 4096

/* Config space fields up to write_zeroes_may_unmap. */
#define CONFIG_SIZE offsetof(struct virtio_blk_config, unused1)

struct blk;

struct blk_queue {
	struct blk *blk;
	uint8_t *bounce; /* O_DIRECT only */
};

struct blk {
	int fd;
	uint32_t align; /* what I/O must be aligned to: the guest's block size */
	bool ro, direct, block_device;
	uint64_t sectors;
	char serial[GLUE_VIRTIO_BLK_SERIAL_MAX];
	size_t serial_len;
	uint16_t nqueues;
	struct virtio_blk_config config;
	struct glue_virtio_dev *vdev; /* while active */
	struct blk_queue q[GLUE_VIRTIO_BLK_MAX_QUEUES];
	struct vworker *workers[GLUE_VIRTIO_BLK_MAX_QUEUES]; /* one per queue */
};

/* Up to len bytes of iov[0..n) from offset off, as iovecs in out (room for n). */
static int iov_slice(const struct iovec *iov, int n, size_t off, size_t len, struct iovec *out)
{
	int k = 0;

	for (int i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = GLUE_MIN(l - off, len);
		len -= out[k].iov_len;
		off = 0;
		k++;
	}
	return k;
}

/* All of [pos, pos + len) through preadv/pwritev, retrying short transfers. */
static int rw_full(int fd, struct iovec *iov, int n, uint64_t pos, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n > IOV_MAX ? IOV_MAX : n, (off_t)pos)
				  : preadv(fd, iov, n > IOV_MAX ? IOV_MAX : n, (off_t)pos);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* the image shrank under us */
		pos += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* O_DIRECT: through the queue's aligned bounce buffer, a piece at a time. */
static int rw_bounce(struct blk_queue *bq, const struct glue_virtq_chain *c, bool write,
		     size_t data_off, size_t len, uint64_t pos)
{
	for (size_t done = 0; done < len;) {
		size_t n = GLUE_MIN(len - done, (size_t)BOUNCE_BYTES);
		struct iovec v = {bq->bounce, n};
		int r;

		if (write)
			glue_virtq_chain_read(c, data_off + done, bq->bounce, n);
		r = rw_full(bq->blk->fd, &v, 1, pos + done, write);
		if (r < 0)
			return r;
		if (!write)
			glue_virtq_chain_write(c, data_off + done, bq->bounce, n);
		done += n;
	}
	return 0;
}

static bool in_range(const struct blk *b, uint64_t sector, uint64_t nsectors)
{
	return sector <= b->sectors && nsectors <= b->sectors - sector;
}

static uint8_t do_rw(struct blk_queue *bq, const struct glue_virtq_chain *c, uint32_t type,
		     uint64_t sector, uint32_t *written)
{
	struct blk *b = bq->blk;
	bool write = type == VIRTIO_BLK_T_OUT;
	/* IN: every writable byte but the status; OUT: every readable byte after the header. */
	size_t len = write ? c->out_len - HDR_LEN : c->in_len - 1;
	struct iovec iov[GLUE_VIRTQ_MAX_SEGS];
	int n, r;

	if (write && b->ro)
		return VIRTIO_BLK_S_IOERR;
	if (len % SECTOR || !in_range(b, sector, len / SECTOR))
		return VIRTIO_BLK_S_IOERR;
	/* O_DIRECT on a 4K-native disk: the guest was told its block size */
	if ((sector * SECTOR) % b->align || len % b->align)
		return VIRTIO_BLK_S_IOERR;
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	if (b->direct) {
		r = rw_bounce(bq, c, write, write ? HDR_LEN : 0, len, sector * SECTOR);
	} else {
		if (write)
			n = iov_slice(c->iov, c->nout, HDR_LEN, len, iov);
		else
			n = iov_slice(c->iov + c->nout, c->nin, 0, len, iov);
		r = rw_full(b->fd, iov, n, sector * SECTOR, write);
	}
	if (r < 0)
		return VIRTIO_BLK_S_IOERR;
	/* Without the FLUSH feature the driver expects every write to be stable. */
	if (write && !(glue_virtio_dev_features(b->vdev) & (1ULL << VIRTIO_BLK_F_FLUSH)) &&
	    fdatasync(b->fd) < 0)
		return VIRTIO_BLK_S_IOERR;
	if (!write)
		*written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

static int zero_fill(struct blk *b, uint64_t pos, uint64_t len)
{
	static const uint8_t zeros[65536];

	while (len) {
		ssize_t r = pwrite(b->fd, zeros, GLUE_MIN(len, sizeof(zeros)), (off_t)pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		pos += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static uint8_t do_discard_zeroes(struct blk *b, const struct glue_virtq_chain *c, uint32_t type)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t pos, len;
	int r = 0;

	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	/* Exactly one range (max_*_seg is 1). */
	if (c->out_len - HDR_LEN != sizeof(seg) ||
	    glue_virtq_chain_read(c, HDR_LEN, &seg, sizeof(seg)) != sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	if (seg.num_sectors > RANGE_MAX_SECTORS || !in_range(b, seg.sector, seg.num_sectors))
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_DISCARD ? seg.flags != 0
					 : (seg.flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
		return VIRTIO_BLK_S_UNSUPP;
	pos = seg.sector * SECTOR;
	len = (uint64_t)seg.num_sectors * SECTOR;
	if (!len)
		return VIRTIO_BLK_S_OK;
	if (type == VIRTIO_BLK_T_DISCARD) {
		/* Advisory: a file system that cannot punch holes just keeps the data. */
		if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pos,
			      (off_t)len) < 0 &&
		    errno != EOPNOTSUPP)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	}
	if (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		r = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pos,
			      (off_t)len);
	else
		r = fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)pos,
			      (off_t)len);
	if (r < 0)
		r = zero_fill(b, pos, len);
	return r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* One request; returns the bytes written into the chain (status included). */
static uint32_t handle(struct blk_queue *bq, struct glue_virtq_chain *c)
{
	struct blk *b = bq->blk;
	struct virtio_blk_outhdr hdr;
	uint32_t written = 0;
	uint8_t status;

	/* No room for a header or a status byte: nothing can be answered. */
	if (c->out_len < HDR_LEN || c->in_len < 1 ||
	    glue_virtq_chain_read(c, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return 0;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		/* IN carries no data in readable buffers, OUT none in writable ones but the status.
		 */
		if ((hdr.type == VIRTIO_BLK_T_IN && c->out_len != HDR_LEN) ||
		    (hdr.type == VIRTIO_BLK_T_OUT && c->in_len != 1))
			status = VIRTIO_BLK_S_IOERR;
		else
			status = do_rw(bq, c, hdr.type, hdr.sector, &written);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = fdatasync(b->fd) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		written = (uint32_t)glue_virtq_chain_write(
			c, 0, b->serial, GLUE_MIN(b->serial_len, (size_t)c->in_len - 1));
		/* NUL-padded to the 20 bytes the driver reads, where there is room. */
		if (b->serial_len < GLUE_VIRTIO_BLK_SERIAL_MAX) {
			static const uint8_t pad[GLUE_VIRTIO_BLK_SERIAL_MAX];
			size_t room =
				GLUE_MIN((size_t)GLUE_VIRTIO_BLK_SERIAL_MAX, (size_t)c->in_len - 1);

			if (room > written)
				written += (uint32_t)glue_virtq_chain_write(c, written, pad,
									    room - written);
		}
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = do_discard_zeroes(b, c, hdr.type);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
	}
	/* The status is the last writable byte. */
	glue_virtq_chain_write(c, c->in_len - 1, &status, 1);
	return written + 1;
}

static uint32_t serve_chain(void *ctx, struct glue_virtq_chain *c)
{
	return handle(ctx, c);
}

static uint64_t serve(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue)
{
	static const struct vworker_drain_ops ops = {.chain = serve_chain};

	return vworker_drain(vdev, queue, &ops, ctx);
}

static void blk_config_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	struct blk *b = ctx;

	memcpy(data, (const uint8_t *)&b->config + off, len);
}

static int blk_activate(void *ctx, struct glue_virtio_dev *vdev)
{
	struct blk *b = ctx;

	b->vdev = vdev;
	vworkers_activate(b->workers, b->nqueues, vdev);
	return 0;
}

static void blk_reset(void *ctx)
{
	struct blk *b = ctx;

	vworkers_reset(b->workers, b->nqueues);
	b->vdev = NULL;
}

static void blk_pause(void *ctx)
{
	struct blk *b = ctx;

	vworkers_pause(b->workers, b->nqueues);
}

static void blk_resume(void *ctx)
{
	struct blk *b = ctx;

	vworkers_resume(b->workers, b->nqueues);
}

static void blk_free(void *ctx)
{
	struct blk *b = ctx;

	vworkers_free(b->workers, b->nqueues);
	for (uint16_t i = 0; i < b->nqueues; i++)
		free(b->q[i].bounce);
	if (b->fd >= 0)
		close(b->fd); /* drops the lock */
	free(b);
}

static const struct glue_virtio_device_ops blk_ops = {
	.config_read = blk_config_read,
	.activate = blk_activate,
	.reset = blk_reset,
	.pause = blk_pause,
	.resume = blk_resume,
	.free = blk_free,
};

/* Open, check and lock the image. */
/*
 * What O_DIRECT needs I/O aligned to on this disk: a block device's logical
 * block size, or what the file system says (STATX_DIOALIGN). The guest is
 * given it as its block size, so that a 4K-native disk works with
 * cache=none.
 */
static uint32_t direct_align(int fd, bool block_device)
{
	struct statx sx;
	int ss;

	if (block_device)
		return ioctl(fd, BLKSSZGET, &ss) == 0 && ss > 0 ? (uint32_t)ss : SECTOR;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align)
		return sx.stx_dio_offset_align;
	return SECTOR;
}

static int open_image(struct blk *b, const struct glue_virtio_blk_config *c)
{
	struct flock lk = {.l_type = c->readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
	int flags = (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	uint64_t bytes;
	struct stat st;

	if (b->direct)
		flags |= O_DIRECT;
	b->fd = open(c->path, flags);
	if (b->fd < 0 && errno == EINVAL && b->direct)
		return glue_err(-EINVAL, "disk '%s': cache=none (O_DIRECT) is not supported there",
				c->path);
	if (b->fd < 0)
		return glue_err_sys(-errno, "disk '%s'", c->path);
	if (fstat(b->fd, &st) < 0)
		return glue_err_sys(-errno, "disk '%s'", c->path);
	if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		b->block_device = true;
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0)
			return glue_err_sys(-errno, "disk '%s': size", c->path);
	} else {
		return glue_err(-EINVAL, "disk '%s' is not a file or a block device", c->path);
	}
	if (bytes == 0 || bytes % SECTOR)
		return glue_err(-EINVAL,
				"disk '%s': its size (%llu bytes) is not a positive multiple of "
				"512 bytes",
				c->path, (unsigned long long)bytes);
	b->sectors = bytes / SECTOR;
	b->align = SECTOR;
	if (b->direct) {
		/* finer than a sector is no constraint: requests are whole sectors */
		b->align = GLUE_MAX(direct_align(b->fd, b->block_device), (uint32_t)SECTOR);
		if (b->align > DIRECT_ALIGN || (b->align & (b->align - 1)) || bytes % b->align)
			return glue_err(
				-EINVAL,
				"disk '%s': cache=none needs %u-byte aligned I/O there, which "
				"glue cannot offer (512 to 4096 bytes, dividing the size)",
				c->path, b->align);
	}
	/* Whole file (l_len 0); an OFD lock lives with this open file. */
	if (fcntl(b->fd, F_OFD_SETLK, &lk) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return glue_err(-EBUSY,
					"disk '%s' is in use by another process (it holds a lock "
					"on it: another VM?)",
					c->path);
		return glue_err_sys(-errno, "disk '%s': lock", c->path);
	}
	return 0;
}

static void fill_config(struct blk *b)
{
	struct virtio_blk_config *k = &b->config;

	k->capacity = b->sectors;
	k->seg_max = SEG_MAX;
	k->blk_size = b->align;
	k->num_queues = b->nqueues;
	k->max_discard_sectors = RANGE_MAX_SECTORS;
	k->max_discard_seg = 1;
	k->discard_sector_alignment = 4096 / SECTOR;
	k->max_write_zeroes_sectors = RANGE_MAX_SECTORS;
	k->max_write_zeroes_seg = 1;
	k->write_zeroes_may_unmap = 1;
}

int glue_virtio_blk_new(struct glue_virtio_device *out, const struct glue_virtio_blk_config *cfg)
{
	struct glue_virtio_blk_config c;
	struct blk *b;
	uint64_t features;
	char name[24];
	int r;

	memset(out, 0, sizeof(*out));
	glue_virtio_blk_config_init(&c);
	if (!cfg || cfg->size < offsetof(struct glue_virtio_blk_config, cache))
		return glue_err(-EINVAL, "virtio-blk config: bad size (call "
					 "glue_virtio_blk_config_init)");
	memcpy(&c, cfg, GLUE_MIN((size_t)cfg->size, sizeof(c)));
	if (!c.path || !*c.path)
		return glue_err(-EINVAL, "virtio-blk: no disk image given");
	if (c.serial && strlen(c.serial) > GLUE_VIRTIO_BLK_SERIAL_MAX)
		return glue_err(-EINVAL, "disk '%s': serial '%s' is longer than %d bytes", c.path,
				c.serial, GLUE_VIRTIO_BLK_SERIAL_MAX);
	if (c.num_queues == 0 || c.num_queues > GLUE_VIRTIO_BLK_MAX_QUEUES)
		return glue_err(-EINVAL, "disk '%s': %u queues (1 to %d)", c.path, c.num_queues,
				GLUE_VIRTIO_BLK_MAX_QUEUES);
	if (!c.queue_size || c.queue_size > GLUE_VIRTQ_MAX_SIZE ||
	    (c.queue_size & (c.queue_size - 1)))
		return glue_err(-EINVAL, "disk '%s': queue size %u is not a power of two up to %u",
				c.path, c.queue_size, GLUE_VIRTQ_MAX_SIZE);
	if ((unsigned int)c.cache > GLUE_VIRTIO_BLK_CACHE_NONE)
		return glue_err(-EINVAL, "disk '%s': unknown cache mode %d", c.path, (int)c.cache);

	b = calloc(1, sizeof(*b));
	if (!b)
		return glue_err(-ENOMEM, "out of memory");
	b->fd = -1;
	b->ro = c.readonly;
	b->direct = c.cache == GLUE_VIRTIO_BLK_CACHE_NONE;
	if (c.serial) {
		b->serial_len = strlen(c.serial);
		memcpy(b->serial, c.serial, b->serial_len);
	}
	r = open_image(b, &c);
	if (r < 0) {
		if (b->fd >= 0)
			close(b->fd);
		free(b);
		return r;
	}
	b->nqueues = c.num_queues;
	fill_config(b);
	for (uint16_t i = 0; i < b->nqueues; i++) {
		b->q[i].blk = b;
		if (b->direct) {
			b->q[i].bounce = aligned_alloc(DIRECT_ALIGN, BOUNCE_BYTES);
			if (!b->q[i].bounce) {
				blk_free(b);
				return glue_err(-ENOMEM, "out of memory");
			}
		}
		snprintf(name, sizeof(name), "virtio-blk/%u", (unsigned int)i % 100);
		r = vworker_new(&b->workers[i], name, i, serve, &b->q[i]);
		if (r < 0) {
			free(b->q[i].bounce);
			b->nqueues = i; /* the ones started */
			blk_free(b);
			return r;
		}
	}

	features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		   (1ULL << VIRTIO_BLK_F_FLUSH);
	if (b->ro)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	if (b->nqueues > 1)
		features |= 1ULL << VIRTIO_BLK_F_MQ;
	out->ops = &blk_ops;
	out->ctx = b;
	out->name = "virtio-blk";
	out->device_id = VIRTIO_ID_BLOCK;
	out->features = features;
	out->num_queues = b->nqueues;
	out->queue_max_size = c.queue_size;
	out->config_size = CONFIG_SIZE;
	return 0;
}
