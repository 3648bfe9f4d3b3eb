// SPDX-License-Identifier: MIT
/*
 * The reference machine: a PC-like x86 VM built from libglue's components.
 *
 * Threading: one thread per vCPU runs KVM_RUN and dispatches exits to the
 * buses; the thread calling glue_machine_run() runs the event loop (console
 * input, control sockets, timers). Pausing parks every vCPU thread in a gate
 * (a condition variable) after kicking it out of KVM_RUN.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <glue/acpi.h>
#include <glue/acpi_pm.h>
#include <glue/alloc.h>
#include <glue/config.h>
#include <glue/bus.h>
#include <glue/cpuid.h>
#include <glue/debug_exit.h>
#include <glue/event.h>
#include <glue/i8042.h>
#include <glue/irq.h>
#include <glue/kvm.h>
#include <glue/loader.h>
#include <glue/memory.h>
#include <glue/mptable.h>
#include <glue/rtc.h>
#include <glue/serial.h>
#include <glue/virtio.h>
#include <glue/x86.h>
#if GLUE_HAVE_VIRTIO_MMIO
#include <glue/virtio_mmio.h>
#endif
#if GLUE_HAVE_PCI
#include <glue/pci.h>
#include <glue/virtio_pci.h>
#endif
#if GLUE_HAVE_VIRTIO_RNG
#include <glue/virtio_rng.h>
#endif
#if GLUE_HAVE_VIRTIO_BLK
#include <glue/virtio_blk.h>
#endif
#if GLUE_HAVE_VIRTIO_NET
#include <glue/net.h>
#include <glue/virtio_net.h>
#endif
#if GLUE_HAVE_SLIRP
#include <arpa/inet.h>

#include <glue/net_user.h>
#endif

#include "core/err.h"
#include "core/util.h"
#include "vmm/machine_internal.h"

void glue_machine_log(struct glue_machine *m, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (level > m->cfg.verbose)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(m->cfg.log_fd >= 0 ? m->cfg.log_fd : STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

int glue_machine_nic_info(const struct glue_machine *m, uint32_t index,
			  struct glue_machine_nic_info *out)
{
	if (!m || index >= m->nnics)
		return -ENOENT;
	*out = m->nics[index];
#if GLUE_HAVE_VIRTIO_NET
	/* Live: the kernel takes the queues only once the driver starts them. */
	out->vhost = glue_virtio_net_vhost_active(&m->pending[m->nic_device[index]]);
#endif
	return 0;
}

const char *glue_machine_state_name(enum glue_machine_state state)
{
	switch (state) {
	case GLUE_MACHINE_CREATED:
		return "created";
	case GLUE_MACHINE_RUNNING:
		return "running";
	case GLUE_MACHINE_PAUSED:
		return "paused";
	case GLUE_MACHINE_STOPPING:
		return "stopping";
	case GLUE_MACHINE_STOPPED:
		return "stopped";
	}
	return "unknown";
}

/*
 * Get every vCPU thread out of KVM_RUN (and out of a wait for console
 * room). Called with m->lock held: nthreads drops to 0 under the lock before
 * the threads are joined, so a thread is never signalled after its end.
 */
static void kick_all(struct glue_machine *m)
{
	for (uint32_t i = 0; i < m->nthreads; i++)
		glue_vcpu_kick(m->vcpus[i], GLUE_MACHINE_KICK_SIGNAL);
#if GLUE_HAVE_SERIAL
	glue_console_wake(m->console);
#endif
}

/* End the VM with code unless it is already ending; safe from any thread. */
static void machine_end(struct glue_machine *m, int code)
{
	pthread_mutex_lock(&m->lock);
	if (!atomic_load(&m->stop_req)) {
		m->exit_code = code;
		atomic_store(&m->stop_req, true);
		if (m->state != GLUE_MACHINE_CREATED)
			m->state = GLUE_MACHINE_STOPPING;
	}
	pthread_cond_broadcast(&m->cond);
	kick_all(m);
	pthread_mutex_unlock(&m->lock);
	glue_loop_stop(m->loop);
}

#if GLUE_HAVE_I8042
static void on_guest_reset(void *ctx)
{
	struct glue_machine *m = ctx;

	glue_machine_log(m, 1, "glue: guest reset through the i8042");
	machine_end(m, GLUE_EXIT_OK);
}
#endif

#if GLUE_HAVE_DEBUG_EXIT
static void on_debug_exit(void *ctx, uint32_t value)
{
	struct glue_machine *m = ctx;

	glue_machine_log(m, 1, "glue: guest wrote %u to the debug-exit port", value);
	machine_end(m, value ? GLUE_EXIT_GUEST_FAILED : GLUE_EXIT_OK);
}
#endif

#if GLUE_HAVE_ACPI
static void on_guest_sleep(void *ctx, int state)
{
	struct glue_machine *m = ctx;

	glue_machine_log(m, 1, "glue: guest powered off (ACPI S%d)", state);
	machine_end(m, GLUE_EXIT_OK);
}
#endif

void glue_machine_console_quit(struct glue_machine *m)
{
	glue_machine_log(m, 1, "glue: console escape: stopping the VM");
	machine_end(m, GLUE_EXIT_OK);
}

static void kick_handler(int sig)
{
	(void)sig;
}

static int install_kick_handler(void)
{
	struct sigaction old, sa;

	if (sigaction(GLUE_MACHINE_KICK_SIGNAL, NULL, &old) < 0)
		return glue_err_sys(-errno, "sigaction");
	if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
		return 0; /* the program handles it; any handler will do */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(GLUE_MACHINE_KICK_SIGNAL, &sa, NULL) < 0)
		return glue_err_sys(-errno, "sigaction");
	return 0;
}

/* What can be checked without KVM: a bad argument or input file is
 * reported as such on any host, even one without /dev/kvm. */
static int check_config(const struct glue_machine_config *cfg)
{
	struct sysinfo si;
	uint64_t host;

	if (!cfg->kernel || !*cfg->kernel)
		return glue_err(-EINVAL, "no kernel given");
	if (cfg->mem_bytes == 0 || cfg->mem_bytes % GLUE_MiB)
		return glue_err(-EINVAL, "memory size must be a positive number of MiB");
	if (cfg->mem_bytes < 2 * GLUE_MiB)
		return glue_err(-EINVAL, "memory size %llu MiB is too small (at least 2 MiB)",
				(unsigned long long)(cfg->mem_bytes >> 20));
	/* Guest RAM is populated lazily, but a VM that could never get its
	 * memory is a mistake worth refusing up front. */
	if (sysinfo(&si) == 0) {
		host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
		if (cfg->mem_bytes > host)
			return glue_err(-ENOMEM,
					"memory size %llu MiB is more than this host has (%llu MiB "
					"of RAM and swap)",
					(unsigned long long)(cfg->mem_bytes >> 20),
					(unsigned long long)(host >> 20));
	}
	if (cfg->cpus == 0 || cfg->cpus > GLUE_MPTABLE_MAX_CPUS)
		return glue_err(-EINVAL, "%u vCPUs requested: glue supports 1 to %u", cfg->cpus,
				GLUE_MPTABLE_MAX_CPUS);
	return 0;
}

/* Which transport virtio devices use; -ENOTSUP for one the build lacks. */
static int resolve_transport(struct glue_machine *m)
{
	switch (m->cfg.transport) {
	case GLUE_TRANSPORT_DEFAULT:
		m->transport = GLUE_HAVE_PCI ? GLUE_TRANSPORT_PCI : GLUE_TRANSPORT_MMIO;
		return 0;
	case GLUE_TRANSPORT_MMIO:
		m->transport = GLUE_TRANSPORT_MMIO;
		return GLUE_HAVE_VIRTIO_MMIO
			       ? 0
			       : glue_err(-ENOTSUP, "this glue was built without virtio-mmio");
	case GLUE_TRANSPORT_PCI:
		m->transport = GLUE_TRANSPORT_PCI;
		return GLUE_HAVE_PCI ? 0 : glue_err(-ENOTSUP, "this glue was built without PCI");
	}
	return glue_err(-EINVAL, "unknown virtio transport %d", (int)m->cfg.transport);
}

/* Devices asked for that this build left out: refused by name, before KVM. */
static int check_devices(const struct glue_machine_config *cfg)
{
	const bool transport = GLUE_HAVE_VIRTIO_MMIO || GLUE_HAVE_PCI;

	if (cfg->rng && (!GLUE_HAVE_VIRTIO_RNG || !transport))
		return glue_err(-ENOTSUP, "this glue was built without %s",
				GLUE_HAVE_VIRTIO_RNG ? "a virtio transport" : "virtio-rng");
	if (cfg->ndisks && (!GLUE_HAVE_VIRTIO_BLK || !transport))
		return glue_err(-ENOTSUP, "this glue was built without %s (no disks)",
				GLUE_HAVE_VIRTIO_BLK ? "a virtio transport" : "virtio-blk");
	if (cfg->ndisks && !cfg->disks)
		return glue_err(-EINVAL, "%u disks but no disk list", cfg->ndisks);
	if (cfg->nnics && (!GLUE_HAVE_VIRTIO_NET || !transport))
		return glue_err(-ENOTSUP, "this glue was built without %s (no NICs)",
				GLUE_HAVE_VIRTIO_NET ? "a virtio transport" : "virtio-net");
	if (cfg->nnics && !cfg->nics)
		return glue_err(-EINVAL, "%u NICs but no NIC list", cfg->nnics);
	if (cfg->nnics > GLUE_MACHINE_MAX_NICS)
		return glue_err(-EINVAL, "%u NICs: at most %d", cfg->nnics, GLUE_MACHINE_MAX_NICS);
	for (uint32_t i = 0; i < cfg->nnics; i++) {
		const struct glue_machine_nic *n = &cfg->nics[i];

		if (n->backend == GLUE_MACHINE_NET_USER && !GLUE_HAVE_SLIRP)
			return glue_err(-ENOTSUP, "this glue was built without user-mode "
						  "networking (libslirp): use a tap");
		if (n->backend != GLUE_MACHINE_NET_USER && n->backend != GLUE_MACHINE_NET_TAP)
			return glue_err(-EINVAL, "NIC %u: unknown backend %d", i, (int)n->backend);
		if (n->backend != GLUE_MACHINE_NET_USER && (n->nhostfwd || n->restricted))
			return glue_err(-EINVAL,
					"NIC %u: forwarded ports and restrict are for "
					"user-mode networking",
					i);
		if (n->vhost > 0 && !GLUE_HAVE_VHOST)
			return glue_err(-ENOTSUP, "this glue was built without vhost-net");
		if (n->vhost > 0 && n->backend != GLUE_MACHINE_NET_TAP)
			return glue_err(-EINVAL, "NIC %u: vhost-net serves taps only", i);
		if (n->nhostfwd && !n->hostfwd)
			return glue_err(-EINVAL, "NIC %u: %u forwarded ports but no list", i,
					n->nhostfwd);
	}
	return 0;
}

static int check_cpus(const struct glue_machine_config *cfg, const struct glue_kvm *kvm)
{
	uint32_t max_cpus = (uint32_t)glue_kvm_max_vcpus(kvm);

	if (max_cpus > GLUE_MPTABLE_MAX_CPUS)
		max_cpus = GLUE_MPTABLE_MAX_CPUS;
	if (cfg->cpus > max_cpus)
		return glue_err(-EINVAL, "%u vCPUs requested: this host supports 1 to %u",
				cfg->cpus, max_cpus);
	return 0;
}

static int copy_str(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : glue_err(-ENOMEM, "out of memory");
}

static int add_devices(struct glue_machine *m)
{
	int r = 0;

#if GLUE_HAVE_SERIAL
	r = glue_irq_new_kvm(&m->serial_irq, m->vm, GLUE_SERIAL_COM1_IRQ);
	if (!r)
		r = glue_serial_new(&m->serial, m->serial_irq);
	if (!r)
		r = glue_serial_attach(m->serial, m->pio, GLUE_SERIAL_COM1_BASE);
	if (r < 0)
		return r;
	r = glue_console_new(&m->console, m);
	if (r < 0)
		return r;
#endif
#if GLUE_HAVE_I8042
	r = glue_irq_new_kvm(&m->kbd_irq, m->vm, GLUE_I8042_KBD_IRQ);
	if (!r)
		r = glue_i8042_new(&m->i8042, m->kbd_irq, on_guest_reset, m);
	if (!r)
		r = glue_i8042_attach(m->i8042, m->pio);
	if (r < 0)
		return r;
#endif
#if GLUE_HAVE_RTC
	r = glue_irq_new_kvm(&m->rtc_irq, m->vm, GLUE_RTC_IRQ);
	if (!r)
		r = glue_rtc_new(&m->rtc, m->rtc_irq);
	if (!r)
		r = glue_rtc_attach(m->rtc, m->pio);
	if (r < 0)
		return r;
#endif
#if GLUE_HAVE_ACPI
	r = glue_irq_new_kvm(&m->pm_irq, m->vm, GLUE_ACPI_PM_GSI);
	if (!r)
		r = glue_acpi_pm_new(&m->pm, m->pm_irq, on_guest_sleep, m);
	if (!r)
		r = glue_acpi_pm_attach(m->pm, m->pio, GLUE_ACPI_PM_PORT);
	if (r < 0)
		return r;
#endif
#if GLUE_HAVE_DEBUG_EXIT
	if (m->cfg.debug_exit) {
		r = glue_debug_exit_new(&m->debug_exit, on_debug_exit, m);
		if (!r)
			r = glue_debug_exit_attach(m->debug_exit, m->pio, GLUE_DEBUG_EXIT_PORT);
	}
#else
	if (m->cfg.debug_exit)
		r = glue_err(-ENOTSUP, "this glue was built without the debug-exit device");
#endif
	return r;
}

/* The buses' write notifications: KVM_IOEVENTFD. */
static int ioevent(struct glue_vm *vm, uint64_t addr, uint32_t len, bool pio, int64_t datamatch,
		   int fd, bool assign)
{
	return assign ? glue_vm_ioeventfd(vm, addr, len, pio, datamatch, fd)
		      : glue_vm_ioeventfd_remove(vm, addr, len, pio, datamatch, fd);
}

static int ioevent_pio(void *vm, uint64_t addr, uint32_t len, int64_t datamatch, int fd,
		       bool assign)
{
	return ioevent(vm, addr, len, true, datamatch, fd, assign);
}

static int ioevent_mmio(void *vm, uint64_t addr, uint32_t len, int64_t datamatch, int fd,
			bool assign)
{
	return ioevent(vm, addr, len, false, datamatch, fd, assign);
}

/* A GSI of 16-23 (I/O APIC pins no ISA device claims), or UINT32_MAX. */
static __attribute__((unused)) /* without a transport */
uint32_t
take_virtio_gsi(struct glue_machine *m)
{
	for (uint32_t gsi = 16; gsi < 24; gsi++)
		if (glue_alloc_take_fixed(m->alloc, GLUE_ALLOC_GSI, gsi, 1) == 0)
			return gsi;
	return UINT32_MAX;
}

#if GLUE_HAVE_VIRTIO_MMIO
/* virtio-mmio: a page of the 32-bit MMIO window and a level GSI of its own. */
static int add_virtio_mmio(struct glue_machine *m, struct machine_virtio *v,
			   const struct glue_virtio_device *dev)
{
	int r;

	v->gsi = take_virtio_gsi(m);
	if (v->gsi == UINT32_MAX) {
		dev->ops->free(dev->ctx);
		return glue_err(-ENOSPC,
				"%s: no interrupt line left for another virtio-mmio device (at "
				"most 8)",
				dev->name);
	}
	v->size = GLUE_VIRTIO_MMIO_SIZE;
	r = glue_alloc_take(m->alloc, GLUE_ALLOC_MMIO32, v->size, v->size, &v->base);
	if (!r)
		r = glue_irq_new_kvm(&v->irq, m->vm, v->gsi);
	if (r < 0) {
		dev->ops->free(dev->ctx);
		return r;
	}
	m->nvirtio++; /* from here on, glue_machine_free() undoes it */
	r = glue_virtio_mmio_new(&v->mmio, dev, m->mem, v->irq);
	if (!r)
		r = glue_virtio_mmio_attach(v->mmio, m->mmio, v->base);
	if (!r)
		glue_machine_log(m, 1, "glue: %s on virtio-mmio at 0x%llx, GSI %u", v->name,
				 (unsigned long long)v->base, v->gsi);
	return r;
}
#endif

#if GLUE_HAVE_PCI
/* Where the BARs of PCI devices go: 32 KiB each, room for every device. */
#define PCI_WINDOW_SIZE (16 * GLUE_MiB)

/* virtio-pci: a BAR in the PCI window, MSI-X; INTx while GSIs last. */
static int add_virtio_pci(struct glue_machine *m, struct machine_virtio *v,
			  const struct glue_virtio_device *dev)
{
	int r;

	v->size = GLUE_VIRTIO_PCI_BAR_SIZE;
	r = glue_alloc_take(m->pci_window, GLUE_ALLOC_MMIO32, v->size, v->size, &v->base);
	if (r < 0) {
		dev->ops->free(dev->ctx);
		return r;
	}
	v->gsi = take_virtio_gsi(m);
	if (v->gsi != UINT32_MAX) {
		r = glue_irq_new_kvm(&v->irq, m->vm, v->gsi);
		if (r < 0) {
			dev->ops->free(dev->ctx);
			return r;
		}
	}
	m->nvirtio++;
	r = glue_virtio_pci_new(&v->pci, dev, m->mem, m->pcibus, v->base, v->irq,
				v->gsi == UINT32_MAX ? 0 : v->gsi);
	if (!r)
		glue_machine_log(m, 1, "glue: %s on PCI 00:%02x.0, BAR at 0x%llx, MSI-X", v->name,
				 glue_virtio_pci_slot(v->pci), (unsigned long long)v->base);
	return r;
}

static int msi(void *ctx, uint64_t addr, uint32_t data)
{
	return glue_vm_signal_msi(ctx, addr, data);
}

/* MSI-X vectors through KVM irqfds: a GSI routed to the vector's message,
 * an eventfd raising it. */
static int route_add(void *ctx, uint32_t *id, int *fd)
{
	int r;

	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fd < 0)
		return glue_err_sys(-errno, "eventfd");
	r = glue_vm_msi_route_add(ctx, id);
	if (!r) {
		r = glue_vm_irqfd(ctx, *fd, *id, -1);
		if (r < 0)
			glue_vm_msi_route_del(ctx, *id);
	}
	if (r < 0) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

static int route_set(void *ctx, uint32_t id, uint64_t addr, uint32_t data)
{
	return glue_vm_msi_route_set(ctx, id, addr, data);
}

static void route_del(void *ctx, uint32_t id, int fd)
{
	glue_vm_irqfd_remove(ctx, fd, id);
	glue_vm_msi_route_del(ctx, id);
	close(fd);
}

static const struct glue_pci_msi_routes msi_routes = {
	.add = route_add,
	.set = route_set,
	.del = route_del,
};

/* The root complex, when virtio devices go on PCI (also with none: lspci works). */
static int add_pci(struct glue_machine *m)
{
	int r;

	if (m->transport != GLUE_TRANSPORT_PCI)
		return 0;
	r = glue_pci_new(&m->pcibus, m->pio, m->mmio, msi, m->vm);
	if (!r) {
		glue_pci_set_msi_routes(m->pcibus, &msi_routes, m->vm);
		r = glue_pci_attach_ports(m->pcibus);
	}
	if (!r)
		r = glue_alloc_take(m->alloc, GLUE_ALLOC_MMIO32, GLUE_PCI_ECAM_SIZE,
				    GLUE_PCI_ECAM_SIZE, &m->ecam_base);
	if (!r)
		r = glue_pci_attach_ecam(m->pcibus, m->ecam_base);
	/* BARs come from a window of their own, which ACPI gives the root bridge. */
	if (!r)
		r = glue_alloc_take(m->alloc, GLUE_ALLOC_MMIO32, PCI_WINDOW_SIZE, PCI_WINDOW_SIZE,
				    &m->pci_window_base);
	if (!r)
		r = glue_alloc_new(&m->pci_window);
	if (!r)
		r = glue_alloc_add_pool(m->pci_window, GLUE_ALLOC_MMIO32, m->pci_window_base,
					PCI_WINDOW_SIZE);
	if (!r)
		glue_machine_log(m, 1,
				 "glue: PCI bus 0: ports 0xcf8-0xcff, ECAM at 0x%llx, window "
				 "0x%llx-0x%llx",
				 (unsigned long long)m->ecam_base,
				 (unsigned long long)m->pci_window_base,
				 (unsigned long long)(m->pci_window_base + PCI_WINDOW_SIZE - 1));
	return r;
}
#endif

/* Put a virtio device on the machine's transport. Takes dev. */
static
	__attribute__((unused)) /* in a build with no virtio device */
	int
	add_virtio(struct glue_machine *m, const struct glue_virtio_device *dev)
{
	struct machine_virtio *v = &m->virtio[m->nvirtio];

	if (m->nvirtio == MACHINE_MAX_VIRTIO) {
		dev->ops->free(dev->ctx);
		return glue_err(-ENOSPC, "%s: more than %d virtio devices", dev->name,
				MACHINE_MAX_VIRTIO);
	}
	v->name = dev->name;
#if GLUE_HAVE_PCI
	if (m->transport == GLUE_TRANSPORT_PCI)
		return add_virtio_pci(m, v, dev);
#endif
#if GLUE_HAVE_VIRTIO_MMIO
	if (m->transport == GLUE_TRANSPORT_MMIO)
		return add_virtio_mmio(m, v, dev);
#endif
	dev->ops->free(dev->ctx);
	return glue_err(-ENOTSUP, "%s: this glue was built without a virtio transport", dev->name);
}

/* Keep a device made before KVM until it can be placed. */
static __attribute__((unused)) int pend(struct glue_machine *m, int r,
					const struct glue_virtio_device *d)
{
	if (r < 0)
		return r;
	if (m->npending == MACHINE_MAX_VIRTIO) {
		d->ops->free(d->ctx);
		return glue_err(-ENOSPC, "more than %d virtio devices", MACHINE_MAX_VIRTIO);
	}
	m->pending[m->npending++] = *d;
	return 0;
}

#if GLUE_HAVE_VIRTIO_RNG
static int make_rng(struct glue_machine *m)
{
	struct glue_virtio_rng_config c;
	struct glue_virtio_device d;

	if (!m->cfg.rng)
		return 0;
	glue_virtio_rng_config_init(&c);
	c.bytes_per_sec = m->cfg.rng_bytes_per_sec;
	return pend(m, glue_virtio_rng_new(&d, &c), &d);
}
#endif

#if GLUE_HAVE_VIRTIO_BLK
static int make_disks(struct glue_machine *m)
{
	int r = 0;

	for (uint32_t i = 0; !r && i < m->cfg.ndisks; i++) {
		const struct glue_machine_disk *disk = &m->cfg.disks[i];
		struct glue_virtio_blk_config c;
		struct glue_virtio_device d;

		glue_virtio_blk_config_init(&c);
		c.path = disk->path;
		c.readonly = disk->readonly;
		c.serial = disk->serial;
		c.cache = disk->cache_none ? GLUE_VIRTIO_BLK_CACHE_NONE
					   : GLUE_VIRTIO_BLK_CACHE_WRITEBACK;
		if (disk->queues)
			c.num_queues = disk->queues;
		r = pend(m, glue_virtio_blk_new(&d, &c), &d);
	}
	return r;
}
#endif

#if GLUE_HAVE_VIRTIO_NET
/* The backend a NIC asks for, made before KVM: a busy port or a missing tap fails here. */
static int make_backend(struct glue_machine *m, uint32_t i, struct glue_net_backend *be)
{
	const struct glue_machine_nic *nic = &m->cfg.nics[i];

	if (nic->backend == GLUE_MACHINE_NET_TAP)
		return glue_net_tap_open(be, nic->tap);
#if GLUE_HAVE_SLIRP
	struct glue_net_user_config uc;
	int r;

	glue_net_user_config_init(&uc);
	uc.restricted = nic->restricted;
	uc.hostname = m->cfg.name;
	if (nic->nhostfwd > GLUE_NET_USER_MAX_FWD || nic->nhostfwd > GLUE_MACHINE_MAX_HOSTFWD)
		return glue_err(-EINVAL, "NIC %u: at most %d forwarded ports", i,
				GLUE_NET_USER_MAX_FWD);
	for (uint32_t k = 0; k < nic->nhostfwd; k++) {
		const struct glue_net_hostfwd *f = &uc.fwd[k];
		char host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];

		r = glue_net_hostfwd_parse(&uc.fwd[k], nic->hostfwd[k]);
		if (r < 0)
			return r;
		inet_ntop(AF_INET, &f->host_addr, host, sizeof(host));
		inet_ntop(AF_INET, f->guest_addr.s_addr ? &f->guest_addr : &uc.dhcp_start, guest,
			  sizeof(guest));
		snprintf(m->nics[i].hostfwd[k], sizeof(m->nics[i].hostfwd[k]), "%s:%s:%u-%s:%u",
			 f->udp ? "udp" : "tcp", host, f->host_port, guest, f->guest_port);
	}
	uc.nfwd = nic->nhostfwd;
	m->nics[i].nhostfwd = uc.nfwd;
	m->nics[i].restricted = nic->restricted;
	return glue_net_user_new(be, &uc);
#else
	return glue_err(-ENOTSUP, "this glue was built without user-mode networking");
#endif
}

static int make_nics(struct glue_machine *m)
{
	int r = 0;

	for (uint32_t i = 0; !r && i < m->cfg.nnics; i++) {
		const struct glue_machine_nic *nic = &m->cfg.nics[i];
		struct glue_virtio_net_config c;
		struct glue_net_backend be;
		struct glue_virtio_device d;

		struct glue_machine_nic_info *info = &m->nics[i];

		r = make_backend(m, i, &be);
		if (r < 0)
			break;
		glue_virtio_net_config_init(&c);
		c.backend = &be;
		if (nic->mac_set)
			memcpy(c.mac, nic->mac, 6);
		else
			glue_virtio_net_mac(c.mac, m->cfg.name ? m->cfg.name : "glue", i);
		snprintf(info->backend, sizeof(info->backend), "%s", be.name);
		snprintf(info->ifname, sizeof(info->ifname), "%s", be.ifname);
		snprintf(info->mac, sizeof(info->mac), "%02x:%02x:%02x:%02x:%02x:%02x", c.mac[0],
			 c.mac[1], c.mac[2], c.mac[3], c.mac[4], c.mac[5]);
		c.vhost = nic->vhost > 0   ? GLUE_VIRTIO_NET_VHOST_ON
			  : nic->vhost < 0 ? GLUE_VIRTIO_NET_VHOST_OFF
					   : GLUE_VIRTIO_NET_VHOST_AUTO;
		if (nic->backend != GLUE_MACHINE_NET_TAP)
			c.vhost = GLUE_VIRTIO_NET_VHOST_OFF; /* only a tap has a kernel data path */
		r = glue_virtio_net_new(&d, &c);
		if (r < 0)
			break;
		m->nic_device[i] = m->npending;
		glue_machine_log(m, 1,
				 "glue: NIC %u: virtio-net %02x:%02x:%02x:%02x:%02x:%02x on %s%s%s%s, "
				 "data path %s",
				 i, c.mac[0], c.mac[1], c.mac[2], c.mac[3], c.mac[4], c.mac[5],
				 info->backend, info->ifname[0] ? " " : "", info->ifname,
				 nic->restricted ? " (restricted)" : "", glue_virtio_net_data_path(&d));
		r = pend(m, 0, &d);
		if (!r)
			m->nnics = i + 1;
	}
	return r;
}
#endif

/* The virtio devices, in the order the guest finds them: one line each. */
static int (*const virtio_devices[])(struct glue_machine *m) = {
#if GLUE_HAVE_VIRTIO_BLK
	make_disks,
#endif
#if GLUE_HAVE_VIRTIO_RNG
	make_rng,
#endif
#if GLUE_HAVE_VIRTIO_NET
	make_nics,
#endif
	NULL,
};

/* Before KVM: a missing or busy disk is reported as such on any host. */
static int make_virtio_devices(struct glue_machine *m)
{
	int r = 0;

	for (size_t i = 0; !r && virtio_devices[i]; i++)
		r = virtio_devices[i](m);
	return r;
}

/* After the VM and its memory exist: onto the transport. */
static int place_virtio_devices(struct glue_machine *m)
{
	int r = 0;

	while (!r && m->nplaced < m->npending)
		r = add_virtio(m, &m->pending[m->nplaced++]);
	return r;
}

/* Without ACPI the kernel learns of virtio-mmio devices from its command line. */
static int announce_virtio(struct glue_machine *m)
{
#if GLUE_HAVE_VIRTIO_MMIO && !GLUE_HAVE_ACPI
	for (uint32_t i = 0; i < m->nvirtio; i++) {
		if (!m->virtio[i].mmio)
			continue;
		size_t old = m->cmdline ? strlen(m->cmdline) : 0;
		int n = glue_virtio_mmio_cmdline(NULL, 0, m->virtio[i].base, m->virtio[i].gsi);
		char *p = realloc(m->cmdline, old + (size_t)n + 2);

		if (!p)
			return glue_err(-ENOMEM, "out of memory");
		m->cmdline = p;
		if (old)
			p[old++] = ' ';
		glue_virtio_mmio_cmdline(p + old, (size_t)n + 1, m->virtio[i].base,
					 m->virtio[i].gsi);
		glue_machine_log(m, 1, "glue: no ACPI: %s announced as %s", m->virtio[i].name,
				 p + old);
	}
#endif
	return 0;
}

/* ACPI tables describing the vCPUs and legacy devices: kernels built
 * without MP-table support (Debian's cloud kernel) find CPUs only there. */
static int write_acpi(struct glue_machine *m, uint64_t *rsdp)
{
	*rsdp = 0;
#if GLUE_HAVE_ACPI
	struct glue_acpi_config ac;

	glue_acpi_config_init(&ac);
	ac.ncpus = m->cfg.cpus;
	ac.serial = m->serial != NULL;
	ac.i8042 = m->i8042 != NULL;
	ac.rtc = m->rtc != NULL;
	ac.pm = m->pm != NULL;
	ac.pm_port = GLUE_ACPI_PM_PORT;
	ac.pm_gsi = GLUE_ACPI_PM_GSI;
	for (uint32_t i = 0; i < m->nvirtio; i++) {
		struct glue_acpi_virtio_mmio *d = &ac.virtio_mmio[ac.virtio_mmio_count];

		if (!m->virtio[i].mmio)
			continue; /* PCI devices are found by scanning the bus */
		d->base = m->virtio[i].base;
		d->size = (uint32_t)m->virtio[i].size;
		d->gsi = m->virtio[i].gsi;
		ac.virtio_mmio_count++;
	}
#if GLUE_HAVE_PCI
	if (m->pcibus) {
		ac.pci = true;
		ac.pci_mmio_base = m->pci_window_base;
		ac.pci_mmio_size = PCI_WINDOW_SIZE;
		ac.pci_ecam_base = m->ecam_base;
		for (uint32_t i = 0; i < m->nvirtio; i++) {
			if (!m->virtio[i].pci || m->virtio[i].gsi == UINT32_MAX)
				continue;
			ac.pci_intx[ac.pci_intx_count].slot =
				glue_virtio_pci_slot(m->virtio[i].pci);
			ac.pci_intx[ac.pci_intx_count].gsi = m->virtio[i].gsi;
			ac.pci_intx_count++;
		}
	}
#endif
	return glue_acpi_write(m->mem, GLUE_ACPI_ADDR, &ac, rsdp);
#else
	return 0;
#endif
}

static void boot_config(const struct glue_machine *m, struct glue_boot_config *bc)
{
	glue_boot_config_init(bc);
	bc->mode = m->cfg.boot;
	bc->cmdline = m->cmdline ? m->cmdline : "";
	bc->initrd_path = m->initrd;
}

static int load_kernel(struct glue_machine *m, struct glue_boot_info *info)
{
	struct glue_boot_config bc;
	uint64_t rsdp;
	int r;

	r = write_acpi(m, &rsdp);
	if (r < 0)
		return r;

	boot_config(m, &bc);
	bc.acpi_rsdp_gpa = rsdp;
	r = glue_loader_load(m->mem, m->k, &bc, info);
	glue_kernel_free(m->k);
	m->k = NULL;
	if (r < 0)
		return r;
	glue_machine_log(m, 1, "glue: %s", info->description);
	return 0;
}

static void cpu_warn(void *opaque, const char *message)
{
	glue_machine_log(opaque, 0, "glue: warning: %s", message);
}

static int create_vcpus(struct glue_machine *m, const struct glue_boot_info *boot)
{
	struct glue_cpu_model *model = m->cpu_model;
	struct kvm_cpuid2 *supported = NULL, *base = NULL;
	int r;

	m->vcpus = calloc(m->cfg.cpus, sizeof(*m->vcpus));
	m->threads = calloc(m->cfg.cpus, sizeof(*m->threads));
	if (!m->vcpus || !m->threads)
		return glue_err(-ENOMEM, "out of memory");

	r = glue_kvm_supported_cpuid(m->kvm, &supported);
	if (!r)
		r = glue_cpu_model_apply(model, supported, &base);
	/* Only when asked to change features: the check costs a VM. */
	if (!r && glue_cpu_model_changes_features(model))
		r = glue_cpu_model_verify(model, m->kvm, base, cpu_warn, m);
	if (!r)
		r = glue_mptable_write(m->mem, GLUE_MPTABLE_ADDR, m->cfg.cpus, base);
	for (uint32_t i = 0; !r && i < m->cfg.cpus; i++) {
		struct kvm_cpuid2 *cpuid = NULL;

		r = glue_vcpu_new(&m->vcpus[i], m->vm, i);
		if (!r)
			r = glue_cpuid_for_vcpu(base, i, m->cfg.cpus, &cpuid);
		if (!r)
			r = glue_x86_vcpu_init(m->vcpus[i], cpuid);
		free(cpuid);
		if (!r)
			glue_vcpu_set_buses(m->vcpus[i], m->pio, m->mmio);
	}
	if (!r)
		r = glue_x86_setup_entry(m->vcpus[0], m->mem, boot);
	free(supported);
	free(base);
	return r;
}

int glue_machine_new(struct glue_machine **out, const struct glue_machine_config *cfg)
{
	struct glue_boot_info boot;
	struct glue_machine *m;
	int r;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return glue_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&m->life, NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->state = GLUE_MACHINE_CREATED;

	if (!cfg || cfg->size < offsetof(struct glue_machine_config, log_fd) + sizeof(int)) {
		r = glue_err(-EINVAL, "machine config: bad size (call glue_machine_config_init)");
		goto fail;
	}
	/* Copy what this version knows; a newer, larger struct still works. */
	glue_machine_config_init(&m->cfg);
	memcpy(&m->cfg, cfg, GLUE_MIN((size_t)cfg->size, sizeof(m->cfg)));
	m->cfg.size = sizeof(m->cfg);

	/* Arguments and input files first, KVM after: a missing kernel is
	 * named as such even where /dev/kvm is missing too. */
	r = check_config(&m->cfg);
	if (!r)
		r = check_devices(&m->cfg);
	if (!r)
		r = resolve_transport(m);
	if (!r)
		r = copy_str(&m->kernel, cfg->kernel);
	if (!r)
		r = copy_str(&m->initrd, cfg->initrd);
	if (!r)
		r = copy_str(&m->cmdline, cfg->cmdline);
	if (!r)
		r = copy_str(&m->cpu, cfg->cpu);
	if (!r)
		r = glue_cpu_model_parse(&m->cpu_model, m->cpu);
	if (!r)
		r = glue_kernel_open(&m->k, m->kernel);
	if (!r) {
		/* A kernel that cannot boot this way is refused before KVM is needed. */
		struct glue_boot_config bc;

		boot_config(m, &bc);
		r = glue_loader_check(m->k, &bc);
	}
	if (!r)
		r = make_virtio_devices(m);
	if (!r)
		r = glue_kvm_open(&m->kvm, NULL);
	if (!r)
		r = check_cpus(&m->cfg, m->kvm);
	if (!r)
		r = install_kick_handler();
	if (r < 0)
		goto fail;

	r = glue_loop_new(&m->loop);
	if (!r)
		r = glue_bus_new(&m->pio, "pio");
	if (!r)
		r = glue_bus_new(&m->mmio, "mmio");
	if (!r)
		r = glue_mem_new_x86(&m->mem, m->cfg.mem_bytes);
	if (!r)
		r = glue_alloc_new_x86(&m->alloc,
				       glue_mem_end(m->mem) > GLUE_X86_MMIO_HOLE_END
					       ? GLUE_ALIGN_UP(glue_mem_end(m->mem), GLUE_GiB)
					       : GLUE_X86_MMIO_HOLE_END);
	if (!r)
		r = glue_vm_new(&m->vm, m->kvm);
	if (!r)
		r = glue_vm_set_memory(m->vm, m->mem);
	if (!r)
		r = glue_vm_setup_x86(m->vm);
	if (!r) {
		/* Devices' doorbells (virtio notifications) become eventfd signals in KVM. */
		glue_bus_set_ioevent(m->pio, ioevent_pio, m->vm);
		glue_bus_set_ioevent(m->mmio, ioevent_mmio, m->vm);
		r = add_devices(m);
	}
#if GLUE_HAVE_PCI
	if (!r)
		r = add_pci(m);
#endif
	if (!r)
		r = place_virtio_devices(m);
	if (!r)
		r = announce_virtio(m);
	if (!r)
		r = load_kernel(m, &boot);
	if (!r)
		r = create_vcpus(m, &boot);
	if (r < 0)
		goto fail;

	glue_machine_log(m, 1, "glue: %u vCPU%s, %llu MiB RAM", m->cfg.cpus,
			 m->cfg.cpus == 1 ? "" : "s", (unsigned long long)(m->cfg.mem_bytes >> 20));
	*out = m;
	return 0;
fail:
	glue_machine_free(m);
	return r;
}

static void park_if_paused(struct glue_machine *m)
{
	pthread_mutex_lock(&m->lock);
	while (atomic_load(&m->pause_req) && !atomic_load(&m->stop_req)) {
		m->parked++;
		pthread_cond_broadcast(&m->cond);
		pthread_cond_wait(&m->cond, &m->lock);
		m->parked--;
	}
	pthread_mutex_unlock(&m->lock);
}

struct vcpu_arg {
	struct glue_machine *m;
	struct glue_vcpu *vcpu;
};

static void *vcpu_main(void *p)
{
	struct vcpu_arg *arg = p;
	struct glue_machine *m = arg->m;
	struct glue_vcpu *vcpu = arg->vcpu;
	struct glue_vcpu_exit_info info;
	int r;

	free(arg);
	glue_vcpu_bind_thread(vcpu);
	for (;;) {
		park_if_paused(m);
		if (atomic_load(&m->stop_req))
			break;
		/* Clear the kick, then look at the flags again: a kick that
		 * raced with the clear has set its flag before kicking. */
		glue_vcpu_clear_kick(vcpu);
		if (atomic_load(&m->pause_req) || atomic_load(&m->stop_req))
			continue;

		r = glue_vcpu_run(vcpu, m->mem, &info);
		if (r == GLUE_VCPU_CONTINUE || r == GLUE_VCPU_INTERRUPTED)
			continue;
		if (r == GLUE_VCPU_RESET || r == GLUE_VCPU_POWEROFF || r == GLUE_VCPU_HALT) {
			glue_machine_log(m, 1, "glue: guest %s",
					 r == GLUE_VCPU_RESET	   ? "reset"
					 : r == GLUE_VCPU_POWEROFF ? "powered off"
								   : "halted");
			machine_end(m, GLUE_EXIT_OK);
		} else if (r == GLUE_VCPU_CRASH) {
			glue_machine_log(m, 0, "glue: guest crashed: %s", info.message);
			machine_end(m, GLUE_EXIT_GUEST_CRASH);
		} else {
			glue_machine_log(m, 0, "glue: %s", glue_error_last());
			machine_end(m, GLUE_EXIT_ERROR);
		}
		break;
	}

	pthread_mutex_lock(&m->lock);
	m->alive--;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int glue_machine_run(struct glue_machine *m)
{
	uint32_t started = 0;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	if (m->state != GLUE_MACHINE_CREATED) {
		pthread_mutex_unlock(&m->lock);
		return glue_err(-EINVAL, "the machine has already run");
	}
	m->state = atomic_load(&m->stop_req) ? GLUE_MACHINE_STOPPING : GLUE_MACHINE_RUNNING;
	clock_gettime(CLOCK_REALTIME, &m->started);
	pthread_mutex_unlock(&m->lock);

	for (uint32_t i = 0; i < m->cfg.cpus; i++) {
		struct vcpu_arg *arg = malloc(sizeof(*arg));
		char name[16];

		if (!arg) {
			r = glue_err(-ENOMEM, "out of memory");
			break;
		}
		arg->m = m;
		arg->vcpu = m->vcpus[i];
		pthread_mutex_lock(&m->lock);
		m->alive++;
		pthread_mutex_unlock(&m->lock);
		r = -pthread_create(&m->threads[i], NULL, vcpu_main, arg);
		if (r) {
			pthread_mutex_lock(&m->lock);
			m->alive--;
			pthread_mutex_unlock(&m->lock);
			free(arg);
			r = glue_err_sys(r, "cannot start vCPU thread");
			break;
		}
		snprintf(name, sizeof(name), "vcpu%u", i);
		pthread_setname_np(m->threads[i], name);
		started++;
		pthread_mutex_lock(&m->lock);
		m->nthreads = started;
		pthread_mutex_unlock(&m->lock);
	}
	if (r < 0)
		machine_end(m, GLUE_EXIT_ERROR);
	else if (!atomic_load(&m->stop_req))
		r = glue_loop_run(m->loop);
	if (r < 0)
		machine_end(m, GLUE_EXIT_ERROR);

	/* Stop kicking before joining: see kick_all(). */
	pthread_mutex_lock(&m->lock);
	while (m->alive > 0)
		pthread_cond_wait(&m->cond, &m->lock);
	m->nthreads = 0;
	pthread_mutex_unlock(&m->lock);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(m->threads[i], NULL);
#if GLUE_HAVE_SERIAL
	/* The guest's last words (a panic, a test's summary) matter most. */
	glue_console_flush(m->console, 1000);
#endif

	pthread_mutex_lock(&m->lock);
	m->state = GLUE_MACHINE_STOPPED;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return r < 0 && m->exit_code == GLUE_EXIT_OK ? r : m->exit_code;
}

static struct glue_virtio_dev *machine_virtio_dev(struct machine_virtio *v)
{
#if GLUE_HAVE_PCI
	if (v->pci)
		return glue_virtio_pci_dev(v->pci);
#endif
#if GLUE_HAVE_VIRTIO_MMIO
	if (v->mmio)
		return glue_virtio_mmio_dev(v->mmio);
#endif
	(void)v;
	return NULL;
}

static void kvmclock_ctrl(struct glue_machine *m)
{
	if (!glue_kvm_check_cap(m->kvm, KVM_CAP_KVMCLOCK_CTRL))
		return;
	/* Tells a guest using kvm-clock that it was paused, so it does not
	 * report soft lockups. EINVAL just means kvm-clock is not in use. */
	for (uint32_t i = 0; i < m->cfg.cpus; i++)
		ioctl(glue_vcpu_fd(m->vcpus[i]), KVM_KVMCLOCK_CTRL, 0);
}

static int pause_locked(struct glue_machine *m)
{
	pthread_mutex_lock(&m->lock);
	if (m->state == GLUE_MACHINE_PAUSED) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	if (m->state != GLUE_MACHINE_RUNNING) {
		enum glue_machine_state st = m->state;

		pthread_mutex_unlock(&m->lock);
		return glue_err(-EINVAL, "cannot pause a VM that is %s",
				glue_machine_state_name(st));
	}
	atomic_store(&m->pause_req, true);
	kick_all(m);
	while (m->parked < m->alive && !atomic_load(&m->stop_req))
		pthread_cond_wait(&m->cond, &m->lock);
	if (!atomic_load(&m->stop_req))
		m->state = GLUE_MACHINE_PAUSED;
	pthread_mutex_unlock(&m->lock);
	if (atomic_load(&m->stop_req))
		return glue_err(-ESHUTDOWN, "the VM stopped while pausing");
	/* vCPUs parked first: no kick reaches a device while it quiesces. */
	for (uint32_t i = 0; i < m->nvirtio; i++)
		if (machine_virtio_dev(&m->virtio[i]))
			glue_virtio_dev_pause(machine_virtio_dev(&m->virtio[i]));
	/* The guest's clock stops with it (as a suspended machine's would). */
	m->clock_saved = glue_vm_get_clock(m->vm, &m->paused_clock) == 0;
	kvmclock_ctrl(m);
	glue_machine_log(m, 1, "glue: paused");
	return 0;
}

static int resume_locked(struct glue_machine *m)
{
	pthread_mutex_lock(&m->lock);
	if (m->state == GLUE_MACHINE_RUNNING) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	if (m->state != GLUE_MACHINE_PAUSED) {
		enum glue_machine_state st = m->state;

		pthread_mutex_unlock(&m->lock);
		return glue_err(-EINVAL, "cannot resume a VM that is %s",
				glue_machine_state_name(st));
	}
	if (m->clock_saved && glue_vm_set_clock(m->vm, m->paused_clock) < 0)
		glue_machine_log(m, 0, "glue: warning: %s (the guest clock jumps)",
				 glue_error_last());
	m->clock_saved = false;
	for (uint32_t i = 0; i < m->nvirtio; i++)
		if (machine_virtio_dev(&m->virtio[i]))
			glue_virtio_dev_resume(machine_virtio_dev(&m->virtio[i]));
	atomic_store(&m->pause_req, false);
	m->state = GLUE_MACHINE_RUNNING;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	glue_machine_log(m, 1, "glue: resumed");
	return 0;
}

int glue_machine_pause(struct glue_machine *m)
{
	int r;

	pthread_mutex_lock(&m->life);
	r = pause_locked(m);
	pthread_mutex_unlock(&m->life);
	return r;
}

int glue_machine_resume(struct glue_machine *m)
{
	int r;

	pthread_mutex_lock(&m->life);
	r = resume_locked(m);
	pthread_mutex_unlock(&m->life);
	return r;
}

#if GLUE_HAVE_I8042
static int send_ctrl_alt_del(struct glue_machine *m)
{
	int r = glue_i8042_send_ctrl_alt_del(m->i8042);

	if (!r)
		glue_machine_log(m, 1, "glue: asked the guest to shut down (Ctrl-Alt-Del)");
	return r;
}
#endif

#if GLUE_HAVE_ACPI
/* An OS that handles the power button reads the GED's event register at
 * once; one that has not within this time never will. */
#define POWER_BUTTON_ACK_NS 1000000000ULL

static void power_button_check(struct glue_loop *loop, struct glue_timer *t, void *ctx)
{
	struct glue_machine *m = ctx;

	if (!glue_acpi_pm_power_pending(m->pm))
		return;
	glue_machine_log(m, 1, "glue: the guest did not take the ACPI power button");
#if GLUE_HAVE_I8042
	if (m->i8042 && glue_machine_state(m) == GLUE_MACHINE_STOPPING)
		send_ctrl_alt_del(m);
#endif
}

static int press_power_button(struct glue_machine *m)
{
	int r = glue_acpi_pm_press_power(m->pm);

	if (r < 0)
		return r;
	glue_machine_log(m, 1, "glue: pressed the ACPI power button");
	if (m->stop_timer)
		return glue_loop_set_timer(m->loop, m->stop_timer, POWER_BUTTON_ACK_NS, 0);
	return glue_loop_add_timer(m->loop, POWER_BUTTON_ACK_NS, 0, power_button_check, m,
				   &m->stop_timer);
}
#endif

/*
 * A graceful stop asks the guest: the ACPI power button first, and
 * Ctrl-Alt-Del through the i8042 when the guest does not take the button
 * (no ACPI) or the build has no ACPI. Without either, or when forced, the
 * VM ends at once.
 */
int glue_machine_stop(struct glue_machine *m, bool force)
{
	enum glue_machine_state st;
	bool can_ask = false;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	st = m->state;
	pthread_mutex_unlock(&m->lock);
	if (st == GLUE_MACHINE_STOPPED)
		return 0;
#if GLUE_HAVE_ACPI
	can_ask |= m->pm != NULL;
#endif
#if GLUE_HAVE_I8042
	can_ask |= m->i8042 != NULL;
#endif
	if (force || st == GLUE_MACHINE_CREATED || !can_ask) {
		machine_end(m, GLUE_EXIT_OK);
		return 0;
	}
	pthread_mutex_lock(&m->life);
	/* A paused guest cannot hear the request. */
	if (glue_machine_state(m) == GLUE_MACHINE_PAUSED)
		r = resume_locked(m);
	if (!r) {
		pthread_mutex_lock(&m->lock);
		if (m->state == GLUE_MACHINE_RUNNING)
			m->state = GLUE_MACHINE_STOPPING;
		pthread_mutex_unlock(&m->lock);
#if GLUE_HAVE_ACPI
		if (m->pm)
			r = press_power_button(m);
		else
#endif
			r = -ENODEV;
#if GLUE_HAVE_I8042
		if (r < 0 && m->i8042)
			r = send_ctrl_alt_del(m);
#endif
		pthread_mutex_lock(&m->lock);
		if (r < 0 && m->state == GLUE_MACHINE_STOPPING && !atomic_load(&m->stop_req))
			m->state = GLUE_MACHINE_RUNNING;
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(&m->life);
	return r;
}

enum glue_machine_state glue_machine_state(const struct glue_machine *m)
{
	enum glue_machine_state st;

	pthread_mutex_lock((pthread_mutex_t *)&m->lock);
	st = m->state;
	pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
	return st;
}

struct glue_loop *glue_machine_loop(struct glue_machine *m)
{
	return m->loop;
}

void glue_machine_free(struct glue_machine *m)
{
	if (!m)
		return;
	if (m->state == GLUE_MACHINE_RUNNING || m->state == GLUE_MACHINE_PAUSED ||
	    m->state == GLUE_MACHINE_STOPPING)
		machine_end(m, GLUE_EXIT_OK);
	for (uint32_t i = m->nplaced; i < m->npending; i++)
		m->pending[i].ops->free(m->pending[i].ctx);
	/* Device threads end before the memory and the VM they use go. */
	for (uint32_t i = 0; i < m->nvirtio; i++) {
#if GLUE_HAVE_VIRTIO_MMIO
		glue_virtio_mmio_free(m->virtio[i].mmio);
#endif
#if GLUE_HAVE_PCI
		glue_virtio_pci_free(m->virtio[i].pci);
#endif
		glue_irq_free(m->virtio[i].irq);
	}
#if GLUE_HAVE_PCI
	glue_pci_free(m->pcibus);
	glue_alloc_free(m->pci_window);
#endif
	for (uint32_t i = 0; m->vcpus && i < m->cfg.cpus; i++)
		glue_vcpu_free(m->vcpus[i]);
	free(m->vcpus);
	free(m->threads);
#if GLUE_HAVE_SERIAL
	glue_console_free(m->console);
	glue_serial_free(m->serial);
	glue_irq_free(m->serial_irq);
#endif
#if GLUE_HAVE_I8042
	glue_i8042_free(m->i8042);
	glue_irq_free(m->kbd_irq);
#endif
#if GLUE_HAVE_RTC
	glue_rtc_free(m->rtc);
	glue_irq_free(m->rtc_irq);
#endif
#if GLUE_HAVE_DEBUG_EXIT
	glue_debug_exit_free(m->debug_exit);
#endif
#if GLUE_HAVE_ACPI
	glue_acpi_pm_free(m->pm);
	glue_irq_free(m->pm_irq);
#endif
	glue_bus_free(m->pio);
	glue_bus_free(m->mmio);
	glue_alloc_free(m->alloc);
	glue_vm_free(m->vm);
	glue_mem_free(m->mem);
	glue_loop_free(m->loop);
	glue_kvm_free(m->kvm);
	free(m->kernel);
	free(m->initrd);
	glue_kernel_free(m->k);
	glue_cpu_model_free(m->cpu_model);
	free(m->cmdline);
	free(m->cpu);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->life);
	free(m);
}
