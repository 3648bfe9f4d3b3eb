// SPDX-License-Identifier: MIT
/*
 * CPU models and named features: "--cpu host,-avx512f,+x2apic".
 *
 * A model starts from what KVM supports and edits feature bits left to
 * right. Hiding a feature hides what depends on it (as Linux's
 * cpuid-deps.c does) so the guest never sees, say, AVX2 without AVX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "x86/x86_internal.h"

#define EAX GLUE_CPUID_EAX
#define EBX GLUE_CPUID_EBX
#define ECX GLUE_CPUID_ECX
#define EDX GLUE_CPUID_EDX

#define LEAF_XSAVE 0xD

/* KVM derives the bit from guest state (CR4, APIC base, MISC_ENABLE): the
 * guest sees it change, so the probe cannot check it. */
#define F_DYNAMIC 0x1
/* glue always sets the bit (glue_cpuid_for_vcpu); it cannot be cleared. */
#define F_FIXED 0x2

struct feature {
	const char *name;
	uint32_t function;
	uint8_t index;
	uint8_t reg;
	uint8_t bit;
	uint8_t flags;
	const char *requires; /* hidden along with this feature */
	uint32_t xcr0;	      /* XSAVE state components (leaf 0xD) it owns */
};

/* clang-format off */
#define X(n, f, i, r, b, req) {n, f, i, r, b, 0, req, 0}
/* clang-format on */

static const struct feature features[] = {
	/* leaf 1 EDX */
	X("fpu", 1, 0, EDX, 0, NULL),
	X("vme", 1, 0, EDX, 1, NULL),
	X("de", 1, 0, EDX, 2, NULL),
	X("pse", 1, 0, EDX, 3, NULL),
	X("tsc", 1, 0, EDX, 4, NULL),
	X("msr", 1, 0, EDX, 5, NULL),
	X("pae", 1, 0, EDX, 6, NULL),
	X("mce", 1, 0, EDX, 7, NULL),
	X("cx8", 1, 0, EDX, 8, NULL),
	{"apic", 1, 0, EDX, 9, F_DYNAMIC, NULL, 0},
	X("sep", 1, 0, EDX, 11, NULL),
	X("mtrr", 1, 0, EDX, 12, NULL),
	X("pge", 1, 0, EDX, 13, NULL),
	X("mca", 1, 0, EDX, 14, NULL),
	X("cmov", 1, 0, EDX, 15, NULL),
	X("pat", 1, 0, EDX, 16, NULL),
	X("pse36", 1, 0, EDX, 17, NULL),
	X("pn", 1, 0, EDX, 18, NULL),
	X("clflush", 1, 0, EDX, 19, NULL),
	X("dts", 1, 0, EDX, 21, NULL),
	X("acpi", 1, 0, EDX, 22, NULL),
	X("mmx", 1, 0, EDX, 23, "fxsr"),
	X("fxsr", 1, 0, EDX, 24, NULL),
	X("sse", 1, 0, EDX, 25, "fxsr"),
	X("sse2", 1, 0, EDX, 26, "sse"),
	X("ss", 1, 0, EDX, 27, NULL),
	X("ht", 1, 0, EDX, 28, NULL),
	X("tm", 1, 0, EDX, 29, NULL),
	X("pbe", 1, 0, EDX, 31, NULL),
	/* leaf 1 ECX */
	X("pni", 1, 0, ECX, 0, "sse2"),
	X("pclmulqdq", 1, 0, ECX, 1, "sse2"),
	X("dtes64", 1, 0, ECX, 2, NULL),
	{"monitor", 1, 0, ECX, 3, F_DYNAMIC, NULL, 0},
	X("ds_cpl", 1, 0, ECX, 4, NULL),
	X("vmx", 1, 0, ECX, 5, NULL),
	X("smx", 1, 0, ECX, 6, NULL),
	X("est", 1, 0, ECX, 7, NULL),
	X("tm2", 1, 0, ECX, 8, NULL),
	X("ssse3", 1, 0, ECX, 9, "sse2"),
	X("cid", 1, 0, ECX, 10, NULL),
	X("sdbg", 1, 0, ECX, 11, NULL),
	X("fma", 1, 0, ECX, 12, "avx"),
	X("cx16", 1, 0, ECX, 13, NULL),
	X("xtpr", 1, 0, ECX, 14, NULL),
	X("pdcm", 1, 0, ECX, 15, NULL),
	X("pcid", 1, 0, ECX, 17, NULL),
	X("dca", 1, 0, ECX, 18, NULL),
	X("sse4_1", 1, 0, ECX, 19, "ssse3"),
	X("sse4_2", 1, 0, ECX, 20, "sse4_1"),
	X("x2apic", 1, 0, ECX, 21, NULL),
	X("movbe", 1, 0, ECX, 22, NULL),
	X("popcnt", 1, 0, ECX, 23, NULL),
	X("tsc_deadline_timer", 1, 0, ECX, 24, NULL),
	X("aes", 1, 0, ECX, 25, "sse2"),
	X("xsave", 1, 0, ECX, 26, "fxsr"),
	{"osxsave", 1, 0, ECX, 27, F_DYNAMIC, "xsave", 0},
	{"avx", 1, 0, ECX, 28, 0, "xsave", 1U << 2},
	X("f16c", 1, 0, ECX, 29, "avx"),
	X("rdrand", 1, 0, ECX, 30, NULL),
	{"hypervisor", 1, 0, ECX, 31, F_FIXED, NULL, 0},
	/* leaf 7.0 EBX */
	X("fsgsbase", 7, 0, EBX, 0, NULL),
	X("tsc_adjust", 7, 0, EBX, 1, NULL),
	X("sgx", 7, 0, EBX, 2, NULL),
	X("bmi1", 7, 0, EBX, 3, NULL),
	X("hle", 7, 0, EBX, 4, NULL),
	X("avx2", 7, 0, EBX, 5, "avx"),
	X("fdp_excptn_only", 7, 0, EBX, 6, NULL),
	X("smep", 7, 0, EBX, 7, NULL),
	X("bmi2", 7, 0, EBX, 8, NULL),
	X("erms", 7, 0, EBX, 9, NULL),
	X("invpcid", 7, 0, EBX, 10, NULL),
	X("rtm", 7, 0, EBX, 11, NULL),
	X("cqm", 7, 0, EBX, 12, NULL),
	X("zero_fcs_fds", 7, 0, EBX, 13, NULL),
	{"mpx", 7, 0, EBX, 14, 0, "xsave", (1U << 3) | (1U << 4)},
	X("rdt_a", 7, 0, EBX, 15, NULL),
	{"avx512f", 7, 0, EBX, 16, 0, "avx", (1U << 5) | (1U << 6) | (1U << 7)},
	X("avx512dq", 7, 0, EBX, 17, "avx512f"),
	X("rdseed", 7, 0, EBX, 18, NULL),
	X("adx", 7, 0, EBX, 19, NULL),
	X("smap", 7, 0, EBX, 20, NULL),
	X("avx512ifma", 7, 0, EBX, 21, "avx512f"),
	X("clflushopt", 7, 0, EBX, 23, NULL),
	X("clwb", 7, 0, EBX, 24, NULL),
	X("intel_pt", 7, 0, EBX, 25, NULL),
	X("avx512pf", 7, 0, EBX, 26, "avx512f"),
	X("avx512er", 7, 0, EBX, 27, "avx512f"),
	X("avx512cd", 7, 0, EBX, 28, "avx512f"),
	X("sha_ni", 7, 0, EBX, 29, "sse2"),
	X("avx512bw", 7, 0, EBX, 30, "avx512f"),
	X("avx512vl", 7, 0, EBX, 31, "avx512f"),
	/* leaf 7.0 ECX */
	X("prefetchwt1", 7, 0, ECX, 0, NULL),
	X("avx512vbmi", 7, 0, ECX, 1, "avx512f"),
	X("umip", 7, 0, ECX, 2, NULL),
	{"pku", 7, 0, ECX, 3, 0, "xsave", 1U << 9},
	{"ospke", 7, 0, ECX, 4, F_DYNAMIC, "pku", 0},
	X("waitpkg", 7, 0, ECX, 5, NULL),
	X("avx512_vbmi2", 7, 0, ECX, 6, "avx512f"),
	X("gfni", 7, 0, ECX, 8, "sse2"),
	X("vaes", 7, 0, ECX, 9, "avx"),
	X("vpclmulqdq", 7, 0, ECX, 10, "avx"),
	X("avx512_vnni", 7, 0, ECX, 11, "avx512f"),
	X("avx512_bitalg", 7, 0, ECX, 12, "avx512f"),
	X("tme", 7, 0, ECX, 13, NULL),
	X("avx512_vpopcntdq", 7, 0, ECX, 14, "avx512f"),
	X("la57", 7, 0, ECX, 16, NULL),
	X("rdpid", 7, 0, ECX, 22, NULL),
	X("bus_lock_detect", 7, 0, ECX, 24, NULL),
	X("cldemote", 7, 0, ECX, 25, NULL),
	X("movdiri", 7, 0, ECX, 27, NULL),
	X("movdir64b", 7, 0, ECX, 28, NULL),
	X("enqcmd", 7, 0, ECX, 29, NULL),
	X("sgx_lc", 7, 0, ECX, 30, NULL),
	/* leaf 7.0 EDX */
	X("avx512_4vnniw", 7, 0, EDX, 2, "avx512f"),
	X("avx512_4fmaps", 7, 0, EDX, 3, "avx512f"),
	X("fsrm", 7, 0, EDX, 4, NULL),
	X("avx512_vp2intersect", 7, 0, EDX, 8, "avx512f"),
	X("md_clear", 7, 0, EDX, 10, NULL),
	X("serialize", 7, 0, EDX, 14, NULL),
	X("tsxldtrk", 7, 0, EDX, 16, NULL),
	X("pconfig", 7, 0, EDX, 18, NULL),
	X("arch_lbr", 7, 0, EDX, 19, NULL),
	X("ibt", 7, 0, EDX, 20, NULL),
	X("amx_bf16", 7, 0, EDX, 22, "amx_tile"),
	X("avx512_fp16", 7, 0, EDX, 23, "avx512f"),
	{"amx_tile", 7, 0, EDX, 24, 0, "xsave", (1U << 17) | (1U << 18)},
	X("amx_int8", 7, 0, EDX, 25, "amx_tile"),
	X("spec_ctrl", 7, 0, EDX, 26, NULL),
	X("intel_stibp", 7, 0, EDX, 27, NULL),
	X("flush_l1d", 7, 0, EDX, 28, NULL),
	X("arch_capabilities", 7, 0, EDX, 29, NULL),
	X("spec_ctrl_ssbd", 7, 0, EDX, 31, NULL),
	/* leaf 7.1 EAX */
	X("avx_vnni", 7, 1, EAX, 4, "avx2"),
	X("avx512_bf16", 7, 1, EAX, 5, "avx512f"),
	/* leaf 0xD.1 EAX */
	X("xsaveopt", LEAF_XSAVE, 1, EAX, 0, "xsave"),
	X("xsavec", LEAF_XSAVE, 1, EAX, 1, "xsave"),
	X("xgetbv1", LEAF_XSAVE, 1, EAX, 2, "xsave"),
	X("xsaves", LEAF_XSAVE, 1, EAX, 3, "xsave"),
	/* KVM paravirtual features, leaf 0x40000001 EAX */
	X("kvmclock", 0x40000001, 0, EAX, 3, NULL),
	X("kvm_nopiodelay", 0x40000001, 0, EAX, 1, NULL),
	X("kvmclock_old", 0x40000001, 0, EAX, 0, "kvmclock"),
	X("kvm_async_pf", 0x40000001, 0, EAX, 4, NULL),
	X("kvm_steal_time", 0x40000001, 0, EAX, 5, NULL),
	X("kvm_pv_eoi", 0x40000001, 0, EAX, 6, NULL),
	X("kvm_pv_unhalt", 0x40000001, 0, EAX, 7, NULL),
	X("kvm_pv_tlb_flush", 0x40000001, 0, EAX, 9, NULL),
	X("kvm_async_pf_vmexit", 0x40000001, 0, EAX, 10, "kvm_async_pf"),
	X("kvm_pv_send_ipi", 0x40000001, 0, EAX, 11, NULL),
	X("kvm_poll_control", 0x40000001, 0, EAX, 12, NULL),
	X("kvm_pv_sched_yield", 0x40000001, 0, EAX, 13, NULL),
	X("kvm_async_pf_int", 0x40000001, 0, EAX, 14, "kvm_async_pf"),
	X("kvm_msi_ext_dest_id", 0x40000001, 0, EAX, 15, NULL),
	X("kvm_hc_map_gpa_range", 0x40000001, 0, EAX, 16, NULL),
	X("kvm_migration_control", 0x40000001, 0, EAX, 17, NULL),
	X("kvmclock_stable", 0x40000001, 0, EAX, 24, "kvmclock"),
	/* leaf 0x80000001 ECX */
	X("lahf_lm", 0x80000001, 0, ECX, 0, NULL),
	X("cmp_legacy", 0x80000001, 0, ECX, 1, NULL),
	X("svm", 0x80000001, 0, ECX, 2, NULL),
	X("extapic", 0x80000001, 0, ECX, 3, NULL),
	X("cr8_legacy", 0x80000001, 0, ECX, 4, NULL),
	X("abm", 0x80000001, 0, ECX, 5, NULL),
	X("sse4a", 0x80000001, 0, ECX, 6, "sse2"),
	X("misalignsse", 0x80000001, 0, ECX, 7, NULL),
	X("3dnowprefetch", 0x80000001, 0, ECX, 8, NULL),
	X("osvw", 0x80000001, 0, ECX, 9, NULL),
	X("ibs", 0x80000001, 0, ECX, 10, NULL),
	X("xop", 0x80000001, 0, ECX, 11, "avx"),
	X("skinit", 0x80000001, 0, ECX, 12, NULL),
	X("wdt", 0x80000001, 0, ECX, 13, NULL),
	X("lwp", 0x80000001, 0, ECX, 15, NULL),
	X("fma4", 0x80000001, 0, ECX, 16, "avx"),
	X("tce", 0x80000001, 0, ECX, 17, NULL),
	X("nodeid_msr", 0x80000001, 0, ECX, 19, NULL),
	X("tbm", 0x80000001, 0, ECX, 21, NULL),
	X("topoext", 0x80000001, 0, ECX, 22, NULL),
	X("perfctr_core", 0x80000001, 0, ECX, 23, NULL),
	X("perfctr_nb", 0x80000001, 0, ECX, 24, NULL),
	X("bpext", 0x80000001, 0, ECX, 26, NULL),
	X("ptsc", 0x80000001, 0, ECX, 27, NULL),
	X("perfctr_llc", 0x80000001, 0, ECX, 28, NULL),
	X("mwaitx", 0x80000001, 0, ECX, 29, NULL),
	/* leaf 0x80000001 EDX */
	X("syscall", 0x80000001, 0, EDX, 11, NULL),
	X("mp", 0x80000001, 0, EDX, 19, NULL),
	X("nx", 0x80000001, 0, EDX, 20, NULL),
	X("mmxext", 0x80000001, 0, EDX, 22, "mmx"),
	X("fxsr_opt", 0x80000001, 0, EDX, 25, "fxsr"),
	X("pdpe1gb", 0x80000001, 0, EDX, 26, NULL),
	X("rdtscp", 0x80000001, 0, EDX, 27, NULL),
	X("lm", 0x80000001, 0, EDX, 29, NULL),
	X("3dnowext", 0x80000001, 0, EDX, 30, "3dnow"),
	X("3dnow", 0x80000001, 0, EDX, 31, "mmx"),
	/* leaf 0x80000007 EDX */
	X("constant_tsc", 0x80000007, 0, EDX, 8, NULL),
	/* leaf 0x80000008 EBX */
	X("clzero", 0x80000008, 0, EBX, 0, NULL),
	X("irperf", 0x80000008, 0, EBX, 1, NULL),
	X("xsaveerptr", 0x80000008, 0, EBX, 2, NULL),
	X("wbnoinvd", 0x80000008, 0, EBX, 9, NULL),
	X("amd_ibpb", 0x80000008, 0, EBX, 12, NULL),
	X("amd_ibrs", 0x80000008, 0, EBX, 14, NULL),
	X("amd_stibp", 0x80000008, 0, EBX, 15, NULL),
	X("amd_ssbd", 0x80000008, 0, EBX, 24, NULL),
	X("virt_ssbd", 0x80000008, 0, EBX, 25, NULL),
};

#undef X

/* Other spellings people type (cpuinfo shows the first name of a pair). */
static const struct {
	const char *alias;
	const char *name;
} aliases[] = {
	{"sse3", "pni"},
	{"lzcnt", "abm"},
	{"prefetchw", "3dnowprefetch"},
	{"kvm-clock", "kvmclock"},
	{"sse4.1", "sse4_1"},
	{"sse4.2", "sse4_2"},
	{"sha", "sha_ni"},
	{"pclmul", "pclmulqdq"},
	{"nonstop_tsc", "constant_tsc"},
	{"invtsc", "constant_tsc"},
	{"tsc-deadline", "tsc_deadline_timer"},
};

/* Models: only "host" for now; the table leaves room for templates that
 * start from a fixed feature set. */
static const char *const models[] = {"host"};

enum op_kind {
	OP_CLEAR,
	OP_SET,
};

struct op {
	enum op_kind kind;
	uint16_t feature; /* index into features[] */
};

struct glue_cpu_model {
	size_t nops;
	struct op ops[];
};

static int find_feature(const char *name)
{
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(aliases); i++)
		if (!strcmp(name, aliases[i].alias)) {
			name = aliases[i].name;
			break;
		}
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(features); i++)
		if (!strcmp(name, features[i].name))
			return (int)i;
	return -1;
}

const char *glue_cpu_feature_name(size_t index)
{
	return index < GLUE_ARRAY_SIZE(features) ? features[index].name : NULL;
}

int glue_cpu_feature_lookup(const char *name, struct glue_cpu_feature_info *out)
{
	int i = name ? find_feature(name) : -1;
	const struct feature *f;

	if (i < 0)
		return glue_err(-ENOENT, "unknown CPU feature '%s'", name ? name : "(null)");
	f = &features[i];
	out->name = f->name;
	out->function = f->function;
	out->index = f->index;
	out->reg = (enum glue_cpuid_reg)f->reg;
	out->bit = f->bit;
	out->requires = f->requires;
	return 0;
}

static bool feature_bit(const struct kvm_cpuid2 *cpuid, const struct feature *f)
{
	const struct kvm_cpuid_entry2 *e = glue_cpuid_find_const(cpuid, f->function, f->index);

	return e && (glue_cpuid_reg_get(e, (enum glue_cpuid_reg)f->reg) >> f->bit) & 1;
}

int glue_cpu_feature_get(const struct kvm_cpuid2 *cpuid, const char *name)
{
	int i = name ? find_feature(name) : -1;

	if (i < 0)
		return glue_err(-ENOENT, "unknown CPU feature '%s'", name ? name : "(null)");
	return feature_bit(cpuid, &features[i]);
}

/* Levenshtein distance, capped: enough to suggest "avx512f" for "avx512". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= GLUE_ARRAY_SIZE(row) || lb >= GLUE_ARRAY_SIZE(row))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			best = GLUE_MIN(best, up + 1);
			best = GLUE_MIN(best, row[j - 1] + 1);
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_feature(const char *name)
{
	char hint[256] = "";
	size_t n = 0, len = 0;

	for (size_t i = 0; i < GLUE_ARRAY_SIZE(features) && n < 5; i++) {
		const char *cand = features[i].name;
		bool close = edit_distance(name, cand) <= 2 ||
			     (strlen(name) >= 3 && strstr(cand, name) == cand);

		if (!close)
			continue;
		len += (size_t)snprintf(hint + len, sizeof(hint) - len, "%s'%s'", n ? ", " : "",
					cand);
		if (len >= sizeof(hint))
			break;
		n++;
	}
	if (n)
		return glue_err(
			-EINVAL,
			"unknown CPU feature '%s': did you mean %s? (--cpu help lists them)", name,
			hint);
	return glue_err(-EINVAL, "unknown CPU feature '%s' (--cpu help lists them)", name);
}

int glue_cpu_model_parse(struct glue_cpu_model **out, const char *spec)
{
	struct glue_cpu_model *m;
	size_t items = 1, nops = 0;
	char *copy, *item, *save = NULL;
	bool first = true;
	int r = 0;

	*out = NULL;
	if (!spec)
		spec = "";
	for (const char *p = spec; *p; p++)
		items += *p == ',';
	m = calloc(1, sizeof(*m) + items * sizeof(m->ops[0]));
	copy = strdup(spec);
	if (!m || !copy) {
		free(m);
		free(copy);
		return glue_err(-ENOMEM, "out of memory");
	}
	if (*spec && (spec[0] == ',' || spec[strlen(spec) - 1] == ',' || strstr(spec, ",,"))) {
		r = glue_err(-EINVAL, "CPU model '%s': empty item", spec);
		goto out;
	}
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		bool is_first = first;
		int f;

		first = false;
		if (item[0] != '+' && item[0] != '-') {
			bool known = false;

			for (size_t i = 0; i < GLUE_ARRAY_SIZE(models); i++)
				known |= !strcmp(item, models[i]);
			if (is_first && known)
				continue;
			if (is_first && find_feature(item) < 0) {
				r = glue_err(-EINVAL, "unknown CPU model '%s' (known models: host)",
					     item);
				goto out;
			}
			r = glue_err(-EINVAL,
				     "CPU model '%s': write '+%s' or '-%s' to enable or disable "
				     "a feature",
				     spec, item, item);
			goto out;
		}
		f = find_feature(item + 1);
		if (f < 0) {
			r = unknown_feature(item + 1);
			goto out;
		}
		m->ops[nops].kind = item[0] == '+' ? OP_SET : OP_CLEAR;
		m->ops[nops].feature = (uint16_t)f;
		nops++;
	}
	m->nops = nops;
out:
	free(copy);
	if (r < 0) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

void glue_cpu_model_free(struct glue_cpu_model *model)
{
	free(model);
}

bool glue_cpu_model_changes_features(const struct glue_cpu_model *model)
{
	return model && model->nops > 0;
}

static void write_bit(struct kvm_cpuid2 *cpuid, const struct feature *f, bool on)
{
	struct kvm_cpuid_entry2 *e = glue_cpuid_find(cpuid, f->function, f->index);
	uint32_t v;

	if (!e)
		return; /* the leaf does not exist: the feature is already absent */
	v = glue_cpuid_reg_get(e, (enum glue_cpuid_reg)f->reg);
	v = on ? v | (1U << f->bit) : v & ~(1U << f->bit);
	glue_cpuid_reg_set(e, (enum glue_cpuid_reg)f->reg, v);
}

/* Clear f and, recursively, every feature that requires it. The table is a
 * forest (each feature has at most one prerequisite), so this terminates. */
static void clear_feature(struct kvm_cpuid2 *cpuid, size_t idx, bool *touched)
{
	const struct feature *f = &features[idx];

	write_bit(cpuid, f, false);
	if (touched)
		touched[idx] = true;
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(features); i++)
		if (features[i].requires && !strcmp(features[i].requires, f->name))
			clear_feature(cpuid, i, touched);
}

/*
 * Make leaf 0xD agree with what the model hid: without XSAVE there is no
 * leaf 0xD; a hidden AVX/AVX-512/PKU/AMX loses its state components, so the
 * guest neither enables them in XCR0 nor sizes its buffers for them. Only
 * changes relative to KVM's table count: leaf 0xD stays as KVM reports it
 * when the model did not hide anything that owns state.
 */
static void fix_xsave_leaf(struct kvm_cpuid2 *cpuid, const struct kvm_cpuid2 *supported)
{
	const struct feature *xsave = &features[find_feature("xsave")];
	struct kvm_cpuid_entry2 *sub0 = glue_cpuid_find(cpuid, LEAF_XSAVE, 0);
	uint32_t hidden = 0, size = 576 + 64; /* legacy area + XSAVE header */
	bool no_xsave = feature_bit(supported, xsave) && !feature_bit(cpuid, xsave);

	if (!sub0)
		return;
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(features); i++)
		if (features[i].xcr0 && feature_bit(supported, &features[i]) &&
		    !feature_bit(cpuid, &features[i]))
			hidden |= features[i].xcr0;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		const struct kvm_cpuid_entry2 *s;

		if (e->function != LEAF_XSAVE)
			continue;
		if (no_xsave) {
			e->eax = e->ebx = e->ecx = e->edx = 0;
			continue;
		}
		/* Start from KVM's values so "-avx,+avx" restores them; sub-leaf 1
		 * holds feature bits the model manages itself. */
		s = glue_cpuid_find_const(supported, LEAF_XSAVE, e->index);
		if (s && e->index != 1) {
			e->eax = s->eax;
			e->ebx = s->ebx;
			e->ecx = s->ecx;
			e->edx = s->edx;
		}
		if (e->index >= 2 && e->index < 32 && (hidden & (1U << e->index)))
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
	if (no_xsave || !hidden)
		return;
	sub0->eax &= ~hidden;
	/* ECX: size of the area holding every component still offered. */
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == LEAF_XSAVE && e->index >= 2 && e->index < 32 &&
		    (sub0->eax & (1U << e->index)) && e->eax)
			size = GLUE_MAX(size, e->ebx + e->eax);
	}
	sub0->ecx = size;
}

/* Apply the model's operations to cpuid; touched[i] records every feature
 * written and explicit[i] those the user named. */
static int apply_ops(const struct glue_cpu_model *model, const struct kvm_cpuid2 *supported,
		     struct kvm_cpuid2 *cpuid, bool *touched, bool *explicit)
{
	for (size_t k = 0; k < model->nops; k++) {
		const struct op *op = &model->ops[k];
		const struct feature *f = &features[op->feature];

		if (explicit)
			explicit[op->feature] = true;
		if (f->flags & F_FIXED) {
			if (op->kind == OP_CLEAR)
				return glue_err(
					-ENOTSUP,
					"cannot hide '%s': glue always sets it (guests look "
					"for the KVM paravirtual leaves through it)",
					f->name);
			continue;
		}
		if (op->kind == OP_CLEAR) {
			clear_feature(cpuid, op->feature, touched);
			continue;
		}
		if (!feature_bit(supported, f))
			return glue_err(-ENOTSUP,
					"cannot enable '%s': not supported by this host's KVM",
					f->name);
		if (f->requires && !feature_bit(cpuid, &features[find_feature(f->requires)]))
			return glue_err(-ENOTSUP,
					"cannot enable '%s': it needs '%s', which is disabled",
					f->name, f->requires);
		write_bit(cpuid, f, true);
		if (touched)
			touched[op->feature] = true;
	}
	return 0;
}

int glue_cpu_model_apply(const struct glue_cpu_model *model, const struct kvm_cpuid2 *supported,
			 struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	int r;

	*out = NULL;
	r = glue_cpuid_dup(supported, &c);
	if (r < 0)
		return r;
	if (model && model->nops) {
		r = apply_ops(model, supported, c, NULL, NULL);
		if (r < 0) {
			free(c);
			return r;
		}
		fix_xsave_leaf(c, supported);
	}
	*out = c;
	return 0;
}

static void format_leaf(char *buf, size_t len, uint32_t function, uint32_t index)
{
	int n = snprintf(buf, len, function < 10 ? "%u" : "%#x", function);

	if (index && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " sub-leaf %u", index);
}

static int find_feature_at(const struct glue_cpuid_mismatch *m)
{
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(features); i++) {
		const struct feature *f = &features[i];

		if (f->function == m->function && f->index == m->index && f->reg == m->reg &&
		    f->bit == m->bit)
			return (int)i;
	}
	return -1;
}

#define MAX_MISMATCHES 256

/* One warning per leaf for dependents the host does not hide (or show):
 * guests derive them from their prerequisite, so this is not an error. */
static void warn_dependents(const struct glue_cpuid_mismatch *mism, size_t n, const bool *explicit,
			    glue_cpu_warn_fn warn, void *opaque)
{
	bool done[MAX_MISMATCHES] = {0};

	for (size_t k = 0; k < n && k < GLUE_ARRAY_SIZE(done); k++) {
		char line[512], leaf[48];
		size_t len;
		int idx;

		idx = find_feature_at(&mism[k]);
		if (done[k] || idx < 0 || explicit[idx])
			continue;
		format_leaf(leaf, sizeof(leaf), mism[k].function, mism[k].index);
		len = (size_t)snprintf(line, sizeof(line),
				       mism[k].expected
					       ? "this host's KVM does not pass CPUID leaf %s "
						 "through; the guest does not see:"
					       : "this host's KVM does not enforce CPUID leaf %s; "
						 "the guest still sees (hidden as dependents):",
				       leaf);
		for (size_t j = k; j < n && j < GLUE_ARRAY_SIZE(done); j++) {
			int jdx = find_feature_at(&mism[j]);

			if (done[j] || jdx < 0 || explicit[jdx] ||
			    mism[j].function != mism[k].function ||
			    mism[j].index != mism[k].index || mism[j].expected != mism[k].expected)
				continue;
			done[j] = true;
			if (len < sizeof(line))
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s",
							features[jdx].name);
		}
		warn(opaque, line);
	}
}

int glue_cpu_model_verify(const struct glue_cpu_model *model, struct glue_kvm *kvm,
			  const struct kvm_cpuid2 *cpuid, glue_cpu_warn_fn warn, void *opaque)
{
	bool touched[GLUE_ARRAY_SIZE(features)] = {0};
	bool explicit[GLUE_ARRAY_SIZE(features)] = {0};
	struct glue_cpuid_check checks[GLUE_ARRAY_SIZE(features)];
	struct glue_cpuid_mismatch mism[MAX_MISMATCHES];
	size_t nchecks = 0, nmism = 0, nerr = 0;
	struct kvm_cpuid2 *scratch;
	char msg[512] = "";
	int r;

	if (!model || !model->nops)
		return 0;
	/* Replay the model on a scratch copy only to learn what it touches. */
	r = glue_cpuid_dup(cpuid, &scratch);
	if (r < 0)
		return r;
	r = apply_ops(model, cpuid, scratch, touched, explicit);
	free(scratch);
	if (r < 0)
		return r;

	for (size_t i = 0; i < GLUE_ARRAY_SIZE(features); i++) {
		const struct feature *f = &features[i];
		size_t j;

		if (!touched[i] || (f->flags & (F_DYNAMIC | F_FIXED)))
			continue;
		for (j = 0; j < nchecks; j++)
			if (checks[j].function == f->function && checks[j].index == f->index &&
			    checks[j].reg == (enum glue_cpuid_reg)f->reg)
				break;
		if (j == nchecks) {
			checks[j].function = f->function;
			checks[j].index = f->index;
			checks[j].reg = (enum glue_cpuid_reg)f->reg;
			checks[j].mask = 0;
			nchecks++;
		}
		checks[j].mask |= 1U << f->bit;
	}
	if (!nchecks)
		return 0;

	r = glue_cpuid_verify(kvm, cpuid, checks, nchecks, mism, MAX_MISMATCHES, &nmism);
	if (r < 0)
		return glue_err_wrap(r, "cannot check the CPU model");
	nmism = GLUE_MIN(nmism, (size_t)MAX_MISMATCHES);

	for (size_t k = 0; k < nmism; k++) {
		const struct glue_cpuid_mismatch *m = &mism[k];
		int idx = find_feature_at(m);
		const char *name = idx >= 0 ? features[idx].name : "?";
		size_t len = strlen(msg);
		char leaf[48];

		if (idx < 0 || !explicit[idx])
			continue;
		format_leaf(leaf, sizeof(leaf), m->function, m->index);
		if (nerr++ == 0)
			snprintf(msg, sizeof(msg),
				 m->expected ? "cannot enable '%s': this host's KVM does not pass "
					       "CPUID leaf %s through (guest does not see it)"
					     : "cannot hide '%s': this host's KVM does not enforce "
					       "CPUID leaf %s (guest still sees it)",
				 name, leaf);
		else if (len < sizeof(msg))
			snprintf(msg + len, sizeof(msg) - len, "%s'%s'",
				 nerr == 2 ? "; same for " : ", ", name);
	}
	if (nerr)
		return glue_err(-ENOTSUP, "%s", msg);
	if (warn)
		warn_dependents(mism, nmism, explicit, warn, opaque);
	return 0;
}

int glue_cpuid_build(const struct kvm_cpuid2 *supported, const struct glue_cpu_model *model,
		     uint32_t vcpu_id, uint32_t ncpus, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *base;
	int r;

	*out = NULL;
	r = glue_cpu_model_apply(model, supported, &base);
	if (r < 0)
		return r;
	r = glue_cpuid_for_vcpu(base, vcpu_id, ncpus, out);
	free(base);
	return r;
}
