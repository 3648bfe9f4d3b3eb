// SPDX-License-Identifier: MIT
/*
 * Control protocol codec. The payload is text, "key=value\n" lines, so a
 * person can read it with socat; the decoder is strict (exact field sets,
 * canonical numbers, no control characters) because the peer may be
 * anything that can open the socket.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "control/proto.h"

#define KEY_MAX 32
#define FIELDS_MAX 32

static const char *const cmd_names[] = {
	[GLUE_CONTROL_INFO] = "info",
	[GLUE_CONTROL_PAUSE] = "pause",
	[GLUE_CONTROL_RESUME] = "resume",
	[GLUE_CONTROL_STOP] = "stop",
};

static const char *const state_names[] = {
	[GLUE_MACHINE_CREATED] = "created", [GLUE_MACHINE_RUNNING] = "running",
	[GLUE_MACHINE_PAUSED] = "paused",   [GLUE_MACHINE_STOPPING] = "stopping",
	[GLUE_MACHINE_STOPPED] = "stopped",
};

const char *glue_control_cmd_name(enum glue_control_cmd cmd)
{
	if ((unsigned)cmd >= GLUE_ARRAY_SIZE(cmd_names))
		return NULL;
	return cmd_names[cmd];
}

const char *glue_control_state_name(enum glue_machine_state state)
{
	if ((unsigned)state >= GLUE_ARRAY_SIZE(state_names) || !state_names[state])
		return "unknown";
	return state_names[state];
}

/* ---- framing ----------------------------------------------------------- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

int glue_control_frame_peek(const void *buf, size_t avail, size_t *payload_len)
{
	uint32_t n;

	*payload_len = 0;
	if (avail < GLUE_CONTROL_HDR)
		return 0;
	n = get_le32(buf);
	if (n == 0)
		return glue_err(-EBADMSG, "empty control message");
	if (n > GLUE_CONTROL_MAX_MESSAGE)
		return glue_err(-EMSGSIZE, "control message of %u bytes exceeds the limit of %u", n,
				GLUE_CONTROL_MAX_MESSAGE);
	*payload_len = n;
	return avail - GLUE_CONTROL_HDR >= n;
}

/* ---- encoding ---------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3))) outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = true;
	else
		o->len += n;
}

/* Start a frame: room for the prefix, then the version line. */
static int frame_begin(struct out *o, void *buf, size_t cap)
{
	if (cap < GLUE_CONTROL_HDR + 1)
		return glue_err(-EMSGSIZE, "buffer too small for a control message");
	o->buf = buf;
	o->cap = cap;
	o->len = GLUE_CONTROL_HDR;
	o->overflow = false;
	outf(o, "v=%d\n", GLUE_CONTROL_PROTOCOL_VERSION);
	return 0;
}

static int frame_end(struct out *o, size_t *len)
{
	if (o->overflow || o->len - GLUE_CONTROL_HDR > GLUE_CONTROL_MAX_MESSAGE)
		return glue_err(-EMSGSIZE, "control message does not fit in %zu bytes", o->cap);
	put_le32((uint8_t *)o->buf, o->len - GLUE_CONTROL_HDR);
	*len = o->len;
	return 0;
}

int glue_control_encode_request(const struct glue_control_request *req, void *buf, size_t cap,
				size_t *len)
{
	const char *cmd = glue_control_cmd_name(req->cmd);
	struct out o;
	int ret;

	if (!cmd)
		return glue_err(-EINVAL, "unknown control command %d", (int)req->cmd);
	ret = frame_begin(&o, buf, cap);
	if (ret)
		return ret;
	outf(&o, "cmd=%s\n", cmd);
	if (req->cmd == GLUE_CONTROL_STOP)
		outf(&o, "force=%d\n", req->force ? 1 : 0);
	return frame_end(&o, len);
}

/* A token of a nicN line: no spaces, commas or control characters. */
static bool token_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || *t == ',' || *t == 0x7f)
			return false;
	return true;
}

/* "nicN=BACKEND MAC IFNAME|- FLAGS RULE,RULE...|-", FLAGS 1 restricted | 2 vhost */
static int encode_nic(struct out *o, uint32_t n, const struct glue_machine_nic_info *nic)
{
	if (!nic->backend[0] || !token_ok(nic->backend) || !token_ok(nic->mac) || !nic->mac[0] ||
	    !token_ok(nic->ifname) || nic->nhostfwd > GLUE_MACHINE_MAX_HOSTFWD)
		return glue_err(-EINVAL, "bad NIC %u in VM info", n);
	outf(o, "nic%u=%s %s %s %d ", n, nic->backend, nic->mac, nic->ifname[0] ? nic->ifname : "-",
	     nic->restricted | nic->vhost << 1);
	for (uint32_t k = 0; k < nic->nhostfwd; k++) {
		if (!nic->hostfwd[k][0] || !token_ok(nic->hostfwd[k]))
			return glue_err(-EINVAL, "bad forwarding rule of NIC %u in VM info", n);
		outf(o, "%s%s", k ? "," : "", nic->hostfwd[k]);
	}
	outf(o, "%s\n", nic->nhostfwd ? "" : "-");
	return 0;
}

static bool state_valid(enum glue_machine_state s)
{
	return (unsigned)s < GLUE_ARRAY_SIZE(state_names) && state_names[s];
}

int glue_control_encode_response(enum glue_control_cmd cmd,
				 const struct glue_control_response *resp, void *buf, size_t cap,
				 size_t *len)
{
	const struct glue_control_info *i = &resp->info;
	struct out o;
	int ret;

	if (resp->status < 0) {
		char msg[GLUE_CONTROL_ERROR_MAX];
		size_t n;

		if (resp->status < -4095)
			return glue_err(-EINVAL, "errno %d out of range", -resp->status);
		/* Never let a message break the line structure. */
		snprintf(msg, sizeof(msg), "%s",
			 resp->error[0] ? resp->error : strerror(-resp->status));
		for (n = 0; msg[n]; n++)
			if ((unsigned char)msg[n] < 0x20 || msg[n] == 0x7f)
				msg[n] = '?';
		ret = frame_begin(&o, buf, cap);
		if (ret)
			return ret;
		outf(&o, "status=error\nerrno=%d\nerror=%s\n", -resp->status, msg);
		return frame_end(&o, len);
	}

	if (!glue_control_cmd_name(cmd))
		return glue_err(-EINVAL, "unknown control command %d", (int)cmd);
	ret = frame_begin(&o, buf, cap);
	if (ret)
		return ret;
	outf(&o, "status=ok\n");
	if (cmd == GLUE_CONTROL_INFO) {
		if (glue_control_name_check(i->name))
			return -EINVAL;
		if (i->pid <= 0 || !state_valid(i->state))
			return glue_err(-EINVAL, "bad pid %d or state %d in VM info", (int)i->pid,
					(int)i->state);
		outf(&o,
		     "name=%s\npid=%d\nstate=%s\ncpus=%u\nmem_bytes=%llu\nstart_time=%llu\n"
		     "uptime_ms=%llu\n",
		     i->name, (int)i->pid, state_names[i->state], (unsigned)i->cpus,
		     (unsigned long long)i->mem_bytes, (unsigned long long)i->start_time,
		     (unsigned long long)i->uptime_ms);
		if (i->nnics > GLUE_MACHINE_MAX_NICS)
			return glue_err(-EINVAL, "%u NICs in VM info", (unsigned)i->nnics);
		if (i->nnics)
			outf(&o, "nics=%u\n", (unsigned)i->nnics);
		for (uint32_t n = 0; n < i->nnics; n++) {
			ret = encode_nic(&o, n, &i->nics[n]);
			if (ret)
				return ret;
		}
	} else {
		if (!state_valid(resp->state))
			return glue_err(-EINVAL, "bad state %d in answer", (int)resp->state);
		outf(&o, "state=%s\n", state_names[resp->state]);
	}
	return frame_end(&o, len);
}

/* ---- decoding ---------------------------------------------------------- */

struct field {
	const char *key, *val;
	size_t klen, vlen;
	bool used;
};

struct msg {
	struct field f[FIELDS_MAX];
	size_t n;
};

static bool key_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (!first && ((c >= '0' && c <= '9') || c == '_'));
}

/*
 * The first line is "v=<version>\n" in every version, so it is checked
 * before anything else: a newer peer gets "unsupported version", not a
 * complaint about syntax it may have changed.
 */
static int check_version(const char *p, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || p[0] != 'v' || p[1] != '=')
		return glue_err(-EBADMSG, "control message does not start with its version 'v='");
	for (i = 2; i < len && p[i] >= '0' && p[i] <= '9' && i < 11; i++)
		v = v * 10 + (p[i] - '0');
	if (i == 2 || i == len || p[i] != '\n' || (p[2] == '0' && i > 3))
		return glue_err(-EBADMSG, "control message has a malformed version");
	if (v != GLUE_CONTROL_PROTOCOL_VERSION)
		return glue_err(-EPROTONOSUPPORT,
				"unsupported control protocol version %llu (this side speaks %d)",
				(unsigned long long)v, GLUE_CONTROL_PROTOCOL_VERSION);
	return 0;
}

/* Split a payload into fields; checks the version, syntax and duplicates. */
static int split(const char *p, size_t len, struct msg *m)
{
	size_t pos = 0;
	int ret;

	m->n = 0;
	if (len == 0)
		return glue_err(-EBADMSG, "empty control message");
	ret = check_version(p, len);
	if (ret)
		return ret;
	if (p[len - 1] != '\n')
		return glue_err(-EBADMSG,
				"control message does not end with a newline (truncated?)");
	while (pos < len) {
		const char *line = p + pos;
		const char *nl = memchr(line, '\n', len - pos);
		const char *eq = memchr(line, '=', nl - line);
		struct field *f;
		size_t i;

		if (!eq)
			return glue_err(-EBADMSG, "control message line %zu has no '='", m->n + 1);
		if (eq == line || eq - line > KEY_MAX)
			return glue_err(-EBADMSG, "control message line %zu: bad key length",
					m->n + 1);
		for (i = 0; line + i < eq; i++)
			if (!key_char(line[i], i == 0))
				return glue_err(-EBADMSG, "control message line %zu: bad key",
						m->n + 1);
		for (i = 1; eq + i < nl; i++) {
			unsigned char c = eq[i];

			if (c < 0x20 || c == 0x7f)
				return glue_err(
					-EBADMSG,
					"control message: control character 0x%02x in '%.*s'", c,
					(int)(eq - line), line);
		}
		if (m->n == FIELDS_MAX)
			return glue_err(-EBADMSG, "control message has too many fields");
		f = &m->f[m->n];
		f->key = line;
		f->klen = eq - line;
		f->val = eq + 1;
		f->vlen = nl - eq - 1;
		f->used = false;
		for (i = 0; i < m->n; i++)
			if (m->f[i].klen == f->klen && !memcmp(m->f[i].key, f->key, f->klen))
				return glue_err(-EBADMSG, "control message repeats field '%.*s'",
						(int)f->klen, f->key);
		m->n++;
		pos = nl - p + 1;
	}
	m->f[0].used = true; /* the version, checked above */
	return 0;
}

/* Take field key (marking it used); NULL if absent. */
static struct field *take(struct msg *m, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < m->n; i++)
		if (m->f[i].klen == klen && !memcmp(m->f[i].key, key, klen)) {
			m->f[i].used = true;
			return &m->f[i];
		}
	return NULL;
}

static int need(struct msg *m, const char *key, struct field **out)
{
	*out = take(m, key);
	if (!*out)
		return glue_err(-EBADMSG, "control message lacks field '%s'", key);
	return 0;
}

/* Fail on any field nobody took. */
static int no_extra(const struct msg *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (!m->f[i].used)
			return glue_err(-EBADMSG, "control message has unexpected field '%.*s'",
					(int)m->f[i].klen, m->f[i].key);
	return 0;
}

static bool is(const struct field *f, const char *s)
{
	return f->vlen == strlen(s) && !memcmp(f->val, s, f->vlen);
}

/* Canonical decimal: digits only, no leading zero, at most max. */
static int num(struct msg *m, const char *key, uint64_t max, uint64_t *out)
{
	struct field *f;
	uint64_t v = 0;
	int ret = need(m, key, &f);

	if (ret)
		return ret;
	if (f->vlen == 0 || f->vlen > 20 || (f->vlen > 1 && f->val[0] == '0'))
		goto bad;
	for (size_t i = 0; i < f->vlen; i++) {
		unsigned d = (unsigned char)f->val[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	if (v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return glue_err(-EBADMSG, "control message field '%s' is not a number up to %llu", key,
			(unsigned long long)max);
}

/* The next space-separated token of [*p, end) into buf (cap bytes). */
static bool next_token(const char **p, const char *end, char *buf, size_t cap)
{
	const char *t = *p, *sp = memchr(t, ' ', (size_t)(end - t));
	size_t n = (size_t)((sp ? sp : end) - t);

	if (n == 0 || n >= cap)
		return false;
	memcpy(buf, t, n);
	buf[n] = '\0';
	*p = sp ? sp + 1 : end;
	return true;
}

static int decode_nic(struct msg *m, uint32_t n, struct glue_machine_nic_info *nic)
{
	char key[16], r[4], fwd[GLUE_MACHINE_MAX_HOSTFWD * 48];
	const char *p, *end;
	char *rule, *save;
	struct field *f;
	int ret;

	snprintf(key, sizeof(key), "nic%u", n);
	ret = need(m, key, &f);
	if (ret)
		return ret;
	p = f->val;
	end = f->val + f->vlen;
	memset(nic, 0, sizeof(*nic));
	if (!next_token(&p, end, nic->backend, sizeof(nic->backend)) ||
	    !next_token(&p, end, nic->mac, sizeof(nic->mac)) ||
	    !next_token(&p, end, nic->ifname, sizeof(nic->ifname)) ||
	    !next_token(&p, end, r, sizeof(r)) || !next_token(&p, end, fwd, sizeof(fwd)) ||
	    p != end || r[1] || r[0] < '0' || r[0] > '3')
		return glue_err(-EBADMSG, "control answer has a malformed %s", key);
	if (!strcmp(nic->ifname, "-"))
		nic->ifname[0] = '\0';
	nic->restricted = (r[0] - '0') & 1;
	nic->vhost = (r[0] - '0') & 2;
	if (!strcmp(fwd, "-"))
		return 0;
	for (rule = strtok_r(fwd, ",", &save); rule; rule = strtok_r(NULL, ",", &save)) {
		if (nic->nhostfwd == GLUE_MACHINE_MAX_HOSTFWD ||
		    strlen(rule) >= sizeof(nic->hostfwd[0]))
			return glue_err(-EBADMSG, "control answer: %s has bad forwarding rules",
					key);
		strcpy(nic->hostfwd[nic->nhostfwd++], rule);
	}
	return 0;
}

static int state(struct msg *m, enum glue_machine_state *out)
{
	struct field *f;
	int ret = need(m, "state", &f);

	if (ret)
		return ret;
	for (unsigned s = 0; s < GLUE_ARRAY_SIZE(state_names); s++)
		if (state_names[s] && is(f, state_names[s])) {
			*out = s;
			return 0;
		}
	return glue_err(-EBADMSG, "control message has unknown state '%.*s'", (int)f->vlen, f->val);
}

int glue_control_decode_request(const void *payload, size_t len, struct glue_control_request *req)
{
	struct field *f;
	struct msg m;
	int ret;

	memset(req, 0, sizeof(*req));
	ret = split(payload, len, &m);
	if (!ret)
		ret = need(&m, "cmd", &f);
	if (ret)
		return ret;
	for (unsigned c = 1; c < GLUE_ARRAY_SIZE(cmd_names); c++)
		if (is(f, cmd_names[c]))
			req->cmd = c;
	if (!req->cmd) {
		/* Checked before extra fields so a newer client learns the
		 * command itself is what this VM lacks. */
		return glue_err(-EOPNOTSUPP, "unknown control command '%.*s'",
				(int)GLUE_MIN(f->vlen, 32), f->val);
	}
	if (req->cmd == GLUE_CONTROL_STOP) {
		uint64_t force;

		ret = num(&m, "force", 1, &force);
		if (ret)
			return ret;
		req->force = force;
	}
	return no_extra(&m);
}

int glue_control_decode_response(enum glue_control_cmd cmd, const void *payload, size_t len,
				 struct glue_control_response *resp)
{
	struct glue_control_info *i = &resp->info;
	struct field *f;
	struct msg m;
	uint64_t v;
	int ret;

	memset(resp, 0, sizeof(*resp));
	ret = split(payload, len, &m);
	if (!ret)
		ret = need(&m, "status", &f);
	if (ret)
		return ret;

	if (is(f, "error")) {
		ret = num(&m, "errno", 4095, &v);
		if (ret)
			return ret;
		if (v == 0)
			return glue_err(-EBADMSG, "control error answer with errno 0");
		ret = need(&m, "error", &f);
		if (ret)
			return ret;
		if (f->vlen == 0 || f->vlen >= sizeof(resp->error))
			return glue_err(-EBADMSG, "control error message empty or too long");
		resp->status = -(int)v;
		memcpy(resp->error, f->val, f->vlen);
		resp->error[f->vlen] = '\0';
		return no_extra(&m);
	}
	if (!is(f, "ok"))
		return glue_err(-EBADMSG, "control answer has unknown status '%.*s'",
				(int)GLUE_MIN(f->vlen, 32), f->val);

	switch (cmd) {
	case GLUE_CONTROL_INFO:
		ret = need(&m, "name", &f);
		if (ret)
			return ret;
		if (f->vlen > GLUE_CONTROL_NAME_MAX)
			return glue_err(-EBADMSG, "control answer has a name that is too long");
		memcpy(i->name, f->val, f->vlen);
		i->name[f->vlen] = '\0';
		if (glue_control_name_check(i->name))
			return glue_err_wrap(-EBADMSG, "control answer has a bad name");
		if ((ret = num(&m, "pid", INT32_MAX, &v)))
			return ret;
		if (v == 0)
			return glue_err(-EBADMSG, "control answer has pid 0");
		i->pid = v;
		if ((ret = state(&m, &i->state)))
			return ret;
		if ((ret = num(&m, "cpus", UINT32_MAX, &v)))
			return ret;
		i->cpus = v;
		if ((ret = num(&m, "mem_bytes", UINT64_MAX, &i->mem_bytes)) ||
		    (ret = num(&m, "start_time", UINT64_MAX, &i->start_time)) ||
		    (ret = num(&m, "uptime_ms", UINT64_MAX, &i->uptime_ms)))
			return ret;
		if (take(&m, "nics")) { /* only a VM with NICs says so */
			if ((ret = num(&m, "nics", GLUE_MACHINE_MAX_NICS, &v)))
				return ret;
			i->nnics = (uint32_t)v;
			for (uint32_t n = 0; n < i->nnics; n++)
				if ((ret = decode_nic(&m, n, &i->nics[n])))
					return ret;
		}
		resp->state = i->state;
		break;
	case GLUE_CONTROL_PAUSE:
	case GLUE_CONTROL_RESUME:
	case GLUE_CONTROL_STOP:
		if ((ret = state(&m, &resp->state)))
			return ret;
		break;
	default:
		return glue_err(-EINVAL, "unknown control command %d", (int)cmd);
	}
	return no_extra(&m);
}
