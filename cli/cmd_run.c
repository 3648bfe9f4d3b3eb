// SPDX-License-Identifier: MIT
/* glue run: build a VM from the command line and run it on this terminal. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <glue/config.h>
#include <glue/control.h>
#include <glue/cpuid.h>
#include <glue/error.h>
#include <glue/event.h>
#include <glue/loader.h>
#include <glue/machine.h>
#include "cli.h"
#include "control_glue.h"

#define CMD "run"

/* A virtio device needs the device and a transport in the build. */
#define TRANSPORT_AVAILABLE (GLUE_HAVE_VIRTIO_MMIO || GLUE_HAVE_PCI)
#define RNG_AVAILABLE (GLUE_HAVE_VIRTIO_RNG && TRANSPORT_AVAILABLE)
#define BLK_AVAILABLE (GLUE_HAVE_VIRTIO_BLK && TRANSPORT_AVAILABLE)
#define NET_AVAILABLE (GLUE_HAVE_VIRTIO_NET && TRANSPORT_AVAILABLE)
/* virtio-mmio devices each take one of 8 interrupt lines, and the rng one. */
#define MAX_DISKS 7
#define MAX_NICS 8
#define MAX_FWD 16 /* per NIC */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: glue run -k KERNEL [options]\n\n"
		"Start a VM and connect its serial console to this terminal.\n\n"
		"options:\n"
		"  -k, --kernel FILE     Linux kernel: bzImage or ELF vmlinux (required)\n"
		"  -i, --initrd FILE     initial ramdisk\n"
		"  -p, --params CMDLINE  kernel command line\n"
		"      --no-default-params\n"
		"                        pass --params exactly; otherwise glue adds\n"
		"                        console=ttyS0 reboot=k i8042.noaux i8042.nopnp\n"
		"                        for each key not set in --params\n"
		"  -m, --mem SIZE        RAM in MiB, or with a suffix M or G (default 512)\n"
		"  -c, --cpus N          number of vCPUs (default 1)\n"
		"  -n, --name NAME       name for list/pause/resume/stop (default: generated)\n"
		"      --cpu MODEL       CPU model and features: host[,+feat][,-feat]...\n"
		"                        ('--cpu help' lists feature names)\n"
		"      --boot MODE       auto (default), unpack, bzimage, pvh or elf64\n"
		"      --console MODE    stdio (default), none, or file:PATH (output only)\n"
		"      --debug-exit      add the debug-exit port 0x%x (test guests)\n"
		"      --rng[=rate=BYTES]\n"
		"                        virtio-rng entropy from the host's getrandom, at\n"
		"                        most BYTES per second (K, M, G) when given;\n"
		"                        on by default where this glue has it (%s)\n"
		"      --no-rng          no virtio-rng device\n"
		"      --transport T     how virtio devices attach: pci (default where this\n"
		"                        glue has PCI) or mmio\n"
		"  -d, --disk FILE[,ro][,serial=ID][,cache=none|writeback][,queues=N]\n"
		"                        a raw disk image or block device (virtio-blk),\n"
		"                        repeatable: the guest sees them in this order\n"
		"                        (/dev/vda, /dev/vdb...) (%s)\n"
		"      --net user[,hostfwd=RULE]...[,restrict=on][,mac=MAC]\n"
		"      --net tap[=IFNAME][,vhost=on|off][,mac=MAC]\n"
		"      --net none\n"
		"                        a virtio-net NIC, repeatable (default: none).\n"
		"                        user: NAT through glue itself, no root needed;\n"
		"                        the guest gets 10.0.2.15 by DHCP, the host is\n"
		"                        10.0.2.2; RULE tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT\n"
		"                        (or udp:) forwards a host port into the guest;\n"
		"                        restrict=on lets nothing out (%s).\n"
		"                        tap: an existing tap device (or a new one, as\n"
		"                        root); frames go through the kernel's vhost-net\n"
		"                        where it opens (vhost=on: required, off: never).\n"
		"                        MAC default: derived from the VM's name.\n"
		"                        none: no NICs (drops earlier --net) (%s)\n"
		"  -h, --help            show this help\n\n"
		"On a terminal, Ctrl-a x quits and Ctrl-a Ctrl-a sends Ctrl-a.\n"
		"Exit status: 0 guest reset/powered off or stopped, 1 VMM error, 2 usage,\n"
		"3 guest crashed, 4 guest reported failure (debug-exit).\n",
		0x501, RNG_AVAILABLE ? "it does" : "this one does not",
		BLK_AVAILABLE ? "available" : "not in this glue",
		GLUE_HAVE_SLIRP ? "available" : "not in this glue",
		NET_AVAILABLE ? "available" : "not in this glue");
}

enum {
	OPT_CPU = 256,
	OPT_BOOT,
	OPT_CONSOLE,
	OPT_DEBUG_EXIT,
	OPT_NO_DEFAULT_PARAMS,
	OPT_RNG,
	OPT_NO_RNG,
	OPT_TRANSPORT,
	OPT_NET,
};

/* A size with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t len = strlen(s);
	unsigned int shift = 0;
	uint64_t v;

	if (len == 0 || len >= sizeof(num))
		return false;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	}
	if (shift)
		num[--len] = '\0';
	if (!cli_parse_u64(num, &v) || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* -d FILE[,ro][,serial=ID][,cache=none|writeback]: arg is modified (split at commas). */
static int parse_disk(char *arg, struct glue_machine_disk *d)
{
	char *opt;

	memset(d, 0, sizeof(*d));
	d->path = strsep(&arg, ",");
	if (!*d->path)
		return cli_error(GLUE_EXIT_USAGE, CMD, "--disk needs a file");
	while ((opt = strsep(&arg, ","))) {
		if (!strcmp(opt, "ro")) {
			d->readonly = true;
		} else if (!strncmp(opt, "serial=", 7)) {
			d->serial = opt + 7;
			if (strlen(d->serial) > 20)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "disk '%s': serial '%s' is longer than 20 bytes",
						 d->path, d->serial);
		} else if (!strncmp(opt, "queues=", 7)) {
			uint64_t q;

			if (!cli_parse_u64(opt + 7, &q) || q < 1 || q > 16)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "disk '%s': queues=%s: 1 to 16", d->path, opt + 7);
			d->queues = (uint16_t)q;
		} else if (!strcmp(opt, "cache=none")) {
			d->cache_none = true;
		} else if (!strcmp(opt, "cache=writeback")) {
			d->cache_none = false;
		} else {
			return cli_error(GLUE_EXIT_USAGE, CMD,
					 "disk '%s': unknown option '%s' (ro, serial=ID, "
					 "cache=none|writeback, queues=N)",
					 d->path, opt);
		}
	}
	return 0;
}

/* A NIC, with room for its forwarding rules. */
struct nic {
	struct glue_machine_nic n;
	const char *fwd[MAX_FWD];
};

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

/* --net user[,...] | tap[=IF][,...]: arg is modified (split at commas). */
static int parse_net(char *arg, struct nic *nic)
{
	char *kind, *opt;

	memset(nic, 0, sizeof(*nic));
	nic->n.hostfwd = nic->fwd;
	kind = strsep(&arg, ",");
	if (!strcmp(kind, "user")) {
		nic->n.backend = GLUE_MACHINE_NET_USER;
	} else if (!strcmp(kind, "tap") || !strncmp(kind, "tap=", 4)) {
		nic->n.backend = GLUE_MACHINE_NET_TAP;
		nic->n.tap = kind[3] ? kind + 4 : NULL;
		if (nic->n.tap && (!*nic->n.tap || strlen(nic->n.tap) > 15))
			return cli_error(GLUE_EXIT_USAGE, CMD,
					 "--net tap=IFNAME: an interface name of 1 to 15 characters");
	} else {
		return cli_error(GLUE_EXIT_USAGE, CMD,
				 "invalid --net '%s' (user, tap[=IFNAME] or none)", kind);
	}
	while ((opt = strsep(&arg, ","))) {
		bool user = nic->n.backend == GLUE_MACHINE_NET_USER;

		if (!strncmp(opt, "mac=", 4)) {
			if (!parse_mac(opt + 4, nic->n.mac) || (nic->n.mac[0] & 1) ||
			    !memcmp(nic->n.mac, "\0\0\0\0\0\0", 6))
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "--net mac=%s: a unicast MAC as xx:xx:xx:xx:xx:xx "
						 "(the first byte even), e.g. 02:00:00:00:00:01",
						 opt + 4);
			nic->n.mac_set = true;
		} else if (user && !strncmp(opt, "hostfwd=", 8)) {
			if (nic->n.nhostfwd == MAX_FWD)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "--net user: at most %d hostfwd rules", MAX_FWD);
			nic->fwd[nic->n.nhostfwd++] = opt + 8;
		} else if (user && (!strcmp(opt, "restrict=on") || !strcmp(opt, "restrict=off"))) {
			nic->n.restricted = !strcmp(opt, "restrict=on");
		} else if (!user && (!strcmp(opt, "vhost=on") || !strcmp(opt, "vhost=off"))) {
			nic->n.vhost = !strcmp(opt, "vhost=on") ? 1 : -1;
		} else {
			return cli_error(GLUE_EXIT_USAGE, CMD, "--net %s: unknown option '%s' (%s)",
					 kind, opt,
					 user ? "hostfwd=RULE, restrict=on|off, mac=MAC"
					      : "vhost=on|off, mac=MAC");
		}
	}
	return 0;
}

/* --rng's options: "rate=BYTES". */
static int parse_rng(const char *arg, struct glue_machine_config *cfg)
{
	cfg->rng = true;
	if (!arg)
		return 0;
	if (strncmp(arg, "rate=", 5) || !parse_size(arg + 5, &cfg->rng_bytes_per_sec) ||
	    cfg->rng_bytes_per_sec == 0)
		return cli_error(GLUE_EXIT_USAGE, CMD,
				 "invalid --rng option '%s' (rate=BYTES per second, at least 1, "
				 "with K, M or G)",
				 arg);
	return 0;
}

static bool parse_mem(const char *s, uint64_t *bytes)
{
	char num[32];
	size_t len = strlen(s);
	uint64_t mult = 1024 * 1024, v;

	if (len == 0 || len >= sizeof(num))
		return false;
	memcpy(num, s, len + 1);
	if (num[len - 1] == 'M' || num[len - 1] == 'm') {
		num[--len] = '\0';
	} else if (num[len - 1] == 'G' || num[len - 1] == 'g') {
		num[--len] = '\0';
		mult <<= 10;
	}
	if (!cli_parse_u64(num, &v) || v > (UINT64_MAX / mult))
		return false;
	*bytes = v * mult;
	return true;
}

static bool has_key(const char *params, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = params; p && *p;) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && (p[klen] == '=' || p[klen] == ' ' || !p[klen]))
			return true;
		while (*p && *p != ' ')
			p++;
	}
	return false;
}

/* The user's parameters plus defaults for the keys they did not set. */
static char *build_cmdline(const char *params, bool defaults)
{
	static const char *const extra[][2] = {
		{"console", "console=ttyS0"},
		{"reboot", "reboot=k"},
		{"i8042.noaux", "i8042.noaux"},
		{"i8042.nopnp", "i8042.nopnp"},
	};
	size_t cap = (params ? strlen(params) : 0) + 128;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	snprintf(out, cap, "%s", params ? params : "");
	if (!defaults)
		return out;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		if (has_key(params, extra[i][0]))
			continue;
		if (*out)
			strcat(out, " ");
		strcat(out, extra[i][1]);
	}
	return out;
}

struct run_ctx {
	struct glue_machine *m;
	int sigfd;
};

static void on_signal(struct glue_loop *loop, int fd, uint32_t events, void *p)
{
	struct run_ctx *ctx = p;
	struct signalfd_siginfo si;
	int sig;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	sig = (int)si.ssi_signo;
	if (cli_globals.verbose)
		fprintf(stderr, "glue: %s: stopping the VM\n", sigabbrev_np(sig) ? sigabbrev_np(sig) : "signal");
	glue_machine_stop(ctx->m, true);
}

static struct termios saved_tty;
static bool tty_raw;

static void restore_tty(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
		tty_raw = false;
	}
}

static void make_tty_raw(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return;
	raw = saved_tty;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST | ONLCR; /* keep "\n" → "\r\n" on our own output */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
		tty_raw = true;
		atexit(restore_tty);
	}
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"kernel", required_argument, NULL, 'k'},
		{"initrd", required_argument, NULL, 'i'},
		{"params", required_argument, NULL, 'p'},
		{"mem", required_argument, NULL, 'm'},
		{"cpus", required_argument, NULL, 'c'},
		{"name", required_argument, NULL, 'n'},
		{"disk", required_argument, NULL, 'd'},
		{"cpu", required_argument, NULL, OPT_CPU},
		{"boot", required_argument, NULL, OPT_BOOT},
		{"console", required_argument, NULL, OPT_CONSOLE},
		{"debug-exit", no_argument, NULL, OPT_DEBUG_EXIT},
		{"no-default-params", no_argument, NULL, OPT_NO_DEFAULT_PARAMS},
		{"rng", optional_argument, NULL, OPT_RNG},
		{"no-rng", no_argument, NULL, OPT_NO_RNG},
		{"transport", required_argument, NULL, OPT_TRANSPORT},
		{"net", required_argument, NULL, OPT_NET},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct glue_machine_config cfg;
	struct glue_machine_disk disks[MAX_DISKS];
	uint32_t ndisks = 0;
	struct nic nics[MAX_NICS];
	struct glue_machine_nic nic_list[MAX_NICS];
	uint32_t nnics = 0;
	char default_name[64];
	const char *params = NULL, *name = NULL, *console = "stdio";
	bool default_params = true;
	struct glue_machine *m = NULL;
	struct cli_control *control = NULL;
	struct run_ctx ctx = {.sigfd = -1};
	char *cmdline = NULL;
	int console_file = -1;
	sigset_t sigs;
	uint64_t v;
	int c, r, status;

	glue_machine_config_init(&cfg);
	cfg.rng = RNG_AVAILABLE;
	while ((c = getopt_long(argc, argv, "k:i:p:m:c:n:d:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			cfg.kernel = optarg;
			break;
		case 'i':
			cfg.initrd = optarg;
			break;
		case 'p':
			params = optarg;
			break;
		case 'm':
			if (!parse_mem(optarg, &cfg.mem_bytes))
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid memory size '%s' (MiB, or a number with M or G)",
						 optarg);
			if (cfg.mem_bytes < 2 * 1024 * 1024)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "memory size '%s' is too small: at least 2 MiB", optarg);
			break;
		case 'c':
			if (!cli_parse_u64(optarg, &v) || v == 0 || v > 1024)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid CPU count '%s' (1 to the host's limit)", optarg);
			cfg.cpus = (uint32_t)v;
			break;
		case 'n':
			name = optarg;
			break;
		case 'd':
			if (ndisks == MAX_DISKS)
				return cli_error(GLUE_EXIT_USAGE, CMD, "at most %d disks", MAX_DISKS);
			if (parse_disk(optarg, &disks[ndisks]))
				return GLUE_EXIT_USAGE;
			ndisks++;
			cfg.disks = disks;
			cfg.ndisks = ndisks;
			break;
		case OPT_CPU:
			if (strcmp(optarg, "help") == 0) {
				size_t col = 0;

				printf("CPU models: host (default)\nfeatures (+name adds, -name removes):\n");
				for (size_t i = 0; glue_cpu_feature_name(i); i++) {
					const char *f = glue_cpu_feature_name(i);

					if (col && col + 1 + strlen(f) > 78) {
						putchar('\n');
						col = 0;
					}
					col += (size_t)printf("%s%s", col ? " " : "  ", f);
				}
				putchar('\n');
				return 0;
			}
			cfg.cpu = optarg;
			break;
		case OPT_BOOT:
			if (glue_boot_mode_parse(optarg, &cfg.boot) < 0)
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid boot mode '%s' (auto, unpack, bzimage, pvh, elf64)",
						 optarg);
			break;
		case OPT_CONSOLE:
			if (strcmp(optarg, "stdio") && strcmp(optarg, "none") &&
			    strncmp(optarg, "file:", 5))
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid console '%s' (stdio, none, file:PATH)", optarg);
			if (!strncmp(optarg, "file:", 5) && !optarg[5])
				return cli_error(GLUE_EXIT_USAGE, CMD, "--console file: needs a path");
			console = optarg;
			break;
		case OPT_DEBUG_EXIT:
			cfg.debug_exit = true;
			break;
		case OPT_NO_DEFAULT_PARAMS:
			default_params = false;
			break;
		case OPT_RNG:
			if (parse_rng(optarg, &cfg))
				return GLUE_EXIT_USAGE;
			break;
		case OPT_NO_RNG:
			cfg.rng = false;
			cfg.rng_bytes_per_sec = 0;
			break;
		case OPT_NET:
			if (!strcmp(optarg, "none")) {
				nnics = 0;
				break;
			}
			if (nnics == MAX_NICS)
				return cli_error(GLUE_EXIT_USAGE, CMD, "at most %d NICs", MAX_NICS);
			if (parse_net(optarg, &nics[nnics]))
				return GLUE_EXIT_USAGE;
			nnics++;
			break;
		case OPT_TRANSPORT:
			if (!strcmp(optarg, "pci"))
				cfg.transport = GLUE_TRANSPORT_PCI;
			else if (!strcmp(optarg, "mmio"))
				cfg.transport = GLUE_TRANSPORT_MMIO;
			else
				return cli_error(GLUE_EXIT_USAGE, CMD,
						 "invalid transport '%s' (pci or mmio)", optarg);
			break;
		case 'v':
			cli_globals.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'glue run --help'.\n");
			return GLUE_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_error(GLUE_EXIT_USAGE, CMD, "unexpected argument '%s'", argv[optind]);
	if (!cfg.kernel)
		return cli_error(GLUE_EXIT_USAGE, CMD, "no kernel given (-k FILE). Try 'glue run --help'.");
	r = cli_control_check_name(name);
	if (r)
		return r;
	if (!name && glue_control_default_name(default_name, sizeof(default_name)) == 0)
		cfg.name = default_name; /* the name cli_control_start() will take */
	else
		cfg.name = name;
	for (uint32_t i = 0; i < nnics; i++)
		nic_list[i] = nics[i].n;
	cfg.nics = nic_list;
	cfg.nnics = nnics;

	cmdline = build_cmdline(params, default_params);
	if (!cmdline)
		return cli_error(GLUE_EXIT_ERROR, CMD, "out of memory");
	cfg.cmdline = cmdline;
	cfg.verbose = cli_globals.verbose;
	if (!strcmp(console, "stdio")) {
		cfg.console_in = STDIN_FILENO;
		cfg.console_out = STDOUT_FILENO;
		if (isatty(STDIN_FILENO))
			cfg.console_escape = 0x01; /* Ctrl-a */
	} else if (!strncmp(console, "file:", 5)) {
		console_file = open(console + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (console_file < 0) {
			status = cli_error(GLUE_EXIT_ERROR, CMD, "cannot open console file '%s': %s",
					   console + 5, strerror(errno));
			goto out;
		}
		cfg.console_out = console_file;
	}
	if (cli_globals.verbose)
		fprintf(stderr, "glue: kernel command line: %s\n", cmdline);

	/* Signals are read from a signalfd on the event loop; block them
	 * before any thread exists so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = glue_machine_new(&m, &cfg);
	if (r < 0) {
		status = cli_error(GLUE_EXIT_ERROR, NULL, "%s", glue_error_last());
		goto out;
	}
	ctx.m = m;
	ctx.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ctx.sigfd < 0 ||
	    glue_loop_add_fd(glue_machine_loop(m), ctx.sigfd, EPOLLIN, on_signal, &ctx) < 0) {
		status = cli_error(GLUE_EXIT_ERROR, CMD, "cannot watch signals: %s", strerror(errno));
		goto out;
	}
	status = cli_control_start(&control, m, name, &cfg);
	if (status)
		goto out;

	if (cfg.console_in == STDIN_FILENO && isatty(STDIN_FILENO))
		make_tty_raw();
	r = glue_machine_run(m);
	restore_tty();
	if (r < 0)
		status = cli_error(GLUE_EXIT_ERROR, NULL, "%s", glue_error_last());
	else
		status = r;
	if (cli_globals.verbose)
		fprintf(stderr, "glue: VM exited with status %d\n", status);
out:
	cli_control_stop(control);
	glue_machine_free(m);
	if (ctx.sigfd >= 0)
		close(ctx.sigfd);
	if (console_file >= 0)
		close(console_file);
	free(cmdline);
	return status;
}
