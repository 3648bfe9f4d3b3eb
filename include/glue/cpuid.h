/* SPDX-License-Identifier: MIT */
/*
 * CPUID for x86 vCPUs: per-vCPU tables with a consistent topology, and the
 * CPU feature control behind `--cpu MODEL[,+feat][,-feat]...`.
 *
 * Typical use:
 *   glue_kvm_supported_cpuid(kvm, &supported);
 *   glue_cpu_model_parse(&model, "host,-avx512f,-x2apic");   (errors: unknown name)
 *   for each vCPU i:
 *           glue_cpuid_build(supported, model, i, ncpus, &cpuid); (errors: can't enable)
 *           if (i == 0 && glue_cpu_model_changes_features(model))
 *                   glue_cpu_model_verify(model, kvm, cpuid, warn, ctx); (can't hide)
 *           glue_x86_vcpu_init(vcpu[i], cpuid);                   (see <glue/x86.h>)
 *           free(cpuid);
 *
 * Topology: one socket, ncpus cores, one thread per core; the APIC ID of a
 * vCPU is its vCPU id.
 *
 * Every function here is thread-safe: they touch only their arguments (and
 * glue_cpu_model_verify and glue_cpuid_verify create their own throwaway VM).
 */
#ifndef GLUE_CPUID_H
#define GLUE_CPUID_H

#include <glue/common.h>
#include <linux/kvm.h>

GLUE_BEGIN_DECLS

struct glue_kvm;

/* Output registers of the CPUID instruction. */
enum glue_cpuid_reg {
	GLUE_CPUID_EAX = 0,
	GLUE_CPUID_EBX = 1,
	GLUE_CPUID_ECX = 2,
	GLUE_CPUID_EDX = 3,
};

/* ---- tables ----------------------------------------------------------- */

/*
 * Find the entry for (function, index) in cpuid; index is ignored for leaves
 * whose entries do not carry KVM_CPUID_FLAG_SIGNIFCANT_INDEX. Returns NULL
 * when absent. The pointer stays valid as long as cpuid does.
 */
GLUE_API struct kvm_cpuid_entry2 *glue_cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
						  uint32_t index);

/* Copy of a CPUID table (malloc'ed, release with free()). 0 or -ENOMEM. */
GLUE_API int glue_cpuid_dup(const struct kvm_cpuid2 *cpuid, struct kvm_cpuid2 **out);

/*
 * Build the table for vCPU vcpu_id (0 <= vcpu_id < ncpus, ncpus <= 255) from
 * base (KVM_GET_SUPPORTED_CPUID, possibly edited by glue_cpu_model_apply):
 *   - leaf 1: EBX[31:24] initial APIC ID = vcpu_id, EBX[23:16] logical
 *     processors in the package = ncpus, EDX.HTT when ncpus > 1, ECX[31]
 *     hypervisor;
 *   - leaf 4: EAX[31:26] cores per package - 1 (rounded to a power of two),
 *     EAX[25:14] sharing: L1/L2 per core, L3 per package;
 *   - leaves 0xB and 0x1F (those present): SMT level (1 thread) and core
 *     level (ncpus), EDX = x2APIC ID;
 *   - AMD/Hygon vendors: 0x80000008 ECX core count, 0x8000001E IDs;
 *   - leaf 0xA (architectural PMU) zeroed; 0x40000000 (KVM) kept.
 * *out is malloc'ed; release with free(). Returns 0, -EINVAL (bad ids or a
 * table without leaf 0/1), -ENOMEM.
 */
GLUE_API int glue_cpuid_for_vcpu(const struct kvm_cpuid2 *base, uint32_t vcpu_id, uint32_t ncpus,
				 struct kvm_cpuid2 **out);

/* ---- CPU features ----------------------------------------------------- */

/*
 * The named features, using Linux /proc/cpuinfo names (plus a few aliases
 * such as "sse3", "lzcnt", "kvm-clock"). glue_cpu_feature_name() returns the
 * index'th name for listing (`--cpu help`), NULL past the end.
 */
GLUE_API const char *glue_cpu_feature_name(size_t index);

/* Where a feature lives. Returns 0, or -ENOENT for an unknown name. */
struct glue_cpu_feature_info {
	const char *name;  /* canonical name */
	uint32_t function; /* CPUID leaf */
	uint32_t index;	   /* sub-leaf */
	enum glue_cpuid_reg reg;
	uint32_t bit;
	const char *requires; /* feature it depends on, or NULL */
};
GLUE_API int glue_cpu_feature_lookup(const char *name, struct glue_cpu_feature_info *out);

/* 1 when cpuid advertises the feature, 0 when not, -ENOENT if unknown. */
GLUE_API int glue_cpu_feature_get(const struct kvm_cpuid2 *cpuid, const char *name);

/*
 * A parsed CPU model: "MODEL[,+feat][,-feat]..." where MODEL is "host"
 * (everything KVM supports; also the default when the string starts with a
 * feature or is empty/NULL). Unknown models and feature names fail with
 * -EINVAL and a message naming close matches, e.g.
 *   "unknown CPU feature 'avx512': did you mean 'avx512f', 'avx512cd'? (--cpu help lists them)".
 */
struct glue_cpu_model;
GLUE_API int glue_cpu_model_parse(struct glue_cpu_model **out, const char *spec);
GLUE_API void glue_cpu_model_free(struct glue_cpu_model *model);

/* True when the model adds or removes features (the probe is worth running). */
GLUE_API bool glue_cpu_model_changes_features(const struct glue_cpu_model *model);

/*
 * Apply the model to supported (KVM_GET_SUPPORTED_CPUID), left to right.
 * -feat clears the feature and everything that depends on it (-xsave also
 * clears osxsave, avx, avx2, avx512*, ... and leaf 0xD; -avx clears avx2,
 * fma, f16c, ...). +feat sets it when KVM supports it and its prerequisite
 * is enabled; otherwise -ENOTSUP, e.g.
 *   "cannot enable 'avx512f': not supported by this host's KVM".
 * *out is malloc'ed (free()); it is the base for glue_cpuid_for_vcpu().
 */
GLUE_API int glue_cpu_model_apply(const struct glue_cpu_model *model,
				  const struct kvm_cpuid2 *supported, struct kvm_cpuid2 **out);

/*
 * Apply model (NULL: "host") to supported and build vCPU vcpu_id's table:
 * glue_cpu_model_apply() then glue_cpuid_for_vcpu(). *out is malloc'ed
 * (free()). Errors as those two functions.
 */
GLUE_API int glue_cpuid_build(const struct kvm_cpuid2 *supported,
			      const struct glue_cpu_model *model, uint32_t vcpu_id, uint32_t ncpus,
			      struct kvm_cpuid2 **out);

/*
 * Check, in a throwaway VM (see glue_cpuid_verify), that a guest really sees
 * the features the model touched as they are set in cpuid (built with the
 * model, by glue_cpu_model_apply or glue_cpuid_build). Some hosts do not
 * apply KVM_SET_CPUID2 fully (PVM, for instance, leaves leaf 7 raw).
 *   - A feature named in the model that the guest sees differently fails
 *     with -ENOTSUP: "cannot hide 'avx2': this host's KVM does not enforce
 *     CPUID leaf 7 (guest still sees it)".
 *   - A feature changed only as a dependent (avx2 after -xsave) is not an
 *     error (guests derive dependents from their prerequisite); it is
 *     reported through warn (may be NULL), one line per CPUID leaf, when
 *     there is no error.
 *   - Features KVM derives from guest state (osxsave, ospke, apic, monitor)
 *     are not checked.
 * Returns 0 at once when the model changes nothing; otherwise costs a VM
 * creation (a few milliseconds).
 */
typedef void (*glue_cpu_warn_fn)(void *opaque, const char *message);
GLUE_API int glue_cpu_model_verify(const struct glue_cpu_model *model, struct glue_kvm *kvm,
				   const struct kvm_cpuid2 *cpuid, glue_cpu_warn_fn warn,
				   void *opaque);

/* ---- the probe -------------------------------------------------------- */

/* Bits of one CPUID output register to compare. */
struct glue_cpuid_check {
	uint32_t function;
	uint32_t index;
	enum glue_cpuid_reg reg;
	uint32_t mask;
};

/* One bit the guest sees differently from cpuid. */
struct glue_cpuid_mismatch {
	uint32_t function;
	uint32_t index;
	enum glue_cpuid_reg reg;
	uint32_t bit;
	bool expected; /* the value in cpuid; the guest saw the opposite */
};

/*
 * Create a VM with one vCPU, set cpuid with KVM_SET_CPUID2, run a few
 * instructions of 32-bit guest code that executes CPUID for every check and
 * compare the masked bits with cpuid. A leaf absent from cpuid is expected
 * to read as all zeroes; checks beyond the last leaf of their range (leaf 0,
 * 0x40000000 or 0x80000000 EAX) are skipped, as guests never read there.
 * At most 256 checks. Costs a VM creation (a few milliseconds).
 * Fills out[0..max) and sets *nmismatch to the total number of differing
 * bits (may exceed max). Returns 0 when the probe ran (whatever it found),
 * a negative errno when it could not run.
 */
GLUE_API int glue_cpuid_verify(struct glue_kvm *kvm, const struct kvm_cpuid2 *cpuid,
			       const struct glue_cpuid_check *checks, size_t nchecks,
			       struct glue_cpuid_mismatch *out, size_t max, size_t *nmismatch);

GLUE_END_DECLS

#endif
