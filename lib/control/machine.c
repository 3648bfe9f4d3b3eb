// SPDX-License-Identifier: MIT
/* glue_control_serve_machine(): the control ops of a glue_machine. */
#include <stdlib.h>

#include <glue/machine.h>
#include "core/err.h"
#include "control/server.h"

struct machine_ctx {
	struct glue_machine *m;
	uint32_t cpus;
	uint64_t mem_bytes;
};

static int m_info(void *ctx, struct glue_control_info *out)
{
	struct machine_ctx *mc = ctx;

	out->state = glue_machine_state(mc->m);
	out->cpus = mc->cpus;
	out->mem_bytes = mc->mem_bytes;
	out->nnics = 0;
	while (out->nnics < GLUE_MACHINE_MAX_NICS &&
	       glue_machine_nic_info(mc->m, out->nnics, &out->nics[out->nnics]) == 0)
		out->nnics++;
	return 0;
}

static int m_pause(void *ctx)
{
	return glue_machine_pause(((struct machine_ctx *)ctx)->m);
}

static int m_resume(void *ctx)
{
	return glue_machine_resume(((struct machine_ctx *)ctx)->m);
}

static int m_stop(void *ctx, bool force)
{
	struct machine_ctx *mc = ctx;
	int ret;

	/* A paused guest would never see the power button. */
	if (!force && glue_machine_state(mc->m) == GLUE_MACHINE_PAUSED) {
		ret = glue_machine_resume(mc->m);
		if (ret)
			return ret;
	}
	return glue_machine_stop(mc->m, force);
}

static const struct glue_control_ops machine_ops = {
	.info = m_info,
	.pause = m_pause,
	.resume = m_resume,
	.stop = m_stop,
};

int glue_control_serve_machine(struct glue_control_server **out, struct glue_machine *m,
			       const struct glue_machine_config *cfg, const char *runtime_dir,
			       const char *name)
{
	struct machine_ctx *mc;

	*out = NULL;
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return glue_err(-ENOMEM, "out of memory");
	mc->m = m;
	mc->cpus = cfg->cpus;
	mc->mem_bytes = cfg->mem_bytes;
	return glue_control_server_new_owned(out, glue_machine_loop(m), runtime_dir, name,
					     &machine_ops, mc, mc);
}
