// SPDX-License-Identifier: MIT
/*
 * bzImage payload decompression with Debian's libraries. Every decoder
 * writes into one flat buffer sized from the payload's trailing size word
 * (capped), and fails rather than grow past it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glue/config.h>

#include "core/err.h"
#include "core/util.h"
#include "loader/decompress.h"
#include "loader/elf.h"

#if GLUE_HAVE_GZIP
#include <zlib.h>
#endif
#if GLUE_HAVE_XZ
#include <lzma.h>
#endif
#if GLUE_HAVE_LZ4
#include <lz4.h>
#endif
#if GLUE_HAVE_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif
#if GLUE_HAVE_BZIP2
#include <bzlib.h>
#endif

/* liblzma may allocate this much for the dictionary; kernels use <= 64 MiB. */
#define LZMA_MEMLIMIT (256ULL << 20)

#define LZ4_LEGACY_MAGIC 0x184C2102U
#define LZ4_LEGACY_BLOCK (8U << 20) /* a legacy block decodes to at most this */
#define ZSTD_FRAME_MAGIC 0xFD2FB528U
#define ZSTD_SKIP_MAGIC 0x184D2A50U /* low 4 bits vary */

struct magic {
	enum glue_compression c;
	const char *name;
	uint8_t len;
	uint8_t bytes[6];
};

static const struct magic magics[] = {
	{GLUE_COMP_GZIP, "gzip", 2, {0x1f, 0x8b}},
	{GLUE_COMP_BZIP2, "bzip2", 3, {'B', 'Z', 'h'}},
	{GLUE_COMP_LZMA, "lzma", 3, {0x5d, 0x00, 0x00}},
	{GLUE_COMP_XZ, "xz", 6, {0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{GLUE_COMP_LZ4, "lz4", 4, {0x02, 0x21, 0x4c, 0x18}},
	{GLUE_COMP_ZSTD, "zstd", 4, {0x28, 0xb5, 0x2f, 0xfd}},
	{GLUE_COMP_NONE, "none", 4, {0x7f, 'E', 'L', 'F'}},
};

enum glue_compression glue_compression_detect(const void *data, size_t size)
{
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(magics); i++)
		if (size >= magics[i].len && memcmp(data, magics[i].bytes, magics[i].len) == 0)
			return magics[i].c;
	return GLUE_COMP_UNKNOWN;
}

const char *glue_compression_name(enum glue_compression c)
{
	for (size_t i = 0; i < GLUE_ARRAY_SIZE(magics); i++)
		if (magics[i].c == c)
			return magics[i].name;
	return NULL;
}

bool glue_compression_supported(enum glue_compression c)
{
	switch (c) {
	case GLUE_COMP_NONE:
		return true;
	case GLUE_COMP_GZIP:
		return GLUE_HAVE_GZIP;
	case GLUE_COMP_BZIP2:
		return GLUE_HAVE_BZIP2;
	case GLUE_COMP_LZMA:
	case GLUE_COMP_XZ:
		return GLUE_HAVE_XZ;
	case GLUE_COMP_LZ4:
		return GLUE_HAVE_LZ4;
	case GLUE_COMP_ZSTD:
		return GLUE_HAVE_ZSTD;
	case GLUE_COMP_UNKNOWN:
		break;
	}
	return false;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Output buffer and the messages every decoder shares. */
struct sink {
	const char *name;
	uint8_t *buf;
	size_t cap; /* the payload's claimed size */
	size_t len; /* bytes produced */
};

__attribute__((unused)) static int too_big(const struct sink *s)
{
	return glue_err(-EINVAL,
			"%s payload: decompresses to more than the %zu bytes its size "
			"field claims",
			s->name, s->cap);
}

__attribute__((unused)) static int truncated(const struct sink *s)
{
	return glue_err(-EINVAL, "%s payload: data is truncated (stream ends early)", s->name);
}

__attribute__((unused)) static int corrupt(const struct sink *s, const char *detail)
{
	return glue_err(-EINVAL, "%s payload: data is corrupt (%s)", s->name, detail);
}

#if GLUE_HAVE_GZIP
static int unpack_gzip(struct sink *s, const uint8_t *in, size_t size)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	/* 16 + MAX_WBITS: gzip wrapper only */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return glue_err(-ENOMEM, "gzip payload: cannot initialise zlib");
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)size;
	z.next_out = s->buf;
	z.avail_out = (uInt)s->cap;
	/* Z_OK while it progresses, Z_BUF_ERROR once it cannot */
	do {
		ret = inflate(&z, Z_NO_FLUSH);
	} while (ret == Z_OK);
	s->len = s->cap - z.avail_out;
	if (ret == Z_STREAM_END)
		ret = 0;
	else if (ret == Z_BUF_ERROR && z.avail_out == 0)
		ret = too_big(s);
	else if (ret == Z_BUF_ERROR)
		ret = truncated(s);
	else if (ret == Z_MEM_ERROR)
		ret = glue_err(-ENOMEM, "gzip payload: out of memory");
	else
		ret = corrupt(s, z.msg ? z.msg : "inflate failed");
	inflateEnd(&z);
	return ret;
}
#endif

#if GLUE_HAVE_BZIP2
static int unpack_bzip2(struct sink *s, const uint8_t *in, size_t size)
{
	bz_stream b;
	int ret;

	memset(&b, 0, sizeof(b));
	if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK)
		return glue_err(-ENOMEM, "bzip2 payload: cannot initialise libbz2");
	b.next_in = (char *)in;
	b.avail_in = (unsigned int)size;
	b.next_out = (char *)s->buf;
	b.avail_out = (unsigned int)s->cap;
	/* BZ_OK even when stuck: stop once a call makes no progress */
	for (;;) {
		unsigned int in_left = b.avail_in, out_left = b.avail_out;

		ret = BZ2_bzDecompress(&b);
		if (ret != BZ_OK || (b.avail_in == in_left && b.avail_out == out_left))
			break;
	}
	s->len = s->cap - b.avail_out;
	if (ret == BZ_STREAM_END)
		ret = 0;
	else if (ret == BZ_OK && b.avail_out == 0)
		ret = too_big(s);
	else if (ret == BZ_OK)
		ret = truncated(s);
	else if (ret == BZ_MEM_ERROR)
		ret = glue_err(-ENOMEM, "bzip2 payload: out of memory");
	else
		ret = corrupt(s, "libbz2 error");
	BZ2_bzDecompressEnd(&b);
	return ret;
}
#endif

#if GLUE_HAVE_XZ
/* xz (stream decoder) and lzma (lzma_alone decoder) share this loop. */
static int unpack_lzma(struct sink *s, const uint8_t *in, size_t size, bool xz)
{
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_ret ret;
	int r;

	/* Without LZMA_CONCATENATED the decoder stops at the end of the first
	 * stream, before Linux's appended size word. */
	ret = xz ? lzma_stream_decoder(&z, LZMA_MEMLIMIT, 0)
		 : lzma_alone_decoder(&z, LZMA_MEMLIMIT);
	if (ret != LZMA_OK)
		return glue_err(-ENOMEM, "%s payload: cannot initialise liblzma", s->name);
	z.next_in = in;
	z.avail_in = size;
	z.next_out = s->buf;
	z.avail_out = s->cap;
	do {
		ret = lzma_code(&z, LZMA_FINISH);
	} while (ret == LZMA_OK);
	s->len = s->cap - z.avail_out;
	switch (ret) {
	case LZMA_STREAM_END:
		r = 0;
		break;
	case LZMA_BUF_ERROR:
		r = z.avail_out == 0 ? too_big(s) : truncated(s);
		break;
	case LZMA_MEM_ERROR:
		r = glue_err(-ENOMEM, "%s payload: out of memory", s->name);
		break;
	case LZMA_MEMLIMIT_ERROR:
		r = corrupt(s, "dictionary larger than 256 MiB");
		break;
	case LZMA_FORMAT_ERROR:
		r = corrupt(s, "bad header");
		break;
	case LZMA_OPTIONS_ERROR:
		r = corrupt(s, "unsupported options");
		break;
	default:
		r = corrupt(s, "liblzma error");
		break;
	}
	lzma_end(&z);
	return r;
}
#endif

#if GLUE_HAVE_LZ4
/*
 * The lz4 "legacy" format Linux uses: a magic word, then blocks of
 * (u32 LE compressed size, data), each decoding to at most 8 MiB. The magic
 * may repeat (concatenated frames); the final word is Linux's size field.
 */
static int unpack_lz4(struct sink *s, const uint8_t *in, size_t size)
{
	size_t pos = 0;
	bool any = false;

	if (size < 4 || get_le32(in) != LZ4_LEGACY_MAGIC)
		return corrupt(s, "not an lz4 legacy frame");
	while (size - pos >= 4) {
		uint32_t w = get_le32(in + pos);
		size_t room;
		int n;

		if (w == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (size - pos == 4 && any)
			break; /* the size word */
		pos += 4;
		if (w == 0 || w > (uint32_t)LZ4_COMPRESSBOUND(LZ4_LEGACY_BLOCK) || w > size - pos) {
			char d[96];

			if (w > size - pos)
				return truncated(s);
			snprintf(d, sizeof(d), "block at offset %zu has invalid size %u", pos - 4,
				 w);
			return corrupt(s, d);
		}
		room = GLUE_MIN((size_t)LZ4_LEGACY_BLOCK, s->cap - s->len);
		n = LZ4_decompress_safe((const char *)in + pos, (char *)s->buf + s->len, (int)w,
					(int)room);
		if (n < 0) {
			char d[128];

			if (room < LZ4_LEGACY_BLOCK)
				return glue_err(-EINVAL,
						"lz4 payload: block at offset %zu is corrupt or "
						"decompresses to more than the %zu bytes the size "
						"field claims",
						pos - 4, s->cap);
			snprintf(d, sizeof(d), "block at offset %zu", pos - 4);
			return corrupt(s, d);
		}
		s->len += (size_t)n;
		pos += w;
		any = true;
	}
	if (!any)
		return truncated(s);
	return 0;
}
#endif

#if GLUE_HAVE_ZSTD
/*
 * One flat ZSTD_decompressDCtx() per frame: with the whole output in one
 * buffer zstd needs no window allocation, so a frame header asking for a
 * huge window costs nothing, and the buffer end bounds every write.
 */
static int unpack_zstd(struct sink *s, const uint8_t *in, size_t size)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	size_t pos = 0;
	bool any = false;
	int r = 0;

	if (!dctx)
		return glue_err(-ENOMEM, "zstd payload: cannot initialise libzstd");
	while (pos < size) {
		size_t rest = size - pos;
		uint32_t m = rest >= 4 ? get_le32(in + pos) : 0;
		size_t flen, n;

		/* after the frames comes Linux's size word */
		if (any && m != ZSTD_FRAME_MAGIC && (m & 0xFFFFFFF0U) != ZSTD_SKIP_MAGIC)
			break;
		flen = ZSTD_findFrameCompressedSize(in + pos, rest);
		if (ZSTD_isError(flen)) {
			if (ZSTD_getErrorCode(flen) == ZSTD_error_srcSize_wrong)
				r = truncated(s);
			else
				r = corrupt(s, ZSTD_getErrorName(flen));
			break;
		}
		n = ZSTD_decompressDCtx(dctx, s->buf + s->len, s->cap - s->len, in + pos, flen);
		if (ZSTD_isError(n)) {
			if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
				r = too_big(s);
			else
				r = corrupt(s, ZSTD_getErrorName(n));
			break;
		}
		s->len += n;
		pos += flen;
		any = true;
	}
	ZSTD_freeDCtx(dctx);
	return r;
}
#endif

static int unpack_none(struct sink *s, const uint8_t *in, size_t size)
{
	/* the payload is vmlinux; the size word after it is harmless */
	size = GLUE_MIN(size, s->cap);
	memcpy(s->buf, in, size);
	s->len = size;
	return 0;
}

int glue_decompress(enum glue_compression c, const void *data, size_t size, size_t max_out,
		    uint8_t **out, size_t *out_len)
{
	const uint8_t *in = data;
	struct sink s = {.name = glue_compression_name(c)};
	uint32_t claimed;
	int r = -ENOTSUP;

	*out = NULL;
	*out_len = 0;
	if (!s.name)
		return glue_err(-ENOTSUP, "payload: unknown compression format");
	if (!glue_compression_supported(c))
		return glue_err(-ENOTSUP, "%s payload: this libglue was built without %s support",
				s.name, s.name);
	if (size < 8)
		return glue_err(-EINVAL, "%s payload: only %zu bytes", s.name, size);
	if (size > UINT_MAX)
		return glue_err(-EFBIG, "%s payload: %zu bytes is too large", s.name, size);
	claimed = get_le32(in + size - 4);
	if (c == GLUE_COMP_NONE)
		claimed = (uint32_t)size;
	if (claimed == 0)
		return glue_err(-EINVAL, "%s payload: size field says 0 bytes", s.name);
	if (claimed > max_out)
		return glue_err(
			-EFBIG,
			"%s payload: size field claims %u bytes, more than the %zu-byte limit",
			s.name, claimed, max_out);
	s.cap = claimed;
	s.buf = malloc(s.cap);
	if (!s.buf)
		return glue_err(-ENOMEM, "%s payload: cannot allocate %zu bytes", s.name, s.cap);

	switch (c) {
#if GLUE_HAVE_GZIP
	case GLUE_COMP_GZIP:
		r = unpack_gzip(&s, in, size);
		break;
#endif
#if GLUE_HAVE_BZIP2
	case GLUE_COMP_BZIP2:
		r = unpack_bzip2(&s, in, size);
		break;
#endif
#if GLUE_HAVE_XZ
	case GLUE_COMP_LZMA:
	case GLUE_COMP_XZ:
		r = unpack_lzma(&s, in, size, c == GLUE_COMP_XZ);
		break;
#endif
#if GLUE_HAVE_LZ4
	case GLUE_COMP_LZ4:
		r = unpack_lz4(&s, in, size);
		break;
#endif
#if GLUE_HAVE_ZSTD
	case GLUE_COMP_ZSTD:
		r = unpack_zstd(&s, in, size);
		break;
#endif
	case GLUE_COMP_NONE:
		r = unpack_none(&s, in, size);
		break;
	default:
		break;
	}
	if (r < 0) {
		free(s.buf);
		return r;
	}
	if (s.len == 0) {
		free(s.buf);
		return glue_err(-EINVAL, "%s payload: decompresses to nothing", s.name);
	}
	*out = s.buf;
	*out_len = s.len;
	return 0;
}
