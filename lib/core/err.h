/* SPDX-License-Identifier: MIT */
/* Internal helpers for recording errors (see <glue/error.h>). */
#ifndef GLUE_INTERNAL_ERR_H
#define GLUE_INTERNAL_ERR_H

#include <errno.h>
#include <glue/error.h>

/* Record a message for this thread and return err (a negative errno). */
int glue_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with ": <strerror(-err)>" appended. */
int glue_err_sys(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message: "<prefix>: <previous message>"; returns err. */
int glue_err_wrap(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
