/* SPDX-License-Identifier: MIT */
/*
 * Synthetic kernels for the loader tests: tiny ELF64 and ELF32 images, bzImages
 * around a payload, and payloads compressed the way Linux does (the format's
 * stream followed by the uncompressed size as a 32-bit LE word).
 */
#ifndef GLUE_TEST_LOADER_FIXTURES_H
#define GLUE_TEST_LOADER_FIXTURES_H

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <glue/config.h>

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
#endif
#if GLUE_HAVE_BZIP2
#include <bzlib.h>
#endif

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static inline void buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	b->cap = (b->len + n) * 2;
	b->p = realloc(b->p, b->cap);
	cr_assert(b->p);
}

static inline void buf_put(struct buf *b, const void *d, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static inline void buf_zero_to(struct buf *b, size_t len)
{
	if (len <= b->len)
		return;
	buf_reserve(b, len - b->len);
	memset(b->p + b->len, 0, len - b->len);
	b->len = len;
}

static inline void buf_le32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {v, v >> 8, v >> 16, v >> 24};

	buf_put(b, x, 4);
}

static inline void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Recognisable, moderately compressible content. */
static inline void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (i % 64 < 48) ? (uint8_t)(i / 64) : (uint8_t)(seed >> 24);
	}
}

struct elf_opts {
	uint64_t paddr;	    /* PT_LOAD p_paddr; default 0x1000000 */
	uint64_t vaddr;	    /* p_vaddr; 0 = paddr */
	uint64_t entry;	    /* e_entry; 0 = paddr (or vaddr when set) */
	size_t code_size;   /* p_filesz; default 4096 */
	size_t bss;	    /* p_memsz - p_filesz */
	int pvh;	    /* 0: no note; 4 or 8: PHYS32_ENTRY note with that desc size */
	uint64_t pvh_entry; /* default paddr + 0x10 */
	uint64_t paddr2;    /* nonzero: a second PT_LOAD of the same bytes there */
};

#define ELF_CODE_OFFSET 0x200

/* An ELF64 x86-64 executable with one PT_LOAD (and a PT_NOTE if pvh). */
/* An ELF32 i386 executable as `ld -m elf_i386` makes a PVH kernel: one
 * PT_LOAD of code at paddr and, if pvh_entry, a PT_NOTE with Xen's
 * PHYS32_ENTRY (a 4-byte value). */
static inline struct buf make_elf32(uint32_t paddr, uint32_t pvh_entry, uint32_t code_size)
{
	size_t note_off = sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr), code_off = 0x100;
	struct buf b = {.len = code_off + code_size};
	Elf32_Ehdr *eh;
	Elf32_Phdr *ph;

	b.p = calloc(1, b.len);
	eh = (Elf32_Ehdr *)b.p;
	ph = (Elf32_Phdr *)(b.p + sizeof(*eh));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_386;
	eh->e_version = EV_CURRENT;
	eh->e_entry = paddr;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = pvh_entry ? 2 : 1;
	ph[0] = (Elf32_Phdr){.p_type = PT_LOAD,
			     .p_offset = code_off,
			     .p_vaddr = paddr,
			     .p_paddr = paddr,
			     .p_filesz = code_size,
			     .p_memsz = code_size + 0x1000,
			     .p_flags = PF_R | PF_X,
			     .p_align = 0x1000};
	if (pvh_entry) {
		uint32_t note[3 + 1 + 1] = {4, 4, 18, 0, pvh_entry};

		memcpy(&note[3], "Xen", 4);
		memcpy(b.p + note_off, note, sizeof(note));
		ph[1] = (Elf32_Phdr){.p_type = PT_NOTE,
				     .p_offset = note_off,
				     .p_filesz = sizeof(note),
				     .p_align = 4};
	}
	for (uint32_t i = 0; i < code_size; i++)
		b.p[code_off + i] = (uint8_t)(i * 7 + 1);
	return b;
}

static inline struct buf make_elf(const struct elf_opts *o)
{
	struct buf b = {0};
	uint64_t paddr = o->paddr ? o->paddr : 0x1000000;
	uint64_t vaddr = o->vaddr ? o->vaddr : paddr;
	size_t code = o->code_size ? o->code_size : 4096;
	Elf64_Ehdr eh = {0};
	Elf64_Phdr load = {0}, note = {0};
	uint8_t nb[32] = {0};
	size_t nlen = 0;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = o->entry ? o->entry : vaddr;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 1 + (o->pvh ? 1 : 0) + (o->paddr2 ? 1 : 0);

	load.p_type = PT_LOAD;
	load.p_flags = PF_R | PF_X;
	load.p_offset = ELF_CODE_OFFSET;
	load.p_vaddr = vaddr;
	load.p_paddr = paddr;
	load.p_filesz = code;
	load.p_memsz = code + o->bss;
	load.p_align = 0x200;

	if (o->pvh) {
		size_t dsz = o->pvh == 8 ? 8 : 4;
		uint32_t hdr[3] = {4, (uint32_t)dsz, 18};
		uint64_t e = o->pvh_entry ? o->pvh_entry : paddr + 0x10;

		memcpy(nb, hdr, sizeof(hdr));
		memcpy(nb + 12, "Xen", 4);
		memcpy(nb + 16, &e, dsz);
		nlen = 16 + dsz;
		note.p_type = PT_NOTE;
		note.p_offset = sizeof(eh) + eh.e_phnum * sizeof(Elf64_Phdr);
		note.p_filesz = nlen;
		note.p_align = 4;
	}
	buf_put(&b, &eh, sizeof(eh));
	buf_put(&b, &load, sizeof(load));
	if (o->paddr2) {
		Elf64_Phdr load2 = load;

		load2.p_paddr = load2.p_vaddr = o->paddr2;
		buf_put(&b, &load2, sizeof(load2));
	}
	if (o->pvh) {
		buf_put(&b, &note, sizeof(note));
		buf_put(&b, nb, nlen);
	}
	buf_zero_to(&b, ELF_CODE_OFFSET);
	buf_reserve(&b, code);
	fill_pattern(b.p + b.len, code, 7);
	b.len += code;
	return b;
}

/* Compress data as Linux's build does for format fmt ("gzip", "lz4"...),
 * the uncompressed size appended. */
static inline struct buf compress_payload(const char *fmt, const void *data, size_t n)
{
	struct buf b = {0};

	if (strcmp(fmt, "none") == 0) {
		buf_put(&b, data, n);
#if GLUE_HAVE_GZIP
	} else if (strcmp(fmt, "gzip") == 0) {
		z_stream z = {0};

		cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			     Z_OK);
		buf_reserve(&b, deflateBound(&z, n));
		z.next_in = (Bytef *)data;
		z.avail_in = n;
		z.next_out = b.p;
		z.avail_out = b.cap;
		cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
		b.len = z.total_out;
		deflateEnd(&z);
		return b; /* gzip's own trailer ends in the size */
#endif
#if GLUE_HAVE_BZIP2
	} else if (strcmp(fmt, "bzip2") == 0) {
		unsigned int olen = n + n / 100 + 600;

		buf_reserve(&b, olen);
		cr_assert_eq(BZ2_bzBuffToBuffCompress((char *)b.p, &olen, (char *)data, n, 9, 0, 0),
			     BZ_OK);
		b.len = olen;
#endif
#if GLUE_HAVE_XZ
	} else if (strcmp(fmt, "xz") == 0 || strcmp(fmt, "lzma") == 0) {
		lzma_stream z = LZMA_STREAM_INIT;
		lzma_options_lzma opt;

		cr_assert_eq(lzma_lzma_preset(&opt, 6), 0);
		if (fmt[0] == 'x')
			cr_assert_eq(lzma_easy_encoder(&z, 6, LZMA_CHECK_CRC32), LZMA_OK);
		else
			cr_assert_eq(lzma_alone_encoder(&z, &opt), LZMA_OK);
		buf_reserve(&b, n + n / 2 + 4096);
		z.next_in = data;
		z.avail_in = n;
		z.next_out = b.p;
		z.avail_out = b.cap;
		cr_assert_eq(lzma_code(&z, LZMA_FINISH), LZMA_STREAM_END);
		b.len = z.total_out;
		lzma_end(&z);
#endif
#if GLUE_HAVE_LZ4
	} else if (strcmp(fmt, "lz4") == 0) {
		const size_t block = 8u << 20;

		buf_le32(&b, 0x184C2102);
		for (size_t off = 0; off < n; off += block) {
			int in = (int)(n - off < block ? n - off : block);
			int bound = LZ4_compressBound(in), got;

			buf_reserve(&b, 4 + (size_t)bound);
			got = LZ4_compress_default((const char *)data + off,
						   (char *)b.p + b.len + 4, in, bound);
			cr_assert_gt(got, 0);
			buf_le32(&b, (uint32_t)got);
			b.len += (size_t)got;
		}
#endif
#if GLUE_HAVE_ZSTD
	} else if (strcmp(fmt, "zstd") == 0) {
		size_t bound = ZSTD_compressBound(n), got;

		buf_reserve(&b, bound);
		got = ZSTD_compress(b.p, bound, data, n, 19);
		cr_assert(!ZSTD_isError(got));
		b.len = got;
#endif
	} else {
		cr_assert_fail("no compressor for %s in this build", fmt);
	}
	buf_le32(&b, (uint32_t)n);
	return b;
}

struct bz_opts {
	int setup_sects;     /* default 4 (written as given, 0 allowed via -1) */
	uint16_t version;    /* default 0x020f */
	uint16_t xloadflags; /* default XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	int not_relocatable;
	uint32_t kernel_alignment; /* default 2 MiB */
	uint64_t pref_address;	   /* default 0x1000000 */
	uint32_t init_size;	   /* default 8 MiB */
	uint32_t cmdline_size;	   /* default 2047 */
	uint32_t initrd_addr_max;  /* default 0x7fffffff */
	const void *payload;	   /* NULL: 256 bytes of junk */
	size_t payload_len;
};

#define BZ_PAYLOAD_PM_OFFSET 0x400
#define BZ_VERSION_STRING "6.1.0-glue-test (glue@test) #1 SMP"

/* A bzImage: boot sector and setup header, a stub, and the payload at
 * BZ_PAYLOAD_PM_OFFSET in the protected-mode code. */
static inline struct buf make_bzimage(const struct bz_opts *o)
{
	struct buf b = {0};
	int sects = o->setup_sects == -1 ? 0 : (o->setup_sects ? o->setup_sects : 4);
	size_t setup = (size_t)((sects ? sects : 4) + 1) * 512, pm;
	uint8_t junk[256];
	const void *pl = o->payload;
	size_t pl_len = o->payload_len;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	if (!pl) {
		memset(junk, 0xa5, sizeof(junk));
		pl = junk;
		pl_len = sizeof(junk);
	}
	buf_zero_to(&b, setup);
	memcpy(b.p, "MZ", 2); /* EFI stub kernels start like a PE file */
	memcpy(b.p + 0x300, BZ_VERSION_STRING, sizeof(BZ_VERSION_STRING));
	b.p[0x1f1] = (uint8_t)sects;
#define PUT(off, v, var) (var = (v), memcpy(b.p + (off), &var, sizeof(var)))
	PUT(0x1fe, 0xAA55, u16);
	b.p[0x200] = 0xeb; /* jmp: header ends at 0x202 + 0x6a = 0x26c */
	b.p[0x201] = 0x6a;
	memcpy(b.p + 0x202, "HdrS", 4);
	PUT(0x206, o->version ? o->version : 0x020f, u16);
	PUT(0x20e, 0x300 - 0x200, u16);
	b.p[0x211] = 0x01; /* LOADED_HIGH */
	PUT(0x214, 0x100000, u32);
	PUT(0x22c, o->initrd_addr_max ? o->initrd_addr_max : 0x7fffffff, u32);
	PUT(0x230, o->kernel_alignment ? o->kernel_alignment : 0x200000, u32);
	b.p[0x234] = o->not_relocatable ? 0 : 1;
	b.p[0x235] = 21;
	PUT(0x236, o->xloadflags ? o->xloadflags : 0x3, u16);
	PUT(0x238, o->cmdline_size ? o->cmdline_size : 2047, u32);
	PUT(0x248, BZ_PAYLOAD_PM_OFFSET, u32);
	PUT(0x24c, (uint32_t)pl_len, u32);
	PUT(0x258, o->pref_address ? o->pref_address : 0x1000000, u64);
	PUT(0x260, o->init_size ? o->init_size : 8u << 20, u32);
	/* protected-mode code: a stub, the payload, padding to 16 bytes */
	buf_reserve(&b, BZ_PAYLOAD_PM_OFFSET);
	memset(b.p + b.len, 0x90, BZ_PAYLOAD_PM_OFFSET);
	b.len += BZ_PAYLOAD_PM_OFFSET;
	buf_put(&b, pl, pl_len);
	buf_zero_to(&b, (b.len + 15) & ~(size_t)15);
	pm = b.len - setup;
	PUT(0x1f4, (uint32_t)(pm / 16), u32);
#undef PUT
	return b;
}

/* A bzImage whose fmt payload holds an ELF built from eo. */
static inline struct buf make_bzimage_with_elf(const char *fmt, const struct elf_opts *eo,
					       struct bz_opts bo)
{
	struct buf elf = make_elf(eo);
	struct buf pl = compress_payload(fmt, elf.p, elf.len);
	struct buf b;

	bo.payload = pl.p;
	bo.payload_len = pl.len;
	b = make_bzimage(&bo);
	buf_free(&pl);
	buf_free(&elf);
	return b;
}

#endif
