// SPDX-License-Identifier: MIT
/*
 * Placing a kernel in guest memory: pick the entry path, work out the
 * layout, check it all fits, then write the kernel, initrd, command line and
 * boot parameters. Nothing is written before the layout is known to fit.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "loader/kernel.h"

#define FOUR_GIB (1ULL << 32)

static const char *const mode_names[] = {
	[GLUE_BOOT_AUTO] = "auto", [GLUE_BOOT_UNPACK] = "unpack", [GLUE_BOOT_BZIMAGE] = "bzimage",
	[GLUE_BOOT_PVH] = "pvh",   [GLUE_BOOT_ELF64] = "elf64",
};

const char *glue_boot_mode_name(enum glue_boot_mode mode)
{
	if ((unsigned int)mode >= GLUE_ARRAY_SIZE(mode_names))
		return NULL;
	return mode_names[mode];
}

int glue_boot_mode_parse(const char *name, enum glue_boot_mode *out)
{
	for (size_t i = 0; name && i < GLUE_ARRAY_SIZE(mode_names); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*out = (enum glue_boot_mode)i;
			return 0;
		}
	}
	return glue_err(-EINVAL,
			"unknown boot mode '%s' (expected auto, unpack, bzimage, pvh or elf64)",
			name ? name : "");
}

bool glue_loader_ram_contains(const struct glue_mem *mem, uint64_t gpa, uint64_t len)
{
	size_t count = glue_mem_region_count(mem);

	if (!glue_range_ok(gpa, len))
		return false;
	/* walk the sorted regions, consuming [gpa, gpa + len) from the front */
	for (size_t i = 0; i < count && len > 0; i++) {
		struct glue_mem_region r;
		uint64_t take;

		if (glue_mem_region_get(mem, i, &r) < 0 || r.type != GLUE_MEM_RAM)
			continue;
		if (gpa < r.gpa || gpa - r.gpa >= r.size)
			continue;
		take = GLUE_MIN(len, r.size - (gpa - r.gpa));
		gpa += take;
		len -= take;
	}
	return len == 0;
}

int glue_loader_place_initrd(const struct glue_mem *mem, uint64_t size, uint64_t max_addr,
			     uint64_t kernel_start, uint64_t kernel_end, uint64_t *gpa)
{
	uint64_t limit = GLUE_MIN(max_addr, FOUR_GIB - 1) + 1;
	size_t i = glue_mem_region_count(mem);

	if (size == 0)
		return glue_err(-EINVAL, "initrd is empty");
	while (i-- > 0) {
		struct glue_mem_region r;
		uint64_t lo, hi;

		if (glue_mem_region_get(mem, i, &r) < 0 || r.type != GLUE_MEM_RAM)
			continue;
		/* below 1 MiB live the boot parameters and command line */
		lo = GLUE_MAX(r.gpa, GLUE_BOOT_BZIMAGE_LOAD_GPA);
		hi = GLUE_MIN(r.gpa + r.size, limit);
		while (hi > lo && hi - lo >= size) {
			uint64_t start = GLUE_ALIGN_DOWN(hi - size, 4096ULL);

			if (start < lo)
				break;
			if (start < kernel_end && kernel_start < start + size) {
				hi = kernel_start; /* try again just below the kernel */
				continue;
			}
			*gpa = start;
			return 0;
		}
	}
	return glue_err(-ENOMEM,
			"initrd of %" PRIu64 " bytes does not fit in guest RAM below 0x%" PRIx64
			" clear of the kernel at 0x%" PRIx64 "-0x%" PRIx64,
			size, limit, kernel_start, kernel_end);
}

/* Everything decided before guest memory is touched. */
struct plan {
	const struct glue_kernel *k;
	enum glue_boot_mode mode;
	enum glue_entry_protocol protocol;
	uint64_t entry;
	uint64_t kernel_start, kernel_end;
	uint64_t load_gpa;	    /* bzImage: where the protected-mode code goes */
	const struct glue_elf *elf; /* ELF paths: the image to load */
	const uint8_t *elf_data;
	size_t elf_size;
	const void *setup_header; /* from the bzImage, or NULL to construct one */
	size_t setup_header_len;
	uint32_t cmdline_max;
	uint64_t initrd_addr_max;
	const char *compression;
	bool span_is_kernel; /* [kernel_start, kernel_end) is all the kernel's (init_size) */
	char what[300];	     /* "kernel 'x'" or "kernel 'x' (unpacked lz4 payload)" */
};

/* bzImage's own 64-bit entry: where its code goes and what it will use. */
static int plan_bzimage(struct plan *p, const struct glue_mem *mem)
{
	const struct glue_bzimage *bz = &p->k->bz;
	uint64_t load = GLUE_BOOT_BZIMAGE_LOAD_GPA, run, pref = bz->pref_address;
	uint64_t init = GLUE_MAX(bz->init_size, bz->pm_size);

	/* prepare() made sure of a 64-bit entry */
	if (bz->relocatable) {
		/* Loading at pref_address spares the kernel a move; the kernel
		 * runs at its load address rounded up to kernel_alignment but
		 * never below pref_address (arch/x86/boot/compressed/head_64.S). */
		if (pref >= GLUE_BOOT_BZIMAGE_LOAD_GPA &&
		    GLUE_IS_ALIGNED(pref, (uint64_t)bz->kernel_alignment) &&
		    glue_loader_ram_contains(mem, pref, init))
			load = pref;
		run = GLUE_ALIGN_UP(load, (uint64_t)bz->kernel_alignment);
		run = GLUE_MAX(run, pref);
	} else {
		if (pref < GLUE_BOOT_BZIMAGE_LOAD_GPA)
			return glue_err(-EINVAL,
					"%s: non-relocatable kernel wants to run at 0x%" PRIx64
					", below 1 MiB",
					p->what, pref);
		run = pref;
	}
	if (!glue_range_ok(run, init))
		return glue_err(-EINVAL, "%s: init_size 0x%" PRIx64 " at 0x%" PRIx64 " overflows",
				p->what, init, run);
	p->load_gpa = load;
	p->span_is_kernel = true;
	p->kernel_start = GLUE_MIN(load, run);
	p->kernel_end = GLUE_MAX(load + bz->pm_size, run + init);
	p->entry = load + 0x200;
	p->protocol = GLUE_ENTRY_LINUX64;
	return 0;
}

/* Entry paths through an ELF image (the file itself or an unpacked payload). */
static int plan_elf(struct plan *p, const struct glue_elf *elf, const uint8_t *data, size_t size,
		    bool pvh)
{
	p->elf = elf;
	p->elf_data = data;
	p->elf_size = size;
	p->kernel_start = elf->start;
	p->kernel_end = elf->end;
	if (pvh) {
		if (!elf->has_pvh)
			return glue_err(-EINVAL,
					"%s: no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
					"use the elf64 boot mode",
					p->what);
		p->entry = elf->pvh_entry;
		p->protocol = GLUE_ENTRY_PVH;
	} else if (elf->elf32) {
		return glue_err(-EINVAL,
				"%s: a 32-bit ELF kernel boots only through its Xen PVH entry "
				"note (XEN_ELFNOTE_PHYS32_ENTRY), and it has none",
				p->what);
	} else {
		p->entry = elf->entry;
		p->protocol = GLUE_ENTRY_LINUX64;
	}
	return 0;
}

static int read_initrd(const char *path, int *fd_out, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return glue_err_sys(-errno, "cannot open initrd '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return glue_err(-EINVAL, "initrd '%s': not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return glue_err(-EINVAL, "initrd '%s': file is empty", path);
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

int glue_loader_check_initrd(const char *path, uint64_t *size)
{
	uint64_t n;
	int fd, r = read_initrd(path, &fd, &n);

	if (r < 0)
		return r;
	close(fd);
	if (size)
		*size = n;
	return 0;
}

static int copy_initrd(struct glue_mem *mem, uint64_t gpa, int fd, uint64_t size, const char *path)
{
	uint8_t *dst = glue_mem_ptr(mem, gpa, size);
	uint64_t got = 0;

	if (!dst) /* placement keeps it inside one region; be sure anyway */
		return glue_err(-EFAULT, "initrd '%s': 0x%" PRIx64 " is not guest memory", path,
				gpa);
	while (got < size) {
		ssize_t n =
			pread(fd, dst + got, GLUE_MIN(size - got, (uint64_t)1 << 30), (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return glue_err_sys(-errno, "cannot read initrd '%s'", path);
		if (n == 0)
			return glue_err(-EIO, "initrd '%s': file shrank while being read", path);
		got += (uint64_t)n;
	}
	return 0;
}

/* printf onto the end of out->description; long text is cut, that is fine. */
__attribute__((format(printf, 2, 3))) static void describe_add(struct glue_boot_info *out,
							       const char *fmt, ...)
{
	size_t n = strlen(out->description);
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(out->description + n, sizeof(out->description) - n, fmt, ap) < 0)
		out->description[n] = '\0';
	va_end(ap);
}

static void describe(const struct plan *p, struct glue_boot_info *out)
{
	const struct glue_kernel *k = p->k;

	out->description[0] = '\0';
	if (k->format == GLUE_KERNEL_ELF) {
		describe_add(out, "ELF kernel");
	} else {
		/* the version string's first word: "6.1.0-47-cloud-amd64" */
		describe_add(out, "bzImage");
		if (k->version)
			describe_add(out, " %.*s", (int)GLUE_MIN(strcspn(k->version, " "), 48),
				     k->version);
		if (p->elf)
			describe_add(out, ", %s payload unpacked by glue", p->compression);
		else
			describe_add(out, " at 0x%" PRIx64 ", own decompressor", p->load_gpa);
	}
	describe_add(out, ", %s entry 0x%" PRIx64, p->protocol == GLUE_ENTRY_PVH ? "PVH" : "64-bit",
		     p->entry);
	if (out->initrd_size)
		describe_add(out, ", initrd at 0x%" PRIx64, out->initrd_gpa);
}

/* [start, end) of the kernel must be RAM and clear of the low boot area. */
static int check_kernel_range(const struct plan *p, const struct glue_mem *mem, uint64_t start,
			      uint64_t end, size_t cmdlen)
{
	if (!glue_loader_ram_contains(mem, start, end - start))
		return glue_err(-ENOMEM,
				"%s needs guest RAM at 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64
				" MiB%s); guest RAM is %" PRIu64 " MiB",
				p->what, start, end,
				(uint64_t)((end - start + GLUE_MiB - 1) / GLUE_MiB),
				p->span_is_kernel ? ", init_size included" : "",
				(uint64_t)(glue_mem_ram_size(mem) / GLUE_MiB));
	/* The low boot area is glue's (boot GDT at 0x500, boot parameters,
	 * page tables, command line): a kernel placed over it is clobbered. */
	if (start < GLUE_BOOT_CMDLINE_GPA + cmdlen + 1)
		return glue_err(-EINVAL,
				"%s at 0x%" PRIx64 "-0x%" PRIx64
				" overlaps glue's boot area at 0x0-0x%llx (boot GDT, boot "
				"parameters, page tables, command line)",
				p->what, start, end, GLUE_BOOT_CMDLINE_GPA + cmdlen + 1);
	return 0;
}

static int load(struct glue_mem *mem, struct plan *p, const struct glue_boot_config *cfg,
		struct glue_boot_info *out)
{
	const struct glue_kernel *k = p->k;
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	const char *initrd_name = cfg->initrd_path ? cfg->initrd_path : "<buffer>";
	size_t cmdlen = strlen(cmdline);
	uint64_t initrd_size = 0, initrd_gpa = 0;
	int fd = -1, r;

	if (!glue_mem_contains(mem, GLUE_BOOT_CMDLINE_GPA, cmdlen + 1) ||
	    !glue_mem_contains(mem, GLUE_BOOT_PVH_INFO_GPA, 0x2000))
		return glue_err(-ENOMEM, "guest memory lacks the boot area at 0x%llx-0x%llx",
				GLUE_BOOT_PVH_INFO_GPA, GLUE_BOOT_CMDLINE_GPA + cmdlen + 1);
	if (p->elf && !p->span_is_kernel) {
		/* a plain ELF may leave holes between its segments */
		for (size_t i = 0; i < p->elf->nloads; i++) {
			const struct glue_elf_load *l = &p->elf->loads[i];

			r = check_kernel_range(p, mem, l->paddr, l->paddr + l->memsz, cmdlen);
			if (r < 0)
				return r;
		}
	} else {
		r = check_kernel_range(p, mem, p->kernel_start, p->kernel_end, cmdlen);
		if (r < 0)
			return r;
	}

	if (cfg->initrd_path) {
		r = read_initrd(cfg->initrd_path, &fd, &initrd_size);
		if (r < 0)
			return r;
	} else if (cfg->initrd_data && cfg->initrd_size) {
		initrd_size = cfg->initrd_size;
	}
	if (initrd_size) {
		r = glue_loader_place_initrd(mem, initrd_size, p->initrd_addr_max, p->kernel_start,
					     p->kernel_end, &initrd_gpa);
		if (r < 0) {
			r = glue_err_wrap(r, "initrd '%s'", initrd_name);
			goto out;
		}
	}

	/* layout is settled: write */
	if (p->elf) {
		r = glue_elf_load(mem, p->elf, p->elf_data, p->elf_size, p->what);
	} else {
		r = glue_mem_write(mem, p->load_gpa, k->data + k->bz.setup_size, k->bz.pm_size);
		if (r < 0)
			r = glue_err(r, "%s: cannot write kernel at 0x%" PRIx64, p->what,
				     p->load_gpa);
	}
	if (r < 0)
		goto out;
	if (fd >= 0)
		r = copy_initrd(mem, initrd_gpa, fd, initrd_size, initrd_name);
	else if (initrd_size)
		r = glue_mem_write(mem, initrd_gpa, cfg->initrd_data, initrd_size);
	if (r < 0)
		goto out;
	r = glue_mem_write(mem, GLUE_BOOT_CMDLINE_GPA, cmdline, cmdlen + 1);
	if (r < 0)
		goto out;
	if (p->protocol == GLUE_ENTRY_PVH) {
		r = glue_bootparams_write_pvh(mem, GLUE_BOOT_CMDLINE_GPA, initrd_gpa, initrd_size,
					      cfg->acpi_rsdp_gpa);
		out->boot_params_gpa = GLUE_BOOT_PVH_INFO_GPA;
	} else {
		struct glue_zero_page_args zp = {
			.setup_header = p->setup_header,
			.setup_header_len = p->setup_header_len,
			.cmdline_gpa = GLUE_BOOT_CMDLINE_GPA,
			.cmdline_size = p->cmdline_max,
			.initrd_gpa = initrd_gpa,
			.initrd_size = initrd_size,
			.acpi_rsdp_gpa = cfg->acpi_rsdp_gpa,
		};

		r = glue_bootparams_write_zero_page(mem, GLUE_BOOT_ZERO_PAGE_GPA, &zp);
		out->boot_params_gpa = GLUE_BOOT_ZERO_PAGE_GPA;
	}
	if (r < 0)
		goto out;

	out->protocol = p->protocol;
	out->entry = p->entry;
	out->kernel_start = p->kernel_start;
	out->kernel_end = p->kernel_end;
	out->initrd_gpa = initrd_gpa;
	out->initrd_size = initrd_size;
	out->cmdline_gpa = GLUE_BOOT_CMDLINE_GPA;
	out->mode_used = p->mode;
	out->compression = p->compression;
	describe(p, out);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * What both glue_loader_check() and glue_loader_load() decide from the
 * kernel and the config alone: the mode, and whether this kernel and this
 * build can do it. Fills cfg (with defaults) and p.
 */
static int prepare(const struct glue_kernel *k, const struct glue_boot_config *cfg_in,
		   struct glue_boot_config *cfg, struct plan *p)
{
	enum glue_boot_mode mode;
	size_t cmdlen;

	glue_boot_config_init(cfg);
	if (cfg_in) {
		if (cfg_in->size < offsetof(struct glue_boot_config, initrd_data))
			return glue_err(-EINVAL,
					"glue_boot_config.size %u is too small (set it with "
					"glue_boot_config_init())",
					cfg_in->size);
		memcpy(cfg, cfg_in, GLUE_MIN((size_t)cfg_in->size, sizeof(*cfg)));
	}
	memset(p, 0, sizeof(*p));
	p->k = k;
	snprintf(p->what, sizeof(p->what), "kernel '%s'", k->name);
	mode = cfg->mode;
	if (!glue_boot_mode_name(mode))
		return glue_err(-EINVAL, "unknown boot mode %d", (int)mode);
	cmdlen = strlen(cfg->cmdline ? cfg->cmdline : "");

	if (k->format == GLUE_KERNEL_ELF) {
		if (mode == GLUE_BOOT_UNPACK || mode == GLUE_BOOT_BZIMAGE)
			return glue_err(-EINVAL,
					"%s: boot mode %s needs a bzImage, this is an ELF kernel",
					p->what, glue_boot_mode_name(mode));
		if (mode == GLUE_BOOT_AUTO)
			mode = k->elf.has_pvh ? GLUE_BOOT_PVH : GLUE_BOOT_ELF64;
		p->mode = mode;
		p->compression = "none";
		p->cmdline_max = GLUE_BOOT_CMDLINE_MAX_DEFAULT;
		p->initrd_addr_max = GLUE_ELF_INITRD_ADDR_MAX;
	} else {
		p->compression = glue_compression_name(k->bz.comp);
		p->cmdline_max = k->bz.cmdline_max;
		p->initrd_addr_max = k->bz.initrd_addr_max;
		p->setup_header = &k->bz.hdr;
		p->setup_header_len = k->bz.hdr_len;
		if (mode == GLUE_BOOT_AUTO)
			mode = glue_kernel_can_unpack(k) ? GLUE_BOOT_UNPACK : GLUE_BOOT_BZIMAGE;
		p->mode = mode;
		if (mode == GLUE_BOOT_BZIMAGE) {
			if (!k->bz.kernel64)
				return glue_err(-EINVAL,
						"%s: bzImage has no 64-bit entry point (protocol "
						"%u.%02u, no XLF_KERNEL_64)",
						p->what, k->bz.version >> 8, k->bz.version & 0xff);
		} else if (k->bz.comp == GLUE_COMP_UNKNOWN) {
			/* UNPACK, ELF64 and PVH enter the vmlinux inside the payload */
			return glue_err(-ENOTSUP,
					"%s: boot mode %s needs the payload unpacked, but its "
					"format is not recognised",
					p->what, glue_boot_mode_name(mode));
		} else if (!glue_compression_supported(k->bz.comp)) {
			return glue_err(-ENOTSUP,
					"%s: boot mode %s needs the %s payload unpacked, but this "
					"libglue was built without %s support",
					p->what, glue_boot_mode_name(mode), p->compression,
					p->compression);
		}
	}
	if (cmdlen > p->cmdline_max)
		return glue_err(-EINVAL, "command line is %zu bytes, %s accepts at most %u", cmdlen,
				p->what, p->cmdline_max);
	return 0;
}

int glue_loader_check(const struct glue_kernel *k, const struct glue_boot_config *cfg_in)
{
	struct glue_boot_config cfg;
	struct plan p;
	int r;

	r = prepare(k, cfg_in, &cfg, &p);
	/* An ELF kernel's entry is known now; a payload's only once unpacked. */
	if (r == 0 && k->format == GLUE_KERNEL_ELF)
		r = plan_elf(&p, &k->elf, k->data, k->size, p.mode == GLUE_BOOT_PVH);
	if (r == 0 && cfg.initrd_path)
		r = glue_loader_check_initrd(cfg.initrd_path, NULL);
	return r;
}

int glue_loader_load(struct glue_mem *mem, const struct glue_kernel *k,
		     const struct glue_boot_config *cfg_in, struct glue_boot_info *out)
{
	struct glue_boot_config cfg;
	struct plan p;
	struct glue_elf unpacked_elf;
	uint8_t *unpacked = NULL;
	size_t unpacked_size = 0;
	int r;

	memset(out, 0, sizeof(*out));
	r = prepare(k, cfg_in, &cfg, &p);
	if (r < 0)
		return r;
	if (k->format == GLUE_KERNEL_ELF) {
		r = plan_elf(&p, &k->elf, k->data, k->size, p.mode == GLUE_BOOT_PVH);
		if (r < 0)
			return r;
		return load(mem, &p, &cfg, out);
	}
	if (p.mode == GLUE_BOOT_BZIMAGE) {
		r = plan_bzimage(&p, mem);
		if (r < 0)
			return r;
		return load(mem, &p, &cfg, out);
	}

	/* UNPACK, ELF64 and PVH enter the vmlinux inside the payload */
	r = glue_decompress(k->bz.comp, k->data + k->bz.payload_offset, k->bz.payload_size,
			    GLUE_UNPACK_MAX, &unpacked, &unpacked_size);
	if (r < 0)
		return glue_err_wrap(r, "%s", p.what);
	snprintf(p.what, sizeof(p.what), "kernel '%s' (unpacked %s payload)", k->name,
		 p.compression);
	r = glue_elf_parse(&unpacked_elf, unpacked, unpacked_size, p.what);
	if (r == 0)
		r = plan_elf(&p, &unpacked_elf, unpacked, unpacked_size, p.mode == GLUE_BOOT_PVH);
	if (r == 0) {
		/* the kernel may use up to init_size from where it runs */
		if (k->bz.init_size && glue_range_ok(p.kernel_start, k->bz.init_size))
			p.kernel_end = GLUE_MAX(p.kernel_end, p.kernel_start + k->bz.init_size);
		p.span_is_kernel = true;
		r = load(mem, &p, &cfg, out);
	}
	free(unpacked);
	return r;
}
