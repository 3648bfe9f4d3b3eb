// SPDX-License-Identifier: MIT
/*
 * glue stop: ask the guest to shut down, force the VM after a timeout, and
 * return only once its process is gone.
 *
 * The process is tracked through a pidfd opened on the pid SO_PEERCRED gave
 * for the VM's own socket, so a recycled pid is never waited on or killed.
 * With --all every VM is asked first and waited for together.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <glue/control.h>
#include <glue/error.h>
#include "cli.h"

#define CMD "stop"
#define DEFAULT_TIMEOUT_S 30
#define CALL_TIMEOUT_MS 5000 /* for the VM to answer a STOP */
#define FORCE_WAIT_MS 5000   /* for a forced VM to end before SIGKILL */
#define KILL_WAIT_MS 5000    /* for SIGKILL to take effect */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: glue stop (-n NAME | -a) [--force] [--timeout SECONDS]\n\n"
		"Shut a VM down: ask the guest (the ACPI power button, or Ctrl-Alt-Del\n"
		"for a guest without ACPI), and if the VM has not\n"
		"ended after the timeout, end it. Returns once the VM's process is gone.\n\n"
		"options:\n  -n, --name NAME        the VM to stop\n"
		"  -a, --all              every VM of this user\n"
		"  -f, --force            end the VM at once instead of asking the guest\n"
		"  -t, --timeout SECONDS  how long the guest gets to shut down (default %d)\n"
		"  -h, --help             show this help\n\n"
		"A VM that does not answer a forced stop within %d s is killed (SIGKILL).\n"
		"Prints 'NAME: stopped' for each VM.\n"
		"Exit status: 0, 2 usage, 10 no such VM, 11 not responding (and could not\n"
		"be killed), 12 permission denied, 13 runtime directory unusable.\n",
		DEFAULT_TIMEOUT_S, FORCE_WAIT_MS / 1000);
}

struct target {
	char name[GLUE_CONTROL_NAME_MAX + 1];
	struct glue_control_client *c;
	int pid;
	int pidfd; /* -1 where pidfds are unavailable: then kill(pid, 0) */
	bool gone;
	bool waiting; /* the current phase waits for this one to end */
	bool deaf;    /* did not answer in time: asking again is pointless */
	int status;   /* exit status once settled; -1 while in progress */
};

struct targets {
	struct target *v;
	size_t n, cap;
};

static int add_target(struct targets *t, const char *name)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct target *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	memset(&t->v[t->n], 0, sizeof(t->v[0]));
	snprintf(t->v[t->n].name, sizeof(t->v[0].name), "%s", name);
	t->v[t->n].pidfd = -1;
	t->v[t->n].status = -1;
	t->n++;
	return 0;
}

static int list_cb(void *ctx, const struct glue_control_entry *e)
{
	return add_target(ctx, e->name);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pidfd_open_(int pid)
{
#ifdef SYS_pidfd_open
	return syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* Has the VM's process ended? */
static bool is_gone(struct target *t)
{
	struct pollfd p = {.fd = t->pidfd, .events = POLLIN};

	if (!t->gone) {
		if (t->pidfd >= 0)
			t->gone = poll(&p, 1, 0) == 1;
		else
			t->gone = kill(t->pid, 0) && errno == ESRCH;
	}
	return t->gone;
}

/* Wait until every target still in progress and waited for has ended or
 * deadline passes. Returns true when all have ended. */
static bool wait_all(struct targets *t, int64_t deadline)
{
	for (;;) {
		bool all = true;

		for (size_t i = 0; i < t->n; i++)
			if (t->v[i].status < 0 && t->v[i].waiting && !is_gone(&t->v[i]))
				all = false;
		if (all)
			return true;
		if (now_ms() >= deadline)
			return false;
		/* Pidfds could be polled together; a short sleep keeps the
		 * kill(pid, 0) fallback on the same path. */
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
}

/* Connect and pin the process down. Sets status on failure. */
static void attach(struct target *t)
{
	int ret = glue_control_connect(&t->c, NULL, t->name);

	if (ret) {
		t->status = cli_error(glue_control_exit_status(ret), CMD, "%s", glue_error_last());
		return;
	}
	t->pid = glue_control_client_pid(t->c);
	t->pidfd = pidfd_open_(t->pid);
	if (t->pidfd < 0 && errno == ESRCH)
		t->gone = true;
}

/* Send STOP; false when the VM did not take it (the caller escalates). */
static bool send_stop(struct target *t, bool force, int timeout_ms)
{
	const struct glue_control_request req = {.cmd = GLUE_CONTROL_STOP, .force = force};
	struct glue_control_response resp;
	int ret;

	if (is_gone(t))
		return true;
	if (!t->c) {
		/* A broken connection from an earlier attempt. */
		ret = glue_control_connect(&t->c, NULL, t->name);
		if (ret == -ENOENT)
			return true; /* it went away: is_gone() will confirm */
		if (ret)
			goto fail;
	}
	ret = glue_control_call(t->c, &req, &resp, timeout_ms);
	if (ret == 0)
		return true;
	if (glue_control_exit_status(ret) == GLUE_EXIT_NOT_RESPONDING)
		t->deaf = true;
fail:
	fprintf(stderr, "glue %s: %s\n", CMD, glue_error_last());
	glue_control_client_free(t->c);
	t->c = NULL;
	return false;
}

static void finish(struct target *t)
{
	/* A VM that was killed leaves its socket and lock behind. */
	glue_control_remove_stale(NULL, t->name);
	printf("%s: stopped\n", t->name);
	fflush(stdout);
	t->status = 0;
}

static int stop_targets(struct targets *t, bool force, uint64_t timeout_s)
{
	int status = 0;
	size_t i;

	for (i = 0; i < t->n; i++)
		attach(&t->v[i]);

	if (!force) {
		/* The answer should come at once; a VM that does not give it
		 * within the (short) timeout the user chose is not waited for. */
		int call_ms = (int)(timeout_s * 1000 < 1000		 ? 1000
				    : timeout_s * 1000 > CALL_TIMEOUT_MS ? CALL_TIMEOUT_MS
									 : timeout_s * 1000);

		/* One that refuses is forced below without waiting for it. */
		for (i = 0; i < t->n; i++)
			if (t->v[i].status < 0)
				t->v[i].waiting = send_stop(&t->v[i], false, call_ms);
		wait_all(t, now_ms() + (int64_t)timeout_s * 1000);
		for (i = 0; i < t->n; i++)
			if (t->v[i].status < 0 && is_gone(&t->v[i]))
				finish(&t->v[i]);
	}

	for (i = 0; i < t->n; i++) {
		struct target *v = &t->v[i];

		if (v->status >= 0 || v->deaf)
			continue;
		if (v->waiting)
			fprintf(stderr,
				"glue %s: VM '%s' did not shut down within %llu s; forcing it\n",
				CMD, v->name, (unsigned long long)timeout_s);
		v->waiting = send_stop(v, true, CALL_TIMEOUT_MS);
	}
	wait_all(t, now_ms() + FORCE_WAIT_MS);

	for (i = 0; i < t->n; i++) {
		struct target *v = &t->v[i];

		if (v->status >= 0)
			continue;
		if (is_gone(v)) {
			finish(v);
			continue;
		}
		fprintf(stderr, "glue %s: VM '%s' did not end; killing pid %d\n", CMD, v->name,
			v->pid);
#ifdef SYS_pidfd_send_signal
		if (v->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, v->pidfd, SIGKILL, NULL, 0)
				  : kill(v->pid, SIGKILL))
#else
		if (kill(v->pid, SIGKILL))
#endif
		{
			if (errno == ESRCH) {
				v->gone = true;
				continue;
			}
			v->status =
				cli_error(errno == EPERM ? GLUE_EXIT_PERMISSION : GLUE_EXIT_ERROR,
					  CMD, "cannot kill VM '%s' (pid %d): %s", v->name, v->pid,
					  strerror(errno));
		}
	}
	for (i = 0; i < t->n; i++)
		t->v[i].waiting = true;
	wait_all(t, now_ms() + KILL_WAIT_MS);

	for (i = 0; i < t->n; i++) {
		struct target *v = &t->v[i];

		if (v->status < 0) {
			if (is_gone(v))
				finish(v);
			else
				v->status =
					cli_error(GLUE_EXIT_NOT_RESPONDING, CMD,
						  "VM '%s' (pid %d) is still running after SIGKILL",
						  v->name, v->pid);
		}
		/* Under --all, one that ended by itself meanwhile is no error. */
		if (v->status && !(t->n > 1 && v->status == GLUE_EXIT_NO_SUCH_VM) && !status)
			status = v->status;
		glue_control_client_free(v->c);
		if (v->pidfd >= 0)
			close(v->pidfd);
	}
	return status;
}

int cmd_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'}, {"all", no_argument, NULL, 'a'},
		{"force", no_argument, NULL, 'f'},	{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},	{0},
	};
	struct targets t = {0};
	const char *name = NULL;
	uint64_t timeout_s = DEFAULT_TIMEOUT_S;
	bool all = false, force = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "n:aft:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 't':
			if (!cli_parse_u64(optarg, &timeout_s) || timeout_s > 24 * 3600)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid timeout '%s' (seconds, 0 to 86400)",
						 optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'glue stop --help'.\n");
			return GLUE_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_error(GLUE_EXIT_USAGE, CMD,
				 "unexpected argument '%s'. Try 'glue stop --help'.", argv[optind]);
	ret = cli_check_target(CMD, name, all);
	if (ret >= 0)
		return ret;

	if (name)
		ret = add_target(&t, name);
	else
		ret = glue_control_list(NULL, list_cb, &t);
	if (ret) {
		free(t.v);
		if (ret == -ENOMEM)
			return cli_error(GLUE_EXIT_ERROR, CMD, "out of memory");
		return cli_error(GLUE_EXIT_RUNTIME_DIR, CMD, "%s", glue_error_last());
	}
	ret = stop_targets(&t, force, timeout_s);
	free(t.v);
	return ret;
}
