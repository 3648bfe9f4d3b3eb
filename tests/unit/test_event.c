// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <glue/error.h>
#include <glue/event.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct reader {
	int calls;
	char last;
	uint32_t events;
};

static void on_readable(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct reader *r = ctx;
	char c;

	r->calls++;
	r->events = events;
	if (read(fd, &c, 1) == 1)
		r->last = c;
}

Test(event, fd_callback)
{
	struct glue_loop *loop;
	struct reader r = {0};
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &r), 0);
	cr_assert_eq(glue_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &r), -EEXIST);
	cr_assert_eq(glue_loop_run_once(loop, 0), 0); /* nothing ready */
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(glue_loop_run_once(loop, 1000), 1);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.last, 'x');
	cr_assert(r.events & EPOLLIN);

	/* Not watching EPOLLIN any more: no callback. */
	cr_assert_eq(glue_loop_mod_fd(loop, p[0], 0), 0);
	cr_assert_eq(write(p[1], "y", 1), 1);
	cr_assert_eq(glue_loop_run_once(loop, 50), 0);
	cr_assert_eq(glue_loop_mod_fd(loop, p[0], EPOLLIN), 0);
	cr_assert_eq(glue_loop_run_once(loop, 1000), 1);
	cr_assert_eq(r.last, 'y');

	cr_assert_eq(glue_loop_remove_fd(loop, p[0]), 0);
	cr_assert_eq(glue_loop_remove_fd(loop, p[0]), -ENOENT);
	cr_assert_eq(glue_loop_mod_fd(loop, p[0], EPOLLIN), -ENOENT);
	cr_assert_eq(write(p[1], "z", 1), 1);
	cr_assert_eq(glue_loop_run_once(loop, 50), 0);
	cr_assert_eq(r.calls, 2);
	glue_loop_free(loop);
	close(p[0]);
	close(p[1]);
}

struct ticks {
	int n;
	int stop_at;
	struct glue_timer *self;
	bool remove_self;
};

static void on_tick(struct glue_loop *loop, struct glue_timer *t, void *ctx)
{
	struct ticks *k = ctx;

	k->n++;
	if (k->remove_self && k->n == k->stop_at)
		glue_loop_remove_timer(loop, t);
	else if (k->stop_at && k->n == k->stop_at)
		glue_loop_stop(loop);
}

Test(event, periodic_timer_and_stop)
{
	struct glue_loop *loop;
	struct ticks k = {.stop_at = 5};
	struct glue_timer *t;
	uint64_t start;

	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_timer(loop, 10 * 1000000ULL, 10 * 1000000ULL, on_tick, &k, &t),
		     0);
	start = now_ms();
	cr_assert_eq(glue_loop_run(loop), 0);
	cr_assert_eq(k.n, 5);
	/* Five ticks at 10 ms: at least 50 ms. */
	cr_assert_geq(now_ms() - start, 45);
	glue_loop_remove_timer(loop, t);
	glue_loop_free(loop);
}

Test(event, one_shot_timer_and_rearm)
{
	struct glue_loop *loop;
	struct ticks k = {0};
	struct glue_timer *t;

	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_timer(loop, 0, 0, on_tick, &k, &t), 0);
	cr_assert_eq(glue_loop_run_once(loop, 1000), 1);
	cr_assert_eq(k.n, 1);
	cr_assert_eq(glue_loop_run_once(loop, 50), 0); /* once only */
	cr_assert_eq(glue_loop_set_timer(loop, t, 1000000, 0), 0);
	cr_assert_eq(glue_loop_run_once(loop, 1000), 1);
	cr_assert_eq(k.n, 2);
	/* Re-arming drops an expiry not yet dispatched. */
	cr_assert_eq(glue_loop_set_timer(loop, t, 1, 0), 0);
	usleep(10000);
	cr_assert_eq(glue_loop_set_timer(loop, t, 10ULL * 1000000000ULL, 0), 0);
	cr_assert_eq(glue_loop_run_once(loop, 50), 0);
	cr_assert_eq(k.n, 2);
	glue_loop_free(loop); /* frees the remaining timer */
}

Test(event, timer_removes_itself)
{
	struct glue_loop *loop;
	struct ticks k = {.stop_at = 3, .remove_self = true};

	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_timer(loop, 1000000, 1000000, on_tick, &k, NULL), 0);
	for (int i = 0; i < 10; i++)
		glue_loop_run_once(loop, 20);
	cr_assert_eq(k.n, 3);
	glue_loop_free(loop);
}

static void *stopper(void *arg)
{
	usleep(50000);
	glue_loop_stop(arg);
	return NULL;
}

Test(event, stop_from_another_thread, .timeout = 10)
{
	struct glue_loop *loop;
	pthread_t th;
	uint64_t start;

	cr_assert_eq(glue_loop_new(&loop), 0);
	start = now_ms();
	pthread_create(&th, NULL, stopper, loop);
	/* Nothing registered: only the stop can end this. */
	cr_assert_eq(glue_loop_run(loop), 0);
	pthread_join(th, NULL);
	cr_assert_geq(now_ms() - start, 40);

	/* A stop before run makes it return at once; it is consumed. */
	glue_loop_stop(loop);
	cr_assert_eq(glue_loop_run(loop), 0);
	glue_loop_free(loop);
}

static void *waker(void *arg)
{
	usleep(30000);
	glue_loop_wake(arg);
	return NULL;
}

Test(event, wake_interrupts_wait, .timeout = 10)
{
	struct glue_loop *loop;
	pthread_t th;

	cr_assert_eq(glue_loop_new(&loop), 0);
	pthread_create(&th, NULL, waker, loop);
	cr_assert_eq(glue_loop_run_once(loop, -1), 0);
	pthread_join(th, NULL);
	glue_loop_free(loop);
}

/* Two pipes, both readable in the same batch; whichever callback runs
 * first removes the other fd, which must then not be called. */
struct pair {
	int fds[2];
	int calls[2];
	struct glue_loop *loop;
};

static void on_pair(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct pair *p = ctx;
	int me = fd == p->fds[0] ? 0 : 1;
	char c;

	p->calls[me]++;
	cr_assert_eq(read(fd, &c, 1), 1);
	cr_assert_eq(glue_loop_remove_fd(loop, p->fds[!me]), 0);
	/* Removing ourselves too is allowed. */
	cr_assert_eq(glue_loop_remove_fd(loop, fd), 0);
}

Test(event, removal_inside_batch)
{
	struct glue_loop *loop;
	struct pair p = {0};
	int a[2], b[2];

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	p.fds[0] = a[0];
	p.fds[1] = b[0];
	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_fd(loop, a[0], EPOLLIN, on_pair, &p), 0);
	cr_assert_eq(glue_loop_add_fd(loop, b[0], EPOLLIN, on_pair, &p), 0);
	cr_assert_eq(write(a[1], "1", 1), 1);
	cr_assert_eq(write(b[1], "2", 1), 1);
	usleep(1000);
	cr_assert_eq(glue_loop_run_once(loop, 1000), 1);
	cr_assert_eq(p.calls[0] + p.calls[1], 1);
	cr_assert_eq(glue_loop_run_once(loop, 50), 0);
	glue_loop_free(loop);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* A callback that adds a timer and a new fd from within the loop. */
struct adder {
	int pipefd[2];
	struct reader r;
	struct ticks k;
};

static void on_add(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct adder *a = ctx;
	char c;

	cr_assert_eq(read(fd, &c, 1), 1);
	cr_assert_eq(glue_loop_remove_fd(loop, fd), 0);
	cr_assert_eq(glue_loop_add_fd(loop, a->pipefd[0], EPOLLIN, on_readable, &a->r), 0);
	cr_assert_eq(glue_loop_add_timer(loop, 0, 0, on_tick, &a->k, NULL), 0);
}

Test(event, add_from_callback)
{
	struct glue_loop *loop;
	struct adder a = {0};
	int trig[2];

	cr_assert_eq(pipe(trig), 0);
	cr_assert_eq(pipe(a.pipefd), 0);
	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_fd(loop, trig[0], EPOLLIN, on_add, &a), 0);
	cr_assert_eq(write(trig[1], "t", 1), 1);
	cr_assert_eq(glue_loop_run_once(loop, 1000), 1);
	cr_assert_eq(write(a.pipefd[1], "q", 1), 1);
	for (int i = 0; i < 5 && (a.r.calls == 0 || a.k.n == 0); i++)
		glue_loop_run_once(loop, 100);
	cr_assert_eq(a.r.last, 'q');
	cr_assert_eq(a.k.n, 1);
	glue_loop_free(loop);
	close(trig[0]);
	close(trig[1]);
	close(a.pipefd[0]);
	close(a.pipefd[1]);
}

Test(event, bad_arguments)
{
	struct glue_loop *loop;

	cr_assert_eq(glue_loop_new(&loop), 0);
	cr_assert_eq(glue_loop_add_fd(loop, -1, EPOLLIN, on_readable, NULL), -EINVAL);
	cr_assert_eq(glue_loop_add_fd(loop, 0, EPOLLIN, NULL, NULL), -EINVAL);
	/* A regular file cannot be watched by epoll. */
	FILE *f = tmpfile();
	cr_assert_eq(glue_loop_add_fd(loop, fileno(f), EPOLLIN, on_readable, NULL), -EPERM);
	cr_assert(strstr(glue_error_last(), "fd"), "%s", glue_error_last());
	fclose(f);
	cr_assert_eq(glue_loop_add_timer(loop, 1, 0, NULL, NULL, NULL), -EINVAL);
	glue_loop_free(loop);
	glue_loop_free(NULL);
}
