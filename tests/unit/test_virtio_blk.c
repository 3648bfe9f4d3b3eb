// SPDX-License-Identifier: MIT
/*
 * virtio-blk against a mock driver queue and a real image file: opening
 * checks and locks, every request type, and the requests a bad driver sends
 * (out of range, odd lengths, no status byte, writes to a read-only disk).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/virtio.h>
#include <glue/virtio_blk.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#include "virtio_driver.h"

#define MiB (1024ULL * 1024)
#define QBASE 0x10000ULL
#define HDR 0x80000ULL
#define STATUS 0x81000ULL
#define DATA 0x100000ULL
#define DISK_SECTORS 2048 /* 1 MiB */

static struct glue_mem *mem;
static struct glue_virtio_dev *v;
static struct glue_virtq_mock *mq;
static char path[64];

static void t_signal(void *tctx, uint16_t q)
{
}

static void t_config(void *tctx)
{
}

static const struct glue_virtio_transport_ops t_ops = {
	.signal_queue = t_signal,
	.signal_config = t_config,
};

/* A 1 MiB image whose sector i is filled with byte i & 0xff. */
static void make_image(void)
{
	uint8_t sector[512];
	int fd;

	snprintf(path, sizeof(path), "glue-blk-test-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < DISK_SECTORS; i++) {
		memset(sector, i & 0xff, sizeof(sector));
		cr_assert_eq(write(fd, sector, sizeof(sector)), (ssize_t)sizeof(sector));
	}
	close(fd);
}

static void start(bool ro, const char *serial)
{
	struct glue_virtio_blk_config cfg;
	struct glue_virtio_device d;
	glue_virtio_blk_config_init(&cfg);
	cfg.path = path;
	cfg.readonly = ro;
	cfg.serial = serial;
	cfg.queue_size = 16;
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), 0, "%s", glue_error_last());
	cr_assert_eq(d.device_id, VIRTIO_ID_BLOCK);
	cr_assert_eq(glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 16), 0);
	driver_bring_up(v, mq, 16, true);
}

static void setup(void)
{
	make_image();
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 4 * MiB, GLUE_MEM_RAM), 0);
}

static void teardown(void)
{
	glue_virtio_dev_free(v);
	glue_virtq_mock_free(mq);
	glue_mem_free(mem);
	unlink(path);
	v = NULL;
	mq = NULL;
	mem = NULL;
}

TestSuite(virtio_blk, .init = setup, .fini = teardown);

static void *host(uint64_t gpa, uint64_t len)
{
	void *p = glue_mem_ptr(mem, gpa, len);

	cr_assert_not_null(p);
	return p;
}

/* Send a request (header, then bufs, then the status byte); wait; return the status. */
static int request(uint32_t type, uint64_t sector, const struct glue_virtq_mock_buf *data,
		   size_t ndata, uint32_t *used_len)
{
	struct virtio_blk_outhdr hdr = {.type = type, .sector = sector};
	struct glue_virtq_mock_buf b[8];
	uint16_t head, id;
	uint32_t len;
	size_t n = 0;

	memcpy(host(HDR, sizeof(hdr)), &hdr, sizeof(hdr));
	*(uint8_t *)host(STATUS, 1) = 0xee;
	b[n++] = (struct glue_virtq_mock_buf){HDR, sizeof(hdr), false};
	for (size_t i = 0; i < ndata; i++)
		b[n++] = data[i];
	b[n++] = (struct glue_virtq_mock_buf){STATUS, 1, true};
	cr_assert_eq(glue_virtq_mock_add(mq, b, n, &head), 0, "%s", glue_error_last());
	glue_virtio_dev_notify(v, 0);
	for (int i = 0; i < 5000; i++) {
		if (glue_virtq_mock_take_used(mq, &id, &len) == 1) {
			cr_assert_eq(id, head);
			if (used_len)
				*used_len = len;
			return *(uint8_t *)host(STATUS, 1);
		}
		usleep(1000);
	}
	cr_assert_fail("no answer to request type %u", type);
	return -1;
}

static void file_read(off_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static uint64_t config_u64(uint32_t off)
{
	uint64_t x = 0;

	glue_virtio_dev_config_read(v, off, &x, 8);
	return x;
}

Test(virtio_blk, config_and_features)
{
	uint32_t f;

	start(false, NULL);
	cr_assert_eq(config_u64(offsetof(struct virtio_blk_config, capacity)), DISK_SECTORS);
	f = glue_virtio_dev_get_device_features(v, 0);
	cr_assert(f & (1u << VIRTIO_BLK_F_FLUSH));
	cr_assert(f & (1u << VIRTIO_BLK_F_DISCARD));
	cr_assert(f & (1u << VIRTIO_BLK_F_WRITE_ZEROES));
	cr_assert_not(f & (1u << VIRTIO_BLK_F_RO));
	cr_assert_not(f & (1u << VIRTIO_BLK_F_MQ));
	cr_assert(f & (1u << VIRTIO_BLK_F_BLK_SIZE));
	cr_assert_eq(config_u64(offsetof(struct virtio_blk_config, blk_size)) & 0xffffffff, 512,
		     "through the page cache any sector goes");
}

Test(virtio_blk, reads_what_the_image_holds)
{
	struct glue_virtq_mock_buf d[2] = {{DATA, 512, true}, {DATA + 0x10000, 1024, true}};
	uint8_t *p;
	uint32_t len;

	start(false, NULL);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 7, d, 2, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 1536 + 1);
	p = host(DATA, 512);
	for (int i = 0; i < 512; i++)
		cr_assert_eq(p[i], 7);
	p = host(DATA + 0x10000, 1024);
	cr_assert_eq(p[0], 8);
	cr_assert_eq(p[1023], 9);
}

Test(virtio_blk, writes_reach_the_image)
{
	struct glue_virtq_mock_buf d[2] = {{DATA, 512, false}, {DATA + 0x10000, 512, false}};
	uint8_t got[1024];

	start(false, NULL);
	memset(host(DATA, 512), 0xab, 512);
	memset(host(DATA + 0x10000, 512), 0xcd, 512);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 100, d, 2, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	file_read(100 * 512, got, sizeof(got));
	cr_assert_eq(got[0], 0xab);
	cr_assert_eq(got[511], 0xab);
	cr_assert_eq(got[512], 0xcd);
	cr_assert_eq(got[1023], 0xcd);
}

Test(virtio_blk, bad_requests_fail_and_touch_nothing)
{
	struct glue_virtq_mock_buf d = {DATA, 512, true};
	struct glue_virtq_mock_buf w = {DATA, 512, false};
	struct glue_virtq_mock_buf odd = {DATA, 100, true};
	uint8_t got[512], want[512];
	uint32_t len;

	start(false, NULL);
	/* past the end, right at it, and a sector number that would wrap */
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK_SECTORS, &d, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, DISK_SECTORS, &w, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, ~0ULL, &d, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, &d, 1, NULL), VIRTIO_BLK_S_OK);
	/* not a multiple of 512 */
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, &odd, 1, &len), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(len, 1);
	/* a read with device-readable data, a write with writable data */
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, &w, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 0, &d, 1, NULL), VIRTIO_BLK_S_IOERR);
	/* an unknown type, and SCSI commands */
	cr_assert_eq(request(0x1234, 0, NULL, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(request(VIRTIO_BLK_T_SCSI_CMD, 0, NULL, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	memset(want, 0, sizeof(want));
	file_read(0, got, 512);
	cr_assert_arr_eq(got, want, 512, "sector 0 changed");

	/* no status byte: nothing can be answered, the chain comes back empty */
	struct glue_virtq_mock_buf only_hdr = {HDR, 16, false};
	uint16_t head, id;
	cr_assert_eq(glue_virtq_mock_add(mq, &only_hdr, 1, &head), 0);
	glue_virtio_dev_notify(v, 0);
	for (int i = 0; i < 5000 && glue_virtq_mock_take_used(mq, &id, &len) != 1; i++)
		usleep(1000);
	cr_assert_eq(id, head);
	cr_assert_eq(len, 0);
	/* and it goes on */
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
}

Test(virtio_blk, a_read_only_disk_refuses_writes)
{
	struct glue_virtq_mock_buf w = {DATA, 512, false};
	struct virtio_blk_discard_write_zeroes seg = {.sector = 0, .num_sectors = 8};
	struct glue_virtq_mock_buf z = {DATA + 0x1000, sizeof(seg), false};
	uint8_t got[512];

	start(true, NULL);
	cr_assert(glue_virtio_dev_get_device_features(v, 0) & (1u << VIRTIO_BLK_F_RO));
	cr_assert_not(glue_virtio_dev_get_device_features(v, 0) & (1u << VIRTIO_BLK_F_DISCARD));
	memset(host(DATA, 512), 0x77, 512);
	memcpy(host(DATA + 0x1000, sizeof(seg)), &seg, sizeof(seg));
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 3, &w, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, &z, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_DISCARD, 0, &z, 1, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	file_read(3 * 512, got, 512);
	cr_assert_eq(got[0], 3);
	file_read(0, got, 512);
	cr_assert_eq(got[0], 0);
}

Test(virtio_blk, get_id_gives_the_serial)
{
	struct glue_virtq_mock_buf d = {DATA, 20, true};
	uint32_t len;

	start(false, "glue-disk-1");
	memset(host(DATA, 20), 0x55, 20);
	cr_assert_eq(request(VIRTIO_BLK_T_GET_ID, 0, &d, 1, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 21);
	cr_assert_arr_eq(host(DATA, 20), "glue-disk-1\0\0\0\0\0\0\0\0", 20);
}

Test(virtio_blk, write_zeroes_and_discard)
{
	struct virtio_blk_discard_write_zeroes seg = {.sector = 16, .num_sectors = 8};
	struct glue_virtq_mock_buf z = {DATA, sizeof(seg), false};
	uint8_t got[8 * 512], zero[8 * 512] = {0};

	start(false, NULL);
	memcpy(host(DATA, sizeof(seg)), &seg, sizeof(seg));
	cr_assert_eq(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, &z, 1, NULL), VIRTIO_BLK_S_OK);
	file_read(16 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, zero, sizeof(got));
	file_read(24 * 512, got, 1);
	cr_assert_eq(got[0], 24, "the next sector is untouched");

	seg.sector = 32;
	seg.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	memcpy(host(DATA, sizeof(seg)), &seg, sizeof(seg));
	cr_assert_eq(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, &z, 1, NULL), VIRTIO_BLK_S_OK);
	file_read(32 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, zero, sizeof(got));

	/* discard: the unmap flag is not for it; a range past the end fails */
	cr_assert_eq(request(VIRTIO_BLK_T_DISCARD, 0, &z, 1, NULL), VIRTIO_BLK_S_UNSUPP);
	seg.flags = 0;
	seg.sector = DISK_SECTORS - 4;
	memcpy(host(DATA, sizeof(seg)), &seg, sizeof(seg));
	cr_assert_eq(request(VIRTIO_BLK_T_DISCARD, 0, &z, 1, NULL), VIRTIO_BLK_S_IOERR);
	seg.sector = 64;
	memcpy(host(DATA, sizeof(seg)), &seg, sizeof(seg));
	cr_assert_eq(request(VIRTIO_BLK_T_DISCARD, 0, &z, 1, NULL), VIRTIO_BLK_S_OK);
	/* two ranges where one is allowed */
	z.len = 2 * sizeof(seg);
	cr_assert_eq(request(VIRTIO_BLK_T_DISCARD, 0, &z, 1, NULL), VIRTIO_BLK_S_IOERR);
}

Test(virtio_blk, bad_disks_are_refused_by_name)
{
	struct glue_virtio_blk_config cfg;
	struct glue_virtio_device d, d2;
	int fd;

	glue_virtio_blk_config_init(&cfg);
	cfg.path = "no-such-disk.img";
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), -ENOENT);
	cr_assert(strstr(glue_error_last(), "no-such-disk.img"), "%s", glue_error_last());

	cfg.path = ".";
	cr_assert_lt(glue_virtio_blk_new(&d, &cfg), 0, "a directory");

	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "x", 1), 1);
	close(fd);
	cfg.path = path;
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), -EINVAL);
	cr_assert(strstr(glue_error_last(), "multiple of 512"), "%s", glue_error_last());
	cr_assert_eq(truncate(path, 0), 0);
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), -EINVAL, "an empty image");
	cr_assert_eq(truncate(path, 4096), 0);

	cfg.serial = "123456789012345678901";
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), -EINVAL);
	cr_assert(strstr(glue_error_last(), "serial"), "%s", glue_error_last());
	cfg.serial = NULL;
	cfg.num_queues = 0;
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), -EINVAL);
	cfg.num_queues = 1;

	/* locks: a writer excludes everyone; readers share */
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtio_blk_new(&d2, &cfg), -EBUSY);
	cr_assert(strstr(glue_error_last(), "in use"), "%s", glue_error_last());
	cfg.readonly = true;
	cr_assert_eq(glue_virtio_blk_new(&d2, &cfg), -EBUSY);
	d.ops->free(d.ctx);
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtio_blk_new(&d2, &cfg), 0, "two readers: %s", glue_error_last());
	cfg.readonly = false;
	struct glue_virtio_device d3;
	cr_assert_eq(glue_virtio_blk_new(&d3, &cfg), -EBUSY, "a writer while read");
	d.ops->free(d.ctx);
	d2.ops->free(d2.ctx);
}

Test(virtio_blk, cache_none_goes_around_the_page_cache)
{
	struct glue_virtio_blk_config cfg;
	struct glue_virtio_device d;
	struct glue_virtq_mock_buf w = {DATA + 3, 4096, false}; /* unaligned in guest memory */
	struct glue_virtq_mock_buf rd = {DATA + 0x20001, 4096, true};
	uint8_t got[4096];
	uint32_t bs;

	glue_virtio_blk_config_init(&cfg);
	cfg.path = path;
	cfg.cache = GLUE_VIRTIO_BLK_CACHE_NONE;
	cfg.queue_size = 16;
	if (glue_virtio_blk_new(&d, &cfg) == -EINVAL)
		cr_skip_test("O_DIRECT not supported here: %s", glue_error_last());
	cr_assert_eq(glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL), 0);
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 16), 0);
	driver_bring_up(v, mq, 16, false);
	/* the guest's block size is what O_DIRECT needs here (512, or 4096 on a 4K-native disk) */
	bs = (uint32_t)config_u64(offsetof(struct virtio_blk_config, blk_size));
	cr_assert(bs == 512 || bs == 1024 || bs == 2048 || bs == 4096, "blk_size %u", bs);

	memset(host(DATA + 3, 4096), 0x42, 4096);
	/* without FLUSH negotiated every write is made stable before it completes */
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 8, &w, 1, NULL), VIRTIO_BLK_S_OK);
	file_read(8 * 512, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		cr_assert_eq(got[i], 0x42);
	rd.len = bs;
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 24, &rd, 1, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(((uint8_t *)host(DATA + 0x20001, 512))[511], 24);
	if (bs > 512) { /* a request the host could not do directly fails, not more */
		rd.len = 512;
		cr_assert_eq(request(VIRTIO_BLK_T_IN, 25, &rd, 1, NULL), VIRTIO_BLK_S_IOERR);
	}
}

Test(virtio_blk, several_queues_are_offered)
{
	struct glue_virtio_blk_config cfg;
	struct glue_virtio_device d;
	uint16_t nq = 0;

	glue_virtio_blk_config_init(&cfg);
	cfg.path = path;
	cfg.num_queues = 4;
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), 0, "%s", glue_error_last());
	cr_assert_eq(d.num_queues, 4);
	cr_assert(d.features & (1ULL << VIRTIO_BLK_F_MQ));
	cr_assert_eq(glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL), 0);
	glue_virtio_dev_config_read(v, offsetof(struct virtio_blk_config, num_queues), &nq, 2);
	cr_assert_eq(nq, 4);
	cfg.num_queues = 17;
	cr_assert_eq(glue_virtio_blk_new(&d, &cfg), -EINVAL);
}
