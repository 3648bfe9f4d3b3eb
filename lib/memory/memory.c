// SPDX-License-Identifier: MIT
/*
 * Guest memory. All regions are slices of one memfd (grown as regions are
 * added) so the whole guest RAM can later be shared with another process.
 * The region array is sorted by guest address; lookups binary-search it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glue/memory.h>
#include "core/err.h"
#include "core/util.h"

#define PAGE_SIZE 4096ULL

struct glue_mem {
	struct glue_mem_region *regions;
	size_t count;
	size_t cap;
	int fd;
	uint64_t fd_size;
};

int glue_mem_new(struct glue_mem **out)
{
	struct glue_mem *mem;

	*out = NULL;
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return glue_err(-ENOMEM, "out of memory");
	mem->fd = -1;
	*out = mem;
	return 0;
}

void glue_mem_free(struct glue_mem *mem)
{
	if (!mem)
		return;
	for (size_t i = 0; i < mem->count; i++)
		munmap(mem->regions[i].host, mem->regions[i].size);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem->regions);
	free(mem);
}

int glue_mem_add(struct glue_mem *mem, uint64_t gpa, uint64_t size, enum glue_mem_type type)
{
	struct glue_mem_region r = {0};
	size_t pos;
	void *host;

	if (type != GLUE_MEM_RAM && type != GLUE_MEM_RESERVED)
		return glue_err(-EINVAL, "guest memory: unknown region type %d", (int)type);
	if (size == 0 || !GLUE_IS_ALIGNED(gpa, PAGE_SIZE) || !GLUE_IS_ALIGNED(size, PAGE_SIZE))
		return glue_err(-EINVAL,
				"guest memory: region 0x%llx+0x%llx is empty or not 4 KiB aligned",
				(unsigned long long)gpa, (unsigned long long)size);
	if (!glue_range_ok(gpa, size))
		return glue_err(-EINVAL, "guest memory: region 0x%llx+0x%llx wraps around",
				(unsigned long long)gpa, (unsigned long long)size);

	for (pos = 0; pos < mem->count; pos++) {
		const struct glue_mem_region *o = &mem->regions[pos];

		if (gpa < o->gpa + o->size && o->gpa < gpa + size)
			return glue_err(-EEXIST,
					"guest memory: region 0x%llx+0x%llx overlaps 0x%llx+0x%llx",
					(unsigned long long)gpa, (unsigned long long)size,
					(unsigned long long)o->gpa, (unsigned long long)o->size);
		if (o->gpa > gpa)
			break;
	}

	if (mem->fd < 0) {
		mem->fd = memfd_create("glue-guest-ram", MFD_CLOEXEC);
		if (mem->fd < 0)
			return glue_err_sys(-errno, "guest memory: memfd_create");
	}
	if (mem->fd_size + size < mem->fd_size ||
	    ftruncate(mem->fd, (off_t)(mem->fd_size + size)) < 0)
		return glue_err(-ENOMEM, "guest memory: cannot size backing memory to %llu MiB",
				(unsigned long long)((mem->fd_size + size) >> 20));
	/* MAP_NORESERVE: guest RAM is populated on first touch, like a real
	 * machine's memory is only "used" when the guest writes it. */
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mem->fd,
		    (off_t)mem->fd_size);
	if (host == MAP_FAILED) {
		int err = -errno;

		if (ftruncate(mem->fd, (off_t)mem->fd_size) < 0) {
			/* shrinking back is best effort */
		}
		return glue_err_sys(err, "guest memory: cannot map %llu MiB",
				    (unsigned long long)(size >> 20));
	}

	if (mem->count == mem->cap) {
		size_t ncap = mem->cap ? mem->cap * 2 : 8;
		struct glue_mem_region *n = realloc(mem->regions, ncap * sizeof(*n));

		if (!n) {
			munmap(host, size);
			return glue_err(-ENOMEM, "out of memory");
		}
		mem->regions = n;
		mem->cap = ncap;
	}

	r.gpa = gpa;
	r.size = size;
	r.host = host;
	r.fd = mem->fd;
	r.fd_offset = mem->fd_size;
	r.type = type;
	memmove(&mem->regions[pos + 1], &mem->regions[pos],
		(mem->count - pos) * sizeof(*mem->regions));
	mem->regions[pos] = r;
	mem->count++;
	mem->fd_size += size;
	return 0;
}

int glue_mem_new_x86(struct glue_mem **out, uint64_t ram_bytes)
{
	const uint64_t base = GLUE_X86_LEGACY_HOLE_START; /* RAM below 640 KiB */
	const uint64_t low_max = GLUE_X86_MMIO_HOLE_START - GLUE_X86_HIGH_RAM_START;
	uint64_t rest, low, high;
	struct glue_mem *mem;
	int r;

	*out = NULL;
	if (ram_bytes < 2 * GLUE_MiB || !GLUE_IS_ALIGNED(ram_bytes, PAGE_SIZE))
		return glue_err(
			-EINVAL,
			"guest memory: %llu bytes of RAM: need a multiple of 4 KiB, at least 2 MiB",
			(unsigned long long)ram_bytes);
	rest = ram_bytes - base;
	low = GLUE_MIN(rest, low_max);
	high = rest - low;

	r = glue_mem_new(&mem);
	if (r < 0)
		return r;
	r = glue_mem_add(mem, 0, base, GLUE_MEM_RAM);
	if (!r)
		r = glue_mem_add(mem, GLUE_X86_BIOS_START,
				 GLUE_X86_HIGH_RAM_START - GLUE_X86_BIOS_START, GLUE_MEM_RESERVED);
	if (!r)
		r = glue_mem_add(mem, GLUE_X86_HIGH_RAM_START, low, GLUE_MEM_RAM);
	if (!r && high)
		r = glue_mem_add(mem, GLUE_X86_MMIO_HOLE_END, high, GLUE_MEM_RAM);
	if (r < 0) {
		glue_mem_free(mem);
		return r;
	}
	*out = mem;
	return 0;
}

size_t glue_mem_region_count(const struct glue_mem *mem)
{
	return mem->count;
}

int glue_mem_region_get(const struct glue_mem *mem, size_t index, struct glue_mem_region *out)
{
	if (index >= mem->count)
		return glue_err(-ENOENT, "guest memory: no region %zu (have %zu)", index,
				mem->count);
	*out = mem->regions[index];
	return 0;
}

uint64_t glue_mem_ram_size(const struct glue_mem *mem)
{
	uint64_t total = 0;

	for (size_t i = 0; i < mem->count; i++)
		if (mem->regions[i].type == GLUE_MEM_RAM)
			total += mem->regions[i].size;
	return total;
}

uint64_t glue_mem_end(const struct glue_mem *mem)
{
	if (!mem->count)
		return 0;
	return mem->regions[mem->count - 1].gpa + mem->regions[mem->count - 1].size;
}

/* The region holding gpa, or NULL. */
static const struct glue_mem_region *find(const struct glue_mem *mem, uint64_t gpa)
{
	size_t lo = 0, hi = mem->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct glue_mem_region *r = &mem->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void *glue_mem_ptr(const struct glue_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct glue_mem_region *r = find(mem, gpa);
	uint64_t off;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	if (len > r->size - off)
		return NULL;
	return (uint8_t *)r->host + off;
}

bool glue_mem_contains(const struct glue_mem *mem, uint64_t gpa, uint64_t len)
{
	if (!glue_range_ok(gpa, len))
		return false;
	if (len == 0)
		return find(mem, gpa) != NULL;
	while (len) {
		const struct glue_mem_region *r = find(mem, gpa);
		uint64_t chunk;

		if (!r)
			return false;
		chunk = GLUE_MIN(len, r->size - (gpa - r->gpa));
		gpa += chunk;
		len -= chunk;
	}
	return true;
}

static int fault(uint64_t gpa, size_t len)
{
	return glue_err(-EFAULT, "guest address 0x%llx+0x%zx is outside guest memory",
			(unsigned long long)gpa, len);
}

/* Host address and length of the part of [gpa, gpa + len) that lies in one
 * region; the caller has checked that the whole range is backed. */
static uint8_t *chunk_at(const struct glue_mem *mem, uint64_t gpa, size_t len, size_t *chunk)
{
	const struct glue_mem_region *r = find(mem, gpa);
	uint64_t off = gpa - r->gpa;

	*chunk = (size_t)GLUE_MIN((uint64_t)len, r->size - off);
	return (uint8_t *)r->host + off;
}

int glue_mem_iov(const struct glue_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
		 size_t max, size_t *n)
{
	const uint64_t gpa0 = gpa, len0 = len;
	size_t i = 0;

	*n = 0;
	if (!glue_mem_contains(mem, gpa, len))
		return fault(gpa, (size_t)len);
	while (len) {
		const struct glue_mem_region *r = find(mem, gpa);
		uint64_t chunk = GLUE_MIN(len, r->size - (gpa - r->gpa));

		if (i == max)
			return glue_err(-E2BIG,
					"guest buffer 0x%llx+0x%llx spans more than %zu regions",
					(unsigned long long)gpa0, (unsigned long long)len0, max);
		iov[i].iov_base = (uint8_t *)r->host + (gpa - r->gpa);
		iov[i].iov_len = (size_t)chunk;
		i++;
		gpa += chunk;
		len -= chunk;
	}
	*n = i;
	return 0;
}

int glue_mem_read(const struct glue_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t chunk;

	if (!glue_mem_contains(mem, gpa, len))
		return fault(gpa, len);
	for (; len; gpa += chunk, dst += chunk, len -= chunk) {
		const uint8_t *host = chunk_at(mem, gpa, len, &chunk);

		memcpy(dst, host, chunk);
	}
	return 0;
}

int glue_mem_write(struct glue_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t chunk;

	if (!glue_mem_contains(mem, gpa, len))
		return fault(gpa, len);
	for (; len; gpa += chunk, src += chunk, len -= chunk) {
		uint8_t *host = chunk_at(mem, gpa, len, &chunk);

		memcpy(host, src, chunk);
	}
	return 0;
}

int glue_mem_fill(struct glue_mem *mem, uint64_t gpa, int byte, size_t len)
{
	size_t chunk;

	if (!glue_mem_contains(mem, gpa, len))
		return fault(gpa, len);
	for (; len; gpa += chunk, len -= chunk) {
		uint8_t *host = chunk_at(mem, gpa, len, &chunk);

		memset(host, byte, chunk);
	}
	return 0;
}

/* x86 is little-endian, so the typed accessors are plain copies. */
#define GLUE_MEM_ACCESSORS(bits)                                                                 \
	int glue_mem_read_u##bits(const struct glue_mem *mem, uint64_t gpa, uint##bits##_t *out) \
	{                                                                                        \
		return glue_mem_read(mem, gpa, out, sizeof(*out));                               \
	}                                                                                        \
	int glue_mem_write_u##bits(struct glue_mem *mem, uint64_t gpa, uint##bits##_t v)         \
	{                                                                                        \
		return glue_mem_write(mem, gpa, &v, sizeof(v));                                  \
	}

GLUE_MEM_ACCESSORS(8)
GLUE_MEM_ACCESSORS(16)
GLUE_MEM_ACCESSORS(32)
GLUE_MEM_ACCESSORS(64)
