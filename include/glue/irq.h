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

/* A GSI of the VM's in-kernel irqchip (KVM_IRQ_LINE). The VM must outlive
 * the line. Returns 0, -EINVAL or -ENOMEM. */
GLUE_API int glue_irq_new_kvm(struct glue_irq **out, struct glue_vm *vm, uint32_t gsi);

/* A line that calls set(ctx, level) for each glue_irq_set() (devices call
 * that only on changes; the line itself keeps no state): for tests and for
 * controllers emulated in user space. set's return value is passed back. */
typedef int (*glue_irq_set_fn)(void *ctx, int level);
GLUE_API int glue_irq_new_fn(struct glue_irq **out, glue_irq_set_fn set, void *ctx);

/* Accepts NULL. */
GLUE_API void glue_irq_free(struct glue_irq *irq);

/* Drive the line to level (0 or 1; any non-zero value is 1). Returns 0 or
 * the controller's negative errno. */
GLUE_API int glue_irq_set(struct glue_irq *irq, int level);
/* Edge: raise then lower (not lowered if raising failed). */
GLUE_API int glue_irq_pulse(struct glue_irq *irq);
/* GSI number, or UINT32_MAX for a line that is not a GSI. */
GLUE_API uint32_t glue_irq_gsi(const struct glue_irq *irq);

GLUE_END_DECLS

#endif
