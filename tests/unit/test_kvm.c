// SPDX-License-Identifier: MIT
/* The kvm module against the real /dev/kvm: tiny real-mode guests. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <glue/bus.h>
#include <glue/error.h>
#include <glue/kvm.h>
#include <glue/memory.h>

struct fixture {
	struct glue_kvm *kvm;
	struct glue_vm *vm;
	struct glue_vcpu *vcpu;
	struct glue_mem *mem;
	struct glue_bus *pio;
};

struct port_log {
	uint64_t offset;
	uint8_t value;
	int writes;
};

static void port_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct port_log *log = dev;

	log->offset = offset;
	log->value = *(const uint8_t *)data;
	log->writes++;
}

static void port_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0x5a, len);
}

static const struct glue_bus_ops port_ops = {.read = port_read, .write = port_write};

static bool have_kvm(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

/* A VM without an in-kernel irqchip (so HLT exits to us) running real-mode
 * code at 0x1000. */
static void setup(struct fixture *f, const uint8_t *code, size_t len)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 2, .rsp = 0x8000};

	cr_assert_eq(glue_kvm_open(&f->kvm, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_new(&f->vm, f->kvm), 0, "%s", glue_error_last());
	cr_assert_eq(glue_mem_new(&f->mem), 0);
	cr_assert_eq(glue_mem_add(f->mem, 0, 0x10000, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_vm_set_memory(f->vm, f->mem), 0, "%s", glue_error_last());
	cr_assert_eq(glue_mem_write(f->mem, 0x1000, code, len), 0);
	cr_assert_eq(glue_vcpu_new(&f->vcpu, f->vm, 0), 0, "%s", glue_error_last());
	cr_assert_eq(glue_bus_new(&f->pio, "pio"), 0);
	glue_vcpu_set_buses(f->vcpu, f->pio, NULL);

	cr_assert_eq(glue_vcpu_get_sregs(f->vcpu, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	cr_assert_eq(glue_vcpu_set_sregs(f->vcpu, &sregs), 0);
	cr_assert_eq(glue_vcpu_set_regs(f->vcpu, &regs), 0);
}

static void teardown(struct fixture *f)
{
	glue_vcpu_free(f->vcpu);
	glue_bus_free(f->pio);
	glue_vm_free(f->vm);
	glue_mem_free(f->mem);
	glue_kvm_free(f->kvm);
}

Test(kvm, open_missing_device_names_it)
{
	struct glue_kvm *kvm = (void *)1;

	cr_assert_eq(glue_kvm_open(&kvm, "/nonexistent/kvm"), -ENOENT);
	cr_assert_null(kvm);
	cr_assert_neq(strstr(glue_error_last(), "/nonexistent/kvm"), NULL, "%s", glue_error_last());
}

Test(kvm, capabilities_and_cpuid)
{
	struct glue_kvm *kvm;
	struct kvm_cpuid2 *cpuid;
	bool has_leaf1 = false;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	cr_assert_eq(glue_kvm_open(&kvm, NULL), 0, "%s", glue_error_last());
	cr_assert_gt(glue_kvm_check_cap(kvm, KVM_CAP_IRQCHIP), 0);
	cr_assert_geq(glue_kvm_max_vcpus(kvm), 1);
	cr_assert_eq(glue_kvm_supported_cpuid(kvm, &cpuid), 0, "%s", glue_error_last());
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != 1)
			continue;
		has_leaf1 = true;
		/* reported by a capability, not by KVM_GET_SUPPORTED_CPUID: added */
		if (glue_kvm_check_cap(kvm, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
			cr_assert(e->ecx & (1U << 24), "the TSC-deadline timer is offered");
	}
	cr_assert(has_leaf1);
	free(cpuid);
	glue_kvm_free(kvm);
}

Test(kvm, port_io_exits_reach_the_bus_and_hlt_ends)
{
	/* mov al,0x42; out 0x10,al; in al,0x10; out 0x11,al; hlt */
	static const uint8_t code[] = {0xb0, 0x42, 0xe6, 0x10, 0xe4, 0x10, 0xe6, 0x11, 0xf4};
	struct port_log log = {0}, log2 = {0};
	struct fixture f;
	int r, steps = 0;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	setup(&f, code, sizeof(code));
	cr_assert_eq(glue_bus_register(f.pio, 0x10, 1, &port_ops, &log, "port10"), 0);
	cr_assert_eq(glue_bus_register(f.pio, 0x11, 1, &port_ops, &log2, "port11"), 0);
	while ((r = glue_vcpu_run(f.vcpu, f.mem, NULL)) == GLUE_VCPU_CONTINUE && steps++ < 10)
		;
	cr_assert_eq(r, GLUE_VCPU_HALT, "run returned %d: %s", r, glue_error_last());
	cr_assert_eq(log.writes, 1);
	cr_assert_eq(log.value, 0x42);
	cr_assert_eq(log2.value, 0x5a, "the IN got the device's byte");
	teardown(&f);
}

Test(kvm, unclaimed_port_reads_all_ones)
{
	/* in al,0x99; out 0x10,al; hlt */
	static const uint8_t code[] = {0xe4, 0x99, 0xe6, 0x10, 0xf4};
	struct port_log log = {0};
	struct fixture f;
	int r, steps = 0;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	setup(&f, code, sizeof(code));
	cr_assert_eq(glue_bus_register(f.pio, 0x10, 1, &port_ops, &log, "port10"), 0);
	while ((r = glue_vcpu_run(f.vcpu, f.mem, NULL)) == GLUE_VCPU_CONTINUE && steps++ < 10)
		;
	cr_assert_eq(r, GLUE_VCPU_HALT);
	cr_assert_eq(log.value, 0xff);
	teardown(&f);
}

static void noop(int sig)
{
	(void)sig;
}

struct kick_arg {
	struct glue_vcpu *vcpu;
	useconds_t delay;
};

static void *kicker(void *p)
{
	struct kick_arg *a = p;

	usleep(a->delay);
	glue_vcpu_kick(a->vcpu, SIGUSR1);
	return NULL;
}

Test(kvm, triple_fault_is_a_described_crash)
{
	/* 32-bit protected mode with an empty IDT: ud2 -> #UD cannot be
	 * delivered -> #GP -> #DF -> triple fault. */
	static const uint8_t code[] = {0x0f, 0x0b};
	struct sigaction sa = {.sa_handler = noop};
	struct glue_vcpu_exit_info info;
	struct kick_arg arg;
	struct kvm_sregs sregs;
	struct fixture f;
	pthread_t t;
	int r;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	sigaction(SIGUSR1, &sa, NULL);
	setup(&f, code, sizeof(code));
	cr_assert_eq(glue_vcpu_get_sregs(f.vcpu, &sregs), 0);
	sregs.cr0 |= 1; /* PE */
	sregs.cs.db = 1;
	sregs.cs.type = 0xb;
	sregs.cs.s = 1;
	sregs.cs.present = 1;
	sregs.cs.limit = 0xffffffff;
	sregs.cs.g = 1;
	sregs.cs.selector = 0x8;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	cr_assert_eq(glue_vcpu_set_sregs(f.vcpu, &sregs), 0);

	/* A watchdog, so a host that never reports the fault fails the test
	 * instead of hanging it. */
	glue_vcpu_bind_thread(f.vcpu);
	arg.vcpu = f.vcpu;
	arg.delay = 5 * 1000 * 1000;
	pthread_create(&t, NULL, kicker, &arg);
	while ((r = glue_vcpu_run(f.vcpu, f.mem, &info)) == GLUE_VCPU_CONTINUE)
		;
	pthread_cancel(t);
	pthread_join(t, NULL);
	cr_assert_eq(r, GLUE_VCPU_CRASH, "run returned %d (exit reason %u)", r, info.exit_reason);
	cr_assert_neq(strstr(info.message, "triple fault"), NULL, "%s", info.message);
	if (strstr(info.message, "KVM reset the vCPU")) {
		/* AMD: the state is gone; what is said must not pretend. */
		cr_assert_null(strstr(info.message, "RIP"), "%s", info.message);
		cr_assert_eq(info.insn_len, 0);
	} else {
		cr_assert_neq(strstr(info.message, "RIP 0x1000"), NULL, "%s", info.message);
		cr_assert_eq(info.insn_len, sizeof(info.insn), "instruction bytes are fetched");
		cr_assert_eq(info.insn[0], 0x0f);
		cr_assert_eq(info.insn[1], 0x0b);
	}
	teardown(&f);
}

Test(kvm, kick_interrupts_a_spinning_guest)
{
	/* jmp $ */
	static const uint8_t code[] = {0xeb, 0xfe};
	struct sigaction sa = {.sa_handler = noop};
	struct kick_arg arg;
	struct fixture f;
	pthread_t t;
	int r;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	sigaction(SIGUSR1, &sa, NULL);
	setup(&f, code, sizeof(code));
	glue_vcpu_bind_thread(f.vcpu);
	arg.vcpu = f.vcpu;
	arg.delay = 200 * 1000;
	pthread_create(&t, NULL, kicker, &arg);
	do {
		r = glue_vcpu_run(f.vcpu, f.mem, NULL);
	} while (r == GLUE_VCPU_CONTINUE);
	pthread_join(t, NULL);
	cr_assert_eq(r, GLUE_VCPU_INTERRUPTED);
	/* Still kicked: the next entry returns at once. */
	cr_assert_eq(glue_vcpu_run(f.vcpu, f.mem, NULL), GLUE_VCPU_INTERRUPTED);
	glue_vcpu_clear_kick(f.vcpu);
	teardown(&f);
}

Test(kvm, clock_set_and_get)
{
	struct glue_kvm *kvm;
	struct glue_vm *vm;
	uint64_t ns = 0;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	cr_assert_eq(glue_kvm_open(&kvm, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_new(&vm, kvm), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_set_clock(vm, 1000000000000ULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_get_clock(vm, &ns), 0, "%s", glue_error_last());
	/* It runs on from where it was set. */
	cr_assert_geq(ns, 1000000000000ULL);
	cr_assert_lt(ns, 1000000000000ULL + 5000000000ULL, "clock %llu", (unsigned long long)ns);
	glue_vm_free(vm);
	glue_kvm_free(kvm);
}

Test(kvm, an_ioeventfd_takes_the_write_without_an_exit)
{
	/* mov al,1; out 0x10,al; mov al,2; out 0x10,al; out 0x11,al; hlt */
	static const uint8_t code[] = {0xb0, 0x01, 0xe6, 0x10, 0xb0, 0x02,
				       0xe6, 0x10, 0xe6, 0x11, 0xf4};
	struct port_log log = {0}, log2 = {0};
	struct fixture f;
	uint64_t n = 0;
	int r, steps = 0, efd;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	setup(&f, code, sizeof(code));
	cr_assert_eq(glue_bus_register(f.pio, 0x10, 1, &port_ops, &log, "port10"), 0);
	cr_assert_eq(glue_bus_register(f.pio, 0x11, 1, &port_ops, &log2, "port11"), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	/* only the value 2 is the doorbell; the 1 goes to the device */
	cr_assert_eq(glue_vm_ioeventfd(f.vm, 0x10, 1, true, 2, efd), 0, "%s", glue_error_last());
	while ((r = glue_vcpu_run(f.vcpu, f.mem, NULL)) == GLUE_VCPU_CONTINUE && steps++ < 10)
		;
	cr_assert_eq(r, GLUE_VCPU_HALT, "run returned %d: %s", r, glue_error_last());
	cr_assert_eq(log.writes, 1, "the other value still exits");
	cr_assert_eq(log.value, 1);
	cr_assert_eq(read(efd, &n, 8), 8);
	cr_assert_eq(n, 1, "the doorbell went to the eventfd");
	cr_assert_eq(log2.writes, 1);
	cr_assert_eq(glue_vm_ioeventfd_remove(f.vm, 0x10, 1, true, 2, efd), 0);
	close(efd);
	teardown(&f);
}

Test(kvm, msi_routes_keep_the_irqchip_pins)
{
	struct glue_kvm *kvm;
	struct glue_vm *vm;
	uint32_t a, b, c;
	int efd;

	if (!have_kvm())
		cr_skip_test("no usable /dev/kvm");
	cr_assert_eq(glue_kvm_open(&kvm, NULL), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_new(&vm, kvm), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_setup_x86(vm), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_msi_route_add(vm, &a), 0);
	cr_assert_eq(glue_vm_msi_route_add(vm, &b), 0);
	cr_assert_geq(a, 24, "past the irqchip's pins");
	cr_assert_neq(a, b);
	cr_assert_eq(glue_vm_msi_route_set(vm, a, 0xfee00000, 0x4041), 0, "%s", glue_error_last());
	cr_assert_eq(glue_vm_msi_route_set(vm, a, 0xfee00000, 0x4041), 0, "unchanged");
	cr_assert_eq(glue_vm_msi_route_set(vm, 3, 0xfee00000, 0x4041), -ENOENT,
		     "a pin, not a route");
	efd = eventfd(0, EFD_NONBLOCK);
	cr_assert_eq(glue_vm_irqfd(vm, efd, a, -1), 0, "%s", glue_error_last());
	/* the legacy lines still have their routes: an unrouted GSI reaches no
	 * irqchip, which KVM_IRQ_LINE_STATUS says with a status of -1 */
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		struct kvm_irq_level l = {.irq = gsi, .level = 0};

		cr_assert_eq(ioctl(glue_vm_fd(vm), KVM_IRQ_LINE_STATUS, &l), 0);
		cr_assert_geq(l.status, 0, "GSI %u lost its route", gsi);
	}
	glue_vm_msi_route_del(vm, b);
	cr_assert_eq(glue_vm_msi_route_add(vm, &c), 0);
	cr_assert_eq(c, b, "a freed GSI is reused");
	cr_assert_eq(glue_vm_irqfd_remove(vm, efd, a), 0);
	glue_vm_msi_route_del(vm, a);
	close(efd);
	glue_vm_free(vm);
	glue_kvm_free(kvm);
}
