// SPDX-License-Identifier: MIT
/*
 * Per-vCPU defaults a BIOS would leave behind: MSRs, FPU control words and
 * the local APIC's LINT pins.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <glue/kvm.h>
#include "core/err.h"
#include "core/util.h"
#include "x86/x86_internal.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WB 6ULL

/* Local APIC register offsets and LVT delivery modes. */
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_DM_MASK 0x700U
#define APIC_DM_NMI 0x400U
#define APIC_DM_EXTINT 0x700U

size_t glue_x86_boot_msrs(struct kvm_msr_entry *e)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot[GLUE_X86_BOOT_MSR_COUNT] = {
		{MSR_IA32_SYSENTER_CS, 0},
		{MSR_IA32_SYSENTER_ESP, 0},
		{MSR_IA32_SYSENTER_EIP, 0},
		{MSR_STAR, 0},
		{MSR_CSTAR, 0},
		{MSR_KERNEL_GS_BASE, 0},
		{MSR_SYSCALL_MASK, 0},
		{MSR_LSTAR, 0},
		{MSR_IA32_TSC, 0},
		{MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
		{MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB},
	};

	for (size_t i = 0; i < GLUE_ARRAY_SIZE(boot); i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].index = boot[i].index;
		e[i].data = boot[i].data;
	}
	return GLUE_ARRAY_SIZE(boot);
}

int glue_x86_setup_msrs(struct glue_vcpu *vcpu)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[GLUE_X86_BOOT_MSR_COUNT];
	} buf;
	size_t n = glue_x86_boot_msrs(buf.entries), done = 0, set = 0;

	/*
	 * KVM_SET_MSRS stops at the first MSR it does not handle (one missing
	 * from KVM_GET_MSR_INDEX_LIST) and returns how many it set: skip that
	 * one and go on with the rest, so this costs one ioctl when all are
	 * known.
	 */
	while (done < n) {
		int r;

		memmove(buf.entries, buf.entries + done, (n - done) * sizeof(buf.entries[0]));
		n -= done;
		memset(&buf.hdr, 0, sizeof(buf.hdr));
		buf.hdr.nmsrs = (uint32_t)n;
		r = ioctl(glue_vcpu_fd(vcpu), KVM_SET_MSRS, &buf);
		if (r < 0)
			return glue_err_sys(-errno, "vCPU %u: KVM_SET_MSRS", glue_vcpu_id(vcpu));
		set += (size_t)r;
		done = (size_t)r + 1; /* entry r was refused */
	}
	return (int)set;
}

int glue_x86_setup_fpu(struct glue_vcpu *vcpu)
{
	struct kvm_fpu fpu = {0};

	fpu.fcw = 0x37f;    /* x87 as after FNINIT: all exceptions masked */
	fpu.mxcsr = 0x1f80; /* SSE: all exceptions masked, round to nearest */
	return glue_vcpu_set_fpu(vcpu, &fpu);
}

static void lvt_set_mode(struct kvm_lapic_state *lapic, size_t reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~APIC_DM_MASK) | mode;
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

void glue_x86_lapic_set_lints(struct kvm_lapic_state *lapic)
{
	lvt_set_mode(lapic, APIC_LVT0, APIC_DM_EXTINT);
	lvt_set_mode(lapic, APIC_LVT1, APIC_DM_NMI);
}

int glue_x86_setup_lapic(struct glue_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	int r;

	r = glue_vcpu_get_lapic(vcpu, &lapic);
	if (r < 0)
		return glue_err_wrap(r, "vCPU %u: no local APIC (create the irqchip first)",
				     glue_vcpu_id(vcpu));
	glue_x86_lapic_set_lints(&lapic);
	return glue_vcpu_set_lapic(vcpu, &lapic);
}

int glue_x86_vcpu_init(struct glue_vcpu *vcpu, const struct kvm_cpuid2 *cpuid)
{
	int r;

	r = glue_vcpu_set_cpuid(vcpu, cpuid);
	if (r < 0)
		return r;
	r = glue_x86_setup_msrs(vcpu);
	if (r < 0)
		return r;
	r = glue_x86_setup_fpu(vcpu);
	if (r < 0)
		return r;
	return glue_x86_setup_lapic(vcpu);
}
