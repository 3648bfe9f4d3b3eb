// SPDX-License-Identifier: MIT
/* glue list: the VMs of this user, as a table or JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glue/control.h>
#include <glue/error.h>
#include "cli.h"

#define CMD "list"

static void usage(FILE *f)
{
	fprintf(f, "usage: glue list [--json] [--timeout SECONDS]\n\n"
		   "List this user's running VMs ($XDG_RUNTIME_DIR/glue, else ~/.glue).\n"
		   "Sockets left by VMs that died are removed and not listed.\n\noptions:\n"
		   "  -j, --json             print a JSON array of objects instead of a table\n"
		   "                         (with each VM's NICs and forwarded ports)\n"
		   "  -t, --timeout SECONDS  how long each VM has to answer before it is\n"
		   "                         listed as not-responding (default 1, at most 600)\n"
		   "  -h, --help             show this help\n\n"
		   "Columns: NAME PID STATE CPUS MEM UPTIME. STATE is running, paused,\n"
		   "stopping..., or not-responding (alive but not answering) or\n"
		   "permission-denied.\nExit status: 0, 2 usage, 13 runtime directory unusable.\n");
}

struct row {
	char name[GLUE_CONTROL_NAME_MAX + 1];
	int status;
	char error[256];
	int pid;
	struct glue_control_info info;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static int collect(void *ctx, const struct glue_control_entry *e)
{
	struct rows *rows = ctx;
	struct row *r;

	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 8;
		struct row *v = realloc(rows->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rows->v = v;
		rows->cap = cap;
	}
	r = &rows->v[rows->n++];
	snprintf(r->name, sizeof(r->name), "%s", e->name);
	r->status = e->status;
	snprintf(r->error, sizeof(r->error), "%s", e->error);
	r->pid = e->pid;
	r->info = e->info;
	return 0;
}

static const char *state_of(const struct row *r)
{
	if (r->status == -EACCES || r->status == -EPERM)
		return "permission-denied";
	if (r->status)
		return "not-responding";
	return glue_control_state_name(r->info.state);
}

static void fmt_mem(char *buf, size_t len, uint64_t bytes)
{
	const uint64_t mib = 1024 * 1024, gib = mib * 1024;

	if (bytes && bytes % gib == 0)
		snprintf(buf, len, "%" PRIu64 "G", bytes / gib);
	else if (bytes && bytes % mib == 0)
		snprintf(buf, len, "%" PRIu64 "M", bytes / mib);
	else
		snprintf(buf, len, "%" PRIu64, bytes);
}

static void fmt_uptime(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
}

static void print_table(const struct rows *rows)
{
	char pid[16], cpus[16], mem[32], up[32];
	int wn = 4, ws = 5;

	for (size_t i = 0; i < rows->n; i++) {
		int n = strlen(rows->v[i].name), s = strlen(state_of(&rows->v[i]));

		wn = n > wn ? n : wn;
		ws = s > ws ? s : ws;
	}
	printf("%-*s  %7s  %-*s  %4s  %6s  %s\n", wn, "NAME", "PID", ws, "STATE", "CPUS", "MEM",
	       "UPTIME");
	for (size_t i = 0; i < rows->n; i++) {
		const struct row *r = &rows->v[i];

		if (r->pid)
			snprintf(pid, sizeof(pid), "%d", r->pid);
		else
			strcpy(pid, "-");
		if (r->status) {
			strcpy(cpus, "-");
			strcpy(mem, "-");
			strcpy(up, "-");
		} else {
			snprintf(cpus, sizeof(cpus), "%u", (unsigned)r->info.cpus);
			fmt_mem(mem, sizeof(mem), r->info.mem_bytes);
			fmt_uptime(up, sizeof(up), r->info.uptime_ms);
		}
		printf("%-*s  %7s  %-*s  %4s  %6s  %s\n", wn, r->name, pid, ws, state_of(r), cpus,
		       mem, up);
	}
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_nics(const struct glue_control_info *info)
{
	printf(", \"nics\": [");
	for (uint32_t n = 0; n < info->nnics; n++) {
		const struct glue_machine_nic_info *nic = &info->nics[n];

		printf("%s{\"backend\": ", n ? ", " : "");
		json_string(nic->backend);
		printf(", \"mac\": ");
		json_string(nic->mac);
		if (nic->ifname[0]) {
			printf(", \"ifname\": ");
			json_string(nic->ifname);
		}
		if (!strcmp(nic->backend, "user"))
			printf(", \"restricted\": %s", nic->restricted ? "true" : "false");
		else
			printf(", \"vhost\": %s", nic->vhost ? "true" : "false");
		printf(", \"hostfwd\": [");
		for (uint32_t k = 0; k < nic->nhostfwd; k++) {
			if (k)
				printf(", ");
			json_string(nic->hostfwd[k]);
		}
		printf("]}");
	}
	putchar(']');
}

static void print_json(const struct rows *rows)
{
	putchar('[');
	for (size_t i = 0; i < rows->n; i++) {
		const struct row *r = &rows->v[i];

		printf("%s\n  {\"name\": ", i ? "," : "");
		json_string(r->name);
		if (r->pid)
			printf(", \"pid\": %d", r->pid);
		else
			printf(", \"pid\": null");
		printf(", \"state\": ");
		json_string(state_of(r));
		if (r->status) {
			printf(", \"cpus\": null, \"mem_bytes\": null, \"start_time\": null, "
			       "\"uptime_ms\": null, \"error\": ");
			json_string(r->error);
		} else {
			printf(", \"cpus\": %u, \"mem_bytes\": %" PRIu64
			       ", \"start_time\": %" PRIu64 ", \"uptime_ms\": %" PRIu64,
			       (unsigned)r->info.cpus, r->info.mem_bytes, r->info.start_time,
			       r->info.uptime_ms);
			print_nics(&r->info);
		}
		putchar('}');
	}
	printf("%s]\n", rows->n ? "\n" : "");
}

int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct rows rows = {0};
	uint64_t timeout_s = GLUE_CONTROL_PROBE_TIMEOUT_MS / 1000;
	bool json = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 't':
			if (!cli_parse_u64(optarg, &timeout_s) || timeout_s < 1 || timeout_s > 600)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid timeout '%s' (seconds, 1 to 600)",
						 optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'glue list --help'.\n");
			return GLUE_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_error(GLUE_EXIT_USAGE, CMD,
				 "unexpected argument '%s'. Try 'glue list --help'.", argv[optind]);

	ret = glue_control_runtime_dir_check(NULL, false);
	if (ret && ret != -ENOENT)
		return cli_error(GLUE_EXIT_RUNTIME_DIR, CMD, "%s", glue_error_last());
	if (!ret) {
		ret = glue_control_list_timeout(NULL, (int)timeout_s * 1000, collect, &rows);
		if (ret) {
			free(rows.v);
			if (ret == -ENOMEM)
				return cli_error(GLUE_EXIT_ERROR, CMD, "out of memory");
			return cli_error(GLUE_EXIT_RUNTIME_DIR, CMD, "%s", glue_error_last());
		}
	}
	if (json)
		print_json(&rows);
	else
		print_table(&rows);
	free(rows.v);
	return fflush(stdout) ? GLUE_EXIT_ERROR : 0;
}
