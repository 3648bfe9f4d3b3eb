/* SPDX-License-Identifier: MIT */
/*
 * Error reporting.
 *
 * Every libglue function that fails records a message in a per-thread
 * buffer before returning its negative errno, e.g.
 *   "cannot open kernel 'bzImage': No such file or directory".
 * Thread-safe: each thread sees only its own last error.
 */
#ifndef GLUE_ERROR_H
#define GLUE_ERROR_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

/* Message of the last failure in this thread ("" if none). Valid until the
 * next libglue call in the same thread. */
GLUE_API const char *glue_error_last(void);

/* Forget the last error of this thread. */
GLUE_API void glue_error_clear(void);

/* Library version, e.g. "0.1.0". */
GLUE_API const char *glue_version(void);

GLUE_END_DECLS

#endif
