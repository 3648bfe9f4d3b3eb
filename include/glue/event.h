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

GLUE_API int glue_loop_new(struct glue_loop **out);
/* Closes nothing the caller registered; frees remaining timers. */
GLUE_API void glue_loop_free(struct glue_loop *loop);

/* Watch fd for events (EPOLLIN, EPOLLOUT...). -EEXIST if fd is watched. */
GLUE_API int glue_loop_add_fd(struct glue_loop *loop, int fd, uint32_t events, glue_loop_fd_fn fn,
			      void *ctx);
GLUE_API int glue_loop_mod_fd(struct glue_loop *loop, int fd, uint32_t events);
GLUE_API int glue_loop_remove_fd(struct glue_loop *loop, int fd);

/* A timer firing first after first_ns, then every interval_ns (0: once). */
GLUE_API int glue_loop_add_timer(struct glue_loop *loop, uint64_t first_ns, uint64_t interval_ns,
				 glue_timer_fn fn, void *ctx, struct glue_timer **out);
/* Cancel and free a timer (also allowed from its own callback). */
GLUE_API void glue_loop_remove_timer(struct glue_loop *loop, struct glue_timer *timer);

/* Run callbacks until glue_loop_stop(). Returns 0, or a negative errno if
 * waiting failed. */
GLUE_API int glue_loop_run(struct glue_loop *loop);
/* Wait up to timeout_ms (-1: forever) and dispatch what is ready once.
 * Returns the number of callbacks run. */
GLUE_API int glue_loop_run_once(struct glue_loop *loop, int timeout_ms);
/* Make glue_loop_run() return after the current callback. */
GLUE_API void glue_loop_stop(struct glue_loop *loop);
/* Interrupt a blocking wait without stopping (e.g. after changing state the
 * loop should look at). */
GLUE_API void glue_loop_wake(struct glue_loop *loop);

GLUE_END_DECLS

#endif
