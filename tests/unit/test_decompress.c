// SPDX-License-Identifier: MIT
/* bzImage payload decompression (lib/loader/decompress.c). */
#include <criterion/criterion.h>
#include <string.h>

#include <glue/error.h>

#include "loader/decompress.h"
#include "loader_fixtures.h"

struct fmt {
	const char *name;
	enum glue_compression c;
	bool built;
};

static const struct fmt fmts[] = {
	{"gzip", GLUE_COMP_GZIP, GLUE_HAVE_GZIP}, {"bzip2", GLUE_COMP_BZIP2, GLUE_HAVE_BZIP2},
	{"lzma", GLUE_COMP_LZMA, GLUE_HAVE_XZ},	  {"xz", GLUE_COMP_XZ, GLUE_HAVE_XZ},
	{"lz4", GLUE_COMP_LZ4, GLUE_HAVE_LZ4},	  {"zstd", GLUE_COMP_ZSTD, GLUE_HAVE_ZSTD},
};

static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);

	cr_assert(p);
	fill_pattern(p, n, seed);
	return p;
}

Test(decompress, detects_every_magic)
{
	static const struct {
		const char *bytes;
		size_t len;
		enum glue_compression c;
	} cases[] = {
		{"\x1f\x8b\x08\x00", 4, GLUE_COMP_GZIP},
		{"BZh9", 4, GLUE_COMP_BZIP2},
		{"\x5d\x00\x00\x80", 4, GLUE_COMP_LZMA},
		{"\xfd"
		 "7zXZ\x00",
		 6, GLUE_COMP_XZ},
		{"\x02\x21\x4c\x18", 4, GLUE_COMP_LZ4},
		{"\x28\xb5\x2f\xfd", 4, GLUE_COMP_ZSTD},
		{"\x7f"
		 "ELF",
		 4, GLUE_COMP_NONE},
		{"\xfd"
		 "7zXZ",
		 5, GLUE_COMP_UNKNOWN}, /* too short for xz's magic */
		{"\x5d\x00\x01", 3, GLUE_COMP_UNKNOWN},
		{"", 0, GLUE_COMP_UNKNOWN},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(glue_compression_detect(cases[i].bytes, cases[i].len), cases[i].c,
			     "case %zu", i);
	cr_assert_str_eq(glue_compression_name(GLUE_COMP_LZ4), "lz4");
	cr_assert_str_eq(glue_compression_name(GLUE_COMP_NONE), "none");
	cr_assert_null(glue_compression_name(GLUE_COMP_UNKNOWN));
}

Test(decompress, supported_matches_the_build)
{
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
		cr_assert_eq(glue_compression_supported(fmts[i].c), fmts[i].built, "%s",
			     fmts[i].name);
	cr_assert(glue_compression_supported(GLUE_COMP_NONE));
	cr_assert_not(glue_compression_supported(GLUE_COMP_UNKNOWN));
}

Test(decompress, round_trips_every_built_format)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 1);

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct buf pl;
		uint8_t *out;
		size_t len;

		if (!fmts[i].built)
			continue;
		pl = compress_payload(fmts[i].name, data, n);
		cr_assert_eq(glue_decompress(fmts[i].c, pl.p, pl.len, 1 << 20, &out, &len), 0,
			     "%s: %s", fmts[i].name, glue_error_last());
		cr_assert_eq(len, n, "%s", fmts[i].name);
		cr_assert_arr_eq(out, data, n, "%s", fmts[i].name);
		free(out);
		buf_free(&pl);
	}
	free(data);
}

Test(decompress, missing_library_is_enotsup)
{
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		uint8_t junk[64] = {0};
		uint8_t *out;
		size_t len;

		if (fmts[i].built)
			continue;
		cr_assert_eq(glue_decompress(fmts[i].c, junk, sizeof(junk), 1 << 20, &out, &len),
			     -ENOTSUP);
		cr_assert(strstr(glue_error_last(), "built without"), "%s", glue_error_last());
	}
}

#if GLUE_HAVE_LZ4
/* Linux's lz4 stream: several 8 MiB blocks, and frames may be concatenated. */
Test(decompress, lz4_multiple_blocks_and_concatenated_frames)
{
	const size_t n = (8u << 20) + 12345;
	uint8_t *data = pattern(n, 2);
	struct buf a = compress_payload("lz4", data, n);
	struct buf b = compress_payload("lz4", data, 5000);
	struct buf cat = {0};
	uint8_t *out;
	size_t len;

	cr_assert_eq(glue_decompress(GLUE_COMP_LZ4, a.p, a.len, 64 << 20, &out, &len), 0, "%s",
		     glue_error_last());
	cr_assert_eq(len, n);
	cr_assert_arr_eq(out, data, n);
	free(out);

	/* frame a (without its size word) then frame b, then the total */
	buf_put(&cat, a.p, a.len - 4);
	buf_put(&cat, b.p, b.len - 4);
	buf_le32(&cat, (uint32_t)(n + 5000));
	cr_assert_eq(glue_decompress(GLUE_COMP_LZ4, cat.p, cat.len, 64 << 20, &out, &len), 0, "%s",
		     glue_error_last());
	cr_assert_eq(len, n + 5000);
	cr_assert_arr_eq(out + n, data, 5000);
	free(out);
	buf_free(&a);
	buf_free(&b);
	buf_free(&cat);
	free(data);
}
#endif

#if GLUE_HAVE_ZSTD
Test(decompress, zstd_concatenated_frames)
{
	uint8_t *data = pattern(70000, 3);
	struct buf a = compress_payload("zstd", data, 40000);
	struct buf b = compress_payload("zstd", data + 40000, 30000);
	struct buf cat = {0};
	uint8_t *out;
	size_t len;

	buf_put(&cat, a.p, a.len - 4);
	buf_put(&cat, b.p, b.len - 4);
	buf_le32(&cat, 70000);
	cr_assert_eq(glue_decompress(GLUE_COMP_ZSTD, cat.p, cat.len, 1 << 20, &out, &len), 0, "%s",
		     glue_error_last());
	cr_assert_eq(len, 70000);
	cr_assert_arr_eq(out, data, 70000);
	free(out);
	buf_free(&a);
	buf_free(&b);
	buf_free(&cat);
	free(data);
}
#endif

/* The size word sizes the buffer; a stream producing more must fail, not overrun. */
Test(decompress, size_word_understating_the_data_is_refused)
{
	const size_t n = 100000;
	uint8_t *data = pattern(n, 4);

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct buf pl;
		uint8_t *out;
		size_t len;
		uint32_t small = 1000;

		if (!fmts[i].built)
			continue;
		pl = compress_payload(fmts[i].name, data, n);
		memcpy(pl.p + pl.len - 4, &small, 4);
		cr_assert_eq(glue_decompress(fmts[i].c, pl.p, pl.len, 1 << 20, &out, &len), -EINVAL,
			     "%s", fmts[i].name);
		cr_assert(strstr(glue_error_last(), "more than the 1000 bytes"), "%s: %s",
			  fmts[i].name, glue_error_last());
		cr_assert_null(out);
		buf_free(&pl);
	}
	free(data);
}

Test(decompress, size_word_over_the_cap_or_zero_is_refused)
{
	uint8_t *data = pattern(5000, 5);

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct buf pl;
		uint8_t *out;
		size_t len;
		uint32_t v = 0xfffffff0;

		if (!fmts[i].built)
			continue;
		pl = compress_payload(fmts[i].name, data, 5000);
		memcpy(pl.p + pl.len - 4, &v, 4);
		cr_assert_eq(glue_decompress(fmts[i].c, pl.p, pl.len, 1 << 20, &out, &len), -EFBIG,
			     "%s", fmts[i].name);
		cr_assert(strstr(glue_error_last(), "claims 4294967280 bytes"), "%s",
			  glue_error_last());
		v = 0;
		memcpy(pl.p + pl.len - 4, &v, 4);
		cr_assert_eq(glue_decompress(fmts[i].c, pl.p, pl.len, 1 << 20, &out, &len), -EINVAL,
			     "%s", fmts[i].name);
		buf_free(&pl);
	}
	free(data);
}

Test(decompress, truncated_stream_is_an_error)
{
	const size_t n = 200000;
	uint8_t *data = pattern(n, 6);

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct buf pl, cut = {0};
		uint8_t *out;
		size_t len;

		if (!fmts[i].built)
			continue;
		pl = compress_payload(fmts[i].name, data, n);
		/* keep the first half of the stream and a correct size word */
		buf_put(&cut, pl.p, pl.len / 2);
		buf_le32(&cut, (uint32_t)n);
		cr_assert_eq(glue_decompress(fmts[i].c, cut.p, cut.len, 1 << 20, &out, &len),
			     -EINVAL, "%s accepted a truncated stream", fmts[i].name);
		cr_assert(strstr(glue_error_last(), fmts[i].name), "%s", glue_error_last());
		buf_free(&cut);
		buf_free(&pl);
	}
	free(data);
}

/* Cut every stream at many lengths and flip bytes in it: an error or a
 * result within the claimed size, never a crash (run under ASan too). */
Test(decompress, damaged_streams_never_crash, .timeout = 120)
{
	const size_t n = 20000;
	uint8_t *data = pattern(n, 7);

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct buf pl;

		if (!fmts[i].built)
			continue;
		pl = compress_payload(fmts[i].name, data, n);
		for (size_t cut = 0; cut < pl.len; cut += 1 + cut / 8) {
			uint8_t *copy = malloc(cut + 1), *out;
			size_t len;
			int r;

			memcpy(copy, pl.p, cut);
			r = glue_decompress(fmts[i].c, copy, cut, 1 << 20, &out, &len);
			if (r == 0) {
				cr_assert_leq(len, 1 << 20);
				free(out);
			}
			free(copy);
		}
		for (size_t pos = 0; pos < pl.len; pos += 1 + pos / 16) {
			uint8_t *copy = malloc(pl.len), *out;
			size_t len;
			int r;

			memcpy(copy, pl.p, pl.len);
			copy[pos] ^= 0x55;
			r = glue_decompress(fmts[i].c, copy, pl.len, 1 << 20, &out, &len);
			if (r == 0) {
				cr_assert_leq(len, 1 << 20);
				free(out);
			} else {
				cr_assert_neq(glue_error_last()[0], '\0');
			}
			free(copy);
		}
		buf_free(&pl);
	}
	free(data);
}

Test(decompress, unknown_format_is_enotsup)
{
	uint8_t junk[32] = {0};
	uint8_t *out;
	size_t len;

	cr_assert_eq(glue_decompress(GLUE_COMP_UNKNOWN, junk, sizeof(junk), 1 << 20, &out, &len),
		     -ENOTSUP);
	cr_assert(strstr(glue_error_last(), "unknown compression"), "%s", glue_error_last());
}
