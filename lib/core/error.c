// SPDX-License-Identifier: MIT
/* Per-thread error messages: libgit2-style "last error" for each thread. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glue/config.h>
#include "core/err.h"

static _Thread_local char last_error[512];

const char *glue_error_last(void)
{
	return last_error;
}

void glue_error_clear(void)
{
	last_error[0] = '\0';
}

const char *glue_version(void)
{
	return GLUE_VERSION_STRING;
}

int glue_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

int glue_err_sys(int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	n = strlen(last_error);
	if (n < sizeof(last_error))
		snprintf(last_error + n, sizeof(last_error) - n, ": %s", strerror(-err));
	return err;
}

int glue_err_wrap(int err, const char *fmt, ...)
{
	char prev[sizeof(last_error)];
	va_list ap;
	size_t n;

	memcpy(prev, last_error, sizeof(prev));
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	n = strlen(last_error);
	if (prev[0] && n < sizeof(last_error))
		snprintf(last_error + n, sizeof(last_error) - n, ": %s", prev);
	return err;
}
