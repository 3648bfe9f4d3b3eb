// SPDX-License-Identifier: MIT
/*
 * The CPUID probe: ask a real guest what CPUID says after KVM_SET_CPUID2.
 * Some hosts (PVM) do not apply every leaf the VMM sets, and a VMM must not
 * claim to hide a feature the guest can still see.
 *
 * Guest layout (one 64 KiB RAM region at 0):
 *   0x0500 boot GDT, 0x1000 code, 0x2000 queries (count, then {eax, ecx}),
 *   0x3000 results ({eax, ebx, ecx, edx} per query).
 * The guest runs in 32-bit protected mode, executes CPUID for each query and
 * signals completion with an `out` to PROBE_PORT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <glue/kvm.h>
#include <glue/memory.h>
#include "core/err.h"
#include "core/util.h"
#include "x86/x86_internal.h"

#define PROBE_MEM_SIZE 0x10000ULL
#define PROBE_CODE 0x1000ULL
#define PROBE_QUERIES 0x2000ULL
#define PROBE_RESULTS 0x3000ULL
#define PROBE_MAX_QUERIES 256
#define PROBE_PORT 0x400
#define PROBE_DONE 0x43505544U /* "DUPC" */
/* KVM_RUN returns for signals too; a healthy probe needs one exit. */
#define PROBE_MAX_RUNS 64

/* Assembled from (GNU as, .code32):
 *	mov $0x2000, %esi;  mov $0x3000, %edi;  mov (%esi), %ebp;  add $4, %esi
 * 1:	test %ebp, %ebp;  jz 2f
 *	mov (%esi), %eax;  mov 4(%esi), %ecx;  cpuid
 *	mov %eax, (%edi);  mov %ebx, 4(%edi);  mov %ecx, 8(%edi);  mov %edx, 12(%edi)
 *	add $8, %esi;  add $16, %edi;  dec %ebp;  jmp 1b
 * 2:	mov $0x400, %dx;  mov $0x43505544, %eax;  out %eax, %dx;  hlt;  jmp 2b
 */
static const uint8_t probe_code[] = {
	0xbe, 0x00, 0x20, 0x00, 0x00, 0xbf, 0x00, 0x30, 0x00, 0x00, 0x8b, 0x2e, 0x83, 0xc6, 0x04,
	0x85, 0xed, 0x74, 0x1b, 0x8b, 0x06, 0x8b, 0x4e, 0x04, 0x0f, 0xa2, 0x89, 0x07, 0x89, 0x5f,
	0x04, 0x89, 0x4f, 0x08, 0x89, 0x57, 0x0c, 0x83, 0xc6, 0x08, 0x83, 0xc7, 0x10, 0x4d, 0xeb,
	0xe1, 0x66, 0xba, 0x00, 0x04, 0xb8, 0x44, 0x55, 0x50, 0x43, 0xef, 0xf4, 0xeb, 0xf3,
};

struct query {
	uint32_t function;
	uint32_t index;
};

/* Run the vCPU until the probe reports completion. */
static int run_probe(struct glue_vcpu *vcpu)
{
	struct kvm_run *run = glue_vcpu_run_data(vcpu);

	for (int i = 0; i < PROBE_MAX_RUNS; i++) {
		if (ioctl(glue_vcpu_fd(vcpu), KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return glue_err_sys(-errno, "CPUID probe: KVM_RUN");
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == PROBE_PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4) {
			uint32_t v;

			memcpy(&v, (uint8_t *)run + run->io.data_offset, sizeof(v));
			if (v == PROBE_DONE)
				return 0;
		}
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			return glue_err(-EIO,
					"CPUID probe: KVM could not run the guest "
					"(internal error, suberror %u)",
					run->internal.suberror);
		return glue_err(-EIO, "CPUID probe: guest stopped unexpectedly (exit reason %u)",
				run->exit_reason);
	}
	return glue_err(-EINTR, "CPUID probe: interrupted too often");
}

/* Build the VM, run the queries, copy the results to res. */
static int probe(struct glue_kvm *kvm, const struct kvm_cpuid2 *cpuid, const struct query *q,
		 size_t nq, uint32_t (*res)[4])
{
	struct glue_vcpu *vcpu = NULL;
	struct glue_mem *mem = NULL;
	struct glue_vm *vm = NULL;
	uint32_t count = (uint32_t)nq;
	int r;

	r = glue_vm_new(&vm, kvm);
	if (r < 0)
		goto out;
	/* Same platform as a real VM (in-kernel LAPIC: the APIC bit depends on it). */
	r = glue_vm_setup_x86(vm);
	if (r < 0)
		goto out;
	r = glue_mem_new(&mem);
	if (r < 0)
		goto out;
	r = glue_mem_add(mem, 0, PROBE_MEM_SIZE, GLUE_MEM_RAM);
	if (r < 0)
		goto out;
	r = glue_vm_set_memory(vm, mem);
	if (r < 0)
		goto out;
	r = glue_mem_write(mem, PROBE_CODE, probe_code, sizeof(probe_code));
	if (r < 0)
		goto out;
	r = glue_mem_write(mem, PROBE_QUERIES, &count, sizeof(count));
	for (size_t i = 0; r == 0 && i < nq; i++) {
		uint32_t pair[2] = {q[i].function, q[i].index};

		r = glue_mem_write(mem, PROBE_QUERIES + 4 + i * 8, pair, sizeof(pair));
	}
	if (r < 0)
		goto out;
	r = glue_vcpu_new(&vcpu, vm, 0);
	if (r < 0)
		goto out;
	r = glue_vcpu_set_cpuid(vcpu, cpuid);
	if (r < 0)
		goto out;
	r = glue_x86_setup_protected32(vcpu, mem, PROBE_CODE, 0, 0);
	if (r < 0)
		goto out;
	r = run_probe(vcpu);
	if (r < 0)
		goto out;
	r = glue_mem_read(mem, PROBE_RESULTS, res, nq * sizeof(res[0]));
out:
	glue_vcpu_free(vcpu);
	glue_vm_free(vm);
	glue_mem_free(mem);
	return r;
}

int glue_cpuid_verify(struct glue_kvm *kvm, const struct kvm_cpuid2 *cpuid,
		      const struct glue_cpuid_check *checks, size_t nchecks,
		      struct glue_cpuid_mismatch *out, size_t max, size_t *nmismatch)
{
	struct query q[PROBE_MAX_QUERIES];
	uint32_t res[PROBE_MAX_QUERIES][4];
	size_t nq = 0, found = 0;
	int r;

	*nmismatch = 0;
	if (nchecks > PROBE_MAX_QUERIES)
		return glue_err(-EINVAL, "CPUID probe: %zu checks (at most %d)", nchecks,
				PROBE_MAX_QUERIES);
	for (size_t i = 0; i < nchecks; i++) {
		const struct glue_cpuid_check *c = &checks[i];
		const struct kvm_cpuid_entry2 *e = glue_cpuid_find_const(cpuid, c->function, 0);
		uint32_t index = c->index;
		size_t j;

		if (c->reg > GLUE_CPUID_EDX)
			return glue_err(-EINVAL, "CPUID probe: bad register %d", (int)c->reg);
		/* Leaves without sub-leaves ignore ECX; query them once. */
		if (e && !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))
			index = 0;
		for (j = 0; j < nq; j++)
			if (q[j].function == c->function && q[j].index == index)
				break;
		if (j == nq) {
			q[nq].function = c->function;
			q[nq].index = index;
			nq++;
		}
	}
	if (!nq)
		return 0;

	r = probe(kvm, cpuid, q, nq, res);
	if (r < 0)
		return r;

	for (size_t i = 0; i < nchecks; i++) {
		const struct glue_cpuid_check *c = &checks[i];
		const struct kvm_cpuid_entry2 *e =
			glue_cpuid_find_const(cpuid, c->function, c->index);
		uint32_t max_leaf = glue_cpuid_range_max(cpuid, c->function);
		uint32_t want = e ? glue_cpuid_reg_get(e, c->reg) : 0, seen = 0, diff;
		size_t j;

		/* Beyond the range's last leaf CPUID returns other data, and guests
		 * never look there. */
		if (c->function > max_leaf)
			continue;
		for (j = 0; j < nq; j++)
			if (q[j].function == c->function &&
			    (q[j].index == c->index ||
			     (e && !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))))
				break;
		if (j < nq)
			seen = res[j][c->reg];
		diff = (want ^ seen) & c->mask;
		for (uint32_t bit = 0; bit < 32; bit++) {
			if (!(diff & (1U << bit)))
				continue;
			if (found < max) {
				out[found].function = c->function;
				out[found].index = c->index;
				out[found].reg = c->reg;
				out[found].bit = bit;
				out[found].expected = (want >> bit) & 1;
			}
			found++;
		}
	}
	*nmismatch = found;
	return 0;
}
