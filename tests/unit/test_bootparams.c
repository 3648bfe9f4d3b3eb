// SPDX-License-Identifier: MIT
/* E820 map, zero page and PVH start_info (lib/loader/bootparams.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <glue/error.h>
#include <glue/loader.h>
#include <glue/memory.h>

#include "loader/bootparams.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct glue_mem *x86_mem(uint64_t bytes)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new_x86(&mem, bytes), 0, "%s", glue_error_last());
	return mem;
}

/* RAM entries sum to exactly the RAM size, sorted, disjoint, merged. */
static void check_e820(uint64_t bytes)
{
	struct glue_mem *mem = x86_mem(bytes);
	struct glue_e820_entry t[GLUE_E820_MAX_ENTRIES];
	uint64_t ram = 0;
	int n = glue_bootparams_e820(mem, t, GLUE_E820_MAX_ENTRIES);

	cr_assert_gt(n, 0, "%s", glue_error_last());
	for (int i = 0; i < n; i++) {
		cr_assert(t[i].type == GLUE_E820_RAM || t[i].type == GLUE_E820_RESERVED);
		cr_assert_gt(t[i].size, 0);
		if (t[i].type == GLUE_E820_RAM)
			ram += t[i].size;
		if (i > 0) {
			cr_assert_geq(t[i].addr, t[i - 1].addr + t[i - 1].size, "overlap at %d", i);
			cr_assert(t[i].addr != t[i - 1].addr + t[i - 1].size ||
					  t[i].type != t[i - 1].type,
				  "entries %d and %d not merged", i - 1, i);
		}
		/* nothing in the 32-bit MMIO hole */
		cr_assert(t[i].addr + t[i].size <= GLUE_X86_MMIO_HOLE_START ||
			  t[i].addr >= GLUE_X86_MMIO_HOLE_END);
	}
	cr_assert_eq(ram, bytes, "e820 RAM 0x%llx for 0x%llx", (unsigned long long)ram,
		     (unsigned long long)bytes);
	cr_assert_eq(ram, glue_mem_ram_size(mem));
	/* low RAM starts at 0 */
	cr_assert_eq(t[0].addr, 0);
	cr_assert_eq(t[0].type, GLUE_E820_RAM);
	glue_mem_free(mem);
}

Test(bootparams, e820_128m)
{
	check_e820(128 * MiB);
}

Test(bootparams, e820_3g_exactly_at_the_hole)
{
	struct glue_mem *mem = x86_mem(3 * GiB);
	struct glue_e820_entry t[GLUE_E820_MAX_ENTRIES];
	int n = glue_bootparams_e820(mem, t, GLUE_E820_MAX_ENTRIES);

	check_e820(3 * GiB);
	/* the last entry ends at the hole or, with low RAM displaced by the
	 * legacy hole, continues above 4 GiB */
	cr_assert(t[n - 1].addr + t[n - 1].size == GLUE_X86_MMIO_HOLE_START ||
		  t[n - 1].addr == GLUE_X86_MMIO_HOLE_END);
	glue_mem_free(mem);
}

Test(bootparams, e820_3g_plus_4k)
{
	check_e820(3 * GiB + 4096);
}

Test(bootparams, e820_5g)
{
	check_e820(5 * GiB);
}

Test(bootparams, e820_16g)
{
	check_e820(16 * GiB);
}

Test(bootparams, e820_too_many_entries)
{
	struct glue_mem *mem;
	struct glue_e820_entry t[GLUE_E820_MAX_ENTRIES];

	cr_assert_eq(glue_mem_new(&mem), 0);
	/* alternating types cannot merge: 130 entries */
	for (int i = 0; i < 130; i++)
		cr_assert_eq(glue_mem_add(mem, 0x100000 + (uint64_t)i * 4096, 4096,
					  i % 2 ? GLUE_MEM_RESERVED : GLUE_MEM_RAM),
			     0, "%s", glue_error_last());
	cr_assert_eq(glue_bootparams_e820(mem, t, GLUE_E820_MAX_ENTRIES), -E2BIG);
	cr_assert(strstr(glue_error_last(), "more than 128"), "%s", glue_error_last());
	cr_assert_eq(glue_bootparams_e820(mem, t, 5), -E2BIG);
	glue_mem_free(mem);
}

static uint32_t rd32(struct glue_mem *mem, uint64_t gpa)
{
	uint32_t v;

	cr_assert_eq(glue_mem_read_u32(mem, gpa, &v), 0);
	return v;
}

static uint16_t rd16(struct glue_mem *mem, uint64_t gpa)
{
	uint16_t v;

	cr_assert_eq(glue_mem_read_u16(mem, gpa, &v), 0);
	return v;
}

static uint8_t rd8(struct glue_mem *mem, uint64_t gpa)
{
	uint8_t v;

	cr_assert_eq(glue_mem_read_u8(mem, gpa, &v), 0);
	return v;
}

static uint64_t rd64(struct glue_mem *mem, uint64_t gpa)
{
	uint64_t v;

	cr_assert_eq(glue_mem_read_u64(mem, gpa, &v), 0);
	return v;
}

Test(bootparams, constructed_zero_page_fields_at_their_offsets)
{
	struct glue_mem *mem = x86_mem(5 * GiB);
	const uint64_t zp = GLUE_BOOT_ZERO_PAGE_GPA;
	struct glue_zero_page_args a = {
		.cmdline_gpa = 0x20000,
		.cmdline_size = 2047,
		.initrd_gpa = 0x123456000ULL, /* above 4 GiB: high half in ext_ */
		.initrd_size = 0x100001000ULL,
		.acpi_rsdp_gpa = 0xe0000,
	};
	struct glue_e820_entry t[GLUE_E820_MAX_ENTRIES];
	int n = glue_bootparams_e820(mem, t, GLUE_E820_MAX_ENTRIES);

	/* stale bytes must not survive */
	cr_assert_eq(glue_mem_fill(mem, zp, 0x5a, 4096), 0);
	cr_assert_eq(glue_bootparams_write_zero_page(mem, zp, &a), 0, "%s", glue_error_last());
	cr_assert_eq(rd16(mem, zp + 0x1fe), 0xAA55);
	cr_assert_eq(rd32(mem, zp + 0x202), 0x53726448);
	cr_assert_eq(rd16(mem, zp + 0x206), 0x020f);
	cr_assert_eq(rd8(mem, zp + 0x210), 0xff, "type_of_loader");
	cr_assert(rd8(mem, zp + 0x211) & 0x01, "LOADED_HIGH");
	cr_assert_eq(rd32(mem, zp + 0x228), 0x20000, "cmd_line_ptr");
	cr_assert_eq(rd32(mem, zp + 0x0c8), 0, "ext_cmd_line_ptr");
	cr_assert_eq(rd32(mem, zp + 0x238), 2047, "cmdline_size");
	cr_assert_eq(rd32(mem, zp + 0x218), 0x23456000, "ramdisk_image");
	cr_assert_eq(rd32(mem, zp + 0x0c0), 0x1, "ext_ramdisk_image");
	cr_assert_eq(rd32(mem, zp + 0x21c), 0x00001000, "ramdisk_size");
	cr_assert_eq(rd32(mem, zp + 0x0c4), 0x1, "ext_ramdisk_size");
	cr_assert_eq(rd64(mem, zp + 0x070), 0xe0000, "acpi_rsdp_addr");
	cr_assert_eq(rd8(mem, zp + 0x1ef), 0, "sentinel");
	cr_assert_eq(rd8(mem, zp + 0x1e8), n, "e820_entries");
	for (int i = 0; i < n; i++) {
		uint64_t e = zp + 0x2d0 + (uint64_t)i * 20;

		cr_assert_eq(rd64(mem, e), t[i].addr);
		cr_assert_eq(rd64(mem, e + 8), t[i].size);
		cr_assert_eq(rd32(mem, e + 16), t[i].type);
	}
	cr_assert_eq(rd8(mem, zp + 0xfff), 0, "page not cleared");
	glue_mem_free(mem);
}

Test(bootparams, copied_setup_header_keeps_kernel_fields)
{
	struct glue_mem *mem = x86_mem(64 * MiB);
	const uint64_t zp = GLUE_BOOT_ZERO_PAGE_GPA;
	struct glue_setup_header h;
	struct glue_zero_page_args a = {.setup_header = &h, .setup_header_len = sizeof(h)};

	memset(&h, 0, sizeof(h));
	h.boot_flag = 0xAA55;
	h.header = GLUE_SETUP_MAGIC;
	h.version = 0x020d;
	h.kernel_alignment = 0x200000;
	h.init_size = 0x3377000;
	h.loadflags = 0x20; /* QUIET_FLAG survives, LOADED_HIGH is added */
	h.type_of_loader = 0x12;
	a.cmdline_gpa = 0x20000;
	cr_assert_eq(glue_bootparams_write_zero_page(mem, zp, &a), 0, "%s", glue_error_last());
	cr_assert_eq(rd16(mem, zp + 0x206), 0x020d);
	cr_assert_eq(rd32(mem, zp + 0x230), 0x200000);
	cr_assert_eq(rd32(mem, zp + 0x260), 0x3377000);
	cr_assert_eq(rd8(mem, zp + 0x211), 0x21);
	cr_assert_eq(rd8(mem, zp + 0x210), 0xff);
	cr_assert_eq(rd32(mem, zp + 0x218), 0, "no initrd");
	glue_mem_free(mem);
}

Test(bootparams, zero_page_outside_memory_is_efault)
{
	struct glue_mem *mem = x86_mem(64 * MiB);
	struct glue_zero_page_args a = {0};

	cr_assert_eq(glue_bootparams_write_zero_page(mem, 64 * GiB, &a), -EFAULT);
	cr_assert(strstr(glue_error_last(), "outside guest memory"), "%s", glue_error_last());
	glue_mem_free(mem);
}

Test(bootparams, pvh_start_info_contents)
{
	struct glue_mem *mem = x86_mem(5 * GiB);
	struct glue_e820_entry t[GLUE_E820_MAX_ENTRIES];
	int n = glue_bootparams_e820(mem, t, GLUE_E820_MAX_ENTRIES);
	struct glue_hvm_start_info si;
	struct glue_hvm_modlist_entry mod;
	uint64_t ram = 0;

	cr_assert_eq(glue_bootparams_write_pvh(mem, 0x20000, 0x7f000000, 0x123456, 0xe0000), 0,
		     "%s", glue_error_last());
	cr_assert_eq(glue_mem_read(mem, GLUE_BOOT_PVH_INFO_GPA, &si, sizeof(si)), 0);
	cr_assert_eq(si.magic, 0x336ec578);
	cr_assert_eq(si.version, 1);
	cr_assert_eq(si.cmdline_paddr, 0x20000);
	cr_assert_eq(si.rsdp_paddr, 0xe0000);
	cr_assert_eq(si.nr_modules, 1);
	cr_assert_eq(si.modlist_paddr, GLUE_BOOT_PVH_MODLIST_GPA);
	cr_assert_eq(si.memmap_paddr, GLUE_BOOT_PVH_MEMMAP_GPA);
	cr_assert_eq(si.memmap_entries, (uint32_t)n);
	cr_assert_eq(glue_mem_read(mem, si.modlist_paddr, &mod, sizeof(mod)), 0);
	cr_assert_eq(mod.paddr, 0x7f000000);
	cr_assert_eq(mod.size, 0x123456);
	cr_assert_eq(mod.cmdline_paddr, 0);
	for (int i = 0; i < n; i++) {
		struct glue_hvm_memmap_entry e;

		cr_assert_eq(glue_mem_read(mem, si.memmap_paddr + (uint64_t)i * sizeof(e), &e,
					   sizeof(e)),
			     0);
		cr_assert_eq(e.addr, t[i].addr);
		cr_assert_eq(e.size, t[i].size);
		cr_assert_eq(e.type, t[i].type);
		cr_assert_eq(e.reserved, 0);
		if (e.type == GLUE_E820_RAM)
			ram += e.size;
	}
	cr_assert_eq(ram, 5 * GiB);
	glue_mem_free(mem);
}

Test(bootparams, pvh_without_initrd_has_no_modules)
{
	struct glue_mem *mem = x86_mem(64 * MiB);
	struct glue_hvm_start_info si;

	cr_assert_eq(glue_bootparams_write_pvh(mem, 0x20000, 0, 0, 0), 0);
	cr_assert_eq(glue_mem_read(mem, GLUE_BOOT_PVH_INFO_GPA, &si, sizeof(si)), 0);
	cr_assert_eq(si.nr_modules, 0);
	cr_assert_eq(si.modlist_paddr, 0);
	cr_assert_eq(si.rsdp_paddr, 0);
	glue_mem_free(mem);
}
