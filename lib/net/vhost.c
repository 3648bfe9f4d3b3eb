// SPDX-License-Identifier: MIT
/*
 * vhost-net (see vhost.h): the ioctls of <linux/vhost.h>, in the order the
 * kernel wants them: owner, features, memory table, then per ring its size,
 * base index, addresses, kick and call eventfds, and last the backend (the
 * tap), which is what starts the kernel's worker on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vhost.h>

#include "core/err.h"
#include "net/vhost.h"

struct vhost_net {
	int fd;
	int tap;
	bool started, running;
};

int vhost_net_open(struct vhost_net **out, int tap_fd, uint64_t *features)
{
	struct vhost_net *v;
	int e;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return glue_err(-ENOMEM, "out of memory");
	v->tap = tap_fd;
	v->fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	if (v->fd < 0) {
		e = glue_err_sys(-errno, "cannot open /dev/vhost-net");
		free(v);
		return e;
	}
	if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, features) < 0) {
		e = glue_err_sys(-errno, "vhost-net: set owner / get features");
		close(v->fd);
		free(v);
		return e;
	}
	*out = v;
	return 0;
}

static int set_backend(struct vhost_net *v, int fd)
{
	for (unsigned int q = 0; q < 2; q++) {
		struct vhost_vring_file f = {.index = q, .fd = fd};

		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &f) < 0)
			return glue_err_sys(-errno, "vhost-net: set backend of ring %u", q);
	}
	return 0;
}

static int set_mem(struct vhost_net *v, const struct glue_mem *mem)
{
	size_t n = glue_mem_region_count(mem);
	struct vhost_memory *t = calloc(1, sizeof(*t) + n * sizeof(t->regions[0]));
	int e = 0;

	if (!t)
		return glue_err(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct glue_mem_region r;

		if (glue_mem_region_get(mem, i, &r) < 0 || r.type != GLUE_MEM_RAM)
			continue;
		t->regions[t->nregions++] = (struct vhost_memory_region){
			.guest_phys_addr = r.gpa,
			.memory_size = r.size,
			.userspace_addr = (uint64_t)(uintptr_t)r.host,
		};
	}
	if (ioctl(v->fd, VHOST_SET_MEM_TABLE, t) < 0)
		e = glue_err_sys(-errno, "vhost-net: set memory table");
	free(t);
	return e;
}

static int set_ring(struct vhost_net *v, unsigned int q, const struct glue_virtq_host_rings *r,
		    int kick, int call)
{
	struct vhost_vring_state num = {.index = q, .num = r->size};
	struct vhost_vring_state base = {.index = q, .num = 0};
	struct vhost_vring_file k = {.index = q, .fd = kick}, c = {.index = q, .fd = call};
	struct vhost_vring_addr a = {
		.index = q,
		.desc_user_addr = (uint64_t)(uintptr_t)r->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)r->avail,
		.used_user_addr = (uint64_t)(uintptr_t)r->used,
	};

	if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_ADDR, &a) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_KICK, &k) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_CALL, &c) < 0)
		return glue_err_sys(-errno, "vhost-net: set up ring %u", q);
	return 0;
}

int vhost_net_start(struct vhost_net *v, const struct glue_mem *mem, uint64_t features,
		    const struct glue_virtq_host_rings rings[2], const int kick[2],
		    const int call[2])
{
	int e;

	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0)
		return glue_err_sys(-errno, "vhost-net: set features 0x%llx",
				    (unsigned long long)features);
	e = set_mem(v, mem);
	for (unsigned int q = 0; !e && q < 2; q++)
		e = set_ring(v, q, &rings[q], kick[q], call[q]);
	if (e)
		return e; /* the rings untouched: the caller may serve them itself */
	e = set_backend(v, v->tap);
	if (e) {
		set_backend(v, -1);
		return -ESTALE; /* a ring may have run meanwhile */
	}
	v->started = v->running = true;
	return 0;
}

int vhost_net_set_call(struct vhost_net *v, unsigned int q, int call)
{
	struct vhost_vring_file c = {.index = q, .fd = call};

	if (ioctl(v->fd, VHOST_SET_VRING_CALL, &c) < 0)
		return glue_err_sys(-errno, "vhost-net: ring %u: set call", q);
	return 0;
}

void vhost_net_stop(struct vhost_net *v)
{
	if (!v || !v->started)
		return;
	set_backend(v, -1);
	/* With no backend the kernel has flushed and left the rings; reading
	 * the bases is what QEMU does too (the next start sets them again). */
	for (unsigned int q = 0; q < 2; q++) {
		struct vhost_vring_state s = {.index = q};

		ioctl(v->fd, VHOST_GET_VRING_BASE, &s);
	}
	v->started = v->running = false;
}

int vhost_net_set_running(struct vhost_net *v, bool on)
{
	int e;

	if (!v || !v->started || v->running == on)
		return 0;
	e = set_backend(v, on ? v->tap : -1);
	if (!e)
		v->running = on;
	return e;
}

void vhost_net_free(struct vhost_net *v)
{
	if (!v)
		return;
	vhost_net_stop(v);
	close(v->fd);
	free(v);
}
