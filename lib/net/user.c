// SPDX-License-Identifier: MIT
/*
 * User-mode networking on libslirp. libslirp is single-threaded and driven
 * by its caller's poll loop: the backend runs one thread with that loop
 * (slirp's sockets, its timers, and its end of a datagram socketpair whose
 * other end is the backend's fd). A frame the NIC sends is one datagram in;
 * a frame slirp emits is one datagram out, dropped when the NIC is not
 * keeping up (as a full NIC would drop it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <glue/net_user.h>

#include "core/err.h"
#include "core/util.h"

struct utimer {
	struct utimer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

struct user {
	Slirp *slirp;
	int fd[2]; /* [0] the NIC's, [1] slirp's */
	int stop;  /* eventfd */
	pthread_t thread;
	bool running;
	struct utimer *timers;
	/* the poll set, rebuilt every round */
	struct pollfd *pfd;
	size_t npfd, cap;
	uint8_t frame[GLUE_NET_MAX_FRAME];
};

/* ---- slirp's callbacks (on the backend's thread) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user *u = opaque;
	ssize_t n;

	do
		n = send(u->fd[1], buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? (ssize_t)len : n; /* full: dropped, as on a wire */
}

static void cb_guest_error(const char *msg, void *opaque)
{
	/* A guest's bad packet: slirp drops it; nothing for the VMM to do. */
}

static int64_t cb_clock_get_ns(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct user *u = opaque;
	struct utimer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct user *u = opaque;

	for (struct utimer **p = &u->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	if (timer) /* NULL: timer_new ran out of memory; that timer never fires */
		((struct utimer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
	/* Called on our own thread: the next round picks the change up. */
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

/* ---- the loop ---- */

static int add_poll(int fd, int events, void *opaque)
{
	struct user *u = opaque;
	short ev = 0;

	if (u->npfd == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 16;
		struct pollfd *p = realloc(u->pfd, cap * sizeof(*p));

		if (!p)
			return -1; /* slirp then skips this socket for a round */
		u->pfd = p;
		u->cap = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	u->pfd[u->npfd] = (struct pollfd){.fd = fd, .events = ev};
	return (int)u->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct user *u = opaque;
	short r;
	int ev = 0;

	if (idx < 0 || (size_t)idx >= u->npfd)
		return 0;
	r = u->pfd[idx].revents;
	if (r & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (r & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

static void run_timers(struct user *u)
{
	int64_t now = cb_clock_get_ns(u) / 1000000;
	bool fired = true;

	/* A callback may free or re-arm timers: rescan after each one. */
	while (fired) {
		fired = false;
		for (struct utimer *t = u->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				t->cb(t->cb_opaque);
				fired = true;
				break;
			}
		}
	}
}

static uint32_t timers_timeout(struct user *u, uint32_t timeout)
{
	int64_t now = cb_clock_get_ns(u) / 1000000;

	for (struct utimer *t = u->timers; t; t = t->next)
		if (t->expire_ms >= 0)
			timeout = (uint32_t)GLUE_MIN((int64_t)timeout,
						     GLUE_MAX(t->expire_ms - now, (int64_t)0));
	return timeout;
}

static void *user_main(void *p)
{
	struct user *u = p;

	for (;;) {
		uint32_t timeout = 1000;
		int n;

		u->npfd = 0;
		add_poll(u->stop, SLIRP_POLL_IN, u);
		add_poll(u->fd[1], SLIRP_POLL_IN, u);
		if (u->npfd < 2)
			return NULL; /* out of memory for two entries: give up the link */
		slirp_pollfds_fill(u->slirp, &timeout, add_poll, u);
		timeout = timers_timeout(u, timeout);
		n = poll(u->pfd, u->npfd, (int)GLUE_MIN(timeout, (uint32_t)INT_MAX));
		if (n > 0 && (u->pfd[0].revents & POLLIN))
			break;
		slirp_pollfds_poll(u->slirp, n < 0, get_revents, u);
		if (n > 0 && (u->pfd[1].revents & POLLIN)) {
			/* A batch of the NIC's frames, then back to the sockets. */
			for (int i = 0; i < 64; i++) {
				ssize_t len =
					recv(u->fd[1], u->frame, sizeof(u->frame), MSG_DONTWAIT);

				if (len <= 0)
					break;
				slirp_input(u->slirp, u->frame, (int)len);
			}
		}
		run_timers(u);
	}
	return NULL;
}

/* ---- the backend ---- */

static int user_send(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct user *u = ctx;
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n;

	do
		n = sendmsg(u->fd[0], &m, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

static ssize_t user_recv(void *ctx, void *buf, size_t len)
{
	struct user *u = ctx;
	ssize_t n;

	do
		n = recv(u->fd[0], buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static void user_free(void *ctx)
{
	struct user *u = ctx;

	if (u->running) {
		uint64_t one = 1;

		if (write(u->stop, &one, sizeof(one)) < 0) {
			/* cannot fail: a fresh eventfd counter */
		}
		pthread_join(u->thread, NULL);
	}
	if (u->slirp)
		slirp_cleanup(u->slirp);
	while (u->timers)
		cb_timer_free(u->timers, u);
	for (int i = 0; i < 2; i++)
		if (u->fd[i] >= 0)
			close(u->fd[i]);
	if (u->stop >= 0)
		close(u->stop);
	free(u->pfd);
	free(u);
}

static const struct glue_net_backend_ops user_ops = {
	.send = user_send,
	.recv = user_recv,
	.free = user_free,
};

static bool in_net(struct in_addr a, const struct glue_net_user_config *c)
{
	return (a.s_addr & c->netmask.s_addr) == (c->network.s_addr & c->netmask.s_addr);
}

static int check_config(const struct glue_net_user_config *c)
{
	uint32_t mask = ntohl(c->netmask.s_addr);

	/* A contiguous mask leaving room for a few hosts. */
	if (mask == 0 || (~mask & (~mask + 1)) != 0 || ~mask < 7)
		return glue_err(-EINVAL, "user network: netmask %s is not a usable prefix",
				inet_ntoa(c->netmask));
	if (!in_net(c->host, c) || !in_net(c->dns, c) || !in_net(c->dhcp_start, c))
		return glue_err(-EINVAL,
				"user network: gateway, DNS and DHCP addresses must lie in the "
				"network");
	if (c->nfwd > GLUE_NET_USER_MAX_FWD)
		return glue_err(-EINVAL, "user network: at most %d forwarded ports",
				GLUE_NET_USER_MAX_FWD);
	for (unsigned int i = 0; i < c->nfwd; i++)
		if (!c->fwd[i].host_port || !c->fwd[i].guest_port)
			return glue_err(-EINVAL, "user network: forwarded port 0");
	return 0;
}

int glue_net_user_new(struct glue_net_backend *out, const struct glue_net_user_config *cfg)
{
	struct glue_net_user_config c;
	SlirpConfig sc;
	struct user *u;
	int sz = 4 << 20, e;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	glue_net_user_config_init(&c);
	if (cfg) {
		if (cfg->size < offsetof(struct glue_net_user_config, fwd))
			return glue_err(-EINVAL, "user network config: bad size (call "
						 "glue_net_user_config_init)");
		memcpy(&c, cfg, GLUE_MIN((size_t)cfg->size, sizeof(c)));
	}
	e = check_config(&c);
	if (e < 0)
		return e;
	u = calloc(1, sizeof(*u));
	if (!u)
		return glue_err(-ENOMEM, "out of memory");
	u->fd[0] = u->fd[1] = -1;
	u->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->stop < 0) {
		e = glue_err_sys(-errno, "user network: eventfd");
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, u->fd) < 0) {
		e = glue_err_sys(-errno, "user network: socketpair");
		goto fail;
	}
	/* Room for bursts both ways (a socketpair's datagrams count against sndbuf). */
	for (int i = 0; i < 2; i++) {
		setsockopt(u->fd[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(u->fd[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}

	memset(&sc, 0, sizeof(sc));
	sc.version = 1;
	sc.restricted = c.restricted;
	sc.in_enabled = true;
	sc.vnetwork = c.network;
	sc.vnetmask = c.netmask;
	sc.vhost = c.host;
	sc.vhostname = c.hostname;
	sc.vdhcp_start = c.dhcp_start;
	sc.vnameserver = c.dns;
	sc.if_mtu = 1500;
	sc.if_mru = 1500;
	u->slirp = slirp_new(&sc, &callbacks, u);
	if (!u->slirp) {
		e = glue_err(-ENOMEM, "user network: libslirp could not start");
		goto fail;
	}
	for (unsigned int i = 0; i < c.nfwd; i++) {
		const struct glue_net_hostfwd *f = &c.fwd[i];
		struct in_addr guest = f->guest_addr.s_addr ? f->guest_addr : c.dhcp_start;
		char host[INET_ADDRSTRLEN];

		if (slirp_add_hostfwd(u->slirp, f->udp, f->host_addr, f->host_port, guest,
				      f->guest_port) < 0) {
			/* slirp keeps bind(2)'s errno; anything else reads as a busy port */
			int err = errno == EACCES ? EACCES : EADDRINUSE;

			inet_ntop(AF_INET, &f->host_addr, host, sizeof(host));
			e = glue_err(-err, "user network: cannot forward %s %s:%u: %s",
				     f->udp ? "udp" : "tcp", host, f->host_port,
				     err == EACCES ? "not this process's to take"
						   : "the port is in use");
			goto fail;
		}
	}
	e = pthread_create(&u->thread, NULL, user_main, u);
	if (e) {
		e = glue_err_sys(-e, "user network: cannot start its thread");
		goto fail;
	}
	pthread_setname_np(u->thread, "glue-slirp");
	u->running = true;
	out->ops = &user_ops;
	out->ctx = u;
	out->name = "user";
	out->fd = u->fd[0];
	out->vnet_hdr = false;
	return 0;
fail:
	user_free(u);
	return e;
}

/* ---- hostfwd=PROTO:[ADDR]:PORT-[ADDR]:PORT ---- */

static int parse_port(const char *s, size_t n, uint16_t *out, const char *spec)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return glue_err(-EINVAL, "hostfwd '%s': a port must be 1-65535", spec);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return glue_err(-EINVAL, "hostfwd '%s': '%.*s' is not a port", spec, (int)n,
					s);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return glue_err(-EINVAL, "hostfwd '%s': port %lu is not 1-65535", spec, v);
	*out = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, size_t n, struct in_addr *out, const char *spec)
{
	char buf[INET_ADDRSTRLEN];

	out->s_addr = 0;
	if (n == 0)
		return 0;
	if (n >= sizeof(buf))
		return glue_err(-EINVAL, "hostfwd '%s': '%.*s' is not an IPv4 address", spec,
				(int)n, s);
	memcpy(buf, s, n);
	buf[n] = 0;
	if (inet_pton(AF_INET, buf, out) != 1)
		return glue_err(-EINVAL, "hostfwd '%s': '%s' is not an IPv4 address", spec, buf);
	return 0;
}

/* "[ADDR]:PORT" of length n. */
static int parse_end(const char *s, size_t n, struct in_addr *addr, uint16_t *port,
		     const char *spec)
{
	const char *colon = memchr(s, ':', n);
	int e;

	if (!colon)
		return glue_err(-EINVAL, "hostfwd '%s': expected [ADDR]:PORT in '%.*s'", spec,
				(int)n, s);
	e = parse_addr(s, (size_t)(colon - s), addr, spec);
	if (e < 0)
		return e;
	return parse_port(colon + 1, n - (size_t)(colon + 1 - s), port, spec);
}

int glue_net_hostfwd_parse(struct glue_net_hostfwd *out, const char *spec)
{
	const char *rest, *dash;
	int e;

	memset(out, 0, sizeof(*out));
	if (!spec)
		return glue_err(-EINVAL, "hostfwd: no rule given");
	if (!strncmp(spec, "tcp:", 4)) {
		rest = spec + 4;
	} else if (!strncmp(spec, "udp:", 4)) {
		out->udp = true;
		rest = spec + 4;
	} else {
		return glue_err(
			-EINVAL,
			"hostfwd '%s': expected tcp: or udp: then [HOSTADDR]:PORT-[GUESTADDR]:PORT",
			spec);
	}
	dash = strchr(rest, '-');
	if (!dash)
		return glue_err(-EINVAL, "hostfwd '%s': expected HOST-GUEST ('-' missing)", spec);
	e = parse_end(rest, (size_t)(dash - rest), &out->host_addr, &out->host_port, spec);
	if (e < 0)
		return e;
	return parse_end(dash + 1, strlen(dash + 1), &out->guest_addr, &out->guest_port, spec);
}
