// SPDX-License-Identifier: MIT
/*
 * Event loop: epoll, an eventfd to wake it, one timerfd per timer.
 *
 * Every watched fd and timer is a "source" whose address is the epoll data.
 * Removing a source only marks it dead and moves it to a graveyard that the
 * loop thread empties once the current batch of events is dispatched: an
 * event for it may already sit in that batch, and must find it dead, not
 * freed. Callbacks run with no lock held, so they may add and remove fds and
 * timers, their own included.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <glue/event.h>
#include "core/err.h"
#include "core/util.h"

enum src_kind {
	SRC_WAKE,
	SRC_FD,
	SRC_TIMER,
};

struct src {
	enum src_kind kind;
	int fd;
	uint32_t events;
	bool dead;
	glue_loop_fd_fn fd_fn;
	glue_timer_fn timer_fn;
	void *ctx;
	struct src *next; /* in live or graveyard list */
};

/* A timer is a source whose fd is its timerfd (owned by the loop). */
struct glue_timer {
	struct src src;
};

struct glue_loop {
	int epfd;
	pthread_mutex_t lock; /* guards the lists and every src's dead flag */
	struct src *live;
	struct src *graveyard;
	struct src wake; /* eventfd, for glue_loop_wake()/stop() */
	atomic_bool stop;
};

#define LOOP_BATCH 64

int glue_loop_new(struct glue_loop **out)
{
	struct glue_loop *loop;
	struct epoll_event ev = {.events = EPOLLIN};
	int ret;

	if (!out)
		return glue_err(-EINVAL, "event loop: no output pointer");
	*out = NULL;
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return glue_err(-ENOMEM, "event loop: out of memory");
	loop->wake.kind = SRC_WAKE;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		ret = glue_err_sys(-errno, "event loop: epoll_create1");
		free(loop);
		return ret;
	}
	loop->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake.fd < 0) {
		ret = glue_err_sys(-errno, "event loop: eventfd");
		close(loop->epfd);
		free(loop);
		return ret;
	}
	ev.data.ptr = &loop->wake;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake.fd, &ev) < 0) {
		ret = glue_err_sys(-errno, "event loop: cannot watch eventfd");
		close(loop->wake.fd);
		close(loop->epfd);
		free(loop);
		return ret;
	}
	pthread_mutex_init(&loop->lock, NULL);
	atomic_init(&loop->stop, false);
	*out = loop;
	return 0;
}

static void src_destroy(struct src *s)
{
	if (s->kind == SRC_TIMER) {
		if (s->fd >= 0)
			close(s->fd);
		free((struct glue_timer *)s);
	} else {
		free(s);
	}
}

static void free_list(struct src *s)
{
	while (s) {
		struct src *next = s->next;

		src_destroy(s);
		s = next;
	}
}

void glue_loop_free(struct glue_loop *loop)
{
	if (!loop)
		return;
	free_list(loop->live);
	free_list(loop->graveyard);
	close(loop->wake.fd);
	close(loop->epfd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

/* The live source watching fd (caller holds the lock). */
static struct src *find_fd(struct glue_loop *loop, int fd)
{
	for (struct src *s = loop->live; s; s = s->next)
		if (s->kind == SRC_FD && s->fd == fd)
			return s;
	return NULL;
}

/* Move s from the live list to the graveyard (caller holds the lock). */
static void bury(struct glue_loop *loop, struct src *s)
{
	for (struct src **p = &loop->live; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	s->dead = true;
	s->next = loop->graveyard;
	loop->graveyard = s;
}

int glue_loop_add_fd(struct glue_loop *loop, int fd, uint32_t events, glue_loop_fd_fn fn, void *ctx)
{
	struct epoll_event ev = {.events = events};
	struct src *s;
	int ret = 0;

	if (!loop || fd < 0 || !fn)
		return glue_err(-EINVAL, "event loop: bad arguments to add fd %d", fd);
	s = calloc(1, sizeof(*s));
	if (!s)
		return glue_err(-ENOMEM, "event loop: out of memory");
	s->kind = SRC_FD;
	s->fd = fd;
	s->events = events;
	s->fd_fn = fn;
	s->ctx = ctx;
	ev.data.ptr = s;

	pthread_mutex_lock(&loop->lock);
	if (find_fd(loop, fd)) {
		ret = glue_err(-EEXIST, "event loop: fd %d is already watched", fd);
	} else if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = glue_err_sys(-errno, "event loop: cannot watch fd %d", fd);
	} else {
		s->next = loop->live;
		loop->live = s;
	}
	pthread_mutex_unlock(&loop->lock);
	if (ret)
		free(s);
	return ret;
}

int glue_loop_mod_fd(struct glue_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	struct src *s;
	int ret = 0;

	if (!loop)
		return glue_err(-EINVAL, "event loop: no loop");
	pthread_mutex_lock(&loop->lock);
	s = find_fd(loop, fd);
	if (!s) {
		ret = glue_err(-ENOENT, "event loop: fd %d is not watched", fd);
	} else {
		ev.data.ptr = s;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			ret = glue_err_sys(-errno, "event loop: cannot change events of fd %d", fd);
		else
			s->events = events;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int glue_loop_remove_fd(struct glue_loop *loop, int fd)
{
	struct src *s;
	int ret = 0;

	if (!loop)
		return glue_err(-EINVAL, "event loop: no loop");
	pthread_mutex_lock(&loop->lock);
	s = find_fd(loop, fd);
	if (!s) {
		ret = glue_err(-ENOENT, "event loop: fd %d is not watched", fd);
	} else {
		/* Fails harmlessly if the caller already closed fd (epoll
		 * dropped it then). */
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		bury(loop, s);
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

static void ns_to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
}

static int timer_arm(struct glue_timer *t, uint64_t first_ns, uint64_t interval_ns)
{
	struct itimerspec its;

	/* An all-zero it_value would disarm the timer: "now" is 1 ns. */
	ns_to_timespec(first_ns ? first_ns : 1, &its.it_value);
	ns_to_timespec(interval_ns, &its.it_interval);
	if (timerfd_settime(t->src.fd, 0, &its, NULL) < 0)
		return glue_err_sys(-errno, "event loop: cannot arm timer");
	return 0;
}

int glue_loop_add_timer(struct glue_loop *loop, uint64_t first_ns, uint64_t interval_ns,
			glue_timer_fn fn, void *ctx, struct glue_timer **out)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct glue_timer *t;
	int ret;

	if (!loop || !fn)
		return glue_err(-EINVAL, "event loop: bad arguments to add a timer");
	t = calloc(1, sizeof(*t));
	if (!t)
		return glue_err(-ENOMEM, "event loop: out of memory");
	t->src.kind = SRC_TIMER;
	t->src.timer_fn = fn;
	t->src.ctx = ctx;
	t->src.events = EPOLLIN;
	t->src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->src.fd < 0) {
		ret = glue_err_sys(-errno, "event loop: timerfd_create");
		free(t);
		return ret;
	}
	ret = timer_arm(t, first_ns, interval_ns);
	if (ret) {
		src_destroy(&t->src);
		return ret;
	}
	ev.data.ptr = &t->src;

	pthread_mutex_lock(&loop->lock);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, t->src.fd, &ev) < 0) {
		ret = glue_err_sys(-errno, "event loop: cannot watch timer");
	} else {
		t->src.next = loop->live;
		loop->live = &t->src;
	}
	pthread_mutex_unlock(&loop->lock);
	if (ret) {
		src_destroy(&t->src);
		return ret;
	}
	if (out)
		*out = t;
	return 0;
}

int glue_loop_set_timer(struct glue_loop *loop, struct glue_timer *timer, uint64_t first_ns,
			uint64_t interval_ns)
{
	int ret;

	if (!loop || !timer)
		return glue_err(-EINVAL, "event loop: no timer");
	pthread_mutex_lock(&loop->lock);
	if (timer->src.dead) {
		ret = glue_err(-ENOENT, "event loop: timer was removed");
	} else {
		uint64_t stale;

		ret = timer_arm(timer, first_ns, interval_ns);
		/* Drop an expiry from before re-arming, if one is pending. */
		if (!ret && read(timer->src.fd, &stale, sizeof(stale)) < 0)
			(void)0;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

void glue_loop_remove_timer(struct glue_loop *loop, struct glue_timer *timer)
{
	if (!loop || !timer)
		return;
	pthread_mutex_lock(&loop->lock);
	if (!timer->src.dead) {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, timer->src.fd, NULL);
		close(timer->src.fd);
		timer->src.fd = -1;
		bury(loop, &timer->src);
	}
	pthread_mutex_unlock(&loop->lock);
}

/*
 * One wait and dispatch. Returns the number of callbacks run or a negative
 * errno; with stoppable, returns early once glue_loop_stop() was called
 * (events not dispatched are level-triggered, so the next wait reports them
 * again).
 */
static int loop_once(struct glue_loop *loop, int timeout_ms, bool stoppable)
{
	struct epoll_event evs[LOOP_BATCH];
	struct src *dead;
	int n, ran = 0;

	n = epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return glue_err_sys(-errno, "event loop: epoll_wait");
	}
	for (int i = 0; i < n; i++) {
		struct src *s = evs[i].data.ptr;
		glue_loop_fd_fn fd_fn = NULL;
		glue_timer_fn timer_fn = NULL;
		uint64_t count;
		void *ctx;
		int fd;

		if (stoppable && atomic_load(&loop->stop))
			break;
		if (s->kind == SRC_WAKE) {
			/* Nonblocking: another wake may have drained it. */
			if (read(s->fd, &count, sizeof(count)) < 0)
				(void)0;
			continue;
		}
		pthread_mutex_lock(&loop->lock);
		if (!s->dead) {
			ctx = s->ctx;
			fd = s->fd;
			if (s->kind == SRC_FD)
				fd_fn = s->fd_fn;
			/* Read under the lock: another thread may close it. A
			 * failed read means the expiry is gone (re-armed). */
			else if (read(s->fd, &count, sizeof(count)) == sizeof(count))
				timer_fn = s->timer_fn;
		}
		pthread_mutex_unlock(&loop->lock);
		if (fd_fn) {
			fd_fn(loop, fd, evs[i].events, ctx);
			ran++;
		} else if (timer_fn) {
			timer_fn(loop, (struct glue_timer *)s, ctx);
			ran++;
		}
	}

	/* Nothing in this batch refers to the buried sources any more. */
	pthread_mutex_lock(&loop->lock);
	dead = loop->graveyard;
	loop->graveyard = NULL;
	pthread_mutex_unlock(&loop->lock);
	free_list(dead);
	return ran;
}

int glue_loop_run(struct glue_loop *loop)
{
	int ret = 0;

	if (!loop)
		return glue_err(-EINVAL, "event loop: no loop");
	while (!atomic_load(&loop->stop)) {
		ret = loop_once(loop, -1, true);
		if (ret < 0)
			break;
		ret = 0;
	}
	/* Consumed: the next glue_loop_run() runs again. */
	atomic_store(&loop->stop, false);
	return ret;
}

int glue_loop_run_once(struct glue_loop *loop, int timeout_ms)
{
	if (!loop)
		return glue_err(-EINVAL, "event loop: no loop");
	return loop_once(loop, timeout_ms, false);
}

void glue_loop_wake(struct glue_loop *loop)
{
	uint64_t one = 1;

	/* Can only fail when the counter is saturated: then it is readable
	 * anyway, which is all a wake needs. */
	if (loop && write(loop->wake.fd, &one, sizeof(one)) < 0)
		(void)0;
}

void glue_loop_stop(struct glue_loop *loop)
{
	if (!loop)
		return;
	atomic_store(&loop->stop, true);
	glue_loop_wake(loop);
}
