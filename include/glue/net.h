/* SPDX-License-Identifier: MIT */
/*
 * Network backends: where a virtual NIC's Ethernet frames go and come from.
 * The contract is small so that a new backend is one file: send a frame,
 * receive a frame, and an fd that polls readable when one may be waiting.
 * A NIC (virtio-net) takes the backend and owns it from then on.
 *
 * Frames carry a 12-byte virtio-net header (struct virtio_net_hdr_v1 of
 * <linux/virtio_net.h>) in front when the backend says vnet_hdr: then the
 * checksum and segmentation offloads it lists can pass through. Without it,
 * frames are plain Ethernet and every offload is off.
 *
 * Backends here: tap (a Linux tap device: an existing one by name, or one
 * created when the process may), and user (libslirp, <glue/net_user.h>).
 *
 * Thread-safety: send may be called from one thread and recv from another
 * at the same time; each one by one thread at a time.
 */
#ifndef GLUE_NET_H
#define GLUE_NET_H

#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <glue/common.h>

GLUE_BEGIN_DECLS

/* The virtio-net header a vnet_hdr backend carries before each frame. */
#define GLUE_NET_HDR_LEN 12
/* Largest frame (header not counted): a 64 KiB segmentation-offload frame. */
#define GLUE_NET_MAX_FRAME (65535 + 14 + 4)

/* Offloads (TUN_F_* of <linux/if_tun.h>, the same bits). */
#define GLUE_NET_OFFLOAD_CSUM 0x01
#define GLUE_NET_OFFLOAD_TSO4 0x02
#define GLUE_NET_OFFLOAD_TSO6 0x04
#define GLUE_NET_OFFLOAD_TSO_ECN 0x08

struct glue_net_backend_ops {
	/*
	 * Send one frame (header first when vnet_hdr), whole or not at all:
	 * 0, -EAGAIN (no room now: dropped), or another negative errno.
	 */
	int (*send)(void *ctx, const struct iovec *iov, int iovcnt);
	/* Receive one frame into buf: its length, -EAGAIN when none is waiting. */
	ssize_t (*recv)(void *ctx, void *buf, size_t len);
	/* Offloads the guest takes on received frames (GLUE_NET_OFFLOAD_*). Optional. */
	int (*set_offloads)(void *ctx, unsigned int offloads);
	/* Is the link up (a tap the host set down is not)? Optional: always up. */
	bool (*link_up)(void *ctx);
	void (*free)(void *ctx);
};

struct glue_net_backend {
	const struct glue_net_backend_ops *ops;
	void *ctx;
	const char *name;      /* "tap", "user": for messages; static storage */
	int fd;		       /* readable when recv may have a frame */
	bool vnet_hdr;	       /* frames carry GLUE_NET_HDR_LEN bytes of header */
	unsigned int offloads; /* what the backend can take and give, GLUE_NET_OFFLOAD_* */
	char ifname[16];       /* tap: the interface ("" otherwise) */
	bool vhost_ok;	       /* fd is a tap that vhost-net can serve (with vnet_hdr) */
};

/* Frees a backend nobody took. Accepts one already freed (ops NULL). */
GLUE_API void glue_net_backend_free(struct glue_net_backend *b);

/*
 * A tap device. ifname: an existing tap (or a name for a new one, which
 * needs CAP_NET_ADMIN), NULL or "" for a new one named by the kernel
 * (tap0, tap1, ...). The tap is opened with IFF_VNET_HDR and IFF_NO_PI;
 * a new one is left down: bring it up and address it (or bridge it) as for
 * any interface. Errors: -ENOENT (no /dev/net/tun), -EPERM (a new tap
 * without the right, or one owned by another user), -EBUSY (in use).
 */
GLUE_API int glue_net_tap_open(struct glue_net_backend *out, const char *ifname);

GLUE_END_DECLS

#endif
