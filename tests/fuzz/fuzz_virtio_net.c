// SPDX-License-Identifier: MIT
/*
 * Fuzz target: virtio-net as a hostile driver drives it. Transmit chains of
 * 1-4 buffers of any length with any header (flags, segmentation, checksum
 * offsets), control commands of any class and length, receive buffers of
 * any size while the backend delivers frames of any length; on a backend
 * with or without a virtio-net header. Every chain must come back; what
 * reaches the backend must be a frame the header describes (checksum field
 * inside it, no num_buffers); nothing may crash or touch memory outside
 * the guest.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <glue/memory.h>
#include <glue/net.h>
#include <glue/virtio.h>
#include <glue/virtio_net.h>
#include <glue/virtq_mock.h>

#define KiB 1024ULL
#define MEM (512 * KiB)
#define QBASE(i) (384 * KiB + (uint64_t)(i) * 32 * KiB)
#define QSIZE 16
#define HDR 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void nop_queue(void *t, uint16_t q)
{
}

static void nop_config(void *t)
{
}

static const struct glue_virtio_transport_ops t_ops = {nop_queue, nop_config};

static int sp_send(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};

	return sendmsg(*(int *)ctx, &m, MSG_DONTWAIT) < 0 ? -errno : 0;
}

static ssize_t sp_recv(void *ctx, void *buf, size_t len)
{
	ssize_t r = recv(*(int *)ctx, buf, len, MSG_DONTWAIT);

	return r < 0 ? -errno : r;
}

static void sp_free(void *ctx)
{
	close(*(int *)ctx);
	free(ctx);
}

static const struct glue_net_backend_ops sp_ops = {.send = sp_send, .recv = sp_recv,
						   .free = sp_free};

static uint64_t take(const uint8_t **p, size_t *n, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t) * *p << (8 * i);
	return v;
}

/* A frame the device gave the backend must be one its header describes. */
static void check_sent(int peer, bool vnet_hdr)
{
	static uint8_t buf[HDR + GLUE_NET_MAX_FRAME];
	ssize_t n;

	while ((n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct virtio_net_hdr_v1 h;
		size_t len = (size_t)n - (vnet_hdr ? HDR : 0);

		if ((size_t)n < (vnet_hdr ? HDR : 0) + 14)
			__builtin_trap();
		if (!vnet_hdr)
			continue;
		memcpy(&h, buf, sizeof(h));
		if (h.num_buffers)
			__builtin_trap();
		if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    (size_t)h.csum_start + h.csum_offset + 2 > len)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct glue_virtio_net_config cfg;
	struct glue_virtq_mock *mq[3];
	struct glue_net_backend be = {0};
	struct glue_virtio_device d;
	struct glue_virtio_dev *v;
	struct glue_mem *mem;
	unsigned int sent[3] = {0}, got[3] = {0};
	int sv[2], *fd;
	bool vnet_hdr;

	if (size < 1)
		return 0;
	vnet_hdr = data[0] & 1;
	data++;
	size--;
	if (glue_mem_new(&mem) < 0 || glue_mem_add(mem, 0, MEM, GLUE_MEM_RAM) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fd = malloc(sizeof(*fd));
	if (!fd)
		abort();
	*fd = sv[0];
	be = (struct glue_net_backend){.ops = &sp_ops, .ctx = fd, .name = "fuzz", .fd = sv[0]};
	be.vnet_hdr = vnet_hdr;
	be.offloads = vnet_hdr ? GLUE_NET_OFFLOAD_CSUM | GLUE_NET_OFFLOAD_TSO4 |
					 GLUE_NET_OFFLOAD_TSO6 | GLUE_NET_OFFLOAD_TSO_ECN
			       : 0;
	glue_virtio_net_config_init(&cfg);
	cfg.backend = &be;
	memcpy(cfg.mac, "\x02\x00\x00\x00\x00\x01", 6);
	cfg.queue_size = QSIZE;
	if (glue_virtio_net_new(&d, &cfg) < 0 || glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL) < 0)
		abort();
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	/* The features to take: some of those offered, as a driver might. */
	glue_virtio_dev_set_driver_features(v, 0,
					    glue_virtio_dev_get_device_features(v, 0) &
						    (uint32_t)~take(&data, &size, 4));
	glue_virtio_dev_set_driver_features(v, 1, 1);
	glue_virtio_dev_set_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK);
	for (int i = 0; i < 3; i++) {
		struct glue_virtq_layout l;

		if (glue_virtq_mock_new(&mq[i], mem, QBASE(i), QSIZE) < 0)
			abort();
		glue_virtq_mock_layout(mq[i], &l);
		glue_virtio_dev_queue_select(v, (uint32_t)i);
		glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DESC, l.desc);
		glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DRIVER, l.avail);
		glue_virtio_dev_queue_set_addr(v, GLUE_VIRTIO_AREA_DEVICE, l.used);
		glue_virtio_dev_queue_set_enable(v, true);
	}
	glue_virtio_dev_set_status(v, glue_virtio_dev_get_status(v) | VIRTIO_CONFIG_S_DRIVER_OK);

	/* Up to 12 actions: a chain on a queue (its first buffer gets bytes of
	 * the input, e.g. a header), or a frame from the backend. */
	for (int a = 0; size && a < 12; a++) {
		uint8_t op = (uint8_t)take(&data, &size, 1);
		unsigned int q = op % 4, n = 1 + (op >> 2) % 4;
		struct glue_virtq_mock_buf b[4];
		uint8_t fill[64] = {0};

		if (q == 3) {
			/* a frame of any length (the device may drop it) */
			static uint8_t frame[HDR + 9000];
			size_t len = (size_t)take(&data, &size, 2) % sizeof(frame);

			for (size_t i = 0; i < 24 && size; i++)
				frame[i] = (uint8_t)take(&data, &size, 1);
			if (!(op & 0x80)) /* mostly broadcast: past the receive filter */
				memset(frame + (vnet_hdr ? HDR : 0), 0xff, 6);
			if (send(sv[1], frame, len ? len : 1, MSG_DONTWAIT) < 0) {
				/* full: the device is not reading; fine */
			}
			glue_virtio_dev_notify(v, 0);
			continue;
		}
		for (unsigned int i = 0; i < n; i++) {
			uint64_t where = take(&data, &size, 2);
			uint8_t flags = (uint8_t)take(&data, &size, 1);

			b[i].len = (uint32_t)(take(&data, &size, 2) % (16 * KiB));
			/* below the rings, or across the end of RAM */
			b[i].gpa = flags & 2 ? MEM - 64 + where % 128
					     : (where * 8) % (QBASE(0) - 16 * KiB);
			b[i].write = q == 0 ? !(flags & 4) : (q == 2 && i == n - 1) || (flags & 4);
			if (!b[i].len)
				b[i].len = 1;
		}
		for (size_t i = 0; i < sizeof(fill) && size; i++)
			fill[i] = (uint8_t)take(&data, &size, 1);
		glue_mem_write(mem, b[0].gpa, fill, b[0].len < sizeof(fill) ? b[0].len : sizeof(fill));
		if (glue_virtq_mock_add(mq[q], b, n, NULL) < 0)
			continue;
		sent[q]++;
		glue_virtio_dev_notify(v, q);
	}
	/* Transmit and control chains all come back; receive ones may wait for frames. */
	for (int wait = 0; (got[1] < sent[1] || got[2] < sent[2]) && wait < 20000; wait++) {
		uint16_t id;
		uint32_t len;
		bool any = false;

		for (int q = 0; q < 3; q++)
			if (glue_virtq_mock_take_used(mq[q], &id, &len) == 1) {
				got[q]++;
				any = true;
			}
		if (!any)
			usleep(100);
	}
	if ((got[1] != sent[1] || got[2] != sent[2]) &&
	    !(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET))
		__builtin_trap();
	check_sent(sv[1], vnet_hdr);
	glue_virtio_dev_free(v);
	for (int i = 0; i < 3; i++)
		glue_virtq_mock_free(mq[i]);
	close(sv[1]);
	glue_mem_free(mem);
	return 0;
}
