/* SPDX-License-Identifier: MIT */
/*
 * The virtio device contract, and the part of every device that is the same
 * for all of them (virtio 1.x, section 2 and 3): the device status state
 * machine, feature negotiation, queue selection and setup, config space
 * bounds and generation. A device implements struct glue_virtio_device_ops
 * once; a transport (virtio-mmio, virtio-pci) maps its registers onto the
 * glue_virtio_dev_* calls and delivers interrupts. Neither knows the other.
 *
 * Life of a device, as the driver drives it:
 *   reset -> ACKNOWLEDGE -> DRIVER -> features -> FEATURES_OK -> queues ->
 *   DRIVER_OK: activate(), then kicks, until status 0: reset(). The device
 *   works on its queues off the vCPU threads (its own thread, or an event
 *   loop) and calls glue_virtio_dev_signal() after it pushed used chains.
 *
 * Kicks: each queue has an eventfd (glue_virtio_dev_kick_fd) that the
 * driver's notifications make readable, whichever way they come: a
 * hypervisor ioeventfd the transport set up (no exit to the VMM at all), or
 * the transport's register write (glue_virtio_dev_notify). A device waits on
 * those fds, or hands them to something that does (vhost).
 *
 * Everything the driver writes is untrusted: a feature it was not offered
 * keeps FEATURES_OK clear, a queue it set up badly sets DEVICE_NEEDS_RESET,
 * config accesses outside the device's config space read as zero and are
 * dropped.
 *
 * Thread-safety: the glue_virtio_dev_* register calls may come from any
 * vCPU thread at once (they take the device's lock); glue_virtio_dev_signal(),
 * _needs_reset() and _config_changed() are for the device's own threads and
 * take no lock the register calls hold while calling into the device.
 */
#ifndef GLUE_VIRTIO_H
#define GLUE_VIRTIO_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_mem;
struct glue_virtq;
struct glue_virtio_dev;

/*
 * What a device does; the common part calls these with the device's ctx.
 * Only activate and reset are required.
 */
struct glue_virtio_device_ops {
	/* Config space (bounds already checked); NULL reads zeros, drops writes. */
	void (*config_read)(void *ctx, uint32_t offset, void *data, uint32_t len);
	void (*config_write)(void *ctx, uint32_t offset, const void *data, uint32_t len);
	/*
	 * The driver set DRIVER_OK: start using the queues (glue_virtio_dev_queue()
	 * gives those the driver enabled, glue_virtio_dev_features() what was
	 * negotiated). A negative errno sets DEVICE_NEEDS_RESET.
	 */
	int (*activate)(void *ctx, struct glue_virtio_dev *vdev);
	/* Stop using the queues; return once no device thread touches them. */
	void (*reset)(void *ctx);
	/* Quiesce device threads (the VM pauses), and go on again. */
	void (*pause)(void *ctx);
	void (*resume)(void *ctx);
	/*
	 * What glue_virtio_dev_irqfd() gives may have changed (the driver masked
	 * or moved an interrupt): look again. Only for a device whose data path
	 * signals interrupts itself (vhost); on a vCPU thread, while active.
	 */
	void (*irqfd_changed)(void *ctx);
	/* Free ctx, threads joined (after reset() when it was active). */
	void (*free)(void *ctx);
};

/* One device instance, as its constructor fills it in. */
struct glue_virtio_device {
	const struct glue_virtio_device_ops *ops;
	void *ctx;
	const char *name;	 /* "virtio-rng": for messages; static storage */
	uint32_t device_id;	 /* VIRTIO_ID_* of <linux/virtio_ids.h> */
	uint64_t features;	 /* device-specific feature bits offered */
	uint16_t num_queues;	 /* 1.. GLUE_VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size; /* a power of two, at most GLUE_VIRTQ_MAX_SIZE */
	uint32_t config_size;	 /* bytes of device config space, at most GLUE_VIRTIO_MAX_CONFIG */
};

#define GLUE_VIRTIO_MAX_QUEUES 256
#define GLUE_VIRTIO_MAX_CONFIG 4096

/* How the common part interrupts the driver: a transport supplies these. */
struct glue_virtio_transport_ops {
	/* Used buffers in queue index (MMIO: InterruptStatus bit 0; PCI: its vector). */
	void (*signal_queue)(void *tctx, uint16_t queue);
	/* Config space or DEVICE_NEEDS_RESET changed. */
	void (*signal_config)(void *tctx);
	/*
	 * Optional: an eventfd that interrupts the driver for queue itself (a KVM
	 * irqfd on its MSI-X vector), while the driver leaves that interrupt
	 * unmasked; -1 when there is none now. The transport calls
	 * glue_virtio_dev_irqfds_changed() when that may have changed.
	 */
	int (*queue_irqfd)(void *tctx, uint16_t queue);
};

/* Queue areas, as in struct glue_virtq_layout. */
enum glue_virtio_area {
	GLUE_VIRTIO_AREA_DESC = 0,
	GLUE_VIRTIO_AREA_DRIVER,
	GLUE_VIRTIO_AREA_DEVICE,
};

/*
 * A device on mem, interrupting through t. Takes dev: its ops->free runs in
 * glue_virtio_dev_free(), also when this fails (-EINVAL for a descriptor
 * out of range, -ENOMEM).
 */
GLUE_API int glue_virtio_dev_new(struct glue_virtio_dev **out, const struct glue_virtio_device *dev,
				 const struct glue_mem *mem,
				 const struct glue_virtio_transport_ops *t, void *tctx);
/* Resets the device (when active) and frees it. Accepts NULL. */
GLUE_API void glue_virtio_dev_free(struct glue_virtio_dev *vdev);

/* What the device was made from. */
GLUE_API const struct glue_virtio_device *
glue_virtio_dev_device(const struct glue_virtio_dev *vdev);

/* --- For transports: the registers every transport has. --- */

/* The status byte (VIRTIO_CONFIG_S_*), DEVICE_NEEDS_RESET included. */
GLUE_API uint8_t glue_virtio_dev_get_status(struct glue_virtio_dev *vdev);
/* 0 resets the device; otherwise bits are only added (FEATURES_OK only when acceptable). */
GLUE_API void glue_virtio_dev_set_status(struct glue_virtio_dev *vdev, uint8_t status);

/* 32 feature bits of the device's offer, word sel (0 = bits 0-31). */
GLUE_API uint32_t glue_virtio_dev_get_device_features(struct glue_virtio_dev *vdev, uint32_t sel);
/* The driver's choice, word sel; ignored after FEATURES_OK. */
GLUE_API void glue_virtio_dev_set_driver_features(struct glue_virtio_dev *vdev, uint32_t sel,
						  uint32_t value);
GLUE_API uint32_t glue_virtio_dev_get_driver_features(struct glue_virtio_dev *vdev, uint32_t sel);

/* Queue selection and setup; a selector past the last queue reads as a queue of size 0. */
GLUE_API void glue_virtio_dev_queue_select(struct glue_virtio_dev *vdev, uint32_t sel);
GLUE_API uint32_t glue_virtio_dev_queue_selected(struct glue_virtio_dev *vdev);
GLUE_API uint16_t glue_virtio_dev_queue_max(struct glue_virtio_dev *vdev);
GLUE_API uint16_t glue_virtio_dev_queue_get_size(struct glue_virtio_dev *vdev);
/* Size, areas: ignored once the queue is enabled or the device is live. */
GLUE_API void glue_virtio_dev_queue_set_size(struct glue_virtio_dev *vdev, uint16_t size);
GLUE_API uint64_t glue_virtio_dev_queue_get_addr(struct glue_virtio_dev *vdev,
						 enum glue_virtio_area area);
GLUE_API void glue_virtio_dev_queue_set_addr(struct glue_virtio_dev *vdev,
					     enum glue_virtio_area area, uint64_t gpa);
GLUE_API bool glue_virtio_dev_queue_get_enable(struct glue_virtio_dev *vdev);
/*
 * Enable the selected queue (only 1 is meaningful: a queue is disabled by a
 * reset). A layout the queue cannot take (size, alignment, outside RAM) sets
 * DEVICE_NEEDS_RESET.
 */
GLUE_API void glue_virtio_dev_queue_set_enable(struct glue_virtio_dev *vdev, bool enable);

/*
 * A kick for queue index, as the transport's notify register received it:
 * counted on the queue's kick eventfd (ignored past the last queue).
 */
GLUE_API void glue_virtio_dev_notify(struct glue_virtio_dev *vdev, uint32_t queue);
/*
 * The eventfd that kicks of queue index make readable (a counter: read 8
 * bytes to take them), from glue_virtio_dev_new() until the device is freed;
 * -1 past the last queue. Transports hand it to the hypervisor's write
 * notifications; devices wait on it while active. Kicks that come while the
 * device is not active stay counted: a device serves its queues once at
 * activation anyway.
 */
GLUE_API int glue_virtio_dev_kick_fd(const struct glue_virtio_dev *vdev, uint16_t queue);

/* Device config space; outside config_size: zeros, writes dropped. */
GLUE_API void glue_virtio_dev_config_read(struct glue_virtio_dev *vdev, uint32_t offset, void *data,
					  uint32_t len);
GLUE_API void glue_virtio_dev_config_write(struct glue_virtio_dev *vdev, uint32_t offset,
					   const void *data, uint32_t len);
/* Changes whenever the device changed its config space. */
GLUE_API uint32_t glue_virtio_dev_config_generation(struct glue_virtio_dev *vdev);

/* The transport's queue_irqfd answers may have changed: passed to the device when live. */
GLUE_API void glue_virtio_dev_irqfds_changed(struct glue_virtio_dev *vdev);

/* The VM pauses or resumes: passed to the device. */
GLUE_API void glue_virtio_dev_pause(struct glue_virtio_dev *vdev);
GLUE_API void glue_virtio_dev_resume(struct glue_virtio_dev *vdev);

/* --- For devices (from activate() until reset()). --- */

GLUE_API const struct glue_mem *glue_virtio_dev_mem(const struct glue_virtio_dev *vdev);
/* Negotiated features (all 64 bits). */
GLUE_API uint64_t glue_virtio_dev_features(const struct glue_virtio_dev *vdev);
/* Queue index, or NULL when the driver did not enable it. */
GLUE_API struct glue_virtq *glue_virtio_dev_queue(struct glue_virtio_dev *vdev, uint16_t index);
/* After pushing used chains on queue index: interrupt the driver if it wants one. */
GLUE_API void glue_virtio_dev_signal(struct glue_virtio_dev *vdev, uint16_t index);
/* Interrupt the driver for queue index now: for a data path outside glue
 * (vhost) that decided on notification suppression itself. */
GLUE_API void glue_virtio_dev_interrupt(struct glue_virtio_dev *vdev, uint16_t index);
/*
 * An eventfd that interrupts the driver for queue index directly, for a data
 * path outside glue that decides on notification suppression itself (vhost's
 * call eventfd), or -1: then such a path must come through
 * glue_virtio_dev_interrupt(), which honours masking. The device's
 * irqfd_changed op says when to ask again.
 */
GLUE_API int glue_virtio_dev_irqfd(struct glue_virtio_dev *vdev, uint16_t index);
/* The device cannot go on (a broken queue): DEVICE_NEEDS_RESET and a config interrupt. */
GLUE_API void glue_virtio_dev_needs_reset(struct glue_virtio_dev *vdev);
/* The device changed its config space: new generation and a config interrupt. */
GLUE_API void glue_virtio_dev_config_changed(struct glue_virtio_dev *vdev);

GLUE_END_DECLS

#endif
