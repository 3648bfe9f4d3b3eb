// SPDX-License-Identifier: MIT
/* Control client: connect to a VM by name, call it, list the VMs. */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "control/proto.h"
#include "control/rundir.h"

struct glue_control_client {
	int fd;
	int pid;
	bool broken; /* a timeout or bad answer left the stream out of step */
	char name[GLUE_CONTROL_NAME_MAX + 1];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remaining poll() timeout until deadline (-1: none). */
static int remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - mono_ms();
	return left < 0 ? 0 : (int)GLUE_MIN(left, INT32_MAX);
}

/* No socket, refused, or gone: is anyone accepting at addr? */
static bool nobody_listens(const struct sockaddr_un *sun, socklen_t alen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool dead;

	if (fd < 0)
		return false;
	dead = connect(fd, (const struct sockaddr *)sun, alen) &&
	       (errno == ECONNREFUSED || errno == ENOENT);
	close(fd);
	return dead;
}

/* dir is resolved. 1: removed something, 0: alive or nothing there. */
static int remove_stale_in(const char *dir, const char *name)
{
	char lock_path[GLUE_CONTROL_DIR_MAX + GLUE_CONTROL_NAME_MAX + 8];
	struct sockaddr_un sun;
	socklen_t alen;
	int fd, holder, ret, removed = 0;

	ret = glue_control_sock_addr(&sun, &alen, dir, name);
	if (!ret)
		ret = glue_control_file_path(lock_path, sizeof(lock_path), dir, name, ".lock");
	if (ret)
		return ret;

	fd = glue_control_lock(dir, name, false, &holder);
	if (fd == -EWOULDBLOCK)
		return 0;
	if (fd >= 0) {
		/* The lock dies with its process: whatever is here is stale. */
		if (unlink(sun.sun_path) == 0)
			removed = 1;
		if (unlink(lock_path) == 0)
			removed = 1;
		close(fd);
		return removed;
	}
	if (fd != -ENOENT)
		return fd;
	/* A socket without a lock file (deleted by hand?): stale only if
	 * nothing accepts on it. */
	if (nobody_listens(&sun, alen) && unlink(sun.sun_path) == 0)
		return 1;
	return 0;
}

int glue_control_remove_stale(const char *runtime_dir, const char *name)
{
	char dir[GLUE_CONTROL_DIR_MAX];
	int ret;

	ret = glue_control_name_check(name);
	if (!ret)
		ret = glue_control_dir_resolve(runtime_dir, dir, sizeof(dir));
	if (ret)
		return ret;
	return remove_stale_in(dir, name);
}

/* dir is resolved and checked. */
static int connect_in(struct glue_control_client **out, const char *dir, const char *name)
{
	struct glue_control_client *c;
	struct sockaddr_un sun;
	struct ucred cred;
	socklen_t alen, clen = sizeof(cred);
	int fd, ret;

	*out = NULL;
	ret = glue_control_sock_addr(&sun, &alen, dir, name);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return glue_err_sys(-errno, "cannot create a socket");
	if (connect(fd, (struct sockaddr *)&sun, alen)) {
		ret = -errno;
		close(fd);
		switch (ret) {
		case -ENOENT:
			remove_stale_in(dir, name); /* a lock file may be left */
			return glue_err(-ENOENT, "no VM named '%s'", name);
		case -ECONNREFUSED:
			if (remove_stale_in(dir, name) == 1)
				return glue_err(-ENOENT,
						"no VM named '%s' (removed the socket "
						"left by a VM that died)",
						name);
			return glue_err(ret,
					"VM '%s' is not responding (it does not accept "
					"connections)",
					name);
		case -EAGAIN:
			return glue_err(ret,
					"VM '%s' is not responding (its connection queue is full)",
					name);
		case -EACCES:
		case -EPERM:
			return glue_err(-EACCES,
					"permission denied: cannot connect to VM '%s' ('%s')", name,
					sun.sun_path);
		default:
			return glue_err_sys(ret, "cannot connect to VM '%s' ('%s')", name,
					    sun.sun_path);
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		ret = glue_err_sys(-errno, "cannot identify the process of VM '%s'", name);
		close(fd);
		return ret;
	}
	if (cred.uid != geteuid() && cred.uid != 0) {
		close(fd);
		return glue_err(-EACCES,
				"permission denied: VM '%s' runs as uid %u, not as you (uid %u)",
				name, (unsigned)cred.uid, (unsigned)geteuid());
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return glue_err(-ENOMEM, "out of memory");
	}
	c->fd = fd;
	c->pid = cred.pid;
	snprintf(c->name, sizeof(c->name), "%s", name);
	*out = c;
	return 0;
}

/* Resolve and check dir; a missing dir means there is no VM. */
static int open_dir(const char *runtime_dir, char *dir, size_t len)
{
	int ret = glue_control_dir_resolve(runtime_dir, dir, len);

	if (!ret)
		ret = glue_control_runtime_dir_check(dir, false);
	return ret;
}

int glue_control_connect(struct glue_control_client **out, const char *runtime_dir,
			 const char *name)
{
	char dir[GLUE_CONTROL_DIR_MAX];
	int ret;

	*out = NULL;
	ret = glue_control_name_check(name);
	if (ret)
		return ret;
	ret = open_dir(runtime_dir, dir, sizeof(dir));
	if (ret == -ENOENT)
		return glue_err(-ENOENT, "no VM named '%s'", name);
	if (ret)
		return ret;
	return connect_in(out, dir, name);
}

void glue_control_client_free(struct glue_control_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int glue_control_client_pid(const struct glue_control_client *c)
{
	return c->pid;
}

/* Wait for fd to be ready for events; 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	do {
		n = poll(&p, 1, remaining(deadline));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int send_all(struct glue_control_client *c, const uint8_t *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	ssize_t n;
	int ret;

	while (off < len) {
		n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			off += n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(c->fd, POLLOUT, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

static int recv_all(struct glue_control_client *c, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	ssize_t n;
	int ret;

	while (off < len) {
		n = recv(c->fd, buf + off, len - off, MSG_DONTWAIT);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(c->fd, POLLIN, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

static int io_error(struct glue_control_client *c, int ret, int timeout_ms)
{
	c->broken = true;
	if (ret == -ETIMEDOUT)
		return glue_err(ret, "VM '%s' is not responding (no answer within %d ms)", c->name,
				timeout_ms);
	if (ret == -ECONNRESET || ret == -EPIPE)
		return glue_err(-ECONNRESET, "VM '%s' closed the connection without answering",
				c->name);
	return glue_err_sys(ret, "talking to VM '%s'", c->name);
}

int glue_control_call(struct glue_control_client *c, const struct glue_control_request *req,
		      struct glue_control_response *resp, int timeout_ms)
{
	uint8_t buf[GLUE_CONTROL_RESPONSE_MAX];
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	size_t len, plen;
	int ret;

	memset(resp, 0, sizeof(*resp));
	if (c->broken)
		return glue_err(-ENOTCONN,
				"connection to VM '%s' is unusable after an earlier error",
				c->name);
	ret = glue_control_encode_request(req, buf, sizeof(buf), &len);
	if (ret)
		return ret;
	ret = send_all(c, buf, len, deadline);
	/* A VM that hung up may still have left an answer saying why. */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		return io_error(c, ret, timeout_ms);

	ret = recv_all(c, buf, GLUE_CONTROL_HDR, deadline);
	if (ret)
		return io_error(c, ret, timeout_ms);
	ret = glue_control_frame_peek(buf, GLUE_CONTROL_HDR, &plen);
	if (ret >= 0 && plen > sizeof(buf) - GLUE_CONTROL_HDR)
		ret = glue_err(-EBADMSG, "answer of %zu bytes is larger than any valid one", plen);
	if (ret < 0) {
		c->broken = true;
		return glue_err_wrap(-EBADMSG, "VM '%s' sent a malformed answer", c->name);
	}
	ret = recv_all(c, buf + GLUE_CONTROL_HDR, plen, deadline);
	if (ret)
		return io_error(c, ret, timeout_ms);
	ret = glue_control_decode_response(req->cmd, buf + GLUE_CONTROL_HDR, plen, resp);
	if (ret) {
		c->broken = true;
		return glue_err_wrap(ret, "VM '%s' sent a malformed answer", c->name);
	}
	if (resp->status < 0)
		return glue_err(resp->status, "VM '%s': %s", c->name, resp->error);
	return 0;
}

/* ---- list -------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of every <name>.sock and <name>.lock in dir, sorted, unique. */
static int scan(const char *dir, char ***out, size_t *count)
{
	char **names = NULL, **p;
	size_t n = 0, cap = 0, i, j;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return glue_err_sys(-errno, "cannot read runtime directory '%s'", dir);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *name;

		if (len < 6 || (strcmp(de->d_name + len - 5, ".sock") &&
				strcmp(de->d_name + len - 5, ".lock")))
			continue;
		name = strndup(de->d_name, len - 5);
		if (!name)
			break;
		/* Not ours (or a hand-made file): leave it alone. */
		if (glue_control_name_check(name)) {
			free(name);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			p = realloc(names, cap * sizeof(*names));
			if (!p) {
				free(name);
				break;
			}
			names = p;
		}
		names[n++] = name;
	}
	closedir(d);
	glue_error_clear();
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = j = 0; i < n; i++) {
		if (j && !strcmp(names[j - 1], names[i]))
			free(names[i]);
		else
			names[j++] = names[i];
	}
	*out = names;
	*count = j;
	return 0;
}

static void probe(const char *dir, const char *name, int timeout_ms, struct glue_control_entry *e,
		  char *err, size_t errlen)
{
	const struct glue_control_request req = {.cmd = GLUE_CONTROL_INFO};
	struct glue_control_response resp;
	struct glue_control_client *c;

	e->status = connect_in(&c, dir, name);
	if (e->status == 0) {
		e->pid = c->pid;
		e->status = glue_control_call(c, &req, &resp, timeout_ms);
		if (e->status == 0)
			e->info = resp.info;
		glue_control_client_free(c);
	} else {
		e->pid = glue_control_lock_pid(dir, name);
	}
	if (e->status)
		snprintf(err, errlen, "%s", glue_error_last());
}

int glue_control_list(const char *runtime_dir, glue_control_list_fn fn, void *ctx)
{
	return glue_control_list_timeout(runtime_dir, GLUE_CONTROL_PROBE_TIMEOUT_MS, fn, ctx);
}

int glue_control_list_timeout(const char *runtime_dir, int timeout_ms, glue_control_list_fn fn,
			      void *ctx)
{
	char dir[GLUE_CONTROL_DIR_MAX], err[512], sock[GLUE_CONTROL_DIR_MAX + 80];
	char **names = NULL;
	size_t n = 0, i;
	struct stat st;
	int ret;

	if (timeout_ms <= 0)
		return glue_err(-EINVAL, "list timeout %d ms is not positive", timeout_ms);
	ret = open_dir(runtime_dir, dir, sizeof(dir));
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = scan(dir, &names, &n);
	if (ret)
		return ret;
	for (i = 0; i < n && ret == 0; i++) {
		struct glue_control_entry e = {.name = names[i], .error = ""};

		if (remove_stale_in(dir, names[i]) == 1)
			continue;
		/* A lock without a socket: a VM still starting up. */
		if (glue_control_file_path(sock, sizeof(sock), dir, names[i], ".sock") ||
		    lstat(sock, &st))
			continue;
		err[0] = '\0';
		probe(dir, names[i], timeout_ms, &e, err, sizeof(err));
		if (e.status == -ENOENT)
			continue; /* it went away meanwhile */
		e.error = err;
		ret = fn(ctx, &e);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}
