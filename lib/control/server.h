/* SPDX-License-Identifier: MIT */
/* Internal server entry point shared with machine.c. */
#ifndef GLUE_INTERNAL_CONTROL_SERVER_H
#define GLUE_INTERNAL_CONTROL_SERVER_H

#include <glue/control.h>

/* glue_control_server_new() that also takes ownership of `owned` (free()d
 * with the server, or at once on failure). */
int glue_control_server_new_owned(struct glue_control_server **out, struct glue_loop *loop,
				  const char *runtime_dir, const char *name,
				  const struct glue_control_ops *ops, void *ctx, void *owned);

#endif
