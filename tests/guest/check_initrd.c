/* SPDX-License-Identifier: MIT */
/*
 * initrd: where the VMM put the initrd (zero page ramdisk fields, or PVH
 * module 0), that it is in RAM and clear of the guest, and its CRC-32 so the
 * harness can compare it with zlib.crc32() of the file.
 */
#include "guest.h"

static bool in_ram(u64 addr, u64 size)
{
	u64 end = addr + size;

	if (end < addr)
		return false;
	for (u32 i = 0; i < boot.e820_count; i++) {
		const struct e820_entry *e = &boot.e820[i];

		if (e->type == E820_RAM && addr >= e->addr && end <= e->addr + e->size &&
		    e->addr + e->size >= e->addr)
			return true;
	}
	return false;
}

void check_initrd(void)
{
	u64 addr = boot.initrd_addr, size = boot.initrd_size;

	if (!boot.has_initrd) {
		test_result("initrd", false, "reason=none addr=0x%lx size=%lu", addr, size);
		return;
	}
	if (!in_ram(addr, size)) {
		test_result("initrd", false, "reason=not-in-ram addr=0x%lx size=%lu", addr, size);
		return;
	}
	if (addr < (u64)_end && addr + size > (u64)_start) {
		test_result("initrd", false, "reason=overlaps-guest addr=0x%lx size=%lu", addr,
			    size);
		return;
	}

	u32 crc = 0;

	for (u64 a = addr, left = size; left;) {
		u64 n = phys_chunk(a, left);

		if (!phys_map(a, n)) {
			test_result("initrd", false, "reason=unmappable addr=0x%lx size=%lu", addr,
				    size);
			return;
		}
		crc = crc32_update(crc, phys_ptr(a), n);
		a += n;
		left -= n;
	}
	test_result("initrd", true, "addr=0x%lx size=%lu crc32=%08x", addr, size, crc);
}
