// SPDX-License-Identifier: MIT
/*
 * Tap backend: frames through /dev/net/tun with IFF_VNET_HDR, the header
 * sized to virtio 1's 12 bytes so it passes between guest and kernel as is.
 * Which offloads the tap takes is asked of the kernel (TUNSETOFFLOAD), not
 * assumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <glue/net.h>

#include "core/err.h"

struct tap {
	int fd;
	int sock; /* for SIOCGIFFLAGS */
	char ifname[IFNAMSIZ];
};

static int tap_send(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct tap *t = ctx;
	ssize_t n;

	do
		n = writev(t->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno; /* EIO: the tap is down */
	return 0;
}

static ssize_t tap_recv(void *ctx, void *buf, size_t len)
{
	struct tap *t = ctx;
	ssize_t n;

	do
		n = read(t->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static int tap_set_offloads(void *ctx, unsigned int offloads)
{
	struct tap *t = ctx;

	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
		return glue_err_sys(-errno, "tap %s: cannot set offloads 0x%x", t->ifname,
				    offloads);
	return 0;
}

static bool tap_link_up(void *ctx)
{
	struct tap *t = ctx;
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	if (ioctl(t->sock, SIOCGIFFLAGS, &ifr) < 0)
		return true; /* cannot tell: do not flap */
	return ifr.ifr_flags & IFF_UP;
}

static void tap_free(void *ctx)
{
	struct tap *t = ctx;

	close(t->fd);
	close(t->sock);
	free(t);
}

static const struct glue_net_backend_ops tap_ops = {
	.send = tap_send,
	.recv = tap_recv,
	.set_offloads = tap_set_offloads,
	.link_up = tap_link_up,
	.free = tap_free,
};

int glue_net_tap_open(struct glue_net_backend *out, const char *ifname)
{
	const unsigned int all = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
	const char *shown = ifname && *ifname ? ifname : "(new)";
	unsigned int features = 0;
	int hdr = GLUE_NET_HDR_LEN;
	struct ifreq ifr;
	struct tap *t;
	int e;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (ifname && strlen(ifname) >= IFNAMSIZ)
		return glue_err(-EINVAL, "tap '%s': an interface name has at most %d characters",
				ifname, IFNAMSIZ - 1);
	t = calloc(1, sizeof(*t));
	if (!t)
		return glue_err(-ENOMEM, "out of memory");
	t->sock = -1;
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		e = glue_err_sys(-errno, "tap %s: cannot open /dev/net/tun", shown);
		goto fail;
	}
	if (ioctl(t->fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
		e = glue_err(-ENOTSUP, "tap %s: this kernel's tun has no IFF_VNET_HDR", shown);
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ifname)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		e = -errno;
		if (e == -EPERM)
			glue_err(
				e,
				"tap %s: not permitted (a new tap needs CAP_NET_ADMIN; an existing "
				"one must belong to this user: ip tuntap add NAME mode tap user "
				"USER)",
				shown);
		else if (e == -EBUSY)
			glue_err(e, "tap %s is in use by another process", shown);
		else if (e == -EINVAL)
			glue_err(e, "tap %s: the interface exists and is not a tap of this kind",
				 shown);
		else
			glue_err_sys(e, "tap %s", shown);
		goto fail;
	}
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = 0;
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		e = glue_err_sys(-errno, "tap %s: cannot set the virtio-net header size",
				 t->ifname);
		goto fail;
	}
	/* What the kernel takes; the guest's choice is set at activation. */
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)all) == 0)
		out->offloads = all;
	else if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0)
		out->offloads = TUN_F_CSUM;
	if (ioctl(t->fd, TUNSETOFFLOAD, 0UL) < 0) {
		e = glue_err_sys(-errno, "tap %s: cannot clear offloads", t->ifname);
		goto fail;
	}
	t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->sock < 0) {
		e = glue_err_sys(-errno, "tap %s: socket", t->ifname);
		goto fail;
	}
	out->ops = &tap_ops;
	out->ctx = t;
	out->name = "tap";
	out->fd = t->fd;
	out->vnet_hdr = true;
	out->vhost_ok = true;
	memcpy(out->ifname, t->ifname, sizeof(out->ifname));
	return 0;
fail:
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	return e;
}
