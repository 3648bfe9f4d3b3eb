/* SPDX-License-Identifier: MIT */
/*
 * Event loop: epoll over file descriptors, plus timers (timerfd). Devices
 * and front ends register an fd with a callback and a context.
 *
 * Thread-safety: the loop runs in one thread. glue_loop_stop() and
 * glue_loop_wake() may be called from any thread. Adding and removing fds
 * from another thread is allowed (epoll is thread-safe), but a callback may
 * still be running for an fd just removed from another thread.
 */
#ifndef GLUE_EVENT_H
#define GLUE_EVENT_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_loop;
struct glue_timer;

/* events is a mask of EPOLLIN/EPOLLOUT/EPOLLHUP/EPOLLERR. */
typedef void (*glue_loop_fd_fn)(struct glue_loop *loop, int fd, uint32_t events, void *ctx);
typedef void (*glue_timer_fn)(struct glue_loop *loop, struct glue_timer *timer, void *ctx);

/* Returns 0, or a negative errno (-ENOMEM, -EMFILE...). */
GLUE_API int glue_loop_new(struct glue_loop **out);
/* Not while the loop runs. Closes nothing the caller registered; frees remaining timers. */
GLUE_API void glue_loop_free(struct glue_loop *loop);

/* Watch fd for events (EPOLLIN, EPOLLOUT...), level-triggered. -EEXIST if fd
 * is watched. Callbacks may add and remove fds and timers, their own
 * included; an fd removed by a callback gets no further callback, even for
 * events already collected in the same batch. */
GLUE_API int glue_loop_add_fd(struct glue_loop *loop, int fd, uint32_t events, glue_loop_fd_fn fn,
			      void *ctx);
/* Change the events watched; -ENOENT if fd is not watched. */
GLUE_API int glue_loop_mod_fd(struct glue_loop *loop, int fd, uint32_t events);
/* Stop watching fd (before closing it); -ENOENT if it is not watched. */
GLUE_API int glue_loop_remove_fd(struct glue_loop *loop, int fd);

/* A timer (CLOCK_MONOTONIC) firing first after first_ns (0: as soon as the
 * loop runs), then every interval_ns (0: once). A one-shot timer stays
 * allocated, disarmed, until removed or re-armed. out may be NULL when the
 * timer is never removed before glue_loop_free(). Expiries missed while the
 * loop was busy are merged into one callback. */
GLUE_API int glue_loop_add_timer(struct glue_loop *loop, uint64_t first_ns, uint64_t interval_ns,
				 glue_timer_fn fn, void *ctx, struct glue_timer **out);
/* Re-arm a timer as glue_loop_add_timer() would; an expiry not yet
 * dispatched is dropped. -ENOENT for a removed timer. */
GLUE_API int glue_loop_set_timer(struct glue_loop *loop, struct glue_timer *timer,
				 uint64_t first_ns, uint64_t interval_ns);
/* Cancel and free a timer (also allowed from its own callback, which must
 * not touch the timer afterwards). Its callback is not called again. */
GLUE_API void glue_loop_remove_timer(struct glue_loop *loop, struct glue_timer *timer);

/* Run callbacks until glue_loop_stop(). Returns 0, or a negative errno if
 * waiting failed. A stop requested before the call makes it return at once;
 * each stop ends one run. */
GLUE_API int glue_loop_run(struct glue_loop *loop);
/* Wait up to timeout_ms (-1: forever) and dispatch what is ready once.
 * Returns the number of callbacks run (0 after a timeout, a wake or a
 * signal), or a negative errno. Ignores glue_loop_stop(). */
GLUE_API int glue_loop_run_once(struct glue_loop *loop, int timeout_ms);
/* Make glue_loop_run() return after the current callback. */
GLUE_API void glue_loop_stop(struct glue_loop *loop);
/* Interrupt a blocking wait without stopping (e.g. after changing state the
 * loop should look at). */
GLUE_API void glue_loop_wake(struct glue_loop *loop);

GLUE_END_DECLS

#endif
