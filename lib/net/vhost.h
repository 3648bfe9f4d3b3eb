/* SPDX-License-Identifier: MIT */
/*
 * vhost-net: the receive and transmit queues of a virtio-net device served
 * by the host kernel (drivers/vhost/net.c) straight between guest memory and
 * a tap, while the VMM keeps the rest (features, config, control queue).
 * Internal to virtio-net.
 */
#ifndef GLUE_INTERNAL_NET_VHOST_H
#define GLUE_INTERNAL_NET_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include <glue/memory.h>
#include <glue/virtq.h>

struct vhost_net;

/*
 * Open /dev/vhost-net for the tap at tap_fd: *features what the kernel's
 * vhost can do (virtio feature bits). -ENOENT, -EACCES...: no vhost here.
 */
int vhost_net_open(struct vhost_net **out, int tap_fd, uint64_t *features);
void vhost_net_free(struct vhost_net *v);
/*
 * Serve queues 0 (receive) and 1 (transmit) at rings[] with the negotiated
 * features; kick[q] is what tells the kernel the driver added buffers,
 * call[q] what it signals when the driver should be interrupted. An error
 * before the kernel saw the rings, or -ESTALE after (the rings may have
 * been used: only a device reset recovers).
 */
int vhost_net_start(struct vhost_net *v, const struct glue_mem *mem, uint64_t features,
		    const struct glue_virtq_host_rings rings[2], const int kick[2],
		    const int call[2]);
/* What the kernel signals for queue q's interrupts from now on. */
int vhost_net_set_call(struct vhost_net *v, unsigned int q, int call);
/* Detach the tap (the kernel stops touching the rings); start again later. */
void vhost_net_stop(struct vhost_net *v);
/* Pause and resume: the tap detached and attached again, rings kept. */
int vhost_net_set_running(struct vhost_net *v, bool on);

#endif
