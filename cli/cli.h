/* SPDX-License-Identifier: MIT */
/* The glue command: one file per subcommand (cmd_<name>.c). */
#ifndef GLUE_CLI_H
#define GLUE_CLI_H

#include <glue/machine.h>

/* Global options, parsed before the subcommand. */
struct cli_globals {
	int verbose; /* number of -v */
};

extern struct cli_globals cli_globals;

/* Each returns the process exit status (enum glue_exit). argv[0] is the
 * subcommand's name. */
int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_stop(int argc, char **argv);

/* "glue <cmd>: <message>" on stderr; returns status. */
int cli_error(int status, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * For commands that act on "-n NAME | -a": check that exactly one was given,
 * the name, and the runtime directory. Returns -1 to go on, else the exit
 * status to return at once (0 for -a when no VM ever ran), after printing
 * the problem.
 */
int cli_check_target(const char *cmd, const char *name, bool all);
/* Parse a non-negative decimal number; false on junk or overflow. */
bool cli_parse_u64(const char *s, uint64_t *out);

#endif
