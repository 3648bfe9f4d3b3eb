/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.x, section 5.1): a NIC on a network backend
 * (<glue/net.h>). Queues: receive, transmit, control. Features: MAC,
 * STATUS (link), MRG_RXBUF, CTRL_VQ with CTRL_RX/CTRL_RX_EXTRA (receive
 * modes and MAC filter tables, applied to what the NIC receives),
 * CTRL_MAC_ADDR, GUEST_ANNOUNCE; and, on a backend with a virtio-net header
 * (tap), CSUM/GUEST_CSUM and TSO4/TSO6/ECN both ways, as far as the backend
 * takes them.
 *
 * Every frame and header the guest sends is untrusted: a chain shorter than
 * the header, a frame outside 14..GLUE_NET_MAX_FRAME bytes, an offload it
 * did not negotiate, checksum or header offsets past the frame are dropped
 * and counted (tx_bad). Received frames that do not fit the guest's
 * buffers are dropped and counted (rx_dropped), never truncated.
 *
 * One worker thread per queue: the receive one sleeps on the backend's fd
 * while the guest has buffers, and on the guest's kick while it has none.
 *
 * vhost-net (on a tap, where /dev/vhost-net opens): the kernel moves the
 * frames of the receive and transmit queues between guest memory and the
 * tap; glue keeps features, config, link and the control queue. The
 * receive filter and the statistics are then the kernel's business (the
 * counters here stay 0), as with QEMU's vhost.
 */
#ifndef GLUE_VIRTIO_NET_H
#define GLUE_VIRTIO_NET_H

#include <string.h>

#include <glue/common.h>
#include <glue/net.h>
#include <glue/virtio.h>

GLUE_BEGIN_DECLS

/* Entries each of the unicast and multicast filter tables holds (more: all pass). */
#define GLUE_VIRTIO_NET_MAC_TABLE 64

/* Whether the kernel's vhost-net serves the receive and transmit queues. */
enum glue_virtio_net_vhost {
	GLUE_VIRTIO_NET_VHOST_AUTO = 0, /* where the backend allows it and /dev/vhost-net opens */
	GLUE_VIRTIO_NET_VHOST_OFF,
	GLUE_VIRTIO_NET_VHOST_ON, /* required: glue_virtio_net_new() fails without it */
};

struct glue_virtio_net_config {
	uint32_t size; /* sizeof(struct glue_virtio_net_config), set by _init */
	/*
	 * The backend, taken by glue_virtio_net_new() whether it succeeds or
	 * not (then *backend is cleared): the device frees it.
	 */
	struct glue_net_backend *backend;
	uint8_t mac[6];	     /* required: a unicast address (see glue_virtio_net_mac) */
	uint16_t queue_size; /* power of two; default 256 */
	enum glue_virtio_net_vhost vhost;
};

static inline void glue_virtio_net_config_init(struct glue_virtio_net_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->queue_size = 256;
}

struct glue_virtio_net_stats {
	uint64_t rx_frames, rx_bytes; /* delivered to the guest */
	uint64_t rx_dropped;	      /* no room in the guest's buffers, or a bad frame */
	uint64_t rx_filtered;	      /* not for this NIC (its receive filter) */
	uint64_t tx_frames, tx_bytes; /* passed to the backend */
	uint64_t tx_dropped;	      /* the backend had no room */
	uint64_t tx_bad;	      /* malformed by the guest */
};

/*
 * A stable, locally administered unicast MAC (02:xx:xx:xx:xx:xx) from a
 * name (a VM's) and an index (its NIC's): the same VM gets the same
 * addresses every run, different VMs different ones.
 */
GLUE_API void glue_virtio_net_mac(uint8_t mac[6], const char *name, unsigned int index);

/* -EINVAL (no backend, a multicast or zero MAC, a bad queue size), -ENOMEM. */
GLUE_API int glue_virtio_net_new(struct glue_virtio_device *out,
				 const struct glue_virtio_net_config *cfg);

/*
 * For a device made by glue_virtio_net_new() (glue_virtio_dev_device() gives
 * it back from a glue_virtio_dev): its counters; -EINVAL for another device.
 */
GLUE_API int glue_virtio_net_stats(const struct glue_virtio_device *dev,
				   struct glue_virtio_net_stats *out);
/* The link as the embedder sets it (up at start); the backend's own state counts too. */
GLUE_API int glue_virtio_net_set_link(const struct glue_virtio_device *dev, bool up);
/*
 * Where the frames will go through once the driver starts the queues:
 * "vhost-net", or "glue" followed by why not vhost-net when it was asked
 * for (" (no vhost-net: cannot open /dev/vhost-net: ...)"). NULL for another
 * device.
 */
GLUE_API const char *glue_virtio_net_data_path(const struct glue_virtio_device *dev);
/* Whether vhost-net serves the queues now (the driver started them there). */
GLUE_API bool glue_virtio_net_vhost_active(const struct glue_virtio_device *dev);
/* Ask the guest to announce itself (gratuitous ARP), e.g. after it moved. */
GLUE_API int glue_virtio_net_announce(const struct glue_virtio_device *dev);

GLUE_END_DECLS

#endif
