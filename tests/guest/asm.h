/* SPDX-License-Identifier: MIT */
/* Constants shared by the test guest's assembly and C code. */
#ifndef GUEST_ASM_H
#define GUEST_ASM_H

/* Where the guest is linked and loaded (Linux's default load address). */
#define GUEST_BASE 0x100000

/* How the guest was entered (first argument of guest_main()). */
#define ENTRY_LINUX64 0
#define ENTRY_LINUX32 1
#define ENTRY_PVH 2

/* Our GDT. */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18

/* Real-mode start address of the APs: SIPI vector 0x08. */
#define AP_TRAMPOLINE 0x8000

#define ISR_STUB_SIZE 16
#define BOOT_STACK_SIZE 16384

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080

#define XEN_ELFNOTE_PHYS32_ENTRY 18

#endif
