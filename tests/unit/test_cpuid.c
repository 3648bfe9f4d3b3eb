// SPDX-License-Identifier: MIT
/*
 * CPUID tables and the CPU feature control: topology for several vCPU
 * counts, +/- feature parsing and dependents, and (with /dev/kvm) the probe
 * that checks what a guest really sees.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glue/cpuid.h>
#include <glue/error.h>
#include <glue/kvm.h>
#include "x86/x86_internal.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* Bits used below. */
#define L1_ECX_X2APIC (1U << 21)
#define L1_ECX_XSAVE (1U << 26)
#define L1_ECX_OSXSAVE (1U << 27)
#define L1_ECX_AVX (1U << 28)
#define L1_ECX_FMA (1U << 12)
#define L1_ECX_F16C (1U << 29)
#define L1_ECX_SSE3 (1U << 0)
#define L1_ECX_SSE42 (1U << 20)
#define L1_ECX_HYPERVISOR (1U << 31)
#define L1_EDX_HTT (1U << 28)
#define L7_EBX_AVX2 (1U << 5)
#define L7_EBX_SMAP (1U << 20)
#define L7_EBX_AVX512F (1U << 16)
#define L7_EBX_AVX512BW (1U << 30)
#define L7_1_EAX_AVX_VNNI (1U << 4)

static void add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t a,
		uint32_t b, uint32_t cx, uint32_t d)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = flags;
	e->eax = a;
	e->ebx = b;
	e->ecx = cx;
	e->edx = d;
}

/* An Intel-like KVM_GET_SUPPORTED_CPUID with AVX2 and AVX-512 (avx512 false:
 * without AVX-512). */
static struct kvm_cpuid2 *fake_supported(bool avx512, bool amd)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 64 * sizeof(c->entries[0]));
	uint32_t l7ebx = L7_EBX_AVX2 | L7_EBX_SMAP | (1U << 0) | (1U << 3) | (1U << 8);
	uint32_t xcr0 = 0x7 | (1U << 9);

	if (avx512) {
		l7ebx |= L7_EBX_AVX512F | L7_EBX_AVX512BW | (1U << 31);
		xcr0 |= 0xe0;
	}
	if (amd) /* "AuthenticAMD" */
		add(c, 0, 0, 0, 0x1f, 0x68747541, 0x444d4163, 0x69746e65);
	else /* "GenuineIntel" */
		add(c, 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(c, 1, 0, 0, 0x000806f8, 0x00010800,
	    L1_ECX_SSE3 | L1_ECX_SSE42 | L1_ECX_X2APIC | L1_ECX_XSAVE | L1_ECX_AVX | L1_ECX_FMA |
		    L1_ECX_F16C | (1U << 13),
	    0x078bfbff);
	/* Caches: L1d, L1i, L2, L3, end. Host sharing values must be replaced. */
	add(c, 4, 0, SIG, 0x7c004121, 0x02c0003f, 0x3f, 0);
	add(c, 4, 1, SIG, 0x7c004122, 0x01c0003f, 0x3f, 0);
	add(c, 4, 2, SIG, 0x7c07c143, 0x03c0003f, 0x7ff, 0);
	add(c, 4, 3, SIG, 0x7c1fc163, 0x03c0003f, 0xbfff, 4);
	add(c, 4, 4, SIG, 0, 0, 0, 0);
	add(c, 7, 0, SIG, 1, l7ebx, 1U << 3 /* pku */, 0);
	add(c, 7, 1, SIG, L7_1_EAX_AVX_VNNI | (avx512 ? (1U << 5) : 0), 0, 0, 0);
	add(c, 0xa, 0, 0, 0x07300802, 0, 0, 0x603);
	/* Host topology (2 threads per core) that must not leak through. */
	add(c, 0xb, 0, SIG, 1, 2, 0x100, 7);
	add(c, 0xb, 1, SIG, 7, 112, 0x201, 7);
	add(c, 0xd, 0, SIG, xcr0, 0x988, 0xa88, 0);
	add(c, 0xd, 1, SIG, 0xf, 0, 0, 0);
	add(c, 0xd, 2, SIG, 0x100, 0x240, 0, 0);
	if (avx512) {
		add(c, 0xd, 5, SIG, 0x40, 0x440, 0, 0);
		add(c, 0xd, 6, SIG, 0x200, 0x480, 0, 0);
		add(c, 0xd, 7, SIG, 0x400, 0x680, 0, 0);
	}
	add(c, 0xd, 9, SIG, 0x8, 0xa80, 0, 0);
	add(c, 0x1f, 0, SIG, 1, 2, 0x100, 7);
	add(c, 0x1f, 1, SIG, 7, 112, 0x201, 7);
	add(c, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(c, 0x40000001, 0, 0, 0x01007efb, 0, 0, 0);
	add(c, 0x80000000, 0, 0, amd ? 0x8000001e : 0x80000008, 0, 0, 0);
	add(c, 0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800);
	add(c, 0x80000008, 0, 0, 0x3030, 0, amd ? 0x700f : 0, 0);
	if (amd)
		add(c, 0x8000001e, 0, 0, 7, 0x103, 0x301, 0);
	return c;
}

static struct kvm_cpuid_entry2 *entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	struct kvm_cpuid_entry2 *e = glue_cpuid_find(c, fn, idx);

	cr_assert_not_null(e, "leaf %#x.%u missing", fn, idx);
	return e;
}

static uint32_t pow2ceil(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Everything a guest kernel derives its topology from, for one vCPU. */
static void check_topology(struct kvm_cpuid2 *base, struct kvm_cpuid2 *c, uint32_t id, uint32_t n)
{
	struct kvm_cpuid_entry2 *l1 = entry(c, 1, 0), *e;
	uint32_t shift;

	cr_assert_eq(l1->ebx >> 24, id, "initial APIC ID");
	cr_assert_eq((l1->ebx >> 16) & 0xff, n, "logical processor count");
	cr_assert_eq(l1->ebx & 0xffff, 0x0800, "CLFLUSH size kept");
	cr_assert_eq(!!(l1->edx & L1_EDX_HTT), n > 1, "HTT");
	cr_assert(l1->ecx & L1_ECX_HYPERVISOR, "hypervisor bit");

	for (uint32_t sub = 0; sub < 4 && n <= 64; sub++) {
		e = entry(c, 4, sub);
		cr_assert_eq((e->eax >> 26) + 1, pow2ceil(n), "leaf 4.%u cores per package", sub);
		if (sub < 3)
			cr_assert_eq((e->eax >> 14) & 0xfff, 0, "L1/L2 per core");
		else
			cr_assert_eq(((e->eax >> 14) & 0xfff) + 1, pow2ceil(n), "L3 per package");
		cr_assert_eq(e->eax & 0x3fff, entry(base, 4, sub)->eax & 0x3fff, "cache type kept");
	}

	for (uint32_t fn = 0xb; fn <= 0x1f; fn += 0x14) {
		e = entry(c, fn, 0);
		cr_assert_eq((e->ecx >> 8) & 0xff, 1, "%#x.0 is the SMT level", fn);
		cr_assert_eq(e->ebx & 0xffff, 1, "one thread per core");
		cr_assert_eq(e->eax & 0x1f, 0);
		cr_assert_eq(e->edx, id, "x2APIC ID");
		e = entry(c, fn, 1);
		cr_assert_eq((e->ecx >> 8) & 0xff, 2, "%#x.1 is the core level", fn);
		cr_assert_eq(e->ecx & 0xff, 1);
		cr_assert_eq(e->ebx & 0xffff, n, "logical processors in the package");
		shift = e->eax & 0x1f;
		cr_assert_geq(1U << shift, n, "APIC ID bits cover every core");
		cr_assert_eq((n - 1) >> shift, 0, "all vCPUs in package 0");
		cr_assert_eq(1U << shift, pow2ceil(n), "no wasted bits");
		cr_assert_eq(e->edx, id);
		e = entry(c, fn, 2);
		cr_assert_eq((e->ecx >> 8) & 0xff, 0, "%#x.2 ends the list", fn);
		cr_assert_eq(e->ebx, 0);
	}

	e = entry(c, 0xa, 0);
	cr_assert(e->eax == 0 && e->ebx == 0 && e->ecx == 0 && e->edx == 0, "PMU hidden");
	e = entry(c, 0x40000000, 0);
	cr_assert_eq(e->ebx, 0x4b4d564b, "KVM signature kept");
}

Test(cpuid, topology_1_2_4_8_and_odd_counts)
{
	const uint32_t counts[] = {1, 2, 3, 4, 8, 255};
	struct kvm_cpuid2 *base = fake_supported(true, false);

	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		uint32_t n = counts[k];

		for (uint32_t id = 0; id < n; id++) {
			struct kvm_cpuid2 *c;

			cr_assert_eq(glue_cpuid_for_vcpu(base, id, n, &c), 0, "%s",
				     glue_error_last());
			check_topology(base, c, id, n);
			/* Exactly one entry per topology sub-leaf (host ones replaced). */
			cr_assert_eq(c->nent, base->nent + 2);
			free(c);
		}
	}
	free(base);
}

Test(cpuid, topology_amd_leaves)
{
	struct kvm_cpuid2 *base = fake_supported(false, true), *c;

	cr_assert_eq(glue_cpuid_for_vcpu(base, 5, 6, &c), 0);
	cr_assert_eq(entry(c, 0x80000008, 0)->ecx & 0xff, 5, "NC = cores - 1");
	cr_assert_eq((entry(c, 0x80000008, 0)->ecx >> 12) & 0xf, 3, "ApicIdCoreIdSize");
	cr_assert_eq(entry(c, 0x8000001e, 0)->eax, 5, "extended APIC ID");
	cr_assert_eq(entry(c, 0x8000001e, 0)->ebx & 0xffff, 5, "core 5, one thread");
	cr_assert_eq(entry(c, 0x8000001e, 0)->ecx, 0, "one node");
	free(c);
	free(base);

	/* Intel: the AMD-only fields stay as KVM gave them. */
	base = fake_supported(false, false);
	cr_assert_eq(glue_cpuid_for_vcpu(base, 1, 6, &c), 0);
	cr_assert_eq(entry(c, 0x80000008, 0)->ecx, 0);
	free(c);
	free(base);
}

Test(cpuid, topology_rejects_bad_ids)
{
	struct kvm_cpuid2 *base = fake_supported(false, false), *c = (void *)1;
	struct kvm_cpuid2 empty = {0};

	cr_assert_eq(glue_cpuid_for_vcpu(base, 0, 0, &c), -EINVAL);
	cr_assert_null(c);
	cr_assert_eq(glue_cpuid_for_vcpu(base, 4, 4, &c), -EINVAL);
	cr_assert_str_not_empty(glue_error_last());
	cr_assert_eq(glue_cpuid_for_vcpu(base, 0, 256, &c), -EINVAL);
	cr_assert_eq(glue_cpuid_for_vcpu(&empty, 0, 1, &c), -EINVAL);
	cr_assert(strstr(glue_error_last(), "leaf 0 or 1"));
	free(base);
}

static struct kvm_cpuid2 *apply(const char *spec, const struct kvm_cpuid2 *supported)
{
	struct glue_cpu_model *m;
	struct kvm_cpuid2 *out;

	cr_assert_eq(glue_cpu_model_parse(&m, spec), 0, "%s: %s", spec, glue_error_last());
	cr_assert_eq(glue_cpu_model_apply(m, supported, &out), 0, "%s: %s", spec,
		     glue_error_last());
	glue_cpu_model_free(m);
	return out;
}

static int apply_err(const char *spec, const struct kvm_cpuid2 *supported)
{
	struct glue_cpu_model *m;
	struct kvm_cpuid2 *out = (void *)1;
	int r;

	r = glue_cpu_model_parse(&m, spec);
	if (r < 0)
		return r;
	r = glue_cpu_model_apply(m, supported, &out);
	glue_cpu_model_free(m);
	if (r == 0)
		free(out);
	else
		cr_assert_null(out);
	return r;
}

static bool has(const struct kvm_cpuid2 *c, const char *name)
{
	int r = glue_cpu_feature_get(c, name);

	cr_assert_geq(r, 0, "%s: %s", name, glue_error_last());
	return r;
}

Test(cpuid, host_model_changes_nothing)
{
	struct kvm_cpuid2 *sup = fake_supported(true, false), *c;
	struct glue_cpu_model *m;

	cr_assert_eq(glue_cpu_model_parse(&m, NULL), 0);
	cr_assert_not(glue_cpu_model_changes_features(m));
	glue_cpu_model_free(m);
	cr_assert_eq(glue_cpu_model_parse(&m, "host"), 0);
	cr_assert_not(glue_cpu_model_changes_features(m));
	cr_assert_eq(glue_cpu_model_apply(m, sup, &c), 0);
	cr_assert_eq(c->nent, sup->nent);
	cr_assert_eq(memcmp(c->entries, sup->entries, sup->nent * sizeof(sup->entries[0])), 0);
	glue_cpu_model_free(m);
	free(c);
	cr_assert_eq(glue_cpu_model_parse(&m, "host,-avx2"), 0);
	cr_assert(glue_cpu_model_changes_features(m));
	glue_cpu_model_free(m);
	free(sup);
}

Test(cpuid, minus_feature_clears_it_and_its_dependents)
{
	struct kvm_cpuid2 *sup = fake_supported(true, false), *c;

	c = apply("host,-avx2", sup);
	cr_assert_not(has(c, "avx2"));
	cr_assert_not(has(c, "avx_vnni"), "avx_vnni needs avx2");
	cr_assert(has(c, "avx"));
	cr_assert(has(c, "avx512f"), "avx512f does not need avx2");
	cr_assert(has(c, "smap"));
	free(c);

	c = apply("-avx", sup);
	cr_assert_not(has(c, "avx"));
	cr_assert_not(has(c, "avx2"));
	cr_assert_not(has(c, "fma"));
	cr_assert_not(has(c, "f16c"));
	cr_assert_not(has(c, "avx512f"));
	cr_assert_not(has(c, "avx512bw"));
	cr_assert_not(has(c, "avx512_bf16"));
	cr_assert(has(c, "xsave"));
	cr_assert(has(c, "sse4_2"));
	/* XSAVE state: YMM and the AVX-512 components gone, PKRU kept. */
	cr_assert_eq(entry(c, 0xd, 0)->eax, 0x203, "x87, SSE, PKRU");
	cr_assert_eq(entry(c, 0xd, 2)->eax, 0);
	cr_assert_eq(entry(c, 0xd, 5)->eax, 0);
	cr_assert_eq(entry(c, 0xd, 9)->eax, 8);
	cr_assert_eq(entry(c, 0xd, 0)->ecx, 0xa80 + 8, "max size: up to PKRU");
	free(c);

	c = apply("host,-xsave", sup);
	cr_assert_not(has(c, "xsave"));
	cr_assert_not(has(c, "osxsave"));
	cr_assert_not(has(c, "avx"));
	cr_assert_not(has(c, "avx2"));
	cr_assert_not(has(c, "avx512f"));
	cr_assert_not(has(c, "xsaveopt"));
	cr_assert_not(has(c, "pku"));
	cr_assert(has(c, "sse4_2"));
	cr_assert(has(c, "x2apic"));
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0xd)
			cr_assert(c->entries[i].eax == 0 && c->entries[i].ebx == 0 &&
					  c->entries[i].ecx == 0 && c->entries[i].edx == 0,
				  "leaf 0xd.%u cleared", c->entries[i].index);
	free(c);
	free(sup);
}

Test(cpuid, plus_feature_restores_only_what_kvm_supports)
{
	struct kvm_cpuid2 *sup = fake_supported(true, false), *no512 = fake_supported(false, false);
	struct kvm_cpuid2 *c;

	c = apply("-avx,+avx", sup);
	cr_assert(has(c, "avx"));
	cr_assert_not(has(c, "avx2"), "dependents stay hidden until named");
	cr_assert_eq(entry(c, 0xd, 0)->eax & 0x4, 0x4, "YMM state back");
	cr_assert_eq(entry(c, 0xd, 2)->eax, 0x100);
	free(c);

	c = apply("-xsave,+xsave,+avx", sup);
	cr_assert(has(c, "xsave") && has(c, "avx"));
	cr_assert_eq(entry(c, 0xd, 0)->eax, 0x7, "AVX-512 and PKRU state stay hidden");
	cr_assert_eq(entry(c, 0xd, 0)->ecx, 0x340, "max size: legacy + header + YMM");
	free(c);

	cr_assert_eq(apply_err("+avx512f", no512), -ENOTSUP);
	cr_assert_str_eq(glue_error_last(),
			 "cannot enable 'avx512f': not supported by this host's KVM");
	cr_assert_eq(apply_err("-avx,+avx2", sup), -ENOTSUP);
	cr_assert(strstr(glue_error_last(), "'avx2'") && strstr(glue_error_last(), "'avx'"), "%s",
		  glue_error_last());
	/* +feat on what is already there is harmless. */
	cr_assert_eq(apply_err("+avx2", sup), 0);
	free(sup);
	free(no512);
}

Test(cpuid, aliases_and_kvm_features)
{
	struct kvm_cpuid2 *sup = fake_supported(false, false), *c;

	c = apply("-sse3,-lzcnt,-kvm-clock,-x2apic,-nx", sup);
	cr_assert_not(has(c, "pni"));
	cr_assert_not(has(c, "abm"));
	cr_assert_not(has(c, "x2apic"));
	cr_assert_not(has(c, "nx"));
	cr_assert_eq(entry(c, 0x40000001, 0)->eax & ((1U << 0) | (1U << 3) | (1U << 24)), 0,
		     "both kvmclock MSR sets and the stable bit");
	cr_assert(has(c, "kvm_pv_eoi"));
	cr_assert(has(c, "lahf_lm"));
	free(c);
	free(sup);
}

Test(cpuid, parse_errors_are_helpful)
{
	struct kvm_cpuid2 *sup = fake_supported(false, false);
	struct glue_cpu_model *m = (void *)1;

	cr_assert_eq(glue_cpu_model_parse(&m, "host,-avx512"), -EINVAL);
	cr_assert_null(m);
	cr_assert(strstr(glue_error_last(), "unknown CPU feature 'avx512'"), "%s",
		  glue_error_last());
	cr_assert(strstr(glue_error_last(), "did you mean") &&
			  strstr(glue_error_last(), "'avx512f'"),
		  "%s", glue_error_last());

	cr_assert_eq(glue_cpu_model_parse(&m, "-sse4_3"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "'sse4_2'"), "%s", glue_error_last());

	cr_assert_eq(glue_cpu_model_parse(&m, "+qwertyuiop"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "--cpu help"), "%s", glue_error_last());
	cr_assert_null(strstr(glue_error_last(), "did you mean"));

	cr_assert_eq(glue_cpu_model_parse(&m, "skylake"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "unknown CPU model 'skylake'"), "%s",
		  glue_error_last());
	cr_assert_eq(glue_cpu_model_parse(&m, "host,avx"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "'+avx' or '-avx'"), "%s", glue_error_last());
	cr_assert_eq(glue_cpu_model_parse(&m, "host,,-avx"), -EINVAL);
	cr_assert_eq(glue_cpu_model_parse(&m, "host,-avx,"), -EINVAL);
	cr_assert_eq(glue_cpu_model_parse(&m, "host,-hypervisor"), 0);
	glue_cpu_model_free(m);
	cr_assert_eq(apply_err("-hypervisor", sup), -ENOTSUP);
	cr_assert(strstr(glue_error_last(), "cannot hide 'hypervisor'"));
	free(sup);
	glue_cpu_model_free(NULL);

	cr_assert_eq(glue_cpu_model_parse(&m, "-avx2,+avx2,-x2apic"), 0);
	glue_cpu_model_free(m);
}

Test(cpuid, feature_table_is_consistent)
{
	struct glue_cpu_feature_info info;
	size_t n = 0;

	for (const char *name; (name = glue_cpu_feature_name(n)); n++) {
		cr_assert_eq(glue_cpu_feature_lookup(name, &info), 0, "%s", name);
		cr_assert_str_eq(info.name, name);
		cr_assert_lt(info.bit, 32);
		if (info.requires) {
			struct glue_cpu_feature_info req;

			cr_assert_eq(glue_cpu_feature_lookup(info.requires, &req), 0,
				     "%s requires unknown '%s'", name, info.requires);
		}
		/* Unique names and unique bits. */
		for (size_t j = 0; j < n; j++) {
			struct glue_cpu_feature_info o;

			cr_assert_str_neq(glue_cpu_feature_name(j), name);
			glue_cpu_feature_lookup(glue_cpu_feature_name(j), &o);
			cr_assert(o.function != info.function || o.index != info.index ||
					  o.reg != info.reg || o.bit != info.bit,
				  "%s and %s share a bit", o.name, name);
		}
	}
	cr_assert_gt(n, 100);
	cr_assert_eq(glue_cpu_feature_lookup("sse3", &info), 0);
	cr_assert_str_eq(info.name, "pni");
	cr_assert_eq(info.function, 1);
	cr_assert_eq(info.reg, GLUE_CPUID_ECX);
	cr_assert_eq(glue_cpu_feature_lookup("avx2", &info), 0);
	cr_assert(info.function == 7 && info.index == 0 && info.reg == GLUE_CPUID_EBX &&
		  info.bit == 5);
	cr_assert_eq(glue_cpu_feature_lookup("nope", &info), -ENOENT);
}

Test(cpuid, verify_rejects_bad_requests_before_creating_a_vm)
{
	struct kvm_cpuid2 *sup = fake_supported(false, false);
	struct glue_cpuid_check many[257] = {0};
	struct glue_cpuid_check bad = {1, 0, (enum glue_cpuid_reg)7, 1};
	size_t n = 5;

	/* No KVM handle needed: the arguments are checked first. */
	cr_assert_eq(glue_cpuid_verify(NULL, sup, many, 257, NULL, 0, &n), -EINVAL);
	cr_assert_eq(n, 0);
	cr_assert_eq(glue_cpuid_verify(NULL, sup, &bad, 1, NULL, 0, &n), -EINVAL);
	cr_assert_eq(glue_cpuid_verify(NULL, sup, NULL, 0, NULL, 0, &n), 0, "nothing to check");
	free(sup);
}

/* ---- against the real KVM ---------------------------------------------- */

static bool have_kvm(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

/* PVM documents which CPUID leaves it does not enforce; on hardware KVM all
 * of them follow KVM_SET_CPUID2. */
static bool is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static struct glue_kvm *open_kvm(struct kvm_cpuid2 **supported)
{
	struct glue_kvm *kvm;

	if (!have_kvm())
		cr_skip_test("no /dev/kvm");
	cr_assert_eq(glue_kvm_open(&kvm, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_kvm_supported_cpuid(kvm, supported), 0, "%s", glue_error_last());
	return kvm;
}

Test(cpuid_kvm, real_supported_table_topology)
{
	struct kvm_cpuid2 *sup, *c;
	struct glue_kvm *kvm = open_kvm(&sup);

	for (uint32_t id = 0; id < 4; id++) {
		cr_assert_eq(glue_cpuid_for_vcpu(sup, id, 4, &c), 0, "%s", glue_error_last());
		cr_assert_eq(entry(c, 1, 0)->ebx >> 24, id);
		cr_assert_eq(entry(c, 0xb, 1)->ebx & 0xffff, 4);
		cr_assert_eq(entry(c, 0xb, 0)->edx, id);
		free(c);
	}
	free(sup);
	glue_kvm_free(kvm);
}

Test(cpuid_kvm, probe_sees_unchanged_leaves)
{
	struct kvm_cpuid2 *sup, *c;
	struct glue_kvm *kvm = open_kvm(&sup);
	const struct glue_cpuid_check checks[] = {
		{0x40000000, 0, GLUE_CPUID_EBX, 0xffffffff},
		{0x80000001, 0, GLUE_CPUID_EDX, 0xffffffff},
		{1, 0, GLUE_CPUID_EBX, 0xff000000}, /* initial APIC ID */
	};
	struct glue_cpuid_mismatch mm[8];
	size_t n = 99;

	cr_assert_eq(glue_cpuid_for_vcpu(sup, 0, 1, &c), 0);
	cr_assert_eq(glue_cpuid_verify(kvm, c, checks, 3, mm, 8, &n), 0, "%s", glue_error_last());
	cr_assert_eq(n, 0, "first mismatch: leaf %#x bit %u", mm[0].function, mm[0].bit);
	free(c);
	free(sup);
	glue_kvm_free(kvm);
}

/* The CPU this test runs on: what PVM shows a guest for leaves it does not
 * enforce. */
static bool host_has(uint32_t leaf, uint32_t sub, enum glue_cpuid_reg reg, uint32_t bit)
{
	uint32_t r[4];

	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
	return (r[reg] >> bit) & 1;
}

Test(cpuid_kvm, probe_detects_what_the_host_enforces)
{
	struct kvm_cpuid2 *sup, *c;
	struct glue_kvm *kvm = open_kvm(&sup);
	struct glue_cpuid_check checks[] = {
		{1, 0, GLUE_CPUID_ECX, L1_ECX_X2APIC | (1U << 13)},
		{7, 0, GLUE_CPUID_EBX, L7_EBX_AVX2 | L7_EBX_SMAP},
		{0x80000001, 0, GLUE_CPUID_EDX, 1U << 27},
	};
	struct glue_cpuid_mismatch mm[8];
	bool avx2, smap;
	size_t n;

	cr_assert(has(sup, "x2apic") && has(sup, "cx16"), "KVM always offers these");
	avx2 = host_has(7, 0, GLUE_CPUID_EBX, 5);
	smap = host_has(7, 0, GLUE_CPUID_EBX, 20);
	c = apply("-x2apic,-cx16,-avx2,-smap,-rdtscp", sup);
	cr_assert_eq(glue_cpuid_verify(kvm, c, checks, 3, mm, 8, &n), 0, "%s", glue_error_last());
	if (!is_pvm()) {
		cr_assert_eq(n, 0, "hardware KVM applies every leaf");
	} else {
		/* PVM: leaf 1 CX16/x2APIC and 0x80000001 are honoured, leaf 7 is raw. */
		cr_assert_eq(n, (size_t)avx2 + smap);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(mm[i].function, 7);
			cr_assert_eq(mm[i].reg, GLUE_CPUID_EBX);
			cr_assert(mm[i].bit == 5 || mm[i].bit == 20);
			cr_assert_not(mm[i].expected);
		}
	}
	free(c);
	free(sup);
	glue_kvm_free(kvm);
}

static void collect(void *opaque, const char *msg)
{
	char *buf = opaque;

	strncat(buf, msg, 4095 - strlen(buf));
	strncat(buf, "\n", 4095 - strlen(buf));
}

static int verify(struct glue_kvm *kvm, const struct kvm_cpuid2 *sup, const char *spec,
		  char *warnings)
{
	struct glue_cpu_model *m;
	struct kvm_cpuid2 *c;
	int r;

	/* As a VMM does it: vCPU 0's table of two, checked before use. */
	cr_assert_eq(glue_cpu_model_parse(&m, spec), 0);
	cr_assert_eq(glue_cpuid_build(sup, m, 0, 2, &c), 0, "%s", glue_error_last());
	warnings[0] = '\0';
	r = glue_cpu_model_verify(m, kvm, c, collect, warnings);
	cr_assert_eq(glue_cpu_model_verify(m, kvm, c, NULL, NULL), r, "same verdict, no warnings");
	glue_cpu_model_free(m);
	free(c);
	return r;
}

Test(cpuid_kvm, model_verify_names_the_feature)
{
	struct kvm_cpuid2 *sup;
	struct glue_kvm *kvm = open_kvm(&sup);
	bool pvm = is_pvm();
	char warnings[4096];

	cr_assert_eq(verify(kvm, sup, "host,-x2apic", warnings), 0, "%s", glue_error_last());
	cr_assert_str_empty(warnings);
	cr_assert_eq(verify(kvm, sup, "-kvm_pv_eoi,-cx16,-rdtscp", warnings), 0, "%s",
		     glue_error_last());

	if (!pvm || !host_has(7, 0, GLUE_CPUID_EBX, 5)) {
		cr_assert_eq(verify(kvm, sup, "-avx2", warnings), 0, "%s", glue_error_last());
	} else {
		cr_assert_eq(verify(kvm, sup, "-avx2", warnings), -ENOTSUP);
		cr_assert_str_eq(glue_error_last(), "cannot hide 'avx2': this host's KVM does not "
						    "enforce CPUID leaf 7 (guest still sees it)");
		if (host_has(7, 0, GLUE_CPUID_EBX, 20)) {
			cr_assert_eq(verify(kvm, sup, "-x2apic,-avx2,-smap", warnings), -ENOTSUP);
			cr_assert(strstr(glue_error_last(), "cannot hide 'avx2'") &&
					  strstr(glue_error_last(), "same for 'smap'"),
				  "%s", glue_error_last());
		}
	}

	/*
	 * PVM shows the host's leaf 1 ECX bits wherever KVM's table does not
	 * list the feature (KVM_GET_SUPPORTED_CPUID), and applies the listed
	 * ones.
	 */
	if (pvm && !has(sup, "sse4_2") && host_has(1, 0, GLUE_CPUID_ECX, 20)) {
		cr_assert_eq(verify(kvm, sup, "-sse4_2", warnings), -ENOTSUP);
		cr_assert_str_eq(glue_error_last(),
				 "cannot hide 'sse4_2': this host's KVM does "
				 "not enforce CPUID leaf 1 (guest still sees it)");
	}
	if (!pvm || has(sup, "xsave") || !host_has(1, 0, GLUE_CPUID_ECX, 26)) {
		/* Hidden; dependents the host cannot hide are only warnings. */
		cr_assert_eq(verify(kvm, sup, "-xsave", warnings), 0, "%s", glue_error_last());
		if (pvm && host_has(7, 0, GLUE_CPUID_EBX, 5))
			cr_assert(strstr(warnings, "leaf 7") && strstr(warnings, " avx2"), "%s",
				  warnings);
		else if (!pvm)
			cr_assert_str_empty(warnings);
	} else {
		cr_assert_eq(verify(kvm, sup, "-xsave", warnings), -ENOTSUP);
		cr_assert(strstr(glue_error_last(), "cannot hide 'xsave'"), "%s",
			  glue_error_last());
	}
	free(sup);
	glue_kvm_free(kvm);
}
