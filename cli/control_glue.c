// SPDX-License-Identifier: MIT
/* glue run's side of the lifecycle: its name and control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <glue/control.h>
#include <glue/error.h>
#include "cli.h"
#include "control_glue.h"

#define CMD "run"

struct cli_control {
	struct glue_control_server *srv;
};

int cli_control_check_name(const char *name)
{
	if (name && glue_control_name_check(name))
		return cli_error(GLUE_EXIT_USAGE, CMD, "%s", glue_error_last());
	return 0;
}

int cli_control_start(struct cli_control **out, struct glue_machine *m, const char *name,
		      const struct glue_machine_config *cfg)
{
	char generated[GLUE_CONTROL_NAME_MAX + 1];
	struct cli_control *c;
	int ret;

	*out = NULL;
	if (!name) {
		if (glue_control_default_name(generated, sizeof(generated)))
			return cli_error(GLUE_EXIT_ERROR, CMD, "%s", glue_error_last());
		name = generated;
	}
	ret = glue_control_runtime_dir_check(NULL, true);
	if (ret)
		return cli_error(GLUE_EXIT_RUNTIME_DIR, CMD, "%s", glue_error_last());
	c = calloc(1, sizeof(*c));
	if (!c)
		return cli_error(GLUE_EXIT_ERROR, CMD, "out of memory");
	ret = glue_control_serve_machine(&c->srv, m, cfg, NULL, name);
	if (ret) {
		free(c);
		/* What is left after the directory check is about the socket
		 * files in it (path too long, cannot bind...). */
		return cli_error(ret == -EADDRINUSE ? GLUE_EXIT_NAME_IN_USE
				 : ret == -EINVAL   ? GLUE_EXIT_USAGE
				 : ret == -ENOMEM   ? GLUE_EXIT_ERROR
						    : GLUE_EXIT_RUNTIME_DIR,
				 CMD, "%s", glue_error_last());
	}
	if (cli_globals.verbose)
		fprintf(stderr, "glue: VM name '%s' (control socket %s)\n", name,
			glue_control_server_path(c->srv));
	*out = c;
	return 0;
}

void cli_control_stop(struct cli_control *c)
{
	if (!c)
		return;
	glue_control_server_free(c->srv);
	free(c);
}
