// SPDX-License-Identifier: MIT
/*
 * The machine as an embedding program uses it: glue_machine_run() in one
 * thread, pause/resume/stop from another. The guest is glue's test guest in
 * its "ticker" mode (one "TICK n" line per second of RTC time; on
 * Ctrl-Alt-Del it prints "SHUTDOWN ctrl-alt-del" and resets).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glue/config.h>
#include <glue/error.h>
#include <glue/machine.h>

struct runner {
	struct glue_machine *m;
	pthread_t thread;
	int status;
	int out[2]; /* the guest's serial output */
	char log[65536];
	size_t len;
};

static void *run_thread(void *p)
{
	struct runner *r = p;

	r->status = glue_machine_run(r->m);
	return NULL;
}

static const char *guest_elf(void)
{
	static char path[4096];
	const char *dir = getenv("GLUE_TEST_GUEST_DIR");

	snprintf(path, sizeof(path), "%s/glue-test-guest.elf", dir ? dir : "tests/guest");
	return path;
}

static void start(struct runner *r, uint32_t cpus)
{
	struct glue_machine_config cfg;

	if (access("/dev/kvm", R_OK | W_OK) != 0)
		cr_skip_test("no usable /dev/kvm");
	if (access(guest_elf(), R_OK) != 0)
		cr_skip_test("test guest not built (%s)", guest_elf());
	memset(r, 0, sizeof(*r));
	cr_assert_eq(pipe2(r->out, O_CLOEXEC | O_NONBLOCK), 0);

	glue_machine_config_init(&cfg);
	cfg.kernel = guest_elf();
	cfg.cmdline = "glue.test=ticker";
	cfg.mem_bytes = 64 << 20;
	cfg.cpus = cpus;
	cfg.console_out = r->out[1];
	cr_assert_eq(glue_machine_new(&r->m, &cfg), 0, "%s", glue_error_last());
	cr_assert_eq(glue_machine_state(r->m), GLUE_MACHINE_CREATED);
	cr_assert_eq(pthread_create(&r->thread, NULL, run_thread, r), 0);
}


/* The ticker prints on the UART, paced by the RTC. */
#if GLUE_HAVE_SERIAL && GLUE_HAVE_RTC
/* Collect serial output for up to ms milliseconds. */
static void drain(struct runner *r, int ms)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int waited = 0; waited <= ms; waited += 10) {
		ssize_t n;

		while (r->len < sizeof(r->log) - 1 &&
		       (n = read(r->out[0], r->log + r->len, sizeof(r->log) - 1 - r->len)) > 0)
			r->len += (size_t)n;
		r->log[r->len] = '\0';
		if (waited < ms)
			nanosleep(&ts, NULL);
	}
}

static int count(const char *log, const char *what)
{
	int n = 0;

	for (const char *p = log; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/* Wait for the VM to end and collect the rest of its output. */
static void finish(struct runner *r)
{
	pthread_join(r->thread, NULL);
	drain(r, 0);
	cr_assert_eq(glue_machine_state(r->m), GLUE_MACHINE_STOPPED);
	glue_machine_free(r->m);
	close(r->out[0]);
	close(r->out[1]);
}

Test(machine, pause_and_resume_from_another_thread, .timeout = 60)
{
	struct runner r;
	int before, during;

	start(&r, 2);
	drain(&r, 2500);
	cr_assert_geq(count(r.log, "TICK "), 1, "the guest should be ticking:\n%s", r.log);

	cr_assert_eq(glue_machine_pause(r.m), 0, "%s", glue_error_last());
	cr_assert_eq(glue_machine_state(r.m), GLUE_MACHINE_PAUSED);
	cr_assert_eq(glue_machine_pause(r.m), 0, "pausing twice is fine");
	drain(&r, 100); /* a line the guest finished just before parking */
	before = count(r.log, "TICK ");
	drain(&r, 2500);
	during = count(r.log, "TICK ");
	cr_assert_eq(during, before, "no ticks while paused:\n%s", r.log);

	cr_assert_eq(glue_machine_resume(r.m), 0, "%s", glue_error_last());
	cr_assert_eq(glue_machine_state(r.m), GLUE_MACHINE_RUNNING);
	cr_assert_eq(glue_machine_resume(r.m), 0, "resuming twice is fine");
	drain(&r, 2500);
	cr_assert_gt(count(r.log, "TICK "), during, "ticks again after resume:\n%s", r.log);

	cr_assert_eq(glue_machine_stop(r.m, true), 0);
	finish(&r);
	cr_assert_eq(r.status, GLUE_EXIT_OK);
}

#if GLUE_HAVE_I8042
Test(machine, graceful_stop_reaches_the_guest, .timeout = 60)
{
	struct runner r;

	start(&r, 1);
	drain(&r, 1500);
	/* A paused guest cannot hear the request: stop() resumes it first. */
	cr_assert_eq(glue_machine_pause(r.m), 0);
	cr_assert_eq(glue_machine_stop(r.m, false), 0, "%s", glue_error_last());
	finish(&r);
	cr_assert_eq(r.status, GLUE_EXIT_OK);
	cr_assert_neq(strstr(r.log, "SHUTDOWN ctrl-alt-del"), NULL,
		      "the guest should see Ctrl-Alt-Del:\n%s", r.log);
}
#endif /* GLUE_HAVE_I8042 */
#endif /* GLUE_HAVE_SERIAL && GLUE_HAVE_RTC */

Test(machine, pause_after_the_end_is_refused, .timeout = 60)
{
	struct runner r;

	start(&r, 1);
	cr_assert_eq(glue_machine_stop(r.m, true), 0);
	pthread_join(r.thread, NULL);
	cr_assert_eq(r.status, GLUE_EXIT_OK);
	cr_assert_eq(glue_machine_pause(r.m), -EINVAL);
	cr_assert_neq(strstr(glue_error_last(), "stopped"), NULL, "%s", glue_error_last());
	cr_assert_eq(glue_machine_resume(r.m), -EINVAL);
	cr_assert_eq(glue_machine_stop(r.m, false), 0, "stopping a stopped VM is a no-op");
	glue_machine_free(r.m);
	close(r.out[0]);
	close(r.out[1]);
}

Test(machine, bad_configs_are_refused_with_a_message)
{
	struct glue_machine_config cfg;
	struct glue_machine *m = (void *)1;

	if (access("/dev/kvm", R_OK | W_OK) != 0)
		cr_skip_test("no usable /dev/kvm");
	glue_machine_config_init(&cfg);
	cr_assert_eq(glue_machine_new(&m, &cfg), -EINVAL);
	cr_assert_null(m);
	cr_assert_neq(strstr(glue_error_last(), "kernel"), NULL, "%s", glue_error_last());

	cfg.kernel = "/nonexistent/bzImage";
	cfg.cpus = 0;
	cr_assert_eq(glue_machine_new(&m, &cfg), -EINVAL);
	cr_assert_neq(strstr(glue_error_last(), "vCPU"), NULL, "%s", glue_error_last());

	cfg.cpus = 1;
	cfg.mem_bytes = 3 * 1024 * 1024 + 1;
	cr_assert_eq(glue_machine_new(&m, &cfg), -EINVAL);

	cfg.mem_bytes = 64 << 20;
	cr_assert_eq(glue_machine_new(&m, &cfg), -ENOENT);
	cr_assert_neq(strstr(glue_error_last(), "/nonexistent/bzImage"), NULL, "%s",
		      glue_error_last());

	cfg.size = 8; /* a struct from nowhere */
	cr_assert_eq(glue_machine_new(&m, &cfg), -EINVAL);
}
