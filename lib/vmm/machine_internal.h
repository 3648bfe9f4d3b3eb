/* SPDX-License-Identifier: MIT */
#ifndef GLUE_INTERNAL_MACHINE_H
#define GLUE_INTERNAL_MACHINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <glue/config.h>
#include <glue/machine.h>
#include <glue/virtio.h>

struct glue_console;

/* Virtio devices the machine can hold (the ACPI tables describe that many). */
#define MACHINE_MAX_VIRTIO 32

/* One virtio device on its transport; the machine knows no device's type. */
struct machine_virtio {
	const char *name;
	struct glue_virtio_mmio *mmio; /* one of these two */
	struct glue_virtio_pci *pci;
	struct glue_irq *irq;
	uint64_t base, size;
	uint32_t gsi;
};

struct glue_machine {
	struct glue_machine_config cfg;
	char *kernel, *initrd, *cmdline, *cpu;
	struct glue_kernel *k;		  /* opened before KVM; freed once loaded */
	struct glue_cpu_model *cpu_model; /* parsed before KVM too */

	struct glue_kvm *kvm;
	struct glue_vm *vm;
	struct glue_mem *mem;
	struct glue_bus *pio, *mmio;
	struct glue_loop *loop;
	struct glue_alloc *alloc;

	struct glue_serial *serial;
	struct glue_irq *serial_irq;
	struct glue_i8042 *i8042;
	struct glue_irq *kbd_irq;
	struct glue_rtc *rtc;
	struct glue_irq *rtc_irq;
	struct glue_debug_exit *debug_exit;
	struct glue_acpi_pm *pm;
	struct glue_irq *pm_irq;
	struct glue_timer *stop_timer; /* power button -> Ctrl-Alt-Del fallback */
	struct glue_console *console;
	struct glue_pci *pcibus; /* when virtio devices go on PCI */
	uint64_t ecam_base;
	struct glue_alloc *pci_window; /* where BARs go: the root bridge's window */
	uint64_t pci_window_base;
	enum glue_machine_transport transport; /* resolved: MMIO or PCI */
	struct machine_virtio virtio[MACHINE_MAX_VIRTIO];
	uint32_t nvirtio;
	/* Devices made before KVM (their files checked), not yet on a transport. */
	struct glue_virtio_device pending[MACHINE_MAX_VIRTIO];
	uint32_t npending, nplaced;
	struct glue_machine_nic_info nics[GLUE_MACHINE_MAX_NICS];
	uint32_t nic_device[GLUE_MACHINE_MAX_NICS]; /* its index in pending[] */
	uint32_t nnics;

	struct glue_vcpu **vcpus;
	pthread_t *threads;
	uint32_t nthreads;

	/* Serialises pause, resume and a graceful stop, so that one cannot
	 * slip into the middle of another (a forced stop needs no turn). */
	pthread_mutex_t life;

	/* Run state; lock protects everything below, cond signals changes. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum glue_machine_state state;
	atomic_bool pause_req;
	atomic_bool stop_req;
	uint32_t parked; /* vCPU threads waiting in the pause gate */
	uint32_t alive;	 /* vCPU threads not yet finished */
	int exit_code;
	uint64_t paused_clock; /* kvm-clock at the pause, restored on resume */
	bool clock_saved;
	struct timespec started;
};

/* Serial console plumbing between fds and the UART (console.c). */
int glue_console_new(struct glue_console **out, struct glue_machine *m);
void glue_console_free(struct glue_console *c);
/* Wake vCPUs waiting for room in the output ring (pause, stop). */
void glue_console_wake(struct glue_console *c);
/* After the vCPUs are gone: write what is left of the output, giving up
 * when the reader takes nothing for stall_ms. */
void glue_console_flush(struct glue_console *c, int stall_ms);
/* Called by the console when the user types the escape sequence to quit. */
void glue_machine_console_quit(struct glue_machine *m);

void glue_machine_log(struct glue_machine *m, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
