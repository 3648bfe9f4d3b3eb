// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <glue/error.h>
#include <glue/memory.h>

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

static uint64_t ram_in_layout(struct glue_mem *mem, uint64_t *below_hole, uint64_t *above_4g)
{
	uint64_t total = 0;

	*below_hole = *above_4g = 0;
	for (size_t i = 0; i < glue_mem_region_count(mem); i++) {
		struct glue_mem_region r;

		cr_assert_eq(glue_mem_region_get(mem, i, &r), 0);
		if (r.type != GLUE_MEM_RAM)
			continue;
		/* no RAM inside the 32-bit MMIO hole or the legacy VGA/BIOS hole */
		cr_assert(r.gpa + r.size <= GLUE_X86_MMIO_HOLE_START ||
			  r.gpa >= GLUE_X86_MMIO_HOLE_END);
		cr_assert(r.gpa + r.size <= GLUE_X86_LEGACY_HOLE_START || r.gpa >= 0x100000);
		total += r.size;
		if (r.gpa >= GLUE_X86_MMIO_HOLE_END)
			*above_4g += r.size;
		else
			*below_hole += r.size;
	}
	return total;
}

Test(memory, x86_layout_sums_to_exactly_the_requested_ram)
{
	const uint64_t sizes[] = {2 * MiB, 64 * MiB,	   128 * MiB,	      3 * GiB - 1 * MiB,
				  3 * GiB, 3 * GiB + 4096, 3 * GiB + 1 * MiB, 4 * GiB,
				  5 * GiB, 16 * GiB};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct glue_mem *mem;
		uint64_t low, high;

		cr_assert_eq(glue_mem_new_x86(&mem, sizes[i]), 0, "%s", glue_error_last());
		cr_assert_eq(ram_in_layout(mem, &low, &high), sizes[i], "size %llu",
			     (unsigned long long)sizes[i]);
		cr_assert_eq(glue_mem_ram_size(mem), sizes[i]);
		/* RAM fills below the hole first; only the excess goes above 4 GiB. */
		cr_assert_eq(high, sizes[i] > low ? sizes[i] - low : 0);
		cr_assert_leq(low, GLUE_X86_MMIO_HOLE_START);
		if (sizes[i] > 3 * GiB - 256 * 1024)
			cr_assert_gt(high, 0);
		glue_mem_free(mem);
	}
}

Test(memory, x86_layout_rejects_bad_sizes)
{
	struct glue_mem *mem = (void *)1;

	cr_assert_eq(glue_mem_new_x86(&mem, 0), -EINVAL);
	cr_assert_null(mem);
	cr_assert_neq(strstr(glue_error_last(), "at least 2 MiB"), NULL, "%s", glue_error_last());
	cr_assert_eq(glue_mem_new_x86(&mem, 64 * MiB + 1), -EINVAL);
}

Test(memory, ptr_is_bounds_checked)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0x1000, 0x2000, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 0x3000, 0x1000, GLUE_MEM_RAM), 0); /* adjacent */

	cr_assert_not_null(glue_mem_ptr(mem, 0x1000, 0x2000));
	cr_assert_not_null(glue_mem_ptr(mem, 0x2fff, 1));
	cr_assert_null(glue_mem_ptr(mem, 0x2fff, 2), "crosses into the next region");
	cr_assert_null(glue_mem_ptr(mem, 0xfff, 1));
	cr_assert_null(glue_mem_ptr(mem, 0x4000, 0));
	cr_assert_null(glue_mem_ptr(mem, 0x1000, UINT64_MAX));
	cr_assert_null(glue_mem_ptr(mem, UINT64_MAX, 2));
	cr_assert(glue_mem_contains(mem, 0x1000, 0x3000));
	cr_assert_not(glue_mem_contains(mem, 0x1000, 0x3001));
	cr_assert_not(glue_mem_contains(mem, UINT64_MAX - 1, 4));
	glue_mem_free(mem);
}

Test(memory, read_write_across_regions_and_fail_without_writing)
{
	struct glue_mem *mem;
	uint8_t buf[64], back[64];
	uint32_t v32;
	uint64_t v64;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0x3000, 0x1000, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 0x0000, 0x3000, GLUE_MEM_RESERVED), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);

	cr_assert_eq(glue_mem_write(mem, 0x3000 - 32, buf, sizeof(buf)), 0);
	cr_assert_eq(glue_mem_read(mem, 0x3000 - 32, back, sizeof(back)), 0);
	cr_assert_arr_eq(buf, back, sizeof(buf));

	/* An access that runs off the end fails and changes nothing. */
	memset(back, 0, sizeof(back));
	cr_assert_eq(glue_mem_write(mem, 0x4000 - 8, back, 16), -EFAULT);
	cr_assert_neq(strstr(glue_error_last(), "outside guest memory"), NULL);
	cr_assert_eq(glue_mem_read_u64(mem, 0x4000 - 8, &v64), 0);
	cr_assert_eq(v64, 0, "fresh memory reads as zero");
	cr_assert_eq(glue_mem_read_u32(mem, 0x4000 - 2, &v32), -EFAULT);

	cr_assert_eq(glue_mem_write_u32(mem, 0x10, 0xdeadbeef), 0);
	cr_assert_eq(glue_mem_read_u32(mem, 0x10, &v32), 0);
	cr_assert_eq(v32, 0xdeadbeef);
	cr_assert_eq(glue_mem_fill(mem, 0x2ff0, 0xab, 0x20), 0);
	cr_assert_eq(glue_mem_read_u32(mem, 0x3000, &v32), 0);
	cr_assert_eq(v32, 0xabababab);
	glue_mem_free(mem);
}

Test(memory, overlapping_and_misaligned_regions_refused)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0x10000, 0x10000, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 0x1f000, 0x2000, GLUE_MEM_RAM), -EEXIST);
	cr_assert_eq(glue_mem_add(mem, 0x8000, 0x9000, GLUE_MEM_RAM), -EEXIST);
	cr_assert_eq(glue_mem_add(mem, 0x100, 0x1000, GLUE_MEM_RAM), -EINVAL);
	cr_assert_eq(glue_mem_add(mem, 0x40000, 0, GLUE_MEM_RAM), -EINVAL);
	cr_assert_eq(glue_mem_add(mem, UINT64_MAX - 0xfff, 0x2000, GLUE_MEM_RAM), -EINVAL);
	cr_assert_eq(glue_mem_region_count(mem), 1);
	glue_mem_free(mem);
}

Test(memory, regions_share_one_memfd)
{
	struct glue_mem *mem;
	struct glue_mem_region a, b;

	cr_assert_eq(glue_mem_new_x86(&mem, 8 * MiB), 0);
	cr_assert_eq(glue_mem_region_get(mem, 0, &a), 0);
	cr_assert_eq(glue_mem_region_get(mem, 2, &b), 0);
	cr_assert_eq(a.fd, b.fd);
	cr_assert_geq(a.fd, 0);
	cr_assert_neq(a.fd_offset, b.fd_offset);
	cr_assert_eq(glue_mem_region_get(mem, 99, &a), -ENOENT);
	glue_mem_free(mem);
	glue_mem_free(NULL);
}

Test(memory, iov_splits_at_region_edges)
{
	struct glue_mem *mem;
	struct iovec iov[4];
	size_t n = 99;

	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 1 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 1 * MiB, 1 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_mem_add(mem, 2 * MiB, 4096, GLUE_MEM_RESERVED), 0);
	cr_assert_eq(glue_mem_add(mem, 4 * MiB, 1 * MiB, GLUE_MEM_RAM), 0);

	/* within one region: one entry, the same pointer glue_mem_ptr gives */
	cr_assert_eq(glue_mem_iov(mem, 0x1000, 0x200, iov, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(iov[0].iov_base, glue_mem_ptr(mem, 0x1000, 0x200));
	cr_assert_eq(iov[0].iov_len, 0x200);
	/* across three adjacent regions */
	cr_assert_eq(glue_mem_iov(mem, 1 * MiB - 16, 1 * MiB + 32, iov, 4, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(iov[0].iov_len, 16);
	cr_assert_eq(iov[1].iov_len, 1 * MiB);
	cr_assert_eq(iov[2].iov_len, 16);
	cr_assert_eq(iov[1].iov_base, glue_mem_ptr(mem, 1 * MiB, 1));
	cr_assert_eq(iov[2].iov_base, glue_mem_ptr(mem, 2 * MiB, 1));
	/* more regions than entries */
	cr_assert_eq(glue_mem_iov(mem, 1 * MiB - 16, 1 * MiB + 32, iov, 2, &n), -E2BIG);
	cr_assert_eq(n, 0);
	/* into the gap, past the end, wrapping: nothing */
	cr_assert_eq(glue_mem_iov(mem, 2 * MiB, 4097, iov, 4, &n), -EFAULT);
	cr_assert_eq(glue_mem_iov(mem, 5 * MiB - 1, 2, iov, 4, &n), -EFAULT);
	cr_assert_eq(glue_mem_iov(mem, ~0ULL - 1, 4, iov, 4, &n), -EFAULT);
	cr_assert_eq(n, 0);
	cr_assert(strstr(glue_error_last(), "outside guest memory"), "%s", glue_error_last());
	/* nothing asked, nothing given */
	cr_assert_eq(glue_mem_iov(mem, 0x1000, 0, iov, 0, &n), 0);
	cr_assert_eq(n, 0);
	glue_mem_free(mem);
}
