// SPDX-License-Identifier: MIT
/*
 * ACPI tables (RSDP, XSDT, FADT, DSDT, MADT), hardware-reduced. Built in a
 * host buffer with explicit little-endian offsets, then copied into guest
 * memory in one bounds-checked write, so a failure leaves memory untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glue/acpi.h>
#include <glue/memory.h>
#include <glue/mptable.h>
#include "acpi/aml.h"
#include "core/err.h"
#include "core/table.h"
#include "core/util.h"

#define OEM_ID "GLUE  "		/* 6 bytes */
#define OEM_TABLE_ID "GLUEVM  " /* 8 bytes */
#define OEM_REVISION 1
#define CREATOR_ID "GLUE"
#define CREATOR_REVISION 1
#define HYPERVISOR_VENDOR "GLUE    " /* 8 bytes */

#define RSDP_SIZE 36
#define RSDP_V1_SIZE 20 /* what the first checksum covers */
#define RSDP_REVISION 2
#define SDT_HEADER_SIZE 36
#define XSDT_REVISION 1
#define XSDT_MAX_ENTRIES 3		     /* FADT, MADT, MCFG */
#define MCFG_SIZE (SDT_HEADER_SIZE + 8 + 16) /* one ECAM range */
#define FADT_SIZE 276
#define FADT_REVISION 6
#define FADT_MINOR 5 /* ACPI 6.5 */
/* 2: integers are 64-bit in this definition block. */
#define DSDT_REVISION 2
#define MADT_REVISION 5
#define MADT_HEADER_SIZE 44

/* FADT offsets (ACPI 6.5, table 5.9). */
#define FADT_DSDT 40
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL 244
#define FADT_SLEEP_STATUS 256
#define FADT_HYPERVISOR_VENDOR 268

/* Generic Address Structure: one byte in system I/O space. */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

/* FADT fixed feature flags. */
#define FADT_F_WBINVD (1U << 0)
#define FADT_F_PROC_C1 (1U << 2)
/* Set: no fixed-hardware power/sleep button (none in hardware-reduced). */
#define FADT_F_PWR_BUTTON (1U << 4)
#define FADT_F_SLP_BUTTON (1U << 5)
#define FADT_F_HW_REDUCED_ACPI (1U << 20)

/* IA-PC boot architecture flags. */
#define IAPC_LEGACY_DEVICES (1U << 0)
#define IAPC_8042 (1U << 1)
#define IAPC_VGA_NOT_PRESENT (1U << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1U << 5)

/* The CMOS register holding the century (glue's RTC implements it). */
#define RTC_CENTURY_REG 0x32

/* MADT. */
#define MADT_PCAT_COMPAT (1U << 0)
#define MADT_LAPIC 0
#define MADT_LAPIC_SIZE 8
#define MADT_IOAPIC 1
#define MADT_IOAPIC_SIZE 12
#define MADT_LAPIC_NMI 4
#define MADT_LAPIC_NMI_SIZE 6
#define MADT_LAPIC_ENABLED (1U << 0)
#define MADT_ALL_PROCESSORS 0xFF

/* Legacy devices described in the DSDT. */
#define COM1_BASE 0x3F8
#define COM1_IRQ 4
#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_IRQ 1
#define RTC_BASE 0x70
#define RTC_IRQ 8

/* ACPI PM device (<glue/acpi_pm.h>): the GED's event register, the power
 * button's notification and the SLP_TYP of \_S5. */
#define PM_GED_EVENTS 2
#define PM_EVENT_POWER_BUTTON 0x1
#define NOTIFY_POWER_BUTTON 0x80
#define SLP_TYP_S5 5

/* Plenty for the legacy devices (about 400 bytes of AML) and 32 virtio-mmio
 * devices (about 60 bytes each). */
#define DSDT_MAX 4096

#define TABLE_ALIGN 8

struct layout {
	size_t xsdt, fadt, dsdt, madt, mcfg; /* offsets from addr; the RSDP is at 0 */
	size_t xsdt_entries, dsdt_len, madt_len, total;
};

/* Copy what this version knows from in (possibly an older, smaller or a
 * newer, larger struct) and validate it. */
static int get_config(const struct glue_acpi_config *in, struct glue_acpi_config *out)
{
	if (!in || in->size < offsetof(struct glue_acpi_config, rtc) + sizeof(in->rtc))
		return glue_err(-EINVAL, "ACPI config: bad size (call glue_acpi_config_init)");
	glue_acpi_config_init(out);
	memcpy(out, in, GLUE_MIN((size_t)in->size, sizeof(*out)));
	out->size = sizeof(*out);
	if (out->pm && out->pm_gsi > 23)
		return glue_err(-EINVAL,
				"ACPI tables: PM interrupt GSI %u is not an I/O APIC pin (0-23)",
				out->pm_gsi);
	if (out->pm && out->pm_port > 0xffff - 3)
		return glue_err(-EINVAL, "ACPI tables: PM ports at %#x run past 0xffff",
				out->pm_port);
	if (out->virtio_mmio_count > GLUE_ACPI_MAX_VIRTIO_MMIO)
		return glue_err(-EINVAL, "ACPI tables: %u virtio-mmio devices (at most %d)",
				out->virtio_mmio_count, GLUE_ACPI_MAX_VIRTIO_MMIO);
	for (uint32_t i = 0; i < out->virtio_mmio_count; i++) {
		const struct glue_acpi_virtio_mmio *d = &out->virtio_mmio[i];

		if (d->size == 0 || d->base > UINT32_MAX || d->size > UINT32_MAX - d->base + 1)
			return glue_err(
				-EINVAL,
				"ACPI tables: virtio-mmio device at %#llx must lie below 4 GiB",
				(unsigned long long)d->base);
		if (d->gsi > 23)
			return glue_err(
				-EINVAL,
				"ACPI tables: virtio-mmio GSI %u is not an I/O APIC pin (0-23)",
				d->gsi);
	}
	if (out->pci &&
	    (!out->pci_mmio_size || out->pci_mmio_base > UINT32_MAX ||
	     out->pci_mmio_size > UINT32_MAX - out->pci_mmio_base + 1 || out->pci_intx_count > 32))
		return glue_err(-EINVAL,
				"ACPI tables: the PCI window %#llx+%#llx must lie below 4 GiB",
				(unsigned long long)out->pci_mmio_base,
				(unsigned long long)out->pci_mmio_size);
	if (out->pci &&
	    (out->pci_ecam_base % (1u << 20) || out->pci_ecam_base > UINT32_MAX - (1u << 20) + 1))
		return glue_err(-EINVAL, "ACPI tables: ECAM at %#llx: 1 MiB aligned, below 4 GiB",
				(unsigned long long)out->pci_ecam_base);
	for (uint32_t i = 0; out->pci && i < out->pci_intx_count; i++)
		if (out->pci_intx[i].slot > 31 || out->pci_intx[i].gsi > 23)
			return glue_err(-EINVAL, "ACPI tables: PCI INTx of slot %u on GSI %u",
					out->pci_intx[i].slot, out->pci_intx[i].gsi);
	if (out->ncpus == 0 || out->ncpus > GLUE_ACPI_MAX_CPUS)
		return glue_err(-EINVAL, "ACPI tables: %u CPUs (supported: 1-%d)", out->ncpus,
				GLUE_ACPI_MAX_CPUS);
	/* The MADT holds 32-bit addresses. */
	if (out->lapic_addr > UINT32_MAX || out->ioapic_addr > UINT32_MAX)
		return glue_err(
			-EINVAL,
			"ACPI tables: local APIC %#llx / I/O APIC %#llx must be below 4 GiB",
			(unsigned long long)out->lapic_addr, (unsigned long long)out->ioapic_addr);
	return 0;
}

static void sdt_header(uint8_t *t, const char *sig, size_t len, uint8_t revision)
{
	memcpy(t, sig, 4);
	glue_put32(t, 4, (uint32_t)len);
	glue_put8(t, 8, revision);
	/* 9: checksum, filled in by sdt_finish() */
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	glue_put32(t, 24, OEM_REVISION);
	memcpy(t + 28, CREATOR_ID, 4);
	glue_put32(t, 32, CREATOR_REVISION);
}

static void sdt_finish(uint8_t *t, size_t len)
{
	t[9] = 0;
	t[9] = glue_table_checksum(t, len);
}

/* One legacy device: Device (name) { _HID, [_UID,] _CRS }. */
static void dsdt_device(struct glue_aml *a, const char *name, const char *hid,
			const struct glue_aml *crs)
{
	size_t dev = glue_aml_device_begin(a, name);

	glue_aml_name(a, "_HID");
	glue_aml_eisaid(a, hid);
	glue_aml_name(a, "_UID");
	glue_aml_integer(a, 0);
	glue_aml_name(a, "_CRS");
	glue_aml_buffer(a, crs->buf, crs->len);
	glue_aml_pkg_end(a, dev);
}

/*
 * The power button and the Generic Event Device that signals it: Linux's
 * evged driver runs _EVT on the GED's interrupt; _EVT reads (and so clears)
 * the event register and notifies the button, whose driver reports
 * KEY_POWER to userspace (acpid, systemd-logind), which powers off.
 */
static void dsdt_pm(struct glue_aml *a, const struct glue_acpi_config *cfg)
{
	uint8_t crs_buf[32];
	struct glue_aml crs;
	size_t dev, method, cond;

	dev = glue_aml_device_begin(a, "PWRB");
	glue_aml_name(a, "_HID");
	glue_aml_eisaid(a, "PNP0C0C");
	glue_aml_name(a, "_UID");
	glue_aml_integer(a, 0);
	glue_aml_pkg_end(a, dev);

	glue_aml_init(&crs, crs_buf, sizeof(crs_buf));
	glue_aml_res_ext_irq_edge(&crs, cfg->pm_gsi);
	glue_aml_res_end(&crs);
	a->bad |= !glue_aml_ok(&crs);
	dev = glue_aml_device_begin(a, "GED0");
	glue_aml_name(a, "_HID");
	glue_aml_string(a, "ACPI0013");
	glue_aml_name(a, "_UID");
	glue_aml_integer(a, 0);
	glue_aml_name(a, "_CRS");
	glue_aml_buffer(a, crs.buf, crs.len);
	glue_aml_opregion_io(a, "GEDR", (uint16_t)(cfg->pm_port + PM_GED_EVENTS), 1);
	glue_aml_field_byte(a, "GEDR", "GEVT");
	method = glue_aml_method_begin(a, "_EVT", 1, true);
	glue_aml_store_to_local(a, "GEVT", 0);
	cond = glue_aml_if_local_and_begin(a, 0, PM_EVENT_POWER_BUTTON);
	glue_aml_notify(a, "PWRB", NOTIFY_POWER_BUTTON);
	glue_aml_pkg_end(a, cond);
	glue_aml_pkg_end(a, method);
	glue_aml_pkg_end(a, dev);
}

/* virtio-mmio device i: Device (VRnn) { _HID "LNRO0005", _UID i, _CRS }. */
static void dsdt_virtio_mmio(struct glue_aml *a, uint32_t i, const struct glue_acpi_virtio_mmio *d)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = {'V', 'R', hex[(i >> 4) & 0xf], hex[i & 0xf], 0};
	uint8_t crs_buf[32];
	struct glue_aml crs;
	size_t dev;

	glue_aml_init(&crs, crs_buf, sizeof(crs_buf));
	glue_aml_res_mem32(&crs, (uint32_t)d->base, d->size);
	glue_aml_res_ext_irq_level(&crs, d->gsi);
	glue_aml_res_end(&crs);
	a->bad |= !glue_aml_ok(&crs);
	dev = glue_aml_device_begin(a, name);
	glue_aml_name(a, "_HID");
	glue_aml_string(a, "LNRO0005");
	glue_aml_name(a, "_UID");
	glue_aml_integer(a, i);
	glue_aml_name(a, "_CRS");
	glue_aml_buffer(a, crs.buf, crs.len);
	glue_aml_pkg_end(a, dev);
}

/*
 * The PCI root bridge: bus 0, the config ports, the I/O ports around them
 * and the memory window as what it decodes, and INTx routing (_PRT: INTA of
 * each device with INTx on its GSI; level, active-low, as PCI is).
 */
static void dsdt_pci(struct glue_aml *a, const struct glue_acpi_config *cfg)
{
	uint8_t crs_buf[128];
	struct glue_aml crs;
	size_t dev, prt;

	glue_aml_init(&crs, crs_buf, sizeof(crs_buf));
	glue_aml_res_word_range(&crs, GLUE_AML_ADDR_BUS, 0, 0, 0);
	glue_aml_res_io(&crs, 0xCF8, 0xCF8, 1, 8);
	glue_aml_res_word_range(&crs, GLUE_AML_ADDR_IO, 0x03, 0x0000, 0x0CF7);
	glue_aml_res_word_range(&crs, GLUE_AML_ADDR_IO, 0x03, 0x0D00, 0xFFFF);
	glue_aml_res_dword_mem(&crs, (uint32_t)cfg->pci_mmio_base,
			       (uint32_t)(cfg->pci_mmio_base + cfg->pci_mmio_size - 1));
	glue_aml_res_end(&crs);
	a->bad |= !glue_aml_ok(&crs);

	/* The ECAM window, as motherboard resources: Linux uses MCFG only when
	 * its range is reserved there. */
	if (cfg->pci_ecam_base) {
		uint8_t res_buf[32];
		struct glue_aml res;

		glue_aml_init(&res, res_buf, sizeof(res_buf));
		glue_aml_res_mem32(&res, (uint32_t)cfg->pci_ecam_base, 1u << 20);
		glue_aml_res_end(&res);
		a->bad |= !glue_aml_ok(&res);
		dsdt_device(a, "RES0", "PNP0C02", &res);
	}

	dev = glue_aml_device_begin(a, "PCI0");
	glue_aml_name(a, "_HID");
	glue_aml_eisaid(a, "PNP0A08");
	glue_aml_name(a, "_CID");
	glue_aml_eisaid(a, "PNP0A03");
	glue_aml_name(a, "_SEG");
	glue_aml_integer(a, 0);
	glue_aml_name(a, "_BBN");
	glue_aml_integer(a, 0);
	glue_aml_name(a, "_UID");
	glue_aml_integer(a, 0);
	glue_aml_name(a, "_CRS");
	glue_aml_buffer(a, crs.buf, crs.len);
	glue_aml_name(a, "_PRT");
	glue_aml_byte(a, 0x12); /* PackageOp */
	prt = glue_aml_pkg_begin(a);
	glue_aml_byte(a, (uint8_t)cfg->pci_intx_count);
	for (uint32_t i = 0; i < cfg->pci_intx_count; i++) {
		/* {address: slot << 16 | 0xFFFF (any function), pin 0 = INTA, source 0, GSI} */
		const uint64_t e[4] = {(uint64_t)cfg->pci_intx[i].slot << 16 | 0xFFFF, 0, 0,
				       cfg->pci_intx[i].gsi};

		glue_aml_package_ints(a, e, 4);
	}
	glue_aml_pkg_end(a, prt);
	glue_aml_pkg_end(a, dev);
}

/*
 * The DSDT's AML body (after the header) into buf. Linux binds its 8250,
 * i8042 and rtc-cmos drivers to these PNP devices; in hardware-reduced mode
 * it has no legacy PIC and sets up ISA IRQs only from _CRS.
 */
static int build_dsdt_body(const struct glue_acpi_config *cfg, uint8_t *buf, size_t cap,
			   size_t *len)
{
	uint8_t crs_buf[64];
	struct glue_aml a, crs;
	size_t scope;

	glue_aml_init(&a, buf, cap);
	if (cfg->pm) {
		/* {SLP_TYPa, SLP_TYPb, reserved, reserved} */
		const uint64_t s5[] = {SLP_TYP_S5, SLP_TYP_S5, 0, 0};

		glue_aml_name(&a, "_S5_");
		glue_aml_package_ints(&a, s5, 4);
	}
	if (cfg->serial || cfg->i8042 || cfg->rtc || cfg->pm || cfg->virtio_mmio_count ||
	    cfg->pci) {
		scope = glue_aml_scope_begin(&a, "\\_SB_");
		if (cfg->serial) {
			glue_aml_init(&crs, crs_buf, sizeof(crs_buf));
			glue_aml_res_io(&crs, COM1_BASE, COM1_BASE, 1, 8);
			glue_aml_res_irq(&crs, COM1_IRQ);
			glue_aml_res_end(&crs);
			a.bad |= !glue_aml_ok(&crs);
			dsdt_device(&a, "COM1", "PNP0501", &crs);
		}
		if (cfg->i8042) {
			/* Linux's i8042 takes the data port first, then the command port. */
			glue_aml_init(&crs, crs_buf, sizeof(crs_buf));
			glue_aml_res_io(&crs, I8042_DATA, I8042_DATA, 1, 1);
			glue_aml_res_io(&crs, I8042_CMD, I8042_CMD, 1, 1);
			glue_aml_res_irq(&crs, I8042_IRQ);
			glue_aml_res_end(&crs);
			a.bad |= !glue_aml_ok(&crs);
			dsdt_device(&a, "PS2K", "PNP0303", &crs);
		}
		if (cfg->rtc) {
			glue_aml_init(&crs, crs_buf, sizeof(crs_buf));
			glue_aml_res_io(&crs, RTC_BASE, RTC_BASE, 1, 2);
			glue_aml_res_irq(&crs, RTC_IRQ);
			glue_aml_res_end(&crs);
			a.bad |= !glue_aml_ok(&crs);
			dsdt_device(&a, "RTC_", "PNP0B00", &crs);
		}
		if (cfg->pm)
			dsdt_pm(&a, cfg);
		for (uint32_t i = 0; i < cfg->virtio_mmio_count; i++)
			dsdt_virtio_mmio(&a, i, &cfg->virtio_mmio[i]);
		if (cfg->pci)
			dsdt_pci(&a, cfg);
		glue_aml_pkg_end(&a, scope);
	}
	if (!glue_aml_ok(&a))
		return glue_err(-ENOSPC, "ACPI tables: DSDT does not fit in %zu bytes", cap);
	*len = a.len;
	return 0;
}

static size_t madt_len(uint32_t ncpus)
{
	return MADT_HEADER_SIZE + (size_t)ncpus * MADT_LAPIC_SIZE + MADT_IOAPIC_SIZE +
	       MADT_LAPIC_NMI_SIZE;
}

static int compute_layout(const struct glue_acpi_config *cfg, struct layout *l, uint8_t *aml,
			  size_t aml_cap)
{
	size_t aml_len = 0;
	int r;

	r = build_dsdt_body(cfg, aml, aml_cap, &aml_len);
	if (r < 0)
		return r;
	l->dsdt_len = SDT_HEADER_SIZE + aml_len;
	l->madt_len = madt_len(cfg->ncpus);
	l->xsdt_entries = cfg->pci && cfg->pci_ecam_base ? 3 : 2;
	l->xsdt = GLUE_ALIGN_UP((size_t)RSDP_SIZE, TABLE_ALIGN);
	l->fadt = GLUE_ALIGN_UP(l->xsdt + SDT_HEADER_SIZE + l->xsdt_entries * 8, TABLE_ALIGN);
	l->dsdt = GLUE_ALIGN_UP(l->fadt + FADT_SIZE, TABLE_ALIGN);
	l->madt = GLUE_ALIGN_UP(l->dsdt + l->dsdt_len, TABLE_ALIGN);
	l->total = l->madt + l->madt_len;
	if (l->xsdt_entries == 3) {
		l->mcfg = GLUE_ALIGN_UP(l->total, TABLE_ALIGN);
		l->total = l->mcfg + MCFG_SIZE;
	}
	return 0;
}

size_t glue_acpi_size(const struct glue_acpi_config *cfg)
{
	struct glue_acpi_config c;
	uint8_t aml[DSDT_MAX];
	struct layout l;

	if (get_config(cfg, &c) < 0 || compute_layout(&c, &l, aml, sizeof(aml)) < 0)
		return 0;
	return l.total;
}

static void write_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, OEM_ID, 6);
	glue_put8(p, 15, RSDP_REVISION);
	glue_put32(p, 16, 0); /* no RSDT: ACPI 2.0+ guests use the XSDT */
	glue_put32(p, 20, RSDP_SIZE);
	glue_put64(p, 24, xsdt_gpa);
	glue_put8(p, 8, glue_table_checksum(p, RSDP_V1_SIZE));
	glue_put8(p, 32, glue_table_checksum(p, RSDP_SIZE));
}

static void write_xsdt(uint8_t *t, const uint64_t *gpa, size_t n)
{
	size_t len = SDT_HEADER_SIZE + n * 8;

	sdt_header(t, "XSDT", len, XSDT_REVISION);
	for (size_t i = 0; i < n; i++)
		glue_put64(t, SDT_HEADER_SIZE + 8 * i, gpa[i]);
	sdt_finish(t, len);
}

/* MCFG (PCI Firmware spec 3.x): one ECAM range, segment 0, bus 0. */
static void write_mcfg(uint8_t *t, const struct glue_acpi_config *cfg)
{
	sdt_header(t, "MCFG", MCFG_SIZE, 1);
	/* 8 reserved bytes, then the entry */
	glue_put64(t, SDT_HEADER_SIZE + 8, cfg->pci_ecam_base);
	glue_put16(t, SDT_HEADER_SIZE + 16, 0); /* segment */
	glue_put8(t, SDT_HEADER_SIZE + 18, 0);	/* start bus */
	glue_put8(t, SDT_HEADER_SIZE + 19, 0);	/* end bus */
	sdt_finish(t, MCFG_SIZE);
}

static void write_gas_io(uint8_t *g, uint64_t port)
{
	glue_put8(g, 0, GAS_SYSTEM_IO);
	glue_put8(g, 1, 8); /* register width, bits */
	glue_put8(g, 2, 0); /* bit offset */
	glue_put8(g, 3, GAS_ACCESS_BYTE);
	glue_put64(g, 4, port);
}

static void write_fadt(uint8_t *t, const struct glue_acpi_config *cfg, uint64_t dsdt_gpa)
{
	uint16_t boot_arch = IAPC_VGA_NOT_PRESENT;

	sdt_header(t, "FACP", FADT_SIZE, FADT_REVISION);
	/* No FACS (optional when hardware-reduced), no SCI, no PM blocks. */
	if (dsdt_gpa <= UINT32_MAX)
		glue_put32(t, FADT_DSDT, (uint32_t)dsdt_gpa);
	if (cfg->serial || cfg->i8042 || cfg->rtc)
		boot_arch |= IAPC_LEGACY_DEVICES;
	/* Without this bit Linux treats the i8042 as absent. */
	if (cfg->i8042)
		boot_arch |= IAPC_8042;
	if (cfg->rtc)
		glue_put8(t, FADT_CENTURY, RTC_CENTURY_REG);
	else
		boot_arch |= IAPC_CMOS_RTC_NOT_PRESENT;
	glue_put16(t, FADT_IAPC_BOOT_ARCH, boot_arch);
	glue_put32(t, FADT_FLAGS,
		   FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
			   FADT_F_HW_REDUCED_ACPI);
	/* 116..128: no reset register (Linux falls back to the i8042). */
	if (cfg->pm) {
		write_gas_io(t + FADT_SLEEP_CONTROL, cfg->pm_port);
		write_gas_io(t + FADT_SLEEP_STATUS, (uint64_t)cfg->pm_port + 1);
	}
	/* 129: ARM boot architecture flags, 0 on x86. */
	glue_put8(t, FADT_MINOR_VERSION, FADT_MINOR);
	glue_put64(t, FADT_X_DSDT, dsdt_gpa);
	memcpy(t + FADT_HYPERVISOR_VENDOR, HYPERVISOR_VENDOR, 8);
	sdt_finish(t, FADT_SIZE);
}

static void write_dsdt(uint8_t *t, const uint8_t *aml, size_t len)
{
	sdt_header(t, "DSDT", len, DSDT_REVISION);
	memcpy(t + SDT_HEADER_SIZE, aml, len - SDT_HEADER_SIZE);
	sdt_finish(t, len);
}

static void write_madt(uint8_t *t, const struct glue_acpi_config *cfg, size_t len)
{
	size_t off = MADT_HEADER_SIZE;

	sdt_header(t, "APIC", len, MADT_REVISION);
	glue_put32(t, SDT_HEADER_SIZE, (uint32_t)cfg->lapic_addr);
	/* KVM's irqchip has a (legacy) 8259 pair besides the I/O APIC. */
	glue_put32(t, SDT_HEADER_SIZE + 4, MADT_PCAT_COMPAT);
	for (uint32_t i = 0; i < cfg->ncpus; i++, off += MADT_LAPIC_SIZE) {
		glue_put8(t, off, MADT_LAPIC);
		glue_put8(t, off + 1, MADT_LAPIC_SIZE);
		glue_put8(t, off + 2, (uint8_t)i); /* ACPI processor UID */
		glue_put8(t, off + 3, (uint8_t)i); /* APIC ID = vCPU index */
		glue_put32(t, off + 4, MADT_LAPIC_ENABLED);
	}
	/* Same I/O APIC ID as the MP table. */
	glue_put8(t, off, MADT_IOAPIC);
	glue_put8(t, off + 1, MADT_IOAPIC_SIZE);
	glue_put8(t, off + 2, (uint8_t)cfg->ncpus);
	glue_put32(t, off + 4, (uint32_t)cfg->ioapic_addr);
	glue_put32(t, off + 8, 0); /* GSI base */
	off += MADT_IOAPIC_SIZE;
	glue_put8(t, off, MADT_LAPIC_NMI);
	glue_put8(t, off + 1, MADT_LAPIC_NMI_SIZE);
	glue_put8(t, off + 2, MADT_ALL_PROCESSORS);
	glue_put16(t, off + 3, 0); /* polarity, trigger: conform to the bus */
	glue_put8(t, off + 5, 1);  /* LINT1 */
	sdt_finish(t, len);
}

/* Bytes from gpa to the end of the memory region holding it (0 if none). */
static uint64_t room_at(const struct glue_mem *mem, uint64_t gpa)
{
	struct glue_mem_region r;

	for (size_t i = 0; i < glue_mem_region_count(mem); i++)
		if (glue_mem_region_get(mem, i, &r) == 0 && gpa >= r.gpa && gpa - r.gpa < r.size)
			return r.size - (gpa - r.gpa);
	return 0;
}

int glue_acpi_write(struct glue_mem *mem, uint64_t addr, const struct glue_acpi_config *cfg,
		    uint64_t *rsdp_gpa)
{
	struct glue_acpi_config c;
	uint8_t aml[DSDT_MAX];
	struct layout l;
	uint64_t room;
	uint8_t *p;
	int r;

	r = get_config(cfg, &c);
	if (r < 0)
		return r;
	if (!mem)
		return glue_err(-EINVAL, "ACPI tables: no guest memory");
	if (!GLUE_IS_ALIGNED(addr, 16))
		return glue_err(-EINVAL, "ACPI tables at %#llx: must be 16-byte aligned",
				(unsigned long long)addr);
	r = compute_layout(&c, &l, aml, sizeof(aml));
	if (r < 0)
		return r;
	room = room_at(mem, addr);
	if (room < l.total)
		return glue_err(-ENOSPC,
				"ACPI tables for %u CPUs need %zu bytes at %#llx, but only %llu "
				"bytes of guest memory are there",
				c.ncpus, l.total, (unsigned long long)addr,
				(unsigned long long)room);
	if (addr < GLUE_MPTABLE_ADDR && GLUE_MPTABLE_ADDR - addr < l.total)
		return glue_err(-ENOSPC,
				"ACPI tables for %u CPUs need %zu bytes at %#llx and would "
				"overlap the MP table at %#llx",
				c.ncpus, l.total, (unsigned long long)addr,
				(unsigned long long)GLUE_MPTABLE_ADDR);

	p = calloc(1, l.total);
	if (!p)
		return glue_err(-ENOMEM, "out of memory");
	write_madt(p + l.madt, &c, l.madt_len);
	write_dsdt(p + l.dsdt, aml, l.dsdt_len);
	write_fadt(p + l.fadt, &c, addr + l.dsdt);
	{
		const uint64_t tables[XSDT_MAX_ENTRIES] = {addr + l.fadt, addr + l.madt,
							   addr + l.mcfg};

		if (l.xsdt_entries == 3)
			write_mcfg(p + l.mcfg, &c);
		write_xsdt(p + l.xsdt, tables, l.xsdt_entries);
	}
	write_rsdp(p, addr + l.xsdt);

	r = glue_mem_write(mem, addr, p, l.total);
	free(p);
	if (r < 0)
		return glue_err(r, "ACPI tables at %#llx are outside guest memory",
				(unsigned long long)addr);
	if (rsdp_gpa)
		*rsdp_gpa = addr;
	return 0;
}
