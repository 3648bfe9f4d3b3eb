/* SPDX-License-Identifier: MIT */
#ifndef GLUE_INTERNAL_KVM_H
#define GLUE_INTERNAL_KVM_H

#include <pthread.h>

#include <glue/kvm.h>

struct glue_kvm {
	int fd;
	int run_size;
	int max_vcpus;
};

/* An MSI route of the VM's GSI routing table (vm.c). */
struct vm_msi_route {
	bool used, set; /* GSI taken; pointed at a message */
	uint64_t addr;
	uint32_t data;
};

struct glue_vm {
	struct glue_kvm *kvm;
	int fd;
	/* GSI routing beyond the irqchip's pins: routes[i] is GSI 24 + i. */
	pthread_mutex_t routes_lock;
	struct vm_msi_route *routes;
	uint32_t nroutes;
};

#endif
