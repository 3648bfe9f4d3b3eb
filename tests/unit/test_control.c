// SPDX-License-Identifier: MIT
/* Control protocol codec, runtime directory, and a server on a glue_loop in
 * a thread talking to clients (the library's and raw sockets). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glue/control.h>
#include <glue/error.h>
#include <glue/event.h>
#include "control/proto.h"
#include "core/err.h"

/* ---- helpers ------------------------------------------------------------ */

static size_t frame(const struct glue_control_request *req, uint8_t *buf, size_t cap)
{
	size_t len;

	cr_assert_eq(glue_control_encode_request(req, buf, cap, &len), 0, "%s", glue_error_last());
	return len;
}

static int dec_req(const char *s, struct glue_control_request *req)
{
	return glue_control_decode_request(s, strlen(s), req);
}

static int dec_resp(enum glue_control_cmd cmd, const char *s, struct glue_control_response *r)
{
	return glue_control_decode_response(cmd, s, strlen(s), r);
}

static const char *info_ok =
	"v=1\nstatus=ok\nname=vm-1\npid=42\nstate=paused\ncpus=2\nmem_bytes=268435456\n"
	"start_time=1700000000\nuptime_ms=1234\n";

/* A scratch runtime directory; the control dir is <tmp>/run. */
static char tmp[64], rundir[96];

static void mkrundir(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/glue-control-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(rundir, sizeof(rundir), "%s/run", tmp);
}

static void rmrundir(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd))
		cr_log_warn("could not remove %s", tmp);
}

static bool exists(const char *name, const char *suffix)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s%s", rundir, name, suffix);
	return lstat(p, &st) == 0;
}

/* A socket file nobody listens on, and an unlocked lock file: what a VM
 * killed with SIGKILL leaves. */
static void make_stale(const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char p[256];
	int fd;

	cr_assert_eq(glue_control_runtime_dir_check(rundir, true), 0, "%s", glue_error_last());
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", rundir, name);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/%s.lock", rundir, name);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	cr_assert_eq(write(fd, "999999\n", 7), 7);
	close(fd);
}

/* ---- a fake VM ---------------------------------------------------------- */

struct fake {
	enum glue_machine_state state;
	int pauses, resumes, stops;
	bool last_force;
	int fail_pause; /* pause returns this when set */
};

static int fake_info(void *ctx, struct glue_control_info *out)
{
	struct fake *f = ctx;

	out->state = f->state;
	out->cpus = 2;
	out->mem_bytes = 256ULL << 20;
	return 0;
}

static int fake_pause(void *ctx)
{
	struct fake *f = ctx;

	f->pauses++;
	if (f->fail_pause)
		return glue_err(f->fail_pause, "vCPU 0 would not park");
	f->state = GLUE_MACHINE_PAUSED;
	return 0;
}

static int fake_resume(void *ctx)
{
	struct fake *f = ctx;

	f->resumes++;
	f->state = GLUE_MACHINE_RUNNING;
	return 0;
}

static int fake_stop(void *ctx, bool force)
{
	struct fake *f = ctx;

	f->stops++;
	f->last_force = force;
	f->state = GLUE_MACHINE_STOPPING;
	return 0;
}

static const struct glue_control_ops fake_ops = {
	.info = fake_info,
	.pause = fake_pause,
	.resume = fake_resume,
	.stop = fake_stop,
};

/* The loop runs in its own thread, as in a VMM. */
struct vm {
	struct glue_loop *loop;
	struct glue_control_server *srv;
	struct fake fake;
	pthread_t thread;
	bool running;
};

static void *loop_main(void *arg)
{
	glue_loop_run(arg);
	return NULL;
}

/* idle_ms 0: the server's default idle timeout. */
static void vm_start_idle(struct vm *vm, const char *name, int idle_ms)
{
	memset(vm, 0, sizeof(*vm));
	vm->fake.state = GLUE_MACHINE_RUNNING;
	cr_assert_eq(glue_loop_new(&vm->loop), 0);
	cr_assert_eq(
		glue_control_server_new(&vm->srv, vm->loop, rundir, name, &fake_ops, &vm->fake), 0,
		"%s", glue_error_last());
	if (idle_ms)
		glue_control_server_set_idle_timeout(vm->srv, idle_ms);
	cr_assert_eq(pthread_create(&vm->thread, NULL, loop_main, vm->loop), 0);
	vm->running = true;
}

static void vm_start(struct vm *vm, const char *name)
{
	vm_start_idle(vm, name, 0);
}

static void vm_halt(struct vm *vm)
{
	if (vm->running) {
		glue_loop_stop(vm->loop);
		pthread_join(vm->thread, NULL);
		vm->running = false;
	}
}

static void vm_end(struct vm *vm)
{
	vm_halt(vm);
	glue_control_server_free(vm->srv);
	glue_loop_free(vm->loop);
}

static int call(const char *name, enum glue_control_cmd cmd, bool force,
		struct glue_control_response *resp)
{
	const struct glue_control_request req = {.cmd = cmd, .force = force};
	struct glue_control_client *c;
	int ret;

	ret = glue_control_connect(&c, rundir, name);
	if (ret)
		return ret;
	ret = glue_control_call(c, &req, resp, 2000);
	glue_control_client_free(c);
	return ret;
}

static int raw_connect(const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", rundir, name);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "connect: %m");
	return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
	cr_assert_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Read one answer to cmd within 2 s; returns the decode result. */
static int raw_answer(int fd, enum glue_control_cmd cmd, struct glue_control_response *r)
{
	uint8_t buf[GLUE_CONTROL_RESPONSE_MAX];
	size_t got = 0, plen = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (;;) {
		int k = glue_control_frame_peek(buf, got, &plen);
		ssize_t n;

		cr_assert_geq(k, 0);
		if (k == 1)
			break;
		cr_assert_eq(poll(&p, 1, 2000), 1, "no answer within 2 s");
		n = recv(fd, buf + got, (plen ? GLUE_CONTROL_HDR + plen : GLUE_CONTROL_HDR) - got,
			 0);
		cr_assert_gt(n, 0, "connection closed before the answer");
		got += n;
	}
	return glue_control_decode_response(cmd, buf + GLUE_CONTROL_HDR, plen, r);
}

/* True when the server closes fd within ms. */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, ms) != 1)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* ---- codec -------------------------------------------------------------- */

Test(control_proto, request_round_trip)
{
	static const struct glue_control_request reqs[] = {
		{GLUE_CONTROL_INFO, false},   {GLUE_CONTROL_PAUSE, false},
		{GLUE_CONTROL_RESUME, false}, {GLUE_CONTROL_STOP, false},
		{GLUE_CONTROL_STOP, true},
	};
	uint8_t buf[GLUE_CONTROL_REQUEST_MAX];

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct glue_control_request out;
		size_t len = frame(&reqs[i], buf, sizeof(buf)), plen;

		cr_assert_eq(glue_control_frame_peek(buf, len, &plen), 1);
		cr_assert_eq(plen + GLUE_CONTROL_HDR, len);
		cr_assert_eq(glue_control_decode_request(buf + GLUE_CONTROL_HDR, plen, &out), 0,
			     "%s", glue_error_last());
		cr_assert_eq(out.cmd, reqs[i].cmd);
		cr_assert_eq(out.force, reqs[i].force);
	}
	/* The wire format is the documented one. */
	frame(&reqs[4], buf, sizeof(buf));
	cr_assert_eq(memcmp(buf + GLUE_CONTROL_HDR, "v=1\ncmd=stop\nforce=1\n", 21), 0);
	cr_assert_eq(buf[0], 21);
	cr_assert_eq(buf[1] | buf[2] | buf[3], 0);
}

Test(control_proto, response_round_trip)
{
	struct glue_control_response r = {0}, out;
	uint8_t buf[GLUE_CONTROL_RESPONSE_MAX];
	size_t len;

	strcpy(r.info.name, "web.1_A-b");
	r.info.pid = 4321;
	r.info.state = GLUE_MACHINE_RUNNING;
	r.info.cpus = 4;
	r.info.mem_bytes = UINT64_MAX;
	r.info.start_time = 1764000000;
	r.info.uptime_ms = 98765;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_INFO, &r, buf, sizeof(buf), &len),
		     0);
	cr_assert_eq(glue_control_decode_response(GLUE_CONTROL_INFO, buf + 4, len - 4, &out), 0,
		     "%s", glue_error_last());
	cr_assert_str_eq(out.info.name, "web.1_A-b");
	cr_assert_eq(out.info.pid, 4321);
	cr_assert_eq(out.info.state, GLUE_MACHINE_RUNNING);
	cr_assert_eq(out.info.cpus, 4);
	cr_assert_eq(out.info.mem_bytes, UINT64_MAX);
	cr_assert_eq(out.info.start_time, 1764000000);
	cr_assert_eq(out.info.uptime_ms, 98765);
	cr_assert_eq(out.info.nnics, 0);

	/* with NICs: a user one with two forwarded ports, a tap */
	r.info.nnics = 2;
	strcpy(r.info.nics[0].backend, "user");
	strcpy(r.info.nics[0].mac, "02:00:00:00:00:01");
	r.info.nics[0].restricted = true;
	r.info.nics[0].nhostfwd = 2;
	strcpy(r.info.nics[0].hostfwd[0], "tcp:127.0.0.1:8080-10.0.2.15:80");
	strcpy(r.info.nics[0].hostfwd[1], "udp:0.0.0.0:5353-10.0.2.15:53");
	strcpy(r.info.nics[1].backend, "tap");
	strcpy(r.info.nics[1].mac, "02:00:00:00:00:02");
	strcpy(r.info.nics[1].ifname, "tap0");
	r.info.nics[1].vhost = true;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_INFO, &r, buf, sizeof(buf), &len), 0,
		     "%s", glue_error_last());
	cr_assert_eq(glue_control_decode_response(GLUE_CONTROL_INFO, buf + 4, len - 4, &out), 0,
		     "%s", glue_error_last());
	cr_assert_eq(out.info.nnics, 2);
	cr_assert_str_eq(out.info.nics[0].backend, "user");
	cr_assert_str_eq(out.info.nics[0].mac, "02:00:00:00:00:01");
	cr_assert_str_eq(out.info.nics[0].ifname, "");
	cr_assert(out.info.nics[0].restricted);
	cr_assert_eq(out.info.nics[0].nhostfwd, 2);
	cr_assert_str_eq(out.info.nics[0].hostfwd[1], "udp:0.0.0.0:5353-10.0.2.15:53");
	cr_assert_str_eq(out.info.nics[1].ifname, "tap0");
	cr_assert_not(out.info.nics[1].restricted);
	cr_assert(out.info.nics[1].vhost);
	cr_assert_not(out.info.nics[0].vhost);
	cr_assert_eq(out.info.nics[1].nhostfwd, 0);
	/* a NIC whose fields would break the line format is refused at encoding */
	strcpy(r.info.nics[1].ifname, "tap 0");
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_INFO, &r, buf, sizeof(buf), &len),
		     -EINVAL);

	memset(&r, 0, sizeof(r));
	r.state = GLUE_MACHINE_PAUSED;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_PAUSE, &r, buf, sizeof(buf), &len),
		     0);
	cr_assert_eq(glue_control_decode_response(GLUE_CONTROL_PAUSE, buf + 4, len - 4, &out), 0);
	cr_assert_eq(out.status, 0);
	cr_assert_eq(out.state, GLUE_MACHINE_PAUSED);

	memset(&r, 0, sizeof(r));
	r.status = -EIO;
	strcpy(r.error, "vCPU 1 stuck");
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_STOP, &r, buf, sizeof(buf), &len),
		     0);
	cr_assert_eq(glue_control_decode_response(GLUE_CONTROL_STOP, buf + 4, len - 4, &out), 0);
	cr_assert_eq(out.status, -EIO);
	cr_assert_str_eq(out.error, "vCPU 1 stuck");
}

Test(control_proto, error_messages_cannot_break_the_format)
{
	struct glue_control_response r = {0}, out;
	uint8_t buf[GLUE_CONTROL_RESPONSE_MAX];
	size_t len;

	r.status = -EINVAL;
	strcpy(r.error, "bad\nstate=running\r\x01");
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_PAUSE, &r, buf, sizeof(buf), &len),
		     0);
	cr_assert_eq(glue_control_decode_response(GLUE_CONTROL_PAUSE, buf + 4, len - 4, &out), 0,
		     "%s", glue_error_last());
	cr_assert_eq(out.status, -EINVAL);
	cr_assert_str_eq(out.error, "bad?state=running??");

	/* No message: strerror stands in. */
	memset(&r, 0, sizeof(r));
	r.status = -ENOENT;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_INFO, &r, buf, sizeof(buf), &len),
		     0);
	cr_assert_eq(glue_control_decode_response(GLUE_CONTROL_INFO, buf + 4, len - 4, &out), 0);
	cr_assert_str_eq(out.error, strerror(ENOENT));

	/* Invalid fields are refused rather than sent. */
	memset(&r, 0, sizeof(r));
	r.state = 77;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_PAUSE, &r, buf, sizeof(buf), &len),
		     -EINVAL);
	strcpy(r.info.name, "a/b");
	r.info.pid = 1;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_INFO, &r, buf, sizeof(buf), &len),
		     -EINVAL);
	r.status = -5000;
	cr_assert_eq(glue_control_encode_response(GLUE_CONTROL_INFO, &r, buf, sizeof(buf), &len),
		     -EINVAL);
	/* Too small a buffer. */
	cr_assert_eq(glue_control_encode_request(&(struct glue_control_request){GLUE_CONTROL_INFO},
						 buf, 10, &len),
		     -EMSGSIZE);
}

Test(control_proto, framing)
{
	uint8_t buf[8] = {0};
	size_t plen = 99;

	cr_assert_eq(glue_control_frame_peek(buf, 3, &plen), 0);
	cr_assert_eq(plen, 0);
	buf[0] = 5;
	cr_assert_eq(glue_control_frame_peek(buf, 4, &plen), 0, "header only: need more");
	cr_assert_eq(plen, 5);
	cr_assert_eq(glue_control_frame_peek(buf, 8, &plen), 0);
	buf[0] = 4;
	cr_assert_eq(glue_control_frame_peek(buf, 8, &plen), 1);
	buf[0] = 0;
	cr_assert_eq(glue_control_frame_peek(buf, 8, &plen), -EBADMSG, "empty message");
	/* 64 KiB is allowed, one byte more is not. */
	buf[0] = 0, buf[1] = 0, buf[2] = 1, buf[3] = 0;
	cr_assert_eq(glue_control_frame_peek(buf, 8, &plen), 0);
	cr_assert_eq(plen, GLUE_CONTROL_MAX_MESSAGE);
	buf[0] = 1;
	cr_assert_eq(glue_control_frame_peek(buf, 8, &plen), -EMSGSIZE);
	cr_assert(strstr(glue_error_last(), "65537"), "%s", glue_error_last());
	memset(buf, 0xff, 4);
	cr_assert_eq(glue_control_frame_peek(buf, 8, &plen), -EMSGSIZE);
}

Test(control_proto, malformed_requests)
{
	static const struct {
		const char *msg;
		int err;
	} cases[] = {
		{"v=1\ncmd=info", -EBADMSG},	       /* truncated: no newline */
		{"cmd=info\nv=1\n", -EBADMSG},	       /* version not first */
		{"v=2\ncmd=info\n", -EPROTONOSUPPORT}, /* unknown version */
		{"v=0\ncmd=info\n", -EPROTONOSUPPORT},
		{"v=01\ncmd=info\n", -EBADMSG}, /* not canonical */
		{"v=\ncmd=info\n", -EBADMSG},
		{"v=1x\ncmd=info\n", -EBADMSG},
		{"v=1\ncmd=reboot\n", -EOPNOTSUPP}, /* unknown command */
		{"v=1\ncmd=INFO\n", -EOPNOTSUPP},
		{"v=1\ncmd=info\ncmd=info\n", -EBADMSG}, /* duplicate */
		{"v=1\nv=1\ncmd=info\n", -EBADMSG},
		{"v=1\n", -EBADMSG},	       /* missing cmd */
		{"v=1\ncmd=stop\n", -EBADMSG}, /* missing force */
		{"v=1\ncmd=stop\nforce=2\n", -EBADMSG},
		{"v=1\ncmd=stop\nforce=yes\n", -EBADMSG},
		{"v=1\ncmd=stop\nforce=01\n", -EBADMSG},
		{"v=1\ncmd=info\nforce=1\n", -EBADMSG}, /* field not for this command */
		{"v=1\ncmd=info\nextra=1\n", -EBADMSG}, /* unknown field */
		{"v=1\ncmd\n", -EBADMSG},		/* no '=' */
		{"v=1\n=info\n", -EBADMSG},		/* empty key */
		{"v=1\nCmd=info\n", -EBADMSG},		/* bad key characters */
		{"v=1\n1cmd=info\n", -EBADMSG},
		{"v=1\ncmd=info\r\n", -EBADMSG}, /* control character */
		{"v=1\ncmd=info\n\n", -EBADMSG}, /* empty line */
		{"v=1\ncmd=in\tfo\n", -EBADMSG},
		{"v=1\ncmd=info\na=1\nb=1\nc=1\nd=1\ne=1\nf=1\ng=1\nh=1\ni=1\nj=1\nk=1\nl=1\nm=1\n"
		 "n=1\no=1\n",
		 -EBADMSG}, /* too many fields */
		{"v=1\ncmd=info\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1\n",
		 -EBADMSG}, /* 33-char key */
	};
	struct glue_control_request req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		glue_error_clear();
		cr_expect_eq(dec_req(cases[i].msg, &req), cases[i].err, "case %zu: %s", i,
			     cases[i].msg);
		cr_expect_neq(glue_error_last()[0], '\0', "case %zu has no message", i);
	}
	/* Bytes a C string cannot show. */
	cr_assert_eq(glue_control_decode_request("v=1\ncmd=in\0fo\n", 14, &req), -EBADMSG);
	cr_assert_eq(glue_control_decode_request("", 0, &req), -EBADMSG);
	cr_assert_eq(glue_control_decode_request("v=1\ncmd=info\n\xff", 14, &req), -EBADMSG);
	/* Messages point at the problem. */
	dec_req("v=2\ncmd=info\n", &req);
	cr_assert(strstr(glue_error_last(), "version 2"), "%s", glue_error_last());
	dec_req("v=1\ncmd=reboot\n", &req);
	cr_assert(strstr(glue_error_last(), "'reboot'"), "%s", glue_error_last());
	dec_req("v=1\ncmd=info\ncmd=info\n", &req);
	cr_assert(strstr(glue_error_last(), "repeats field 'cmd'"), "%s", glue_error_last());
	/* And the good ones still pass. */
	cr_assert_eq(dec_req("v=1\ncmd=stop\nforce=0\n", &req), 0);
	cr_assert_eq(req.force, false);
}

Test(control_proto, malformed_responses)
{
	static const struct {
		enum glue_control_cmd cmd;
		const char *msg;
	} cases[] = {
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=ok\n"}, /* no state */
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=ok\nstate=sleeping\n"},
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=ok\nstate=paused\nname=x\n"}, /* extra */
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=fine\nstate=paused\n"},
		{GLUE_CONTROL_PAUSE, "v=1\nstate=paused\n"}, /* no status */
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=error\nerrno=0\nerror=x\n"},
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=error\nerrno=5\n"},
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=error\nerrno=5\nerror=\n"},
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=error\nerrno=5000\nerror=x\n"},
		{GLUE_CONTROL_PAUSE, "v=1\nstatus=error\nerrno=-5\nerror=x\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=vm-1\npid=42\nstate=paused\ncpus=2\n"
				    "mem_bytes=268435456\nstart_time=1700000000\n"}, /* no uptime */
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=vm-1\npid=0\nstate=paused\ncpus=2\n"
				    "mem_bytes=1\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=vm-1\npid=2147483648\nstate=paused\n"
				    "cpus=2\nmem_bytes=1\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=vm-1\npid=1\nstate=paused\n"
				    "cpus=4294967296\nmem_bytes=1\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=vm-1\npid=1\nstate=paused\ncpus=1\n"
				    "mem_bytes=18446744073709551616\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=vm-1\npid=1\nstate=paused\ncpus=1\n"
				    "mem_bytes=+1\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=../x\npid=1\nstate=paused\ncpus=1\n"
				    "mem_bytes=1\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=\npid=1\nstate=paused\ncpus=1\n"
				    "mem_bytes=1\nstart_time=1\nuptime_ms=1\n"},
		{GLUE_CONTROL_INFO, "v=1\nstatus=ok\nname=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				    "aaaaaaaaaaaaaaaaaaaaaaaaa\npid=1\nstate=paused\ncpus=1\n"
				    "mem_bytes=1\nstart_time=1\nuptime_ms=1\n"}, /* 65 chars */
#define INFO_OK                                                                 \
	"v=1\nstatus=ok\nname=vm-1\npid=1\nstate=paused\ncpus=1\nmem_bytes=1\n" \
	"start_time=1\nuptime_ms=1\n"
		{GLUE_CONTROL_INFO, INFO_OK "nics=1\n"}, /* nic0 missing */
		{GLUE_CONTROL_INFO, INFO_OK "nics=9\n"}, /* too many */
		{GLUE_CONTROL_INFO, INFO_OK "nics=1\nnic0=user 02:00:00:00:00:01 - 0\n"},
		{GLUE_CONTROL_INFO, INFO_OK "nics=1\nnic0=user 02:00:00:00:00:01 - 4 -\n"},
		{GLUE_CONTROL_INFO, INFO_OK "nics=1\nnic0=user 02:00:00:00:00:01 - 0 - x\n"},
		{GLUE_CONTROL_INFO,
		 INFO_OK "nics=1\nnic0=averylongbackend 02:00:00:00:00:01 - 0 -\n"},
		{GLUE_CONTROL_INFO, INFO_OK "nics=1\nnic0=user 02:00:00:00:00:01  0 -\n"},
		{GLUE_CONTROL_INFO, INFO_OK "nic0=user 02:00:00:00:00:01 - 0 -\n"}, /* no nics */
	};
	struct glue_control_response r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(dec_resp(cases[i].cmd, cases[i].msg, &r), -EBADMSG, "case %zu: %s", i,
			     cases[i].msg);
	cr_assert_eq(dec_resp(GLUE_CONTROL_INFO, "v=3\nstatus=ok\n", &r), -EPROTONOSUPPORT);

	cr_assert_eq(dec_resp(GLUE_CONTROL_INFO, info_ok, &r), 0, "%s", glue_error_last());
	cr_assert_eq(r.info.pid, 42);
	cr_assert_eq(r.state, GLUE_MACHINE_PAUSED);
	/* An error message of 255 bytes fits, 256 does not. */
	{
		char msg[400];

		strcpy(msg, "v=1\nstatus=error\nerrno=5\nerror=");
		memset(msg + strlen(msg), 'x', 255);
		strcpy(msg + 31 + 255, "\n");
		cr_assert_eq(dec_resp(GLUE_CONTROL_PAUSE, msg, &r), 0, "%s", glue_error_last());
		cr_assert_eq(strlen(r.error), 255);
		memset(msg + 31, 'x', 256);
		strcpy(msg + 31 + 256, "\n");
		cr_assert_eq(dec_resp(GLUE_CONTROL_PAUSE, msg, &r), -EBADMSG);
	}
}

/* ---- names and directories ---------------------------------------------- */

Test(control_names, check)
{
	char n64[65], n65[66], buf[32];

	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';
	cr_assert_eq(glue_control_name_check("vm-1.test_A"), 0);
	cr_assert_eq(glue_control_name_check("a..b"), 0);
	cr_assert_eq(glue_control_name_check(n64), 0);
	cr_assert_eq(glue_control_name_check(n65), -EINVAL);
	cr_assert(strstr(glue_error_last(), "longer than 64"), "%s", glue_error_last());
	cr_assert_eq(glue_control_name_check(""), -EINVAL);
	cr_assert_eq(glue_control_name_check(NULL), -EINVAL);
	cr_assert_eq(glue_control_name_check(".hidden"), -EINVAL);
	cr_assert_eq(glue_control_name_check(".."), -EINVAL);
	cr_assert_eq(glue_control_name_check("a/b"), -EINVAL);
	cr_assert_eq(glue_control_name_check("a b"), -EINVAL);
	cr_assert_eq(glue_control_name_check("caf\xc3\xa9"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "0xc3"), "%s", glue_error_last());

	cr_assert_eq(glue_control_default_name(buf, sizeof(buf)), 0);
	cr_assert_eq(glue_control_name_check(buf), 0);
	cr_assert_eq(atoi(buf + 3), getpid());
	cr_assert_eq(strncmp(buf, "vm-", 3), 0);
	cr_assert_eq(glue_control_default_name(buf, 4), -ENAMETOOLONG);
}

Test(control_names, runtime_dir)
{
	char buf[256];

	setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
	setenv("HOME", "/home/someone", 1);
	cr_assert_eq(glue_control_runtime_dir(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/run/user/1234/glue");
	setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
	cr_assert_eq(glue_control_runtime_dir(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/home/someone/.glue");
	unsetenv("XDG_RUNTIME_DIR");
	setenv("HOME", "/", 1);
	cr_assert_eq(glue_control_runtime_dir(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/.glue");
	cr_assert_eq(glue_control_runtime_dir(buf, 4), -ENAMETOOLONG);
}

Test(control_names, runtime_dir_check, .init = mkrundir, .fini = rmrundir)
{
	char file[128], link[128];
	struct stat st;
	int fd;

	cr_assert_eq(glue_control_runtime_dir_check(rundir, false), -ENOENT);
	cr_assert_eq(glue_control_runtime_dir_check(rundir, true), 0, "%s", glue_error_last());
	cr_assert_eq(stat(rundir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_eq(glue_control_runtime_dir_check(rundir, true), 0, "idempotent");

	chmod(rundir, 0750);
	cr_assert_eq(glue_control_runtime_dir_check(rundir, true), -EPERM);
	cr_assert(strstr(glue_error_last(), "chmod 700"), "%s", glue_error_last());
	chmod(rundir, 0700);

	snprintf(link, sizeof(link), "%s/link", tmp);
	cr_assert_eq(symlink(rundir, link), 0);
	cr_assert_eq(glue_control_runtime_dir_check(link, false), -ENOTDIR);
	snprintf(file, sizeof(file), "%s/file", tmp);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cr_assert_eq(glue_control_runtime_dir_check(file, true), -ENOTDIR);
	cr_assert(strstr(glue_error_last(), "not a directory"), "%s", glue_error_last());

	if (geteuid() == 0) {
		cr_assert_eq(chown(rundir, 65534, 65534), 0);
		cr_assert_eq(glue_control_runtime_dir_check(rundir, false), -EPERM);
		cr_assert(strstr(glue_error_last(), "belongs to uid 65534"), "%s",
			  glue_error_last());
	}
	/* Where the parent does not exist, creation fails with a message. */
	snprintf(file, sizeof(file), "%s/no/such", tmp);
	cr_assert_eq(glue_control_runtime_dir_check(file, true), -ENOENT);
	cr_assert(strstr(glue_error_last(), "cannot create"), "%s", glue_error_last());
}

Test(control_names, exit_status)
{
	cr_assert_eq(glue_control_exit_status(0), 0);
	cr_assert_eq(glue_control_exit_status(-ENOENT), GLUE_EXIT_NO_SUCH_VM);
	cr_assert_eq(glue_control_exit_status(-ETIMEDOUT), GLUE_EXIT_NOT_RESPONDING);
	cr_assert_eq(glue_control_exit_status(-ECONNREFUSED), GLUE_EXIT_NOT_RESPONDING);
	cr_assert_eq(glue_control_exit_status(-EBADMSG), GLUE_EXIT_NOT_RESPONDING);
	cr_assert_eq(glue_control_exit_status(-EACCES), GLUE_EXIT_PERMISSION);
	cr_assert_eq(glue_control_exit_status(-EADDRINUSE), GLUE_EXIT_NAME_IN_USE);
	cr_assert_eq(glue_control_exit_status(-EINVAL), GLUE_EXIT_USAGE);
	cr_assert_eq(glue_control_exit_status(-EIO), GLUE_EXIT_ERROR);
	cr_assert_str_eq(glue_control_state_name(GLUE_MACHINE_STOPPING), "stopping");
	cr_assert_str_eq(glue_control_state_name(99), "unknown");
}

/* ---- server and client -------------------------------------------------- */

TestSuite(control_server, .init = mkrundir, .fini = rmrundir, .timeout = 30);

Test(control_server, info_pause_resume_stop)
{
	struct glue_control_response r;
	struct glue_control_client *c;
	struct vm vm;
	time_t now = time(NULL);

	vm_start(&vm, "alpha");
	cr_assert(exists("alpha", ".sock") && exists("alpha", ".lock"));

	cr_assert_eq(glue_control_connect(&c, rundir, "alpha"), 0, "%s", glue_error_last());
	cr_assert_eq(glue_control_client_pid(c), getpid(), "SO_PEERCRED pid");
	cr_assert_eq(
		glue_control_call(c, &(struct glue_control_request){GLUE_CONTROL_INFO}, &r, 2000),
		0, "%s", glue_error_last());
	cr_assert_str_eq(r.info.name, "alpha");
	cr_assert_eq(r.info.pid, getpid());
	cr_assert_eq(r.info.state, GLUE_MACHINE_RUNNING);
	cr_assert_eq(r.info.cpus, 2);
	cr_assert_eq(r.info.mem_bytes, 256ULL << 20);
	cr_assert(r.info.start_time >= (uint64_t)now - 2 && r.info.start_time <= (uint64_t)now + 2);
	cr_assert_lt(r.info.uptime_ms, 10000);

	/* Several requests on one connection; pause twice is fine. */
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(glue_control_call(c,
					       &(struct glue_control_request){GLUE_CONTROL_PAUSE},
					       &r, 2000),
			     0, "%s", glue_error_last());
		cr_assert_eq(r.state, GLUE_MACHINE_PAUSED);
	}
	cr_assert_eq(vm.fake.pauses, 2);
	glue_control_client_free(c);

	cr_assert_eq(call("alpha", GLUE_CONTROL_INFO, false, &r), 0);
	cr_assert_eq(r.info.state, GLUE_MACHINE_PAUSED);
	cr_assert_eq(call("alpha", GLUE_CONTROL_RESUME, false, &r), 0);
	cr_assert_eq(r.state, GLUE_MACHINE_RUNNING);
	cr_assert_eq(call("alpha", GLUE_CONTROL_STOP, false, &r), 0);
	cr_assert_eq(r.state, GLUE_MACHINE_STOPPING);
	cr_assert_eq(vm.fake.last_force, false);
	cr_assert_eq(call("alpha", GLUE_CONTROL_STOP, true, &r), 0);
	cr_assert_eq(vm.fake.last_force, true);
	cr_assert_eq(vm.fake.stops, 2);

	vm_end(&vm);
	cr_assert(!exists("alpha", ".sock") && !exists("alpha", ".lock"),
		  "free removes the socket and the lock");
}

Test(control_server, op_errors_reach_the_client)
{
	struct glue_control_server *srv;
	struct glue_control_response r;
	const struct glue_control_ops no_ops = {.info = fake_info};
	struct fake f = {.state = GLUE_MACHINE_RUNNING};
	struct vm vm;

	vm_start(&vm, "alpha");
	vm.fake.fail_pause = -EIO;
	cr_assert_eq(call("alpha", GLUE_CONTROL_PAUSE, false, &r), -EIO);
	cr_assert_eq(r.status, -EIO);
	cr_assert_str_eq(r.error, "vCPU 0 would not park");
	cr_assert_str_eq(glue_error_last(), "VM 'alpha': vCPU 0 would not park");

	/* An op that fills in nonsense: the client hears EIO, not silence. */
	vm.fake.state = 77;
	cr_assert_eq(call("alpha", GLUE_CONTROL_INFO, false, &r), -EIO);
	cr_assert(strstr(r.error, "could not encode"), "%s", r.error);
	vm.fake.state = GLUE_MACHINE_RUNNING;

	/* A second server on the loop, with only info. */
	cr_assert_eq(glue_control_server_new(&srv, vm.loop, rundir, "beta", &no_ops, &f), 0);
	cr_assert_eq(call("beta", GLUE_CONTROL_RESUME, false, &r), -EOPNOTSUPP);
	cr_assert_eq(call("beta", GLUE_CONTROL_INFO, false, &r), 0, "%s", glue_error_last());
	vm_halt(&vm);
	glue_control_server_free(srv);
	vm_end(&vm);
}

Test(control_server, name_in_use_and_stale_sockets)
{
	struct glue_control_server *srv;
	struct glue_control_client *c;
	struct glue_control_response r;
	char want[64];
	struct vm vm;

	vm_start(&vm, "alpha");
	cr_assert_eq(glue_control_server_new(&srv, vm.loop, rundir, "alpha", &fake_ops, &vm.fake),
		     -EADDRINUSE);
	snprintf(want, sizeof(want), "a VM named 'alpha' is already running (pid %d)", getpid());
	cr_assert_str_eq(glue_error_last(), want);
	cr_assert(exists("alpha", ".sock"), "a refused server leaves the live one alone");
	cr_assert_eq(call("alpha", GLUE_CONTROL_INFO, false, &r), 0);

	/* A dead VM's leftovers: connect reports no such VM and cleans up. */
	make_stale("ghost");
	cr_assert_eq(glue_control_connect(&c, rundir, "ghost"), -ENOENT);
	cr_assert(strstr(glue_error_last(), "no VM named 'ghost'"), "%s", glue_error_last());
	cr_assert(!exists("ghost", ".sock") && !exists("ghost", ".lock"));

	/* ... and a new VM takes the name over. */
	make_stale("ghost");
	cr_assert_eq(glue_control_server_new(&srv, vm.loop, rundir, "ghost", &fake_ops, &vm.fake),
		     0, "%s", glue_error_last());
	cr_assert_eq(call("ghost", GLUE_CONTROL_INFO, false, &r), 0, "%s", glue_error_last());
	cr_assert_str_eq(r.info.name, "ghost");
	vm_halt(&vm);
	glue_control_server_free(srv);
	vm_end(&vm);

	cr_assert_eq(glue_control_connect(&c, rundir, "nobody"), -ENOENT);
	cr_assert_str_eq(glue_error_last(), "no VM named 'nobody'");
	cr_assert_eq(glue_control_connect(&c, rundir, "../etc"), -EINVAL);
	cr_assert_eq(glue_control_remove_stale(rundir, "nobody"), 0);
}

struct seen {
	int n;
	char names[8][GLUE_CONTROL_NAME_MAX + 1];
	int status[8];
	int pid[8];
	enum glue_machine_state state[8];
};

static int collect(void *ctx, const struct glue_control_entry *e)
{
	struct seen *s = ctx;

	cr_assert_lt(s->n, 8);
	strcpy(s->names[s->n], e->name);
	s->status[s->n] = e->status;
	s->pid[s->n] = e->pid;
	s->state[s->n] = e->info.state;
	if (e->status)
		cr_assert_neq(e->error[0], '\0');
	s->n++;
	return 0;
}

static int stop_at_first(void *ctx, const struct glue_control_entry *e)
{
	(*(int *)ctx)++;
	return 7;
}

Test(control_server, list)
{
	struct glue_control_server *srv;
	struct seen s = {0};
	struct vm vm;
	int calls = 0;

	/* No directory yet: nothing, and no error. */
	cr_assert_eq(glue_control_list(rundir, collect, &s), 0);
	cr_assert_eq(s.n, 0);

	vm_start(&vm, "beta");
	cr_assert_eq(glue_control_server_new(&srv, vm.loop, rundir, "alpha", &fake_ops, &vm.fake),
		     0);
	make_stale("gamma");
	vm.fake.state = GLUE_MACHINE_PAUSED;
	cr_assert_eq(glue_control_list(rundir, collect, &s), 0, "%s", glue_error_last());
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.names[0], "alpha");
	cr_assert_str_eq(s.names[1], "beta");
	cr_assert_eq(s.status[0], 0);
	cr_assert_eq(s.pid[1], getpid());
	cr_assert_eq(s.state[1], GLUE_MACHINE_PAUSED);
	cr_assert(!exists("gamma", ".sock") && !exists("gamma", ".lock"), "stale entry removed");

	cr_assert_eq(glue_control_list(rundir, stop_at_first, &calls), 7);
	cr_assert_eq(calls, 1);
	vm_halt(&vm);
	glue_control_server_free(srv);
	vm_end(&vm);
}

/* A VM that is alive (holds its lock) but never answers. */
struct wedged {
	int lock_fd, listen_fd;
};

static void wedge(struct wedged *w, const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char p[256], pid[16];

	cr_assert_eq(glue_control_runtime_dir_check(rundir, true), 0);
	snprintf(p, sizeof(p), "%s/%s.lock", rundir, name);
	w->lock_fd = open(p, O_CREAT | O_RDWR, 0600);
	cr_assert_eq(flock(w->lock_fd, LOCK_EX), 0);
	snprintf(pid, sizeof(pid), "%d\n", 31337);
	cr_assert_gt(write(w->lock_fd, pid, strlen(pid)), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", rundir, name);
	w->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(w->listen_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(w->listen_fd, 4), 0);
}

Test(control_server, not_responding_is_listed_not_removed)
{
	struct glue_control_server *srv;
	struct glue_control_response r;
	struct glue_control_client *c;
	struct wedged w;
	struct seen s = {0};
	struct timespec t0, t1;

	wedge(&w, "stuck");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(glue_control_list(rundir, collect, &s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.names[0], "stuck");
	cr_assert_eq(s.status[0], -ETIMEDOUT);
	cr_assert_eq(s.pid[0], getpid(), "pid from SO_PEERCRED");
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 4, "probe must time out promptly");
	cr_assert(exists("stuck", ".sock") && exists("stuck", ".lock"));
	/* A longer timeout is waited for in full (the default is 1 s). */
	s.n = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(glue_control_list_timeout(rundir, 2500, collect, &s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.status[0], -ETIMEDOUT);
	cr_assert_geq((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 2400);
	cr_assert_eq(glue_control_list_timeout(rundir, 0, collect, &s), -EINVAL);

	cr_assert_eq(glue_control_connect(&c, rundir, "stuck"), 0);
	cr_assert_eq(
		glue_control_call(c, &(struct glue_control_request){GLUE_CONTROL_INFO}, &r, 100),
		-ETIMEDOUT);
	cr_assert(strstr(glue_error_last(), "not responding"), "%s", glue_error_last());
	cr_assert_eq(glue_control_exit_status(-ETIMEDOUT), GLUE_EXIT_NOT_RESPONDING);
	cr_assert_eq(
		glue_control_call(c, &(struct glue_control_request){GLUE_CONTROL_INFO}, &r, 100),
		-ENOTCONN, "a timed-out connection is not reused");
	glue_control_client_free(c);

	/* Its name cannot be taken while it lives. */
	cr_assert_eq(glue_control_server_new(&srv, NULL, rundir, "stuck", &fake_ops, NULL),
		     -EADDRINUSE);
	cr_assert(strstr(glue_error_last(), "(pid 31337)"), "%s", glue_error_last());
	cr_assert_eq(glue_control_remove_stale(rundir, "stuck"), 0);

	/* Not accepting at all, but locked: still alive, not removed. */
	close(w.listen_fd);
	cr_assert_eq(glue_control_connect(&c, rundir, "stuck"), -ECONNREFUSED);
	cr_assert(exists("stuck", ".sock"));
	s.n = 0;
	cr_assert_eq(glue_control_list(rundir, collect, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.status[0], -ECONNREFUSED);
	cr_assert_eq(s.pid[0], 31337, "pid from the lock file");

	/* It dies: now it is stale. */
	close(w.lock_fd);
	cr_assert_eq(glue_control_remove_stale(rundir, "stuck"), 1);
	cr_assert(!exists("stuck", ".sock") && !exists("stuck", ".lock"));
}

Test(control_server, malformed_and_oversized_input)
{
	struct glue_control_response r;
	uint8_t buf[GLUE_CONTROL_REQUEST_MAX];
	static const uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
	const char *junk = "\x0c\0\0\0v=1\ncmd=zap\n";
	const char *badv = "\x0e\0\0\0v=9\ncmd=info\n\n";
	struct vm vm;
	int fd;

	vm_start(&vm, "alpha");

	/* Garbage payload: an error answer, and the connection stays usable. */
	fd = raw_connect("alpha");
	send_all(fd, junk, 16);
	cr_assert_eq(raw_answer(fd, GLUE_CONTROL_INFO, &r), 0);
	cr_assert_eq(r.status, -EOPNOTSUPP);
	cr_assert(strstr(r.error, "'zap'"), "%s", r.error);
	send_all(fd, badv, 18);
	cr_assert_eq(raw_answer(fd, GLUE_CONTROL_INFO, &r), 0);
	cr_assert_eq(r.status, -EPROTONOSUPPORT);
	send_all(fd, buf,
		 frame(&(struct glue_control_request){GLUE_CONTROL_INFO}, buf, sizeof(buf)));
	cr_assert_eq(raw_answer(fd, GLUE_CONTROL_INFO, &r), 0);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.info.name, "alpha");

	/* Oversized: refused with a reason, then the connection is closed. */
	send_all(fd, huge, 4);
	cr_assert_eq(raw_answer(fd, GLUE_CONTROL_INFO, &r), 0);
	cr_assert_eq(r.status, -EMSGSIZE);
	cr_assert(closed_within(fd, 2000));
	close(fd);

	/* A full 64 KiB message is read (then refused as malformed). */
	{
		size_t n = 4 + GLUE_CONTROL_MAX_MESSAGE;
		uint8_t *big = malloc(n);

		memset(big, 'a', n);
		big[0] = 0, big[1] = 0, big[2] = 1, big[3] = 0;
		fd = raw_connect("alpha");
		send_all(fd, big, n);
		cr_assert_eq(raw_answer(fd, GLUE_CONTROL_INFO, &r), 0);
		cr_assert_eq(r.status, -EBADMSG);
		close(fd);
		free(big);
	}

	cr_assert_eq(call("alpha", GLUE_CONTROL_INFO, false, &r), 0, "server still serves");
	vm_end(&vm);
}

Test(control_server, slow_pipelined_and_half_closed_clients)
{
	struct glue_control_response r;
	uint8_t one[GLUE_CONTROL_REQUEST_MAX], many[50 * GLUE_CONTROL_REQUEST_MAX];
	size_t len, total = 0;
	struct vm vm;
	int fd;

	vm_start(&vm, "alpha");
	len = frame(&(struct glue_control_request){GLUE_CONTROL_STOP, true}, one, sizeof(one));

	/* One byte at a time. */
	fd = raw_connect("alpha");
	for (size_t i = 0; i < len; i++) {
		send_all(fd, one + i, 1);
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	}
	cr_assert_eq(raw_answer(fd, GLUE_CONTROL_STOP, &r), 0);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(vm.fake.last_force, true);

	/* Fifty requests in one write, answers read afterwards. */
	for (int i = 0; i < 50; i++) {
		memcpy(many + total, one, len);
		total += len;
	}
	send_all(fd, many, total);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(raw_answer(fd, GLUE_CONTROL_STOP, &r), 0, "answer %d", i);
		cr_assert_eq(r.status, 0);
	}
	cr_assert_eq(vm.fake.stops, 51);

	/* Request, then EOF: still answered, then closed. */
	send_all(fd, one, len);
	shutdown(fd, SHUT_WR);
	cr_assert_eq(raw_answer(fd, GLUE_CONTROL_STOP, &r), 0);
	cr_assert(closed_within(fd, 2000));
	close(fd);
	vm_end(&vm);
}

struct flood {
	int fd;
	int n;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;
	uint8_t one[GLUE_CONTROL_REQUEST_MAX];
	size_t len;

	glue_control_encode_request(&(struct glue_control_request){GLUE_CONTROL_INFO}, one,
				    sizeof(one), &len);
	for (int i = 0; i < f->n; i++)
		if (send(f->fd, one, len, MSG_NOSIGNAL) != (ssize_t)len)
			return (void *)1;
	return NULL;
}

Test(control_server, client_that_reads_late_is_answered_in_full)
{
	struct glue_control_response r;
	struct flood f = {.n = 20000};
	pthread_t writer;
	void *res;
	struct vm vm;

	vm_start(&vm, "alpha");
	f.fd = raw_connect("alpha");
	cr_assert_eq(pthread_create(&writer, NULL, flood_main, &f), 0);
	/* Let the answers pile up until the server has to stop reading. */
	nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
	for (int i = 0; i < f.n; i++) {
		cr_assert_eq(raw_answer(f.fd, GLUE_CONTROL_INFO, &r), 0, "answer %d", i);
		cr_assert_eq(r.status, 0);
	}
	pthread_join(writer, &res);
	cr_assert_null(res, "the server stopped taking requests");
	close(f.fd);
	vm_end(&vm);
}

Test(control_server, idle_clients_are_dropped)
{
	struct glue_control_response r;
	struct timespec t0, t1;
	struct vm vm;
	int fd, quiet;

	vm_start_idle(&vm, "alpha", 200);
	fd = raw_connect("alpha");
	quiet = raw_connect("alpha");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	send_all(fd, "\x20\0\0\0v=1", 7); /* an unfinished message */
	cr_assert(!closed_within(fd, 100), "dropped before the timeout");
	cr_assert(closed_within(fd, 3000), "idle client not dropped");
	cr_assert(closed_within(quiet, 500), "silent client not dropped");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 3);
	close(fd);
	close(quiet);
	cr_assert_eq(call("alpha", GLUE_CONTROL_INFO, false, &r), 0, "%s", glue_error_last());
	vm_end(&vm);
}

Test(control_server, excess_clients_are_refused)
{
	struct glue_control_response r;
	int fds[40], closed = 0;
	struct vm vm;

	vm_start(&vm, "alpha");
	for (int i = 0; i < 40; i++)
		fds[i] = raw_connect("alpha");
	for (int i = 0; i < 40; i++)
		closed += closed_within(fds[i], i < 32 ? 10 : 1000);
	cr_assert_eq(closed, 8, "the 32 first are served, the rest closed");
	for (int i = 0; i < 40; i++)
		close(fds[i]);
	/* Room again once they are gone. */
	cr_assert_eq(call("alpha", GLUE_CONTROL_INFO, false, &r), 0, "%s", glue_error_last());
	vm_end(&vm);
}

Test(control_server, other_users_are_refused)
{
	struct vm vm;
	pid_t child;
	int status;
	char sock[160];

	if (geteuid() != 0)
		cr_skip_test("needs root to act as another user");
	vm_start(&vm, "alpha");
	/* Open the way through the file system, so SO_PEERCRED is what stops
	 * the other user. */
	chmod(tmp, 0711);
	chmod(rundir, 0711);
	snprintf(sock, sizeof(sock), "%s/alpha.sock", rundir);
	chmod(sock, 0777);
	child = fork();
	if (child == 0) {
		struct glue_control_response r;
		uint8_t buf[GLUE_CONTROL_RESPONSE_MAX];
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		size_t len, got = 0, plen = 0;
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strcpy(sun.sun_path, sock);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
			_exit(11);
		if (glue_control_encode_request(&(struct glue_control_request){GLUE_CONTROL_PAUSE},
						buf, sizeof(buf), &len) ||
		    send(fd, buf, len, 0) != (ssize_t)len)
			_exit(12);
		while (glue_control_frame_peek(buf, got, &plen) == 0) {
			ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);

			if (n <= 0)
				_exit(13);
			got += n;
		}
		if (glue_control_decode_response(GLUE_CONTROL_PAUSE, buf + 4, plen, &r))
			_exit(14);
		_exit(r.status == -EACCES ? 0 : 15);
	}
	cr_assert_gt(child, 0);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child step %d failed", WEXITSTATUS(status));
	cr_assert_eq(vm.fake.pauses, 0, "the other user's request did nothing");
	chmod(rundir, 0700);
	vm_end(&vm);
}
