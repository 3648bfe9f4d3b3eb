/* SPDX-License-Identifier: MIT */
/*
 * The test guest's own virtio driver: finds devices on PCI (bus 0 through
 * 0xCF8) and on virtio-mmio (the LNRO0005 resources in the ACPI DSDT), and
 * drives either transport the same way: status, features, split queues,
 * interrupts (MSI-X per queue, or the level-triggered line of virtio-mmio
 * through the IOAPIC). Small and synchronous: one request in flight per
 * queue, completions found by polling the used ring while interrupts are
 * counted. It can also do what no driver should (vq_raw_*), which is the
 * point of the hostile checks.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_RING_F_INDIRECT_DESC 28

#define VS_ACKNOWLEDGE 1
#define VS_DRIVER 2
#define VS_DRIVER_OK 4
#define VS_FEATURES_OK 8
#define VS_NEEDS_RESET 0x40
#define VS_FAILED 0x80

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

/* Queue size the driver asks for, and the most queues a device gets here. */
#define VQ_SIZE 64
#define VDEV_MAX_QUEUES 3

struct vring_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct vring_avail {
	u16 flags;
	u16 idx;
	u16 ring[VQ_SIZE];
	u16 used_event;
};

struct vring_used_elem {
	u32 id;
	u32 len;
};

struct vring_used {
	u16 flags;
	u16 idx;
	struct vring_used_elem ring[VQ_SIZE];
	u16 avail_event;
};

/* One queue's rings, in a page of their own (desc, then avail, then used). */
struct vq_mem {
	struct vring_desc desc[VQ_SIZE];
	struct vring_avail avail;
	u8 pad[4096 - VQ_SIZE * 16 - sizeof(struct vring_avail) - sizeof(struct vring_used)];
	struct vring_used used;
} __attribute__((aligned(4096)));

struct vq {
	u16 index, size;
	struct vq_mem *mem;
	u16 avail_idx, last_used;
	volatile unsigned int irqs; /* interrupts for this queue (MSI-X), or the device's */
};

enum { VT_PCI = 1, VT_MMIO = 2 };

struct vdev {
	int transport;
	u32 device_id;
	/* PCI: the structures in BAR 0; MMIO: the register page */
	u64 base, common, notify, isr, devcfg;
	u32 notify_mult;
	u8 slot, msix_cap;
	u64 msix_table;
	u16 msix_n;
	u32 gsi; /* MMIO */
	u64 ioapic;
	struct vq q[VDEV_MAX_QUEUES];
	u16 nq;
	volatile unsigned int irqs, config_irqs; /* since vdev_find() */
};

/* The first device of this type on either transport (want: VT_PCI, VT_MMIO or 0). */
bool vdev_find(struct vdev *d, u32 device_id, int want);
const char *vdev_transport(const struct vdev *d);

/*
 * Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 | want), FEATURES_OK.
 * Returns false (with *why) when the device refuses. *offered gets the
 * device's bits 0-63.
 */
bool vdev_begin(struct vdev *d, u64 want, u64 *offered, const char **why);
/* Queue i of size VQ_SIZE at mem (zeroed here), its interrupt set up; false on refusal. */
bool vdev_queue(struct vdev *d, u16 i, struct vq_mem *mem, const char **why);
/* DRIVER_OK; interrupts on. */
void vdev_go(struct vdev *d);
/* Status 0, waiting until it reads 0; interrupts off. */
bool vdev_reset(struct vdev *d);
u8 vdev_status(struct vdev *d);
void vdev_set_status(struct vdev *d, u8 s);

u8 vdev_cfg8(struct vdev *d, u32 off);
u16 vdev_cfg16(struct vdev *d, u32 off);
u32 vdev_cfg32(struct vdev *d, u32 off);
u64 vdev_cfg64(struct vdev *d, u32 off);
void vdev_cfg_write32(struct vdev *d, u32 off, u32 v);

/* Notify the device about queue index (any value: hostile drivers send others). */
void vdev_notify(struct vdev *d, u32 index);

/* Make head visible in the avail ring and notify. */
void vq_publish(struct vdev *d, struct vq *q, u16 head);
/*
 * Wait up to seconds for the next used entry. Returns 1 with *id and *len,
 * 0 on a timeout, -1 when the device said DEVICE_NEEDS_RESET instead.
 */
int vq_wait(struct vdev *d, struct vq *q, u32 *id, u32 *len, u32 seconds);
/* Write a descriptor (index < VQ_SIZE). */
void vq_desc(struct vq *q, u16 i, u64 addr, u32 len, u16 flags, u16 next);

#endif
