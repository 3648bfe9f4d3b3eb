// SPDX-License-Identifier: MIT
/* ELF kernel images (ELF64 x86-64, and ELF32 i386 for PVH): parse
 * defensively, load by physical address. */
#include <elf.h>
#include <inttypes.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "loader/bootparams.h"
#include "loader/elf.h"

/* More program headers than any kernel has; bounds the work a bad file causes. */
#define ELF_MAX_PHDRS 256

bool glue_elf_is_elf(const void *data, size_t size)
{
	return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* True when [off, off + len) lies inside a buffer of size bytes. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Look through one PT_NOTE segment for Xen's PHYS32_ENTRY note. */
static int scan_notes(struct glue_elf *out, const uint8_t *p, uint64_t len, uint64_t align,
		      const char *what)
{
	uint64_t pos = 0;

	/* Linux pads note fields to 4 bytes even in ELF64; honour 8 when asked. */
	if (align != 8)
		align = 4;
	while (len - pos >= sizeof(Elf64_Nhdr)) {
		uint32_t namesz = get_u32(p + pos);
		uint32_t descsz = get_u32(p + pos + 4);
		uint32_t type = get_u32(p + pos + 8);
		uint64_t name_off = pos + sizeof(Elf64_Nhdr);
		uint64_t desc_off = name_off + GLUE_ALIGN_UP((uint64_t)namesz, align);
		uint64_t next = desc_off + GLUE_ALIGN_UP((uint64_t)descsz, align);

		if (desc_off > len || descsz > len - desc_off)
			return glue_err(-EINVAL,
					"%s: malformed ELF note at offset 0x%" PRIx64
					" (name %u bytes, desc %u bytes, note segment %" PRIu64
					" bytes)",
					what, pos, namesz, descsz, len);
		if (type == GLUE_XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(p + name_off, "Xen", 4) == 0) {
			uint64_t e;

			if (descsz == 4)
				e = get_u32(p + desc_off);
			else if (descsz == 8)
				e = get_u64(p + desc_off);
			else
				return glue_err(-EINVAL,
						"%s: Xen PVH entry note has a %u-byte value "
						"(expected 4 or 8)",
						what, descsz);
			if (e >= 1ULL << 32)
				return glue_err(-EINVAL,
						"%s: Xen PVH entry 0x%" PRIx64 " is above 4 GiB",
						what, e);
			out->pvh_entry = e;
			out->has_pvh = true;
		}
		if (next >= len)
			break;
		pos = next;
	}
	return 0;
}

/* Index of the PT_LOAD containing physical (or, if virt, virtual) address a; -1 if none. */
static int find_load(const struct glue_elf *elf, const uint64_t *vaddrs, uint64_t a, bool virt)
{
	for (size_t i = 0; i < elf->nloads; i++) {
		uint64_t base = virt ? vaddrs[i] : elf->loads[i].paddr;

		if (a >= base && a - base < elf->loads[i].memsz)
			return (int)i;
	}
	return -1;
}

/* The fields of an ELF header or program header that we use, whichever the
 * class: ELF32 fields widen losslessly. */
struct ehdr {
	uint16_t type, machine, phentsize, phnum;
	uint64_t entry, phoff;
};

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

static uint16_t get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void read_ehdr(struct ehdr *h, const uint8_t *d, bool is32)
{
	h->type = get_u16(d + 16);
	h->machine = get_u16(d + 18);
	if (is32) {
		h->entry = get_u32(d + 24);
		h->phoff = get_u32(d + 28);
		h->phentsize = get_u16(d + 42);
		h->phnum = get_u16(d + 44);
	} else {
		h->entry = get_u64(d + 24);
		h->phoff = get_u64(d + 32);
		h->phentsize = get_u16(d + 54);
		h->phnum = get_u16(d + 56);
	}
}

static void read_phdr(struct phdr *ph, const uint8_t *p, bool is32)
{
	ph->type = get_u32(p);
	if (is32) {
		ph->offset = get_u32(p + 4);
		ph->vaddr = get_u32(p + 8);
		ph->paddr = get_u32(p + 12);
		ph->filesz = get_u32(p + 16);
		ph->memsz = get_u32(p + 20);
		ph->align = get_u32(p + 28);
	} else {
		ph->offset = get_u64(p + 8);
		ph->vaddr = get_u64(p + 16);
		ph->paddr = get_u64(p + 24);
		ph->filesz = get_u64(p + 32);
		ph->memsz = get_u64(p + 40);
		ph->align = get_u64(p + 48);
	}
}

int glue_elf_parse(struct glue_elf *out, const void *data, size_t size, const char *what)
{
	const uint8_t *d = data;
	uint64_t vaddrs[GLUE_ELF_MAX_LOADS];
	size_t ehsize, phsize;
	struct ehdr eh;
	bool is32;
	int i;

	memset(out, 0, sizeof(*out));
	if (!glue_elf_is_elf(data, size))
		return glue_err(-ENOEXEC, "%s: not an ELF file", what);
	if (size < EI_NIDENT)
		return glue_err(-EINVAL, "%s: file is truncated (%zu bytes)", what, size);
	if (d[EI_CLASS] != ELFCLASS64 && d[EI_CLASS] != ELFCLASS32)
		return glue_err(-ENOEXEC, "%s: ELF class %u is neither ELF32 nor ELF64", what,
				d[EI_CLASS]);
	is32 = d[EI_CLASS] == ELFCLASS32;
	ehsize = is32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr);
	phsize = is32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
	if (size < ehsize)
		return glue_err(-EINVAL,
				"%s: file is truncated (%zu bytes, an ELF header needs %zu)", what,
				size, ehsize);
	read_ehdr(&eh, d, is32);
	out->elf32 = is32;
	if (d[EI_DATA] != ELFDATA2LSB)
		return glue_err(-ENOEXEC, "%s: ELF file is not little-endian", what);
	if (!is32 && eh.machine != EM_X86_64)
		return glue_err(-ENOEXEC, "%s: ELF machine %u is not x86-64", what, eh.machine);
	if (is32 && eh.machine != EM_386)
		return glue_err(-ENOEXEC, "%s: ELF32 machine %u is not i386", what, eh.machine);
	if (eh.type != ET_EXEC)
		return glue_err(-ENOEXEC, "%s: ELF type %u is not an executable", what, eh.type);
	if (eh.phentsize != phsize)
		return glue_err(-EINVAL, "%s: ELF program header size %u (expected %zu)", what,
				eh.phentsize, phsize);
	if (eh.phnum == 0 || eh.phnum > ELF_MAX_PHDRS)
		return glue_err(-EINVAL, "%s: ELF has %u program headers (expected 1 to %d)", what,
				eh.phnum, ELF_MAX_PHDRS);
	if (!in_file(eh.phoff, (uint64_t)eh.phnum * phsize, size))
		return glue_err(-EINVAL,
				"%s: file is truncated (%u program headers at offset 0x%" PRIx64
				", file has %zu bytes)",
				what, eh.phnum, eh.phoff, size);

	out->start = UINT64_MAX;
	for (i = 0; i < eh.phnum; i++) {
		struct phdr ph;

		read_phdr(&ph, d + eh.phoff + (uint64_t)i * phsize, is32);
		if (ph.type != PT_LOAD && ph.type != PT_NOTE)
			continue;
		if (!in_file(ph.offset, ph.filesz, size))
			return glue_err(-EINVAL,
					"%s: file is truncated (program header %d: %" PRIu64
					" bytes at offset 0x%" PRIx64 ", file has %zu bytes)",
					what, i, ph.filesz, ph.offset, size);
		if (ph.type == PT_NOTE) {
			int r = scan_notes(out, d + ph.offset, ph.filesz, ph.align, what);

			if (r < 0)
				return r;
			continue;
		}
		if (ph.memsz == 0)
			continue;
		if (ph.filesz > ph.memsz)
			return glue_err(-EINVAL,
					"%s: program header %d: file size 0x%" PRIx64
					" exceeds memory size 0x%" PRIx64,
					what, i, ph.filesz, ph.memsz);
		if (!glue_range_ok(ph.paddr, ph.memsz) || !glue_range_ok(ph.vaddr, ph.memsz))
			return glue_err(-EINVAL,
					"%s: program header %d: segment at 0x%" PRIx64
					" (0x%" PRIx64 " bytes) wraps around the address space",
					what, i, ph.paddr, ph.memsz);
		if (out->nloads == GLUE_ELF_MAX_LOADS)
			return glue_err(-EINVAL, "%s: more than %d loadable segments", what,
					GLUE_ELF_MAX_LOADS);
		vaddrs[out->nloads] = ph.vaddr;
		out->loads[out->nloads++] = (struct glue_elf_load){
			.offset = ph.offset,
			.filesz = ph.filesz,
			.paddr = ph.paddr,
			.memsz = ph.memsz,
		};
		out->start = GLUE_MIN(out->start, ph.paddr);
		out->end = GLUE_MAX(out->end, (uint64_t)(ph.paddr + ph.memsz));
	}
	if (out->nloads == 0)
		return glue_err(-EINVAL, "%s: ELF has no loadable segment", what);

	/* vmlinux's e_entry is physical; other images may give the high
	 * virtual alias, which maps through its segment's p_vaddr. */
	if (eh.entry < GLUE_ELF_KERNEL_VIRT_BASE && find_load(out, vaddrs, eh.entry, false) >= 0) {
		out->entry = eh.entry;
	} else {
		int s = find_load(out, vaddrs, eh.entry, true);

		if (s < 0)
			return glue_err(-EINVAL,
					"%s: entry point 0x%" PRIx64
					" is outside every loadable segment",
					what, (uint64_t)eh.entry);
		out->entry = out->loads[s].paddr + (eh.entry - vaddrs[s]);
	}
	if (out->has_pvh && find_load(out, vaddrs, out->pvh_entry, false) < 0)
		return glue_err(-EINVAL,
				"%s: Xen PVH entry 0x%" PRIx64 " is outside every loadable segment",
				what, out->pvh_entry);
	return 0;
}

int glue_elf_load(struct glue_mem *mem, const struct glue_elf *elf, const void *data, size_t size,
		  const char *what)
{
	const uint8_t *d = data;

	for (size_t i = 0; i < elf->nloads; i++) {
		const struct glue_elf_load *l = &elf->loads[i];
		int r;

		/* parse checked this; re-check so a mismatched buffer cannot overrun */
		if (!in_file(l->offset, l->filesz, size))
			return glue_err(-EINVAL, "%s: segment %zu lies outside the image", what, i);
		if (!glue_mem_contains(mem, l->paddr, l->memsz))
			return glue_err(-ENOMEM,
					"%s: segment at 0x%" PRIx64 "-0x%" PRIx64
					" is outside guest memory (RAM ends at 0x%" PRIx64 ")",
					what, l->paddr, l->paddr + l->memsz, glue_mem_end(mem));
		r = glue_mem_write(mem, l->paddr, d + l->offset, l->filesz);
		if (r == 0)
			r = glue_mem_fill(mem, l->paddr + l->filesz, 0, l->memsz - l->filesz);
		if (r < 0)
			return glue_err(r, "%s: cannot write segment at 0x%" PRIx64, what,
					l->paddr);
	}
	return 0;
}
