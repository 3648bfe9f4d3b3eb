// SPDX-License-Identifier: MIT
/*
 * VM names, the per-user runtime directory and the per-name lock file.
 *
 * The lock (flock on <name>.lock, held for the VM's whole life) is what
 * tells a live VM from a dead one: the kernel drops it when the process
 * dies, however it dies, so a socket whose lock can be taken is stale.
 */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "control/rundir.h"

int glue_control_name_check(const char *name)
{
	size_t n;

	if (!name || !name[0])
		return glue_err(-EINVAL, "VM name is empty");
	if (name[0] == '.')
		return glue_err(-EINVAL, "VM name '%.*s' starts with '.'", GLUE_CONTROL_NAME_MAX,
				name);
	for (n = 0; name[n]; n++) {
		char c = name[n];

		if (n == GLUE_CONTROL_NAME_MAX)
			return glue_err(-EINVAL, "VM name '%.*s...' is longer than %d characters",
					GLUE_CONTROL_NAME_MAX, name, GLUE_CONTROL_NAME_MAX);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return glue_err(
				-EINVAL,
				"VM name '%.*s' has character 0x%02x; use only A-Z a-z 0-9 . _ -",
				GLUE_CONTROL_NAME_MAX, name, (unsigned char)c);
	}
	return 0;
}

int glue_control_default_name(char *buf, size_t len)
{
	int n = snprintf(buf, len, "vm-%d", (int)getpid());

	if (n < 0 || (size_t)n >= len)
		return glue_err(-ENAMETOOLONG, "buffer too small for a VM name");
	return 0;
}

int glue_control_runtime_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("HOME");
	char pwbuf[1024];
	struct passwd pw, *res = NULL;
	int n;

	/* The XDG spec says to ignore a relative path. */
	if (xdg && xdg[0] == '/') {
		n = snprintf(buf, len, "%s/glue", xdg);
	} else {
		if (!home || home[0] != '/') {
			if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) || !res ||
			    !pw.pw_dir || pw.pw_dir[0] != '/')
				return glue_err(-ENOENT, "cannot find a runtime directory: neither "
							 "XDG_RUNTIME_DIR nor HOME is set");
			home = pw.pw_dir;
		}
		n = snprintf(buf, len, "%s%s.glue", home, home[strlen(home) - 1] == '/' ? "" : "/");
	}
	if (n < 0 || (size_t)n >= len)
		return glue_err(-ENAMETOOLONG, "runtime directory path is too long");
	return 0;
}

int glue_control_dir_resolve(const char *dir, char *buf, size_t len)
{
	if (!dir)
		return glue_control_runtime_dir(buf, len);
	if (!dir[0])
		return glue_err(-EINVAL, "runtime directory path is empty");
	if (snprintf(buf, len, "%s", dir) >= (int)len)
		return glue_err(-ENAMETOOLONG, "runtime directory path is too long");
	return 0;
}

int glue_control_runtime_dir_check(const char *dir_arg, bool create)
{
	char dir[GLUE_CONTROL_DIR_MAX];
	struct stat st;
	int ret, fd;

	ret = glue_control_dir_resolve(dir_arg, dir, sizeof(dir));
	if (ret)
		return ret;
	if (create && mkdir(dir, 0700) && errno != EEXIST)
		return glue_err_sys(-errno, "cannot create runtime directory '%s'", dir);
	/* O_NOFOLLOW: a symlink could point anywhere, e.g. at someone's dir. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return glue_err(ret, "runtime directory '%s' does not exist", dir);
		if (ret == -ELOOP || ret == -ENOTDIR)
			return glue_err(-ENOTDIR,
					"runtime directory '%s' is not a directory "
					"(symlinks are refused)",
					dir);
		return glue_err_sys(ret, "cannot open runtime directory '%s'", dir);
	}
	ret = fstat(fd, &st) ? -errno : 0;
	close(fd);
	if (ret)
		return glue_err_sys(ret, "cannot stat runtime directory '%s'", dir);
	if (st.st_uid != geteuid())
		return glue_err(-EPERM,
				"runtime directory '%s' belongs to uid %u, not to you (uid %u)",
				dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return glue_err(-EPERM,
				"runtime directory '%s' is open to group or others (mode %04o); "
				"run 'chmod 700 %s'",
				dir, (unsigned)(st.st_mode & 07777), dir);
	if (access(dir, W_OK | X_OK))
		return glue_err_sys(-errno, "runtime directory '%s' is not writable", dir);
	return 0;
}

int glue_control_exit_status(int err)
{
	switch (err) {
	case 0:
		return GLUE_EXIT_OK;
	case -ENOENT:
		return GLUE_EXIT_NO_SUCH_VM;
	case -EACCES:
	case -EPERM:
		return GLUE_EXIT_PERMISSION;
	case -EADDRINUSE:
		return GLUE_EXIT_NAME_IN_USE;
	case -EINVAL:
		return GLUE_EXIT_USAGE;
	case -ETIMEDOUT:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EPIPE:
	case -EAGAIN:
	case -EBADMSG:
	case -EPROTO:
	case -EPROTONOSUPPORT:
		return GLUE_EXIT_NOT_RESPONDING;
	default:
		return GLUE_EXIT_ERROR;
	}
}

int glue_control_file_path(char *buf, size_t len, const char *dir, const char *name,
			   const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= len)
		return glue_err(-ENAMETOOLONG, "path '%s/%s%s' is too long", dir, name, suffix);
	return 0;
}

int glue_control_sock_addr(struct sockaddr_un *sun, socklen_t *addrlen, const char *dir,
			   const char *name)
{
	int ret;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	ret = glue_control_file_path(sun->sun_path, sizeof(sun->sun_path), dir, name, ".sock");
	if (ret)
		return glue_err(ret,
				"socket path '%s/%s.sock' is longer than the %zu bytes a Unix "
				"socket allows; use a shorter name or runtime directory",
				dir, name, sizeof(sun->sun_path) - 1);
	*addrlen = offsetof(struct sockaddr_un, sun_path) + strlen(sun->sun_path) + 1;
	return 0;
}

static int read_pid(int fd)
{
	char buf[16];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || pid <= 0 || pid > INT32_MAX)
		return 0;
	return pid;
}

int glue_control_lock_pid(const char *dir, const char *name)
{
	char path[GLUE_CONTROL_DIR_MAX + GLUE_CONTROL_NAME_MAX + 8];
	int fd, pid;

	if (glue_control_file_path(path, sizeof(path), dir, name, ".lock"))
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	pid = read_pid(fd);
	close(fd);
	return pid;
}

int glue_control_lock(const char *dir, const char *name, bool create, int *holder)
{
	char path[GLUE_CONTROL_DIR_MAX + GLUE_CONTROL_NAME_MAX + 8];
	int ret, fd, tries;

	*holder = 0;
	ret = glue_control_file_path(path, sizeof(path), dir, name, ".lock");
	if (ret)
		return ret;
	/* Bounded: each retry means the file was replaced under us. */
	for (tries = 0; tries < 100; tries++) {
		struct stat a, b;

		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
		if (fd < 0) {
			ret = -errno;
			if (ret == -ENOENT && !create)
				return ret;
			return glue_err_sys(ret, "cannot open lock file '%s'", path);
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			ret = -errno;
			if (ret == -EWOULDBLOCK)
				*holder = read_pid(fd);
			close(fd);
			if (ret == -EWOULDBLOCK)
				return ret;
			return glue_err_sys(ret, "cannot lock '%s'", path);
		}
		/* Whoever held it before may have unlinked it on the way out:
		 * a lock on an unlinked file protects nothing. */
		if (stat(path, &b)) {
			ret = -errno;
			close(fd);
			if (ret == -ENOENT && !create)
				return ret;
			continue;
		}
		if (fstat(fd, &a) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return glue_err(-EAGAIN, "lock file '%s' keeps changing", path);
}
