// SPDX-License-Identifier: MIT
/*
 * Entry state for the boot protocols: GDT and page-table contents, the page
 * walker, register images, vCPU defaults, and (with /dev/kvm) tiny guests
 * that prove long mode and 32-bit protected mode really work on this host.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glue/cpuid.h>
#include <glue/error.h>
#include <glue/kvm.h>
#include <glue/loader.h>
#include <glue/memory.h>
#include <glue/x86.h>
#include "x86/x86_internal.h"

static struct glue_mem *small_mem(uint64_t size)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, size, GLUE_MEM_RAM), 0);
	return mem;
}

static uint64_t gdt_entry(struct glue_mem *mem, unsigned int selector)
{
	uint64_t v;

	cr_assert_eq(glue_mem_read_u64(mem, GLUE_X86_GDT_ADDR + selector, &v), 0);
	return v;
}

/* Decoded descriptor fields a CPU checks when loading a segment. */
struct desc {
	uint32_t base, limit;
	unsigned int type, s, dpl, p, l, db, g;
};

static struct desc decode(uint64_t d)
{
	struct desc r;

	r.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	r.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
	r.type = (d >> 40) & 0xf;
	r.s = (d >> 44) & 1;
	r.dpl = (d >> 45) & 3;
	r.p = (d >> 47) & 1;
	r.l = (d >> 53) & 1;
	r.db = (d >> 54) & 1;
	r.g = (d >> 55) & 1;
	return r;
}

Test(x86_regs, gdt_matches_linux_boot_gdt)
{
	struct glue_mem *mem = small_mem(0x10000);
	struct desc cs, ds, tss;

	cr_assert_eq(glue_x86_write_gdt(mem, true), 0);
	cr_assert_eq(gdt_entry(mem, 0), 0);
	cr_assert_eq(gdt_entry(mem, GLUE_X86_BOOT_CS), 0x00af9b000000ffffULL);
	cr_assert_eq(gdt_entry(mem, GLUE_X86_BOOT_DS), 0x00cf93000000ffffULL);
	cs = decode(gdt_entry(mem, GLUE_X86_BOOT_CS));
	cr_assert(cs.base == 0 && cs.limit == 0xfffff && cs.g && cs.p && cs.s && !cs.dpl);
	cr_assert(cs.l && !cs.db, "64-bit code");
	cr_assert_eq(cs.type & 0xa, 0xa, "execute/read");
	ds = decode(gdt_entry(mem, GLUE_X86_BOOT_DS));
	cr_assert(ds.base == 0 && ds.limit == 0xfffff && ds.g && ds.p && ds.db);
	cr_assert_eq(ds.type & 0xa, 0x2, "read/write data");
	tss = decode(gdt_entry(mem, GLUE_X86_BOOT_TSS));
	cr_assert(tss.p && !tss.s && tss.type == 0xb, "busy TSS");
	cr_assert_eq(gdt_entry(mem, GLUE_X86_BOOT_TSS + 8), 0, "upper half of the TSS slot");

	cr_assert_eq(glue_x86_write_gdt(mem, false), 0);
	cs = decode(gdt_entry(mem, GLUE_X86_BOOT_CS));
	cr_assert(!cs.l && cs.db, "32-bit code");
	cr_assert_eq(gdt_entry(mem, GLUE_X86_BOOT_CS), 0x00cf9b000000ffffULL);
	glue_mem_free(mem);
}

Test(x86_regs, tables_outside_memory_fail_cleanly)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0x100000, 0x100000, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_x86_write_gdt(mem, true), -EFAULT);
	cr_assert(strstr(glue_error_last(), "GDT"), "%s", glue_error_last());
	cr_assert_eq(glue_x86_write_page_tables(mem), -EFAULT);
	cr_assert(strstr(glue_error_last(), "page tables"), "%s", glue_error_last());
	glue_mem_free(mem);

	/* Ends in the middle of the page directories. */
	mem = small_mem(0xc000);
	cr_assert_eq(glue_x86_write_page_tables(mem), -EFAULT);
	glue_mem_free(mem);
}

Test(x86_regs, identity_page_tables_translate)
{
	struct glue_mem *mem = small_mem(0x10000);
	struct kvm_sregs s = {0};
	const uint64_t addrs[] = {0,	      0x1000,	  0x1234567,  0x3fffffff, 0x40000000,
				  0xbfffffff, 0xfec00000, 0xfee00010, 0xffffffff};
	uint64_t pa, e;

	cr_assert_eq(glue_x86_write_page_tables(mem), 0);
	glue_x86_sregs_linux64(&s);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		cr_assert_eq(glue_x86_translate(mem, &s, addrs[i], &pa), 0, "%#lx: %s",
			     (unsigned long)addrs[i], glue_error_last());
		cr_assert_eq(pa, addrs[i]);
	}
	cr_assert_eq(glue_x86_translate(mem, &s, 0x100000000ULL, &pa), -EFAULT, "4 GiB+");
	cr_assert_eq(glue_x86_translate(mem, &s, 0xffffffff80000000ULL, &pa), -EFAULT);

	/* Writable, present, 2 MiB leaves; user bit clear. */
	cr_assert_eq(glue_mem_read_u64(mem, GLUE_X86_PML4_ADDR, &e), 0);
	cr_assert_eq(e, GLUE_X86_PDPT_ADDR | 3);
	cr_assert_eq(glue_mem_read_u64(mem, GLUE_X86_PDPT_ADDR + 3 * 8, &e), 0);
	cr_assert_eq(e, (GLUE_X86_PD_ADDR + 0x3000) | 3);
	cr_assert_eq(glue_mem_read_u64(mem, GLUE_X86_PD_ADDR + 0x3000 + 511 * 8, &e), 0);
	cr_assert_eq(e, 0xffe00000ULL | 0x83);
	glue_mem_free(mem);
}

Test(x86_regs, walker_handles_every_paging_mode)
{
	struct glue_mem *mem = small_mem(0x100000);
	struct kvm_sregs s = {0};
	uint64_t pa;

	/* Paging off: identity. */
	cr_assert_eq(glue_x86_translate(mem, &s, 0xdeadbeef, &pa), 0);
	cr_assert_eq(pa, 0xdeadbeef);

	/* 4-level: 0xffff800000201234 -> 4 KiB page at 0x55000; a 1 GiB page. */
	s.cr0 = GLUE_X86_CR0_PE | GLUE_X86_CR0_PG;
	s.cr4 = GLUE_X86_CR4_PAE;
	s.efer = GLUE_X86_EFER_LME | GLUE_X86_EFER_LMA;
	s.cr3 = 0x10000;
	glue_mem_write_u64(mem, 0x10000 + 256 * 8, 0x11000 | 3);
	glue_mem_write_u64(mem, 0x11000 + 0 * 8, 0x12000 | 3);
	glue_mem_write_u64(mem, 0x12000 + 1 * 8, 0x13000 | 3);
	glue_mem_write_u64(mem, 0x13000 + 1 * 8, 0x55000 | 3);
	glue_mem_write_u64(mem, 0x11000 + 5 * 8, 0x80000000ULL | 0x83);
	cr_assert_eq(glue_x86_translate(mem, &s, 0xffff800000201234ULL, &pa), 0, "%s",
		     glue_error_last());
	cr_assert_eq(pa, 0x55234);
	cr_assert_eq(glue_x86_translate(mem, &s, 0xffff800140000010ULL, &pa), 0);
	cr_assert_eq(pa, 0x80000010ULL, "1 GiB page");
	cr_assert_eq(glue_x86_translate(mem, &s, 0xffff800000202000ULL, &pa), -EFAULT,
		     "PTE not present");
	/* A guest pointing its tables outside memory gets an error, not a crash. */
	glue_mem_write_u64(mem, 0x11000 + 6 * 8, 0x7ffff000000ULL | 3);
	cr_assert_eq(glue_x86_translate(mem, &s, 0xffff800180000000ULL, &pa), -EFAULT);
	s.cr3 = 0xfffffffff000ULL;
	cr_assert_eq(glue_x86_translate(mem, &s, 0, &pa), -EFAULT);

	/* 32-bit paging: a 4 KiB page and a 4 MiB PSE page. */
	s.efer = 0;
	s.cr4 = GLUE_X86_CR4_PSE;
	s.cr3 = 0x20000;
	glue_mem_write_u32(mem, 0x20000 + 0x300 * 4, 0x21000 | 3);
	glue_mem_write_u32(mem, 0x21000 + 0x45 * 4, 0x66000 | 3);
	glue_mem_write_u32(mem, 0x20000 + 0x301 * 4, 0x00800000 | 0x83);
	cr_assert_eq(glue_x86_translate(mem, &s, 0xc0045678, &pa), 0, "%s", glue_error_last());
	cr_assert_eq(pa, 0x66678);
	cr_assert_eq(glue_x86_translate(mem, &s, 0xc0512345, &pa), 0);
	cr_assert_eq(pa, 0x00912345, "4 MiB page");

	/* PAE: PDPT at CR3, then a 2 MiB page. */
	s.cr4 = GLUE_X86_CR4_PAE;
	s.cr3 = 0x30020;
	glue_mem_write_u64(mem, 0x30020 + 3 * 8, 0x31000 | 1);
	glue_mem_write_u64(mem, 0x31000 + 2 * 8, 0x40000000ULL | 0x83);
	cr_assert_eq(glue_x86_translate(mem, &s, 0xc0412345, &pa), 0, "%s", glue_error_last());
	cr_assert_eq(pa, 0x40012345);
	cr_assert_eq(glue_x86_translate(mem, &s, 0x00012345, &pa), -EFAULT, "PDPTE 0 absent");
	glue_mem_free(mem);
}

Test(x86_regs, entry_register_images)
{
	struct kvm_sregs s;

	memset(&s, 0xa5, sizeof(s));
	s.apic_base = 0xfee00900;
	glue_x86_sregs_linux64(&s);
	cr_assert_eq(s.apic_base, 0xfee00900, "KVM's APIC base kept");
	cr_assert(s.cs.l && !s.cs.db && s.cs.present && s.cs.s && s.cs.selector == 0x10);
	cr_assert_eq(s.cs.type, 0xb);
	cr_assert(s.ds.selector == 0x18 && s.ss.selector == 0x18 && s.es.selector == 0x18 &&
		  s.fs.selector == 0x18 && s.gs.selector == 0x18);
	cr_assert(s.ds.db && !s.ds.l && s.ds.type == 0x3 && s.ds.limit == 0xffffffff);
	cr_assert(s.tr.present && s.tr.type == 0xb && !s.tr.s);
	cr_assert_eq(s.gdt.base, GLUE_X86_GDT_ADDR);
	cr_assert_eq(s.gdt.limit, GLUE_X86_GDT_SIZE - 1);
	cr_assert_eq(s.cr0 & (GLUE_X86_CR0_PE | GLUE_X86_CR0_PG),
		     GLUE_X86_CR0_PE | GLUE_X86_CR0_PG);
	cr_assert_eq(s.cr0 & 0x60000000, 0, "caches enabled (CD/NW clear)");
	cr_assert_eq(s.cr3, GLUE_X86_PML4_ADDR);
	cr_assert_eq(s.cr4, GLUE_X86_CR4_PAE);
	cr_assert_eq(s.efer, GLUE_X86_EFER_LME | GLUE_X86_EFER_LMA);

	glue_x86_sregs_protected32(&s);
	cr_assert(!s.cs.l && s.cs.db && s.cs.g && s.cs.limit == 0xffffffff);
	cr_assert_eq(s.cr0, GLUE_X86_CR0_PE | GLUE_X86_CR0_ET, "PE, paging off");
	cr_assert_eq(s.cr4, 0);
	cr_assert_eq(s.efer, 0);
}

Test(x86_regs, boot_msrs_and_lapic_image)
{
	struct kvm_msr_entry e[GLUE_X86_BOOT_MSR_COUNT];
	struct kvm_lapic_state lapic;
	size_t n = glue_x86_boot_msrs(e);
	bool seen_misc = false, seen_mtrr = false, seen_lstar = false;
	uint32_t lvt0, lvt1;

	cr_assert_eq(n, GLUE_X86_BOOT_MSR_COUNT);
	for (size_t i = 0; i < n; i++) {
		if (e[i].index == 0x1a0) {
			seen_misc = true;
			cr_assert_eq(e[i].data & 1, 1, "fast strings");
		} else if (e[i].index == 0x2ff) {
			seen_mtrr = true;
			cr_assert_eq(e[i].data, 0x806, "MTRRs on, default write-back");
		} else {
			cr_assert_eq(e[i].data, 0, "MSR %#x", e[i].index);
			seen_lstar |= e[i].index == 0xc0000082;
		}
	}
	cr_assert(seen_misc && seen_mtrr && seen_lstar);

	/* Masked LINTs with a vector keep everything but the delivery mode. */
	memset(&lapic, 0, sizeof(lapic));
	lvt0 = 0x10000 | 0x400 | 0x31;
	memcpy(&lapic.regs[0x350], &lvt0, 4);
	glue_x86_lapic_set_lints(&lapic);
	memcpy(&lvt0, &lapic.regs[0x350], 4);
	memcpy(&lvt1, &lapic.regs[0x360], 4);
	cr_assert_eq(lvt0, 0x10000 | 0x700 | 0x31, "LINT0 ExtINT");
	cr_assert_eq(lvt1, 0x400, "LINT1 NMI");
}

/* ---- against the real KVM ---------------------------------------------- */

#define CODE_ADDR 0x200000ULL
#define ZERO_PAGE 0x7000ULL
#define TEST_PORT 0xe9

struct vm {
	struct glue_kvm *kvm;
	struct glue_vm *vm;
	struct glue_mem *mem;
	struct glue_vcpu *vcpu[2];
	struct kvm_cpuid2 *supported;
};

static void vm_new(struct vm *v, uint32_t ncpus)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		cr_skip_test("no /dev/kvm");
	memset(v, 0, sizeof(*v));
	cr_assert_eq(glue_kvm_open(&v->kvm, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_kvm_supported_cpuid(v->kvm, &v->supported), 0);
	cr_assert_eq(glue_vm_new(&v->vm, v->kvm), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_setup_x86(v->vm), 0, "%s", glue_error_last());
	cr_assert_eq(glue_mem_new_x86(&v->mem, 64ULL << 20), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_set_memory(v->vm, v->mem), 0, "%s", glue_error_last());
	for (uint32_t i = 0; i < ncpus; i++)
		cr_assert_eq(glue_vcpu_new(&v->vcpu[i], v->vm, i), 0, "%s", glue_error_last());
}

static void vm_free(struct vm *v)
{
	for (int i = 0; i < 2; i++)
		glue_vcpu_free(v->vcpu[i]);
	glue_vm_free(v->vm);
	glue_mem_free(v->mem);
	free(v->supported);
	glue_kvm_free(v->kvm);
}

/* Run until the guest writes 4 bytes to TEST_PORT; return the value. */
static uint32_t run_to_out(struct glue_vcpu *vcpu)
{
	struct kvm_run *run = glue_vcpu_run_data(vcpu);
	uint32_t v;

	for (;;) {
		int r = ioctl(glue_vcpu_fd(vcpu), KVM_RUN, 0);

		if (r < 0 && errno == EINTR)
			continue;
		cr_assert_eq(r, 0, "KVM_RUN: %s", strerror(errno));
		break;
	}
	cr_assert_eq(run->exit_reason, KVM_EXIT_IO, "exit reason %u (internal suberror %u)",
		     run->exit_reason, run->internal.suberror);
	cr_assert_eq(run->io.port, TEST_PORT);
	cr_assert_eq(run->io.direction, KVM_EXIT_IO_OUT);
	cr_assert_eq(run->io.size, 4);
	memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
	return v;
}

Test(x86_regs_kvm, long_mode_guest_runs)
{
	/* mov (%rsi),%rax; mov $0x3ff0000,%ebx; add (%rbx),%rax; mov $0xe9,%dx;
	 * out %eax,(%dx); hlt */
	static const uint8_t code[] = {0x48, 0x8b, 0x06, 0xbb, 0x00, 0x00, 0xff, 0x03, 0x48,
				       0x03, 0x03, 0x66, 0xba, 0xe9, 0x00, 0xef, 0xf4};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct vm v;

	vm_new(&v, 1);
	cr_assert_eq(glue_mem_write(v.mem, CODE_ADDR, code, sizeof(code)), 0);
	cr_assert_eq(glue_mem_write_u64(v.mem, ZERO_PAGE, 0x1122334400000000ULL), 0);
	cr_assert_eq(glue_mem_write_u64(v.mem, 0x3ff0000, 0x55667788), 0);
	cr_assert_eq(glue_x86_setup_linux64(v.vcpu[0], v.mem, CODE_ADDR, ZERO_PAGE), 0, "%s",
		     glue_error_last());
	cr_assert_eq(run_to_out(v.vcpu[0]), 0x55667788);

	cr_assert_eq(glue_vcpu_get_regs(v.vcpu[0], &regs), 0);
	cr_assert_eq(regs.rax, 0x1122334455667788ULL, "64-bit registers: long mode");
	cr_assert_eq(regs.rsi, ZERO_PAGE);
	/* KVM completes an OUT on the next KVM_RUN, so RIP is still on it
	 * (PVM's emulator has already moved past it). */
	cr_assert(regs.rip == CODE_ADDR + 0xf || regs.rip == CODE_ADDR + 0x10,
		  "stopped at the out: rip 0x%llx", (unsigned long long)regs.rip);
	cr_assert_eq(regs.rflags & 0x200, 0, "interrupts off");
	cr_assert_eq(glue_vcpu_get_sregs(v.vcpu[0], &sregs), 0);
	cr_assert(sregs.efer & GLUE_X86_EFER_LMA);
	cr_assert(sregs.cs.l);
	cr_assert_eq(sregs.cs.selector, GLUE_X86_BOOT_CS);
	cr_assert_eq(sregs.cr3, GLUE_X86_PML4_ADDR);
	vm_free(&v);
}

Test(x86_regs_kvm, protected_mode_guest_runs)
{
	/* mov %ebx,%eax; add %esi,%eax; mov $0xe9,%dx; out %eax,(%dx); hlt */
	static const uint8_t code[] = {0x89, 0xd8, 0x01, 0xf0, 0x66, 0xba, 0xe9, 0x00, 0xef, 0xf4};
	struct kvm_sregs sregs;
	struct vm v;

	vm_new(&v, 1);
	cr_assert_eq(glue_mem_write(v.mem, 0x100000, code, sizeof(code)), 0);
	cr_assert_eq(glue_x86_setup_protected32(v.vcpu[0], v.mem, 0x100000, 0x6000, 0x7000), 0,
		     "%s", glue_error_last());
	cr_assert_eq(run_to_out(v.vcpu[0]), 0xd000, "EBX + ESI");
	cr_assert_eq(glue_vcpu_get_sregs(v.vcpu[0], &sregs), 0);
	cr_assert_eq(sregs.cr0 & (GLUE_X86_CR0_PE | GLUE_X86_CR0_PG), GLUE_X86_CR0_PE);
	cr_assert(sregs.cs.db && !sregs.cs.l);
	cr_assert_eq(sregs.efer & GLUE_X86_EFER_LMA, 0);
	cr_assert_eq(glue_x86_setup_protected32(v.vcpu[0], v.mem, 0x100000000ULL, 0, 0), -EINVAL);
	vm_free(&v);
}

Test(x86_regs_kvm, setup_entry_follows_the_loader)
{
	/* mov %ebx,%eax; add %esi,%eax; mov $0xe9,%dx; out %eax,(%dx); hlt */
	static const uint8_t code[] = {0x89, 0xd8, 0x01, 0xf0, 0x66, 0xba, 0xe9, 0x00, 0xef, 0xf4};
	struct glue_boot_info boot = {
		.protocol = GLUE_ENTRY_PVH, .entry = 0x100000, .boot_params_gpa = 0x6000};
	struct kvm_regs regs;
	struct vm v;

	vm_new(&v, 1);
	cr_assert_eq(glue_mem_write(v.mem, 0x100000, code, sizeof(code)), 0);
	cr_assert_eq(glue_x86_setup_entry(v.vcpu[0], v.mem, &boot), 0, "%s", glue_error_last());
	cr_assert_eq(run_to_out(v.vcpu[0]), 0x6000, "PVH: EBX = start_info, ESI = 0");

	boot.protocol = GLUE_ENTRY_LINUX64;
	boot.boot_params_gpa = ZERO_PAGE;
	cr_assert_eq(glue_x86_setup_entry(v.vcpu[0], v.mem, &boot), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vcpu_get_regs(v.vcpu[0], &regs), 0);
	cr_assert(regs.rip == 0x100000 && regs.rsi == ZERO_PAGE);

	boot.protocol = (enum glue_entry_protocol)99;
	cr_assert_eq(glue_x86_setup_entry(v.vcpu[0], v.mem, &boot), -EINVAL);
	vm_free(&v);
}

static uint64_t get_msr(struct glue_vcpu *vcpu, uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {.hdr.nmsrs = 1, .e.index = index};

	cr_assert_eq(ioctl(glue_vcpu_fd(vcpu), KVM_GET_MSRS, &m), 1, "MSR %#x", index);
	return m.e.data;
}

Test(x86_regs_kvm, vcpu_init_sets_defaults_and_leaves_aps_waiting)
{
	/* mov %edi,%eax; xor %ecx,%ecx; cpuid; mov %ebx,%eax; mov $0xe9,%dx;
	 * out %eax,(%dx); mov %ecx,%eax; out %eax,(%dx); hlt */
	static const uint8_t code[] = {0x89, 0xf8, 0x31, 0xc9, 0x0f, 0xa2, 0x89, 0xd8, 0x66,
				       0xba, 0xe9, 0x00, 0xef, 0x89, 0xc8, 0xef, 0xf4};
	struct glue_cpu_model *model;
	struct kvm_cpuid2 *base, *c;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_xsave xsave;
	struct kvm_fpu fpu;
	uint32_t lvt0, lvt1, ebx, ecx;
	struct vm v;

	vm_new(&v, 2);
	cr_assert_eq(glue_cpu_model_parse(&model, "host,-x2apic"), 0);
	cr_assert_eq(glue_cpu_model_apply(model, v.supported, &base), 0);
	for (uint32_t i = 0; i < 2; i++) {
		cr_assert_eq(glue_cpuid_for_vcpu(base, i, 2, &c), 0);
		cr_assert_eq(glue_x86_vcpu_init(v.vcpu[i], c), 0, "%s", glue_error_last());
		free(c);

		cr_assert_eq(glue_vcpu_get_lapic(v.vcpu[i], &lapic), 0);
		memcpy(&lvt0, &lapic.regs[0x350], 4);
		memcpy(&lvt1, &lapic.regs[0x360], 4);
		cr_assert_eq(lvt0 & 0x700, 0x700, "LINT0 ExtINT");
		cr_assert_eq(lvt1 & 0x700, 0x400, "LINT1 NMI");
		cr_assert_eq(get_msr(v.vcpu[i], 0x1a0) & 1, 1, "fast strings");
		cr_assert_eq(get_msr(v.vcpu[i], 0x2ff), 0x806, "MTRR default type");
		cr_assert_eq(ioctl(glue_vcpu_fd(v.vcpu[i]), KVM_GET_FPU, &fpu), 0);
		cr_assert_eq(fpu.fcw, 0x37f);
		/* KVM_GET_FPU does not report MXCSR; the FXSAVE image does (byte 24). */
		cr_assert_eq(ioctl(glue_vcpu_fd(v.vcpu[i]), KVM_GET_XSAVE, &xsave), 0);
		cr_assert_eq(xsave.region[6], 0x1f80, "MXCSR");
		cr_assert_eq(ioctl(glue_vcpu_fd(v.vcpu[i]), KVM_GET_MP_STATE, &mp), 0);
		cr_assert_eq(mp.mp_state, i ? KVM_MP_STATE_UNINITIALIZED : KVM_MP_STATE_RUNNABLE,
			     "vCPU %u", i);
	}
	cr_assert_geq(glue_x86_setup_msrs(v.vcpu[1]), 9, "most boot MSRs are known to KVM");

	/* The BSP in long mode sees its CPUID: APIC ID 0, 2 logical CPUs, no x2APIC. */
	cr_assert_eq(glue_mem_write(v.mem, CODE_ADDR, code, sizeof(code)), 0);
	cr_assert_eq(glue_x86_setup_linux64(v.vcpu[0], v.mem, CODE_ADDR, ZERO_PAGE), 0);
	cr_assert_eq(glue_vcpu_get_regs(v.vcpu[0], &regs), 0);
	regs.rdi = 1;
	cr_assert_eq(glue_vcpu_set_regs(v.vcpu[0], &regs), 0);
	ebx = run_to_out(v.vcpu[0]);
	ecx = run_to_out(v.vcpu[0]);
	cr_assert_eq(ebx >> 24, 0, "APIC ID");
	cr_assert_eq((ebx >> 16) & 0xff, 2, "logical CPUs");
	cr_assert_eq(ecx & (1U << 21), 0, "x2APIC hidden (the probe says hosts enforce it)");
	cr_assert(ecx & (1U << 31), "hypervisor");

	glue_cpu_model_free(model);
	free(base);
	vm_free(&v);
}

Test(x86_regs_kvm, lapic_needs_irqchip)
{
	struct glue_kvm *kvm;
	struct glue_vm *vm;
	struct glue_vcpu *vcpu;

	if (access("/dev/kvm", R_OK | W_OK) != 0)
		cr_skip_test("no /dev/kvm");
	cr_assert_eq(glue_kvm_open(&kvm, NULL), 0);
	cr_assert_eq(glue_vm_new(&vm, kvm), 0);
	cr_assert_eq(glue_vcpu_new(&vcpu, vm, 0), 0);
	cr_assert_lt(glue_x86_setup_lapic(vcpu), 0);
	cr_assert(strstr(glue_error_last(), "irqchip"), "%s", glue_error_last());
	cr_assert_eq(glue_x86_setup_fpu(vcpu), 0);
	glue_vcpu_free(vcpu);
	glue_vm_free(vm);
	glue_kvm_free(kvm);
}
