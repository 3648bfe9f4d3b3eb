// SPDX-License-Identifier: MIT
/*
 * Interrupt lines: either a GSI of KVM's in-kernel irqchip or a callback.
 * The line keeps no state of its own (no "current level" cache): two threads
 * setting it concurrently would make such a cache lie, and devices already
 * call it only on changes.
 */
#include <stdlib.h>

#include <glue/irq.h>
#include <glue/kvm.h>
#include "core/err.h"

struct glue_irq {
	glue_irq_set_fn set;
	void *ctx;
	struct glue_vm *vm; /* non-NULL for a KVM line */
	uint32_t gsi;
};

static int irq_alloc(struct glue_irq **out)
{
	if (!out)
		return glue_err(-EINVAL, "irq: no output pointer");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return glue_err(-ENOMEM, "irq: out of memory");
	return 0;
}

int glue_irq_new_kvm(struct glue_irq **out, struct glue_vm *vm, uint32_t gsi)
{
	int ret;

	if (!vm)
		return glue_err(-EINVAL, "irq: GSI %u: no VM", gsi);
	ret = irq_alloc(out);
	if (ret)
		return ret;
	(*out)->vm = vm;
	(*out)->gsi = gsi;
	return 0;
}

int glue_irq_new_fn(struct glue_irq **out, glue_irq_set_fn set, void *ctx)
{
	int ret;

	if (!set)
		return glue_err(-EINVAL, "irq: no set function");
	ret = irq_alloc(out);
	if (ret)
		return ret;
	(*out)->set = set;
	(*out)->ctx = ctx;
	(*out)->gsi = UINT32_MAX;
	return 0;
}

void glue_irq_free(struct glue_irq *irq)
{
	free(irq);
}

int glue_irq_set(struct glue_irq *irq, int level)
{
	if (!irq)
		return glue_err(-EINVAL, "irq: no line");
	level = level != 0;
	if (irq->vm)
		return glue_vm_irq_line(irq->vm, irq->gsi, level);
	return irq->set(irq->ctx, level);
}

int glue_irq_pulse(struct glue_irq *irq)
{
	int ret = glue_irq_set(irq, 1);

	if (ret)
		return ret;
	return glue_irq_set(irq, 0);
}

uint32_t glue_irq_gsi(const struct glue_irq *irq)
{
	return irq ? irq->gsi : UINT32_MAX;
}
