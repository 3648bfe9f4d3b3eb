// SPDX-License-Identifier: MIT
/* What every network backend shares. */
#include <string.h>

#include <glue/net.h>

void glue_net_backend_free(struct glue_net_backend *b)
{
	if (!b || !b->ops)
		return;
	if (b->ops->free)
		b->ops->free(b->ctx);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}
