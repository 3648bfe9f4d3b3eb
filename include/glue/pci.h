/* SPDX-License-Identifier: MIT */
/*
 * A PCI root complex with one bus (bus 0): configuration space through the
 * 0xCF8/0xCFC ports (configuration mechanism #1) and through ECAM (a 1 MiB
 * MMIO window, described to the guest by ACPI MCFG), a host bridge at
 * 00:00.0, and devices at 00:01.0-00:1f.0.
 *
 * The core owns each device's configuration space: it applies write masks,
 * sizes and places BARs (mapping them on the MMIO or PIO bus while decoding
 * is enabled, moving them when the guest moves them), and implements MSI-X
 * (table, pending bits, masking) for devices that ask for it. A device only
 * answers accesses to its BARs and says which MSI-X vector to fire.
 *
 * Everything the guest writes is untrusted: BAR addresses that overlap
 * something else are not mapped (the device just is not reachable there),
 * reserved bits stay as they are, accesses outside a function read all-ones.
 */
#ifndef GLUE_PCI_H
#define GLUE_PCI_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_bus;
struct glue_pci;
struct glue_pci_dev;

#define GLUE_PCI_CONFIG_PORT 0xCF8
#define GLUE_PCI_ECAM_SIZE (1ULL << 20) /* bus 0: 32 devices x 8 functions x 4 KiB */
#define GLUE_PCI_MAX_DEVICES 32
#define GLUE_PCI_MAX_MSIX 64

/* Delivers an MSI: the address and data the guest programmed. */
typedef int (*glue_pci_msi_fn)(void *ctx, uint64_t addr, uint32_t data);

enum glue_pci_bar_type {
	GLUE_PCI_BAR_NONE = 0,
	GLUE_PCI_BAR_MEM32,
	GLUE_PCI_BAR_MEM64, /* takes this BAR and the next */
	GLUE_PCI_BAR_IO,
};

/* A device's side: accesses to its BARs (offset within the BAR). */
struct glue_pci_dev_ops {
	void (*bar_read)(void *ctx, int bar, uint64_t offset, void *data, uint32_t len);
	void (*bar_write)(void *ctx, int bar, uint64_t offset, const void *data, uint32_t len);
	/*
	 * MSI-X was enabled or disabled, masked or unmasked (the function or a
	 * vector), or a vector's message changed; enabled: whether it is on now
	 * (optional; called without the bus lock). What glue_pci_dev_msix_irqfd()
	 * gives may have changed.
	 */
	void (*msix_changed)(void *ctx, bool enabled);
	/*
	 * Optional, for registers that live in configuration space (virtio's
	 * PCI configuration access capability): the guest wrote len bytes at
	 * offset (stored already, write masks applied), or reads them (data
	 * holds the stored bytes; the device may replace them). Called without
	 * the bus lock, for the guest's accesses only.
	 */
	void (*config_write)(void *ctx, uint32_t offset, uint32_t len);
	void (*config_read)(void *ctx, uint32_t offset, void *data, uint32_t len);
};

/* What a device is, as its configuration header says. */
struct glue_pci_dev_info {
	uint16_t vendor_id, device_id;
	uint16_t subsystem_vendor_id, subsystem_id;
	uint8_t revision;
	uint32_t class_code;	/* class << 16 | subclass << 8 | prog-if */
	uint8_t interrupt_pin;	/* 1 = INTA, 0 = none */
	uint8_t interrupt_line; /* the GSI INTx is wired to, as the guest reads it */
};

/*
 * A root complex. msi delivers MSI-X messages (NULL: devices get no MSI-X).
 * pio and mmio are the buses BARs are mapped on (not owned).
 */
GLUE_API int glue_pci_new(struct glue_pci **out, struct glue_bus *pio, struct glue_bus *mmio,
			  glue_pci_msi_fn msi, void *msi_ctx);
/*
 * Optional per-vector MSI routes: with them each MSI-X vector gets an
 * eventfd of its own that delivers the vector's message when written (KVM:
 * a GSI routed to the message, with an irqfd on it), so firing a vector is
 * one write(2) and the same eventfd can be handed to whatever else should
 * fire it. The core points a route at its vector's message before the
 * first use after the guest changed the entry; masking and pending bits
 * stay the core's. Without routes (or when a route fails) the msi function
 * delivers each message.
 */
struct glue_pci_msi_routes {
	/* A new route, pointing nowhere yet: the provider's id for it and its eventfd. */
	int (*add)(void *ctx, uint32_t *id, int *fd);
	/* Point route id at a message. */
	int (*set)(void *ctx, uint32_t id, uint64_t addr, uint32_t data);
	/* Release route id and close fd. */
	void (*del)(void *ctx, uint32_t id, int fd);
};
/* Before devices add MSI-X; ops must outlive the bus. */
GLUE_API void glue_pci_set_msi_routes(struct glue_pci *pci, const struct glue_pci_msi_routes *ops,
				      void *ctx);
/* Unmaps everything; devices must have been removed (glue_pci_dev_free). */
GLUE_API void glue_pci_free(struct glue_pci *pci);
/* 0xCF8-0xCFF on pio. */
GLUE_API int glue_pci_attach_ports(struct glue_pci *pci);
/* ECAM for bus 0 at base (GLUE_PCI_ECAM_SIZE, 1 MiB aligned) on mmio. */
GLUE_API int glue_pci_attach_ecam(struct glue_pci *pci, uint64_t base);

/* A device at the next free slot (1..31); *slot_out gets it (may be NULL). */
GLUE_API int glue_pci_dev_new(struct glue_pci_dev **out, struct glue_pci *pci,
			      const struct glue_pci_dev_info *info,
			      const struct glue_pci_dev_ops *ops, void *ctx,
			      unsigned int *slot_out);
/*
 * Unmap its BARs and take it off the bus (waiting for accesses and hook calls
 * in progress: never call it from one of the device's own ops);
 * MSI-X notifications still work until it is freed, so a device can stop its
 * threads in between.
 */
GLUE_API void glue_pci_dev_detach(struct glue_pci_dev *dev);
/* Detach (if not yet) and free. Accepts NULL. */
GLUE_API void glue_pci_dev_free(struct glue_pci_dev *dev);

/*
 * Set up BAR bar (0-5) of size bytes (a power of two, at least 16 for
 * memory, 4 for I/O) at addr, where firmware would have put it. Before the
 * guest runs.
 */
GLUE_API int glue_pci_dev_set_bar(struct glue_pci_dev *dev, int bar, enum glue_pci_bar_type type,
				  uint64_t size, uint64_t addr);
/*
 * Append a capability: id, then len - 2 bytes of body (body[0] is at cap+2).
 * wmask (may be NULL) says which body bits the guest may write. Returns its
 * offset in config space, or a negative errno when it does not fit.
 */
GLUE_API int glue_pci_dev_add_cap(struct glue_pci_dev *dev, uint8_t id, const void *body,
				  const void *wmask, uint8_t len);
/* MSI-X with nvec vectors, its table and pending bits in BAR bar at the
 * offsets; -ENOTSUP on a bus made without an MSI function. */
GLUE_API int glue_pci_dev_add_msix(struct glue_pci_dev *dev, uint16_t nvec, int bar,
				   uint32_t table_offset, uint32_t pba_offset);
/*
 * The eventfd that fires vector straight (its MSI route's irqfd, pointed at
 * the vector's message first), while MSI-X is on and neither the function
 * nor the vector is masked; -1 otherwise, or without MSI routes. For a data
 * path outside the VMM (vhost): msix_changed says when to ask again, and
 * while it is -1 such a path must come through glue_pci_dev_msix_notify(),
 * which keeps the pending bits.
 */
GLUE_API int glue_pci_dev_msix_irqfd(struct glue_pci_dev *dev, uint16_t vector);
/* Forget pending messages (the device was reset: what they announced is gone). */
GLUE_API void glue_pci_dev_msix_clear_pending(struct glue_pci_dev *dev);
/*
 * Have a write of len bytes at offset in BAR bar (of value datamatch, when
 * >= 0) signal fd through the bus's fast path (glue_bus_ioevent_add) at
 * wherever the guest maps the BAR, for as long as it does, until the device
 * is detached. An optimisation: the device must handle the same write in
 * bar_write too, where no fast path took it. -ENOSPC past 64 per device.
 */
GLUE_API int glue_pci_dev_add_ioevent(struct glue_pci_dev *dev, int bar, uint64_t offset,
				      uint32_t len, int64_t datamatch, int fd);
/* Whether the guest enabled MSI-X. */
GLUE_API bool glue_pci_dev_msix_enabled(struct glue_pci_dev *dev);
/* Fire vector (or leave it pending while masked). -EINVAL past the table. */
GLUE_API int glue_pci_dev_msix_notify(struct glue_pci_dev *dev, uint16_t vector);
/*
 * An access to BAR bar at offset as a guest's memory access makes it (the
 * MSI-X table included), whether or where the BAR is mapped: for windows
 * into a BAR through configuration space. Outside the BAR: reads all-ones,
 * writes dropped.
 */
GLUE_API void glue_pci_dev_bar_access(struct glue_pci_dev *dev, int bar, uint64_t offset,
				      void *data, uint32_t len, bool write);
/* Read-only view of config space bytes (for tests and transports). */
GLUE_API void glue_pci_dev_config_read(struct glue_pci_dev *dev, uint32_t offset, void *data,
				       uint32_t len);
/* Command register bits the guest set (PCI_COMMAND_*). */
GLUE_API uint16_t glue_pci_dev_command(struct glue_pci_dev *dev);

/* Configuration access as a CPU makes it: bus/device/function/offset. */
GLUE_API void glue_pci_config_read(struct glue_pci *pci, uint32_t bdf, uint32_t offset, void *data,
				   uint32_t len);
GLUE_API void glue_pci_config_write(struct glue_pci *pci, uint32_t bdf, uint32_t offset,
				    const void *data, uint32_t len);

GLUE_END_DECLS

#endif
