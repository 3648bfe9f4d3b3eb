// SPDX-License-Identifier: MIT
/*
 * Serial console input: bytes from console_in go to the UART, with an
 * escape key for the user (escape then 'x' quits, escape twice sends one
 * escape). When the UART's input buffer is full we stop reading the fd and
 * poll for room with a short timer, so a fast producer (a pipe) neither
 * loses bytes nor spins.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <glue/event.h>
#include <glue/serial.h>
#include "core/err.h"
#include "vmm/machine_internal.h"

#define RETRY_NS (5 * 1000 * 1000ULL)

struct glue_console {
	struct glue_machine *m;
	int fd;
	bool watching;
	bool escaped;
	struct glue_timer *retry;
	uint8_t pending[256]; /* read from fd, not yet accepted by the UART */
	size_t npending, pos;
};

static void on_input(struct glue_loop *loop, int fd, uint32_t events, void *ctx);

static void set_watching(struct glue_console *c, bool on)
{
	if (on == c->watching)
		return;
	if (on && glue_loop_add_fd(glue_machine_loop(c->m), c->fd, EPOLLIN, on_input, c) < 0)
		return;
	if (!on)
		glue_loop_remove_fd(glue_machine_loop(c->m), c->fd);
	c->watching = on;
}

/* Push pending bytes to the UART; true when all were accepted. */
static bool flush(struct glue_console *c)
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

	if (!flush(c))
		return;
	glue_loop_remove_timer(loop, timer);
	c->retry = NULL;
	set_watching(c, true);
}

static void on_input(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct glue_console *c = ctx;
	/* Half the buffer: each byte may expand to two (a sent escape). */
	uint8_t buf[sizeof(c->pending) / 2];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF or error: the guest keeps running without input. */
		set_watching(c, false);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t ch = buf[i];

		if (c->m->cfg.console_escape && c->escaped) {
			c->escaped = false;
			if (ch == 'x' || ch == 'X') {
				glue_machine_console_quit(c->m);
				return;
			}
			if (ch != c->m->cfg.console_escape)
				c->pending[c->npending++] = (uint8_t)c->m->cfg.console_escape;
		} else if (c->m->cfg.console_escape && ch == c->m->cfg.console_escape) {
			c->escaped = true;
			continue;
		}
		if (c->npending < sizeof(c->pending))
			c->pending[c->npending++] = ch;
	}
	if (!flush(c)) {
		set_watching(c, false);
		if (!c->retry)
			glue_loop_add_timer(loop, RETRY_NS, RETRY_NS, on_retry, c, &c->retry);
	}
}

int glue_console_new(struct glue_console **out, struct glue_machine *m)
{
	struct glue_console *c;

	*out = NULL;
	if (m->cfg.console_in < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return glue_err(-ENOMEM, "out of memory");
	c->m = m;
	c->fd = m->cfg.console_in;
	set_watching(c, true);
	if (!c->watching) {
		/* e.g. a regular file: epoll cannot watch it. Run without input. */
		glue_machine_log(m, 1, "glue: console input (fd %d) cannot be polled; ignoring it",
				 m->cfg.console_in);
		free(c);
		return 0;
	}
	*out = c;
	return 0;
}

void glue_console_free(struct glue_console *c)
{
	if (!c)
		return;
	set_watching(c, false);
	if (c->retry)
		glue_loop_remove_timer(glue_machine_loop(c->m), c->retry);
	free(c);
}
