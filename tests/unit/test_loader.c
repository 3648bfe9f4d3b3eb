// SPDX-License-Identifier: MIT
/* Kernel parsing and loading (lib/loader/kernel.c, loader.c). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glue/error.h>
#include <glue/loader.h>
#include <glue/machine.h>
#include <glue/memory.h>

#include "loader/kernel.h"
#include "loader_fixtures.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct glue_mem *x86_mem(uint64_t bytes)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new_x86(&mem, bytes), 0, "%s", glue_error_last());
	return mem;
}

static struct glue_kernel *open_buf(const struct buf *b)
{
	struct glue_kernel *k;

	cr_assert_eq(glue_kernel_open_buffer(&k, b->p, b->len, "test"), 0, "%s", glue_error_last());
	return k;
}

static int open_err(const void *p, size_t n)
{
	struct glue_kernel *k = (void *)1;
	int r = glue_kernel_open_buffer(&k, p, n, "k");

	if (r == 0)
		glue_kernel_free(k);
	else
		cr_assert_null(k);
	return r;
}

static char tmpdir[64];

static void mk_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/glue-loader-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static const char *write_tmp(const char *name, const void *p, size_t n)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	if (n)
		cr_assert_eq(fwrite(p, 1, n, f), n);
	fclose(f);
	return path;
}

/*
 * Opening: one clear message per problem.
 */

TestSuite(kernel_open, .init = mk_tmpdir, .fini = rm_tmpdir);

Test(kernel_open, missing_file)
{
	struct glue_kernel *k;

	cr_assert_eq(glue_kernel_open(&k, "/nonexistent/bzImage"), -ENOENT);
	cr_assert_str_eq(glue_error_last(),
			 "cannot open kernel '/nonexistent/bzImage': No such file or directory");
}

Test(kernel_open, directory_and_empty_file)
{
	struct glue_kernel *k;

	cr_assert_eq(glue_kernel_open(&k, tmpdir), -EINVAL);
	cr_assert(strstr(glue_error_last(), "not a regular file"), "%s", glue_error_last());
	cr_assert_eq(glue_kernel_open(&k, write_tmp("empty", "", 0)), -EINVAL);
	cr_assert(strstr(glue_error_last(), "file is empty"), "%s", glue_error_last());
}

Test(kernel_open, garbage_is_not_a_kernel)
{
	char junk[5000];
	struct glue_kernel *k;

	memset(junk, 'x', sizeof(junk));
	cr_assert_eq(glue_kernel_open(&k, write_tmp("junk", junk, sizeof(junk))), -ENOEXEC);
	cr_assert(strstr(glue_error_last(), "not a Linux bzImage or ELF kernel"), "%s",
		  glue_error_last());
	cr_assert_eq(open_err("#!/bin/sh\n", 10), -ENOEXEC);
}

Test(kernel_open, truncated_bzimage_names_the_sizes)
{
	struct bz_opts o = {.setup_sects = 39};
	struct buf b = make_bzimage(&o);

	cr_assert_eq(open_err(b.p, 40 * 512 + 100), -EINVAL);
	cr_assert(strstr(glue_error_last(), "file is truncated (setup header claims 39 setup "
					    "sectors"),
		  "%s", glue_error_last());
	cr_assert(strstr(glue_error_last(), "file has 20580"), "%s", glue_error_last());
	cr_assert_eq(open_err(b.p, 0x100), -EINVAL); /* "MZ" but no header yet */
	cr_assert(strstr(glue_error_last(), "too short for a bzImage setup header"), "%s",
		  glue_error_last());
	cr_assert_eq(open_err(b.p, 0x230), -EINVAL); /* "HdrS" but not the whole header */
	cr_assert(strstr(glue_error_last(), "file is truncated (560 bytes"), "%s",
		  glue_error_last());
	buf_free(&b);
}

Test(kernel_open, old_protocol_is_refused)
{
	struct bz_opts o = {.version = 0x0204};
	struct buf b = make_bzimage(&o);

	cr_assert_eq(open_err(b.p, b.len), -ENOEXEC);
	cr_assert(strstr(glue_error_last(), "boot protocol 2.04 is too old"), "%s",
		  glue_error_last());
	buf_free(&b);
}

Test(kernel_open, payload_outside_the_code_is_refused)
{
	struct bz_opts o = {0};
	struct buf b = make_bzimage(&o);
	uint32_t big = 0x7fffffff;

	memcpy(b.p + 0x24c, &big, 4);
	cr_assert_eq(open_err(b.p, b.len), -EINVAL);
	cr_assert(strstr(glue_error_last(), "payload"), "%s", glue_error_last());
	buf_free(&b);
}

Test(kernel_open, bzimage_properties)
{
	struct elf_opts eo = {0};
	struct buf b = make_bzimage_with_elf("none", &eo, (struct bz_opts){0});
	struct glue_kernel *k = open_buf(&b);

	cr_assert_eq(glue_kernel_format(k), GLUE_KERNEL_BZIMAGE);
	cr_assert_str_eq(glue_kernel_compression(k), "none");
	cr_assert(glue_kernel_can_unpack(k));
	cr_assert_not(glue_kernel_has_pvh(k));
	cr_assert_eq(glue_kernel_protocol(k), 0x020f);
	cr_assert_str_eq(glue_kernel_version(k), BZ_VERSION_STRING);
	glue_kernel_free(k);
	glue_kernel_free(NULL);
	buf_free(&b);
}

Test(kernel_open, unknown_payload_has_no_compression)
{
	struct bz_opts o = {0}; /* junk payload */
	struct buf b = make_bzimage(&o);
	struct glue_kernel *k = open_buf(&b);

	cr_assert_null(glue_kernel_compression(k));
	cr_assert_not(glue_kernel_can_unpack(k));
	glue_kernel_free(k);
	buf_free(&b);
}

Test(kernel_open, elf_properties)
{
	struct elf_opts eo = {.pvh = 4};
	struct buf b = make_elf(&eo);
	struct glue_kernel *k = open_buf(&b);

	cr_assert_eq(glue_kernel_format(k), GLUE_KERNEL_ELF);
	cr_assert_str_eq(glue_kernel_compression(k), "none");
	cr_assert_not(glue_kernel_can_unpack(k));
	cr_assert(glue_kernel_has_pvh(k));
	cr_assert_eq(glue_kernel_protocol(k), 0);
	cr_assert_null(glue_kernel_version(k));
	glue_kernel_free(k);
	buf_free(&b);
}

/* Truncate a valid bzImage at many lengths and flip header bytes: every
 * open either fails with a message or yields a kernel that loads or fails
 * cleanly. Run under ASan to catch overreads. */
Test(kernel_open, damaged_images_never_crash, .timeout = 120)
{
	struct elf_opts eo = {.pvh = 8, .code_size = 2000};
	struct buf b = make_bzimage_with_elf(GLUE_HAVE_LZ4 ? "lz4" : "none", &eo,
					     (struct bz_opts){.init_size = 1 << 20});
	struct glue_mem *mem = x86_mem(32 * MiB);

	for (size_t len = 0; len < b.len; len += 1 + len / 32) {
		uint8_t *copy = malloc(len + 1);
		struct glue_kernel *k;

		memcpy(copy, b.p, len);
		glue_error_clear();
		cr_assert_lt(glue_kernel_open_buffer(&k, copy, len, "k"), 0, "length %zu", len);
		cr_assert_neq(glue_error_last()[0], '\0', "length %zu: no message", len);
		free(copy);
	}
	for (size_t i = 0; i < b.len; i += (i < 0x300 || i > b.len - 400) ? 1 : 7) {
		uint8_t *copy = malloc(b.len);
		struct glue_kernel *k;
		struct glue_boot_info info;

		memcpy(copy, b.p, b.len);
		copy[i] ^= 0xa5;
		if (glue_kernel_open_buffer(&k, copy, b.len, "k") == 0) {
			for (int mode = GLUE_BOOT_AUTO; mode <= GLUE_BOOT_ELF64; mode++) {
				struct glue_boot_config cfg;

				glue_boot_config_init(&cfg);
				cfg.mode = mode;
				if (glue_loader_load(mem, k, &cfg, &info) < 0)
					cr_assert_neq(glue_error_last()[0], '\0');
			}
			glue_kernel_free(k);
		} else {
			cr_assert_neq(glue_error_last()[0], '\0');
		}
		free(copy);
	}
	glue_mem_free(mem);
	buf_free(&b);
}

/*
 * Loading.
 */

static int load_mode(struct glue_mem *mem, struct glue_kernel *k, enum glue_boot_mode mode,
		     const char *cmdline, struct glue_boot_info *info)
{
	struct glue_boot_config cfg;

	glue_boot_config_init(&cfg);
	cfg.mode = mode;
	cfg.cmdline = cmdline;
	return glue_loader_load(mem, k, &cfg, info);
}

static void check_cmdline(struct glue_mem *mem, const char *want)
{
	char got[4096];
	size_t n = strlen(want) + 1;

	cr_assert_eq(glue_mem_read(mem, GLUE_BOOT_CMDLINE_GPA, got, n), 0);
	cr_assert_str_eq(got, want);
}

Test(loader, bzimage_mode_enters_at_load_plus_0x200)
{
	struct bz_opts o = {.init_size = 16 * MiB};
	struct buf b = make_bzimage(&o);
	struct glue_kernel *k = open_buf(&b);
	struct glue_mem *mem = x86_mem(128 * MiB);
	struct glue_boot_info info;
	uint8_t code[0x400];
	uint32_t v;

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_AUTO, "console=ttyS0", &info), 0, "%s",
		     glue_error_last());
	/* junk payload: AUTO falls back to the kernel's own decompressor */
	cr_assert_eq(info.mode_used, GLUE_BOOT_BZIMAGE);
	cr_assert_eq(info.protocol, GLUE_ENTRY_LINUX64);
	/* relocatable, pref_address 16 MiB fits: loaded there */
	cr_assert_eq(info.entry, 0x1000000 + 0x200);
	cr_assert_eq(info.kernel_start, 0x1000000);
	cr_assert_eq(info.kernel_end, 0x1000000 + 16 * MiB);
	cr_assert_eq(info.boot_params_gpa, GLUE_BOOT_ZERO_PAGE_GPA);
	cr_assert_eq(info.cmdline_gpa, GLUE_BOOT_CMDLINE_GPA);
	cr_assert_null(info.compression);
	cr_assert(strstr(info.description, "own decompressor"), "%s", info.description);
	cr_assert_eq(glue_mem_read(mem, 0x1000000, code, sizeof(code)), 0);
	cr_assert_arr_eq(code, b.p + 5 * 512, sizeof(code));
	check_cmdline(mem, "console=ttyS0");
	/* zero page: kernel's header copied, loader fields set */
	cr_assert_eq(glue_mem_read_u32(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x260, &v), 0);
	cr_assert_eq(v, 16 * MiB, "init_size");
	cr_assert_eq(glue_mem_read_u32(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x228, &v), 0);
	cr_assert_eq(v, GLUE_BOOT_CMDLINE_GPA);
	cr_assert_eq(glue_mem_read_u32(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x202, &v), 0);
	cr_assert_eq(v, GLUE_SETUP_MAGIC);
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&b);
}

Test(loader, non_relocatable_bzimage_loads_at_1m_and_runs_at_pref)
{
	struct bz_opts o = {.init_size = 12 * MiB, .not_relocatable = 1};
	struct buf b = make_bzimage(&o);
	struct glue_kernel *k = open_buf(&b);
	struct glue_mem *mem = x86_mem(32 * MiB);
	struct glue_boot_info info;

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_BZIMAGE, NULL, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.entry, 0x100200);
	/* [1 MiB, load + code) and [pref_address, + init_size) both belong to it */
	cr_assert_eq(info.kernel_start, 0x100000);
	cr_assert_eq(info.kernel_end, 0x1000000 + 12 * MiB);
	glue_mem_free(mem);
	mem = x86_mem(24 * MiB); /* RAM ends near 24.4 MiB, below 16 + 12 */
	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_BZIMAGE, NULL, &info), -ENOMEM);
	cr_assert(strstr(glue_error_last(), "init_size included"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&b);
}

Test(loader, bzimage_without_64bit_entry)
{
	struct bz_opts o = {.xloadflags = 0x2};
	struct buf b = make_bzimage(&o);
	struct glue_kernel *k = open_buf(&b);
	struct glue_mem *mem = x86_mem(128 * MiB);
	struct glue_boot_info info;

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_BZIMAGE, NULL, &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "no 64-bit entry"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&b);
}

static const char *const formats[] = {"none", "gzip", "bzip2", "lzma", "xz", "lz4", "zstd"};

static bool format_built(const char *f)
{
	if (!strcmp(f, "gzip"))
		return GLUE_HAVE_GZIP;
	if (!strcmp(f, "bzip2"))
		return GLUE_HAVE_BZIP2;
	if (!strcmp(f, "lzma") || !strcmp(f, "xz"))
		return GLUE_HAVE_XZ;
	if (!strcmp(f, "lz4"))
		return GLUE_HAVE_LZ4;
	if (!strcmp(f, "zstd"))
		return GLUE_HAVE_ZSTD;
	return true;
}

Test(loader, auto_unpacks_every_built_format)
{
	struct elf_opts eo = {
		.paddr = 0x1000000, .entry = 0x1000100, .code_size = 20000, .bss = 4096};
	struct buf elf = make_elf(&eo);
	struct glue_mem *mem = x86_mem(128 * MiB);

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct buf b;
		struct glue_kernel *k;
		struct glue_boot_info info;
		uint8_t *got = malloc(eo.code_size);

		if (!format_built(formats[i]))
			continue;
		b = make_bzimage_with_elf(formats[i], &eo, (struct bz_opts){0});
		k = open_buf(&b);
		cr_assert_str_eq(glue_kernel_compression(k), formats[i]);
		cr_assert_eq(load_mode(mem, k, GLUE_BOOT_AUTO, "quiet", &info), 0, "%s: %s",
			     formats[i], glue_error_last());
		cr_assert_eq(info.mode_used, GLUE_BOOT_UNPACK, "%s", formats[i]);
		cr_assert_eq(info.protocol, GLUE_ENTRY_LINUX64);
		cr_assert_eq(info.entry, 0x1000100);
		cr_assert_str_eq(info.compression, formats[i]);
		cr_assert(strstr(info.description, "unpacked"), "%s", info.description);
		cr_assert_eq(info.kernel_start, 0x1000000);
		/* init_size (8 MiB here) is reserved beyond the segments */
		cr_assert_eq(info.kernel_end, 0x1000000 + 8 * MiB);
		cr_assert_eq(glue_mem_read(mem, 0x1000000, got, eo.code_size), 0);
		cr_assert_arr_eq(got, elf.p + ELF_CODE_OFFSET, eo.code_size, "%s", formats[i]);
		free(got);
		glue_kernel_free(k);
		buf_free(&b);
	}
	glue_mem_free(mem);
	buf_free(&elf);
}

Test(loader, unpack_mode_needs_a_known_payload)
{
	struct bz_opts o = {0};
	struct buf b = make_bzimage(&o);
	struct glue_kernel *k = open_buf(&b);
	struct glue_mem *mem = x86_mem(128 * MiB);
	struct glue_boot_info info;

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_UNPACK, NULL, &info), -ENOTSUP);
	cr_assert(strstr(glue_error_last(), "not recognised"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&b);
}

Test(loader, corrupt_payload_fails_in_auto_mode)
{
	struct elf_opts eo = {0};
	struct buf b =
		make_bzimage_with_elf(GLUE_HAVE_GZIP ? "gzip" : "none", &eo, (struct bz_opts){0});
	struct glue_kernel *k;
	struct glue_mem *mem = x86_mem(128 * MiB);
	struct glue_boot_info info;

	if (!GLUE_HAVE_GZIP)
		cr_skip_test("no gzip in this build");
	/* damage the ELF header inside the gzip stream's first block */
	b.p[5 * 512 + BZ_PAYLOAD_PM_OFFSET + 20] ^= 0xff;
	k = open_buf(&b);
	cr_assert_lt(load_mode(mem, k, GLUE_BOOT_AUTO, NULL, &info), 0);
	cr_assert(strstr(glue_error_last(), "kernel 'test'"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&b);
}

Test(loader, pvh_through_unpacked_bzimage)
{
	struct elf_opts eo = {.pvh = 8, .pvh_entry = 0x1000800};
	struct buf b = make_bzimage_with_elf("none", &eo, (struct bz_opts){0});
	struct buf plain =
		make_bzimage_with_elf("none", &(struct elf_opts){0}, (struct bz_opts){0});
	struct glue_kernel *k = open_buf(&b), *k2 = open_buf(&plain);
	struct glue_mem *mem = x86_mem(128 * MiB);
	struct glue_boot_info info;
	uint32_t magic;

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_PVH, "x", &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.protocol, GLUE_ENTRY_PVH);
	cr_assert_eq(info.mode_used, GLUE_BOOT_PVH);
	cr_assert_eq(info.entry, 0x1000800);
	cr_assert_eq(info.boot_params_gpa, GLUE_BOOT_PVH_INFO_GPA);
	cr_assert_eq(glue_mem_read_u32(mem, GLUE_BOOT_PVH_INFO_GPA, &magic), 0);
	cr_assert_eq(magic, 0x336ec578);
	cr_assert_eq(load_mode(mem, k2, GLUE_BOOT_PVH, "x", &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "no Xen PVH entry note"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	glue_kernel_free(k2);
	buf_free(&b);
	buf_free(&plain);
}

Test(loader, elf_auto_picks_pvh_or_elf64)
{
	struct buf with = make_elf(&(struct elf_opts){.paddr = 0x100000, .pvh = 4});
	struct buf without = make_elf(&(struct elf_opts){.paddr = 0x100000});
	struct glue_kernel *kw = open_buf(&with), *kwo = open_buf(&without);
	struct glue_mem *mem = x86_mem(64 * MiB);
	struct glue_boot_info info;
	uint16_t flag;

	cr_assert_eq(load_mode(mem, kw, GLUE_BOOT_AUTO, NULL, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.mode_used, GLUE_BOOT_PVH);
	cr_assert_eq(info.entry, 0x100010);
	cr_assert_eq(load_mode(mem, kw, GLUE_BOOT_ELF64, NULL, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.mode_used, GLUE_BOOT_ELF64);
	cr_assert_eq(info.entry, 0x100000);
	cr_assert_eq(load_mode(mem, kwo, GLUE_BOOT_AUTO, NULL, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.mode_used, GLUE_BOOT_ELF64);
	cr_assert_eq(info.protocol, GLUE_ENTRY_LINUX64);
	cr_assert_str_eq(info.compression, "none");
	/* constructed setup header */
	cr_assert_eq(glue_mem_read_u16(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x1fe, &flag), 0);
	cr_assert_eq(flag, 0xAA55);
	cr_assert_eq(glue_mem_read_u16(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x206, &flag), 0);
	cr_assert_eq(flag, 0x020f);
	cr_assert_eq(load_mode(mem, kwo, GLUE_BOOT_PVH, NULL, &info), -EINVAL);
	cr_assert_eq(load_mode(mem, kwo, GLUE_BOOT_UNPACK, NULL, &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "needs a bzImage"), "%s", glue_error_last());
	cr_assert_eq(load_mode(mem, kwo, GLUE_BOOT_BZIMAGE, NULL, &info), -EINVAL);
	glue_mem_free(mem);
	glue_kernel_free(kw);
	glue_kernel_free(kwo);
	buf_free(&with);
	buf_free(&without);
}

Test(loader, elf_segments_on_both_sides_of_the_hole)
{
	struct buf b = make_elf(&(struct elf_opts){.paddr = 0x200000, .paddr2 = 0x100000000ULL});
	struct glue_kernel *k = open_buf(&b);
	struct glue_mem *mem = x86_mem(4 * GiB);
	struct glue_boot_info info;
	uint8_t got[64];

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_ELF64, NULL, &info), 0, "%s", glue_error_last());
	cr_assert_eq(glue_mem_read(mem, 0x100000000ULL, got, sizeof(got)), 0);
	cr_assert_arr_eq(got, b.p + ELF_CODE_OFFSET, sizeof(got));
	glue_mem_free(mem);
	/* with 1 GiB the second segment has no RAM */
	mem = x86_mem(1 * GiB);
	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_ELF64, NULL, &info), -ENOMEM);
	cr_assert(strstr(glue_error_last(), "needs guest RAM at 0x100000000-0x100001000"), "%s",
		  glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&b);
}

Test(loader, elf_over_the_boot_area_is_refused)
{
	/* 0x8000: boot parameters; 0x1000 and 0x400: below them, where the boot
	 * GDT (0x500) and nothing else of glue's lies. */
	const uint64_t at[] = {0x8000, 0x1000, 0x400, 0x1f000};

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct buf b = make_elf(&(struct elf_opts){.paddr = at[i]});
		struct glue_kernel *k = open_buf(&b);
		struct glue_mem *mem = x86_mem(64 * MiB);
		struct glue_boot_info info;

		cr_assert_eq(load_mode(mem, k, GLUE_BOOT_ELF64, NULL, &info), -EINVAL,
			     "ELF at 0x%" PRIx64 " accepted", at[i]);
		cr_assert(strstr(glue_error_last(), "overlaps glue's boot area at 0x0-0x"), "%s",
			  glue_error_last());
		glue_mem_free(mem);
		glue_kernel_free(k);
		buf_free(&b);
	}
}

Test(loader, elf32_boots_through_pvh_only)
{
	struct buf pvh = make_elf32(0x1000000, 0x1000010, 0x80);
	struct buf nopvh = make_elf32(0x1000000, 0, 0x80);
	struct glue_kernel *k = open_buf(&pvh), *kn = open_buf(&nopvh);
	struct glue_mem *mem = x86_mem(64 * MiB);
	struct glue_boot_info info;

	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_AUTO, NULL, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.protocol, GLUE_ENTRY_PVH);
	cr_assert_eq(info.entry, 0x1000010);
	cr_assert_eq(info.mode_used, GLUE_BOOT_PVH);
	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_ELF64, NULL, &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "32-bit ELF kernel boots only through its Xen PVH"),
		  "%s", glue_error_last());
	cr_assert_eq(load_mode(mem, kn, GLUE_BOOT_AUTO, NULL, &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "32-bit ELF kernel boots only through its Xen PVH"),
		  "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	glue_kernel_free(kn);
	buf_free(&pvh);
	buf_free(&nopvh);
}

Test(loader, cmdline_limit_names_both_lengths)
{
	struct buf bz = make_bzimage(&(struct bz_opts){.cmdline_size = 100});
	struct buf elf = make_elf(&(struct elf_opts){0});
	struct glue_kernel *kb = open_buf(&bz), *ke = open_buf(&elf);
	struct glue_mem *mem = x86_mem(128 * MiB);
	struct glue_boot_info info;
	char line[3000];

	memset(line, 'a', sizeof(line));
	line[100] = '\0';
	cr_assert_eq(load_mode(mem, kb, GLUE_BOOT_BZIMAGE, line, &info), 0, "%s",
		     glue_error_last());
	check_cmdline(mem, line);
	line[100] = 'a';
	line[101] = '\0';
	cr_assert_eq(load_mode(mem, kb, GLUE_BOOT_BZIMAGE, line, &info), -EINVAL);
	cr_assert_str_eq(glue_error_last(), "command line is 101 bytes, kernel 'test' accepts at "
					    "most 100");
	memset(line, 'b', sizeof(line));
	line[2047] = '\0';
	cr_assert_eq(load_mode(mem, ke, GLUE_BOOT_ELF64, line, &info), 0, "%s", glue_error_last());
	line[2047] = 'b';
	line[2048] = '\0';
	cr_assert_eq(load_mode(mem, ke, GLUE_BOOT_ELF64, line, &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "2048 bytes"), "%s", glue_error_last());
	cr_assert(strstr(glue_error_last(), "at most 2047"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(kb);
	glue_kernel_free(ke);
	buf_free(&bz);
	buf_free(&elf);
}

/* The first bytes of each compressed format, in the order of formats[1...]. */
static const struct {
	uint8_t len;
	uint8_t bytes[6];
} magics[] = {
	{2, {0x1f, 0x8b}},
	{3, {'B', 'Z', 'h'}},
	{3, {0x5d, 0x00, 0x00}},
	{6, {0xfd, '7', 'z', 'X', 'Z'}},
	{4, {0x02, 0x21, 0x4c, 0x18}},
	{4, {0x28, 0xb5, 0x2f, 0xfd}},
};

/* glue_loader_check() gives what glue_loader_load() would, without loading. */
Test(loader, check_agrees_with_load, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	struct elf_opts eo = {.paddr = 0x1000000, .entry = 0x1000100, .code_size = 4096};
	struct elf_opts pvh = {.paddr = 0x1000000, .pvh = 8, .pvh_entry = 0x1000800};
	struct buf bufs[16];
	size_t n = 0;
	struct glue_mem *mem = x86_mem(128 * MiB);
	char initrd[PATH_MAX], longline[3000];
	const char *cmdlines[] = {NULL, "console=ttyS0", longline};
	const char *initrds[] = {NULL, initrd, "/nonexistent/initrd"};

	bufs[n++] = make_bzimage(&(struct bz_opts){0});			/* unknown payload */
	bufs[n++] = make_bzimage(&(struct bz_opts){.xloadflags = 0x2}); /* no 64-bit entry */
	bufs[n++] = make_elf(&eo);
	bufs[n++] = make_elf(&pvh);
	bufs[n++] = make_elf32(0x1000000, 0x1000010, 0x80);
	bufs[n++] = make_elf32(0x1000000, 0, 0x80);
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (format_built(formats[i]))
			bufs[n++] = make_bzimage_with_elf(formats[i], i % 2 ? &eo : &pvh,
							  (struct bz_opts){0});
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	snprintf(initrd, sizeof(initrd), "%s", write_tmp("initrd", "initrd", 6));

	for (size_t i = 0; i < n; i++) {
		struct glue_kernel *k = open_buf(&bufs[i]);

		for (int mode = GLUE_BOOT_AUTO; mode <= GLUE_BOOT_ELF64; mode++) {
			for (size_t c = 0; c < 3; c++) {
				for (size_t d = 0; d < 3; d++) {
					struct glue_boot_config cfg;
					struct glue_boot_info info;
					char msg[512];
					int want, got;

					glue_boot_config_init(&cfg);
					cfg.mode = mode;
					cfg.cmdline = cmdlines[c];
					cfg.initrd_path = initrds[d];
					got = glue_loader_check(k, &cfg);
					snprintf(msg, sizeof(msg), "%s", glue_error_last());
					want = glue_loader_load(mem, k, &cfg, &info);
					/* what is inside a payload shows only once unpacked */
					if (want < 0 && strstr(glue_error_last(), "(unpacked "))
						continue;
					cr_assert_eq(got, want,
						     "kernel %zu mode %s cmdline %zu initrd %zu: "
						     "check %d (%s), load %d (%s)",
						     i, glue_boot_mode_name(mode), c, d, got, msg,
						     want, glue_error_last());
					if (got < 0)
						cr_assert_str_eq(msg, glue_error_last());
				}
			}
		}
		glue_kernel_free(k);
	}
	/* and a payload this build cannot unpack is refused by name (a payload
	 * is recognised by its first bytes; the rest is not read to check) */
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		uint8_t payload[64] = {0};
		struct buf b;
		struct glue_kernel *k;
		struct glue_boot_config cfg;
		char want[128];

		memcpy(payload, magics[i].bytes, magics[i].len);
		b = make_bzimage(
			&(struct bz_opts){.payload = payload, .payload_len = sizeof(payload)});
		k = open_buf(&b);
		cr_assert_str_eq(glue_kernel_compression(k), formats[i + 1]);

		glue_boot_config_init(&cfg);
		cfg.mode = GLUE_BOOT_UNPACK;
		if (format_built(formats[i + 1])) {
			cr_assert_eq(glue_loader_check(k, &cfg), 0, "%s", glue_error_last());
		} else {
			cr_assert_eq(glue_loader_check(k, &cfg), -ENOTSUP);
			snprintf(want, sizeof(want), "built without %s support", formats[i + 1]);
			cr_assert(strstr(glue_error_last(), want), "%s", glue_error_last());
			cfg.mode = GLUE_BOOT_AUTO;
			cr_assert_eq(glue_loader_check(k, &cfg), 0, "%s", glue_error_last());
		}
		glue_kernel_free(k);
		buf_free(&b);
	}
	for (size_t i = 0; i < n; i++)
		buf_free(&bufs[i]);
	glue_mem_free(mem);
}

/*
 * Initrd placement.
 */

Test(initrd, placed_high_below_the_limit)
{
	struct glue_mem *mem = x86_mem(128 * MiB);
	uint64_t gpa, end = glue_mem_end(mem);

	cr_assert_eq(glue_loader_place_initrd(mem, 10000, 0x7fffffff, 0x1000000, 0x2000000, &gpa),
		     0);
	cr_assert_eq(gpa, (end - 10000) & ~4095ULL);
	cr_assert_leq(gpa + 10000, end);
	/* initrd_addr_max is the last usable byte */
	cr_assert_eq(glue_loader_place_initrd(mem, 4096, 64 * MiB - 1, 0x1000000, 0x2000000, &gpa),
		     0);
	cr_assert_eq(gpa, 64 * MiB - 4096);
	glue_mem_free(mem);
}

Test(initrd, goes_below_a_kernel_in_the_way)
{
	struct glue_mem *mem = x86_mem(128 * MiB);
	uint64_t gpa, end = glue_mem_end(mem);

	/* kernel occupies the top 100 MiB: initrd lands just below it */
	cr_assert_eq(glue_loader_place_initrd(mem, 5 * MiB, 0xffffffff, end - 100 * MiB, end, &gpa),
		     0, "%s", glue_error_last());
	cr_assert_eq(gpa, (end - 100 * MiB - 5 * MiB) & ~4095ULL);
	cr_assert_geq(gpa, 1 * MiB);
	/* no room either side */
	cr_assert_eq(
		glue_loader_place_initrd(mem, 30 * MiB, 0xffffffff, end - 100 * MiB, end, &gpa),
		-ENOMEM);
	cr_assert(strstr(glue_error_last(), "does not fit"), "%s", glue_error_last());
	glue_mem_free(mem);
}

Test(initrd, stays_below_4g_with_high_ram)
{
	struct glue_mem *mem = x86_mem(5 * GiB);
	uint64_t gpa;

	cr_assert_eq(glue_loader_place_initrd(mem, 1 * MiB, 0xffffffff, 0x1000000, 0x2000000, &gpa),
		     0);
	cr_assert_eq(gpa, GLUE_X86_MMIO_HOLE_START - MiB);
	cr_assert_eq(glue_loader_place_initrd(mem, 1 * MiB, 0x7fffffff, 0x1000000, 0x2000000, &gpa),
		     0);
	cr_assert_eq(gpa, 0x80000000 - MiB);
	glue_mem_free(mem);
}

Test(initrd, loaded_from_file_and_buffer, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	struct buf bz = make_bzimage(&(struct bz_opts){.initrd_addr_max = 0x37ffffff});
	struct glue_kernel *k = open_buf(&bz);
	struct glue_mem *mem = x86_mem(2 * GiB);
	struct glue_boot_config cfg;
	struct glue_boot_info info;
	uint8_t data[20000], got[20000];
	uint32_t v;

	fill_pattern(data, sizeof(data), 9);
	glue_boot_config_init(&cfg);
	cfg.initrd_path = write_tmp("initrd", data, sizeof(data));
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.initrd_size, sizeof(data));
	cr_assert_eq(info.initrd_gpa, (0x38000000 - sizeof(data)) & ~4095ULL);
	cr_assert_eq(glue_mem_read(mem, info.initrd_gpa, got, sizeof(got)), 0);
	cr_assert_arr_eq(got, data, sizeof(data));
	cr_assert_eq(glue_mem_read_u32(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x218, &v), 0);
	cr_assert_eq(v, info.initrd_gpa);
	cr_assert_eq(glue_mem_read_u32(mem, GLUE_BOOT_ZERO_PAGE_GPA + 0x21c, &v), 0);
	cr_assert_eq(v, sizeof(data));

	cfg.initrd_path = NULL;
	cfg.initrd_data = data;
	cfg.initrd_size = 5000;
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.initrd_size, 5000);
	cr_assert_eq(glue_mem_read(mem, info.initrd_gpa, got, 5000), 0);
	cr_assert_arr_eq(got, data, 5000);

	cfg.initrd_path = "/nonexistent/initrd";
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), -ENOENT);
	cr_assert_str_eq(glue_error_last(),
			 "cannot open initrd '/nonexistent/initrd': No such file or directory");
	cfg.initrd_path = write_tmp("empty", "", 0);
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), -EINVAL);
	cr_assert(strstr(glue_error_last(), "empty"), "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&bz);
}

Test(initrd, pvh_module_and_too_big)
{
	struct buf elf = make_elf(&(struct elf_opts){.pvh = 4});
	struct glue_kernel *k = open_buf(&elf);
	struct glue_mem *mem = x86_mem(64 * MiB);
	struct glue_boot_config cfg;
	struct glue_boot_info info;
	static uint8_t big[80 << 20];
	uint64_t paddr;

	glue_boot_config_init(&cfg);
	cfg.initrd_data = big;
	cfg.initrd_size = 1 * MiB;
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.protocol, GLUE_ENTRY_PVH);
	cr_assert_eq(glue_mem_read_u64(mem, GLUE_BOOT_PVH_MODLIST_GPA, &paddr), 0);
	cr_assert_eq(paddr, info.initrd_gpa);
	cr_assert_geq(info.initrd_gpa, info.kernel_end);
	cfg.initrd_size = sizeof(big);
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), -ENOMEM);
	cr_assert(strstr(glue_error_last(), "initrd '<buffer>': initrd of 83886080 bytes does "
					    "not fit"),
		  "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&elf);
}

/*
 * Modes and config.
 */

Test(loader, mode_names_round_trip)
{
	for (int m = GLUE_BOOT_AUTO; m <= GLUE_BOOT_ELF64; m++) {
		enum glue_boot_mode got;

		cr_assert_eq(glue_boot_mode_parse(glue_boot_mode_name(m), &got), 0);
		cr_assert_eq(got, m);
	}
	cr_assert_null(glue_boot_mode_name((enum glue_boot_mode)99));
	cr_assert_eq(glue_boot_mode_parse("bios", &(enum glue_boot_mode){0}), -EINVAL);
	cr_assert(strstr(glue_error_last(), "unknown boot mode 'bios'"), "%s", glue_error_last());
	/* machine.h carries the same enum */
	cr_assert_eq((int)((struct glue_machine_config){.boot = GLUE_BOOT_PVH}).boot,
		     GLUE_BOOT_PVH);
}

Test(loader, config_size_gates_new_fields)
{
	struct buf elf = make_elf(&(struct elf_opts){0});
	struct glue_kernel *k = open_buf(&elf);
	struct glue_mem *mem = x86_mem(64 * MiB);
	struct glue_boot_config cfg;
	struct glue_boot_info info;
	uint8_t data[100] = {0};

	glue_boot_config_init(&cfg);
	cfg.initrd_data = data;
	cfg.initrd_size = sizeof(data);
	/* an old caller's struct ends before initrd_data: it is not read */
	cfg.size = offsetof(struct glue_boot_config, initrd_data);
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), 0, "%s", glue_error_last());
	cr_assert_eq(info.initrd_size, 0);
	cfg.size = 4;
	cr_assert_eq(glue_loader_load(mem, k, &cfg, &info), -EINVAL);
	cr_assert_eq(glue_loader_load(mem, k, NULL, &info), 0, "%s", glue_error_last());
	glue_mem_free(mem);
	glue_kernel_free(k);
	buf_free(&elf);
}

/*
 * Debian's stock kernel: $GLUE_TEST_VMLINUZ names it (scripts/test.sh sets
 * it to the one it fetched, `python3 testhost/images.py kernel`).
 */

static const char *find_vmlinuz(void)
{
	const char *path = getenv("GLUE_TEST_VMLINUZ");

	return path && *path && access(path, R_OK) == 0 ? path : NULL;
}

Test(debian, stock_kernel_unpacks_and_parses, .timeout = 60)
{
	const char *path = find_vmlinuz();
	struct glue_kernel *k;
	struct glue_mem *mem;
	struct glue_boot_info info;
	uint8_t *elf;
	size_t len;
	struct glue_elf e;

	if (!path)
		cr_skip_test("no Debian vmlinuz: set GLUE_TEST_VMLINUZ (scripts/test.sh does)");
	cr_assert_eq(glue_kernel_open(&k, path), 0, "%s", glue_error_last());
	cr_assert_eq(glue_kernel_format(k), GLUE_KERNEL_BZIMAGE);
	cr_assert_geq(glue_kernel_protocol(k), 0x020c);
	cr_assert_not_null(glue_kernel_version(k));
	cr_assert_not_null(glue_kernel_compression(k));
	if (!glue_kernel_can_unpack(k)) {
		glue_kernel_free(k);
		cr_skip_test("this build cannot unpack %s", glue_kernel_compression(k));
	}
	/* the payload decompresses fully to the size Linux recorded, and is an ELF */
	cr_assert_eq(glue_decompress(k->bz.comp, k->data + k->bz.payload_offset, k->bz.payload_size,
				     GLUE_UNPACK_MAX, &elf, &len),
		     0, "%s", glue_error_last());
	{
		uint32_t claimed;

		memcpy(&claimed, k->data + k->bz.payload_offset + k->bz.payload_size - 4, 4);
		cr_assert_eq(len, claimed);
	}
	cr_assert_eq(glue_elf_parse(&e, elf, len, "vmlinux"), 0, "%s", glue_error_last());
	cr_assert(e.has_pvh, "Debian's kernels have CONFIG_PVH");
	cr_assert_eq(e.start, k->bz.pref_address);
	free(elf);

	mem = x86_mem(512 * MiB);
	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_AUTO, "console=ttyS0", &info), 0, "%s",
		     glue_error_last());
	cr_assert_eq(info.mode_used, GLUE_BOOT_UNPACK);
	cr_assert_eq(info.entry, e.entry);
	cr_assert_eq(info.kernel_start, k->bz.pref_address);
	cr_assert_geq(info.kernel_end, k->bz.pref_address + k->bz.init_size);
	cr_log_info("%s", info.description);
	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_PVH, "console=ttyS0", &info), 0, "%s",
		     glue_error_last());
	cr_assert_eq(info.entry, e.pvh_entry);
	cr_assert_eq(load_mode(mem, k, GLUE_BOOT_BZIMAGE, "console=ttyS0", &info), 0, "%s",
		     glue_error_last());
	cr_assert_eq(info.entry, k->bz.pref_address + 0x200);
	glue_mem_free(mem);
	glue_kernel_free(k);
}

/*
 * The project's test guest images (tests/guest), when built.
 */

static int load_guest(struct glue_mem *mem, const char *dir, const char *name,
		      enum glue_boot_mode mode, struct glue_kernel **k, struct glue_boot_info *info)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, R_OK) != 0)
		return 1;
	cr_assert_eq(glue_kernel_open(k, path), 0, "%s", glue_error_last());
	return load_mode(mem, *k, mode, "console=ttyS0", info);
}

Test(guest_images, every_image_loads_with_the_right_entry)
{
	static const char *const comps[] = {"gzip", "bzip2", "lzma", "xz", "lz4", "zstd"};
	const char *dir = getenv("GLUE_TEST_GUEST_DIR");
	struct glue_mem *mem;
	struct glue_kernel *k = NULL;
	struct glue_boot_info info;
	int seen = 0, r;

	if (!dir || access(dir, R_OK) != 0)
		cr_skip_test("GLUE_TEST_GUEST_DIR not set or missing");
	mem = x86_mem(64 * MiB);
	r = load_guest(mem, dir, "glue-test-guest.elf", GLUE_BOOT_AUTO, &k, &info);
	if (r != 1) {
		cr_assert_eq(r, 0, "%s", glue_error_last());
		cr_assert_eq(info.mode_used, GLUE_BOOT_PVH);
		glue_kernel_free(k);
		seen++;
	}
	for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "glue-test-guest-%s.bzImage", comps[i]);
		r = load_guest(mem, dir, name, GLUE_BOOT_AUTO, &k, &info);
		if (r == 1)
			continue;
		cr_assert_eq(r, 0, "%s: %s", name, glue_error_last());
		cr_assert_str_eq(glue_kernel_compression(k), comps[i]);
		cr_assert_eq(info.mode_used,
			     format_built(comps[i]) ? GLUE_BOOT_UNPACK : GLUE_BOOT_BZIMAGE, "%s",
			     name);
		/* the guest's 64-bit entry is load address + 0x200 either way */
		cr_assert_eq(info.entry, 0x100200, "%s", name);
		glue_kernel_free(k);
		seen++;
	}
	r = load_guest(mem, dir, "glue-test-guest-nopayload.bzImage", GLUE_BOOT_AUTO, &k, &info);
	if (r != 1) {
		cr_assert_eq(r, 0, "%s", glue_error_last());
		cr_assert_null(glue_kernel_compression(k));
		cr_assert_eq(info.mode_used, GLUE_BOOT_BZIMAGE);
		cr_assert_eq(info.entry, 0x100200);
		glue_kernel_free(k);
		seen++;
	}
	glue_mem_free(mem);
	if (!seen)
		cr_skip_test("no guest images in %s", dir);
}
