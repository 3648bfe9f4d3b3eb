/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
 * finds its CPUs, I/O APIC and interrupt wiring.
 *
 * Layout written at addr: the 16-byte floating pointer ("_MP_"), then the
 * configuration table ("PCMP", OEM "GLUE") with, in order: one processor
 * entry per vCPU (APIC ID = vCPU id, BSP = 0), the ISA bus, the I/O APIC
 * (ID = ncpus, at GLUE_X86_IOAPIC_ADDR), I/O interrupt entries for ISA IRQs
 * (IRQs 0, 1, 3-15 on the pin of the same number, as KVM's default GSI
 * routing wires them; the 8259 as ExtINT on pin 0), and LINT0 = ExtINT / LINT1 = NMI on every local APIC.
 *
 * Thread-safety: writes guest memory; do not race with other writers.
 */
#ifndef GLUE_MPTABLE_H
#define GLUE_MPTABLE_H

#include <glue/common.h>
#include <linux/kvm.h>

GLUE_BEGIN_DECLS

struct glue_mem;

/* Default place: the BIOS area reserved by glue_mem_new_x86(), where guests
 * scan for "_MP_". */
#define GLUE_MPTABLE_ADDR 0xF0000ULL
#define GLUE_MPTABLE_MAX_CPUS 255

/* Bytes the tables take for ncpus CPUs (floating pointer included). */
GLUE_API size_t glue_mptable_size(uint32_t ncpus);

/*
 * Write the MP tables for ncpus (1..GLUE_MPTABLE_MAX_CPUS) CPUs at addr
 * (16-byte aligned, below 1 MiB so guests find the floating pointer; the
 * whole table must fit in the memory region holding addr). The processor
 * entries take their signature and feature flags from cpuid leaf 1 (a
 * vCPU's table, or the base table); cpuid may be NULL (generic values).
 * Returns 0, -EINVAL (bad ncpus or addr), -ENOSPC (does not fit; the
 * message gives the sizes).
 */
GLUE_API int glue_mptable_write(struct glue_mem *mem, uint64_t addr, uint32_t ncpus,
				const struct kvm_cpuid2 *cpuid);

GLUE_END_DECLS

#endif
