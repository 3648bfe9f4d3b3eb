// SPDX-License-Identifier: MIT
/*
 * Fuzz target: virtio-blk requests as a hostile driver makes them, chains of
 * 1-4 buffers of any length and direction, headers with any type and sector,
 * against a 64 KiB image. Every request must be answered (or given back
 * empty), and nothing may crash, hang or touch memory outside the guest.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include <glue/memory.h>
#include <glue/virtio.h>
#include <glue/virtio_blk.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#define KiB 1024ULL
#define MEM (256 * KiB)
#define QBASE (192 * KiB)
#define QSIZE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void nop_queue(void *t, uint16_t q)
{
}

static void nop_config(void *t)
{
}

static const struct glue_virtio_transport_ops t_ops = {nop_queue, nop_config};

static const uint32_t types[] = {
	VIRTIO_BLK_T_IN,	   VIRTIO_BLK_T_OUT,	 VIRTIO_BLK_T_FLUSH,
	VIRTIO_BLK_T_GET_ID,	   VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES,
	VIRTIO_BLK_T_SECURE_ERASE, 0xffffffffu,
};

static const char *image(void)
{
	static char path[64];

	if (!path[0]) {
		int fd = memfd_create("fuzz-disk", 0);

		if (fd < 0 || ftruncate(fd, 64 * KiB) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	return path;
}

static uint64_t take(const uint8_t **p, size_t *n, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t) * *p << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct glue_virtio_blk_config cfg;
	struct glue_virtio_device d;
	struct glue_virtq_layout l;
	struct glue_virtio_dev *v;
	struct glue_virtq_mock *m;
	struct glue_mem *mem;
	unsigned int sent = 0, got = 0;
	bool ro;

	if (size < 1)
		return 0;
	ro = data[0] & 1;
	data++;
	size--;
	if (glue_mem_new(&mem) < 0 || glue_mem_add(mem, 0, MEM, GLUE_MEM_RAM) < 0)
		abort();
	glue_virtio_blk_config_init(&cfg);
	cfg.path = image();
	cfg.readonly = ro;
	cfg.serial = "fuzz";
	cfg.queue_size = QSIZE;
	if (glue_virtio_blk_new(&d, &cfg) < 0 ||
	    glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL) < 0 ||
	    glue_virtq_mock_new(&m, mem, QBASE, QSIZE) < 0)
		abort();
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	glue_virtio_dev_set_driver_features(v, 0, glue_virtio_dev_get_device_features(v, 0));
	glue_virtio_dev_set_driver_features(v, 1, 1);
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK);
	glue_virtq_mock_layout(m, &l);
	glue_virtio_dev_queue_select(v, 0);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, l.desc);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DRIVER, l.avail);
	glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DEVICE, l.used);
	glue_virtio_dev_queue_set_enable(v, true);
	glue_virtio_dev_set_status(v, glue_virtio_dev_get_status(v) | VIRTIO_CONFIG_S_DRIVER_OK);

	/* Up to 8 requests: buffers, then the header at the first one. */
	while (size && sent < 8) {
		struct glue_virtq_mock_buf b[4];
		struct virtio_blk_outhdr hdr;
		unsigned int n = 1 + (unsigned int)take(&data, &size, 1) % 4;
		uint16_t head;

		for (unsigned int i = 0; i < n; i++) {
			/* Below the queue, up to 16 KiB: the rings stay the mock's, so
			 * every request can be counted back. Or across the end of RAM. */
			uint64_t where = take(&data, &size, 2);
			uint8_t flags = (uint8_t)take(&data, &size, 1);

			b[i].len = (uint32_t)(take(&data, &size, 2) % (16 * KiB));
			b[i].gpa = flags & 2 ? MEM - 64 + where % 128
					     : (where * 8) % (QBASE - 16 * KiB);
			b[i].write = flags & 1;
			if (!b[i].len)
				b[i].len = 1;
		}
		hdr.type = types[take(&data, &size, 1) % (sizeof(types) / sizeof(types[0]))];
		hdr.ioprio = 0;
		hdr.sector = take(&data, &size, 1) & 0x80 ? take(&data, &size, 8)
							  : take(&data, &size, 1);
		glue_mem_write(mem, b[0].gpa, &hdr, sizeof(hdr));
		if (glue_virtq_mock_add(m, b, n, &head) < 0)
			break;
		sent++;
	}
	glue_virtio_dev_notify(v, 0);
	/* Every request comes back: answered, or empty when it was malformed. */
	for (int wait = 0; got < sent && wait < 20000; wait++) {
		uint16_t id;
		uint32_t len;

		if (glue_virtq_mock_take_used(m, &id, &len) == 1)
			got++;
		else
			usleep(100);
	}
	if (got != sent && !(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET))
		__builtin_trap();
	glue_virtio_dev_free(v);
	glue_virtq_mock_free(m);
	glue_mem_free(mem);
	return 0;
}
