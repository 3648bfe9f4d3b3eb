// SPDX-License-Identifier: MIT
/*
 * glue: a small VMM built on libglue. kvmtool-style subcommands, no daemon:
 * each running VM is its own `glue run` process with its own control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glue/config.h>
#include <glue/control.h>
#include <glue/error.h>
#include "cli.h"

struct cli_globals cli_globals;

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"run", cmd_run, "start a VM and attach to its serial console"},
	{"list", cmd_list, "list running VMs"},
	{"pause", cmd_pause, "pause a running VM"},
	{"resume", cmd_resume, "resume a paused VM"},
	{"stop", cmd_stop, "shut a VM down"},
};

int cli_error(int status, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "glue%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

int cli_check_target(const char *cmd, const char *name, bool all)
{
	int ret;

	if (!name == !all)
		return cli_error(GLUE_EXIT_USAGE, cmd,
				 "give either -n NAME or -a. Try 'glue %s --help'.", cmd);
	if (name && glue_control_name_check(name))
		return cli_error(GLUE_EXIT_USAGE, cmd, "%s", glue_error_last());
	ret = glue_control_runtime_dir_check(NULL, false);
	if (ret == -ENOENT)
		return all ? 0 : cli_error(GLUE_EXIT_NO_SUCH_VM, cmd, "no VM named '%s'", name);
	if (ret)
		return cli_error(GLUE_EXIT_RUNTIME_DIR, cmd, "%s", glue_error_last());
	return -1;
}

/* The version and what this build has: a custom build shows what it left out. */
static void print_version(void)
{
	static const struct {
		const char *name;
		bool have;
	} parts[] = {
		{"serial", GLUE_HAVE_SERIAL},
		{"i8042", GLUE_HAVE_I8042},
		{"rtc", GLUE_HAVE_RTC},
		{"debug-exit", GLUE_HAVE_DEBUG_EXIT},
		{"acpi", GLUE_HAVE_ACPI},
		{"virtio-mmio", GLUE_HAVE_VIRTIO_MMIO},
		{"pci", GLUE_HAVE_PCI},
		{"virtio-rng", GLUE_HAVE_VIRTIO_RNG},
		{"virtio-blk", GLUE_HAVE_VIRTIO_BLK},
		{"virtio-net", GLUE_HAVE_VIRTIO_NET},
		{"slirp", GLUE_HAVE_SLIRP},
		{"vhost", GLUE_HAVE_VHOST},
	};

	printf("glue %s\ncomponents:", glue_version());
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i].have)
			printf(" %s", parts[i].name);
	printf("\nleft out:");
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (!parts[i].have)
			printf(" %s", parts[i].name);
	printf("\n");
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: glue [-v...] <command> [options]\n\n"
		   "A small virtual machine monitor built on libglue.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\noptions:\n"
		   "  -v, --verbose  say more (repeat for more detail)\n"
		   "  -h, --help     show this help\n"
		   "  -V, --version  show the version\n\n"
		   "Run 'glue <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;

	argv[0] = "glue"; /* getopt's messages name the program as typed by users */
	/* '+': stop at the subcommand; its options are its own. */
	while ((c = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			cli_globals.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			print_version();
			return 0;
		default:
			fprintf(stderr, "Try 'glue --help'.\n");
			return GLUE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return GLUE_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			char prog[32];
			int sub = optind;

			/* getopt prefixes its messages with argv[0]. */
			snprintf(prog, sizeof(prog), "glue %s", commands[i].name);
			argv[sub] = prog;
			optind = 0; /* full reset, for the subcommand's getopt_long */
			return commands[i].fn(argc - sub, argv + sub);
		}
	}
	return cli_error(GLUE_EXIT_USAGE, NULL, "unknown command '%s'. Try 'glue --help'.",
			 argv[optind]);
}
