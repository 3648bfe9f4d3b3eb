// SPDX-License-Identifier: MIT
/* glue pause / glue resume: stop or continue a VM's vCPUs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glue/control.h>
#include <glue/error.h>
#include "cli.h"

/* Pausing waits for every vCPU to park, which an emulated guest can make
 * slow; a VM that takes longer than this is reported as not responding. */
#define CALL_TIMEOUT_MS 10000

static void usage(FILE *f, const char *cmd)
{
	bool pause = !strcmp(cmd, "pause");

	fprintf(f,
		"usage: glue %s (-n NAME | -a)\n\n%s\n\noptions:\n  -n, --name NAME  the VM to %s\n"
		"  -a, --all        every VM of this user\n  -h, --help       show this help\n\n"
		"Prints 'NAME: STATE' for each VM. %s\n"
		"Exit status: 0, 2 usage, 10 no such VM, 11 not responding,\n"
		"12 permission denied, 13 runtime directory unusable.\n",
		cmd,
		pause ? "Pause a VM: stop all its vCPUs until 'glue resume'."
		      : "Resume a VM paused with 'glue pause'.",
		cmd,
		pause ? "Pausing a paused VM is not an error."
		      : "Resuming a running VM is not an error.");
}

struct names {
	const char *cmd;
	char (*v)[GLUE_CONTROL_NAME_MAX + 1];
	size_t n, cap;
	int status; /* of the first VM that could not be asked */
};

static int add_name(void *ctx, const struct glue_control_entry *e)
{
	struct names *names = ctx;
	int ret;

	/* Listing already asked it and got nothing: do not wait again. */
	if (e->status) {
		ret = cli_error(glue_control_exit_status(e->status), names->cmd, "%s", e->error);
		if (!names->status)
			names->status = ret;
		return 0;
	}

	if (names->n == names->cap) {
		size_t cap = names->cap ? names->cap * 2 : 8;
		void *v = realloc(names->v, cap * sizeof(*names->v));

		if (!v)
			return -ENOMEM;
		names->v = v;
		names->cap = cap;
	}
	snprintf(names->v[names->n++], sizeof(*names->v), "%s", e->name);
	return 0;
}

static int one(const char *cmd, enum glue_control_cmd op, const char *name)
{
	const struct glue_control_request req = {.cmd = op};
	struct glue_control_response resp;
	struct glue_control_client *c;
	int ret;

	ret = glue_control_connect(&c, NULL, name);
	if (!ret) {
		ret = glue_control_call(c, &req, &resp, CALL_TIMEOUT_MS);
		glue_control_client_free(c);
	}
	if (ret)
		return cli_error(glue_control_exit_status(ret), cmd, "%s", glue_error_last());
	printf("%s: %s\n", name, glue_control_state_name(resp.state));
	return 0;
}

static int pause_resume(int argc, char **argv, enum glue_control_cmd op)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *cmd = op == GLUE_CONTROL_PAUSE ? "pause" : "resume", *name = NULL;
	struct names names = {.cmd = cmd};
	bool all = false;
	int c, ret, status = 0;

	while ((c = getopt_long(argc, argv, "n:ah", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			usage(stdout, cmd);
			return 0;
		default:
			fprintf(stderr, "Try 'glue %s --help'.\n", cmd);
			return GLUE_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_error(GLUE_EXIT_USAGE, cmd,
				 "unexpected argument '%s'. Try 'glue %s --help'.", argv[optind],
				 cmd);
	ret = cli_check_target(cmd, name, all);
	if (ret >= 0)
		return ret;
	if (name)
		return one(cmd, op, name);

	ret = glue_control_list(NULL, add_name, &names);
	if (ret) {
		free(names.v);
		if (ret == -ENOMEM)
			return cli_error(GLUE_EXIT_ERROR, cmd, "out of memory");
		return cli_error(GLUE_EXIT_RUNTIME_DIR, cmd, "%s", glue_error_last());
	}
	/* Go on past a failure; report the first one's status. */
	status = names.status;
	for (size_t i = 0; i < names.n; i++) {
		ret = one(cmd, op, names.v[i]);
		if (ret == GLUE_EXIT_NO_SUCH_VM)
			continue; /* it ended meanwhile: nothing to do */
		if (ret && !status)
			status = ret;
	}
	free(names.v);
	return status;
}

int cmd_pause(int argc, char **argv)
{
	return pause_resume(argc, argv, GLUE_CONTROL_PAUSE);
}

int cmd_resume(int argc, char **argv)
{
	return pause_resume(argc, argv, GLUE_CONTROL_RESUME);
}
