// SPDX-License-Identifier: MIT
/*
 * Boot a Linux kernel (bzImage or ELF vmlinux) on one vCPU with a serial
 * console, wiring libglue's components by hand. glue_machine does the same
 * with more vCPUs and threads; this is the version to read first.
 *
 *   linux_boot KERNEL [CMDLINE]
 *
 * The kernel's console (ttyS0) appears on stdout; the VM ends when the guest
 * resets (e.g. `reboot` with reboot=k) or powers off.
 *
 * The pieces, bottom up:
 *   kvm     - the VM with its in-kernel interrupt controllers and PIT
 *   memory  - guest RAM in the PC layout
 *   bus     - port I/O dispatch
 *   irq     - interrupt lines the devices raise
 *   serial  - the 16550A UART on COM1, with IRQ 4
 *   i8042   - the keyboard controller, whose reset line ends the VM
 *   rtc     - the CMOS clock Linux reads at boot
 *   loader  - kernel, command line, boot parameters
 *   x86     - MP table, CPUID, MSRs, and the registers for the entry point
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <glue/bus.h>
#include <glue/cpuid.h>
#include <glue/error.h>
#include <glue/i8042.h>
#include <glue/irq.h>
#include <glue/kvm.h>
#include <glue/loader.h>
#include <glue/memory.h>
#include <glue/mptable.h>
#include <glue/rtc.h>
#include <glue/serial.h>
#include <glue/x86.h>

#define RAM_BYTES (256ULL << 20)

/* The i8042 reset line: remember that the guest asked for a reset. */
static void on_reset(void *ctx)
{
	*(int *)ctx = 1;
}

/* Stop early on any error, printing libglue's message for it. */
#define CHECK(call)                                                                      \
	do {                                                                             \
		if ((call) < 0) {                                                        \
			fprintf(stderr, "linux_boot: %s\n", glue_error_last());          \
			return 1;                                                        \
		}                                                                        \
	} while (0)

int main(int argc, char **argv)
{
	struct glue_kvm *kvm;
	struct glue_vm *vm;
	struct glue_mem *mem;
	struct glue_bus *pio;
	struct glue_irq *com1_irq;
	struct glue_serial *com1;
	struct glue_i8042 *i8042;
	struct glue_rtc *rtc;
	struct glue_kernel *kernel;
	struct glue_boot_config boot;
	struct glue_boot_info info;
	struct kvm_cpuid2 *supported, *cpuid;
	struct glue_vcpu *vcpu;
	struct glue_vcpu_exit_info exit_info;
	int reset_requested = 0, r;

	if (argc < 2) {
		fprintf(stderr, "usage: linux_boot KERNEL [CMDLINE]\n");
		return 2;
	}

	/* The VM: memory first, then the x86 platform (irqchip, PIT). */
	CHECK(glue_kvm_open(&kvm, NULL));
	CHECK(glue_vm_new(&vm, kvm));
	CHECK(glue_mem_new_x86(&mem, RAM_BYTES));
	CHECK(glue_vm_set_memory(vm, mem));
	CHECK(glue_vm_setup_x86(vm));

	/* Devices on the port I/O bus. Each gets only what it needs: an
	 * interrupt line, or a callback for its reset line. */
	CHECK(glue_bus_new(&pio, "pio"));
	CHECK(glue_irq_new_kvm(&com1_irq, vm, GLUE_SERIAL_COM1_IRQ));
	CHECK(glue_serial_new(&com1, com1_irq));
	glue_serial_set_output_fd(com1, STDOUT_FILENO);
	CHECK(glue_serial_attach(com1, pio, GLUE_SERIAL_COM1_BASE));
	CHECK(glue_i8042_new(&i8042, NULL, on_reset, &reset_requested));
	CHECK(glue_i8042_attach(i8042, pio));
	CHECK(glue_rtc_new(&rtc, NULL));
	CHECK(glue_rtc_attach(rtc, pio));

	/* The kernel: the loader parses it, places it, the command line and
	 * the boot parameters (with the e820 map of mem), and says how to
	 * enter it. */
	CHECK(glue_kernel_open(&kernel, argv[1]));
	glue_boot_config_init(&boot);
	boot.cmdline = argc > 2 ? argv[2] : "console=ttyS0 reboot=k";
	CHECK(glue_loader_load(mem, kernel, &boot, &info));
	fprintf(stderr, "linux_boot: %s\n", info.description);

	/* One vCPU: CPUID from what KVM supports, topology for 1 CPU, the MP
	 * table that lists it, then the entry state the loader asked for. */
	CHECK(glue_kvm_supported_cpuid(kvm, &supported));
	CHECK(glue_cpuid_for_vcpu(supported, 0, 1, &cpuid));
	CHECK(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 1, cpuid));
	CHECK(glue_vcpu_new(&vcpu, vm, 0));
	CHECK(glue_x86_vcpu_init(vcpu, cpuid));
	CHECK(glue_x86_setup_entry(vcpu, mem, &info));
	glue_vcpu_set_buses(vcpu, pio, NULL);

	/* Run until the guest resets, powers off or crashes. Device handlers
	 * run inside glue_vcpu_run(), on this thread. */
	for (;;) {
		r = glue_vcpu_run(vcpu, mem, &exit_info);
		if (reset_requested || r == GLUE_VCPU_RESET || r == GLUE_VCPU_POWEROFF) {
			r = 0;
			break;
		}
		if (r == GLUE_VCPU_CRASH) {
			fprintf(stderr, "linux_boot: guest crashed: %s\n", exit_info.message);
			r = 3;
			break;
		}
		if (r < 0) {
			fprintf(stderr, "linux_boot: %s\n", glue_error_last());
			r = 1;
			break;
		}
	}

	glue_vcpu_free(vcpu);
	free(cpuid);
	free(supported);
	glue_kernel_free(kernel);
	glue_rtc_free(rtc);
	glue_i8042_free(i8042);
	glue_serial_free(com1);
	glue_irq_free(com1_irq);
	glue_bus_free(pio);
	glue_vm_free(vm);
	glue_mem_free(mem);
	glue_kvm_free(kvm);
	return r;
}
