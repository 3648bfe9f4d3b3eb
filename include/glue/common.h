/* SPDX-License-Identifier: MIT */
/*
 * Conventions shared by every libglue header.
 *
 * - Functions that can fail return 0 (or a non-negative count) on success and
 *   a negative errno on failure. After a failure, glue_error_last() gives a
 *   human-readable message for the calling thread.
 * - Objects are opaque, created by glue_<module>_new() and destroyed by
 *   glue_<module>_free(), which accepts NULL.
 * - Unless a header says otherwise, an object may be used by one thread at a
 *   time; the caller serialises access.
 */
#ifndef GLUE_COMMON_H
#define GLUE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define GLUE_API __attribute__((visibility("default")))
#else
#define GLUE_API
#endif

#ifdef __cplusplus
#define GLUE_BEGIN_DECLS extern "C" {
#define GLUE_END_DECLS }
#else
#define GLUE_BEGIN_DECLS
#define GLUE_END_DECLS
#endif

#endif
