/* SPDX-License-Identifier: MIT */
#ifndef GLUE_INTERNAL_KVM_H
#define GLUE_INTERNAL_KVM_H

#include <glue/kvm.h>

struct glue_kvm {
	int fd;
	int run_size;
	int max_vcpus;
};

struct glue_vm {
	struct glue_kvm *kvm;
	int fd;
};

#endif
