// SPDX-License-Identifier: MIT
/* Boot parameters: E820 map, Linux zero page, Xen PVH start_info. */
#include <inttypes.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "loader/bootparams.h"
#include "loader/kernel.h"

int glue_bootparams_e820(const struct glue_mem *mem, struct glue_e820_entry *table, size_t max)
{
	size_t n = 0, count = glue_mem_region_count(mem);

	/* regions come sorted by gpa (glue/memory.h), so merging needs one pass */
	for (size_t i = 0; i < count; i++) {
		struct glue_mem_region r;
		uint32_t type;

		if (glue_mem_region_get(mem, i, &r) < 0 || r.size == 0)
			continue;
		type = r.type == GLUE_MEM_RAM ? GLUE_E820_RAM : GLUE_E820_RESERVED;
		if (n > 0 && table[n - 1].type == type &&
		    table[n - 1].addr + table[n - 1].size == r.gpa) {
			table[n - 1].size += r.size;
			continue;
		}
		if (n == max)
			return glue_err(-E2BIG, "guest memory map needs more than %zu E820 entries",
					max);
		table[n++] = (struct glue_e820_entry){.addr = r.gpa, .size = r.size, .type = type};
	}
	return (int)n;
}

int glue_bootparams_write_zero_page(struct glue_mem *mem, uint64_t gpa,
				    const struct glue_zero_page_args *args)
{
	struct glue_e820_entry map[GLUE_E820_MAX_ENTRIES];
	struct glue_boot_params bp;
	struct glue_setup_header *h = &bp.hdr;
	int n, r;

	n = glue_bootparams_e820(mem, map, GLUE_ARRAY_SIZE(map));
	if (n < 0)
		return n;
	/* a fresh page: sentinel 0 tells Linux every field was meant */
	memset(&bp, 0, sizeof(bp));
	if (args->setup_header) {
		memcpy(h, args->setup_header, GLUE_MIN(args->setup_header_len, sizeof(*h)));
	} else {
		h->boot_flag = GLUE_SETUP_BOOT_FLAG;
		h->header = GLUE_SETUP_MAGIC;
		h->version = 0x020f;
		h->kernel_alignment = 0x1000000;
		h->cmdline_size = args->cmdline_size;
		h->initrd_addr_max = GLUE_ELF_INITRD_ADDR_MAX;
		h->xloadflags = GLUE_XLF_KERNEL_64;
	}
	h->type_of_loader = 0xff; /* "undefined" loader */
	h->loadflags |= GLUE_LOADED_HIGH;
	h->cmd_line_ptr = (uint32_t)args->cmdline_gpa;
	bp.ext_cmd_line_ptr = (uint32_t)(args->cmdline_gpa >> 32);
	h->ramdisk_image = (uint32_t)args->initrd_gpa;
	bp.ext_ramdisk_image = (uint32_t)(args->initrd_gpa >> 32);
	h->ramdisk_size = (uint32_t)args->initrd_size;
	bp.ext_ramdisk_size = (uint32_t)(args->initrd_size >> 32);
	bp.acpi_rsdp_addr = args->acpi_rsdp_gpa;
	bp.e820_entries = (uint8_t)n;
	for (int i = 0; i < n; i++)
		bp.e820_table[i] = (struct glue_boot_e820_entry){
			.addr = map[i].addr, .size = map[i].size, .type = map[i].type};
	r = glue_mem_write(mem, gpa, &bp, sizeof(bp));
	if (r < 0)
		return glue_err(r, "boot parameters at 0x%" PRIx64 " are outside guest memory",
				gpa);
	return 0;
}

int glue_bootparams_write_pvh(struct glue_mem *mem, uint64_t cmdline_gpa, uint64_t initrd_gpa,
			      uint64_t initrd_size, uint64_t acpi_rsdp_gpa)
{
	struct glue_e820_entry map[GLUE_E820_MAX_ENTRIES];
	struct glue_hvm_memmap_entry mm[GLUE_E820_MAX_ENTRIES];
	struct glue_hvm_start_info si;
	int n, r;

	_Static_assert(GLUE_BOOT_PVH_MEMMAP_GPA + sizeof(mm) <= GLUE_BOOT_ZERO_PAGE_GPA,
		       "PVH memory map runs into the zero page");
	_Static_assert(GLUE_BOOT_PVH_INFO_GPA + sizeof(si) <= GLUE_BOOT_PVH_MODLIST_GPA,
		       "start_info runs into the module list");
	n = glue_bootparams_e820(mem, map, GLUE_ARRAY_SIZE(map));
	if (n < 0)
		return n;
	memset(&si, 0, sizeof(si));
	si.magic = GLUE_HVM_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = cmdline_gpa;
	si.rsdp_paddr = acpi_rsdp_gpa;
	si.memmap_paddr = GLUE_BOOT_PVH_MEMMAP_GPA;
	si.memmap_entries = (uint32_t)n;
	if (initrd_size) {
		struct glue_hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = initrd_size};

		si.nr_modules = 1;
		si.modlist_paddr = GLUE_BOOT_PVH_MODLIST_GPA;
		r = glue_mem_write(mem, GLUE_BOOT_PVH_MODLIST_GPA, &mod, sizeof(mod));
		if (r < 0)
			goto fault;
	}
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < n; i++)
		mm[i] = (struct glue_hvm_memmap_entry){
			.addr = map[i].addr, .size = map[i].size, .type = map[i].type};
	r = glue_mem_write(mem, GLUE_BOOT_PVH_MEMMAP_GPA, mm, (size_t)n * sizeof(mm[0]));
	if (r == 0)
		r = glue_mem_write(mem, GLUE_BOOT_PVH_INFO_GPA, &si, sizeof(si));
	if (r == 0)
		return 0;
fault:
	return glue_err(r, "PVH start_info at 0x%llx is outside guest memory",
			GLUE_BOOT_PVH_INFO_GPA);
}
