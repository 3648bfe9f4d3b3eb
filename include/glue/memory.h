/* SPDX-License-Identifier: MIT */
/*
 * Guest memory: regions of guest-physical address space backed by host
 * memory, and bounds-checked accessors.
 *
 * All guest memory of one glue_mem is carved from a single memfd, so another
 * process (a vhost-user backend, a migration helper) can map it later.
 * Every access on behalf of the guest must go through glue_mem_ptr() or the
 * read/write helpers: they fail with -EFAULT instead of overrunning when an
 * address or length is out of range, so guest-controlled values can be
 * passed straight in.
 *
 * Thread-safety: regions are added during setup; after that, translation and
 * the accessors may be called from any number of threads at once.
 */
#ifndef GLUE_MEMORY_H
#define GLUE_MEMORY_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_mem;

enum glue_mem_type {
	GLUE_MEM_RAM = 1,      /* usable RAM, reported to the guest as such */
	GLUE_MEM_RESERVED = 2, /* backed, but reserved (firmware tables, BIOS area) */
};

struct glue_mem_region {
	uint64_t gpa;	    /* guest-physical start */
	uint64_t size;	    /* bytes */
	void *host;	    /* host virtual address of gpa */
	int fd;		    /* memfd backing the region */
	uint64_t fd_offset; /* offset of the region in fd */
	enum glue_mem_type type;
};

/* x86 PC layout: RAM below the 32-bit MMIO hole, the rest above 4 GiB. */
#define GLUE_X86_MMIO_HOLE_START 0xC0000000ULL /* 3 GiB */
#define GLUE_X86_MMIO_HOLE_END 0x100000000ULL  /* 4 GiB */
#define GLUE_X86_LEGACY_HOLE_START 0xA0000ULL  /* end of base memory (640 KiB) */
#define GLUE_X86_BIOS_START 0xC0000ULL	       /* option ROM / BIOS area, reserved */
#define GLUE_X86_HIGH_RAM_START 0x100000ULL    /* 1 MiB */

/* An empty address space. */
GLUE_API int glue_mem_new(struct glue_mem **out);

/*
 * The standard x86 PC layout holding exactly ram_bytes of RAM:
 *   [0, 640K) RAM, [768K, 1M) reserved (BIOS area, for firmware tables),
 *   [1M, 3G) RAM, [4G, ...) RAM for what does not fit below the hole.
 * The RAM regions sum to exactly ram_bytes. ram_bytes must be a multiple of
 * 4 KiB and at least 2 MiB.
 */
GLUE_API int glue_mem_new_x86(struct glue_mem **out, uint64_t ram_bytes);

GLUE_API void glue_mem_free(struct glue_mem *mem);

/* Add a zero-filled region; fails with -EEXIST on overlap, -EINVAL on a size
 * or address that is not page aligned, -ENOMEM when the backing memfd cannot
 * grow, or mmap's negative errno when the host cannot map it. */
GLUE_API int glue_mem_add(struct glue_mem *mem, uint64_t gpa, uint64_t size,
			  enum glue_mem_type type);

GLUE_API size_t glue_mem_region_count(const struct glue_mem *mem);
/* Regions are kept sorted by gpa. */
GLUE_API int glue_mem_region_get(const struct glue_mem *mem, size_t index,
				 struct glue_mem_region *out);

/* Total bytes of GLUE_MEM_RAM regions. */
GLUE_API uint64_t glue_mem_ram_size(const struct glue_mem *mem);
/* One past the highest guest-physical address that is backed. */
GLUE_API uint64_t glue_mem_end(const struct glue_mem *mem);

/*
 * Host pointer for [gpa, gpa + len), or NULL when any byte of the range is
 * outside guest memory or the range crosses from one region to another.
 * len 0 is valid (checks gpa alone).
 */
GLUE_API void *glue_mem_ptr(const struct glue_mem *mem, uint64_t gpa, uint64_t len);

/* True when [gpa, gpa + len) is entirely backed (possibly across regions). */
GLUE_API bool glue_mem_contains(const struct glue_mem *mem, uint64_t gpa, uint64_t len);

/* Copy between guest and host; may cross region boundaries. -EFAULT when any
 * byte is outside guest memory (nothing is written in that case). */
GLUE_API int glue_mem_read(const struct glue_mem *mem, uint64_t gpa, void *buf, size_t len);
GLUE_API int glue_mem_write(struct glue_mem *mem, uint64_t gpa, const void *buf, size_t len);
GLUE_API int glue_mem_fill(struct glue_mem *mem, uint64_t gpa, int byte, size_t len);

/*
 * Host iovecs for [gpa, gpa + len): one per region the range touches, so a
 * buffer that runs from one region into the next is still one buffer.
 * At most max entries are written to iov; *n gets how many. Returns 0,
 * -EFAULT when any byte is outside guest memory (or the range wraps), or
 * -E2BIG when it needs more than max entries. len 0 gives no entries.
 */
struct iovec;
GLUE_API int glue_mem_iov(const struct glue_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
			  size_t max, size_t *n);

/* Fixed-width little-endian accessors. */
GLUE_API int glue_mem_read_u8(const struct glue_mem *mem, uint64_t gpa, uint8_t *out);
GLUE_API int glue_mem_read_u16(const struct glue_mem *mem, uint64_t gpa, uint16_t *out);
GLUE_API int glue_mem_read_u32(const struct glue_mem *mem, uint64_t gpa, uint32_t *out);
GLUE_API int glue_mem_read_u64(const struct glue_mem *mem, uint64_t gpa, uint64_t *out);
GLUE_API int glue_mem_write_u8(struct glue_mem *mem, uint64_t gpa, uint8_t v);
GLUE_API int glue_mem_write_u16(struct glue_mem *mem, uint64_t gpa, uint16_t v);
GLUE_API int glue_mem_write_u32(struct glue_mem *mem, uint64_t gpa, uint32_t v);
GLUE_API int glue_mem_write_u64(struct glue_mem *mem, uint64_t gpa, uint64_t v);

GLUE_END_DECLS

#endif
