// SPDX-License-Identifier: MIT
/*
 * glue_machine_new() checks its arguments and input files before it opens
 * KVM: each bad input gets its own message whether or not this host has a
 * usable /dev/kvm (on one without, these tests prove the order).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glue/error.h>
#include <glue/machine.h>

static const char *guest_elf(void)
{
	static char path[4096];
	const char *dir = getenv("GLUE_TEST_GUEST_DIR");

	snprintf(path, sizeof(path), "%s/glue-test-guest.elf", dir ? dir : "tests/guest");
	return path;
}

static void refused(struct glue_machine_config *cfg, const char *want)
{
	struct glue_machine *m = (void *)1;
	int r = glue_machine_new(&m, cfg);

	cr_assert_lt(r, 0, "accepted; expected '%s'", want);
	cr_assert_null(m);
	cr_assert(strstr(glue_error_last(), want), "error '%s', expected '%s'", glue_error_last(),
		  want);
	cr_assert_null(strstr(glue_error_last(), "/dev/kvm"), "%s", glue_error_last());
}

static void config(struct glue_machine_config *cfg)
{
	glue_machine_config_init(cfg);
	cfg->kernel = guest_elf();
	cfg->mem_bytes = 64 << 20;
	if (access(cfg->kernel, R_OK) != 0)
		cr_skip_test("test guest not built (%s)", cfg->kernel);
}

Test(machine_config, missing_kernel_is_named)
{
	struct glue_machine_config cfg;

	config(&cfg);
	cfg.kernel = "/nonexistent/bzImage";
	refused(&cfg, "cannot open kernel '/nonexistent/bzImage'");
	cfg.kernel = "/";
	refused(&cfg, "kernel '/': not a regular file");
	cfg.kernel = NULL;
	refused(&cfg, "no kernel given");
}

Test(machine_config, bad_initrd_is_named)
{
	struct glue_machine_config cfg;
	char path[] = "/tmp/glue-empty-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	config(&cfg);
	cfg.initrd = "/nonexistent/initrd";
	refused(&cfg, "cannot open initrd '/nonexistent/initrd'");
	cfg.initrd = path;
	refused(&cfg, "file is empty");
	unlink(path);
}

Test(machine_config, bad_sizes_and_cpu_model)
{
	struct glue_machine_config cfg;

	config(&cfg);
	cfg.mem_bytes = 1 << 20;
	refused(&cfg, "too small");
	cfg.mem_bytes = (64 << 20) + 1;
	refused(&cfg, "positive number of MiB");
	cfg.mem_bytes = 64 << 20;
	cfg.cpus = 0;
	refused(&cfg, "0 vCPUs requested");
	cfg.cpus = 1000;
	refused(&cfg, "1000 vCPUs requested");
	cfg.cpus = 1;
	cfg.cpu = "host,-nosuchfeature";
	refused(&cfg, "unknown CPU feature 'nosuchfeature'");
}
