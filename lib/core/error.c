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

/* Append ": text" to the message, truncating what does not fit. */
static void append(const char *text)
{
	size_t n = strlen(last_error);

	for (const char *t = ": "; *t && n + 1 < sizeof(last_error); t++)
		last_error[n++] = *t;
	for (; *text && n + 1 < sizeof(last_error); text++)
		last_error[n++] = *text;
	last_error[n] = '\0';
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

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	append(strerror(-err));
	return err;
}

int glue_err_wrap(int err, const char *fmt, ...)
{
	char prev[sizeof(last_error)];
	va_list ap;

	memcpy(prev, last_error, sizeof(prev));
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	if (prev[0])
		append(prev);
	return err;
}
