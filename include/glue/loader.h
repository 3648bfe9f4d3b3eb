/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 kernel loading: parse a bzImage, an ELF64 vmlinux or an ELF32
 * PVH kernel (what `ld -m elf_i386` links; booted through its note), place it,
 * its initrd, command line and boot parameters in guest memory, and report
 * what was done. The loader touches nothing but guest memory: the caller sets
 * up the vCPU from struct glue_boot_info.
 *
 * Supported entry paths (enum glue_boot_mode):
 *   - bzImage, 64-bit boot protocol at load address + 0x200 (the kernel
 *     decompresses itself in the guest);
 *   - bzImage unpacked on the host: the payload (gzip, bzip2, lzma, xz, lz4,
 *     zstd, as far as <glue/config.h> says the library was built) is
 *     decompressed here and the vmlinux inside is entered directly;
 *   - ELF vmlinux through its Xen PVH note (32-bit entry, paging off);
 *   - ELF vmlinux at its entry point with the 64-bit boot protocol.
 *
 * Guest-physical layout used by glue_loader_load():
 *   0x6000   struct hvm_start_info (PVH), modules at 0x6040, memmap at 0x6100
 *   0x7000   struct boot_params, the "zero page" (64-bit boot protocol)
 *   0x20000  command line
 *   kernel   at its load address (bzImage: 0x100000 or pref_address;
 *            ELF: the p_paddr of each PT_LOAD)
 *   initrd   as high as possible below min(initrd_addr_max, 4 GiB),
 *            page aligned, clear of the kernel
 *
 * Thread-safety: a struct glue_kernel is immutable after it is opened; any
 * number of threads may use it at once (loading into different memories).
 */
#ifndef GLUE_LOADER_H
#define GLUE_LOADER_H

#include <string.h>

#include <glue/common.h>
#include <glue/memory.h>

GLUE_BEGIN_DECLS

struct glue_kernel;

/* How to enter the kernel. */
enum glue_boot_mode {
	GLUE_BOOT_AUTO = 0, /* bzImage: unpack on the host if possible, else bzimage;
			     * ELF: PVH if it has the note, else elf64 */
	GLUE_BOOT_UNPACK,   /* bzImage payload decompressed by glue, entered directly */
	GLUE_BOOT_BZIMAGE,  /* the bzImage's own 64-bit entry (it decompresses itself) */
	GLUE_BOOT_PVH,	    /* ELF through its Xen PVH note (32-bit entry) */
	GLUE_BOOT_ELF64,    /* ELF entry point, Linux 64-bit boot protocol */
};

enum glue_kernel_format {
	GLUE_KERNEL_BZIMAGE = 1, /* x86 boot-protocol image (vmlinuz) */
	GLUE_KERNEL_ELF = 2,	 /* ELF64 x86-64 or ELF32 i386 (PVH) executable */
};

/* Register state the kernel expects at its entry point. */
enum glue_entry_protocol {
	/* 64-bit long mode, identity-mapped paging, flat __BOOT_CS (0x10) /
	 * __BOOT_DS (0x18) segments, interrupts off, rsi = boot_params_gpa. */
	GLUE_ENTRY_LINUX64 = 1,
	/* 32-bit protected mode, paging off, flat 4 GiB code/data segments,
	 * interrupts off, ebx = boot_params_gpa (struct hvm_start_info). */
	GLUE_ENTRY_PVH = 2,
};

/* Addresses glue_loader_load() uses (see the layout above). */
#define GLUE_BOOT_PVH_INFO_GPA 0x6000ULL
#define GLUE_BOOT_PVH_MODLIST_GPA 0x6040ULL
#define GLUE_BOOT_PVH_MEMMAP_GPA 0x6100ULL
#define GLUE_BOOT_ZERO_PAGE_GPA 0x7000ULL
#define GLUE_BOOT_CMDLINE_GPA 0x20000ULL
#define GLUE_BOOT_BZIMAGE_LOAD_GPA 0x100000ULL

/* Command-line limit (without the NUL) for kernels that do not state one. */
#define GLUE_BOOT_CMDLINE_MAX_DEFAULT 2047U

/* The zero page holds at most this many E820 entries. */
#define GLUE_E820_MAX_ENTRIES 128

/*
 * Parse and validate a kernel file; the whole file is read into memory.
 * out: receives the kernel on success.
 * Returns 0, or a negative errno with a message naming the file and the
 * problem (-ENOENT/-EACCES..., -ENOEXEC for "not a Linux bzImage or ELF
 * kernel", -EINVAL for a damaged or truncated image, -EFBIG over 1 GiB).
 */
GLUE_API int glue_kernel_open(struct glue_kernel **out, const char *path);

/*
 * Same as glue_kernel_open() for an image already in memory; the data is
 * copied, so the buffer may be freed afterwards. name is used in messages
 * (NULL: "<buffer>").
 */
GLUE_API int glue_kernel_open_buffer(struct glue_kernel **out, const void *data, size_t size,
				     const char *name);

/* Free a kernel; NULL is ignored. */
GLUE_API void glue_kernel_free(struct glue_kernel *k);

GLUE_API enum glue_kernel_format glue_kernel_format(const struct glue_kernel *k);

/*
 * Compression of the kernel proper: for a bzImage the payload format
 * ("gzip", "bzip2", "lzma", "xz", "lz4", "zstd", or "none" for a raw ELF
 * payload), NULL when the payload is not recognised (or the header predates
 * payload fields); "none" for an ELF kernel. A static string.
 */
GLUE_API const char *glue_kernel_compression(const struct glue_kernel *k);

/* True when this build of libglue can decompress the bzImage's payload on
 * the host (always false for an ELF kernel). */
GLUE_API bool glue_kernel_can_unpack(const struct glue_kernel *k);

/* True when the ELF kernel has a Xen PVH entry note (always false for a
 * bzImage: its note is known only after unpacking). */
GLUE_API bool glue_kernel_has_pvh(const struct glue_kernel *k);

/* Boot protocol version of a bzImage (e.g. 0x020f); 0 for an ELF kernel. */
GLUE_API uint16_t glue_kernel_protocol(const struct glue_kernel *k);

/* The bzImage's version string ("6.1.0-47-cloud-amd64 (debian-kernel@...")
 * or NULL when it has none (and for ELF kernels). Valid while k lives. */
GLUE_API const char *glue_kernel_version(const struct glue_kernel *k);

/* What to load besides the kernel. Initialise with glue_boot_config_init()
 * so that fields added later get their defaults. */
struct glue_boot_config {
	uint32_t size; /* sizeof(struct glue_boot_config): lets the struct grow */
	enum glue_boot_mode mode;
	const char *cmdline;	 /* NULL = "" */
	const char *initrd_path; /* NULL = no initrd (unless initrd_data is set) */
	const void *initrd_data; /* initrd from memory; used when initrd_path is NULL */
	size_t initrd_size;	 /* bytes at initrd_data */
	uint64_t acpi_rsdp_gpa;	 /* ACPI RSDP the caller placed, passed to the kernel; 0 = none */
};

/*
 * Defaults: AUTO mode, empty command line, no initrd, no RSDP.
 * Inline on purpose: it runs with the caller's sizeof, so a program built
 * against an older, smaller struct never has a newer library write past it;
 * the library reads only cfg->size bytes.
 */
static inline void glue_boot_config_init(struct glue_boot_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->mode = GLUE_BOOT_AUTO;
}

/* What glue_loader_load() did; the caller sets up the boot vCPU from it. */
struct glue_boot_info {
	enum glue_entry_protocol protocol;
	uint64_t entry;		  /* guest-physical entry point (rip/eip) */
	uint64_t boot_params_gpa; /* zero page (LINUX64) or hvm_start_info (PVH) */
	uint64_t kernel_start;	  /* [kernel_start, kernel_end): memory the kernel was */
	uint64_t kernel_end;	  /* given, its init_size included */
	uint64_t initrd_gpa;	  /* 0 when there is no initrd */
	uint64_t initrd_size;
	uint64_t cmdline_gpa;
	enum glue_boot_mode mode_used; /* never AUTO */
	const char *compression;       /* static string as glue_kernel_compression(), or NULL */
	char description[128];	       /* one line for humans: what was loaded and how */
};

/*
 * Load kernel k into mem according to cfg (NULL: defaults) and fill out.
 * Writes only guest memory: the kernel, initrd, command line and boot
 * parameters at the addresses listed at the top of this file.
 * Returns 0, or a negative errno with a message: -EINVAL for a mode the
 * kernel cannot do or a command line over the kernel's limit, -ENOMEM when
 * guest RAM is too small for the kernel or initrd, -ENOTSUP for a payload
 * this build cannot unpack in UNPACK mode, errors of the initrd file.
 * Guest memory may be partly written on failure.
 * Thread-safety: k may be shared; mem must not be loaded into concurrently.
 */
GLUE_API int glue_loader_load(struct glue_mem *mem, const struct glue_kernel *k,
			      const struct glue_boot_config *cfg, struct glue_boot_info *out);

/*
 * Check, before anything is created, that glue_loader_load() can boot k the
 * way cfg (NULL: defaults) asks: the mode suits the kernel (an ELF kernel
 * has the PVH note PVH mode needs, a bzImage has a 64-bit entry for bzimage
 * mode), this build has the decompressor the unpacking modes need, the
 * command line fits and the initrd file (initrd_path) is usable. Returns 0
 * or the negative errno and message glue_loader_load() would give. What
 * is inside a bzImage's payload (its PVH note, its damage) and a guest RAM
 * too small show only when loading.
 */
GLUE_API int glue_loader_check(const struct glue_kernel *k, const struct glue_boot_config *cfg);

/*
 * Check that an initrd file can be loaded: it opens, is a regular file and
 * is not empty (the checks glue_loader_load() makes), so that a VMM can
 * refuse a bad one before it creates anything. size (may be NULL) receives
 * its length. Returns 0 or a negative errno with a message naming the file.
 */
GLUE_API int glue_loader_check_initrd(const char *path, uint64_t *size);

/* Name of a mode: "auto", "unpack", "bzimage", "pvh", "elf64"; NULL if unknown. */
GLUE_API const char *glue_boot_mode_name(enum glue_boot_mode mode);
/* Parse a mode name (as above); returns 0 or -EINVAL. */
GLUE_API int glue_boot_mode_parse(const char *name, enum glue_boot_mode *out);

/*
 * Reusable pieces, for VMMs with their own loader.
 */

/* E820 memory types. */
#define GLUE_E820_RAM 1
#define GLUE_E820_RESERVED 2

struct glue_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* GLUE_E820_* */
};

/*
 * Build the E820 map of mem: GLUE_MEM_RAM regions become GLUE_E820_RAM,
 * GLUE_MEM_RESERVED become GLUE_E820_RESERVED; sorted by address, adjacent
 * entries of one type merged. The RAM entries sum to glue_mem_ram_size().
 * Returns the number of entries written to table (at most max), or -E2BIG
 * when more than max are needed.
 */
GLUE_API int glue_bootparams_e820(const struct glue_mem *mem, struct glue_e820_entry *table,
				  size_t max);

/* What goes into a zero page besides the memory map. */
struct glue_zero_page_args {
	/* Setup header bytes as found at offset 0x1f1 of a bzImage (copied
	 * into boot_params.hdr; at most 0x7b bytes are used), or NULL to
	 * construct a minimal one (boot_flag, "HdrS", version 2.15). */
	const void *setup_header;
	size_t setup_header_len;
	uint64_t cmdline_gpa;  /* 0 = none */
	uint32_t cmdline_size; /* written to hdr.cmdline_size when constructing */
	uint64_t initrd_gpa;
	uint64_t initrd_size;
	uint64_t acpi_rsdp_gpa; /* 0 = none */
};

/*
 * Write a Linux struct boot_params (4 KiB) at gpa: the setup header, type
 * of loader 0xFF, loadflags |= LOADED_HIGH, command-line and ramdisk
 * pointers (with their ext_ high halves), and the E820 map of mem.
 * Returns 0, -E2BIG for more than 128 E820 entries, -EFAULT when gpa is
 * outside guest memory.
 */
GLUE_API int glue_bootparams_write_zero_page(struct glue_mem *mem, uint64_t gpa,
					     const struct glue_zero_page_args *args);

/*
 * Write a Xen PVH struct hvm_start_info (magic 0x336ec578, version 1) at
 * GLUE_BOOT_PVH_INFO_GPA with the initrd (if initrd_size) as module 0 at
 * GLUE_BOOT_PVH_MODLIST_GPA and the memory map of mem at
 * GLUE_BOOT_PVH_MEMMAP_GPA. Returns 0, -E2BIG for more than 128 memory-map
 * entries, -EFAULT when the area is not guest memory.
 */
GLUE_API int glue_bootparams_write_pvh(struct glue_mem *mem, uint64_t cmdline_gpa,
				       uint64_t initrd_gpa, uint64_t initrd_size,
				       uint64_t acpi_rsdp_gpa);

GLUE_END_DECLS

#endif
