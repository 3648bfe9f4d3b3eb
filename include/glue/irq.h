/* SPDX-License-Identifier: MIT */
/*
 * Interrupt lines. A device is given a line to raise and lower, not the VM,
 * so it can be tested with a fake line and reused with any interrupt
 * controller.
 *
 * Thread-safety: glue_irq_set() may be called from any thread.
 */
#ifndef GLUE_IRQ_H
#define GLUE_IRQ_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_irq;
struct glue_vm;

/* A GSI of the VM's in-kernel irqchip (KVM_IRQ_LINE). */
GLUE_API int glue_irq_new_kvm(struct glue_irq **out, struct glue_vm *vm, uint32_t gsi);

/* A line that calls set(ctx, level) on every change: for tests and for
 * controllers emulated in user space. */
typedef int (*glue_irq_set_fn)(void *ctx, int level);
GLUE_API int glue_irq_new_fn(struct glue_irq **out, glue_irq_set_fn set, void *ctx);

GLUE_API void glue_irq_free(struct glue_irq *irq);

/* Drive the line to level (0 or 1). */
GLUE_API int glue_irq_set(struct glue_irq *irq, int level);
/* Edge: raise then lower. */
GLUE_API int glue_irq_pulse(struct glue_irq *irq);
/* GSI number, or UINT32_MAX for a line that is not a GSI. */
GLUE_API uint32_t glue_irq_gsi(const struct glue_irq *irq);

GLUE_END_DECLS

#endif
