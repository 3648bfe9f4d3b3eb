/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the test guest, its GDT and page tables, the interrupt
 * stubs, the AP trampoline and the Xen PVH note.
 *
 * Loaded at 0x100000 (GUEST_BASE):
 *   +0x000  linux32_entry: Linux 32-bit boot protocol (paging off, esi = boot_params)
 *   +0x200  linux64_entry: Linux 64-bit boot protocol (long mode, rsi = boot_params),
 *           also the ELF e_entry
 *   pvh_entry (anywhere, named by the PVH note): 32-bit, paging off,
 *           ebx = struct hvm_start_info
 * Every path loads our own GDT and page tables, zeroes the BSS (a bzImage
 * loader copies only the file part) and calls guest_main(entry, info).
 */
#include "asm.h"

	.section .text.head, "ax"

	.code32
	.globl	linux32_entry
linux32_entry:
	cli
	cld
	movl	%esi, %edi
	movl	$ENTRY_LINUX32, %eax
	jmp	enter_long_mode

	.org	0x200
	.code64
	.globl	linux64_entry
linux64_entry:
	cli
	cld
	movq	%rsi, %rdi
	movl	$ENTRY_LINUX64, %eax
	jmp	common64

	.text

	.code32
	.globl	pvh_entry
pvh_entry:
	cli
	cld
	movl	%ebx, %edi
	movl	$ENTRY_PVH, %eax
	/* fall through */

/* eax = entry kind, edi = boot info pointer; flat 32-bit, paging off. */
enter_long_mode:
	lgdt	gdt_desc
	ljmp	$SEL_CODE32, $1f
1:	movl	$SEL_DATA, %ecx
	movl	%ecx, %ds
	movl	%ecx, %es
	movl	%ecx, %ss
	movl	%ecx, %fs
	movl	%ecx, %gs
	movl	%eax, %esi
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $2f
	.code64
2:	movl	%esi, %eax
	movl	%edi, %edi
	/* fall through */

/* rax = entry kind, rdi = boot info pointer; long mode, no stack yet. */
common64:
	movq	%rax, %r12
	movq	%rdi, %r13
	leaq	boot_stack_top(%rip), %rsp
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %ecx
	movl	%ecx, %ds
	movl	%ecx, %es
	movl	%ecx, %ss
	movl	%ecx, %fs
	movl	%ecx, %gs
	pushq	$SEL_CODE64
	leaq	1f(%rip), %rcx
	pushq	%rcx
	lretq
1:	movq	$pml4, %rcx
	movq	%rcx, %cr3
	leaq	__bss_start(%rip), %rdi
	leaq	_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	movl	%r12d, %edi
	movq	%r13, %rsi
	call	guest_main
	jmp	halt_forever

	.globl	halt_forever
halt_forever:
	cli
	hlt
	jmp	halt_forever

/*
 * Interrupt and exception stubs, one per vector, ISR_STUB_SIZE bytes apart.
 * Each pushes a dummy error code where the CPU does not, then the vector.
 */
	.balign	ISR_STUB_SIZE
	.globl	isr_stubs
isr_stubs:
	vector = 0
	.rept	256
	/* .org fails to assemble if the previous stub was too large. */
	.org	isr_stubs + vector * ISR_STUB_SIZE
	.if	!(vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30)
	pushq	$0
	.endif
	pushq	$vector
	jmp	isr_common
	vector = vector + 1
	.endr

/* Frame layout: struct trap_frame in guest.h. */
isr_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi
	cld
	call	guest_trap
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp
	iretq

/* Application processors arrive here from the trampoline, in long mode. */
	.globl	ap_entry64
ap_entry64:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movq	ap_stack_top(%rip), %rsp
	cld
	call	ap_main
	jmp	halt_forever

/*
 * AP trampoline: copied to AP_TRAMPOLINE (0x8000) and started by SIPI in
 * real mode with cs = 0x0800, ip = 0. Position dependent: addresses inside it
 * are computed relative to AP_TRAMPOLINE.
 */
	.section .rodata.trampoline, "a"
	.code16
	.globl	ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	ap_gdt_desc - ap_trampoline_start
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE32, $(AP_TRAMPOLINE + ap_tramp32 - ap_trampoline_start)
	.code32
ap_tramp32:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$CR0_PG, %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $ap_entry64
	.balign	8
ap_gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
ap_trampoline_end:

	.data
	.balign	16
	.globl	gdt
gdt:
	.quad	0
	.quad	0x00af9b000000ffff	/* SEL_CODE64 */
	.quad	0x00cf93000000ffff	/* SEL_DATA */
	.quad	0x00cf9b000000ffff	/* SEL_CODE32 */
gdt_end:
	.balign	8
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt

/*
 * Identity map of the first 4 GiB with 2 MiB pages, prebuilt so the 32-bit
 * paths need no code to build it. PDPT slots 4..511 are filled on demand
 * (phys_map() in paging.c) for RAM above 4 GiB. The top 32 MiB (local APIC,
 * IOAPIC) are uncached.
 */
	.section .data.pagetables, "aw"
	.balign	4096
	.globl	pml4, pdpt, pd_low
pml4:
	.quad	pdpt + PTE_P + PTE_W
	.fill	511, 8, 0
pdpt:
	.quad	pd_low + PTE_P + PTE_W
	.quad	pd_low + 0x1000 + PTE_P + PTE_W
	.quad	pd_low + 0x2000 + PTE_P + PTE_W
	.quad	pd_low + 0x3000 + PTE_P + PTE_W
	.fill	508, 8, 0
pd_low:
	page = 0
	.rept	2048
	.if	page >= 2032
	.quad	(page << 21) + PTE_P + PTE_W + PTE_PS + PTE_PWT + PTE_PCD
	.else
	.quad	(page << 21) + PTE_P + PTE_W + PTE_PS
	.endif
	page = page + 1
	.endr

/* XEN_ELFNOTE_PHYS32_ENTRY: where a PVH loader enters, 32-bit. */
	.section .note.Xen, "a", @note
	.balign	4
	.long	2f - 1f
	.long	4f - 3f
	.long	XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz	"Xen"
2:	.balign	4
3:	.quad	pvh_entry
4:	.balign	4

	.section .bss
	.balign	16
boot_stack:
	.skip	BOOT_STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
