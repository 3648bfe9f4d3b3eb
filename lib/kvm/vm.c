// SPDX-License-Identifier: MIT
/* A KVM VM: memory slots, the x86 in-kernel irqchip and PIT, irqfd/ioeventfd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glue/memory.h>
#include "core/err.h"
#include "kvm/kvm_internal.h"

int glue_vm_new(struct glue_vm **out, struct glue_kvm *kvm)
{
	struct glue_vm *vm;
	int fd;

	*out = NULL;
	fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
	if (fd < 0)
		return glue_err_sys(-errno, "KVM_CREATE_VM");
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		close(fd);
		return glue_err(-ENOMEM, "out of memory");
	}
	vm->kvm = kvm;
	vm->fd = fd;
	pthread_mutex_init(&vm->routes_lock, NULL);
	*out = vm;
	return 0;
}

void glue_vm_free(struct glue_vm *vm)
{
	if (!vm)
		return;
	close(vm->fd);
	pthread_mutex_destroy(&vm->routes_lock);
	free(vm->routes);
	free(vm);
}

int glue_vm_fd(const struct glue_vm *vm)
{
	return vm->fd;
}

struct glue_kvm *glue_vm_kvm(const struct glue_vm *vm)
{
	return vm->kvm;
}

int glue_vm_set_memslot(struct glue_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *host,
			uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return glue_err_sys(-errno, "KVM_SET_USER_MEMORY_REGION slot %u (0x%llx+0x%llx)",
				    slot, (unsigned long long)gpa, (unsigned long long)size);
	return 0;
}

int glue_vm_set_memory(struct glue_vm *vm, struct glue_mem *mem)
{
	size_t n = glue_mem_region_count(mem);
	int slots = glue_kvm_check_cap(vm->kvm, KVM_CAP_NR_MEMSLOTS);

	if (slots > 0 && n > (size_t)slots)
		return glue_err(-ENOSPC, "guest memory has %zu regions, KVM allows %d slots", n,
				slots);
	for (size_t i = 0; i < n; i++) {
		struct glue_mem_region r;
		int ret = glue_mem_region_get(mem, i, &r);

		if (!ret)
			ret = glue_vm_set_memslot(vm, (uint32_t)i, r.gpa, r.size, r.host, 0);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int glue_vm_setup_x86(struct glue_vm *vm)
{
	uint64_t identity = GLUE_X86_IDENTITY_MAP_ADDR;
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};

	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return glue_err_sys(-errno, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)GLUE_X86_TSS_ADDR) < 0)
		return glue_err_sys(-errno, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return glue_err_sys(-errno, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
		return glue_err_sys(-errno, "KVM_CREATE_PIT2");
	return 0;
}

int glue_vm_get_clock(struct glue_vm *vm, uint64_t *ns)
{
	struct kvm_clock_data c = {0};

	if (ioctl(vm->fd, KVM_GET_CLOCK, &c) < 0)
		return glue_err_sys(-errno, "KVM_GET_CLOCK");
	*ns = c.clock;
	return 0;
}

int glue_vm_set_clock(struct glue_vm *vm, uint64_t ns)
{
	struct kvm_clock_data c = {.clock = ns};

	if (ioctl(vm->fd, KVM_SET_CLOCK, &c) < 0)
		return glue_err_sys(-errno, "KVM_SET_CLOCK");
	return 0;
}

int glue_vm_irq_line(struct glue_vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		return glue_err_sys(-errno, "KVM_IRQ_LINE gsi %u", gsi);
	return 0;
}

static int irqfd(struct glue_vm *vm, int fd, uint32_t gsi, int resample_fd, uint32_t flags)
{
	struct kvm_irqfd req = {.fd = (uint32_t)fd, .gsi = gsi, .flags = flags};

	if (resample_fd >= 0) {
		req.flags |= KVM_IRQFD_FLAG_RESAMPLE;
		req.resamplefd = (uint32_t)resample_fd;
	}
	if (ioctl(vm->fd, KVM_IRQFD, &req) < 0)
		return glue_err_sys(-errno, "KVM_IRQFD gsi %u", gsi);
	return 0;
}

int glue_vm_irqfd(struct glue_vm *vm, int fd, uint32_t gsi, int resample_fd)
{
	return irqfd(vm, fd, gsi, resample_fd, 0);
}

int glue_vm_irqfd_remove(struct glue_vm *vm, int fd, uint32_t gsi)
{
	return irqfd(vm, fd, gsi, -1, KVM_IRQFD_FLAG_DEASSIGN);
}

int glue_vm_signal_msi(struct glue_vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	int r = ioctl(vm->fd, KVM_SIGNAL_MSI, &msi);

	/* 0: the guest blocked it (a masked vector at the LAPIC): not an error. */
	return r < 0 ? glue_err_sys(-errno, "KVM_SIGNAL_MSI") : 0;
}

static int ioeventfd(struct glue_vm *vm, uint64_t addr, uint32_t len, bool pio, int64_t datamatch,
		     int fd, uint32_t flags)
{
	struct kvm_ioeventfd req = {.addr = addr, .len = len, .fd = fd, .flags = flags};

	if (pio)
		req.flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (datamatch >= 0) {
		req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		req.datamatch = (uint64_t)datamatch;
	}
	if (ioctl(vm->fd, KVM_IOEVENTFD, &req) < 0)
		return glue_err_sys(-errno, "KVM_IOEVENTFD at %s 0x%llx", pio ? "port" : "address",
				    (unsigned long long)addr);
	return 0;
}

int glue_vm_ioeventfd(struct glue_vm *vm, uint64_t addr, uint32_t len, bool pio, int64_t datamatch,
		      int fd)
{
	return ioeventfd(vm, addr, len, pio, datamatch, fd, 0);
}

int glue_vm_ioeventfd_remove(struct glue_vm *vm, uint64_t addr, uint32_t len, bool pio,
			     int64_t datamatch, int fd)
{
	return ioeventfd(vm, addr, len, pio, datamatch, fd, KVM_IOEVENTFD_FLAG_DEASSIGN);
}

/* ---- MSI routes ---- */

/* GSIs of the irqchip (PIC and IOAPIC pins); MSI routes come after. */
#define IRQCHIP_GSIS 24
/* A bound well under KVM's (KVM_MAX_IRQ_ROUTES, 4096). */
#define MAX_MSI_ROUTES 1024

/*
 * KVM takes the routing table only whole, and a table replaces the default
 * one KVM_CREATE_IRQCHIP made: so the irqchip's pins are written again
 * exactly as KVM's default has them (GSI n: IOAPIC pin n, and for n < 16
 * the PIC pin n % 8 too), then every MSI route that points somewhere.
 * routes_lock held.
 */
static int routes_commit(struct glue_vm *vm)
{
	struct kvm_irq_routing *t;
	uint32_t n = 0;
	int r = 0;

	t = calloc(1, sizeof(*t) + (IRQCHIP_GSIS + 16 + vm->nroutes) * sizeof(t->entries[0]));
	if (!t)
		return glue_err(-ENOMEM, "out of memory");
	for (uint32_t gsi = 0; gsi < IRQCHIP_GSIS; gsi++) {
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi},
		};
		if (gsi < 16)
			t->entries[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								 : KVM_IRQCHIP_PIC_SLAVE,
					      .pin = gsi % 8},
			};
	}
	for (uint32_t i = 0; i < vm->nroutes; i++) {
		const struct vm_msi_route *m = &vm->routes[i];

		if (!m->used || !m->set)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = IRQCHIP_GSIS + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = {.address_lo = (uint32_t)m->addr,
				  .address_hi = (uint32_t)(m->addr >> 32),
				  .data = m->data},
		};
	}
	t->nr = n;
	if (ioctl(vm->fd, KVM_SET_GSI_ROUTING, t) < 0)
		r = glue_err_sys(-errno, "KVM_SET_GSI_ROUTING (%u entries)", n);
	free(t);
	return r;
}

int glue_vm_msi_route_add(struct glue_vm *vm, uint32_t *gsi)
{
	uint32_t i;
	int r = 0;

	pthread_mutex_lock(&vm->routes_lock);
	for (i = 0; i < vm->nroutes && vm->routes[i].used; i++)
		;
	if (i == vm->nroutes) {
		struct vm_msi_route *n;

		if (i == MAX_MSI_ROUTES) {
			r = glue_err(-ENOSPC, "all %d MSI routes are taken", MAX_MSI_ROUTES);
			goto out;
		}
		n = realloc(vm->routes, (i + 1) * sizeof(*n));
		if (!n) {
			r = glue_err(-ENOMEM, "out of memory");
			goto out;
		}
		vm->routes = n;
		vm->nroutes++;
	}
	vm->routes[i] = (struct vm_msi_route){.used = true};
	*gsi = IRQCHIP_GSIS + i;
out:
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

/* The route of gsi, or NULL; routes_lock held. */
static struct vm_msi_route *route_of(struct glue_vm *vm, uint32_t gsi)
{
	if (gsi < IRQCHIP_GSIS || gsi - IRQCHIP_GSIS >= vm->nroutes ||
	    !vm->routes[gsi - IRQCHIP_GSIS].used)
		return NULL;
	return &vm->routes[gsi - IRQCHIP_GSIS];
}

int glue_vm_msi_route_set(struct glue_vm *vm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct vm_msi_route *m, old;
	int r = 0;

	pthread_mutex_lock(&vm->routes_lock);
	m = route_of(vm, gsi);
	if (!m) {
		r = glue_err(-ENOENT, "GSI %u is not an MSI route", gsi);
	} else if (!m->set || m->addr != addr || m->data != data) {
		old = *m;
		m->set = true;
		m->addr = addr;
		m->data = data;
		r = routes_commit(vm);
		if (r < 0)
			*m = old;
	}
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

void glue_vm_msi_route_del(struct glue_vm *vm, uint32_t gsi)
{
	struct vm_msi_route *m;

	pthread_mutex_lock(&vm->routes_lock);
	m = route_of(vm, gsi);
	if (m) {
		bool was_set = m->set;

		*m = (struct vm_msi_route){0};
		if (was_set)
			routes_commit(vm); /* a failure leaves a route nobody fires */
	}
	pthread_mutex_unlock(&vm->routes_lock);
}
