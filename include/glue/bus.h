/* SPDX-License-Identifier: MIT */
/*
 * Device manager: an address bus (port I/O or MMIO) that decodes addresses
 * and hands each access to the device registered for that range, as
 * "read/write len bytes at this offset within your range".
 *
 * Thread-safety: glue_bus_read()/glue_bus_write() may run concurrently from
 * many vCPU threads and concurrently with registration; a device must lock its
 * own state. glue_bus_unregister() returns only once no call into that device
 * is in progress, so the device may be freed afterwards.
 *
 * Devices are called with no bus lock held, so a device callback may register
 * and unregister ranges on the same bus (e.g. to move a BAR). A device that
 * unregisters its own range from its own callback is not waited for (that
 * would never end): it must not free itself there.
 */
#ifndef GLUE_BUS_H
#define GLUE_BUS_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_bus;

struct glue_bus_ops {
	/* Fill data[0..len) for a read at offset within the device's range. */
	void (*read)(void *dev, uint64_t offset, void *data, uint32_t len);
	/* Handle a write of data[0..len) at offset. */
	void (*write)(void *dev, uint64_t offset, const void *data, uint32_t len);
};

/* name is used in error messages ("pio", "mmio"). Returns 0 or -ENOMEM. */
GLUE_API int glue_bus_new(struct glue_bus **out, const char *name);
/* Frees the bus and its registrations (not the devices). No access may be in
 * progress. Accepts NULL. */
GLUE_API void glue_bus_free(struct glue_bus *bus);

/* Register [base, base + len). -EEXIST (message names both devices) when it
 * overlaps a registered range, -EINVAL for len 0 or wrap-around. ops must
 * stay valid until unregistered. name is copied. */
GLUE_API int glue_bus_register(struct glue_bus *bus, uint64_t base, uint64_t len,
			       const struct glue_bus_ops *ops, void *dev, const char *name);
/* Remove the range that starts at base and wait for calls into it to end;
 * -ENOENT if none starts there. */
GLUE_API int glue_bus_unregister(struct glue_bus *bus, uint64_t base);

/*
 * Dispatch an access at addr. An access that starts inside a device range
 * but runs past its end is refused. Returns 0, -ENOENT when no device
 * covers the whole access (a read then fills data with 0xff; the device is
 * not called), or -EINVAL for len 0. A range registered with a NULL read op
 * reads as 0xff; a NULL write op ignores writes.
 */
GLUE_API int glue_bus_read(struct glue_bus *bus, uint64_t addr, void *data, uint32_t len);
GLUE_API int glue_bus_write(struct glue_bus *bus, uint64_t addr, const void *data, uint32_t len);

/*
 * Write notifications (ioevents): a hypervisor fast path that turns a guest
 * write of exactly len bytes at addr (of value datamatch, when datamatch >= 0)
 * into a signal on the eventfd fd, without the write ever reaching the bus or
 * the VMM (KVM_IOEVENTFD). The bus does not emulate this itself: the write
 * keeps reaching the device whenever no fast path took it, and the device
 * must then do what the eventfd would have said (a virtio transport writes
 * the same eventfd). So an ioevent is an optimisation, never a requirement.
 */
typedef int (*glue_bus_ioevent_fn)(void *ctx, uint64_t addr, uint32_t len, int64_t datamatch,
				   int fd, bool assign);
/* The fast path of this bus (the VMM sets it once, before devices attach). */
GLUE_API void glue_bus_set_ioevent(struct glue_bus *bus, glue_bus_ioevent_fn fn, void *ctx);
/* Ask for one; -ENOTSUP where the bus has no fast path, or the backend's errno. */
GLUE_API int glue_bus_ioevent_add(struct glue_bus *bus, uint64_t addr, uint32_t len,
				  int64_t datamatch, int fd);
/* Remove one that glue_bus_ioevent_add() made (same arguments). */
GLUE_API void glue_bus_ioevent_del(struct glue_bus *bus, uint64_t addr, uint32_t len,
				   int64_t datamatch, int fd);

GLUE_END_DECLS

#endif
