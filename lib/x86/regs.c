// SPDX-License-Identifier: MIT
/*
 * Entry state for the boot protocols: the boot GDT, identity page tables,
 * and the registers of the Linux 64-bit and 32-bit (PVH) entries. Also a
 * page-table walker, so tests and crash reports can follow guest addresses.
 */
#include <errno.h>
#include <string.h>

#include <glue/kvm.h>
#include <glue/loader.h>
#include <glue/memory.h>
#include "core/err.h"
#include "core/util.h"
#include "x86/x86_internal.h"

/* Page-table entry bits. */
#define PTE_P (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)
#define PTE_ADDR 0x000ffffffffff000ULL

#define PAGE_SIZE 4096ULL
#define PD_COUNT 4 /* 4 GiB / 1 GiB per page directory */

/* Descriptor: base 0, limit 0xfffff pages, with these access/flags bits. */
#define SEG_FLAT(access, flags) \
	(0x000f00000000ffffULL | ((uint64_t)(access) << 40) | ((uint64_t)(flags) << 52))
#define SEG_CODE32 SEG_FLAT(0x9b, 0xc) /* present, exec/read, accessed; G, D */
#define SEG_CODE64 SEG_FLAT(0x9b, 0xa) /* present, exec/read, accessed; G, L */
#define SEG_DATA SEG_FLAT(0x93, 0xc)   /* present, read/write, accessed; G, B */
#define TSS_LIMIT 0x67ULL
#define SEG_TSS (TSS_LIMIT | (0x8bULL << 40)) /* present, busy TSS, base 0 */

int glue_x86_write_gdt(struct glue_mem *mem, bool long_mode)
{
	/* Two null entries keep __BOOT_CS at 0x10 as in Linux's boot GDT; in
	 * long mode the TSS descriptor takes two slots (the second is zero). */
	const uint64_t gdt[GLUE_X86_GDT_SIZE / 8] = {
		0, 0, long_mode ? SEG_CODE64 : SEG_CODE32, SEG_DATA, SEG_TSS, 0,
	};
	int r = glue_mem_write(mem, GLUE_X86_GDT_ADDR, gdt, sizeof(gdt));

	if (r < 0)
		return glue_err(r, "boot GDT at %#llx is outside guest memory",
				(unsigned long long)GLUE_X86_GDT_ADDR);
	return 0;
}

int glue_x86_write_page_tables(struct glue_mem *mem)
{
	uint64_t pml4[512] = {0}, pdpt[512] = {0}, pd[512];
	int r;

	pml4[0] = GLUE_X86_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < PD_COUNT; i++)
		pdpt[i] = (GLUE_X86_PD_ADDR + i * PAGE_SIZE) | PTE_P | PTE_RW;
	r = glue_mem_write(mem, GLUE_X86_PML4_ADDR, pml4, sizeof(pml4));
	if (r == 0)
		r = glue_mem_write(mem, GLUE_X86_PDPT_ADDR, pdpt, sizeof(pdpt));
	for (uint64_t d = 0; r == 0 && d < PD_COUNT; d++) {
		for (uint64_t i = 0; i < 512; i++)
			pd[i] = ((d * 512 + i) << 21) | PTE_P | PTE_RW | PTE_PS;
		r = glue_mem_write(mem, GLUE_X86_PD_ADDR + d * PAGE_SIZE, pd, sizeof(pd));
	}
	if (r < 0)
		return glue_err(r, "page tables at %#llx-%#llx are outside guest memory",
				(unsigned long long)GLUE_X86_PML4_ADDR,
				(unsigned long long)(GLUE_X86_PD_ADDR + PD_COUNT * PAGE_SIZE - 1));
	return 0;
}

static int read_entry(const struct glue_mem *mem, uint64_t addr, bool wide, uint64_t *out)
{
	uint32_t v32;
	int r;

	if (wide)
		return glue_mem_read_u64(mem, addr, out);
	r = glue_mem_read_u32(mem, addr, &v32);
	*out = v32;
	return r;
}

static int not_mapped(uint64_t gva, const char *what)
{
	return glue_err(-EFAULT, "guest address %#llx: %s", (unsigned long long)gva, what);
}

int glue_x86_translate(const struct glue_mem *mem, const struct kvm_sregs *s, uint64_t gva,
		       uint64_t *gpa)
{
	/* Per paging mode: levels, bits per index, entry width, first shift. */
	unsigned int levels, bits, shift;
	uint64_t table, entry;
	bool wide;

	if (!(s->cr0 & GLUE_X86_CR0_PG)) {
		*gpa = gva;
		return 0;
	}
	if (s->efer & GLUE_X86_EFER_LMA) {
		levels = (s->cr4 & GLUE_X86_CR4_LA57) ? 5 : 4;
		bits = 9;
		wide = true;
		table = s->cr3 & PTE_ADDR;
	} else if (s->cr4 & GLUE_X86_CR4_PAE) {
		uint64_t pdpte;

		/* PAE: a 4-entry PDPT at CR3[31:5], then two 9-bit levels. */
		gva &= 0xffffffffULL;
		if (glue_mem_read_u64(mem, (s->cr3 & 0xffffffe0ULL) + (gva >> 30) * 8, &pdpte) < 0)
			return not_mapped(gva, "PDPT outside guest memory");
		if (!(pdpte & PTE_P))
			return not_mapped(gva, "PDPT entry not present");
		levels = 2;
		bits = 9;
		wide = true;
		table = pdpte & PTE_ADDR;
	} else {
		gva &= 0xffffffffULL;
		levels = 2;
		bits = 10;
		wide = false;
		table = s->cr3 & 0xfffff000ULL;
	}

	for (unsigned int level = levels; level > 0; level--) {
		uint64_t idx, size;

		shift = 12 + bits * (level - 1);
		idx = (gva >> shift) & ((1ULL << bits) - 1);
		if (read_entry(mem, table + idx * (wide ? 8 : 4), wide, &entry) < 0)
			return not_mapped(gva, "page table outside guest memory");
		if (!(entry & PTE_P))
			return not_mapped(gva, "not mapped");
		size = 1ULL << shift;
		/* Large pages: 1 GiB / 2 MiB (64-bit entries), 4 MiB (PSE). */
		if (level > 1 && (entry & PTE_PS) &&
		    (wide ? level <= 3 : (s->cr4 & GLUE_X86_CR4_PSE) != 0)) {
			uint64_t base;

			if (wide)
				base = entry & PTE_ADDR & ~(size - 1);
			else /* PSE-36: bits 20:13 hold physical bits 39:32 */
				base = (entry & 0xffc00000ULL) | ((entry & 0x1fe000ULL) << 19);
			*gpa = base | (gva & (size - 1));
			return 0;
		}
		table = wide ? entry & PTE_ADDR : entry & 0xfffff000ULL;
	}
	*gpa = table | (gva & 0xfff);
	return 0;
}

static void flat_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type, bool code64)
{
	memset(seg, 0, sizeof(*seg));
	seg->base = 0;
	seg->limit = 0xffffffff;
	seg->selector = selector;
	seg->type = type;
	seg->present = 1;
	seg->dpl = 0;
	seg->s = 1;
	seg->g = 1;
	seg->l = code64;
	seg->db = !code64;
}

static void boot_segments(struct kvm_sregs *s, bool long_mode)
{
	flat_segment(&s->cs, GLUE_X86_BOOT_CS, 0xb, long_mode);
	flat_segment(&s->ds, GLUE_X86_BOOT_DS, 0x3, false);
	s->es = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	s->ss = s->ds;

	/* VMX needs a usable busy TSS in protected mode. */
	memset(&s->tr, 0, sizeof(s->tr));
	s->tr.selector = GLUE_X86_BOOT_TSS;
	s->tr.limit = TSS_LIMIT;
	s->tr.type = 0xb;
	s->tr.present = 1;

	s->gdt.base = GLUE_X86_GDT_ADDR;
	s->gdt.limit = GLUE_X86_GDT_SIZE - 1;
	/* No IDT: the kernel installs its own before enabling interrupts. */
	s->idt.base = 0;
	s->idt.limit = 0;
}

void glue_x86_sregs_linux64(struct kvm_sregs *s)
{
	boot_segments(s, true);
	s->cr0 = GLUE_X86_CR0_PE | GLUE_X86_CR0_ET | GLUE_X86_CR0_NE | GLUE_X86_CR0_PG;
	s->cr3 = GLUE_X86_PML4_ADDR;
	s->cr4 = GLUE_X86_CR4_PAE;
	s->efer = GLUE_X86_EFER_LME | GLUE_X86_EFER_LMA;
}

void glue_x86_sregs_protected32(struct kvm_sregs *s)
{
	boot_segments(s, false);
	s->cr0 = GLUE_X86_CR0_PE | GLUE_X86_CR0_ET;
	s->cr3 = 0;
	s->cr4 = 0;
	s->efer = 0;
}

static int set_entry_state(struct glue_vcpu *vcpu, bool long_mode, const struct kvm_regs *regs)
{
	struct kvm_sregs sregs;
	int r;

	r = glue_vcpu_get_sregs(vcpu, &sregs);
	if (r < 0)
		return r;
	if (long_mode)
		glue_x86_sregs_linux64(&sregs);
	else
		glue_x86_sregs_protected32(&sregs);
	r = glue_vcpu_set_sregs(vcpu, &sregs);
	if (r < 0)
		return r;
	return glue_vcpu_set_regs(vcpu, regs);
}

int glue_x86_setup_linux64(struct glue_vcpu *vcpu, struct glue_mem *mem, uint64_t entry,
			   uint64_t zero_page)
{
	struct kvm_regs regs = {0};
	int r;

	r = glue_x86_write_gdt(mem, true);
	if (r == 0)
		r = glue_x86_write_page_tables(mem);
	if (r < 0)
		return r;
	regs.rip = entry;
	regs.rsi = zero_page;
	regs.rflags = 2; /* reserved bit 1; IF clear */
	return set_entry_state(vcpu, true, &regs);
}

int glue_x86_setup_protected32(struct glue_vcpu *vcpu, struct glue_mem *mem, uint64_t entry,
			       uint32_t ebx, uint32_t esi)
{
	struct kvm_regs regs = {0};
	int r;

	if (entry > 0xffffffffULL)
		return glue_err(-EINVAL, "32-bit entry point %#llx is above 4 GiB",
				(unsigned long long)entry);
	r = glue_x86_write_gdt(mem, false);
	if (r < 0)
		return r;
	regs.rip = entry;
	regs.rbx = ebx;
	regs.rsi = esi;
	regs.rflags = 2;
	return set_entry_state(vcpu, false, &regs);
}

int glue_x86_setup_entry(struct glue_vcpu *vcpu, struct glue_mem *mem,
			 const struct glue_boot_info *boot)
{
	switch (boot->protocol) {
	case GLUE_ENTRY_LINUX64:
		return glue_x86_setup_linux64(vcpu, mem, boot->entry, boot->boot_params_gpa);
	case GLUE_ENTRY_PVH:
		if (boot->boot_params_gpa > 0xffffffffULL)
			return glue_err(-EINVAL, "PVH start_info at %#llx is above 4 GiB",
					(unsigned long long)boot->boot_params_gpa);
		return glue_x86_setup_protected32(vcpu, mem, boot->entry,
						  (uint32_t)boot->boot_params_gpa, 0);
	default:
		return glue_err(-EINVAL, "unknown entry protocol %d", (int)boot->protocol);
	}
}
