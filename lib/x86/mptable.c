// SPDX-License-Identifier: MIT
/*
 * MP tables (Intel MultiProcessor Specification 1.4). Built in a host
 * buffer with explicit little-endian offsets, then copied into guest memory
 * in one bounds-checked write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glue/memory.h>
#include <glue/mptable.h>
#include "core/err.h"
#include "core/table.h"
#include "core/util.h"
#include "x86/x86_internal.h"

#define MPF_SIZE 16
#define MPC_HEADER_SIZE 44
#define MP_PROC_SIZE 20
#define MP_ENTRY_SIZE 8
#define MP_SPEC_REV 4

enum {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_INTSRC = 3,
	MP_LINTSRC = 4,
};

enum {
	MP_INT = 0,
	MP_NMI = 1,
	MP_EXTINT = 3,
};

#define CPU_ENABLED 0x1
#define CPU_BSP 0x2
#define LAPIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define IOAPIC_ENABLED 0x1
#define ISA_IRQS 16
#define ALL_LAPICS 0xff

/* Processor entry defaults without CPUID: family 6; FPU and APIC. */
#define DEFAULT_SIGNATURE 0x600U
#define DEFAULT_FEATURES 0x201U

/* Entries besides the processors: bus, I/O APIC, 15 ISA IRQs + ExtINT, 2 LINTs. */
#define MP_OTHER_ENTRIES (1 + 1 + ISA_IRQS + 2)

size_t glue_mptable_size(uint32_t ncpus)
{
	return MPF_SIZE + MPC_HEADER_SIZE + (size_t)ncpus * MP_PROC_SIZE +
	       MP_OTHER_ENTRIES * MP_ENTRY_SIZE;
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

static size_t put_intsrc(uint8_t *p, size_t off, uint8_t type, uint8_t irq, uint8_t ioapic,
			 uint8_t pin)
{
	glue_put8(p, off, MP_INTSRC);
	glue_put8(p, off + 1, type);
	glue_put16(p, off + 2, 0); /* polarity/trigger: conform to the (ISA) bus */
	glue_put8(p, off + 4, 0);  /* source bus: ISA */
	glue_put8(p, off + 5, irq);
	glue_put8(p, off + 6, ioapic);
	glue_put8(p, off + 7, pin);
	return off + MP_ENTRY_SIZE;
}

static size_t put_lintsrc(uint8_t *p, size_t off, uint8_t type, uint8_t lint)
{
	glue_put8(p, off, MP_LINTSRC);
	glue_put8(p, off + 1, type);
	glue_put16(p, off + 2, 0);
	glue_put8(p, off + 4, 0);
	glue_put8(p, off + 5, 0);
	glue_put8(p, off + 6, ALL_LAPICS);
	glue_put8(p, off + 7, lint);
	return off + MP_ENTRY_SIZE;
}

int glue_mptable_write(struct glue_mem *mem, uint64_t addr, uint32_t ncpus,
		       const struct kvm_cpuid2 *cpuid)
{
	uint32_t signature = DEFAULT_SIGNATURE, feature_flags = DEFAULT_FEATURES;
	const uint8_t ioapic_id = (uint8_t)ncpus;
	size_t size = glue_mptable_size(ncpus), off, mpc_len;
	uint64_t room;
	uint8_t *p;
	int r;

	if (ncpus == 0 || ncpus > GLUE_MPTABLE_MAX_CPUS)
		return glue_err(-EINVAL, "MP table: %u CPUs (supported: 1-%d)", ncpus,
				GLUE_MPTABLE_MAX_CPUS);
	if (!GLUE_IS_ALIGNED(addr, 16) || addr + MPF_SIZE > GLUE_X86_HIGH_RAM_START)
		return glue_err(-EINVAL,
				"MP table at %#llx: must be 16-byte aligned and below 1 MiB",
				(unsigned long long)addr);
	room = room_at(mem, addr);
	if (room < size)
		return glue_err(
			-ENOSPC,
			"MP table for %u CPUs needs %zu bytes at %#llx, but only %llu bytes "
			"of guest memory are there",
			ncpus, size, (unsigned long long)addr, (unsigned long long)room);
	if (cpuid) {
		const struct kvm_cpuid_entry2 *e = glue_cpuid_find_const(cpuid, 1, 0);

		if (e) {
			signature = e->eax & 0xfff; /* stepping, model, family */
			feature_flags = e->edx;
		}
	}

	p = calloc(1, size);
	if (!p)
		return glue_err(-ENOMEM, "out of memory");

	/* Configuration table entries, after the floating pointer and header. */
	off = MPF_SIZE + MPC_HEADER_SIZE;
	for (uint32_t i = 0; i < ncpus; i++, off += MP_PROC_SIZE) {
		glue_put8(p, off, MP_PROCESSOR);
		glue_put8(p, off + 1, (uint8_t)i);
		glue_put8(p, off + 2, LAPIC_VERSION);
		glue_put8(p, off + 3, CPU_ENABLED | (i == 0 ? CPU_BSP : 0));
		glue_put32(p, off + 4, signature);
		glue_put32(p, off + 8, feature_flags);
	}
	glue_put8(p, off, MP_BUS);
	glue_put8(p, off + 1, 0);
	memcpy(p + off + 2, "ISA   ", 6);
	off += MP_ENTRY_SIZE;
	glue_put8(p, off, MP_IOAPIC);
	glue_put8(p, off + 1, ioapic_id);
	glue_put8(p, off + 2, IOAPIC_VERSION);
	glue_put8(p, off + 3, IOAPIC_ENABLED);
	glue_put32(p, off + 4, GLUE_X86_IOAPIC_ADDR);
	off += MP_ENTRY_SIZE;
	/* KVM's default GSI routing sends ISA IRQ n to IOAPIC pin n, the PIT's
	 * IRQ 0 included (no PC-style IRQ0 -> pin 2 override), so describe
	 * exactly that: the 8259 as ExtINT on pin 0, then identity. */
	off = put_intsrc(p, off, MP_EXTINT, 0, ioapic_id, 0);
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
		if (irq == 2)
			continue;
		off = put_intsrc(p, off, MP_INT, irq, ioapic_id, irq);
	}
	off = put_lintsrc(p, off, MP_EXTINT, 0);
	off = put_lintsrc(p, off, MP_NMI, 1);
	mpc_len = off - MPF_SIZE;

	/* Configuration table header. */
	memcpy(p + MPF_SIZE, "PCMP", 4);
	glue_put16(p, MPF_SIZE + 4, (uint16_t)mpc_len);
	glue_put8(p, MPF_SIZE + 6, MP_SPEC_REV);
	memcpy(p + MPF_SIZE + 8, "GLUE    ", 8);
	memcpy(p + MPF_SIZE + 16, "GLUE VMM    ", 12);
	glue_put16(p, MPF_SIZE + 34, (uint16_t)(ncpus + MP_OTHER_ENTRIES));
	glue_put32(p, MPF_SIZE + 36, GLUE_X86_LAPIC_ADDR);
	glue_put8(p, MPF_SIZE + 7, glue_table_checksum(p + MPF_SIZE, mpc_len));

	/* Floating pointer: points at the table right behind it. */
	memcpy(p, "_MP_", 4);
	glue_put32(p, 4, (uint32_t)(addr + MPF_SIZE));
	glue_put8(p, 8, 1); /* length in 16-byte units */
	glue_put8(p, 9, MP_SPEC_REV);
	glue_put8(p, 10, glue_table_checksum(p, MPF_SIZE));

	r = glue_mem_write(mem, addr, p, size);
	free(p);
	if (r < 0)
		return glue_err(r, "MP table at %#llx is outside guest memory",
				(unsigned long long)addr);
	return 0;
}
