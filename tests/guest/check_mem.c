/* SPDX-License-Identifier: MIT */
/*
 * mem: total RAM in the memory map, and proof that it is there: the first and
 * the last 4 KiB page of every RAM entry take a pattern and give it back. The
 * old contents are restored (the BDA, the MP table, an initrd may live there),
 * and pages of the guest image itself are left alone.
 */
#include "guest.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)

static u64 saved[WORDS];

enum { PAGE_OK, PAGE_UNMAPPABLE, PAGE_MISMATCH };

/* Test the page at paddr; on a mismatch *bad is the first bad address. */
static int test_page(u64 paddr, u64 *bad)
{
	volatile u64 *p = phys_ptr(paddr);
	int ret = PAGE_OK;

	if (!phys_map(paddr, PAGE))
		return PAGE_UNMAPPABLE;
	for (u64 i = 0; i < WORDS; i++)
		saved[i] = p[i];
	/* Address-dependent values also catch pages that alias each other. */
	for (u64 i = 0; i < WORDS; i++)
		p[i] = (paddr + i * 8) ^ 0xa5a5a5a55a5a5a5aUL;
	for (u64 i = 0; i < WORDS; i++) {
		if (p[i] != ((paddr + i * 8) ^ 0xa5a5a5a55a5a5a5aUL)) {
			*bad = paddr + i * 8;
			ret = PAGE_MISMATCH;
			break;
		}
	}
	for (u64 i = 0; i < WORDS; i++)
		p[i] = saved[i];
	return ret;
}

static bool overlaps_image(u64 a)
{
	return a < (u64)_end && a + PAGE > (u64)_start;
}

void check_mem(void)
{
	u64 total = 0, ram_entries = 0, tested = 0, skipped = 0, expect;

	for (u32 i = 0; i < boot.e820_count; i++) {
		const struct e820_entry *e = &boot.e820[i];

		if (e->type != E820_RAM)
			continue;
		ram_entries++;
		total += e->size;

		u64 start = ALIGN_UP(e->addr, PAGE);
		u64 end = ALIGN_DOWN(e->addr + e->size, PAGE);

		if (e->addr + e->size < e->addr || end <= start) {
			skipped++;
			continue;
		}
		/* Step around the guest image: it is RAM too, but we run from it. */
		u64 first = start, last = end - PAGE;

		if (overlaps_image(first))
			first = ALIGN_UP((u64)_end, PAGE);
		if (overlaps_image(last))
			last = ALIGN_DOWN((u64)_start, PAGE) - PAGE;

		u64 pages[2] = {first, last};

		for (int k = 0; k < 2; k++) {
			u64 a = pages[k], bad = 0;
			int r;

			if (a < start || a + PAGE > end || (k == 1 && a == first)) {
				skipped++;
				continue;
			}
			r = test_page(a, &bad);
			if (r != PAGE_OK) {
				if (r == PAGE_UNMAPPABLE)
					test_result("mem", false,
						    "reason=unmappable addr=0x%lx total=%lu", a,
						    total);
				else
					test_result("mem", false,
						    "reason=pattern-mismatch addr=0x%lx entry=%u",
						    bad, i);
				return;
			}
			tested++;
		}
	}
	if (!ram_entries) {
		test_result("mem", false, "reason=no-ram entries=%u", boot.e820_count);
		return;
	}
	if (cmdline_expect("mem", &expect) && expect != total) {
		test_result("mem", false,
			    "reason=expect-mismatch total=%lu expected=%lu entries=%u", total,
			    expect, boot.e820_count);
		return;
	}
	test_result("mem", true,
		    "total=%lu entries=%u ram_entries=%lu pages_tested=%lu skipped=%lu", total,
		    boot.e820_count, ram_entries, tested, skipped);
}
