/* SPDX-License-Identifier: MIT */
/* Runtime directory layout shared by the control server and client. */
#ifndef GLUE_INTERNAL_CONTROL_RUNDIR_H
#define GLUE_INTERNAL_CONTROL_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <glue/control.h>

/* Longest runtime directory path we accept. */
#define GLUE_CONTROL_DIR_MAX 4096

/* Resolve dir (NULL: the default) into buf. Returns 0 or a negative errno. */
int glue_control_dir_resolve(const char *dir, char *buf, size_t len);

/* "<dir>/<name><suffix>" into buf; -ENAMETOOLONG with a message when it
 * does not fit. */
int glue_control_file_path(char *buf, size_t len, const char *dir, const char *name,
			   const char *suffix);

/* Fill a sockaddr_un for <dir>/<name>.sock; -ENAMETOOLONG when the path
 * exceeds what AF_UNIX allows. *addrlen gets the length to pass to
 * bind/connect. */
int glue_control_sock_addr(struct sockaddr_un *sun, socklen_t *addrlen, const char *dir,
			   const char *name);

/*
 * Take the exclusive lock of `name` (flock on <dir>/<name>.lock, which must
 * be the file currently at that path). With create, make the file when
 * missing. Returns the locked fd, -EWOULDBLOCK when a live process holds
 * it (*holder gets the pid recorded in the file, 0 if none), -ENOENT when
 * the file is missing and !create, or another negative errno.
 */
int glue_control_lock(const char *dir, const char *name, bool create, int *holder);

/* Pid recorded in <dir>/<name>.lock, or 0. */
int glue_control_lock_pid(const char *dir, const char *name);

#endif
