/* SPDX-License-Identifier: MIT */
/*
 * Guest-physical access beyond the static identity map of the first 4 GiB
 * (head.S): one spare page directory is pointed at whichever 1 GiB region
 * above 4 GiB is needed, still identity mapped (virtual = physical).
 */
#include "guest.h"

extern u64 pml4[512], pdpt[512], pd_low[4 * 512];

static u64 pd_window[512] __attribute__((aligned(4096)));
static unsigned int window_gib; /* PDPT slot in use, 0 = none */

static void flush_tlb(void)
{
	u64 cr3;

	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3) : : "memory");
}

bool phys_map(u64 paddr, u64 len)
{
	u64 gib = paddr >> 30;

	if (len && paddr + len - 1 < paddr)
		return false;
	if (len && (paddr + len - 1) >> 30 != gib && (paddr + len - 1) >> 30 >= 4)
		return false;
	if (gib < 4)
		return true;
	if (gib >= 512)
		return false;
	if (window_gib != gib) {
		if (window_gib)
			pdpt[window_gib] = 0;
		for (u64 i = 0; i < 512; i++)
			pd_window[i] = (gib << 30) + (i << 21) + PTE_P + PTE_W + PTE_PS;
		pdpt[gib] = (u64)pd_window + PTE_P + PTE_W;
		window_gib = (unsigned int)gib;
		flush_tlb();
	}
	return true;
}

bool phys_read(void *dst, u64 paddr, size_t len)
{
	u8 *d = dst;

	while (len) {
		u64 n = phys_chunk(paddr, len);

		if (!phys_map(paddr, n))
			return false;
		memcpy(d, phys_ptr(paddr), n);
		d += n;
		paddr += n;
		len -= n;
	}
	return true;
}
