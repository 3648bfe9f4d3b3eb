// SPDX-License-Identifier: MIT
/* ELF64 x86-64 kernel images: parse defensively, load by physical address. */
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

int glue_elf_parse(struct glue_elf *out, const void *data, size_t size, const char *what)
{
	const uint8_t *d = data;
	uint64_t vaddrs[GLUE_ELF_MAX_LOADS];
	Elf64_Ehdr eh;
	int i;

	memset(out, 0, sizeof(*out));
	if (!glue_elf_is_elf(data, size))
		return glue_err(-ENOEXEC, "%s: not an ELF file", what);
	if (size < sizeof(eh))
		return glue_err(-EINVAL,
				"%s: file is truncated (%zu bytes, an ELF header needs %zu)", what,
				size, sizeof(eh));
	memcpy(&eh, d, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return glue_err(-ENOEXEC, "%s: ELF class %u is not ELF64", what,
				eh.e_ident[EI_CLASS]);
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return glue_err(-ENOEXEC, "%s: ELF file is not little-endian", what);
	if (eh.e_machine != EM_X86_64)
		return glue_err(-ENOEXEC, "%s: ELF machine %u is not x86-64", what, eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return glue_err(-ENOEXEC, "%s: ELF type %u is not an executable", what, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return glue_err(-EINVAL, "%s: ELF program header size %u (expected %zu)", what,
				eh.e_phentsize, sizeof(Elf64_Phdr));
	if (eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS)
		return glue_err(-EINVAL, "%s: ELF has %u program headers (expected 1 to %d)", what,
				eh.e_phnum, ELF_MAX_PHDRS);
	if (!in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), size))
		return glue_err(-EINVAL,
				"%s: file is truncated (%u program headers at offset 0x%" PRIx64
				", file has %zu bytes)",
				what, eh.e_phnum, (uint64_t)eh.e_phoff, size);

	out->start = UINT64_MAX;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, d + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (!in_file(ph.p_offset, ph.p_filesz, size))
			return glue_err(-EINVAL,
					"%s: file is truncated (program header %d: %" PRIu64
					" bytes at offset 0x%" PRIx64 ", file has %zu bytes)",
					what, i, (uint64_t)ph.p_filesz, (uint64_t)ph.p_offset,
					size);
		if (ph.p_type == PT_NOTE) {
			int r = scan_notes(out, d + ph.p_offset, ph.p_filesz, ph.p_align, what);

			if (r < 0)
				return r;
			continue;
		}
		if (ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return glue_err(-EINVAL,
					"%s: program header %d: file size 0x%" PRIx64
					" exceeds memory size 0x%" PRIx64,
					what, i, (uint64_t)ph.p_filesz, (uint64_t)ph.p_memsz);
		if (!glue_range_ok(ph.p_paddr, ph.p_memsz) ||
		    !glue_range_ok(ph.p_vaddr, ph.p_memsz))
			return glue_err(-EINVAL,
					"%s: program header %d: segment at 0x%" PRIx64
					" (0x%" PRIx64 " bytes) wraps around the address space",
					what, i, (uint64_t)ph.p_paddr, (uint64_t)ph.p_memsz);
		if (out->nloads == GLUE_ELF_MAX_LOADS)
			return glue_err(-EINVAL, "%s: more than %d loadable segments", what,
					GLUE_ELF_MAX_LOADS);
		vaddrs[out->nloads] = ph.p_vaddr;
		out->loads[out->nloads++] = (struct glue_elf_load){
			.offset = ph.p_offset,
			.filesz = ph.p_filesz,
			.paddr = ph.p_paddr,
			.memsz = ph.p_memsz,
		};
		out->start = GLUE_MIN(out->start, (uint64_t)ph.p_paddr);
		out->end = GLUE_MAX(out->end, (uint64_t)(ph.p_paddr + ph.p_memsz));
	}
	if (out->nloads == 0)
		return glue_err(-EINVAL, "%s: ELF has no loadable segment", what);

	/* vmlinux's e_entry is physical; other images may give the high
	 * virtual alias, which maps through its segment's p_vaddr. */
	if (eh.e_entry < GLUE_ELF_KERNEL_VIRT_BASE &&
	    find_load(out, vaddrs, eh.e_entry, false) >= 0) {
		out->entry = eh.e_entry;
	} else {
		int s = find_load(out, vaddrs, eh.e_entry, true);

		if (s < 0)
			return glue_err(-EINVAL,
					"%s: entry point 0x%" PRIx64
					" is outside every loadable segment",
					what, (uint64_t)eh.e_entry);
		out->entry = out->loads[s].paddr + (eh.e_entry - vaddrs[s]);
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
