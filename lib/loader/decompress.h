/* SPDX-License-Identifier: MIT */
/*
 * Host-side decompression of a bzImage payload. Linux compresses vmlinux
 * (plus relocation data) with one of several formats and appends the
 * uncompressed size as a 32-bit little-endian word.
 */
#ifndef GLUE_LOADER_DECOMPRESS_H
#define GLUE_LOADER_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum glue_compression {
	GLUE_COMP_UNKNOWN = 0,
	GLUE_COMP_NONE, /* the payload is the ELF itself */
	GLUE_COMP_GZIP,
	GLUE_COMP_BZIP2,
	GLUE_COMP_LZMA,
	GLUE_COMP_XZ,
	GLUE_COMP_LZ4,
	GLUE_COMP_ZSTD,
};

/* Largest unpacked kernel accepted: bounds what a size field can make us allocate. */
#define GLUE_UNPACK_MAX (512ULL << 20)

/* Format of a payload from its first bytes; GLUE_COMP_UNKNOWN if none matches. */
enum glue_compression glue_compression_detect(const void *data, size_t size);

/* "gzip", "lz4"...; "none" for GLUE_COMP_NONE; NULL for GLUE_COMP_UNKNOWN. */
const char *glue_compression_name(enum glue_compression c);

/* True when this build has the library for c (always for NONE). */
bool glue_compression_supported(enum glue_compression c);

/*
 * Decompress a Linux payload of size bytes in format c. The trailing size
 * word sizes the output buffer; more than max_out bytes is refused, and the
 * stream may never write past the size it claims. On success *out (free()
 * it) holds *out_len bytes. Returns 0, -ENOTSUP for a format this build
 * lacks, -EFBIG over max_out, -ENOMEM, or -EINVAL for corrupt or truncated
 * data; the message starts with the format ("lz4 payload: ...").
 */
int glue_decompress(enum glue_compression c, const void *data, size_t size, size_t max_out,
		    uint8_t **out, size_t *out_len);

#endif
