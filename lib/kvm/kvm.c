// SPDX-License-Identifier: MIT
/*
 * /dev/kvm: open it, and decide whether it can run glue's VMs by asking KVM
 * for each capability (never by looking at host CPU flags: a PVM host has no
 * vmx/svm and still runs VMs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/err.h"
#include "kvm/kvm_internal.h"

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
	{KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
};

int glue_kvm_open(struct glue_kvm **out, const char *path)
{
	struct glue_kvm *kvm;
	int fd, version, r;

	*out = NULL;
	if (!path)
		path = "/dev/kvm";
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return glue_err(r, "cannot open %s: no such device (is the kvm module loaded?)",
					path);
		if (r == -EACCES)
			return glue_err(r, "cannot open %s: permission denied (are you in the kvm group?)",
					path);
		return glue_err_sys(r, "cannot open %s", path);
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		close(fd);
		return glue_err(-ENOTSUP, "%s: KVM API version %d, glue needs %d", path, version,
				KVM_API_VERSION);
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			close(fd);
			return glue_err(-ENOTSUP, "%s: KVM lacks %s, which glue needs", path,
					required_caps[i].name);
		}
	}

	kvm = calloc(1, sizeof(*kvm));
	if (!kvm) {
		close(fd);
		return glue_err(-ENOMEM, "out of memory");
	}
	kvm->fd = fd;
	kvm->run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_size < (int)sizeof(struct kvm_run)) {
		r = glue_err(-ENOTSUP, "%s: bad KVM_GET_VCPU_MMAP_SIZE %d", path, kvm->run_size);
		glue_kvm_free(kvm);
		return r;
	}
	kvm->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4; /* the API's documented minimum */
	*out = kvm;
	return 0;
}

void glue_kvm_free(struct glue_kvm *kvm)
{
	if (!kvm)
		return;
	close(kvm->fd);
	free(kvm);
}

int glue_kvm_fd(const struct glue_kvm *kvm)
{
	return kvm->fd;
}

int glue_kvm_check_cap(const struct glue_kvm *kvm, int cap)
{
	int r = ioctl(kvm->fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

int glue_kvm_max_vcpus(const struct glue_kvm *kvm)
{
	return kvm->max_vcpus;
}

int glue_kvm_vcpu_mmap_size(const struct glue_kvm *kvm)
{
	return kvm->run_size;
}

/*
 * What KVM emulates but leaves out of KVM_GET_SUPPORTED_CPUID, saying so by
 * a capability instead: the LAPIC's TSC-deadline timer mode (leaf 1, ECX bit
 * 24). Without it a Linux guest programs its timer through the one-shot
 * count, calibrated against another clock, which is slow and inexact.
 */
static void add_cap_features(const struct glue_kvm *kvm, struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1 && c->entries[i].index == 0 &&
		    glue_kvm_check_cap(kvm, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
			c->entries[i].ecx |= 1U << 24;
}

int glue_kvm_supported_cpuid(const struct glue_kvm *kvm, struct kvm_cpuid2 **out)
{
	/* KVM says E2BIG until the buffer is large enough. */
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return glue_err(-ENOMEM, "out of memory");
		c->nent = n;
		if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			add_cap_features(kvm, c);
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return glue_err_sys(-errno, "KVM_GET_SUPPORTED_CPUID");
	}
	return glue_err(-E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}
