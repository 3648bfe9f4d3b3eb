// SPDX-License-Identifier: MIT
/*
 * Control server: one listening socket and its connections on a glue_loop.
 *
 * Everything is non-blocking and buffered per connection, so a client that
 * stalls mid-message, never reads its answers or floods the socket costs a
 * bounded amount of memory and never holds up the loop (which also runs the
 * VM's devices). While a connection has unsent output it is not read:
 * pipelining clients are slowed down instead of buffered without limit.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <glue/event.h>
#include "core/err.h"
#include "core/util.h"
#include "control/proto.h"
#include "control/rundir.h"
#include "control/server.h"

#define MAX_CONNS 32
#define DEFAULT_IDLE_MS 5000
#define IN_INITIAL 256
/* After accept() fails for lack of fds, wait this long before trying again
 * (a level-triggered listener would otherwise spin). */
#define ACCEPT_RETRY_NS (100 * 1000 * 1000ULL)

struct conn {
	struct glue_control_server *srv;
	struct conn *next;
	int fd;
	bool denied;   /* peer is not our uid or root: answer every request with EACCES */
	bool eof;      /* peer sent EOF: answer what is buffered, then close */
	bool fatal;    /* framing error: send the error answer, then close */
	bool want_out; /* registered for EPOLLOUT instead of EPOLLIN */
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t out[GLUE_CONTROL_RESPONSE_MAX * 2];
	size_t out_len, out_off;
	uint64_t last_ns; /* accept, or the last complete request */
};

struct glue_control_server {
	struct glue_loop *loop;
	struct glue_control_ops ops;
	void *ctx;
	void *owned; /* freed with the server (glue_control_serve_machine's state) */

	char dir[GLUE_CONTROL_DIR_MAX];
	char name[GLUE_CONTROL_NAME_MAX + 1];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[GLUE_CONTROL_DIR_MAX + GLUE_CONTROL_NAME_MAX + 8];
	int listen_fd;
	bool listening; /* listen_fd is registered with the loop */
	int lock_fd;

	struct conn *conns;
	unsigned nconns;
	struct glue_timer *idle_timer;
	struct glue_timer *retry_timer;
	uint64_t idle_ns;

	uint64_t start_mono_ns;
	uint64_t start_time;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void conn_close(struct conn *c)
{
	struct glue_control_server *srv = c->srv;
	struct conn **pp;

	for (pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	srv->nconns--;
	glue_loop_remove_fd(srv->loop, c->fd);
	close(c->fd);
	free(c->in);
	free(c);
	if (!srv->conns && srv->idle_timer) {
		glue_loop_remove_timer(srv->loop, srv->idle_timer);
		srv->idle_timer = NULL;
	}
}

/* Append an answer (process() makes sure one fits). Encoding fails only
 * when an op filled in something invalid, e.g. a state out of range: the
 * client then gets EIO instead of nothing. */
static void queue(struct conn *c, enum glue_control_cmd cmd, const struct glue_control_response *r)
{
	struct glue_control_response fallback;
	size_t len;

	if (glue_control_encode_response(cmd, r, c->out + c->out_len, sizeof(c->out) - c->out_len,
					 &len)) {
		memset(&fallback, 0, sizeof(fallback));
		fallback.status = -EIO;
		snprintf(fallback.error, sizeof(fallback.error),
			 "VM could not encode its answer: %s", glue_error_last());
		if (glue_control_encode_response(cmd, &fallback, c->out + c->out_len,
						 sizeof(c->out) - c->out_len, &len)) {
			c->fatal = true;
			return;
		}
	}
	c->out_len += len;
}

static void queue_error(struct conn *c, int err, const char *msg)
{
	struct glue_control_response r;

	memset(&r, 0, sizeof(r));
	r.status = err;
	snprintf(r.error, sizeof(r.error), "%s", msg);
	queue(c, GLUE_CONTROL_INFO, &r);
}

static int op_result(struct glue_control_response *r, int ret, const char *what)
{
	if (ret >= 0)
		return 0;
	r->status = ret;
	/* An op that forgot to record a message would leave a stale one. */
	if (glue_error_last()[0])
		snprintf(r->error, sizeof(r->error), "%s", glue_error_last());
	else
		snprintf(r->error, sizeof(r->error), "%s failed: %s", what, strerror(-ret));
	return ret;
}

static void fill_info(struct glue_control_server *srv, struct glue_control_response *r)
{
	struct glue_control_info *i = &r->info;

	memcpy(i->name, srv->name, sizeof(i->name));
	i->pid = getpid();
	i->state = GLUE_MACHINE_RUNNING;
	i->start_time = srv->start_time;
	i->uptime_ms = (mono_ns() - srv->start_mono_ns) / 1000000;
	glue_error_clear();
	if (!srv->ops.info) {
		op_result(r, -EOPNOTSUPP, "info");
		return;
	}
	if (op_result(r, srv->ops.info(srv->ctx, i), "info") == 0)
		r->state = i->state;
}

static void handle(struct conn *c, const uint8_t *payload, size_t len)
{
	struct glue_control_server *srv = c->srv;
	struct glue_control_request req;
	struct glue_control_response r;
	int ret;

	memset(&r, 0, sizeof(r));
	glue_error_clear();
	ret = glue_control_decode_request(payload, len, &req);
	if (ret) {
		queue_error(c, ret, glue_error_last());
		return;
	}
	if (c->denied) {
		queue_error(c, -EACCES, "permission denied: this VM belongs to another user");
		return;
	}

	switch (req.cmd) {
	case GLUE_CONTROL_INFO:
		fill_info(srv, &r);
		break;
	case GLUE_CONTROL_PAUSE:
		ret = srv->ops.pause ? srv->ops.pause(srv->ctx) : -EOPNOTSUPP;
		break;
	case GLUE_CONTROL_RESUME:
		ret = srv->ops.resume ? srv->ops.resume(srv->ctx) : -EOPNOTSUPP;
		break;
	case GLUE_CONTROL_STOP:
		ret = srv->ops.stop ? srv->ops.stop(srv->ctx, req.force) : -EOPNOTSUPP;
		break;
	}
	if (req.cmd != GLUE_CONTROL_INFO &&
	    op_result(&r, ret, glue_control_cmd_name(req.cmd)) == 0) {
		/* Report the state the request led to. */
		fill_info(srv, &r);
		if (r.status == 0)
			r.state = r.info.state;
	}
	queue(c, req.cmd, &r);
}

/* Answer every complete message in the input buffer. */
static void process(struct conn *c)
{
	size_t off = 0, plen;
	int ret;

	while (!c->fatal && c->out_len + GLUE_CONTROL_RESPONSE_MAX <= sizeof(c->out)) {
		ret = glue_control_frame_peek(c->in + off, c->in_len - off, &plen);
		if (ret < 0) {
			/* The stream cannot be resynchronised: say why, hang up. */
			queue_error(c, ret, glue_error_last());
			c->fatal = true;
			break;
		}
		if (ret == 0)
			break;
		handle(c, c->in + off + GLUE_CONTROL_HDR, plen);
		c->last_ns = mono_ns();
		off += GLUE_CONTROL_HDR + plen;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* Send what we can. Returns 0 when all is sent, 1 when some is left, < 0
 * when the connection is dead. */
static int flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -errno;
		}
		c->out_off += n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/* Make room for the message being received; false if out of memory. */
static bool make_room(struct conn *c)
{
	size_t want = IN_INITIAL, plen;
	uint8_t *p;

	/* The prefix says how big the message is: allocate that once. */
	if (glue_control_frame_peek(c->in, c->in_len, &plen) == 0 && plen)
		want = GLUE_CONTROL_HDR + plen;
	if (want <= c->in_cap)
		return c->in_len < c->in_cap;
	p = realloc(c->in, want);
	if (!p)
		return false;
	c->in = p;
	c->in_cap = want;
	return true;
}

static bool frame_ready(struct conn *c)
{
	size_t plen;

	return glue_control_frame_peek(c->in, c->in_len, &plen) != 0;
}

static void set_out(struct conn *c, bool want_out)
{
	if (c->want_out != want_out &&
	    glue_loop_mod_fd(c->srv->loop, c->fd, want_out ? EPOLLOUT : EPOLLIN) == 0)
		c->want_out = want_out;
}

static void conn_event(struct glue_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;
	ssize_t n;
	int ret;

	/* Read only with nothing left to send (see the top of the file). */
	if (!c->out_len && !c->eof && !c->fatal && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		if (!make_room(c))
			goto close;
		n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n > 0)
			c->in_len += n;
		else if (n == 0)
			c->eof = true; /* maybe a half-close: answer, then hang up */
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			goto close;
	}

	for (;;) {
		process(c);
		ret = flush(c);
		if (ret < 0)
			goto close;
		if (ret > 0) {
			set_out(c, true);
			return;
		}
		if (c->fatal)
			goto close;
		if (!frame_ready(c))
			break;
	}
	if (c->eof)
		goto close;
	set_out(c, false);
	return;
close:
	conn_close(c);
}

static void idle_check(struct glue_loop *loop, struct glue_timer *timer, void *ctx)
{
	struct glue_control_server *srv = ctx;
	uint64_t now = mono_ns();
	struct conn *c = srv->conns, *next;

	for (; c; c = next) {
		next = c->next;
		if (now - c->last_ns >= srv->idle_ns)
			conn_close(c); /* may remove this very timer: fine */
	}
}

static void listen_event(struct glue_loop *loop, int fd, uint32_t events, void *ctx);

static void retry_accept(struct glue_loop *loop, struct glue_timer *timer, void *ctx)
{
	struct glue_control_server *srv = ctx;

	srv->retry_timer = NULL;
	if (glue_loop_add_fd(loop, srv->listen_fd, EPOLLIN, listen_event, srv) == 0)
		srv->listening = true;
}

static void accept_one(struct glue_control_server *srv, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	uint64_t interval;

	if (srv->nconns >= MAX_CONNS) {
		close(fd); /* the client sees the connection closed at once */
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->last_ns = mono_ns();
	/* Defence in depth: the directory is 0700 already. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != geteuid() && cred.uid != 0))
		c->denied = true;
	if (glue_loop_add_fd(srv->loop, fd, EPOLLIN, conn_event, c)) {
		close(fd);
		free(c);
		return;
	}
	c->next = srv->conns;
	srv->conns = c;
	srv->nconns++;
	if (!srv->idle_timer) {
		interval = GLUE_MAX(GLUE_MIN(srv->idle_ns / 4, 1000000000ULL), 5000000ULL);
		glue_loop_add_timer(srv->loop, interval, interval, idle_check, srv,
				    &srv->idle_timer);
	}
}

static void listen_event(struct glue_loop *loop, int lfd, uint32_t events, void *ctx)
{
	struct glue_control_server *srv = ctx;
	int i, fd;

	/* A few per wakeup, so a connection storm cannot starve the devices. */
	for (i = 0; i < 8; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			accept_one(srv, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK && !srv->retry_timer) {
			/* Out of fds or memory: back off instead of spinning. */
			glue_loop_remove_fd(loop, lfd);
			srv->listening = false;
			glue_loop_add_timer(loop, ACCEPT_RETRY_NS, 0, retry_accept, srv,
					    &srv->retry_timer);
		}
		return;
	}
}

/* With the name's lock held: a socket still at the path is a dead VM's,
 * unless something that does not take the lock is serving it. */
static int clear_old_socket(struct glue_control_server *srv, const struct sockaddr_un *sun,
			    socklen_t alen)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct stat st;
	int fd, ret;

	if (lstat(srv->sock_path, &st)) {
		if (errno == ENOENT)
			return 0;
		return glue_err_sys(-errno, "cannot stat '%s'", srv->sock_path);
	}
	if (!S_ISSOCK(st.st_mode))
		return glue_err(-EEXIST, "'%s' exists and is not a socket", srv->sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return glue_err_sys(-errno, "cannot create a socket");
	ret = connect(fd, (const struct sockaddr *)sun, alen) ? -errno : 0;
	if (ret == 0 || ret == -EAGAIN) {
		if (ret || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
			cred.pid = 0;
		close(fd);
		if (cred.pid > 0)
			return glue_err(-EADDRINUSE, "a VM named '%s' is already running (pid %d)",
					srv->name, (int)cred.pid);
		return glue_err(-EADDRINUSE, "a VM named '%s' is already running", srv->name);
	}
	close(fd);
	if (unlink(srv->sock_path) && errno != ENOENT)
		return glue_err_sys(-errno, "cannot remove stale socket '%s'", srv->sock_path);
	return 0;
}

static int server_open(struct glue_control_server *srv)
{
	struct sockaddr_un sun;
	socklen_t alen;
	char pid[16];
	int ret, holder, n;

	ret = glue_control_sock_addr(&sun, &alen, srv->dir, srv->name);
	if (ret)
		return ret;
	memcpy(srv->sock_path, sun.sun_path, sizeof(srv->sock_path));
	ret = glue_control_file_path(srv->lock_path, sizeof(srv->lock_path), srv->dir, srv->name,
				     ".lock");
	if (ret)
		return ret;

	/* A lock held without a live pid in it is a VM starting up, or a
	 * list cleaning up after a dead one: give it a moment to finish. */
	for (n = 0; n < 20; n++) {
		ret = glue_control_lock(srv->dir, srv->name, true, &holder);
		if (ret != -EWOULDBLOCK || (holder && !(kill(holder, 0) && errno == ESRCH)))
			break;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	if (ret == -EWOULDBLOCK) {
		if (holder)
			return glue_err(-EADDRINUSE, "a VM named '%s' is already running (pid %d)",
					srv->name, holder);
		return glue_err(-EADDRINUSE, "a VM named '%s' is already running", srv->name);
	}
	if (ret < 0)
		return ret;
	srv->lock_fd = ret;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(srv->lock_fd, 0) || pwrite(srv->lock_fd, pid, n, 0) != n)
		return glue_err_sys(-errno, "cannot write '%s'", srv->lock_path);

	ret = clear_old_socket(srv, &sun, alen);
	if (ret)
		return ret;
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->listen_fd < 0)
		return glue_err_sys(-errno, "cannot create a socket");
	if (bind(srv->listen_fd, (struct sockaddr *)&sun, alen))
		return glue_err_sys(-errno, "cannot bind '%s'", srv->sock_path);
	if (chmod(srv->sock_path, 0600) || listen(srv->listen_fd, 16))
		return glue_err_sys(-errno, "cannot listen on '%s'", srv->sock_path);
	ret = glue_loop_add_fd(srv->loop, srv->listen_fd, EPOLLIN, listen_event, srv);
	if (ret)
		return glue_err_wrap(ret, "cannot watch '%s'", srv->sock_path);
	srv->listening = true;
	return 0;
}

int glue_control_server_new_owned(struct glue_control_server **out, struct glue_loop *loop,
				  const char *runtime_dir, const char *name,
				  const struct glue_control_ops *ops, void *ctx, void *owned)
{
	struct glue_control_server *srv;
	int ret;

	*out = NULL;
	ret = glue_control_name_check(name);
	if (ret) {
		free(owned);
		return ret;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		free(owned);
		return glue_err(-ENOMEM, "out of memory");
	}
	srv->loop = loop;
	srv->ops = *ops;
	srv->ctx = ctx;
	srv->owned = owned;
	srv->listen_fd = -1;
	srv->lock_fd = -1;
	srv->idle_ns = DEFAULT_IDLE_MS * 1000000ULL;
	srv->start_mono_ns = mono_ns();
	srv->start_time = time(NULL);
	snprintf(srv->name, sizeof(srv->name), "%s", name);

	ret = glue_control_dir_resolve(runtime_dir, srv->dir, sizeof(srv->dir));
	if (!ret)
		ret = glue_control_runtime_dir_check(srv->dir, true);
	if (!ret)
		ret = server_open(srv);
	if (ret) {
		glue_control_server_free(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

int glue_control_server_new(struct glue_control_server **out, struct glue_loop *loop,
			    const char *runtime_dir, const char *name,
			    const struct glue_control_ops *ops, void *ctx)
{
	return glue_control_server_new_owned(out, loop, runtime_dir, name, ops, ctx, NULL);
}

void glue_control_server_free(struct glue_control_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns);
	if (srv->idle_timer)
		glue_loop_remove_timer(srv->loop, srv->idle_timer);
	if (srv->retry_timer)
		glue_loop_remove_timer(srv->loop, srv->retry_timer);
	if (srv->listen_fd >= 0) {
		if (srv->listening)
			glue_loop_remove_fd(srv->loop, srv->listen_fd);
		close(srv->listen_fd);
		unlink(srv->sock_path);
	}
	if (srv->lock_fd >= 0) {
		/* Unlink while still holding the lock, so nobody takes over a
		 * file that is about to vanish (see glue_control_lock). */
		unlink(srv->lock_path);
		close(srv->lock_fd);
	}
	free(srv->owned);
	free(srv);
}

const char *glue_control_server_path(const struct glue_control_server *srv)
{
	return srv->sock_path;
}

void glue_control_server_set_idle_timeout(struct glue_control_server *srv, int timeout_ms)
{
	srv->idle_ns = (uint64_t)GLUE_MAX(timeout_ms, 10) * 1000000ULL;
}
