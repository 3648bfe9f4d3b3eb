/* SPDX-License-Identifier: MIT */
/*
 * x86 vCPU setup: the per-vCPU defaults (CPUID, MSRs, FPU, local APIC) and
 * the register state, GDT and page tables of the entry protocols.
 *
 * Guest memory used (all inside the first 64 KiB of RAM):
 *   0x500  boot GDT (GLUE_X86_GDT_SIZE bytes)
 *   0x9000 PML4, 0xA000 PDPT, 0xB000-0xEFFF four page directories
 *          (identity map of the first 4 GiB with 2 MiB pages)
 *
 * Thread-safety: the functions taking a vCPU follow <glue/kvm.h> (call them
 * from the thread that owns it); those writing guest memory must not race
 * with other writers of the same addresses.
 */
#ifndef GLUE_X86_H
#define GLUE_X86_H

#include <glue/common.h>
#include <linux/kvm.h>

GLUE_BEGIN_DECLS

struct glue_vcpu;
struct glue_mem;

/* Boot GDT layout (Linux's boot protocol: __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define GLUE_X86_GDT_ADDR 0x500ULL
#define GLUE_X86_GDT_SIZE 48U /* null, null, code, data, 16-byte TSS descriptor */
#define GLUE_X86_BOOT_CS 0x10
#define GLUE_X86_BOOT_DS 0x18
#define GLUE_X86_BOOT_TSS 0x20

/* Identity page tables for the 64-bit entry. */
#define GLUE_X86_PML4_ADDR 0x9000ULL
#define GLUE_X86_PDPT_ADDR 0xA000ULL
#define GLUE_X86_PD_ADDR 0xB000ULL		  /* 4 pages: 0xB000-0xEFFF */
#define GLUE_X86_IDENTITY_MAP_SIZE 0x100000000ULL /* 4 GiB */

/* Local APIC and I/O APIC MMIO bases. */
#define GLUE_X86_LAPIC_ADDR 0xFEE00000U
#define GLUE_X86_IOAPIC_ADDR 0xFEC00000U

/* Control-register and EFER bits used here. */
#define GLUE_X86_CR0_PE (1ULL << 0)
#define GLUE_X86_CR0_ET (1ULL << 4)
#define GLUE_X86_CR0_NE (1ULL << 5)
#define GLUE_X86_CR0_PG (1ULL << 31)
#define GLUE_X86_CR4_PSE (1ULL << 4)
#define GLUE_X86_CR4_PAE (1ULL << 5)
#define GLUE_X86_CR4_LA57 (1ULL << 12)
#define GLUE_X86_EFER_LME (1ULL << 8)
#define GLUE_X86_EFER_LMA (1ULL << 10)

/*
 * Write the boot GDT at GLUE_X86_GDT_ADDR: 0x10 is a flat 4 GiB code
 * segment (64-bit when long_mode, else 32-bit), 0x18 a flat data segment,
 * 0x20 a busy TSS. Returns 0 or -EFAULT when the GDT is outside mem.
 */
GLUE_API int glue_x86_write_gdt(struct glue_mem *mem, bool long_mode);

/*
 * Write identity page tables for [0, 4 GiB) with 2 MiB pages at
 * GLUE_X86_PML4_ADDR..0xEFFF (writable, supervisor). CR3 = GLUE_X86_PML4_ADDR.
 * Returns 0 or -EFAULT when the tables are outside mem.
 */
GLUE_API int glue_x86_write_page_tables(struct glue_mem *mem);

/*
 * Translate a guest-virtual (linear) address the way the vCPU described by
 * sregs would: paging off, 32-bit (with PSE), PAE, 4- and 5-level long mode,
 * with large pages. The tables are read from mem with bounds checks, so
 * guest-written tables are safe to walk. Returns 0, or -EFAULT when an entry
 * is not present or a table lies outside mem.
 */
GLUE_API int glue_x86_translate(const struct glue_mem *mem, const struct kvm_sregs *sregs,
				uint64_t gva, uint64_t *gpa);

/*
 * Linux 64-bit boot protocol: writes the boot GDT (64-bit code) and the
 * identity page tables, then sets long mode (CR0 PE|ET|NE|PG, CR4 PAE, EFER
 * LME|LMA, CR3 = PML4), CS = 0x10 (64-bit), DS/ES/FS/GS/SS = 0x18,
 * RIP = entry, RSI = zero_page, RFLAGS = 2 (interrupts off), other GPRs 0.
 * Returns 0 or a negative errno (memory out of range, KVM refused the state).
 */
GLUE_API int glue_x86_setup_linux64(struct glue_vcpu *vcpu, struct glue_mem *mem, uint64_t entry,
				    uint64_t zero_page);

/*
 * 32-bit protected mode, paging off (PVH: ebx = start_info; Linux 32-bit
 * protocol: esi = zero page): writes the boot GDT (32-bit code), CR0 = PE|ET,
 * CR4 = 0, EFER = 0, CS = 0x10, data segments 0x18, EIP = entry, RFLAGS = 2.
 * entry must be below 4 GiB (-EINVAL otherwise).
 */
GLUE_API int glue_x86_setup_protected32(struct glue_vcpu *vcpu, struct glue_mem *mem,
					uint64_t entry, uint32_t ebx, uint32_t esi);

/*
 * Entry state for what the loader produced (<glue/loader.h>):
 * GLUE_ENTRY_LINUX64 -> glue_x86_setup_linux64(entry, boot_params_gpa),
 * GLUE_ENTRY_PVH -> glue_x86_setup_protected32(entry, ebx = boot_params_gpa).
 * -EINVAL for an unknown protocol.
 */
struct glue_boot_info;
GLUE_API int glue_x86_setup_entry(struct glue_vcpu *vcpu, struct glue_mem *mem,
				  const struct glue_boot_info *boot);

/*
 * The boot MSRs: SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, SFMASK,
 * KERNEL_GS_BASE = 0, TSC = 0, MISC_ENABLE = fast strings, MTRR default type
 * write-back with MTRRs enabled. MSRs KVM does not know are skipped, not an
 * error. Returns how many were set (>= 0) or a negative errno.
 */
GLUE_API int glue_x86_setup_msrs(struct glue_vcpu *vcpu);

/* FPU defaults: FCW 0x37f, MXCSR 0x1f80. Returns 0 or a negative errno. */
GLUE_API int glue_x86_setup_fpu(struct glue_vcpu *vcpu);

/*
 * Local APIC: LINT0 = ExtINT (the PIC), LINT1 = NMI, as a PC BIOS leaves
 * them. Needs the in-kernel irqchip (glue_vm_setup_x86); fails otherwise.
 */
GLUE_API int glue_x86_setup_lapic(struct glue_vcpu *vcpu);

/*
 * Per-vCPU defaults in one call: KVM_SET_CPUID2 with cpuid (built for this
 * vCPU by glue_cpuid_for_vcpu), the boot MSRs, FPU defaults and the LAPIC
 * LINTs. Registers are left as KVM set them: APs (id > 0) wait for
 * INIT/SIPI; give the BSP its entry state with glue_x86_setup_linux64() or
 * glue_x86_setup_protected32(). Returns 0 or a negative errno.
 */
GLUE_API int glue_x86_vcpu_init(struct glue_vcpu *vcpu, const struct kvm_cpuid2 *cpuid);

GLUE_END_DECLS

#endif
