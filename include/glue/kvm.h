/* SPDX-License-Identifier: MIT */
/*
 * KVM: the system handle (/dev/kvm), a VM, and its vCPUs.
 *
 * This module wraps the ioctls with error messages and checks, and leaves
 * policy (which devices, which boot protocol) to its callers. The raw file
 * descriptors stay reachable for anything the wrappers do not cover.
 *
 * Thread-safety: a glue_kvm and a glue_vm may be used from several threads
 * (KVM serialises the ioctls it must). A glue_vcpu belongs to the thread that
 * runs it, except glue_vcpu_kick(), which any thread may call.
 */
#ifndef GLUE_KVM_H
#define GLUE_KVM_H

#include <glue/common.h>
#include <linux/kvm.h>

GLUE_BEGIN_DECLS

struct glue_kvm;
struct glue_vm;
struct glue_vcpu;
struct glue_mem;
struct glue_bus;

/* ---- system ---------------------------------------------------------- */

/*
 * Open /dev/kvm (path NULL) or another device node, check the API version
 * and the capabilities libglue relies on. On failure the message names what
 * is missing, e.g. "KVM lacks KVM_CAP_IRQCHIP". The decision is made from
 * KVM itself, never from host CPU flags.
 */
GLUE_API int glue_kvm_open(struct glue_kvm **out, const char *path);
GLUE_API void glue_kvm_free(struct glue_kvm *kvm);
GLUE_API int glue_kvm_fd(const struct glue_kvm *kvm);
/* KVM_CHECK_EXTENSION: > 0 when supported (some caps return a number). */
GLUE_API int glue_kvm_check_cap(const struct glue_kvm *kvm, int cap);
GLUE_API int glue_kvm_max_vcpus(const struct glue_kvm *kvm);
/*
 * KVM_GET_SUPPORTED_CPUID, plus what KVM reports by capability instead (the
 * TSC-deadline timer, KVM_CAP_TSC_DEADLINE_TIMER; it needs the in-kernel
 * irqchip, as x2APIC does). *out is malloc'ed; free() it.
 */
GLUE_API int glue_kvm_supported_cpuid(const struct glue_kvm *kvm, struct kvm_cpuid2 **out);
/* Size of the kvm_run mapping. */
GLUE_API int glue_kvm_vcpu_mmap_size(const struct glue_kvm *kvm);

/* ---- VM -------------------------------------------------------------- */

GLUE_API int glue_vm_new(struct glue_vm **out, struct glue_kvm *kvm);
GLUE_API void glue_vm_free(struct glue_vm *vm);
GLUE_API int glue_vm_fd(const struct glue_vm *vm);
GLUE_API struct glue_kvm *glue_vm_kvm(const struct glue_vm *vm);

/* KVM_SET_USER_MEMORY_REGION for one slot. */
GLUE_API int glue_vm_set_memslot(struct glue_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
				 void *host, uint32_t flags);
/* Register every region of mem in its own slot (slots 0..n-1). */
GLUE_API int glue_vm_set_memory(struct glue_vm *vm, struct glue_mem *mem);

/*
 * x86 platform setup: TSS and identity-map addresses (needed by KVM for
 * real-mode emulation on some hosts, placed just below 4 GiB), the in-kernel
 * irqchip (PIC, IOAPIC, LAPICs) and the PIT. Call before creating vCPUs.
 */
#define GLUE_X86_TSS_ADDR 0xFFFBD000ULL
#define GLUE_X86_IDENTITY_MAP_ADDR 0xFFFBC000ULL
GLUE_API int glue_vm_setup_x86(struct glue_vm *vm);

/* The VM's kvm-clock (KVM_GET_CLOCK / KVM_SET_CLOCK), in nanoseconds. A
 * VMM that pauses a VM saves it and sets it back on resume, so the guest's
 * clock does not jump over the pause. */
GLUE_API int glue_vm_get_clock(struct glue_vm *vm, uint64_t *ns);
GLUE_API int glue_vm_set_clock(struct glue_vm *vm, uint64_t ns);

/* Drive an irqchip input (GSI) to level 0 or 1. */
GLUE_API int glue_vm_irq_line(struct glue_vm *vm, uint32_t gsi, int level);
/* KVM_IRQFD: writes to eventfd fd inject gsi. resample_fd may be -1. */
GLUE_API int glue_vm_irqfd(struct glue_vm *vm, int fd, uint32_t gsi, int resample_fd);
GLUE_API int glue_vm_irqfd_remove(struct glue_vm *vm, int fd, uint32_t gsi);
/* KVM_SIGNAL_MSI: inject the message (address, data) a device's MSI-X entry holds. */
GLUE_API int glue_vm_signal_msi(struct glue_vm *vm, uint64_t addr, uint32_t data);
/*
 * MSI routes: GSIs past the irqchip's 24 pins that deliver an MSI message
 * when raised, typically through an irqfd (glue_vm_irqfd), so that a write
 * to an eventfd interrupts the guest. The VM keeps the whole routing table
 * (KVM_SET_GSI_ROUTING takes it only whole), the irqchip's default pins
 * included. _add reserves a GSI that delivers nothing until _set points it
 * at a message; _set is cheap when nothing changed.
 */
GLUE_API int glue_vm_msi_route_add(struct glue_vm *vm, uint32_t *gsi);
GLUE_API int glue_vm_msi_route_set(struct glue_vm *vm, uint32_t gsi, uint64_t addr, uint32_t data);
GLUE_API void glue_vm_msi_route_del(struct glue_vm *vm, uint32_t gsi);
/* KVM_IOEVENTFD: a guest write of len bytes at addr (PIO when pio is true)
 * signals fd; datamatch < 0 matches any value. */
GLUE_API int glue_vm_ioeventfd(struct glue_vm *vm, uint64_t addr, uint32_t len, bool pio,
			       int64_t datamatch, int fd);
GLUE_API int glue_vm_ioeventfd_remove(struct glue_vm *vm, uint64_t addr, uint32_t len, bool pio,
				      int64_t datamatch, int fd);

/* ---- vCPU ------------------------------------------------------------ */

GLUE_API int glue_vcpu_new(struct glue_vcpu **out, struct glue_vm *vm, uint32_t id);
GLUE_API void glue_vcpu_free(struct glue_vcpu *vcpu);
GLUE_API int glue_vcpu_fd(const struct glue_vcpu *vcpu);
GLUE_API uint32_t glue_vcpu_id(const struct glue_vcpu *vcpu);
GLUE_API struct kvm_run *glue_vcpu_run_data(struct glue_vcpu *vcpu);

GLUE_API int glue_vcpu_get_regs(struct glue_vcpu *vcpu, struct kvm_regs *regs);
GLUE_API int glue_vcpu_set_regs(struct glue_vcpu *vcpu, const struct kvm_regs *regs);
GLUE_API int glue_vcpu_get_sregs(struct glue_vcpu *vcpu, struct kvm_sregs *sregs);
GLUE_API int glue_vcpu_set_sregs(struct glue_vcpu *vcpu, const struct kvm_sregs *sregs);
GLUE_API int glue_vcpu_set_fpu(struct glue_vcpu *vcpu, const struct kvm_fpu *fpu);
GLUE_API int glue_vcpu_set_cpuid(struct glue_vcpu *vcpu, const struct kvm_cpuid2 *cpuid);
/* Set nmsrs MSRs; fails unless KVM accepted all of them. */
GLUE_API int glue_vcpu_set_msrs(struct glue_vcpu *vcpu, const struct kvm_msrs *msrs);
GLUE_API int glue_vcpu_get_lapic(struct glue_vcpu *vcpu, struct kvm_lapic_state *lapic);
GLUE_API int glue_vcpu_set_lapic(struct glue_vcpu *vcpu, const struct kvm_lapic_state *lapic);
GLUE_API int glue_vcpu_set_mp_state(struct glue_vcpu *vcpu, uint32_t mp_state);

/* Where port I/O and MMIO exits are sent. Either may be NULL (accesses then
 * read as all-ones and writes are dropped). */
GLUE_API void glue_vcpu_set_buses(struct glue_vcpu *vcpu, struct glue_bus *pio,
				  struct glue_bus *mmio);

/* What one glue_vcpu_run() ended with. */
enum glue_vcpu_event {
	GLUE_VCPU_CONTINUE = 0, /* an exit was handled; run again */
	GLUE_VCPU_INTERRUPTED,  /* a signal or glue_vcpu_kick() stopped KVM_RUN */
	GLUE_VCPU_HALT,         /* the guest executed HLT (no in-kernel LAPIC) */
	GLUE_VCPU_RESET,        /* the guest asked for a reset (KVM system event) */
	GLUE_VCPU_POWEROFF,     /* the guest asked to power off */
	GLUE_VCPU_CRASH,        /* triple fault, failed entry, emulation failure... */
};

struct glue_vcpu_exit_info {
	uint32_t exit_reason;  /* KVM_EXIT_* of the last exit */
	uint64_t rip;          /* guest RIP at the exit (filled for CRASH) */
	uint8_t insn[16];      /* instruction bytes at RIP, when readable */
	uint32_t insn_len;
	char message[256];     /* one line describing a CRASH */
};

/*
 * Enter the guest once and handle the exit: PIO and MMIO are dispatched to
 * the buses; everything else is classified into an event. Returns the event
 * (>= 0), or a negative errno when KVM_RUN itself failed. info may be NULL.
 * mem, when given, is used to fetch instruction bytes for crash reports.
 */
GLUE_API int glue_vcpu_run(struct glue_vcpu *vcpu, const struct glue_mem *mem,
			   struct glue_vcpu_exit_info *info);

/* Record the calling thread as the one that runs this vCPU, so that
 * glue_vcpu_kick() can signal it. */
GLUE_API void glue_vcpu_bind_thread(struct glue_vcpu *vcpu);
/*
 * Make the vCPU leave (or not enter) KVM_RUN soon: sets immediate_exit and
 * signals its thread with sig (0: no signal). Safe from any thread once the
 * vCPU has a thread bound with glue_vcpu_bind_thread(). sig needs a handler
 * (any, even an empty one): a default action would end the process.
 */
GLUE_API void glue_vcpu_kick(struct glue_vcpu *vcpu, int sig);
/* Clear immediate_exit before running again. */
GLUE_API void glue_vcpu_clear_kick(struct glue_vcpu *vcpu);

GLUE_END_DECLS

#endif
