/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport, version 2 (virtio 1.x, section 4.2): one device's
 * registers in a page of MMIO space, a level-triggered interrupt line.
 * The guest finds it through ACPI (an LNRO0005 device) or the kernel's
 * virtio_mmio.device=SIZE@BASE:IRQ parameter (glue_virtio_mmio_cmdline()).
 *
 * Registers are 32-bit; the config space behind them takes any width.
 * Accesses of another width, or to registers that do not exist, read as
 * zero and are dropped, as the spec asks of a device.
 */
#ifndef GLUE_VIRTIO_MMIO_H
#define GLUE_VIRTIO_MMIO_H

#include <stddef.h>

#include <glue/common.h>
#include <glue/virtio.h>

GLUE_BEGIN_DECLS

struct glue_bus;
struct glue_irq;
struct glue_mem;
struct glue_virtio_mmio;

/* Bytes of MMIO space a device takes (registers and up to 3.75 KiB config). */
#define GLUE_VIRTIO_MMIO_SIZE 0x1000ULL

/*
 * Put dev behind MMIO registers. Takes dev (freed here also on failure);
 * irq is not owned and must outlive the transport.
 */
GLUE_API int glue_virtio_mmio_new(struct glue_virtio_mmio **out,
				  const struct glue_virtio_device *dev, const struct glue_mem *mem,
				  struct glue_irq *irq);
/* Unregisters from its bus, resets and frees the device. Accepts NULL. */
GLUE_API void glue_virtio_mmio_free(struct glue_virtio_mmio *t);
/* Register at base (GLUE_VIRTIO_MMIO_SIZE bytes) on an MMIO bus; once. */
GLUE_API int glue_virtio_mmio_attach(struct glue_virtio_mmio *t, struct glue_bus *mmio,
				     uint64_t base);
/* The common part, for pause/resume and inspection. */
GLUE_API struct glue_virtio_dev *glue_virtio_mmio_dev(struct glue_virtio_mmio *t);

/*
 * Write the kernel parameter that announces it ("virtio_mmio.device=4K@0x...:GSI")
 * into buf; returns the length it needs, like snprintf.
 */
GLUE_API int glue_virtio_mmio_cmdline(char *buf, size_t size, uint64_t base, uint32_t gsi);

GLUE_END_DECLS

#endif
