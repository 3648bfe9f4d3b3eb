/* SPDX-License-Identifier: MIT */
/* Internals shared by the files of the x86 module (and its unit tests). */
#ifndef GLUE_INTERNAL_X86_H
#define GLUE_INTERNAL_X86_H

#include <glue/cpuid.h>
#include <glue/x86.h>

/* Const flavour of glue_cpuid_find(). */
const struct kvm_cpuid_entry2 *glue_cpuid_find_const(const struct kvm_cpuid2 *cpuid,
						     uint32_t function, uint32_t index);

/* Read / write one output register of an entry. */
uint32_t glue_cpuid_reg_get(const struct kvm_cpuid_entry2 *e, enum glue_cpuid_reg reg);
void glue_cpuid_reg_set(struct kvm_cpuid_entry2 *e, enum glue_cpuid_reg reg, uint32_t value);

/* Highest leaf of the range function belongs to (0, 0x40000000 or
 * 0x80000000), from that range's first leaf; 0 when the range is absent. */
uint32_t glue_cpuid_range_max(const struct kvm_cpuid2 *cpuid, uint32_t function);

/* Special registers for the two entry protocols: segments from the boot GDT
 * (glue_x86_write_gdt), control registers, EFER. Starts from *s as KVM gave
 * it (keeps apic_base and the interrupt bitmap). */
void glue_x86_sregs_linux64(struct kvm_sregs *s);
void glue_x86_sregs_protected32(struct kvm_sregs *s);

/* The boot MSRs: fills entries (at least GLUE_X86_BOOT_MSR_COUNT) and
 * returns how many. */
#define GLUE_X86_BOOT_MSR_COUNT 11
size_t glue_x86_boot_msrs(struct kvm_msr_entry *entries);

/* Program LINT0 = ExtINT, LINT1 = NMI in a KVM_GET_LAPIC register image. */
void glue_x86_lapic_set_lints(struct kvm_lapic_state *lapic);

#endif
