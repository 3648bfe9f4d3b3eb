// SPDX-License-Identifier: MIT
/*
 * Per-vCPU CPUID tables: KVM's supported set with the topology rewritten so
 * every leaf tells the same story (one socket, ncpus cores, one thread per
 * core, APIC ID = vCPU id).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "x86/x86_internal.h"

#define LEAF_VENDOR 0x0
#define LEAF_FEATURES 0x1
#define LEAF_CACHE 0x4
#define LEAF_PMU 0xA
#define LEAF_TOPOLOGY 0xB
#define LEAF_TOPOLOGY_V2 0x1F
#define LEAF_EXT_ADDR 0x80000008
#define LEAF_EXT_TOPOLOGY 0x8000001E

#define CPUID_1_EDX_HTT (1U << 28)
#define CPUID_1_ECX_HYPERVISOR (1U << 31)

/* Level types of leaves 0xB / 0x1F (ECX[15:8]). */
#define TOPO_TYPE_SMT 1
#define TOPO_TYPE_CORE 2

/* The topology leaves we emit: SMT level, core level, terminating level. */
#define TOPO_SUBLEAVES 3

const struct kvm_cpuid_entry2 *glue_cpuid_find_const(const struct kvm_cpuid2 *cpuid,
						     uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

struct kvm_cpuid_entry2 *glue_cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
					 uint32_t index)
{
	return (struct kvm_cpuid_entry2 *)glue_cpuid_find_const(cpuid, function, index);
}

uint32_t glue_cpuid_reg_get(const struct kvm_cpuid_entry2 *e, enum glue_cpuid_reg reg)
{
	switch (reg) {
	case GLUE_CPUID_EAX:
		return e->eax;
	case GLUE_CPUID_EBX:
		return e->ebx;
	case GLUE_CPUID_ECX:
		return e->ecx;
	default:
		return e->edx;
	}
}

void glue_cpuid_reg_set(struct kvm_cpuid_entry2 *e, enum glue_cpuid_reg reg, uint32_t value)
{
	switch (reg) {
	case GLUE_CPUID_EAX:
		e->eax = value;
		break;
	case GLUE_CPUID_EBX:
		e->ebx = value;
		break;
	case GLUE_CPUID_ECX:
		e->ecx = value;
		break;
	default:
		e->edx = value;
		break;
	}
}

uint32_t glue_cpuid_range_max(const struct kvm_cpuid2 *cpuid, uint32_t function)
{
	const struct kvm_cpuid_entry2 *e = glue_cpuid_find_const(cpuid, function & 0xffff0000U, 0);

	return e ? e->eax : 0;
}

static struct kvm_cpuid2 *cpuid_alloc(uint32_t capacity)
{
	return calloc(1, sizeof(struct kvm_cpuid2) + capacity * sizeof(struct kvm_cpuid_entry2));
}

int glue_cpuid_dup(const struct kvm_cpuid2 *cpuid, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c = cpuid_alloc(cpuid->nent);

	*out = NULL;
	if (!c)
		return glue_err(-ENOMEM, "out of memory");
	c->nent = cpuid->nent;
	memcpy(c->entries, cpuid->entries, cpuid->nent * sizeof(c->entries[0]));
	*out = c;
	return 0;
}

/* Number of bits needed to number n things: ceil(log2(n)). */
static uint32_t order(uint32_t n)
{
	uint32_t bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

static bool vendor_is_amd(const struct kvm_cpuid2 *cpuid)
{
	const struct kvm_cpuid_entry2 *e = glue_cpuid_find_const(cpuid, LEAF_VENDOR, 0);

	if (!e)
		return false;
	/* "AuthenticAMD" and "HygonGenuine" (EBX, EDX, ECX). */
	return (e->ebx == 0x68747541 && e->edx == 0x69746e65 && e->ecx == 0x444d4163) ||
	       (e->ebx == 0x6f677948 && e->edx == 0x6e65476e && e->ecx == 0x656e6975);
}

static void set_topology_leaf(struct kvm_cpuid2 *c, uint32_t function, uint32_t apic_id,
			      uint32_t ncpus)
{
	for (uint32_t sub = 0; sub < TOPO_SUBLEAVES; sub++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

		memset(e, 0, sizeof(*e));
		e->function = function;
		e->index = sub;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->edx = apic_id;
		switch (sub) {
		case 0: /* SMT: one thread per core, no APIC ID bits */
			e->eax = 0;
			e->ebx = 1;
			e->ecx = (TOPO_TYPE_SMT << 8) | sub;
			break;
		case 1: /* core: all vCPUs in the package */
			e->eax = order(ncpus);
			e->ebx = ncpus;
			e->ecx = (TOPO_TYPE_CORE << 8) | sub;
			break;
		default: /* invalid level ends the enumeration */
			e->ecx = sub;
			break;
		}
	}
}

int glue_cpuid_for_vcpu(const struct kvm_cpuid2 *base, uint32_t vcpu_id, uint32_t ncpus,
			struct kvm_cpuid2 **out)
{
	uint32_t max_basic, core_bits, core_ids;
	bool want_0x1f = false, amd;
	struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid2 *c;

	*out = NULL;
	if (ncpus == 0 || ncpus > 255 || vcpu_id >= ncpus)
		return glue_err(-EINVAL, "CPUID: vCPU %u of %u is out of range (1-255 vCPUs)",
				vcpu_id, ncpus);
	if (!glue_cpuid_find_const(base, LEAF_VENDOR, 0) ||
	    !glue_cpuid_find_const(base, LEAF_FEATURES, 0))
		return glue_err(-EINVAL, "CPUID: the table has no leaf 0 or 1");

	max_basic = glue_cpuid_range_max(base, LEAF_VENDOR);
	amd = vendor_is_amd(base);
	core_bits = order(ncpus);
	core_ids = 1U << core_bits;

	c = cpuid_alloc(base->nent + 2 * TOPO_SUBLEAVES);
	if (!c)
		return glue_err(-ENOMEM, "out of memory");
	/* Copy everything but the topology leaves, which are rebuilt below. */
	for (uint32_t i = 0; i < base->nent; i++) {
		const struct kvm_cpuid_entry2 *src = &base->entries[i];

		if (src->function == LEAF_TOPOLOGY_V2)
			want_0x1f = true;
		if (src->function == LEAF_TOPOLOGY || src->function == LEAF_TOPOLOGY_V2)
			continue;
		c->entries[c->nent++] = *src;
	}

	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		switch (e->function) {
		case LEAF_FEATURES:
			e->ebx = (e->ebx & 0x0000ffffU) | (vcpu_id << 24) | (ncpus << 16);
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case LEAF_CACHE:
			if ((e->eax & 0x1f) == 0)
				break; /* no cache at this sub-leaf */
			e->eax &= 0x00003fffU;
			e->eax |= GLUE_MIN(core_ids - 1, 63U) << 26;
			/* L1 and L2 belong to a core (one thread); L3 is shared. */
			if (((e->eax >> 5) & 7) >= 3)
				e->eax |= GLUE_MIN(core_ids - 1, 0xfffU) << 14;
			break;
		case LEAF_PMU:
			/* No virtual PMU: guests must not program counters. */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case LEAF_EXT_ADDR:
			if (amd)
				e->ecx = (e->ecx & ~0xf0ffU) | (core_bits << 12) | (ncpus - 1);
			break;
		case LEAF_EXT_TOPOLOGY:
			if (amd) {
				e->eax = vcpu_id;			/* extended APIC ID */
				e->ebx = (e->ebx & ~0xffffU) | vcpu_id; /* core id, 1 thread */
				e->ecx = 0;				/* node 0, one node */
			}
			break;
		default:
			break;
		}
	}

	if (max_basic >= LEAF_TOPOLOGY)
		set_topology_leaf(c, LEAF_TOPOLOGY, vcpu_id, ncpus);
	if (want_0x1f && max_basic >= LEAF_TOPOLOGY_V2)
		set_topology_leaf(c, LEAF_TOPOLOGY_V2, vcpu_id, ncpus);
	*out = c;
	return 0;
}
