/* SPDX-License-Identifier: MIT */
/*
 * The real-mode part of the test guest's bzImage: the boot sector and setup
 * sectors of Linux's layout (SETUP_SECTS setup sectors). mkbzimage.py fills in
 * the setup header (0x1f1..0x26b); everything else here must stay zero where
 * struct boot_params has fields, because this area becomes the zero page.
 *
 * Only a loader that uses the 16-bit boot protocol runs this (QEMU does; glue
 * does not): it collects the E820 map with int 0x15 into the zero page, as
 * Linux's setup does, and enters the 32-bit entry at code32_start with
 * esi = the zero page, flat segments (__BOOT_CS 0x10, __BOOT_DS 0x18).
 *
 * Entered with cs = seg + 0x20, ip = 0, ds = es = ss = seg (the zero page);
 * every address below is an offset from the start of this image.
 */
#define SETUP_SIZE 0x1000 /* 1 + SETUP_SECTS sectors; mkbzimage.py checks */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define SMAP 0x534d4150
#define BP_E820_ENTRIES 0x1e8
#define BP_CODE32_START 0x214
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128

	.code16
	.text
	.globl	_setup
_setup:
	.org	0x200
	/* Two bytes before "HdrS": a short jump past the header. */
	.byte	0xeb, hop - _setup - 0x202
	.org	0x26c
hop:
	jmp	setup_main
	/* boot_params has fields from 0x290 (EDD, E820 table) on. */
	.org	0x290

	/* After the E820 table (0x2d0 + 128 * 20 = 0xcd0); EDD data is unused. */
	.org	0xd00
setup_main:
	cli
	cld
	/* Make cs = ds so offsets from _setup work for both. */
	pushw	%ds
	pushw	$(1f - _setup)
	lretw
1:	movb	$0, BP_E820_ENTRIES
	xorl	%ebx, %ebx
	movw	$BP_E820_TABLE, %di
2:	movl	$0xe820, %eax
	movl	$SMAP, %edx
	movl	$20, %ecx
	int	$0x15
	jc	3f
	cmpl	$SMAP, %eax
	jne	3f
	incb	BP_E820_ENTRIES
	addw	$20, %di
	cmpb	$E820_MAX, BP_E820_ENTRIES
	jae	3f
	testl	%ebx, %ebx
	jnz	2b
3:
	/* esi = linear address of the zero page; fix up what needs linear addresses. */
	xorl	%esi, %esi
	movw	%ds, %si
	shll	$4, %esi
	leal	(gdt - _setup)(%esi), %eax
	movl	%eax, gdt_desc - _setup + 2
	movl	BP_CODE32_START, %eax
	movl	%eax, jmp_target - _setup
	lgdtl	gdt_desc - _setup
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	movw	$BOOT_DS, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	/* ds is flat now; cs still has the real-mode base. */
	ljmpl	*%cs:(jmp_target - _setup)

	.balign	8
gdt:
	.quad	0
	.quad	0
	.quad	0x00cf9b000000ffff	/* BOOT_CS */
	.quad	0x00cf93000000ffff	/* BOOT_DS */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	0
jmp_target:
	.long	0
	.word	BOOT_CS

	.org	SETUP_SIZE

	.section .note.GNU-stack, "", @progbits
