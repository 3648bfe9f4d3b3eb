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

/* name is used in error messages ("pio", "mmio"). */
GLUE_API int glue_bus_new(struct glue_bus **out, const char *name);
GLUE_API void glue_bus_free(struct glue_bus *bus);

/* Register [base, base + len). -EEXIST (message names both devices) when it
 * overlaps a registered range, -EINVAL for len 0 or wrap-around. ops must
 * stay valid until unregistered. name is copied. */
GLUE_API int glue_bus_register(struct glue_bus *bus, uint64_t base, uint64_t len,
			       const struct glue_bus_ops *ops, void *dev, const char *name);
/* Remove the range that starts at base; -ENOENT if none does. */
GLUE_API int glue_bus_unregister(struct glue_bus *bus, uint64_t base);

/*
 * Dispatch an access at addr. An access that starts inside a device range
 * but runs past its end is refused. Returns 0, or -ENOENT when no device
 * covers the access (a read then fills data with 0xff).
 */
GLUE_API int glue_bus_read(struct glue_bus *bus, uint64_t addr, void *data, uint32_t len);
GLUE_API int glue_bus_write(struct glue_bus *bus, uint64_t addr, const void *data, uint32_t len);

GLUE_END_DECLS

#endif
