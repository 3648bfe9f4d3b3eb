// SPDX-License-Identifier: MIT
/* ELF kernel parsing and loading (lib/loader/elf.c): ELF64, and ELF32 PVH. */
#include <criterion/criterion.h>
#include <string.h>

#include <glue/error.h>
#include <glue/memory.h>

#include "loader/elf.h"
#include "loader_fixtures.h"

Test(elf, parses_minimal_executable)
{
	struct elf_opts o = {.paddr = 0x100000, .code_size = 1000, .bss = 5000};
	struct buf b = make_elf(&o);
	struct glue_elf e;

	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "t"), 0, "%s", glue_error_last());
	cr_assert_eq(e.entry, 0x100000);
	cr_assert_eq(e.nloads, 1);
	cr_assert_eq(e.loads[0].paddr, 0x100000);
	cr_assert_eq(e.loads[0].offset, ELF_CODE_OFFSET);
	cr_assert_eq(e.loads[0].filesz, 1000);
	cr_assert_eq(e.loads[0].memsz, 6000);
	cr_assert_eq(e.start, 0x100000);
	cr_assert_eq(e.end, 0x100000 + 6000);
	cr_assert_not(e.has_pvh);
	buf_free(&b);
}

Test(elf, pvh_note_with_4_and_8_byte_values)
{
	for (int sz = 4; sz <= 8; sz += 4) {
		struct elf_opts o = {.paddr = 0x1000000, .pvh = sz, .pvh_entry = 0x1000040};
		struct buf b = make_elf(&o);
		struct glue_elf e;

		cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "t"), 0, "%s", glue_error_last());
		cr_assert(e.has_pvh);
		cr_assert_eq(e.pvh_entry, 0x1000040);
		cr_assert_eq(e.entry, 0x1000000);
		buf_free(&b);
	}
}

Test(elf, pvh_entry_outside_segments_is_refused)
{
	struct elf_opts o = {.paddr = 0x1000000, .pvh = 4, .pvh_entry = 0x5000};
	struct buf b = make_elf(&o);
	struct glue_elf e;

	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "kernel 'k'"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "PVH entry 0x5000"), "%s", glue_error_last());
	buf_free(&b);
}

Test(elf, virtual_entry_is_translated_through_its_segment)
{
	struct elf_opts o = {
		.paddr = 0x1000000,
		.vaddr = 0xffffffff81000000ULL,
		.entry = 0xffffffff81000123ULL,
	};
	struct buf b = make_elf(&o);
	struct glue_elf e;

	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "t"), 0, "%s", glue_error_last());
	cr_assert_eq(e.entry, 0x1000123);
	buf_free(&b);
}

Test(elf, entry_outside_every_segment_is_refused)
{
	struct elf_opts o = {.paddr = 0x1000000, .entry = 0x2000000};
	struct buf b = make_elf(&o);
	struct glue_elf e;

	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "kernel 'k'"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "kernel 'k': entry point 0x2000000 is outside"), "%s",
		  glue_error_last());
	buf_free(&b);
}

Test(elf, wrong_class_machine_or_type_is_not_a_kernel)
{
	struct elf_opts o = {0};
	struct buf b = make_elf(&o);
	struct glue_elf e;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b.p;

	eh->e_machine = EM_AARCH64;
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -ENOEXEC);
	cr_assert(strstr(glue_error_last(), "not x86-64"), "%s", glue_error_last());
	eh->e_machine = EM_X86_64;
	eh->e_type = ET_DYN;
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -ENOEXEC);
	cr_assert(strstr(glue_error_last(), "not an executable"), "%s", glue_error_last());
	eh->e_type = ET_EXEC;
	eh->e_ident[EI_CLASS] = 3;
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -ENOEXEC);
	cr_assert(strstr(glue_error_last(), "class 3 is neither ELF32 nor ELF64"), "%s",
		  glue_error_last());
	buf_free(&b);
}

Test(elf, elf32_pvh_kernel_parses_and_loads)
{
	struct buf b = make_elf32(0x1000000, 0x1000010, 0x80);
	struct glue_mem *mem;
	struct glue_elf e;
	uint8_t got[0x80];

	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "t"), 0, "%s", glue_error_last());
	cr_assert(e.elf32);
	cr_assert(e.has_pvh);
	cr_assert_eq(e.pvh_entry, 0x1000010);
	cr_assert_eq(e.entry, 0x1000000);
	cr_assert_eq(e.nloads, 1);
	cr_assert_eq(e.loads[0].filesz, 0x80);
	cr_assert_eq(e.loads[0].memsz, 0x1080);
	cr_assert_eq(e.end, 0x1001080);
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 64 << 20, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_elf_load(mem, &e, b.p, b.len, "t"), 0, "%s", glue_error_last());
	cr_assert_eq(glue_mem_read(mem, 0x1000000, got, sizeof(got)), 0);
	cr_assert_arr_eq(got, b.p + 0x100, sizeof(got));
	glue_mem_free(mem);
	buf_free(&b);
}

Test(elf, elf32_is_validated_like_elf64)
{
	struct buf b = make_elf32(0x1000000, 0x1000010, 0x80);
	Elf32_Ehdr *eh = (Elf32_Ehdr *)b.p;
	Elf32_Phdr *ph = (Elf32_Phdr *)(b.p + sizeof(*eh));
	struct glue_elf e;

	eh->e_machine = EM_X86_64;
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -ENOEXEC);
	cr_assert(strstr(glue_error_last(), "ELF32 machine 62 is not i386"), "%s",
		  glue_error_last());
	eh->e_machine = EM_386;
	eh->e_phentsize = sizeof(Elf64_Phdr);
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "program header size 56 (expected 32)"), "%s",
		  glue_error_last());
	eh->e_phentsize = sizeof(Elf32_Phdr);
	ph[0].p_filesz = 0x100000; /* past the end of the file */
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "truncated"), "%s", glue_error_last());
	ph[0].p_filesz = 0x80;
	ph[0].p_paddr = 0xfffff000; /* paddr + memsz wraps past 4 GiB: fine in 64 bits */
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "PVH entry 0x1000010 is outside"), "%s",
		  glue_error_last());
	/* every truncation of the headers is refused, never read past */
	ph[0].p_paddr = 0x1000000;
	for (size_t len = 0; len < sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr) + 20; len++)
		cr_assert_neq(glue_elf_parse(&e, b.p, len, "k"), 0, "length %zu accepted", len);
	buf_free(&b);
}

Test(elf, segment_beyond_file_and_filesz_over_memsz)
{
	struct elf_opts o = {0};
	struct buf b = make_elf(&o);
	struct glue_elf e;
	Elf64_Phdr *ph = (Elf64_Phdr *)(b.p + sizeof(Elf64_Ehdr));

	ph->p_offset = UINT64_MAX - 10; /* offset + size wraps */
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "truncated"), "%s", glue_error_last());
	ph->p_offset = ELF_CODE_OFFSET;
	ph->p_memsz = ph->p_filesz - 1;
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "exceeds memory size"), "%s", glue_error_last());
	ph->p_memsz = UINT64_MAX;
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "wraps"), "%s", glue_error_last());
	buf_free(&b);
}

Test(elf, malformed_note_is_an_error)
{
	struct elf_opts o = {.pvh = 4};
	struct buf b = make_elf(&o);
	struct glue_elf e;
	uint8_t *note = b.p + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
	uint32_t big = 0xfffffff0;

	memcpy(note + 4, &big, 4); /* descsz far past the segment */
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), -EINVAL);
	cr_assert(strstr(glue_error_last(), "malformed ELF note"), "%s", glue_error_last());
	buf_free(&b);
}

Test(elf, every_truncation_is_an_error)
{
	struct elf_opts o = {.pvh = 8, .code_size = 600};
	struct buf b = make_elf(&o);

	for (size_t len = 0; len < b.len; len++) {
		struct glue_elf e;
		uint8_t *copy = malloc(len + 1); /* exact size: ASan catches overreads */

		memcpy(copy, b.p, len);
		glue_error_clear();
		cr_assert_lt(glue_elf_parse(&e, copy, len, "k"), 0, "length %zu accepted", len);
		cr_assert_neq(glue_error_last()[0], '\0');
		free(copy);
	}
	buf_free(&b);
}

/* Flip every header byte to a few values: parse must either fail with a
 * message or describe segments that lie inside the file. */
Test(elf, flipped_bytes_never_escape_the_file)
{
	static const uint8_t vals[] = {0x00, 0xff, 0x80, 0x01, 0x7f};
	struct elf_opts o = {.pvh = 8, .code_size = 64};
	struct buf b = make_elf(&o);
	size_t hdr = ELF_CODE_OFFSET;

	for (size_t i = 0; i < hdr; i++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			uint8_t *copy = malloc(b.len);
			struct glue_elf e;
			int r;

			memcpy(copy, b.p, b.len);
			copy[i] ^= vals[v] ? vals[v] : copy[i];
			r = glue_elf_parse(&e, copy, b.len, "k");
			if (r < 0) {
				cr_assert_neq(glue_error_last()[0], '\0');
			} else {
				bool entry_in = false;

				for (size_t s = 0; s < e.nloads; s++) {
					cr_assert_leq(e.loads[s].offset + e.loads[s].filesz, b.len);
					cr_assert_leq(e.loads[s].filesz, e.loads[s].memsz);
					if (e.entry >= e.loads[s].paddr &&
					    e.entry - e.loads[s].paddr < e.loads[s].memsz)
						entry_in = true;
				}
				cr_assert(entry_in, "byte %zu: entry 0x%lx outside segments", i,
					  (unsigned long)e.entry);
			}
			free(copy);
		}
	}
	buf_free(&b);
}

Test(elf, load_copies_segment_and_zeroes_bss)
{
	struct elf_opts o = {.paddr = 0x200000, .code_size = 3000, .bss = 9000};
	struct buf b = make_elf(&o);
	struct glue_mem *mem;
	struct glue_elf e;
	uint8_t *got;

	cr_assert_eq(glue_mem_new_x86(&mem, 16 << 20), 0, "%s", glue_error_last());
	cr_assert_eq(glue_mem_fill(mem, 0x200000, 0xee, 0x4000), 0);
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "k"), 0);
	cr_assert_eq(glue_elf_load(mem, &e, b.p, b.len, "k"), 0, "%s", glue_error_last());
	got = malloc(12000);
	cr_assert_eq(glue_mem_read(mem, 0x200000, got, 12000), 0);
	cr_assert_arr_eq(got, b.p + ELF_CODE_OFFSET, 3000);
	for (size_t i = 3000; i < 12000; i++)
		cr_assert_eq(got[i], 0, "bss byte %zu not zeroed", i);
	free(got);
	glue_mem_free(mem);
	buf_free(&b);
}

Test(elf, load_outside_guest_memory_fails_cleanly)
{
	struct glue_mem *mem;
	struct glue_elf e;
	struct elf_opts o = {.code_size = 4096};
	struct buf b;

	cr_assert_eq(glue_mem_new_x86(&mem, 16 << 20), 0);
	o.paddr = glue_mem_end(mem) - 0x800; /* straddles the end of RAM */
	b = make_elf(&o);
	cr_assert_eq(glue_elf_parse(&e, b.p, b.len, "kernel 'k'"), 0);
	cr_assert_eq(glue_elf_load(mem, &e, b.p, b.len, "kernel 'k'"), -ENOMEM);
	cr_assert(strstr(glue_error_last(), "outside guest memory"), "%s", glue_error_last());
	glue_mem_free(mem);
	buf_free(&b);
}
