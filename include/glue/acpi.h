/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for an x86 guest: how a kernel without MP-table support (e.g.
 * Debian's cloud kernel) finds its CPUs, I/O APIC and legacy devices.
 *
 * Hardware-reduced ACPI (no PM timer, SCI or GPE), as Firecracker and
 * cloud-hypervisor use; with pm set, the sleep registers and a Generic Event
 * Device of <glue/acpi_pm.h> give the guest poweroff (S5) and a power
 * button. Written at addr, in this order, each 8-byte aligned:
 *   RSDP  revision 2 (ACPI 2.0+), at addr itself, RSDT address 0
 *   XSDT  pointing at the FADT and the MADT
 *   FADT  revision 6 (ACPI 6.5): HW_REDUCED_ACPI, DSDT and X_DSDT, IA-PC
 *         boot flags from the configured devices, hypervisor vendor "GLUE";
 *         with pm, SLEEP_CONTROL_REG / SLEEP_STATUS_REG at pm_port, +1
 *   DSDT  \_SB devices with _HID/_CRS for the configured legacy devices:
 *         COM1 (PNP0501), the i8042 keyboard (PNP0303), the RTC (PNP0B00);
 *         with pm, \_S5 (SLP_TYP 5), a power button PWRB (PNP0C0C) and a
 *         GED0 (ACPI0013) on pm_gsi whose _EVT reads the event register at
 *         pm_port + 2 and notifies PWRB (0x80) for bit 0
 *   MADT  one enabled local APIC per vCPU (processor UID = APIC ID = vCPU
 *         index), the I/O APIC (ID = ncpus, GSI base 0), LINT1 = NMI on all
 *         processors. No interrupt source overrides: KVM routes ISA IRQ n to
 *         I/O APIC pin n, the PIT's IRQ 0 included, like the MP table says.
 * OEM ID "GLUE  ", OEM table ID "GLUEVM  ", creator ID "GLUE".
 *
 * Thread-safety: glue_acpi_config_init() and glue_acpi_size() are pure;
 * glue_acpi_write() writes guest memory and must not race with other writers
 * of the same addresses.
 */
#ifndef GLUE_ACPI_H
#define GLUE_ACPI_H

#include <string.h>

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_mem;

/* Default place: in the BIOS area glue_mem_new_x86() reserves, where
 * guests that scan [0xE0000, 0x100000) for "RSD PTR " find it too. The MP
 * table sits at GLUE_MPTABLE_ADDR (0xF0000), so the tables must end there. */
#define GLUE_ACPI_ADDR 0xE0000ULL
/* One xAPIC entry per vCPU, 8-bit APIC IDs (0xFF is the broadcast ID). */
#define GLUE_ACPI_MAX_CPUS 255
/* virtio-mmio devices the DSDT can describe. */
#define GLUE_ACPI_MAX_VIRTIO_MMIO 32

struct glue_acpi_config {
	uint32_t size;	      /* sizeof(struct glue_acpi_config), set by _init */
	uint32_t ncpus;	      /* 1..GLUE_ACPI_MAX_CPUS; default 1 */
	uint64_t ioapic_addr; /* below 4 GiB; default 0xFEC00000 */
	uint64_t lapic_addr;  /* below 4 GiB; default 0xFEE00000 */
	bool serial;	      /* COM1 at 0x3F8, IRQ 4; default true */
	bool i8042;	      /* keyboard controller at 0x60/0x64, IRQ 1; default true */
	bool rtc;	      /* CMOS RTC at 0x70-0x71, IRQ 8; default true */
	/* Added in 0.2: the ACPI PM device of <glue/acpi_pm.h>. */
	bool pm;	  /* describe it; default false (only with the device) */
	uint16_t pm_port; /* its ports; default GLUE_ACPI_PM_PORT (0x600) */
	uint32_t pm_gsi;  /* its GED interrupt; default GLUE_ACPI_PM_GSI (9) */
	/* Added in 0.2: virtio-mmio devices, announced as LNRO0005 (Linux's
	 * virtio_mmio driver binds to these). Below 4 GiB, GSIs 0-23. */
	uint32_t virtio_mmio_count;
	struct glue_acpi_virtio_mmio {
		uint64_t base;
		uint32_t size;
		uint32_t gsi;
	} virtio_mmio[GLUE_ACPI_MAX_VIRTIO_MMIO];
	/* A PCI root bridge (PNP0A08, bus 0) whose BARs live in the memory window
	 * [pci_mmio_base, + pci_mmio_size) below 4 GiB, with INTx routing: INTA
	 * of device pci_intx[i].slot on GSI pci_intx[i].gsi. Default: none. */
	bool pci;
	uint64_t pci_mmio_base, pci_mmio_size;
	uint64_t pci_ecam_base; /* bus 0's 1 MiB of ECAM, in MCFG; 0 = none */
	uint32_t pci_intx_count;
	struct glue_acpi_pci_intx {
		uint32_t slot;
		uint32_t gsi;
	} pci_intx[32];
};

/*
 * Fill cfg with the defaults above (size included).
 * Inline on purpose: it runs with the caller's sizeof, so a program built
 * against an older, smaller struct never has a newer library write past it;
 * the library reads only cfg->size bytes.
 */
static inline void glue_acpi_config_init(struct glue_acpi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->ncpus = 1;
	cfg->ioapic_addr = 0xFEC00000ULL;
	cfg->lapic_addr = 0xFEE00000ULL;
	cfg->serial = true;
	cfg->i8042 = true;
	cfg->rtc = true;
	cfg->pm = false;
	cfg->pm_port = 0x600;
	cfg->pm_gsi = 9;
}

/*
 * Bytes glue_acpi_write() writes for cfg (all tables, alignment padding
 * included), or 0 when cfg is invalid (NULL, bad size, bad ncpus).
 */
GLUE_API size_t glue_acpi_size(const struct glue_acpi_config *cfg);

/*
 * Write all tables at addr (16-byte aligned) and store the RSDP's address
 * (= addr) in *rsdp_gpa (may be NULL), to be passed to the kernel as
 * glue_boot_config.acpi_rsdp_gpa. The tables must fit in the memory region
 * holding addr and, when addr is below GLUE_MPTABLE_ADDR, end at or below
 * it (so they cannot overlap the MP table).
 * Returns 0, -EINVAL (bad cfg: size, ncpus, APIC addresses; unaligned
 * addr), -ENOSPC (does not fit; the message gives the sizes), -ENOMEM.
 * Nothing is written on failure.
 */
GLUE_API int glue_acpi_write(struct glue_mem *mem, uint64_t addr,
			     const struct glue_acpi_config *cfg, uint64_t *rsdp_gpa);

GLUE_END_DECLS

#endif
