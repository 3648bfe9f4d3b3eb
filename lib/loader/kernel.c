// SPDX-License-Identifier: MIT
/* Kernel images: read a file, tell bzImage from ELF, validate the headers. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "loader/kernel.h"

#define SECTOR 512
/* Older protocols lack cmdline_size, and glue has no 32-bit entry anyway. */
#define MIN_PROTOCOL 0x0206
#define HDR_END 0x26c /* end of the setup header as of protocol 2.15 */
#define VERSION_MAX 128

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The human-readable version string the setup code points at, if sane. */
static char *bz_version(const struct glue_kernel *k)
{
	uint64_t off = k->bz.hdr.kernel_version;
	size_t n = 0;
	char *v;

	if (off == 0)
		return NULL;
	off += 0x200;
	if (off >= k->bz.setup_size)
		return NULL;
	while (off + n < k->bz.setup_size && n < VERSION_MAX && k->data[off + n] >= 0x20 &&
	       k->data[off + n] < 0x7f)
		n++;
	if (n == 0)
		return NULL;
	v = malloc(n + 1);
	if (v) {
		memcpy(v, k->data + off, n);
		v[n] = '\0';
	}
	return v;
}

int glue_bzimage_parse(struct glue_kernel *k)
{
	struct glue_bzimage *bz = &k->bz;
	struct glue_setup_header *h = &bz->hdr;
	unsigned int sects;
	uint64_t sys;

	memset(bz, 0, sizeof(*bz));
	if (k->size < HDR_END)
		return glue_err(-EINVAL,
				"kernel '%s': file is truncated (%zu bytes; a bzImage setup header "
				"ends at byte %d)",
				k->name, k->size, HDR_END);
	/* Only the bytes this protocol version defines are header; the rest is code. */
	bz->hdr_len = 0x202 + k->data[0x201] - GLUE_SETUP_HEADER_OFFSET;
	bz->hdr_len = GLUE_MIN(bz->hdr_len, sizeof(*h));
	memcpy(h, k->data + GLUE_SETUP_HEADER_OFFSET, bz->hdr_len);
	bz->version = h->version;
	if (bz->version < MIN_PROTOCOL)
		return glue_err(-ENOEXEC,
				"kernel '%s': boot protocol %u.%02u is too old (glue needs 2.06 or "
				"later)",
				k->name, bz->version >> 8, bz->version & 0xff);

	sects = h->setup_sects ? h->setup_sects : 4;
	bz->setup_size = (uint64_t)(sects + 1) * SECTOR;
	sys = (uint64_t)h->syssize * 16;
	if (k->size < bz->setup_size || (sys && k->size - bz->setup_size < sys))
		return glue_err(-EINVAL,
				"kernel '%s': file is truncated (setup header claims %u setup "
				"sectors and %" PRIu64 " bytes of kernel code, %" PRIu64
				" bytes in all; file has %zu)",
				k->name, sects, sys, bz->setup_size + sys, k->size);
	bz->pm_size = sys ? sys : k->size - bz->setup_size;
	if (bz->pm_size == 0)
		return glue_err(-EINVAL,
				"kernel '%s': file is truncated (no kernel code after the "
				"%" PRIu64 "-byte setup)",
				k->name, bz->setup_size);

	bz->kernel64 = bz->version >= 0x020c && (h->xloadflags & GLUE_XLF_KERNEL_64);
	bz->relocatable = h->relocatable_kernel != 0;
	bz->kernel_alignment = h->kernel_alignment;
	if (bz->relocatable &&
	    (h->kernel_alignment < 4096 || (h->kernel_alignment & (h->kernel_alignment - 1))))
		return glue_err(-EINVAL,
				"kernel '%s': kernel_alignment 0x%x is not a power of two >= 4 KiB",
				k->name, h->kernel_alignment);
	/* 0 would refuse every command line; 255 was the limit before the field */
	bz->cmdline_max = h->cmdline_size ? h->cmdline_size : 255;
	bz->initrd_addr_max = h->initrd_addr_max ? h->initrd_addr_max : 0x37ffffff;
	bz->pref_address = GLUE_BOOT_BZIMAGE_LOAD_GPA;
	if (bz->version >= 0x020a) {
		bz->pref_address = h->pref_address;
		bz->init_size = h->init_size;
	}

	bz->comp = GLUE_COMP_UNKNOWN;
	if (bz->version >= 0x0208 && h->payload_length) {
		uint64_t off = h->payload_offset, len = h->payload_length;

		if (off > bz->pm_size || len > bz->pm_size - off)
			return glue_err(-EINVAL,
					"kernel '%s': payload (%" PRIu64 " bytes at offset %" PRIu64
					") extends past the %" PRIu64 " bytes of kernel code",
					k->name, len, off, bz->pm_size);
		bz->payload_offset = bz->setup_size + off;
		bz->payload_size = len;
		bz->comp = glue_compression_detect(k->data + bz->payload_offset, len);
	}
	k->version = bz_version(k);
	return 0;
}

static int parse(struct glue_kernel *k)
{
	const uint8_t *d = k->data;
	char what[300];

	if (k->size == 0)
		return glue_err(-EINVAL, "kernel '%s': file is empty", k->name);
	if (glue_elf_is_elf(d, k->size)) {
		snprintf(what, sizeof(what), "kernel '%s'", k->name);
		k->format = GLUE_KERNEL_ELF;
		return glue_elf_parse(&k->elf, d, k->size, what);
	}
	if (k->size >= 0x206 && get_u16(d + 0x1fe) == GLUE_SETUP_BOOT_FLAG &&
	    memcmp(d + 0x202, "HdrS", 4) == 0) {
		k->format = GLUE_KERNEL_BZIMAGE;
		return glue_bzimage_parse(k);
	}
	/* A bzImage cut before its "HdrS": still starts like one (EFI stub "MZ"
	 * or the boot sector's signature). */
	if (k->size < 0x206 && ((k->size >= 2 && d[0] == 'M' && d[1] == 'Z') ||
				(k->size >= 0x200 && get_u16(d + 0x1fe) == GLUE_SETUP_BOOT_FLAG)))
		return glue_err(
			-EINVAL,
			"kernel '%s': file is truncated (%zu bytes, too short for a bzImage "
			"setup header)",
			k->name, k->size);
	if (k->size < 4 && memcmp(d,
				  "\x7f"
				  "ELF",
				  k->size) == 0)
		return glue_err(-EINVAL,
				"kernel '%s': file is truncated (%zu bytes of an ELF header)",
				k->name, k->size);
	return glue_err(-ENOEXEC, "kernel '%s': not a Linux bzImage or ELF kernel", k->name);
}

static int finish_open(struct glue_kernel **out, struct glue_kernel *k)
{
	int r = parse(k);

	if (r < 0) {
		glue_kernel_free(k);
		return r;
	}
	*out = k;
	return 0;
}

int glue_kernel_open_buffer(struct glue_kernel **out, const void *data, size_t size,
			    const char *name)
{
	struct glue_kernel *k;

	*out = NULL;
	if (!data && size)
		return glue_err(-EINVAL, "kernel buffer is NULL");
	if (size > GLUE_KERNEL_FILE_MAX)
		return glue_err(-EFBIG, "kernel '%s': %zu bytes is more than 1 GiB",
				name ? name : "<buffer>", size);
	k = calloc(1, sizeof(*k));
	if (!k)
		return glue_err(-ENOMEM, "out of memory");
	k->name = strdup(name ? name : "<buffer>");
	k->data = malloc(size ? size : 1);
	if (!k->name || !k->data) {
		glue_kernel_free(k);
		return glue_err(-ENOMEM, "out of memory for kernel '%s'", name ? name : "<buffer>");
	}
	if (size)
		memcpy(k->data, data, size);
	k->size = size;
	return finish_open(out, k);
}

int glue_kernel_open(struct glue_kernel **out, const char *path)
{
	struct glue_kernel *k;
	struct stat st;
	size_t got = 0;
	int fd, r;

	*out = NULL;
	if (!path)
		return glue_err(-EINVAL, "no kernel given");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return glue_err_sys(-errno, "cannot open kernel '%s'", path);
	if (fstat(fd, &st) < 0) {
		r = glue_err_sys(-errno, "cannot stat kernel '%s'", path);
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = glue_err(-EINVAL, "kernel '%s': not a regular file", path);
		goto out_close;
	}
	if ((uint64_t)st.st_size > GLUE_KERNEL_FILE_MAX) {
		r = glue_err(-EFBIG, "kernel '%s': %" PRIu64 " bytes is more than 1 GiB", path,
			     (uint64_t)st.st_size);
		goto out_close;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		r = glue_err(-ENOMEM, "out of memory");
		goto out_close;
	}
	k->name = strdup(path);
	k->data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!k->name || !k->data) {
		glue_kernel_free(k);
		r = glue_err(-ENOMEM, "out of memory for kernel '%s'", path);
		goto out_close;
	}
	/* read, not mmap: a file truncated under us must give an error, not SIGBUS */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, k->data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = glue_err_sys(-errno, "cannot read kernel '%s'", path);
			glue_kernel_free(k);
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	k->size = got;
	close(fd);
	return finish_open(out, k);

out_close:
	close(fd);
	return r;
}

void glue_kernel_free(struct glue_kernel *k)
{
	if (!k)
		return;
	free(k->version);
	free(k->data);
	free(k->name);
	free(k);
}

enum glue_kernel_format glue_kernel_format(const struct glue_kernel *k)
{
	return k->format;
}

const char *glue_kernel_compression(const struct glue_kernel *k)
{
	if (k->format == GLUE_KERNEL_ELF)
		return "none";
	return glue_compression_name(k->bz.comp);
}

bool glue_kernel_can_unpack(const struct glue_kernel *k)
{
	return k->format == GLUE_KERNEL_BZIMAGE && k->bz.comp != GLUE_COMP_UNKNOWN &&
	       glue_compression_supported(k->bz.comp);
}

bool glue_kernel_has_pvh(const struct glue_kernel *k)
{
	return k->format == GLUE_KERNEL_ELF && k->elf.has_pvh;
}

uint16_t glue_kernel_protocol(const struct glue_kernel *k)
{
	return k->format == GLUE_KERNEL_BZIMAGE ? k->bz.version : 0;
}

const char *glue_kernel_version(const struct glue_kernel *k)
{
	return k->version;
}
