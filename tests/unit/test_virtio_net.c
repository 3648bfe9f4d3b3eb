// SPDX-License-Identifier: MIT
/*
 * virtio-net against a mock driver (receive, transmit and control queues)
 * and a backend made of a socketpair, whose other end the test holds: what
 * the guest sends comes out there, what the test writes there reaches the
 * guest's buffers. And what a bad driver sends: short chains, headers with
 * offloads it never negotiated, offsets past the frame.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/net.h>
#include <glue/virtio.h>
#include <glue/virtio_net.h>
#include <glue/virtq_mock.h>

#include "virtio_driver.h"

#define MiB (1024ULL * 1024)
#define QSIZE 16
#define QBASE(i) (0x10000ULL + (uint64_t)(i)*0x10000)
#define BUF 0x100000ULL /* the driver's buffers from here */
#define HDR sizeof(struct virtio_net_hdr_v1)

static struct glue_mem *mem;
static struct glue_virtio_dev *v;
static struct glue_virtq_mock *mq[3];
static int peer = -1;	 /* the test's end of the backend */
static int dev_end = -1; /* the device's end */
static int config_signals;

static const uint8_t MAC[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t OTHER[6] = {0x02, 0x99, 0x99, 0x99, 0x99, 0x99};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- the socketpair backend ---- */

struct sp {
	int fd;
	unsigned int offloads_set;
};

static int sp_send(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct sp *s = ctx;
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};

	return sendmsg(s->fd, &m, MSG_DONTWAIT) < 0 ? -errno : 0;
}

static ssize_t sp_recv(void *ctx, void *buf, size_t len)
{
	struct sp *s = ctx;
	ssize_t r = recv(s->fd, buf, len, MSG_DONTWAIT);

	return r < 0 ? -errno : r;
}

static int sp_set_offloads(void *ctx, unsigned int off)
{
	((struct sp *)ctx)->offloads_set = off;
	return 0;
}

static void sp_free(void *ctx)
{
	struct sp *s = ctx;

	close(s->fd);
	free(s);
}

static const struct glue_net_backend_ops sp_ops = {
	.send = sp_send,
	.recv = sp_recv,
	.set_offloads = sp_set_offloads,
	.free = sp_free,
};

static void t_signal(void *tctx, uint16_t q)
{
}

static void t_config(void *tctx)
{
	__atomic_fetch_add(&config_signals, 1, __ATOMIC_SEQ_CST);
}

static const struct glue_virtio_transport_ops t_ops = {
	.signal_queue = t_signal,
	.signal_config = t_config,
};

/* A device on a fresh backend: vnet_hdr with offloads, or plain frames. */
static void make(bool vnet_hdr, unsigned int offloads)
{
	struct glue_virtio_net_config cfg;
	struct glue_net_backend be = {0};
	struct glue_virtio_device d;
	struct sp *s = calloc(1, sizeof(*s));
	int sv[2];

	cr_assert_not_null(s);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	s->fd = dev_end = sv[0];
	peer = sv[1];
	be.ops = &sp_ops;
	be.ctx = s;
	be.name = "socketpair";
	be.fd = sv[0];
	be.vnet_hdr = vnet_hdr;
	be.offloads = offloads;
	glue_virtio_net_config_init(&cfg);
	cfg.backend = &be;
	memcpy(cfg.mac, MAC, 6);
	cfg.queue_size = QSIZE;
	cr_assert_eq(glue_virtio_net_new(&d, &cfg), 0, "%s", glue_error_last());
	cr_assert_null(be.ops, "the device took the backend");
	cr_assert_eq(d.device_id, VIRTIO_ID_NET);
	cr_assert_eq(d.num_queues, 3);
	cr_assert_eq(glue_virtio_dev_new(&v, &d, mem, &t_ops, NULL), 0, "%s", glue_error_last());
}

static void up(uint32_t features0)
{
	for (int i = 0; i < 3; i++)
		cr_assert_eq(glue_virtq_mock_new(&mq[i], mem, QBASE(i), QSIZE), 0);
	driver_bring_up_queues(v, mq, 3, QSIZE, features0);
}

static void setup(void)
{
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 4 * MiB, GLUE_MEM_RAM), 0);
	config_signals = 0;
}

static void teardown(void)
{
	glue_virtio_dev_free(v);
	for (int i = 0; i < 3; i++) {
		glue_virtq_mock_free(mq[i]);
		mq[i] = NULL;
	}
	if (peer >= 0)
		close(peer);
	glue_mem_free(mem);
	v = NULL;
	mem = NULL;
	peer = -1;
}

TestSuite(virtio_net, .init = setup, .fini = teardown);

static void *host(uint64_t gpa, uint64_t len)
{
	void *p = glue_mem_ptr(mem, gpa, len);

	cr_assert_not_null(p);
	return p;
}

static const struct glue_virtio_device *device(void)
{
	return glue_virtio_dev_device(v);
}

static struct glue_virtio_net_stats stats(void)
{
	struct glue_virtio_net_stats s;

	cr_assert_eq(glue_virtio_net_stats(device(), &s), 0);
	return s;
}

/* An Ethernet frame of len bytes to dst, payload byte i = seed + i. */
static size_t frame(uint8_t *out, const uint8_t *dst, size_t len, uint8_t seed)
{
	memcpy(out, dst, 6);
	memcpy(out + 6, OTHER, 6);
	out[12] = 0x08;
	out[13] = 0x00;
	for (size_t i = 14; i < len; i++)
		out[i] = (uint8_t)(seed + i);
	return len;
}

/* Wait for a used element of queue q: 1, or 0 after a second. */
static int wait_used(int q, uint16_t *id, uint32_t *len)
{
	for (int i = 0; i < 1000; i++) {
		if (glue_virtq_mock_take_used(mq[q], id, len) == 1)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* What came out of the backend within timeout_ms: its length, or -1. */
static ssize_t peer_read(void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = {.fd = peer, .events = POLLIN};

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return recv(peer, buf, len, 0);
}

/* The guest transmits hdr + data (in two buffers); wait until the device used it. */
static void guest_send(const struct virtio_net_hdr_v1 *h, const void *data, size_t len)
{
	struct glue_virtq_mock_buf b[2] = {{BUF, HDR, false}, {BUF + 0x1000, (uint32_t)len, false}};
	uint16_t head, id;
	uint32_t used;

	memcpy(host(BUF, HDR), h, HDR);
	memcpy(host(BUF + 0x1000, len), data, len);
	cr_assert_eq(glue_virtq_mock_add(mq[1], b, len ? 2 : 1, &head), 0);
	glue_virtio_dev_notify(v, 1);
	cr_assert_eq(wait_used(1, &id, &used), 1, "the transmit buffer came back");
	cr_assert_eq(id, head);
}

/* Give the device n receive buffers of size each, at BUF + 0x10000 + i * 0x1000. */
static void guest_rx_buffers(unsigned int n, uint32_t size, uint16_t *heads)
{
	for (unsigned int i = 0; i < n; i++) {
		struct glue_virtq_mock_buf b = {BUF + 0x10000 + i * 0x1000ULL, size, true};

		memset(host(b.gpa, size), 0xee, size);
		cr_assert_eq(glue_virtq_mock_add(mq[0], &b, 1, heads ? &heads[i] : NULL), 0);
	}
	glue_virtio_dev_notify(v, 0);
}

static uint8_t ctrl(uint8_t class, uint8_t cmd, const void *data, size_t len)
{
	struct glue_virtq_mock_buf b[3] = {{BUF + 0x20000, 2, false},
					   {BUF + 0x20100, (uint32_t)len, false},
					   {BUF + 0x21000, 1, true}};
	uint8_t *hdr = host(BUF + 0x20000, 2);
	uint16_t id;
	uint32_t used;

	hdr[0] = class;
	hdr[1] = cmd;
	memcpy(host(BUF + 0x20100, len ? len : 1), data, len);
	*(uint8_t *)host(BUF + 0x21000, 1) = 0xee;
	if (len)
		cr_assert_eq(glue_virtq_mock_add(mq[2], b, 3, NULL), 0);
	else
		cr_assert_eq(glue_virtq_mock_add(mq[2], (struct glue_virtq_mock_buf[]){b[0], b[2]},
						 2, NULL),
			     0);
	glue_virtio_dev_notify(v, 2);
	cr_assert_eq(wait_used(2, &id, &used), 1, "the control command came back");
	cr_assert_eq(used, 1);
	return *(uint8_t *)host(BUF + 0x21000, 1);
}

Test(virtio_net, config_space_and_features)
{
	uint8_t mac[6];
	uint16_t status;

	make(false, 0);
	up(~0u);
	glue_virtio_dev_config_read(v, 0, mac, 6);
	cr_assert_arr_eq(mac, MAC, 6);
	glue_virtio_dev_config_read(v, 6, &status, 2);
	cr_assert_eq(status & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	uint32_t f = glue_virtio_dev_get_device_features(v, 0);

	cr_assert(f & (1u << VIRTIO_NET_F_MAC));
	cr_assert(f & (1u << VIRTIO_NET_F_STATUS));
	cr_assert(f & (1u << VIRTIO_NET_F_MRG_RXBUF));
	cr_assert(f & (1u << VIRTIO_NET_F_CTRL_VQ));
	/* a backend without a virtio-net header gets no offloads */
	cr_assert_eq(f & (1u << VIRTIO_NET_F_CSUM | 1u << VIRTIO_NET_F_HOST_TSO4 |
			  1u << VIRTIO_NET_F_GUEST_CSUM),
		     0);
}

Test(virtio_net, offloads_follow_the_backend)
{
	make(true, GLUE_NET_OFFLOAD_CSUM | GLUE_NET_OFFLOAD_TSO4);
	uint32_t f = glue_virtio_dev_get_device_features(v, 0);

	cr_assert(f & (1u << VIRTIO_NET_F_CSUM));
	cr_assert(f & (1u << VIRTIO_NET_F_GUEST_CSUM));
	cr_assert(f & (1u << VIRTIO_NET_F_HOST_TSO4));
	cr_assert(f & (1u << VIRTIO_NET_F_GUEST_TSO4));
	cr_assert_eq(f & (1u << VIRTIO_NET_F_HOST_TSO6), 0, "the backend cannot take TSO6");
}

Test(virtio_net, bad_configs_are_refused)
{
	struct glue_virtio_net_config cfg;
	struct glue_virtio_device d;

	glue_virtio_net_config_init(&cfg);
	cr_assert_eq(glue_virtio_net_new(&d, &cfg), -EINVAL, "no backend");
	cr_assert_str_neq(glue_error_last(), "");
	cr_assert_eq(glue_virtio_net_new(&d, NULL), -EINVAL);

	/* a multicast MAC: refused, and the backend is freed (its fd closed) */
	int sv[2];
	struct sp *s = calloc(1, sizeof(*s));
	struct glue_net_backend be = {.ops = &sp_ops, .ctx = s, .name = "socketpair"};

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	s->fd = be.fd = sv[0];
	cfg.backend = &be;
	memcpy(cfg.mac, BCAST, 6);
	cr_assert_eq(glue_virtio_net_new(&d, &cfg), -EINVAL);
	cr_assert(strstr(glue_error_last(), "unicast"), "%s", glue_error_last());
	cr_assert_null(be.ops);
	char c;
	cr_assert_eq(recv(sv[1], &c, 1, MSG_DONTWAIT), 0, "the device closed its end");
	close(sv[1]);
}

Test(virtio_net, transmit_reaches_the_backend)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t f[1514], got[2048];

	make(false, 0);
	up(~0u);
	frame(f, OTHER, sizeof(f), 7);
	guest_send(&h, f, sizeof(f));
	cr_assert_eq(peer_read(got, sizeof(got), 1000), (ssize_t)sizeof(f),
		     "a plain backend gets the frame without the header");
	cr_assert_arr_eq(got, f, sizeof(f));
	struct glue_virtio_net_stats s = stats();

	cr_assert_eq(s.tx_frames, 1);
	cr_assert_eq(s.tx_bytes, sizeof(f));
	cr_assert_eq(s.tx_bad, 0);
}

Test(virtio_net, malformed_transmits_are_dropped_and_counted)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t f[200], got[2048];

	make(false, 0);
	up(~0u);
	frame(f, OTHER, sizeof(f), 1);
	/* shorter than an Ethernet header */
	guest_send(&h, f, 10);
	/* only the header */
	guest_send(&h, f, 0);
	/* a checksum offload this backend never offered */
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 6;
	guest_send(&h, f, sizeof(f));
	/* segmentation without the feature */
	h.flags = 0;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	guest_send(&h, f, sizeof(f));
	/* unknown flags */
	h.gso_type = 0;
	h.flags = 0x80;
	guest_send(&h, f, sizeof(f));
	cr_assert_eq(peer_read(got, sizeof(got), 100), -1, "nothing malformed went out");
	struct glue_virtio_net_stats s = stats();

	cr_assert_eq(s.tx_bad, 5);
	cr_assert_eq(s.tx_frames, 0);
	/* and the device still works */
	h.flags = 0;
	guest_send(&h, f, sizeof(f));
	cr_assert_eq(peer_read(got, sizeof(got), 1000), (ssize_t)sizeof(f));
	cr_assert_eq(glue_virtio_dev_get_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

Test(virtio_net, offload_headers_are_checked_against_the_frame)
{
	struct virtio_net_hdr_v1 h = {0}, gh;
	uint8_t f[200], got[2048];

	make(true, GLUE_NET_OFFLOAD_CSUM | GLUE_NET_OFFLOAD_TSO4);
	up(~0u);
	frame(f, OTHER, sizeof(f), 3);
	/* checksum field past the frame's end */
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 190;
	h.csum_offset = 16;
	guest_send(&h, f, sizeof(f));
	/* TSO with gso_size 0 */
	h.csum_start = 34;
	h.csum_offset = 16;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 0;
	h.hdr_len = 54;
	guest_send(&h, f, sizeof(f));
	/* TSO6, which was not offered */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	h.gso_size = 1448;
	guest_send(&h, f, sizeof(f));
	cr_assert_eq(peer_read(got, sizeof(got), 100), -1);
	cr_assert_eq(stats().tx_bad, 3);
	/* a good TSO4 frame goes out with its header */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.num_buffers = 0x7777; /* not the guest's to pass on */
	guest_send(&h, f, sizeof(f));
	cr_assert_eq(peer_read(got, sizeof(got), 1000), (ssize_t)(HDR + sizeof(f)));
	memcpy(&gh, got, HDR);
	cr_assert_eq(gh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	cr_assert_eq(gh.gso_size, 1448);
	cr_assert_eq(gh.csum_start, 34);
	cr_assert_eq(gh.num_buffers, 0);
	cr_assert_arr_eq(got + HDR, f, sizeof(f));
}

Test(virtio_net, receive_into_one_buffer)
{
	uint8_t f[100];
	uint16_t heads[1], id;
	uint32_t len;

	make(false, 0);
	up(~0u);
	guest_rx_buffers(1, 2048, heads);
	frame(f, MAC, sizeof(f), 9);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(id, heads[0]);
	cr_assert_eq(len, HDR + sizeof(f));
	struct virtio_net_hdr_v1 *h = host(BUF + 0x10000, HDR);

	cr_assert_eq(h->num_buffers, 1);
	cr_assert_eq(h->flags, 0);
	cr_assert_eq(h->gso_type, 0);
	cr_assert_arr_eq((uint8_t *)h + HDR, f, sizeof(f));
	cr_assert_eq(stats().rx_frames, 1);
}

Test(virtio_net, mergeable_buffers_take_a_frame_in_pieces)
{
	uint8_t f[1000], got[1000];
	uint16_t heads[4], id;
	uint32_t len, total = 0;

	make(false, 0);
	up(~0u);
	guest_rx_buffers(4, 300, heads);
	frame(f, MAC, sizeof(f), 5);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	/* 12 + 1000 bytes: four buffers of 300 */
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(wait_used(0, &id, &len), 1, "buffer %d", i);
		cr_assert_eq(id, heads[i]);
		total += len;
	}
	cr_assert_eq(total, HDR + sizeof(f));
	cr_assert_eq(((struct virtio_net_hdr_v1 *)host(BUF + 0x10000, HDR))->num_buffers, 4);
	/* the frame, put back together */
	size_t off = 0;

	for (int i = 0; i < 4; i++) {
		uint8_t *b = host(BUF + 0x10000 + i * 0x1000, 300);
		size_t skip = i ? 0 : HDR, n = 300 - skip;

		if (n > sizeof(f) - off)
			n = sizeof(f) - off;

		memcpy(got + off, b + skip, n);
		off += n;
	}
	cr_assert_arr_eq(got, f, sizeof(f));
}

Test(virtio_net, without_mergeable_buffers_a_long_frame_is_dropped)
{
	uint8_t f[400];
	uint16_t heads[1], id;
	uint32_t len;

	make(false, 0);
	up(~(1u << VIRTIO_NET_F_MRG_RXBUF));
	guest_rx_buffers(1, 256, heads);
	frame(f, MAC, sizeof(f), 5);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	frame(f, MAC, 60, 6);
	cr_assert_eq(send(peer, f, 60, 0), 60);
	/* the long one is dropped; the short one takes the buffer */
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(id, heads[0]);
	cr_assert_eq(len, HDR + 60);
	cr_assert_arr_eq((uint8_t *)host(BUF + 0x10000, HDR + 60) + HDR, f, 60);
	cr_assert_eq(stats().rx_dropped, 1);
}

Test(virtio_net, receive_waits_for_buffers)
{
	uint8_t f[80];
	uint16_t id;
	uint32_t len;

	make(false, 0);
	up(~0u);
	frame(f, MAC, sizeof(f), 2);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	usleep(50000);
	cr_assert_eq(glue_virtq_mock_take_used(mq[0], &id, &len), 0);
	/* buffers come later (with the kick): the frame waited */
	guest_rx_buffers(2, 2048, NULL);
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(len, HDR + sizeof(f));
	cr_assert_eq(stats().rx_dropped, 0);
}

Test(virtio_net, tiny_first_buffer_is_given_back_unused)
{
	uint8_t f[80];
	uint16_t heads[2], id;
	uint32_t len;

	make(false, 0);
	up(~0u);
	/* a buffer shorter than the header cannot start a frame */
	struct glue_virtq_mock_buf b = {BUF + 0x10000, 4, true};

	cr_assert_eq(glue_virtq_mock_add(mq[0], &b, 1, &heads[0]), 0);
	b = (struct glue_virtq_mock_buf){BUF + 0x11000, 2048, true};
	cr_assert_eq(glue_virtq_mock_add(mq[0], &b, 1, &heads[1]), 0);
	glue_virtio_dev_notify(v, 0);
	frame(f, MAC, sizeof(f), 2);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(id, heads[0]);
	cr_assert_eq(len, 0);
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(id, heads[1]);
	cr_assert_eq(len, HDR + sizeof(f));
}

Test(virtio_net, receive_filter_from_the_control_queue)
{
	uint8_t f[64], off = 0, on = 1;
	uint16_t id;
	uint32_t len;

	make(false, 0);
	up(~0u);
	guest_rx_buffers(8, 2048, NULL);
	/* promiscuous until the driver says otherwise */
	frame(f, OTHER, sizeof(f), 1);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	cr_assert_eq(wait_used(0, &id, &len), 1);

	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1), VIRTIO_NET_OK);
	/* empty unicast and multicast tables */
	uint8_t tables[8] = {0};

	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables, 8),
		     VIRTIO_NET_OK);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f)); /* to OTHER: filtered */
	frame(f, MAC, sizeof(f), 2);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f)); /* to us */
	frame(f, BCAST, sizeof(f), 3);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f)); /* broadcast */
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(((uint8_t *)host(BUF + 0x10000 + id * 0x1000ULL, HDR + 1))[HDR + 5], MAC[5]);
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(((uint8_t *)host(BUF + 0x10000 + id * 0x1000ULL, HDR + 1))[HDR], 0xff);
	cr_assert_eq(stats().rx_filtered, 1);

	/* OTHER in the unicast table: it passes */
	uint8_t t2[4 + 6 + 4] = {1, 0, 0, 0};

	memcpy(t2 + 4, OTHER, 6);
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t2, sizeof(t2)),
		     VIRTIO_NET_OK);
	frame(f, OTHER, sizeof(f), 4);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	cr_assert_eq(wait_used(0, &id, &len), 1);

	/* no broadcast */
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, &on, 1), VIRTIO_NET_OK);
	frame(f, BCAST, sizeof(f), 5);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	usleep(50000);
	cr_assert_eq(glue_virtq_mock_take_used(mq[0], &id, &len), 0);
	cr_assert_eq(stats().rx_filtered, 2);
}

Test(virtio_net, bad_control_commands_get_an_error)
{
	uint8_t data[16] = {0};

	make(false, 0);
	up(~0u);
	cr_assert_eq(ctrl(0x77, 0, data, 1), VIRTIO_NET_ERR, "unknown class");
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_RX, 0x55, data, 1), VIRTIO_NET_ERR, "unknown command");
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, data, 0), VIRTIO_NET_ERR,
		     "no argument");
	/* a table claiming more entries than the command carries */
	uint8_t t[8] = {0xff, 0xff, 0xff, 0x0f};

	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t, sizeof(t)),
		     VIRTIO_NET_ERR);
	/* a multicast address as the NIC's own */
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, BCAST, 6),
		     VIRTIO_NET_ERR);
	/* a good one */
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, OTHER, 6),
		     VIRTIO_NET_OK);
	uint8_t mac[6];

	glue_virtio_dev_config_read(v, 0, mac, 6);
	cr_assert_arr_eq(mac, OTHER, 6);
}

Test(virtio_net, link_changes_reach_the_driver)
{
	uint16_t status;

	make(false, 0);
	up(~0u);
	cr_assert_eq(glue_virtio_net_set_link(device(), false), 0);
	glue_virtio_dev_config_read(v, 6, &status, 2);
	cr_assert_eq(status & VIRTIO_NET_S_LINK_UP, 0);
	cr_assert_geq(config_signals, 1, "a configuration interrupt for the change");
	cr_assert_eq(glue_virtio_net_set_link(device(), true), 0);
	glue_virtio_dev_config_read(v, 6, &status, 2);
	cr_assert_eq(status & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	cr_assert_geq(config_signals, 2);

	/* announce: the bit is set until the driver acks it */
	cr_assert_eq(glue_virtio_net_announce(device()), 0);
	glue_virtio_dev_config_read(v, 6, &status, 2);
	cr_assert_eq(status & VIRTIO_NET_S_ANNOUNCE, VIRTIO_NET_S_ANNOUNCE);
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
		     VIRTIO_NET_OK);
	glue_virtio_dev_config_read(v, 6, &status, 2);
	cr_assert_eq(status & VIRTIO_NET_S_ANNOUNCE, 0);
}

Test(virtio_net, reset_and_again)
{
	uint8_t f[90];
	uint16_t id;
	uint32_t len;

	make(false, 0);
	up(~0u);
	/* a frame held in part: two buffers taken, not enough for it */
	guest_rx_buffers(2, 100, NULL);
	frame(f, MAC, 60, 1);
	cr_assert_eq(send(peer, f, 60, 0), 60);
	cr_assert_eq(wait_used(0, &id, &len), 1);
	glue_virtio_dev_set_status(v, 0);
	cr_assert_eq(glue_virtio_dev_get_status(v), 0);
	for (int i = 0; i < 3; i++) {
		glue_virtq_mock_free(mq[i]);
		mq[i] = NULL;
	}
	up(~0u);
	guest_rx_buffers(1, 2048, NULL);
	frame(f, MAC, sizeof(f), 2);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	cr_assert_eq(wait_used(0, &id, &len), 1);
	cr_assert_eq(len, HDR + sizeof(f));
}

Test(virtio_net, pause_holds_transmits)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t f[64], got[128];
	struct glue_virtq_mock_buf b[2] = {{BUF, HDR, false}, {BUF + 0x1000, sizeof(f), false}};

	make(false, 0);
	up(~0u);
	frame(f, OTHER, sizeof(f), 1);
	memcpy(host(BUF, HDR), &h, HDR);
	memcpy(host(BUF + 0x1000, sizeof(f)), f, sizeof(f));
	glue_virtio_dev_pause(v);
	cr_assert_eq(glue_virtq_mock_add(mq[1], b, 2, NULL), 0);
	glue_virtio_dev_notify(v, 1);
	cr_assert_eq(peer_read(got, sizeof(got), 100), -1, "nothing moves while paused");
	glue_virtio_dev_resume(v);
	cr_assert_eq(peer_read(got, sizeof(got), 1000), (ssize_t)sizeof(f));
}

Test(virtio_net, stable_mac_from_a_name)
{
	uint8_t a[6], b[6], c[6];

	glue_virtio_net_mac(a, "vm1", 0);
	glue_virtio_net_mac(b, "vm1", 0);
	glue_virtio_net_mac(c, "vm1", 1);
	cr_assert_arr_eq(a, b, 6);
	cr_assert_arr_neq(a, c, 6);
	cr_assert_eq(a[0], 0x02, "locally administered unicast");
	glue_virtio_net_mac(c, "vm2", 0);
	cr_assert_arr_neq(a, c, 6);
}

Test(virtio_net, vhost_only_where_it_can_serve)
{
	struct glue_virtio_net_config cfg;
	struct glue_net_backend be = {0};
	struct glue_virtio_device d;
	struct sp *s = calloc(1, sizeof(*s));
	int sv[2];

	/* auto on a backend vhost cannot serve: glue's own data path, and why */
	make(false, 0);
	cr_assert_not(glue_virtio_net_vhost_active(device()));
	cr_assert_eq(strncmp(glue_virtio_net_data_path(device()), "glue", 4), 0, "%s",
		     glue_virtio_net_data_path(device()));
	cr_assert_null(glue_virtio_net_data_path(NULL));

	/* required: refused, naming the reason */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	s->fd = sv[0];
	be = (struct glue_net_backend){.ops = &sp_ops, .ctx = s, .name = "socketpair", .fd = sv[0]};
	glue_virtio_net_config_init(&cfg);
	cfg.backend = &be;
	memcpy(cfg.mac, MAC, 6);
	cfg.vhost = GLUE_VIRTIO_NET_VHOST_ON;
	cr_assert_lt(glue_virtio_net_new(&d, &cfg), 0);
	cr_assert(strstr(glue_error_last(), "vhost"), "%s", glue_error_last());
	close(sv[1]);
}

Test(virtio_net, a_frame_larger_than_the_whole_ring_is_dropped)
{
	uint8_t f[1500];
	uint16_t id;
	uint32_t len, total = 0;

	make(false, 0);
	up(~0u);
	/* every descriptor, 64 bytes each: 1 KiB in all */
	guest_rx_buffers(QSIZE, 64, NULL);
	frame(f, MAC, sizeof(f), 1);
	cr_assert_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	frame(f, MAC, 100, 2);
	cr_assert_eq(send(peer, f, 100, 0), 100);
	/* the big one cannot fit however long it waits; the next one is delivered */
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(wait_used(0, &id, &len), 1, "buffer %d of the second frame", i);
		total += len;
	}
	cr_assert_eq(total, HDR + 100);
	cr_assert_eq(stats().rx_dropped, 1);
	cr_assert_eq(stats().rx_frames, 1);
}

Test(virtio_net, a_frame_in_more_pieces_than_writev_takes_is_malformed)
{
	static struct glue_virtq_mock_buf b[GLUE_VIRTQ_MAX_SEGS];
	struct virtio_net_hdr_v1 h = {0};
	uint8_t got[2048];
	uint16_t id;
	uint32_t used;

	make(true, 0); /* a vnet_hdr backend: glue's copy of the header is one piece more */
	up(~0u);
	memcpy(host(BUF, HDR), &h, HDR);
	frame(host(BUF + HDR, 1100), OTHER, 1100, 3);
	/* 1024 buffers, the header in the first with the frame's start: 1025 pieces */
	b[0] = (struct glue_virtq_mock_buf){BUF, HDR + 14, false};
	for (int i = 1; i < GLUE_VIRTQ_MAX_SEGS; i++)
		b[i] = (struct glue_virtq_mock_buf){BUF + HDR + 13 + (uint64_t)i, 1, false};
	cr_assert_eq(
		glue_virtq_mock_add_indirect(mq[1], b, GLUE_VIRTQ_MAX_SEGS, BUF + 0x80000, NULL),
		0);
	glue_virtio_dev_notify(v, 1);
	cr_assert_eq(wait_used(1, &id, &used), 1);
	cr_assert_eq(peer_read(got, sizeof(got), 100), -1);
	cr_assert_eq(stats().tx_bad, 1, "malformed, not a backend that dropped it");
	cr_assert_eq(stats().tx_dropped, 0);
	/* the header on its own and 1023 pieces: 1024, which writev takes */
	b[0] = (struct glue_virtq_mock_buf){BUF, HDR, false};
	for (int i = 1; i < GLUE_VIRTQ_MAX_SEGS; i++)
		b[i] = (struct glue_virtq_mock_buf){BUF + HDR + (uint64_t)i - 1, 1, false};
	cr_assert_eq(
		glue_virtq_mock_add_indirect(mq[1], b, GLUE_VIRTQ_MAX_SEGS, BUF + 0x90000, NULL),
		0);
	glue_virtio_dev_notify(v, 1);
	cr_assert_eq(wait_used(1, &id, &used), 1);
	cr_assert_eq(peer_read(got, sizeof(got), 1000), (ssize_t)(HDR + GLUE_VIRTQ_MAX_SEGS - 1));
	cr_assert_eq(stats().tx_frames, 1);
}

/* A backend with no room: what the device's end sends is never read. */
static void fill_backend(void)
{
	uint8_t junk[1024] = {0};

	while (send(dev_end, junk, sizeof(junk), MSG_DONTWAIT) >= 0 || errno == EINTR)
		;
	cr_assert_eq(errno, EAGAIN);
}

/* Without the hurry, the pause would wait ~1 s for each of 8 frames. */
Test(virtio_net, pause_and_reset_do_not_wait_for_a_full_backend, .timeout = 5)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t f[64];

	make(false, 0);
	up(~0u);
	frame(f, OTHER, sizeof(f), 1);
	memcpy(host(BUF, HDR), &h, HDR);
	memcpy(host(BUF + 0x1000, sizeof(f)), f, sizeof(f));
	fill_backend();
	/* a queue full of frames the backend cannot take: each would wait ~1 s */
	for (int i = 0; i < QSIZE / 2; i++) {
		struct glue_virtq_mock_buf b[2] = {{BUF, HDR, false},
						   {BUF + 0x1000, sizeof(f), false}};

		cr_assert_eq(glue_virtq_mock_add(mq[1], b, 2, NULL), 0);
	}
	glue_virtio_dev_notify(v, 1);
	usleep(100000);
	/* a pause returns without waiting out every frame (the timeout catches it) */
	glue_virtio_dev_pause(v);
	glue_virtio_dev_resume(v);
	glue_virtio_dev_set_status(v, 0);
	cr_assert_geq(stats().tx_dropped, 1, "frames the backend had no room for are dropped");
}
