// SPDX-License-Identifier: MIT
/*
 * virtio-net on a network backend (see <glue/virtio_net.h>).
 *
 * Receive: one frame at a time from the backend into a buffer of the
 * device's own, then copied into as many of the guest's buffers as it needs
 * (MRG_RXBUF) or into one; buffers taken for a frame that does not fit yet
 * are held for it, so nothing is given back empty. The used entries of one
 * frame are published together. While the guest has no buffers the worker
 * stops watching the backend and waits for the guest's kick.
 *
 * Transmit: the header is read once into the device's memory, checked, and
 * that copy is what the backend gets; the frame itself goes from guest
 * memory to the backend without a copy.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include <glue/net.h>
#include <glue/virtio.h>
#include <glue/virtio_net.h>
#include <glue/virtq.h>

#include <glue/config.h>

#include "core/err.h"
#include "core/util.h"
#include "virtio/worker.h"
#if GLUE_HAVE_VHOST
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "net/vhost.h"
#endif

enum { RXQ = 0, TXQ = 1, CTRLQ = 2, NQUEUES = 3 };

#define ETH_HLEN 14
#define CONFIG_SIZE 10 /* mac, status, max_virtqueue_pairs */
/* Most guest buffers one received frame may take (64 KiB in 1 KiB buffers). */
#define MAX_HELD 80
/* Frames per worker round before it looks at its other duties. */
#define RX_BUDGET 256
/* How often the backend's link is looked at while nothing else happens. */
#define LINK_POLL_NS 1000000000ULL

struct net {
	struct glue_net_backend be;
	struct vworker *worker[NQUEUES];

	pthread_mutex_t lock; /* everything below up to the workers' own */
	uint8_t mac[6];
	uint16_t status;	      /* VIRTIO_NET_S_* as the guest sees it */
	bool link_api;		      /* glue_virtio_net_set_link() */
	bool link_backend;	      /* the backend's last word */
	struct glue_virtio_dev *vdev; /* while active */
	uint64_t features;	      /* negotiated, while active */
	/* the receive filter (CTRL_RX, CTRL_MAC) */
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	bool uc_overflow, mc_overflow;
	unsigned int nuc, nmc;
	uint8_t uc[GLUE_VIRTIO_NET_MAC_TABLE][6], mc[GLUE_VIRTIO_NET_MAC_TABLE][6];

	_Atomic uint64_t rx_frames, rx_bytes, rx_dropped, rx_filtered;
	_Atomic uint64_t tx_frames, tx_bytes, tx_dropped, tx_bad;

	/* the receive worker's own */
	uint8_t *rxbuf; /* header + frame */
	size_t rxlen;	/* a frame waiting for buffers (0: none) */
	struct glue_virtq_chain *held[MAX_HELD];
	unsigned int nheld;
	/* vhost-net: the kernel's data path for the receive and transmit queues */
	struct vhost_net *vhost;
	uint64_t vhost_features;
	_Atomic bool vhost_active; /* this activation's queues are the kernel's */
	int call[2], call_stop;
	/* what the kernel signals now: a vector's irqfd, or -1 for call[q]
	 * (changed only under the device lock: activate, reset, irqfd_changed) */
	int call_now[2];
	pthread_t call_thread;
	bool call_running;
	char data_path[160];

	/* the transmit worker's own */
	struct glue_virtio_dev *vdev_tx; /* what tx_serve was called for */
	/* Set while pause or reset wait for the workers: a backend without room
	 * drops frames then instead of holding the worker up. */
	atomic_bool tx_hurry;
	struct iovec txiov[GLUE_VIRTQ_MAX_SEGS + 1];
};

static const struct glue_virtio_device_ops net_ops;

static bool has(uint64_t features, unsigned int bit)
{
	return features & (1ULL << bit);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- config space and link ---- */

/* The status the guest should see now; n->lock held. Returns true on a change. */
static bool update_status_locked(struct net *n)
{
	uint16_t s = n->status & ~VIRTIO_NET_S_LINK_UP;

	if (n->link_api && n->link_backend)
		s |= VIRTIO_NET_S_LINK_UP;
	if (s == n->status)
		return false;
	n->status = s;
	return true;
}

/* After a config change: tell the driver, if there is one. */
static void config_changed(struct net *n, bool changed)
{
	struct glue_virtio_dev *vdev;

	if (!changed)
		return;
	pthread_mutex_lock(&n->lock);
	vdev = n->vdev;
	pthread_mutex_unlock(&n->lock);
	/* vdev stays valid: reset waits for the workers, and callers are them or the embedder */
	if (vdev)
		glue_virtio_dev_config_changed(vdev);
}

static void net_config_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	struct net *n = ctx;
	uint8_t cfg[CONFIG_SIZE];
	uint16_t v;

	pthread_mutex_lock(&n->lock);
	memcpy(cfg, n->mac, 6);
	v = htole16(n->status);
	memcpy(cfg + 6, &v, 2);
	v = htole16(1); /* max_virtqueue_pairs (meaningful with MQ only) */
	memcpy(cfg + 8, &v, 2);
	pthread_mutex_unlock(&n->lock);
	memcpy(data, cfg + off, len);
}

/* The backend's link, looked at from the receive worker. */
static void poll_link(struct net *n)
{
	bool up, changed;

	if (!n->be.ops->link_up)
		return;
	up = n->be.ops->link_up(n->be.ctx);
	pthread_mutex_lock(&n->lock);
	n->link_backend = up;
	changed = update_status_locked(n);
	pthread_mutex_unlock(&n->lock);
	config_changed(n, changed);
}

/* ---- receive ---- */

static bool mac_in(const uint8_t (*table)[6], unsigned int n, const uint8_t *mac)
{
	for (unsigned int i = 0; i < n; i++)
		if (!memcmp(table[i], mac, 6))
			return true;
	return false;
}

/* Does the guest's receive filter let a frame to dst in? */
static bool rx_accept(struct net *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	bool ok;

	pthread_mutex_lock(&n->lock);
	if (n->promisc)
		ok = true;
	else if (!memcmp(dst, bcast, 6))
		ok = !n->nobcast;
	else if (dst[0] & 1)
		ok = !n->nomulti && (n->allmulti || n->mc_overflow || mac_in(n->mc, n->nmc, dst));
	else
		ok = !n->nouni && (n->alluni || n->uc_overflow || !memcmp(dst, n->mac, 6) ||
				   mac_in(n->uc, n->nuc, dst));
	pthread_mutex_unlock(&n->lock);
	return ok;
}

/*
 * Make the header in rxbuf what the guest may see: with a backend header,
 * flags and segmentation only as negotiated (false: a frame the guest
 * cannot take); without one, all zero.
 */
static bool rx_fix_header(struct net *n, uint64_t f)
{
	struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)n->rxbuf;
	uint8_t gso;

	if (!n->be.vnet_hdr) {
		memset(h, 0, sizeof(*h));
		return true;
	}
	if (!has(f, VIRTIO_NET_F_GUEST_CSUM))
		h->flags = 0;
	h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && !has(f, VIRTIO_NET_F_GUEST_TSO4))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && !has(f, VIRTIO_NET_F_GUEST_TSO6))
		return false;
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(f, VIRTIO_NET_F_GUEST_ECN))
		return false;
	return true;
}

static void rx_drop_frame(struct net *n)
{
	count(&n->rx_dropped, 1);
	n->rxlen = 0;
}

/*
 * Put the waiting frame into held buffers, taking more from q as needed.
 * 1: delivered (or dropped), 0: the guest has no more buffers now,
 * negative: stop (-ENOMEM: later; -EIO: the queue is broken).
 */
static int rx_deliver(struct net *n, struct glue_virtq *q, bool mrg)
{
	struct glue_virtq_chain *c;
	uint32_t lens[MAX_HELD];
	size_t cap = 0, off = 0;
	unsigned int used = 0, pops = 0;
	uint16_t nb;

	for (unsigned int i = 0; i < n->nheld; i++)
		cap += n->held[i]->in_len;
	for (;;) {
		/* Without MRG_RXBUF a frame takes one buffer, the first. */
		if (n->nheld && (mrg ? cap >= n->rxlen : n->held[0]->in_len >= n->rxlen))
			break;
		if (n->nheld && !mrg) {
			rx_drop_frame(n); /* longer than the buffers the guest gives */
			return 1;
		}
		if (n->nheld == MAX_HELD) {
			rx_drop_frame(n); /* would take more buffers than a frame may */
			return 1;
		}
		int k;

		if (++pops > 2 * GLUE_VIRTQ_MAX_SIZE)
			return -ENOMEM; /* a driver feeding bad chains: later, after a look around
					 */
		k = glue_virtq_pop(q, &c);
		if (k == -EBADMSG)
			continue;
		if (k < 0)
			return k;
		if (k == 0) {
			struct glue_virtq_host_rings r;

			/* Holding the whole ring and still short: it can never fit. */
			if (n->nheld && glue_virtq_host_rings(q, &r) == 0 &&
			    glue_virtq_inflight(q) >= r.size) {
				rx_drop_frame(n);
				return 1;
			}
			return 0;
		}
		/* The first buffer must hold the header whole. */
		if (n->nheld == 0 && c->in_len < GLUE_NET_HDR_LEN) {
			glue_virtq_push(q, c, 0);
			continue;
		}
		n->held[n->nheld++] = c;
		cap += c->in_len;
	}
	while (off < n->rxlen) {
		c = n->held[used];
		lens[used] = (uint32_t)glue_virtq_chain_write(
			c, 0, n->rxbuf + off, GLUE_MIN((size_t)c->in_len, n->rxlen - off));
		off += lens[used++];
	}
	nb = htole16((uint16_t)used);
	glue_virtq_chain_write(n->held[0], offsetof(struct virtio_net_hdr_v1, num_buffers), &nb,
			       sizeof(nb));
	glue_virtq_push_n(q, n->held, lens, used);
	memmove(n->held, n->held + used, (n->nheld - used) * sizeof(n->held[0]));
	n->nheld -= used;
	count(&n->rx_frames, 1);
	count(&n->rx_bytes, n->rxlen - GLUE_NET_HDR_LEN);
	n->rxlen = 0;
	return 1;
}

/* Read the next frame from the backend into rxbuf: 1, 0 (none), negative errno. */
static int rx_fetch(struct net *n, uint64_t f)
{
	size_t hdr = n->be.vnet_hdr ? 0 : GLUE_NET_HDR_LEN;
	ssize_t r = n->be.ops->recv(n->be.ctx, n->rxbuf + hdr,
				    GLUE_NET_HDR_LEN + GLUE_NET_MAX_FRAME - hdr);

	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return (int)r;
	if ((size_t)r + hdr < GLUE_NET_HDR_LEN + ETH_HLEN || !rx_fix_header(n, f)) {
		count(&n->rx_dropped, 1);
		return 1; /* nothing waiting: read on */
	}
	if (!rx_accept(n, n->rxbuf + GLUE_NET_HDR_LEN)) {
		count(&n->rx_filtered, 1);
		return 1;
	}
	n->rxlen = (size_t)r + hdr;
	return 1;
}

static uint64_t rx_serve(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue)
{
	struct net *n = ctx;
	struct glue_virtq *q = glue_virtio_dev_queue(vdev, RXQ);
	uint64_t f = glue_virtio_dev_features(vdev);
	bool mrg = has(f, VIRTIO_NET_F_MRG_RXBUF);
	uint64_t again = n->be.ops->link_up ? LINK_POLL_NS : 0;
	int budget = RX_BUDGET;

	poll_link(n);
	if (n->vhost_active) {
		vworker_watch(n->worker[RXQ], false); /* the tap is the kernel's */
		return again;
	}
	if (!q) {
		vworker_watch(n->worker[RXQ], false); /* nowhere to put frames */
		return again;
	}
	vworker_watch(n->worker[RXQ], true);
	glue_virtq_kicks_off(q);
	while (budget-- > 0) {
		int k;

		if (!n->rxlen) {
			k = rx_fetch(n, f);
			if (k == 0)
				break; /* the backend is empty: sleep on its fd */
			if (k < 0) {
				/* e.g. a tap that is down, or gone: look again later, not
				 * at every POLLERR */
				vworker_watch(n->worker[RXQ], false);
				again = 100000000;
				break;
			}
			if (!n->rxlen)
				continue;
		}
		k = rx_deliver(n, q, mrg);
		if (k == 0) {
			/* No buffers: wait for the guest's kick, not the backend. */
			if (glue_virtq_kicks_on(q)) {
				glue_virtq_kicks_off(q);
				continue;
			}
			vworker_watch(n->worker[RXQ], false);
			glue_virtio_dev_signal(vdev, RXQ);
			return again;
		}
		if (k == -ENOMEM) {
			vworker_watch(n->worker[RXQ], false);
			again = 1000000;
			break;
		}
		if (k < 0) {
			vworker_watch(n->worker[RXQ], false); /* broken: the reset will follow */
			break;
		}
	}
	if (budget < 0)
		again = 1; /* more may be waiting: come back at once, after a look around */
	glue_virtq_kicks_on(q);
	glue_virtio_dev_signal(vdev, RXQ);
	return again;
}

static void rx_release_held(struct net *n)
{
	/* From a queue life that ended: nothing to give back, only memory to free. */
	for (unsigned int i = 0; i < n->nheld; i++)
		free(n->held[i]);
	n->nheld = 0;
	n->rxlen = 0;
}

/* ---- transmit ---- */

/* Is the guest's header one this frame of len bytes may have, with features f? */
static bool tx_header_ok(const struct net *n, struct virtio_net_hdr_v1 *h, size_t len, uint64_t f)
{
	uint16_t csum_start = le16toh(h->csum_start), csum_offset = le16toh(h->csum_offset);
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	h->flags &= ~VIRTIO_NET_HDR_F_DATA_VALID; /* meaningless this way */
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(f, VIRTIO_NET_F_CSUM) || !n->be.vnet_hdr)
			return false;
		if ((size_t)csum_start + csum_offset + 2 > len)
			return false;
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	if (!n->be.vnet_hdr || !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4   ? !has(f, VIRTIO_NET_F_HOST_TSO4)
	    : gso == VIRTIO_NET_HDR_GSO_TCPV6 ? !has(f, VIRTIO_NET_F_HOST_TSO6)
					      : true)
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(f, VIRTIO_NET_F_HOST_ECN))
		return false;
	return le16toh(h->gso_size) > 0 && le16toh(h->hdr_len) <= len;
}

/* Send one chain's frame; false when it was malformed. */
static bool tx_one(struct net *n, const struct glue_virtq_chain *c, uint64_t f)
{
	struct virtio_net_hdr_v1 h;
	size_t len, skip = GLUE_NET_HDR_LEN;
	int niov = 0, r;

	if (c->out_len < GLUE_NET_HDR_LEN + ETH_HLEN ||
	    c->out_len - GLUE_NET_HDR_LEN > GLUE_NET_MAX_FRAME)
		return false;
	len = c->out_len - GLUE_NET_HDR_LEN;
	glue_virtq_chain_read(c, 0, &h, sizeof(h));
	if (!tx_header_ok(n, &h, len, f))
		return false;
	if (n->be.vnet_hdr) {
		h.num_buffers = 0;
		n->txiov[niov++] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	}
	/* The frame: the readable buffers past the header, straight from the guest. */
	for (uint16_t i = 0; i < c->nout; i++) {
		const struct iovec *v = &c->iov[i];

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		n->txiov[niov++] = (struct iovec){.iov_base = (uint8_t *)v->iov_base + skip,
						  .iov_len = v->iov_len - skip};
		skip = 0;
	}
	/* writev takes at most UIO_MAXIOV (1024) pieces: no real frame has more */
	if (niov > UIO_MAXIOV)
		return false;
	/* A backend with no room now (slirp's thread behind): wait for room, as
	 * a NIC's queue would stall, rather than drop what TCP then resends. */
	r = n->be.ops->send(n->be.ctx, n->txiov, niov);
	for (int tries = 0; r == -EAGAIN && tries < 100 && !atomic_load(&n->tx_hurry); tries++) {
		struct pollfd p = {.fd = n->be.fd, .events = POLLOUT};

		poll(&p, 1, 10);
		r = n->be.ops->send(n->be.ctx, n->txiov, niov);
	}
	if (r < 0) {
		count(&n->tx_dropped, 1);
	} else {
		count(&n->tx_frames, 1);
		count(&n->tx_bytes, len);
	}
	return true;
}

static uint32_t tx_chain(void *ctx, struct glue_virtq_chain *c)
{
	struct net *n = ctx;

	if (!tx_one(n, c, glue_virtio_dev_features(n->vdev_tx)))
		count(&n->tx_bad, 1);
	return 0;
}

static void tx_bad(void *ctx)
{
	count(&((struct net *)ctx)->tx_bad, 1);
}

static uint64_t tx_serve(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue)
{
	static const struct vworker_drain_ops ops = {.chain = tx_chain, .bad = tx_bad};
	struct net *n = ctx;

	if (n->vhost_active)
		return 0;
	n->vdev_tx = vdev;
	return vworker_drain(vdev, TXQ, &ops, ctx);
}

/* ---- control ---- */

static uint8_t ctrl_rx(struct net *n, uint8_t cmd, const uint8_t *data, size_t len, uint64_t f)
{
	bool on;

	if (len < 1)
		return VIRTIO_NET_ERR;
	on = data[0];
	if (cmd > VIRTIO_NET_CTRL_RX_ALLMULTI && !has(f, VIRTIO_NET_F_CTRL_RX_EXTRA))
		return VIRTIO_NET_ERR;
	pthread_mutex_lock(&n->lock);
	switch (cmd) {
	case VIRTIO_NET_CTRL_RX_PROMISC:
		n->promisc = on;
		break;
	case VIRTIO_NET_CTRL_RX_ALLMULTI:
		n->allmulti = on;
		break;
	case VIRTIO_NET_CTRL_RX_ALLUNI:
		n->alluni = on;
		break;
	case VIRTIO_NET_CTRL_RX_NOMULTI:
		n->nomulti = on;
		break;
	case VIRTIO_NET_CTRL_RX_NOUNI:
		n->nouni = on;
		break;
	case VIRTIO_NET_CTRL_RX_NOBCAST:
		n->nobcast = on;
		break;
	default:
		pthread_mutex_unlock(&n->lock);
		return VIRTIO_NET_ERR;
	}
	pthread_mutex_unlock(&n->lock);
	return VIRTIO_NET_OK;
}

/* One table of TABLE_SET at *off: its entry count, then the entries. */
static bool mac_table(const uint8_t *data, size_t len, size_t *off, uint8_t (*table)[6],
		      unsigned int *n, bool *overflow)
{
	uint32_t entries;

	if (len - *off < 4)
		return false;
	memcpy(&entries, data + *off, 4);
	entries = le32toh(entries);
	*off += 4;
	if (entries > (len - *off) / 6)
		return false;
	*overflow = entries > GLUE_VIRTIO_NET_MAC_TABLE;
	*n = *overflow ? 0 : entries;
	if (!*overflow)
		memcpy(table, data + *off, (size_t)entries * 6);
	*off += (size_t)entries * 6;
	return true;
}

static uint8_t ctrl_mac(struct net *n, uint8_t cmd, const uint8_t *data, size_t len, uint64_t f)
{
	uint8_t uc[GLUE_VIRTIO_NET_MAC_TABLE][6], mc[GLUE_VIRTIO_NET_MAC_TABLE][6];
	unsigned int nuc = 0, nmc = 0;
	bool uco, mco;
	size_t off = 0;

	if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
		if (!has(f, VIRTIO_NET_F_CTRL_MAC_ADDR) || len < 6 || (data[0] & 1))
			return VIRTIO_NET_ERR;
		pthread_mutex_lock(&n->lock);
		memcpy(n->mac, data, 6);
		pthread_mutex_unlock(&n->lock);
		return VIRTIO_NET_OK;
	}
	if (cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET)
		return VIRTIO_NET_ERR;
	if (!mac_table(data, len, &off, uc, &nuc, &uco) ||
	    !mac_table(data, len, &off, mc, &nmc, &mco))
		return VIRTIO_NET_ERR;
	pthread_mutex_lock(&n->lock);
	memcpy(n->uc, uc, sizeof(uc));
	memcpy(n->mc, mc, sizeof(mc));
	n->nuc = nuc;
	n->nmc = nmc;
	n->uc_overflow = uco;
	n->mc_overflow = mco;
	pthread_mutex_unlock(&n->lock);
	return VIRTIO_NET_OK;
}

static uint8_t ctrl_one(struct net *n, const struct glue_virtq_chain *c, uint64_t f)
{
	uint8_t buf[2 + 8 + 2 * 6 * GLUE_VIRTIO_NET_MAC_TABLE + 64];
	size_t len = GLUE_MIN((size_t)c->out_len, sizeof(buf));
	bool changed;

	if (len < 2)
		return VIRTIO_NET_ERR;
	/* Read once: the guest may change its buffers while we look. */
	glue_virtq_chain_read(c, 0, buf, len);
	switch (buf[0]) {
	case VIRTIO_NET_CTRL_RX:
		if (!has(f, VIRTIO_NET_F_CTRL_RX))
			return VIRTIO_NET_ERR;
		return ctrl_rx(n, buf[1], buf + 2, len - 2, f);
	case VIRTIO_NET_CTRL_MAC:
		return ctrl_mac(n, buf[1], buf + 2, len - 2, f);
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (!has(f, VIRTIO_NET_F_GUEST_ANNOUNCE) || buf[1] != VIRTIO_NET_CTRL_ANNOUNCE_ACK)
			return VIRTIO_NET_ERR;
		pthread_mutex_lock(&n->lock);
		changed = n->status & VIRTIO_NET_S_ANNOUNCE;
		n->status &= ~VIRTIO_NET_S_ANNOUNCE;
		pthread_mutex_unlock(&n->lock);
		(void)changed; /* the guest's own doing: no interrupt for it */
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR; /* VLAN, MQ, offloads: not offered */
	}
}

static uint64_t ctrl_serve(void *ctx, struct glue_virtio_dev *vdev, uint16_t queue)
{
	struct net *n = ctx;
	struct glue_virtq *q = glue_virtio_dev_queue(vdev, CTRLQ);
	uint64_t f = glue_virtio_dev_features(vdev);
	struct glue_virtq_chain *c;
	unsigned int budget = 256; /* then look at pause and reset again */
	int k;

	if (!q)
		return 0;
	while (budget && (k = glue_virtq_pop(q, &c)) != 0) {
		uint8_t ack;

		budget--;
		if (k == -EBADMSG)
			continue;
		if (k < 0)
			break;
		if (c->in_len < 1) {
			glue_virtq_push(q, c, 0);
			continue;
		}
		ack = ctrl_one(n, c, f);
		glue_virtq_chain_write(c, c->in_len - 1, &ack, 1);
		glue_virtq_push(q, c, c->in_len);
	}
	glue_virtio_dev_signal(vdev, CTRLQ);
	return budget ? 0 : 1; /* out of budget: again at once */
}

/* ---- vhost-net ---- */

#if GLUE_HAVE_VHOST
/* What vhost must be able to do for glue to hand it the queues (the ring
 * features glue offers, and the header layout virtio 1 has). */
#define VHOST_NEEDS                                                     \
	(1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_EVENT_IDX | \
	 1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << VIRTIO_NET_F_MRG_RXBUF)

/* The kernel signals call[q] when the driver is to be interrupted. */
static void *call_main(void *p)
{
	struct net *n = p;
	struct pollfd pf[3] = {{.fd = n->call[0], .events = POLLIN},
			       {.fd = n->call[1], .events = POLLIN},
			       {.fd = n->call_stop, .events = POLLIN}};

	for (;;) {
		if (poll(pf, 3, -1) < 0)
			continue;
		if (pf[2].revents)
			return NULL;
		for (uint16_t q = 0; q < 2; q++) {
			struct glue_virtio_dev *vdev;
			uint64_t v;

			if (!(pf[q].revents & POLLIN) || read(n->call[q], &v, sizeof(v)) < 0)
				continue;
			pthread_mutex_lock(&n->lock);
			vdev = n->vhost_active ? n->vdev : NULL;
			if (vdev)
				glue_virtio_dev_interrupt(vdev, q);
			pthread_mutex_unlock(&n->lock);
		}
	}
}

/* Set vhost up for the device, or say in data_path why not. */
static int vhost_setup(struct net *n, enum glue_virtio_net_vhost mode)
{
	int e;

	snprintf(n->data_path, sizeof(n->data_path), "glue");
	n->call[0] = n->call[1] = n->call_stop = -1;
	if (mode == GLUE_VIRTIO_NET_VHOST_OFF)
		return 0;
	if (!n->be.vhost_ok || !n->be.vnet_hdr) {
		e = glue_err(-ENOTSUP, "vhost-net serves taps only, not a %s backend", n->be.name);
		goto none;
	}
	e = vhost_net_open(&n->vhost, n->be.fd, &n->vhost_features);
	if (e < 0)
		goto none;
	if ((n->vhost_features & VHOST_NEEDS) != VHOST_NEEDS) {
		e = glue_err(-ENOTSUP, "this kernel's vhost-net lacks features 0x%llx",
			     (unsigned long long)(VHOST_NEEDS & ~n->vhost_features));
		goto none;
	}
	for (int i = 0; i < 2; i++) {
		n->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (n->call[i] < 0) {
			e = glue_err_sys(-errno, "vhost-net: eventfd");
			goto none;
		}
	}
	n->call_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->call_stop < 0) {
		e = glue_err_sys(-errno, "vhost-net: eventfd");
		goto none;
	}
	e = pthread_create(&n->call_thread, NULL, call_main, n);
	if (e) {
		e = glue_err_sys(-e, "vhost-net: cannot start its thread");
		goto none;
	}
	pthread_setname_np(n->call_thread, "virtio-net-vhost");
	n->call_running = true;
	snprintf(n->data_path, sizeof(n->data_path), "vhost-net");
	return 0;
none:
	snprintf(n->data_path, sizeof(n->data_path), "glue (no vhost-net: %s)", glue_error_last());
	vhost_net_free(n->vhost);
	n->vhost = NULL;
	return mode == GLUE_VIRTIO_NET_VHOST_ON ? e : 0;
}

/*
 * Where the kernel signals each queue's interrupt: the vector's irqfd where
 * the transport has one (KVM interrupts the guest with no glue thread on the
 * way), else call[q], which call_main passes on through the transport (a
 * masked vector keeps its pending bit; INTx; virtio-mmio).
 */
static void vhost_route_calls(struct net *n, struct glue_virtio_dev *vdev)
{
	for (uint16_t q = 0; q < 2; q++) {
		int fd = glue_virtio_dev_irqfd(vdev, q);

		if (fd != n->call_now[q] &&
		    vhost_net_set_call(n->vhost, q, fd >= 0 ? fd : n->call[q]) == 0)
			n->call_now[q] = fd;
	}
}

/* At activation: hand the kernel the two queues (false: glue serves them). */
static bool vhost_start(struct net *n, struct glue_virtio_dev *vdev, uint64_t f)
{
	struct glue_virtq_host_rings r[2];
	int kick[2];

	if (!n->vhost)
		return false;
	for (uint16_t q = 0; q < 2; q++) {
		if (glue_virtq_host_rings(glue_virtio_dev_queue(vdev, q), &r[q]) < 0)
			return false; /* a queue the driver left off: glue's path copes */
		/* The kernel takes the guest's kicks itself (with KVM's ioeventfd,
		 * straight from the guest's write). */
		kick[q] = glue_virtio_dev_kick_fd(vdev, q);
	}
	/* The ring and header features; vhost has no business with the rest. */
	f &= n->vhost_features &
	     (VHOST_NEEDS | 1ULL << VIRTIO_F_ANY_LAYOUT | 1ULL << VIRTIO_F_NOTIFY_ON_EMPTY);
	n->call_now[0] = n->call_now[1] = -1;
	switch (vhost_net_start(n->vhost, glue_virtio_dev_mem(vdev), f, r, kick, n->call)) {
	case 0:
		vhost_route_calls(n, vdev);
		return true;
	case -ESTALE:
		/* The kernel may have used the rings already: glue cannot take
		 * them over from index 0. The driver has to reset the device. */
		glue_virtio_dev_needs_reset(vdev);
		return true;
	default:
		return false; /* nothing touched the rings: glue serves them */
	}
}

static void vhost_teardown(struct net *n)
{
	if (n->call_running) {
		uint64_t one = 1;

		if (write(n->call_stop, &one, sizeof(one)) < 0) {
			/* cannot fail on a fresh eventfd */
		}
		pthread_join(n->call_thread, NULL);
	}
	vhost_net_free(n->vhost);
	for (int i = 0; i < 2; i++)
		if (n->call[i] >= 0)
			close(n->call[i]);
	if (n->call_stop >= 0)
		close(n->call_stop);
}
#else
static int vhost_setup(struct net *n, enum glue_virtio_net_vhost mode)
{
	snprintf(n->data_path, sizeof(n->data_path), "glue");
	if (mode == GLUE_VIRTIO_NET_VHOST_ON)
		return glue_err(-ENOTSUP, "this glue was built without vhost-net");
	return 0;
}

static bool vhost_start(struct net *n, struct glue_virtio_dev *vdev, uint64_t f)
{
	return false;
}

static void vhost_route_calls(struct net *n, struct glue_virtio_dev *vdev)
{
}

static void vhost_teardown(struct net *n)
{
}
#endif

/* ---- the device contract ---- */

static void filter_defaults_locked(struct net *n)
{
	/* Until the driver sets a receive mode, everything passes (as on real NICs' resets). */
	n->promisc = true;
	n->allmulti = n->alluni = n->nomulti = n->nouni = n->nobcast = false;
	n->uc_overflow = n->mc_overflow = false;
	n->nuc = n->nmc = 0;
}

static int net_activate(void *ctx, struct glue_virtio_dev *vdev)
{
	struct net *n = ctx;
	uint64_t f = glue_virtio_dev_features(vdev);
	unsigned int off = 0;

	if (n->be.ops->set_offloads) {
		if (has(f, VIRTIO_NET_F_GUEST_CSUM))
			off |= GLUE_NET_OFFLOAD_CSUM;
		if (has(f, VIRTIO_NET_F_GUEST_TSO4))
			off |= GLUE_NET_OFFLOAD_TSO4;
		if (has(f, VIRTIO_NET_F_GUEST_TSO6))
			off |= GLUE_NET_OFFLOAD_TSO6;
		if (has(f, VIRTIO_NET_F_GUEST_ECN))
			off |= GLUE_NET_OFFLOAD_TSO_ECN;
		off &= n->be.offloads;
		/* A combination the kernel refuses (TSO without CSUM): none at all. */
		if (n->be.ops->set_offloads(n->be.ctx, off) < 0)
			n->be.ops->set_offloads(n->be.ctx, 0);
	}
	/* Before the workers run: they leave the kernel's queues alone. */
	n->vhost_active = vhost_start(n, vdev, f);
	pthread_mutex_lock(&n->lock);
	n->vdev = vdev;
	n->features = f;
	pthread_mutex_unlock(&n->lock);
#if GLUE_HAVE_VHOST
	/* The kernel may have used buffers (and signalled) before vdev was
	 * set, which call_main then dropped: one interrupt each, in case. */
	if (n->vhost_active)
		for (uint16_t q = 0; q < 2; q++)
			glue_virtio_dev_interrupt(vdev, q);
#endif
	if (n->vhost_active) {
		/* The receive worker still looks at the link; the kicks are the kernel's. */
		vworker_activate(n->worker[RXQ], vdev, -1);
		vworkers_activate(&n->worker[CTRLQ], 1, vdev);
	} else {
		vworkers_activate(n->worker, NQUEUES, vdev);
	}
	return 0;
}

static void net_reset(void *ctx)
{
	struct net *n = ctx;

#if GLUE_HAVE_VHOST
	if (n->vhost_active)
		vhost_net_stop(n->vhost);
#endif
	atomic_store(&n->tx_hurry, true);
	vworkers_reset(n->worker, NQUEUES);
	atomic_store(&n->tx_hurry, false);
	rx_release_held(n);
	pthread_mutex_lock(&n->lock);
	n->vhost_active = false;
	n->vdev = NULL;
	n->features = 0;
	n->status &= ~VIRTIO_NET_S_ANNOUNCE;
	filter_defaults_locked(n);
	pthread_mutex_unlock(&n->lock);
}

/* The driver masked, unmasked or moved an interrupt: the kernel's calls follow. */
static void net_irqfd_changed(void *ctx)
{
	struct net *n = ctx;
	struct glue_virtio_dev *vdev;

	pthread_mutex_lock(&n->lock);
	vdev = n->vhost_active ? n->vdev : NULL;
	pthread_mutex_unlock(&n->lock);
	if (vdev)
		vhost_route_calls(n, vdev);
}

static void net_pause(void *ctx)
{
	struct net *n = ctx;

	atomic_store(&n->tx_hurry, true);
	vworkers_pause(n->worker, NQUEUES);
	atomic_store(&n->tx_hurry, false);
#if GLUE_HAVE_VHOST
	if (n->vhost_active)
		vhost_net_set_running(n->vhost, false);
#endif
}

static void net_resume(void *ctx)
{
	struct net *n = ctx;

#if GLUE_HAVE_VHOST
	if (n->vhost_active && vhost_net_set_running(n->vhost, true) < 0 && n->vdev)
		glue_virtio_dev_needs_reset(n->vdev); /* the NIC would be dead: say so */
#endif
	vworkers_resume(n->worker, NQUEUES);
}

static void net_free(void *ctx)
{
	struct net *n = ctx;

	vworkers_free(n->worker, NQUEUES);
	vhost_teardown(n); /* before the backend: the kernel holds the tap */
	rx_release_held(n);
	glue_net_backend_free(&n->be);
	pthread_mutex_destroy(&n->lock);
	free(n->rxbuf);
	free(n);
}

static const struct glue_virtio_device_ops net_ops = {
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.pause = net_pause,
	.resume = net_resume,
	.irqfd_changed = net_irqfd_changed,
	.free = net_free,
};

static uint64_t offered_features(const struct glue_net_backend *be)
{
	uint64_t f = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
		     1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_NET_F_CTRL_VQ |
		     1ULL << VIRTIO_NET_F_CTRL_RX | 1ULL << VIRTIO_NET_F_CTRL_RX_EXTRA |
		     1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR | 1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE;

	if (!be->vnet_hdr)
		return f;
	if (be->offloads & GLUE_NET_OFFLOAD_CSUM)
		f |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM;
	else
		return f; /* segmentation needs checksum offload */
	if (be->offloads & GLUE_NET_OFFLOAD_TSO4)
		f |= 1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO4;
	if (be->offloads & GLUE_NET_OFFLOAD_TSO6)
		f |= 1ULL << VIRTIO_NET_F_HOST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_TSO6;
	if (be->offloads & GLUE_NET_OFFLOAD_TSO_ECN)
		f |= 1ULL << VIRTIO_NET_F_HOST_ECN | 1ULL << VIRTIO_NET_F_GUEST_ECN;
	return f;
}

int glue_virtio_net_new(struct glue_virtio_device *out, const struct glue_virtio_net_config *cfg)
{
	static const char *const names[NQUEUES] = {"virtio-net-rx", "virtio-net-tx",
						   "virtio-net-ctl"};
	struct glue_virtio_net_config c;
	struct net *n;
	int e;

	memset(out, 0, sizeof(*out));
	if (!cfg || cfg->size < offsetof(struct glue_virtio_net_config, queue_size))
		return glue_err(-EINVAL, "virtio-net config: bad size (call "
					 "glue_virtio_net_config_init)");
	glue_virtio_net_config_init(&c);
	memcpy(&c, cfg, GLUE_MIN((size_t)cfg->size, sizeof(c)));
	if (!c.backend || !c.backend->ops || !c.backend->ops->send || !c.backend->ops->recv ||
	    c.backend->fd < 0)
		return glue_err(-EINVAL, "virtio-net: no usable backend given");
	n = calloc(1, sizeof(*n));
	if (!n) {
		glue_net_backend_free(c.backend);
		return glue_err(-ENOMEM, "out of memory");
	}
	n->be = *c.backend;
	memset(c.backend, 0, sizeof(*c.backend));
	c.backend->fd = -1;
	n->call[0] = n->call[1] = n->call_stop = -1;
	pthread_mutex_init(&n->lock, NULL);
	if (!c.queue_size || c.queue_size > GLUE_VIRTQ_MAX_SIZE ||
	    (c.queue_size & (c.queue_size - 1))) {
		e = glue_err(-EINVAL, "virtio-net: queue size %u is not a power of two up to %u",
			     c.queue_size, GLUE_VIRTQ_MAX_SIZE);
		goto fail;
	}
	if ((c.mac[0] & 1) || !memcmp(c.mac, "\0\0\0\0\0\0", 6)) {
		e = glue_err(-EINVAL,
			     "virtio-net: MAC %02x:%02x:%02x:%02x:%02x:%02x is not a "
			     "unicast address",
			     c.mac[0], c.mac[1], c.mac[2], c.mac[3], c.mac[4], c.mac[5]);
		goto fail;
	}
	memcpy(n->mac, c.mac, 6);
	n->link_api = n->link_backend = true;
	update_status_locked(n);
	filter_defaults_locked(n);
	n->rxbuf = malloc(GLUE_NET_HDR_LEN + GLUE_NET_MAX_FRAME);
	if (!n->rxbuf) {
		e = glue_err(-ENOMEM, "out of memory");
		goto fail;
	}
	e = vhost_setup(n, c.vhost);
	if (e < 0)
		goto fail;
	for (int i = 0; i < NQUEUES; i++) {
		static const vworker_fn fns[NQUEUES] = {rx_serve, tx_serve, ctrl_serve};

		e = vworker_new_fd(&n->worker[i], names[i], (uint16_t)i, fns[i], n,
				   i == RXQ ? n->be.fd : -1);
		if (e < 0)
			goto fail;
	}
	out->ops = &net_ops;
	out->ctx = n;
	out->name = "virtio-net";
	out->device_id = VIRTIO_ID_NET;
	out->features = offered_features(&n->be);
	out->num_queues = NQUEUES;
	out->queue_max_size = c.queue_size;
	out->config_size = CONFIG_SIZE;
	return 0;
fail:
	net_free(n);
	return e;
}

static struct net *net_of(const struct glue_virtio_device *dev)
{
	return dev && dev->ops == &net_ops ? dev->ctx : NULL;
}

int glue_virtio_net_stats(const struct glue_virtio_device *dev, struct glue_virtio_net_stats *out)
{
	struct net *n = net_of(dev);

	if (!n)
		return glue_err(-EINVAL, "not a virtio-net device");
	out->rx_frames = atomic_load(&n->rx_frames);
	out->rx_bytes = atomic_load(&n->rx_bytes);
	out->rx_dropped = atomic_load(&n->rx_dropped);
	out->rx_filtered = atomic_load(&n->rx_filtered);
	out->tx_frames = atomic_load(&n->tx_frames);
	out->tx_bytes = atomic_load(&n->tx_bytes);
	out->tx_dropped = atomic_load(&n->tx_dropped);
	out->tx_bad = atomic_load(&n->tx_bad);
	return 0;
}

bool glue_virtio_net_vhost_active(const struct glue_virtio_device *dev)
{
	struct net *n = net_of(dev);

	return n && n->vhost_active;
}

const char *glue_virtio_net_data_path(const struct glue_virtio_device *dev)
{
	struct net *n = net_of(dev);

	return n ? n->data_path : NULL;
}

int glue_virtio_net_set_link(const struct glue_virtio_device *dev, bool up)
{
	struct net *n = net_of(dev);
	bool changed;

	if (!n)
		return glue_err(-EINVAL, "not a virtio-net device");
	pthread_mutex_lock(&n->lock);
	n->link_api = up;
	changed = update_status_locked(n);
	pthread_mutex_unlock(&n->lock);
	config_changed(n, changed);
	return 0;
}

int glue_virtio_net_announce(const struct glue_virtio_device *dev)
{
	struct net *n = net_of(dev);
	bool changed;

	if (!n)
		return glue_err(-EINVAL, "not a virtio-net device");
	pthread_mutex_lock(&n->lock);
	changed = has(n->features, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
		  !(n->status & VIRTIO_NET_S_ANNOUNCE);
	if (changed)
		n->status |= VIRTIO_NET_S_ANNOUNCE;
	pthread_mutex_unlock(&n->lock);
	config_changed(n, changed);
	return 0;
}

void glue_virtio_net_mac(uint8_t mac[6], const char *name, unsigned int index)
{
	/* FNV-1a over the name and the index. */
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = name ? name : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	for (int i = 0; i < 4; i++)
		h = (h ^ ((index >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
	mac[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}
