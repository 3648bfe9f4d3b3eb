// SPDX-License-Identifier: MIT
/*
 * The serial console: bytes between the UART and the host's fds.
 *
 * Output. The UART calls us on a vCPU thread. A blocking write() there
 * would let a stalled reader of console_out (a full pipe, a stopped
 * terminal) freeze the vCPU, and with it pause, stop and signals. So output
 * goes into a bounded ring that the event loop drains when the fd is
 * writable. A vCPU that finds the ring full waits, but gives up (dropping
 * the bytes, as a UART with no one listening would) once the machine is
 * pausing or stopping. When the VM ends, glue_console_flush() writes what is
 * left, with a time limit. Regular files cannot be polled and never block
 * for long, so they are written directly.
 *
 * Input. Bytes from console_in go to the UART, with an escape key for the
 * user (escape then 'x' quits, escape twice sends one escape). When the
 * UART's input buffer is full we hold bytes back and retry on a timer, so a
 * pipe loses nothing. On an interactive console (an escape key is set) we
 * keep reading even then, and drop what the guest cannot take, as a real
 * UART overruns: otherwise the escape would never be seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <glue/event.h>
#include <glue/serial.h>
#include "core/err.h"
#include "core/util.h"
#include "vmm/machine_internal.h"

#define RETRY_NS (5 * 1000 * 1000ULL)
#define OUT_RING (64 * 1024)
#define OUT_CHUNK 4096 /* a pipe with room takes this much without blocking */

struct glue_console {
	struct glue_machine *m;

	/* input */
	int in_fd;
	bool watching;
	bool escaped;
	struct glue_timer *retry;
	uint8_t pending[256]; /* read from in_fd, not yet accepted by the UART */
	size_t npending, pos;
	uint64_t dropped_in;

	/* output */
	int out_fd;     /* dup of console_out, or -1 */
	bool out_poll;  /* out_fd is on the loop; else written directly */
	bool out_broken; /* the reader went away: discard output */
	int wake_fd;    /* eventfd: the ring has data */
	pthread_mutex_t lock;
	pthread_cond_t room;
	uint8_t ring[OUT_RING];
	size_t head, len;
	uint64_t dropped_out;
};

/* ---- output ------------------------------------------------------------ */

static bool machine_wants_vcpus_back(struct glue_machine *m)
{
	return atomic_load(&m->pause_req) || atomic_load(&m->stop_req);
}

static void write_direct(struct glue_console *c, const uint8_t *data, size_t len)
{
	while (len && !c->out_broken) {
		ssize_t n = write(c->out_fd, data, len);

		if (n < 0 && errno == EINTR && !machine_wants_vcpus_back(c->m))
			continue;
		if (n <= 0) {
			c->out_broken = true;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* The UART's output callback (vCPU threads). */
static void console_output(void *ctx, const uint8_t *data, size_t len)
{
	struct glue_console *c = ctx;
	bool wake = false;
	uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	if (!c->out_poll) {
		write_direct(c, data, len);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	while (len && !c->out_broken) {
		size_t room = OUT_RING - c->len, tail, n;

		if (room == 0) {
			if (machine_wants_vcpus_back(c->m)) {
				c->dropped_out += len;
				break;
			}
			pthread_cond_wait(&c->room, &c->lock);
			continue;
		}
		/* Only an empty ring needs the loop woken: while it holds
		 * data, the loop's EPOLLOUT watch is on and drains it. */
		wake |= c->len == 0;
		tail = (c->head + c->len) % OUT_RING;
		n = GLUE_MIN(GLUE_MIN(len, room), OUT_RING - tail);
		memcpy(c->ring + tail, data, n);
		c->len += n;
		data += n;
		len -= n;
	}
	pthread_mutex_unlock(&c->lock);
	if (wake && write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the loop is awake anyway */
	}
}

/* Write one chunk of the ring; returns bytes written, 0 if nothing to do,
 * or -1 when the fd is not ready (or gone). Loop thread, or after run(). */
static ssize_t drain_once(struct glue_console *c)
{
	size_t n;
	ssize_t w;

	pthread_mutex_lock(&c->lock);
	n = GLUE_MIN(GLUE_MIN(c->len, (size_t)OUT_CHUNK), OUT_RING - c->head);
	pthread_mutex_unlock(&c->lock);
	if (n == 0)
		return 0;
	/* Only this thread consumes, so [head, head + n) stays valid unlocked. */
	w = write(c->out_fd, c->ring + c->head, n);
	pthread_mutex_lock(&c->lock);
	if (w > 0) {
		c->head = (c->head + (size_t)w) % OUT_RING;
		c->len -= (size_t)w;
	} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
		c->out_broken = true; /* EPIPE and friends: nobody will read it */
		c->dropped_out += c->len;
		c->len = 0;
	}
	pthread_cond_broadcast(&c->room);
	pthread_mutex_unlock(&c->lock);
	return w > 0 ? w : -1;
}

static bool ring_empty(struct glue_console *c)
{
	bool empty;

	pthread_mutex_lock(&c->lock);
	empty = c->len == 0 || c->out_broken;
	pthread_mutex_unlock(&c->lock);
	return empty;
}

static void on_writable(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct glue_console *c = ctx;

	if (events & (EPOLLERR | EPOLLHUP)) {
		pthread_mutex_lock(&c->lock);
		c->out_broken = true;
		c->dropped_out += c->len;
		c->len = 0;
		pthread_cond_broadcast(&c->room);
		pthread_mutex_unlock(&c->lock);
	} else {
		drain_once(c);
	}
	if (ring_empty(c))
		glue_loop_mod_fd(loop, fd, 0);
}

static void on_output_queued(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct glue_console *c = ctx;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* spurious wakeup: nothing to clear */
	}
	if (!ring_empty(c))
		glue_loop_mod_fd(loop, c->out_fd, EPOLLOUT);
}

void glue_console_wake(struct glue_console *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	pthread_cond_broadcast(&c->room);
	pthread_mutex_unlock(&c->lock);
}

void glue_console_flush(struct glue_console *c, int stall_ms)
{
	if (!c || !c->out_poll)
		return;
	/* A reader that keeps reading gets everything; one that has stopped
	 * costs at most stall_ms. */
	while (!ring_empty(c)) {
		struct pollfd p = {.fd = c->out_fd, .events = POLLOUT};

		if (poll(&p, 1, stall_ms) <= 0 || (p.revents & (POLLERR | POLLHUP)))
			break;
		drain_once(c);
	}
	pthread_mutex_lock(&c->lock);
	c->dropped_out += c->len;
	c->len = 0;
	pthread_mutex_unlock(&c->lock);
	if (c->dropped_out)
		glue_machine_log(c->m, 1, "glue: %llu bytes of console output dropped (no reader)",
				 (unsigned long long)c->dropped_out);
}

static int setup_output(struct glue_console *c, int fd)
{
	struct glue_loop *loop = glue_machine_loop(c->m);

	/* A dup of our own: the caller's fd may also be console_in, and each
	 * fd can be on the loop once. */
	c->out_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (c->out_fd < 0)
		return glue_err_sys(-errno, "console output fd %d", fd);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0)
		return glue_err_sys(-errno, "console: eventfd");
	if (glue_loop_add_fd(loop, c->out_fd, 0, on_writable, c) == 0) {
		c->out_poll = true;
		if (glue_loop_add_fd(loop, c->wake_fd, EPOLLIN, on_output_queued, c) < 0)
			return -EIO;
	}
	/* else: a regular file; written directly. */
	glue_serial_set_output(c->m->serial, console_output, c);
	return 0;
}

/* ---- input ------------------------------------------------------------- */

static void on_input(struct glue_loop *loop, int fd, uint32_t events, void *ctx);

static void set_watching(struct glue_console *c, bool on)
{
	if (on == c->watching)
		return;
	if (on && glue_loop_add_fd(glue_machine_loop(c->m), c->in_fd, EPOLLIN, on_input, c) < 0)
		return;
	if (!on)
		glue_loop_remove_fd(glue_machine_loop(c->m), c->in_fd);
	c->watching = on;
}

/* Push pending bytes to the UART; true when all were accepted. */
static bool flush_input(struct glue_console *c)
{
	while (c->pos < c->npending) {
		int n = glue_serial_input(c->m->serial, c->pending + c->pos, c->npending - c->pos);

		if (n <= 0)
			return false;
		c->pos += (size_t)n;
	}
	c->pos = c->npending = 0;
	return true;
}

static void on_retry(struct glue_loop *loop, struct glue_timer *timer, void *ctx)
{
	struct glue_console *c = ctx;

	if (!flush_input(c))
		return;
	glue_loop_remove_timer(loop, timer);
	c->retry = NULL;
	set_watching(c, true);
}

static void queue_input(struct glue_console *c, uint8_t ch)
{
	if (c->pos > 0 && c->npending == sizeof(c->pending)) {
		memmove(c->pending, c->pending + c->pos, c->npending - c->pos);
		c->npending -= c->pos;
		c->pos = 0;
	}
	if (c->npending < sizeof(c->pending))
		c->pending[c->npending++] = ch;
	else
		c->dropped_in++; /* interactive and the guest is not reading */
}

static void on_input(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct glue_console *c = ctx;
	const int esc = c->m->cfg.console_escape;
	size_t want = sizeof(c->pending) - c->npending;
	uint8_t buf[128];
	ssize_t n;

	/* Without an escape key, read only what the pending buffer can hold,
	 * so nothing is ever dropped. */
	if (!esc && want == 0)
		return;
	n = read(fd, buf, esc ? sizeof(buf) : GLUE_MIN(sizeof(buf), want));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF or error: the guest keeps running without input. */
		set_watching(c, false);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t ch = buf[i];

		if (esc && c->escaped) {
			c->escaped = false;
			if (ch == 'x' || ch == 'X') {
				glue_machine_console_quit(c->m);
				return;
			}
			if (ch != esc)
				queue_input(c, (uint8_t)esc);
		} else if (esc && ch == esc) {
			c->escaped = true;
			continue;
		}
		queue_input(c, ch);
	}
	if (!flush_input(c)) {
		if (!esc)
			set_watching(c, false);
		if (!c->retry)
			glue_loop_add_timer(loop, RETRY_NS, RETRY_NS, on_retry, c, &c->retry);
	}
}

/* ---- life -------------------------------------------------------------- */

int glue_console_new(struct glue_console **out, struct glue_machine *m)
{
	struct glue_console *c;
	int r;

	*out = NULL;
	if (m->cfg.console_in < 0 && m->cfg.console_out < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return glue_err(-ENOMEM, "out of memory");
	c->m = m;
	c->in_fd = m->cfg.console_in;
	c->out_fd = -1;
	c->wake_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->room, NULL);
	if (m->cfg.console_out >= 0) {
		r = setup_output(c, m->cfg.console_out);
		if (r < 0) {
			glue_console_free(c);
			return r;
		}
	}
	if (c->in_fd >= 0) {
		set_watching(c, true);
		if (!c->watching)
			/* e.g. a regular file or /dev/null: epoll cannot watch
			 * it. Run without input. */
			glue_machine_log(m, 1,
					 "glue: console input (fd %d) cannot be polled; ignoring it",
					 c->in_fd);
	}
	*out = c;
	return 0;
}

void glue_console_free(struct glue_console *c)
{
	struct glue_loop *loop;

	if (!c)
		return;
	loop = glue_machine_loop(c->m);
	if (c->in_fd >= 0)
		set_watching(c, false);
	if (c->retry)
		glue_loop_remove_timer(loop, c->retry);
	if (c->out_fd >= 0) {
		if (c->out_poll) {
			glue_loop_remove_fd(loop, c->out_fd);
			glue_loop_remove_fd(loop, c->wake_fd);
		}
		close(c->out_fd);
	}
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	if (c->m->serial)
		glue_serial_set_output(c->m->serial, NULL, NULL);
	pthread_cond_destroy(&c->room);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
