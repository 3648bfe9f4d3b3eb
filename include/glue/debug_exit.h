/* SPDX-License-Identifier: MIT */
/*
 * Debug-exit port: a one-register device through which a test guest ends the
 * VM with a status (as QEMU's isa-debug-exit). A write of value v calls
 * exit_fn(ctx, v). glue maps v = 0 to exit status 0 and any other v to
 * GLUE_EXIT_GUEST_FAILED.
 *
 * Thread-safety: may be called from any thread.
 */
#ifndef GLUE_DEBUG_EXIT_H
#define GLUE_DEBUG_EXIT_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_debug_exit;
struct glue_bus;

#define GLUE_DEBUG_EXIT_PORT 0x501

typedef void (*glue_debug_exit_fn)(void *ctx, uint32_t value);

/* fn is required; it is called from the writing vCPU's thread. Returns 0,
 * -EINVAL or -ENOMEM. */
GLUE_API int glue_debug_exit_new(struct glue_debug_exit **out, glue_debug_exit_fn fn, void *ctx);
/* Unregisters from the bus (which must still exist). Accepts NULL. */
GLUE_API void glue_debug_exit_free(struct glue_debug_exit *dev);
/* Registers ports port..port+3 on a port I/O bus, so that 1- to 4-byte
 * writes at port are accepted; writes elsewhere in them are ignored, reads
 * return 0xff. -EBUSY if already attached. */
GLUE_API int glue_debug_exit_attach(struct glue_debug_exit *dev, struct glue_bus *pio,
				    uint64_t port);

GLUE_END_DECLS

#endif
