/* SPDX-License-Identifier: MIT */
/*
 * Controlling running VMs without a daemon.
 *
 * Each VM process serves a Unix socket, <runtime dir>/<name>.sock, and holds
 * an flock on <name>.lock (which also records its pid) for as long as it
 * lives. The runtime directory is $XDG_RUNTIME_DIR/glue, else ~/.glue; it is
 * private to its user (mode 0700), and both ends check the other's uid with
 * SO_PEERCRED, so only the owner (or root) can control a VM.
 *
 * The wire protocol (length-prefixed, versioned key=value messages) is
 * described in docs/control-protocol.md. This header offers both ends of it:
 * a server that answers on a glue_loop through a small ops table, and a
 * client (connect, call, list).
 *
 * Thread-safety: a server belongs to the thread running its loop; a client
 * to the thread using it. The free-standing functions are thread-safe.
 */
#ifndef GLUE_CONTROL_H
#define GLUE_CONTROL_H

#include <glue/common.h>
#include <glue/machine.h> /* enum glue_machine_state, glue_machine_config */

GLUE_BEGIN_DECLS

struct glue_loop;
struct glue_control_server;
struct glue_control_client;

/* Protocol version this libglue speaks. */
#define GLUE_CONTROL_PROTOCOL_VERSION 1
/* Largest payload of one message, in bytes; longer ones are refused. */
#define GLUE_CONTROL_MAX_MESSAGE 65536
/* Longest VM name (characters [A-Za-z0-9._-], not starting with '.'). */
#define GLUE_CONTROL_NAME_MAX 64
/* Size of glue_control_response.error, terminator included. */
#define GLUE_CONTROL_ERROR_MAX 256
/* How long glue_control_list() waits for each VM's answer. */
#define GLUE_CONTROL_PROBE_TIMEOUT_MS 1000

enum glue_control_cmd {
	GLUE_CONTROL_INFO = 1, /* describe the VM */
	GLUE_CONTROL_PAUSE,    /* stop all vCPUs (idempotent) */
	GLUE_CONTROL_RESUME,   /* continue (idempotent) */
	GLUE_CONTROL_STOP,     /* ask the guest to shut down, or end the VM with force */
};

struct glue_control_request {
	enum glue_control_cmd cmd;
	bool force; /* STOP only: end the VM now instead of asking the guest */
};

struct glue_control_info {
	char name[GLUE_CONTROL_NAME_MAX + 1];
	int32_t pid;
	enum glue_machine_state state;
	uint32_t cpus;
	uint64_t mem_bytes;
	uint64_t start_time; /* when the VM started, seconds since the Unix epoch */
	uint64_t uptime_ms;  /* time since then, on a monotonic clock */
	uint32_t nnics;	     /* its NICs */
	struct glue_machine_nic_info nics[GLUE_MACHINE_MAX_NICS];
};

struct glue_control_response {
	int status;			    /* 0, or the negative errno the VM reported */
	char error[GLUE_CONTROL_ERROR_MAX]; /* the VM's message when status < 0 */
	enum glue_machine_state state;	    /* PAUSE/RESUME/STOP: state afterwards */
	struct glue_control_info info;	    /* INFO */
};

/* ---- names and the runtime directory ---------------------------------- */

/*
 * Check a VM name: 1..GLUE_CONTROL_NAME_MAX characters from [A-Za-z0-9._-],
 * not starting with '.'. Returns 0 or -EINVAL with a message saying why.
 */
GLUE_API int glue_control_name_check(const char *name);

/* Write the name used when none is given, "vm-<pid>", to buf. Returns 0 or
 * -ENAMETOOLONG if len is too small. */
GLUE_API int glue_control_default_name(char *buf, size_t len);

/*
 * Write the per-user runtime directory to buf: $XDG_RUNTIME_DIR/glue when
 * that variable holds an absolute path, else $HOME/.glue (else the home
 * directory from the password database). Creates nothing. Returns 0,
 * -ENOENT when no home can be found, -ENAMETOOLONG.
 */
GLUE_API int glue_control_runtime_dir(char *buf, size_t len);

/*
 * Check that dir (NULL: the default) is usable as a runtime directory: a
 * real directory (not a symlink), owned by the caller's effective uid,
 * without group or other permissions, writable. With create, make it
 * (mode 0700; its parent must exist) when missing. Returns 0, -ENOENT when
 * it is missing and !create, else a negative errno and a message saying
 * what is wrong and how to fix it.
 */
GLUE_API int glue_control_runtime_dir_check(const char *dir, bool create);

/*
 * Map the result of a control function to a glue exit status: 0 -> 0,
 * -ENOENT -> GLUE_EXIT_NO_SUCH_VM, -EACCES/-EPERM -> GLUE_EXIT_PERMISSION,
 * -EADDRINUSE -> GLUE_EXIT_NAME_IN_USE, -EINVAL -> GLUE_EXIT_USAGE,
 * timeouts, refused or broken connections and malformed answers ->
 * GLUE_EXIT_NOT_RESPONDING, anything else -> GLUE_EXIT_ERROR. Problems with
 * the runtime directory are told apart by checking it first with
 * glue_control_runtime_dir_check() (-> GLUE_EXIT_RUNTIME_DIR).
 */
GLUE_API int glue_control_exit_status(int err);

/* The protocol's name for a state: "created", "running", "paused",
 * "stopping", "stopped" ("unknown" for anything else). */
GLUE_API const char *glue_control_state_name(enum glue_machine_state state);

/* ---- server ----------------------------------------------------------- */

/*
 * What a server does with requests. Called on the loop's thread; each
 * returns 0 or a negative errno (its glue_error_last() message, if set,
 * goes back to the client). Any member may be NULL: that request is then
 * answered with -EOPNOTSUPP.
 */
struct glue_control_ops {
	/* Fill state, cpus and mem_bytes. name, pid, start_time and
	 * uptime_ms come filled in by the server (start = server creation);
	 * info may overwrite them. */
	int (*info)(void *ctx, struct glue_control_info *out);
	int (*pause)(void *ctx);
	int (*resume)(void *ctx);
	/* Without force, ask the guest to shut down and return at once. */
	int (*stop)(void *ctx, bool force);
};

/*
 * Serve the VM `name` on loop. runtime_dir NULL means the default; it is
 * created (0700) when missing and refused when it belongs to someone else
 * or is open to group/others. Takes <name>.lock (so two VMs cannot race for
 * a name), replaces a socket left by a VM that died, binds <name>.sock and
 * answers each connection from a process of the same uid (or root),
 * without ever blocking the loop; idle clients are dropped after 5 s.
 * ops is copied; ctx is passed to each op.
 *
 * Returns 0; -EINVAL (bad name); -EADDRINUSE when a live VM has the name
 * ("a VM named 'x' is already running (pid N)"); a negative errno for an
 * unusable directory or socket.
 */
GLUE_API int glue_control_server_new(struct glue_control_server **out, struct glue_loop *loop,
				     const char *runtime_dir, const char *name,
				     const struct glue_control_ops *ops, void *ctx);

/*
 * Close every connection, remove the socket and the lock file, free srv.
 * Call from the loop's thread (not from an op) or once the loop no longer
 * runs. Accepts NULL.
 */
GLUE_API void glue_control_server_free(struct glue_control_server *srv);

/* Path of the server's socket. */
GLUE_API const char *glue_control_server_path(const struct glue_control_server *srv);

/* Drop clients that send no complete request for timeout_ms (default 5000;
 * values below 10 are raised to 10). */
GLUE_API void glue_control_server_set_idle_timeout(struct glue_control_server *srv, int timeout_ms);

/*
 * A server for a glue_machine: ops call glue_machine_pause/resume/stop and
 * glue_machine_state; INFO reports cfg->cpus and cfg->mem_bytes (cfg is
 * copied, only those two are kept). A graceful STOP of a paused machine
 * resumes it first, since a paused guest cannot shut down. Serves on
 * glue_machine_loop(m); free with glue_control_server_free() before the
 * machine. Same results as glue_control_server_new().
 */
GLUE_API int glue_control_serve_machine(struct glue_control_server **out, struct glue_machine *m,
					const struct glue_machine_config *cfg,
					const char *runtime_dir, const char *name);

/* ---- client ----------------------------------------------------------- */

/*
 * Connect to the VM `name` (runtime_dir NULL: the default), and check with
 * SO_PEERCRED that it runs as the caller's uid or root. Returns 0;
 * -ENOENT when there is no such VM (a socket left by a VM that died is
 * removed, and also reported as -ENOENT); -ECONNREFUSED or -EAGAIN when the
 * VM is alive but not accepting; -EACCES when the VM belongs to someone
 * else; -EINVAL for a bad name.
 */
GLUE_API int glue_control_connect(struct glue_control_client **out, const char *runtime_dir,
				  const char *name);
GLUE_API void glue_control_client_free(struct glue_control_client *c);

/* Pid of the VM process, from SO_PEERCRED at connect time (not from what
 * the VM says), so it can be trusted to signal the right process. */
GLUE_API int glue_control_client_pid(const struct glue_control_client *c);

/*
 * Send req and wait up to timeout_ms (-1: forever) for the answer, filling
 * resp. Returns 0; the VM's negative errno when it refused the request
 * (resp->status, message "VM 'x': <its message>"); -ETIMEDOUT when it does
 * not answer in time; -ECONNRESET when it hung up; -EBADMSG or
 * -EPROTONOSUPPORT when the answer is malformed or in another version.
 * After a timeout or a malformed answer the connection is unusable.
 */
GLUE_API int glue_control_call(struct glue_control_client *c,
			       const struct glue_control_request *req,
			       struct glue_control_response *resp, int timeout_ms);

/* One VM found by glue_control_list(). */
struct glue_control_entry {
	const char *name;
	/* 0: info holds its answer. < 0: it could not be asked: -ETIMEDOUT,
	 * -ECONNREFUSED, -ECONNRESET, -EBADMSG... (alive but not responding),
	 * -EACCES (someone else's). */
	int status;
	const char *error; /* message when status < 0, else "" */
	int pid;	   /* the VM process; from its lock file when it does not
			    * answer; 0 if unknown */
	struct glue_control_info info;
};

/* Return 0 to go on; anything else stops glue_control_list(), which returns it. */
typedef int (*glue_control_list_fn)(void *ctx, const struct glue_control_entry *entry);

/*
 * Call fn for each VM in runtime_dir (NULL: the default), sorted by name,
 * asking each for INFO (GLUE_CONTROL_PROBE_TIMEOUT_MS). Sockets and lock
 * files left by VMs that died are removed and never listed; a VM that is
 * alive but does not answer is listed with status < 0. A missing directory
 * lists nothing. Returns 0, fn's non-zero value, or a negative errno
 * (unusable directory).
 */
GLUE_API int glue_control_list(const char *runtime_dir, glue_control_list_fn fn, void *ctx);

/* The same with timeout_ms (> 0) for each VM to answer, for hosts where a
 * busy VM is slow to (a loaded machine, a sanitizer build). */
GLUE_API int glue_control_list_timeout(const char *runtime_dir, int timeout_ms,
				       glue_control_list_fn fn, void *ctx);

/*
 * Remove what a dead VM `name` left (socket, lock file). Returns 1 when
 * something was removed, 0 when the VM is alive or nothing was there, or a
 * negative errno.
 */
GLUE_API int glue_control_remove_stale(const char *runtime_dir, const char *name);

GLUE_END_DECLS

#endif
