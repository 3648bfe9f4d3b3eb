/* SPDX-License-Identifier: MIT */
/*
 * ELF executables (ELF64 x86-64 vmlinux and test guests; ELF32 i386 PVH
 * kernels, what `ld -m elf_i386` makes): validation, PT_LOAD placement by
 * p_paddr, entry translation, the Xen PVH entry note.
 * Every offset and size read from the file is checked against the buffer.
 */
#ifndef GLUE_LOADER_ELF_H
#define GLUE_LOADER_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glue/memory.h>

#define GLUE_ELF_MAX_LOADS 32

/* Virtual addresses at or above this are the kernel's high mapping. */
#define GLUE_ELF_KERNEL_VIRT_BASE 0xffffffff80000000ULL

struct glue_elf_load {
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t paddr;
	uint64_t memsz; /* >= filesz; the rest is zeroed */
};

struct glue_elf {
	uint64_t entry;	    /* guest-physical entry point */
	uint64_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY, valid if has_pvh */
	bool has_pvh;
	bool elf32;	/* ELF32 container: bootable only through PVH */
	uint64_t start; /* lowest p_paddr of the PT_LOADs */
	uint64_t end;	/* highest p_paddr + p_memsz */
	size_t nloads;
	struct glue_elf_load loads[GLUE_ELF_MAX_LOADS];
};

/* True when data starts with the ELF magic. */
bool glue_elf_is_elf(const void *data, size_t size);

/*
 * Validate an ELF64 x86-64 or ELF32 i386 little-endian executable of size
 * bytes and fill
 * out. Trailing data after what the headers describe is allowed (relocation
 * data follows vmlinux inside a bzImage). what names the image in messages
 * ("kernel 'vmlinux'"). Returns 0 or -EINVAL / -ENOEXEC with a message.
 */
int glue_elf_parse(struct glue_elf *out, const void *data, size_t size, const char *what);

/*
 * Copy the PT_LOADs of a parsed ELF (data/size as given to the parse) to
 * guest memory at their p_paddr, zeroing p_memsz beyond p_filesz.
 * Returns 0 or -ENOMEM when a segment is not inside guest memory.
 */
int glue_elf_load(struct glue_mem *mem, const struct glue_elf *elf, const void *data, size_t size,
		  const char *what);

#endif
