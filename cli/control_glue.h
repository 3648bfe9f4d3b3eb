/* SPDX-License-Identifier: MIT */
/* glue run's side of the lifecycle: its name and control socket. */
#ifndef GLUE_CLI_CONTROL_GLUE_H
#define GLUE_CLI_CONTROL_GLUE_H

#include <glue/machine.h>

struct cli_control;

/* Validate a -n name before anything is built (NULL: a name is generated).
 * Returns 0 or an exit status after printing the problem. */
int cli_control_check_name(const char *name);
/* Serve the VM's control socket on its event loop. Returns 0 or an exit
 * status after printing the problem. */
int cli_control_start(struct cli_control **out, struct glue_machine *m, const char *name,
		      const struct glue_machine_config *cfg);
void cli_control_stop(struct cli_control *c);

#endif
