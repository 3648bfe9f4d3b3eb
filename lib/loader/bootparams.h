/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 boot-protocol structures (Documentation/arch/x86/boot.rst and
 * arch/x86/include/uapi/asm/bootparam.h) and the Xen PVH start_info
 * (xen/include/public/arch-x86/hvm/start_info.h), declared here with only
 * the fields glue uses; the rest is padding. Offsets are checked below.
 */
#ifndef GLUE_LOADER_BOOTPARAMS_H
#define GLUE_LOADER_BOOTPARAMS_H

#include <stddef.h>
#include <stdint.h>

/* setup header: offset 0x1f1 in both the bzImage file and boot_params. */
struct glue_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4: protected-mode code, 16-byte units */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe: 0xAA55 */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202: "HdrS" */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e: version string at this + 0x200 */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c: highest byte an initrd may use */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238: max command line, NUL excluded */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248: from the protected-mode code */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
} __attribute__((packed));

#define GLUE_SETUP_HEADER_OFFSET 0x1f1
#define GLUE_SETUP_BOOT_FLAG 0xAA55
#define GLUE_SETUP_MAGIC 0x53726448 /* "HdrS" */

/* loadflags */
#define GLUE_LOADED_HIGH 0x01
#define GLUE_CAN_USE_HEAP 0x80
/* xloadflags */
#define GLUE_XLF_KERNEL_64 0x01
#define GLUE_XLF_CAN_BE_LOADED_ABOVE_4G 0x02

struct glue_boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The zero page. */
struct glue_boot_params {
	uint8_t _pad0[0x070];
	uint64_t acpi_rsdp_addr; /* 0x070 */
	uint8_t _pad1[0x0c0 - 0x078];
	uint32_t ext_ramdisk_image; /* 0x0c0 */
	uint32_t ext_ramdisk_size;  /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;  /* 0x0c8 */
	uint8_t _pad2[0x1e8 - 0x0cc];
	uint8_t e820_entries; /* 0x1e8 */
	uint8_t _pad3[0x1ef - 0x1e9];
	uint8_t sentinel;	      /* 0x1ef: nonzero = loader did not clear the page */
	uint8_t _pad4;		      /* 0x1f0 */
	struct glue_setup_header hdr; /* 0x1f1 */
	uint8_t _pad5[0x2d0 - 0x1f1 - sizeof(struct glue_setup_header)];
	struct glue_boot_e820_entry e820_table[128]; /* 0x2d0 */
	uint8_t _pad6[0x1000 - 0xcd0];
} __attribute__((packed));

_Static_assert(sizeof(struct glue_setup_header) == 0x26c - 0x1f1, "setup_header size");
_Static_assert(offsetof(struct glue_setup_header, boot_flag) == 0x1fe - 0x1f1, "boot_flag");
_Static_assert(offsetof(struct glue_setup_header, header) == 0x202 - 0x1f1, "header");
_Static_assert(offsetof(struct glue_setup_header, cmd_line_ptr) == 0x228 - 0x1f1, "cmd_line_ptr");
_Static_assert(offsetof(struct glue_setup_header, xloadflags) == 0x236 - 0x1f1, "xloadflags");
_Static_assert(offsetof(struct glue_setup_header, payload_offset) == 0x248 - 0x1f1, "payload");
_Static_assert(offsetof(struct glue_setup_header, pref_address) == 0x258 - 0x1f1, "pref_address");
_Static_assert(offsetof(struct glue_setup_header, init_size) == 0x260 - 0x1f1, "init_size");
_Static_assert(sizeof(struct glue_boot_e820_entry) == 20, "e820 entry");
_Static_assert(offsetof(struct glue_boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct glue_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk");
_Static_assert(offsetof(struct glue_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct glue_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct glue_boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct glue_boot_params, hdr) == 0x1f1, "hdr");
_Static_assert(offsetof(struct glue_boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(sizeof(struct glue_boot_params) == 0x1000, "boot_params size");

/* Xen PVH */
#define GLUE_HVM_START_MAGIC 0x336ec578
#define GLUE_XEN_ELFNOTE_PHYS32_ENTRY 18

struct glue_hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;	 /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};

struct glue_hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct glue_hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct glue_hvm_start_info) == 56, "hvm_start_info");
_Static_assert(offsetof(struct glue_hvm_start_info, memmap_paddr) == 40, "memmap_paddr");
_Static_assert(sizeof(struct glue_hvm_modlist_entry) == 32, "hvm_modlist_entry");
_Static_assert(sizeof(struct glue_hvm_memmap_entry) == 24, "hvm_memmap_entry");

#endif
