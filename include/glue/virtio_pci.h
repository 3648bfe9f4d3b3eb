/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci, modern (virtio 1.x, section 4.1): a device on a glue_pci bus
 * with the common, notify, ISR and device configuration structures in one
 * 64-bit memory BAR, announced by vendor capabilities, and MSI-X (one vector
 * per queue and one for configuration changes). Without MSI-X enabled the
 * device interrupts through INTx: the ISR register and a level line.
 */
#ifndef GLUE_VIRTIO_PCI_H
#define GLUE_VIRTIO_PCI_H

#include <glue/common.h>
#include <glue/virtio.h>

GLUE_BEGIN_DECLS

struct glue_irq;
struct glue_mem;
struct glue_pci;
struct glue_virtio_pci;

/* Bytes of the BAR: a 64-bit memory BAR the caller places (naturally aligned). */
#define GLUE_VIRTIO_PCI_BAR_SIZE 0x8000ULL

/*
 * Put dev on pci with its BAR at bar_addr. Takes dev (freed here also on
 * failure). irq is the INTx line (may be NULL: no INTx), not owned;
 * intx_gsi is what the guest reads as its interrupt line.
 */
GLUE_API int glue_virtio_pci_new(struct glue_virtio_pci **out, const struct glue_virtio_device *dev,
				 const struct glue_mem *mem, struct glue_pci *pci,
				 uint64_t bar_addr, struct glue_irq *irq, uint32_t intx_gsi);
/* Off the bus, reset, freed. Accepts NULL. */
GLUE_API void glue_virtio_pci_free(struct glue_virtio_pci *t);
GLUE_API struct glue_virtio_dev *glue_virtio_pci_dev(struct glue_virtio_pci *t);
/* Its slot on bus 0. */
GLUE_API unsigned int glue_virtio_pci_slot(const struct glue_virtio_pci *t);

GLUE_END_DECLS

#endif
