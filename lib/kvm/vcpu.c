// SPDX-License-Identifier: MIT
/*
 * A vCPU: its kvm_run mapping, register access, and one step of the run
 * loop (enter the guest, dispatch the exit). Every exit reason is either
 * handled or turned into a described crash; none is silently ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glue/bus.h>
#include <glue/memory.h>
#include "core/err.h"
#include "kvm/kvm_internal.h"

struct glue_vcpu {
	struct glue_vm *vm;
	uint32_t id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	struct glue_bus *pio;
	struct glue_bus *mmio;
	pthread_t thread;
	atomic_bool bound;
};

int glue_vcpu_new(struct glue_vcpu **out, struct glue_vm *vm, uint32_t id)
{
	struct glue_vcpu *vcpu;
	int r;

	*out = NULL;
	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return glue_err(-ENOMEM, "out of memory");
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		r = glue_err_sys(-errno, "KVM_CREATE_VCPU %u", id);
		free(vcpu);
		return r;
	}
	vcpu->run_size = (size_t)vm->kvm->run_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		r = glue_err_sys(-errno, "vCPU %u: cannot map kvm_run", id);
		close(vcpu->fd);
		free(vcpu);
		return r;
	}
	*out = vcpu;
	return 0;
}

void glue_vcpu_free(struct glue_vcpu *vcpu)
{
	if (!vcpu)
		return;
	munmap(vcpu->run, vcpu->run_size);
	close(vcpu->fd);
	free(vcpu);
}

int glue_vcpu_fd(const struct glue_vcpu *vcpu)
{
	return vcpu->fd;
}

uint32_t glue_vcpu_id(const struct glue_vcpu *vcpu)
{
	return vcpu->id;
}

struct kvm_run *glue_vcpu_run_data(struct glue_vcpu *vcpu)
{
	return vcpu->run;
}

#define VCPU_IOCTL(vcpu, req, arg, what)                                                   \
	do {                                                                               \
		if (ioctl((vcpu)->fd, req, arg) < 0)                                       \
			return glue_err_sys(-errno, "vCPU %u: %s", (vcpu)->id, what);       \
		return 0;                                                                  \
	} while (0)

int glue_vcpu_get_regs(struct glue_vcpu *vcpu, struct kvm_regs *regs)
{
	VCPU_IOCTL(vcpu, KVM_GET_REGS, regs, "KVM_GET_REGS");
}

int glue_vcpu_set_regs(struct glue_vcpu *vcpu, const struct kvm_regs *regs)
{
	VCPU_IOCTL(vcpu, KVM_SET_REGS, regs, "KVM_SET_REGS");
}

int glue_vcpu_get_sregs(struct glue_vcpu *vcpu, struct kvm_sregs *sregs)
{
	VCPU_IOCTL(vcpu, KVM_GET_SREGS, sregs, "KVM_GET_SREGS");
}

int glue_vcpu_set_sregs(struct glue_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	VCPU_IOCTL(vcpu, KVM_SET_SREGS, sregs, "KVM_SET_SREGS");
}

int glue_vcpu_set_fpu(struct glue_vcpu *vcpu, const struct kvm_fpu *fpu)
{
	VCPU_IOCTL(vcpu, KVM_SET_FPU, fpu, "KVM_SET_FPU");
}

int glue_vcpu_set_cpuid(struct glue_vcpu *vcpu, const struct kvm_cpuid2 *cpuid)
{
	VCPU_IOCTL(vcpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
}

int glue_vcpu_get_lapic(struct glue_vcpu *vcpu, struct kvm_lapic_state *lapic)
{
	VCPU_IOCTL(vcpu, KVM_GET_LAPIC, lapic, "KVM_GET_LAPIC");
}

int glue_vcpu_set_lapic(struct glue_vcpu *vcpu, const struct kvm_lapic_state *lapic)
{
	VCPU_IOCTL(vcpu, KVM_SET_LAPIC, lapic, "KVM_SET_LAPIC");
}

int glue_vcpu_set_mp_state(struct glue_vcpu *vcpu, uint32_t mp_state)
{
	struct kvm_mp_state st = {.mp_state = mp_state};

	VCPU_IOCTL(vcpu, KVM_SET_MP_STATE, &st, "KVM_SET_MP_STATE");
}

int glue_vcpu_set_msrs(struct glue_vcpu *vcpu, const struct kvm_msrs *msrs)
{
	int r = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);

	if (r < 0)
		return glue_err_sys(-errno, "vCPU %u: KVM_SET_MSRS", vcpu->id);
	if ((uint32_t)r != msrs->nmsrs)
		return glue_err(-EINVAL, "vCPU %u: KVM refused MSR 0x%x", vcpu->id,
				msrs->entries[r].index);
	return 0;
}

void glue_vcpu_set_buses(struct glue_vcpu *vcpu, struct glue_bus *pio, struct glue_bus *mmio)
{
	vcpu->pio = pio;
	vcpu->mmio = mmio;
}

void glue_vcpu_bind_thread(struct glue_vcpu *vcpu)
{
	vcpu->thread = pthread_self();
	atomic_store(&vcpu->bound, true);
}

void glue_vcpu_kick(struct glue_vcpu *vcpu, int sig)
{
	/* immediate_exit covers the window where the vCPU thread is not in
	 * KVM_RUN yet; the signal forces it out if it is. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (sig && atomic_load(&vcpu->bound))
		pthread_kill(vcpu->thread, sig);
}

void glue_vcpu_clear_kick(struct glue_vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static void handle_io(struct glue_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t size = run->io.size;
	uint64_t total = size * run->io.count;
	uint8_t *data;

	/* The offset comes from KVM, but check it against our mapping anyway. */
	if (size == 0 || size > 4 || run->io.data_offset > vcpu->run_size ||
	    total > vcpu->run_size - run->io.data_offset)
		return;
	data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			if (vcpu->pio)
				glue_bus_write(vcpu->pio, run->io.port, data, (uint32_t)size);
		} else if (!vcpu->pio || glue_bus_read(vcpu->pio, run->io.port, data, (uint32_t)size)) {
			memset(data, 0xff, size);
		}
	}
}

static void handle_mmio(struct glue_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	if (run->mmio.is_write) {
		if (vcpu->mmio)
			glue_bus_write(vcpu->mmio, run->mmio.phys_addr, run->mmio.data, len);
	} else if (!vcpu->mmio || glue_bus_read(vcpu->mmio, run->mmio.phys_addr, run->mmio.data, len)) {
		memset(run->mmio.data, 0xff, len);
	}
}

/* Translate a guest-virtual address for a crash report (4-level paging or
 * none). Returns false when it cannot be translated. */
static bool translate(const struct glue_mem *mem, const struct kvm_sregs *s, uint64_t va,
		      uint64_t *pa)
{
	uint64_t table, entry;

	if (!(s->cr0 & 0x80000000ULL)) {
		*pa = va;
		return true;
	}
	if (!(s->efer & 0x400) || !(s->cr4 & 0x20))
		return false; /* 32-bit paging: not worth it for a crash dump */
	table = s->cr3 & 0x000ffffffffff000ULL;
	for (int level = 3; level >= 0; level--) {
		unsigned int idx = (va >> (12 + 9 * level)) & 0x1ff;

		if (glue_mem_read_u64(mem, table + idx * 8, &entry) < 0 || !(entry & 1))
			return false;
		if (level > 0 && level < 3 && (entry & 0x80)) {
			uint64_t page = 1ULL << (12 + 9 * level);

			*pa = (entry & 0x000ffffffffff000ULL & ~(page - 1)) | (va & (page - 1));
			return true;
		}
		table = entry & 0x000ffffffffff000ULL;
	}
	*pa = table | (va & 0xfff);
	return true;
}

static void describe_crash(struct glue_vcpu *vcpu, const struct glue_mem *mem,
			   struct glue_vcpu_exit_info *info, const char *what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	char bytes[3 * sizeof(info->insn) + 1] = "";
	uint64_t pa;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0 && ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) == 0) {
		uint64_t va = regs.rip + ((sregs.efer & 0x400) ? 0 : sregs.cs.base);

		info->rip = regs.rip;
		if (mem && translate(mem, &sregs, va, &pa)) {
			for (uint32_t n = sizeof(info->insn); n > 0; n--) {
				if (glue_mem_read(mem, pa, info->insn, n) == 0) {
					info->insn_len = n;
					break;
				}
			}
		}
	}
	for (uint32_t i = 0; i < info->insn_len; i++)
		snprintf(bytes + 3 * i, 4, "%s%02x", i ? " " : "", info->insn[i]);
	snprintf(info->message, sizeof(info->message), "vCPU %u: %s at RIP 0x%llx%s%s%s", vcpu->id,
		 what, (unsigned long long)info->rip, info->insn_len ? " (instruction bytes: " : "",
		 bytes, info->insn_len ? ")" : "");
}

static bool at_reset_vector(struct glue_vcpu *vcpu)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	return ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0 &&
	       ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) == 0 && regs.rip == 0xfff0 &&
	       sregs.cs.selector == 0xf000 && sregs.cs.base == 0xffff0000;
}

int glue_vcpu_run(struct glue_vcpu *vcpu, const struct glue_mem *mem,
		  struct glue_vcpu_exit_info *info)
{
	struct glue_vcpu_exit_info scratch;
	struct kvm_run *run = vcpu->run;
	char what[128];

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));

	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			info->exit_reason = KVM_EXIT_INTR;
			return GLUE_VCPU_INTERRUPTED;
		}
		return glue_err_sys(-errno, "vCPU %u: KVM_RUN", vcpu->id);
	}
	info->exit_reason = run->exit_reason;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return GLUE_VCPU_CONTINUE;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return GLUE_VCPU_CONTINUE;
	case KVM_EXIT_INTR:
		return GLUE_VCPU_INTERRUPTED;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return GLUE_VCPU_CONTINUE;
	case KVM_EXIT_HLT:
		return GLUE_VCPU_HALT;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_RESET:
			return GLUE_VCPU_RESET;
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			return GLUE_VCPU_POWEROFF;
		default:
			snprintf(what, sizeof(what), "system event %u (guest crash)",
				 run->system_event.type);
			describe_crash(vcpu, mem, info, what);
			return GLUE_VCPU_CRASH;
		}
	case KVM_EXIT_SHUTDOWN:
		describe_crash(vcpu, mem, info, "triple fault");
		if (at_reset_vector(vcpu)) {
			/* On AMD, KVM resets the vCPU on a shutdown intercept
			 * (the VMCB is undefined after one): where it faulted
			 * is gone, and the reset vector is not the answer. */
			info->insn_len = 0;
			snprintf(info->message, sizeof(info->message),
				 "vCPU %u: triple fault (where is not known: KVM reset the vCPU, "
				 "as it does on AMD)",
				 vcpu->id);
		}
		return GLUE_VCPU_CRASH;
	case KVM_EXIT_INTERNAL_ERROR:
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			snprintf(what, sizeof(what),
				 "instruction emulation failed (an instruction KVM cannot emulate)");
		else
			snprintf(what, sizeof(what), "KVM internal error, suberror %u",
				 run->internal.suberror);
		describe_crash(vcpu, mem, info, what);
		return GLUE_VCPU_CRASH;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		describe_crash(vcpu, mem, info, what);
		return GLUE_VCPU_CRASH;
	case KVM_EXIT_EXCEPTION:
		snprintf(what, sizeof(what), "unhandled exception %u (error code 0x%x)",
			 run->ex.exception, run->ex.error_code);
		describe_crash(vcpu, mem, info, what);
		return GLUE_VCPU_CRASH;
	default:
		snprintf(what, sizeof(what), "unhandled KVM exit reason %u", run->exit_reason);
		describe_crash(vcpu, mem, info, what);
		return GLUE_VCPU_CRASH;
	}
}
