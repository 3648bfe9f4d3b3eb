/* SPDX-License-Identifier: MIT */
/* Internals of the loader module shared between its files and unit tests. */
#ifndef GLUE_LOADER_KERNEL_H
#define GLUE_LOADER_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glue/loader.h>

#include "loader/bootparams.h"
#include "loader/decompress.h"
#include "loader/elf.h"

/* Kernel files above this size are refused (and not read into memory). */
#define GLUE_KERNEL_FILE_MAX (1ULL << 30)

/* Limits for kernels that state none (ELF): Linux x86-64's own values. */
#define GLUE_ELF_INITRD_ADDR_MAX 0x7fffffffU

/* A validated bzImage setup header and where things are in the file. */
struct glue_bzimage {
	struct glue_setup_header hdr; /* as in the file; bytes past hdr_len are zero */
	size_t hdr_len;		      /* bytes of hdr the kernel defines (0x202 + jump - 0x1f1) */
	uint16_t version;
	uint64_t setup_size;	 /* real-mode part: (setup_sects + 1) * 512 */
	uint64_t pm_size;	 /* protected-mode code, right after the setup */
	uint64_t payload_offset; /* in the file; payload_size 0 if unknown */
	uint64_t payload_size;
	enum glue_compression comp;
	bool kernel64; /* XLF_KERNEL_64: has the 64-bit entry */
	bool relocatable;
	uint32_t kernel_alignment;
	uint64_t pref_address;
	uint64_t init_size;	  /* 0 if the header predates it */
	uint32_t cmdline_max;	  /* without the NUL */
	uint32_t initrd_addr_max; /* highest byte */
};

struct glue_kernel {
	char *name; /* for messages */
	uint8_t *data;
	size_t size;
	enum glue_kernel_format format;
	struct glue_bzimage bz; /* if BZIMAGE */
	struct glue_elf elf;	/* if ELF */
	char *version;		/* bzImage version string or NULL */
};

/* Parse a bzImage in k->data (k->name set); fills k->bz. */
int glue_bzimage_parse(struct glue_kernel *k);

/*
 * Choose a page-aligned place for an initrd of size bytes in one RAM region
 * of mem: as high as possible, ending at or below max_addr + 1 (max_addr is
 * the highest byte allowed) and 4 GiB, at or above 1 MiB, and outside
 * [kernel_start, kernel_end). Returns 0 with *gpa set, or -ENOMEM.
 */
int glue_loader_place_initrd(const struct glue_mem *mem, uint64_t size, uint64_t max_addr,
			     uint64_t kernel_start, uint64_t kernel_end, uint64_t *gpa);

/* True when [gpa, gpa + len) is covered by GLUE_MEM_RAM regions. */
bool glue_loader_ram_contains(const struct glue_mem *mem, uint64_t gpa, uint64_t len);

#endif
