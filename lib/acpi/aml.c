// SPDX-License-Identifier: MIT
/*
 * AML encoding helpers (see aml.h). Only the handful of constructs the DSDT
 * uses; everything is written as bytes with explicit little-endian order.
 */
#include <string.h>

#include "acpi/aml.h"

/* AML opcodes and prefixes (ACPI 6.5, 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0A
#define AML_WORD_PREFIX 0x0B
#define AML_DWORD_PREFIX 0x0C
#define AML_QWORD_PREFIX 0x0E
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_DUAL_NAME_PREFIX 0x2E
#define AML_MULTI_NAME_PREFIX 0x2F
#define AML_EXT_OP_PREFIX 0x5B
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR 0x5C
#define AML_NULL_NAME 0x00
#define AML_STRING_PREFIX 0x0D
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_LOCAL0_OP 0x60
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7B
#define AML_NOTIFY_OP 0x86
#define AML_IF_OP 0xA0
#define AML_OPREGION_OP 0x80 /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP 0x81    /* after AML_EXT_OP_PREFIX */
#define AML_REGION_SYSTEM_IO 0x01
#define AML_FIELD_BYTE_ACC 0x01 /* ByteAcc, NoLock, Preserve */

/* Small resource data items (ACPI 6.5, 6.4.2). */
#define RES_IRQ_NOFLAGS 0x22 /* type 0x04, length 2 */
#define RES_IO 0x47	     /* type 0x08, length 7 */
#define RES_IO_DECODE16 0x01
#define RES_END_TAG 0x79 /* type 0x0F, length 1 */
/* Large item: Extended Interrupt Descriptor (6.4.3.6). */
#define RES_EXT_IRQ 0x89
#define RES_EXT_IRQ_CONSUMER 0x01
#define RES_EXT_IRQ_EDGE 0x02
#define RES_MEM32_FIXED 0x86
#define RES_MEM32_RW 0x01

/* Largest value a PkgLength can encode (28 bits). */
#define PKG_LENGTH_MAX 0x0FFFFFFFU

void glue_aml_init(struct glue_aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->len = 0;
	a->cap = buf ? cap : 0;
	a->bad = false;
}

bool glue_aml_ok(const struct glue_aml *a)
{
	return !a->bad;
}

void glue_aml_bytes(struct glue_aml *a, const void *p, size_t n)
{
	if (a->bad || n > a->cap - a->len) {
		a->bad = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void glue_aml_byte(struct glue_aml *a, uint8_t v)
{
	glue_aml_bytes(a, &v, 1);
}

size_t glue_aml_pkg_begin(struct glue_aml *a)
{
	return a->len;
}

void glue_aml_pkg_end(struct glue_aml *a, size_t mark)
{
	uint8_t enc[4];
	size_t body, total, n;

	if (a->bad || mark > a->len) {
		a->bad = true;
		return;
	}
	body = a->len - mark;
	/* The length counts its own bytes: pick the shortest that fits. */
	if (body + 1 <= 0x3F)
		n = 1;
	else if (body + 2 <= 0xFFF)
		n = 2;
	else if (body + 3 <= 0xFFFFF)
		n = 3;
	else
		n = 4;
	total = body + n;
	if (total > PKG_LENGTH_MAX || n > a->cap - a->len) {
		a->bad = true;
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		/* Lead byte: follow-byte count in bits 7:6, low nibble in 3:0. */
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + mark + n, a->buf + mark, body);
	memcpy(a->buf + mark, enc, n);
	a->len += n;
}

static bool seg_char_ok(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void glue_aml_namestring(struct glue_aml *a, const char *name)
{
	const char *p = name;
	size_t nsegs = 0;

	if (*p == '\\') {
		glue_aml_byte(a, AML_ROOT_CHAR);
		p++;
	}
	/* Validate first: 4-character segments separated by dots. */
	for (const char *s = p; *s;) {
		for (int i = 0; i < 4; i++)
			if (!seg_char_ok(s[i], i == 0)) {
				a->bad = true;
				return;
			}
		nsegs++;
		s += 4;
		if (*s == '.' && s[1])
			s++;
		else if (*s) {
			a->bad = true;
			return;
		}
	}
	if (nsegs == 0) {
		/* Only the root itself ("\\") is a valid name without segments. */
		if (p == name)
			a->bad = true;
		else
			glue_aml_byte(a, 0x00); /* NullName */
		return;
	}
	if (nsegs == 2) {
		glue_aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		if (nsegs > 255) {
			a->bad = true;
			return;
		}
		glue_aml_byte(a, AML_MULTI_NAME_PREFIX);
		glue_aml_byte(a, (uint8_t)nsegs);
	}
	for (size_t i = 0; i < nsegs; i++)
		glue_aml_bytes(a, p + 5 * i, 4);
}

static void put_le(struct glue_aml *a, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		glue_aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void glue_aml_integer(struct glue_aml *a, uint64_t v)
{
	if (v == 0) {
		glue_aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		glue_aml_byte(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		glue_aml_byte(a, AML_BYTE_PREFIX);
		put_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		glue_aml_byte(a, AML_WORD_PREFIX);
		put_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		glue_aml_byte(a, AML_DWORD_PREFIX);
		put_le(a, v, 4);
	} else {
		glue_aml_byte(a, AML_QWORD_PREFIX);
		put_le(a, v, 8);
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool glue_aml_eisaid_value(const char *id, uint32_t *out)
{
	uint32_t vendor = 0, product = 0;

	if (strlen(id) != 7)
		return false;
	/* Three letters, 5 bits each ('A' = 1), then four hex digits. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
		vendor = vendor << 5 | (uint32_t)(id[i] - 'A' + 1);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0)
			return false;
		product = product << 4 | (uint32_t)d;
	}
	/* Stored big-endian (vendor, then product) in a little-endian DWord. */
	*out = (vendor >> 8) | (vendor & 0xFF) << 8 | (product >> 8) << 16 | (product & 0xFF) << 24;
	return true;
}

void glue_aml_eisaid(struct glue_aml *a, const char *id)
{
	uint32_t v;

	if (!glue_aml_eisaid_value(id, &v)) {
		a->bad = true;
		return;
	}
	/* Always the DWord form, even for small values, as ASL's EisaId(). */
	glue_aml_byte(a, AML_DWORD_PREFIX);
	put_le(a, v, 4);
}

void glue_aml_name(struct glue_aml *a, const char *name)
{
	glue_aml_byte(a, AML_NAME_OP);
	glue_aml_namestring(a, name);
}

size_t glue_aml_scope_begin(struct glue_aml *a, const char *name)
{
	size_t mark;

	glue_aml_byte(a, AML_SCOPE_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_namestring(a, name);
	return mark;
}

size_t glue_aml_device_begin(struct glue_aml *a, const char *name)
{
	size_t mark;

	glue_aml_byte(a, AML_EXT_OP_PREFIX);
	glue_aml_byte(a, AML_DEVICE_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_namestring(a, name);
	return mark;
}

void glue_aml_buffer(struct glue_aml *a, const void *p, size_t n)
{
	size_t mark;

	glue_aml_byte(a, AML_BUFFER_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_integer(a, n);
	glue_aml_bytes(a, p, n);
	glue_aml_pkg_end(a, mark);
}

void glue_aml_string(struct glue_aml *a, const char *str)
{
	for (const char *c = str; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			a->bad = true;
	glue_aml_byte(a, AML_STRING_PREFIX);
	glue_aml_bytes(a, str, strlen(str) + 1);
}

void glue_aml_package_ints(struct glue_aml *a, const uint64_t *v, uint8_t n)
{
	size_t mark;

	glue_aml_byte(a, AML_PACKAGE_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_byte(a, n);
	for (uint8_t i = 0; i < n; i++)
		glue_aml_integer(a, v[i]);
	glue_aml_pkg_end(a, mark);
}

void glue_aml_opregion_io(struct glue_aml *a, const char *name, uint16_t port, uint8_t len)
{
	glue_aml_byte(a, AML_EXT_OP_PREFIX);
	glue_aml_byte(a, AML_OPREGION_OP);
	glue_aml_namestring(a, name);
	glue_aml_byte(a, AML_REGION_SYSTEM_IO);
	glue_aml_integer(a, port);
	glue_aml_integer(a, len);
}

void glue_aml_field_byte(struct glue_aml *a, const char *region, const char *field)
{
	size_t mark;

	glue_aml_byte(a, AML_EXT_OP_PREFIX);
	glue_aml_byte(a, AML_FIELD_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_namestring(a, region);
	glue_aml_byte(a, AML_FIELD_BYTE_ACC);
	/* A NamedField is a bare NameSeg and its width in bits (as a PkgLength). */
	if (strlen(field) != 4 || strchr(field, '.') || field[0] == '\\')
		a->bad = true;
	else
		glue_aml_bytes(a, field, 4);
	glue_aml_byte(a, 8);
	glue_aml_pkg_end(a, mark);
}

size_t glue_aml_method_begin(struct glue_aml *a, const char *name, uint8_t nargs, bool serialized)
{
	size_t mark;

	if (nargs > 7)
		a->bad = true;
	glue_aml_byte(a, AML_METHOD_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_namestring(a, name);
	glue_aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

static void local(struct glue_aml *a, uint8_t n)
{
	if (n > 7)
		a->bad = true;
	glue_aml_byte(a, (uint8_t)(AML_LOCAL0_OP + (n & 7)));
}

void glue_aml_store_to_local(struct glue_aml *a, const char *name, uint8_t n)
{
	glue_aml_byte(a, AML_STORE_OP);
	glue_aml_namestring(a, name);
	local(a, n);
}

size_t glue_aml_if_local_and_begin(struct glue_aml *a, uint8_t n, uint64_t mask)
{
	size_t mark;

	glue_aml_byte(a, AML_IF_OP);
	mark = glue_aml_pkg_begin(a);
	glue_aml_byte(a, AML_AND_OP);
	local(a, n);
	glue_aml_integer(a, mask);
	glue_aml_byte(a, AML_NULL_NAME); /* no target */
	return mark;
}

void glue_aml_notify(struct glue_aml *a, const char *name, uint64_t value)
{
	glue_aml_byte(a, AML_NOTIFY_OP);
	glue_aml_namestring(a, name);
	glue_aml_integer(a, value);
}

void glue_aml_res_io(struct glue_aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	glue_aml_byte(r, RES_IO);
	glue_aml_byte(r, RES_IO_DECODE16);
	put_le(r, min, 2);
	put_le(r, max, 2);
	glue_aml_byte(r, align);
	glue_aml_byte(r, len);
}

void glue_aml_res_irq(struct glue_aml *r, unsigned int irq)
{
	uint16_t mask;

	if (irq > 15) {
		r->bad = true;
		return;
	}
	mask = (uint16_t)(1U << irq);
	glue_aml_byte(r, RES_IRQ_NOFLAGS);
	glue_aml_byte(r, (uint8_t)mask);
	glue_aml_byte(r, (uint8_t)(mask >> 8));
}

void glue_aml_res_ext_irq_edge(struct glue_aml *r, uint32_t gsi)
{
	glue_aml_byte(r, RES_EXT_IRQ);
	put_le(r, 6, 2); /* length of what follows */
	glue_aml_byte(r, RES_EXT_IRQ_CONSUMER | RES_EXT_IRQ_EDGE);
	glue_aml_byte(r, 1); /* one interrupt */
	put_le(r, gsi, 4);
}

void glue_aml_res_ext_irq_level(struct glue_aml *r, uint32_t gsi)
{
	/* Level-triggered, active-high: what KVM_IRQ_LINE drives. */
	glue_aml_byte(r, RES_EXT_IRQ);
	put_le(r, 6, 2);
	glue_aml_byte(r, RES_EXT_IRQ_CONSUMER);
	glue_aml_byte(r, 1);
	put_le(r, gsi, 4);
}

void glue_aml_res_mem32(struct glue_aml *r, uint32_t base, uint32_t len)
{
	glue_aml_byte(r, RES_MEM32_FIXED);
	put_le(r, 9, 2);
	glue_aml_byte(r, RES_MEM32_RW);
	put_le(r, base, 4);
	put_le(r, len, 4);
}

/* Word (0x88) and DWord (0x87) Address Space Descriptors: a producer with a
 * fixed range [min, max], no translation (ACPI 6.x, 6.4.3.5). */
#define RES_WORD_ADDR 0x88
#define RES_DWORD_ADDR 0x87
#define ADDR_GFLAGS_FIXED 0x0C /* producer, positive decode, min and max fixed */

void glue_aml_res_word_range(struct glue_aml *r, uint8_t type, uint8_t tflags, uint16_t min,
			     uint16_t max)
{
	glue_aml_byte(r, RES_WORD_ADDR);
	put_le(r, 13, 2);
	glue_aml_byte(r, type);
	glue_aml_byte(r, ADDR_GFLAGS_FIXED);
	glue_aml_byte(r, tflags);
	put_le(r, 0, 2); /* granularity */
	put_le(r, min, 2);
	put_le(r, max, 2);
	put_le(r, 0, 2); /* translation */
	put_le(r, (uint32_t)max - min + 1, 2);
}

void glue_aml_res_dword_mem(struct glue_aml *r, uint32_t min, uint32_t max)
{
	glue_aml_byte(r, RES_DWORD_ADDR);
	put_le(r, 23, 2);
	glue_aml_byte(r, GLUE_AML_ADDR_MEM);
	glue_aml_byte(r, ADDR_GFLAGS_FIXED);
	glue_aml_byte(r, 0x01); /* read-write, non-cacheable */
	put_le(r, 0, 4);
	put_le(r, min, 4);
	put_le(r, max, 4);
	put_le(r, 0, 4);
	put_le(r, (uint64_t)max - min + 1, 4);
}

void glue_aml_res_end(struct glue_aml *r)
{
	uint8_t sum = RES_END_TAG;

	if (r->bad)
		return;
	for (size_t i = 0; i < r->len; i++)
		sum = (uint8_t)(sum + r->buf[i]);
	glue_aml_byte(r, RES_END_TAG);
	glue_aml_byte(r, (uint8_t)(0x100 - sum));
}
