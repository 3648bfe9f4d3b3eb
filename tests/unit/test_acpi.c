// SPDX-License-Identifier: MIT
/*
 * ACPI tables: written into guest memory, then found and parsed back the way
 * a guest does (scan for the RSDP, follow the XSDT, validate every header,
 * walk the MADT entries and the DSDT's AML). The AML encoder is tested on
 * its own too. When iasl (acpica-tools) is installed, every table is also
 * disassembled by it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glue/config.h>

#if GLUE_HAVE_ACPI
#include <glue/acpi.h>
#include <glue/error.h>
#include <glue/memory.h>
#include <glue/mptable.h>
#include "acpi/aml.h"
#include "core/util.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- AML encoder ---- */

/* Decode a PkgLength at p; returns its value and stores its byte count. */
static size_t pkg_length(const uint8_t *p, size_t *nbytes)
{
	size_t n = (p[0] >> 6) + 1, v;

	*nbytes = n;
	if (n == 1)
		return p[0] & 0x3F;
	v = p[0] & 0x0F;
	for (size_t i = 1; i < n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

Test(aml, pkg_length_boundaries)
{
	static uint8_t buf[0x2000];
	/* body sizes around the 1/2/3-byte encoding limits */
	const size_t bodies[] = {0, 62, 63, 0xFFD, 0xFFE, 0x1500};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct glue_aml a;
		size_t mark, n, v, want_n;

		glue_aml_init(&a, buf, sizeof(buf));
		glue_aml_byte(&a, 0xAA);
		mark = glue_aml_pkg_begin(&a);
		for (size_t j = 0; j < bodies[i]; j++)
			glue_aml_byte(&a, (uint8_t)j);
		glue_aml_pkg_end(&a, mark);
		cr_assert(glue_aml_ok(&a));
		v = pkg_length(buf + 1, &n);
		cr_assert_eq(v, bodies[i] + n, "body %zu: length %zu", bodies[i], v);
		cr_assert_eq(a.len, 1 + v);
		want_n = bodies[i] + 1 <= 63 ? 1 : 2;
		if (bodies[i] + 2 > 0xFFF)
			want_n = 3;
		cr_assert_eq(n, want_n, "body %zu: %zu length bytes", bodies[i], n);
		/* the body moved intact behind the length */
		if (bodies[i])
			cr_assert_eq(buf[1 + n + bodies[i] - 1], (uint8_t)(bodies[i] - 1));
		cr_assert_eq(buf[0], 0xAA);
	}
}

Test(aml, integers)
{
	uint8_t buf[64];
	struct glue_aml a;
	const uint8_t want[] = {0x00, 0x01, 0x0A, 0x02, 0x0A, 0xFF, 0x0B, 0x00,
				0x01, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x0E, 1,
				2,    3,    4,	  5,	6,    7,    8};

	glue_aml_init(&a, buf, sizeof(buf));
	glue_aml_integer(&a, 0);
	glue_aml_integer(&a, 1);
	glue_aml_integer(&a, 2);
	glue_aml_integer(&a, 0xFF);
	glue_aml_integer(&a, 0x100);
	glue_aml_integer(&a, 0x10000);
	glue_aml_integer(&a, 0x0807060504030201ULL);
	cr_assert(glue_aml_ok(&a));
	cr_assert_eq(a.len, sizeof(want));
	cr_assert_arr_eq(buf, want, sizeof(want));
}

Test(aml, eisaid)
{
	uint32_t v;

	cr_assert(glue_aml_eisaid_value("PNP0501", &v));
	cr_assert_eq(v, 0x0105D041);
	cr_assert(glue_aml_eisaid_value("PNP0303", &v));
	cr_assert_eq(v, 0x0303D041);
	cr_assert(glue_aml_eisaid_value("PNP0B00", &v));
	cr_assert_eq(v, 0x000BD041);
	cr_assert_not(glue_aml_eisaid_value("PNP050", &v));
	cr_assert_not(glue_aml_eisaid_value("pnp0501", &v));
	cr_assert_not(glue_aml_eisaid_value("PNP05G1", &v));
	cr_assert_not(glue_aml_eisaid_value("PNP05011", &v));
}

Test(aml, namestrings)
{
	uint8_t buf[64];
	struct glue_aml a;
	/* separate literals: hex escapes would swallow the letters after them */
	const char want[] = "\\_SB_"
			    "_HID"
			    "\x2E_SB_COM1"
			    "\x2F\x03"
			    "ABCDEFGHIJKL"
			    "\\";
	const char *bad[] = {"", "ABC", "ABCDE", "1ABC", "ab_c", "ABCD.", "ABCD..EFGH", "\\_S"};

	glue_aml_init(&a, buf, sizeof(buf));
	glue_aml_namestring(&a, "\\_SB_");
	glue_aml_namestring(&a, "_HID");
	glue_aml_namestring(&a, "_SB_.COM1");
	glue_aml_namestring(&a, "ABCD.EFGH.IJKL");
	glue_aml_namestring(&a, "\\");
	cr_assert(glue_aml_ok(&a));
	/* the literal's terminating NUL is the root's NullName */
	cr_assert_eq(a.len, sizeof(want));
	cr_assert_arr_eq(buf, want, sizeof(want));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		glue_aml_init(&a, buf, sizeof(buf));
		glue_aml_namestring(&a, bad[i]);
		cr_assert_not(glue_aml_ok(&a), "'%s' accepted", bad[i]);
	}
}

Test(aml, resource_template)
{
	uint8_t buf[32];
	struct glue_aml r;
	const uint8_t want[] = {0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00};

	glue_aml_init(&r, buf, sizeof(buf));
	glue_aml_res_io(&r, 0x3F8, 0x3F8, 1, 8);
	glue_aml_res_irq(&r, 4);
	glue_aml_res_end(&r);
	cr_assert(glue_aml_ok(&r));
	cr_assert_eq(r.len, sizeof(want) + 2);
	cr_assert_arr_eq(buf, want, sizeof(want));
	cr_assert_eq(buf[sizeof(want)], 0x79);
	cr_assert_eq(sum(buf, r.len), 0, "end tag checksum");

	glue_aml_init(&r, buf, sizeof(buf));
	glue_aml_res_irq(&r, 16);
	cr_assert_not(glue_aml_ok(&r));
}

Test(aml, overflow_is_sticky)
{
	uint8_t buf[4];
	struct glue_aml a;
	size_t mark;

	glue_aml_init(&a, buf, sizeof(buf));
	glue_aml_bytes(&a, "abcd", 4);
	cr_assert(glue_aml_ok(&a));
	glue_aml_byte(&a, 'e');
	cr_assert_not(glue_aml_ok(&a));
	glue_aml_init(&a, buf, sizeof(buf));
	glue_aml_bytes(&a, "abc", 3);
	mark = glue_aml_pkg_begin(&a);
	glue_aml_byte(&a, 'd');
	glue_aml_pkg_end(&a, mark); /* no room for the length byte */
	cr_assert_not(glue_aml_ok(&a));
	cr_assert_eq(a.len, 4);
	glue_aml_byte(&a, 0);
	cr_assert_not(glue_aml_ok(&a));
}

/* ---- tables in guest memory ---- */

struct table {
	uint64_t gpa;
	const uint8_t *p;
	uint32_t len;
};

struct dsdt_dev {
	char name[5];
	uint32_t hid;
	bool has_uid;
	uint16_t io_base[4], io_len[4];
	int nio;
	uint16_t irq_mask;
	int nirq;
	char hid_str[16]; /* a string _HID ("ACPI0013") */
	uint32_t ext_irq; /* Interrupt () descriptor's GSI */
	int next_irq;
	uint8_t ext_irq_flags;
	char method[5];		    /* the one method it has (_EVT) */
	uint16_t region_port;	    /* its SystemIO operation region */
	uint32_t mem_base, mem_len; /* Memory32Fixed */
	int nmem;
};

struct parsed {
	uint64_t rsdp_gpa;
	uint64_t s5[4];
	int s5_count;
	struct table xsdt, fadt, dsdt, madt, mcfg; /* mcfg: with PCI ECAM only */
	uint32_t xsdt_entries;
	/* MADT */
	uint32_t lapic_addr, madt_flags, nlapic, nioapic, nnmi, nother;
	uint8_t lapic_uid[256], lapic_id[256];
	uint32_t lapic_flags[256];
	uint8_t ioapic_id;
	uint32_t ioapic_addr, ioapic_gsi_base;
	uint8_t nmi_uid, nmi_lint;
	uint16_t nmi_flags;
	/* DSDT */
	struct dsdt_dev devs[48];
	int ndevs;
};

static struct glue_mem *new_mem(void)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new_x86(&mem, 64ULL << 20), 0);
	return mem;
}

/* A System Description Table at gpa: header fields and checksum. */
static void check_sdt(struct glue_mem *mem, uint64_t gpa, const char *sig, uint8_t revision,
		      struct table *t)
{
	const uint8_t *h = glue_mem_ptr(mem, gpa, 36);

	cr_assert_not_null(h, "%s at %#llx outside memory", sig, (unsigned long long)gpa);
	cr_assert_eq(memcmp(h, sig, 4), 0, "signature at %#llx: want %s", (unsigned long long)gpa,
		     sig);
	t->gpa = gpa;
	t->len = rd32(h + 4);
	cr_assert_geq(t->len, 36);
	t->p = glue_mem_ptr(mem, gpa, t->len);
	cr_assert_not_null(t->p, "%s: length %u runs outside memory", sig, t->len);
	cr_assert_eq(t->p[8], revision, "%s revision %u", sig, t->p[8]);
	cr_assert_eq(sum(t->p, t->len), 0, "%s checksum", sig);
	cr_assert_eq(memcmp(t->p + 10, "GLUE  ", 6), 0, "%s OEM ID", sig);
	cr_assert_eq(memcmp(t->p + 16, "GLUEVM  ", 8), 0, "%s OEM table ID", sig);
	cr_assert_eq(memcmp(t->p + 28, "GLUE", 4), 0, "%s creator ID", sig);
}

static void parse_madt(struct parsed *out)
{
	const uint8_t *t = out->madt.p, *e = t + 44, *end = t + out->madt.len;

	out->lapic_addr = rd32(t + 36);
	out->madt_flags = rd32(t + 40);
	while (e < end) {
		cr_assert_leq(e + 2, end, "MADT entry header past the end");
		cr_assert_geq(e[1], 2, "MADT entry of length %u", e[1]);
		cr_assert_leq(e + e[1], end, "MADT entry past the end");
		switch (e[0]) {
		case 0:
			cr_assert_eq(e[1], 8);
			out->lapic_uid[out->nlapic] = e[2];
			out->lapic_id[out->nlapic] = e[3];
			out->lapic_flags[out->nlapic] = rd32(e + 4);
			out->nlapic++;
			break;
		case 1:
			cr_assert_eq(e[1], 12);
			out->ioapic_id = e[2];
			out->ioapic_addr = rd32(e + 4);
			out->ioapic_gsi_base = rd32(e + 8);
			out->nioapic++;
			break;
		case 4:
			cr_assert_eq(e[1], 6);
			out->nmi_uid = e[2];
			out->nmi_flags = rd16(e + 3);
			out->nmi_lint = e[5];
			out->nnmi++;
			break;
		default:
			out->nother++;
		}
		e += e[1];
	}
	cr_assert_eq(e, end, "MADT entries do not end at its length");
}

/* A resource template: IO and IRQ descriptors, end tag with checksum. */
static void parse_crs(const uint8_t *p, size_t n, struct dsdt_dev *d)
{
	size_t off = 0;

	cr_assert_eq(sum(p, n), 0, "%s: _CRS checksum", d->name);
	while (off < n) {
		uint8_t tag = p[off], len = tag & 7;

		if (tag == 0x89) { /* Extended Interrupt: length, flags, count, GSIs */
			cr_assert_leq(off + 3 + 6, n, "%s: descriptor past the end", d->name);
			cr_assert_eq(rd16(p + off + 1), 6, "%s: one interrupt", d->name);
			cr_assert_eq(p[off + 4], 1);
			d->ext_irq_flags = p[off + 3];
			d->ext_irq = rd32(p + off + 5);
			d->next_irq++;
			off += 3 + 6;
			continue;
		}
		if (tag == 0x86) { /* Memory32Fixed: length 9, info, base, length */
			cr_assert_leq(off + 3 + 9, n, "%s: descriptor past the end", d->name);
			cr_assert_eq(rd16(p + off + 1), 9);
			cr_assert_eq(p[off + 3], 1, "%s: read-write", d->name);
			d->mem_base = rd32(p + off + 4);
			d->mem_len = rd32(p + off + 8);
			d->nmem++;
			off += 3 + 9;
			continue;
		}
		if (tag == 0x87 || tag == 0x88 ||
		    tag == 0x8a) { /* DWord/Word/QWord address space */
			cr_assert_leq(off + 3, n, "%s: descriptor past the end", d->name);
			cr_assert_leq(off + 3 + rd16(p + off + 1), n, "%s: descriptor past the end",
				      d->name);
			off += 3 + rd16(p + off + 1);
			continue;
		}
		cr_assert_eq(tag & 0x80, 0, "%s: large resource", d->name);
		cr_assert_leq(off + 1 + len, n, "%s: descriptor past the end", d->name);
		switch (tag >> 3) {
		case 0x08: /* IO */
			cr_assert_eq(len, 7);
			cr_assert_eq(p[off + 1], 1, "Decode16");
			cr_assert_eq(rd16(p + off + 2), rd16(p + off + 4), "fixed range");
			cr_assert_lt(d->nio, 4);
			d->io_base[d->nio] = rd16(p + off + 2);
			d->io_len[d->nio] = p[off + 7];
			d->nio++;
			break;
		case 0x04: /* IRQ */
			cr_assert_eq(len, 2);
			d->irq_mask |= rd16(p + off + 1);
			d->nirq++;
			break;
		case 0x0F: /* end tag */
			cr_assert_eq(len, 1);
			cr_assert_eq(off + 2, n, "%s: data after the end tag", d->name);
			return;
		default:
			cr_assert_fail("%s: unexpected resource tag %#x", d->name, tag);
		}
		off += 1 + len;
	}
	cr_assert_fail("%s: no end tag", d->name);
}

/* The subset of AML the DSDT uses: Scope, Device, Name (integer/buffer). */
static size_t parse_terms(struct parsed *out, const uint8_t *p, size_t n, struct dsdt_dev *dev);

static size_t parse_name(const uint8_t *p, size_t n, char seg[5])
{
	size_t off = 0, nsegs = 1;

	if (off < n && p[off] == 0x5C)
		off++;
	cr_assert_lt(off, n);
	if (p[off] == 0x2E) {
		nsegs = 2;
		off++;
	} else if (p[off] == 0x2F) {
		cr_assert_lt(off + 1, n);
		nsegs = p[off + 1];
		off += 2;
	}
	cr_assert_leq(off + 4 * nsegs, n, "name past the end");
	memcpy(seg, p + off + 4 * (nsegs - 1), 4); /* last segment */
	seg[4] = 0;
	return off + 4 * nsegs;
}

static size_t parse_data(const uint8_t *p, size_t n, uint64_t *val, const uint8_t **buf,
			 size_t *buf_len)
{
	size_t pl, nb, off;
	uint64_t size;

	*buf = NULL;
	cr_assert_geq(n, 1);
	switch (p[0]) {
	case 0x00:
		*val = 0;
		return 1;
	case 0x01:
		*val = 1;
		return 1;
	case 0x0A:
		cr_assert_geq(n, 2);
		*val = p[1];
		return 2;
	case 0x0B:
		cr_assert_geq(n, 3);
		*val = rd16(p + 1);
		return 3;
	case 0x0C:
		cr_assert_geq(n, 5);
		*val = rd32(p + 1);
		return 5;
	case 0x11: /* Buffer: PkgLength, BufferSize, bytes */
		pl = pkg_length(p + 1, &nb);
		cr_assert_leq(1 + pl, n, "buffer past the end");
		off = 1 + nb;
		off += parse_data(p + off, 1 + pl - off, &size, buf, buf_len);
		cr_assert_eq(off + size, 1 + pl, "buffer size %llu vs package",
			     (unsigned long long)size);
		*buf = p + off;
		*buf_len = size;
		return 1 + pl;
	case 0x0D: /* String */
		*buf = p + 1;
		*buf_len = strnlen((const char *)p + 1, n - 1);
		cr_assert_lt(1 + *buf_len, n, "unterminated string");
		*val = UINT64_MAX;
		return 2 + *buf_len;
	case 0x12: /* Package: PkgLength, NumElements, the elements (integers here) */
		pl = pkg_length(p + 1, &nb);
		cr_assert_leq(1 + pl, n, "package past the end");
		*val = p[1 + nb]; /* element count; the caller re-reads elements */
		*buf = p + 2 + nb;
		*buf_len = 1 + pl - (2 + nb);
		return 1 + pl;
	}
	cr_assert_fail("unexpected data object %#x", p[0]);
	return 0;
}

static size_t parse_terms(struct parsed *out, const uint8_t *p, size_t n, struct dsdt_dev *dev)
{
	size_t off = 0;

	while (off < n) {
		size_t pl, nb, end;
		char seg[5];

		if (p[off] == 0x10) { /* Scope */
			pl = pkg_length(p + off + 1, &nb);
			end = off + 1 + pl;
			cr_assert_leq(end, n, "scope past the end");
			off += 1 + nb;
			off += parse_name(p + off, end - off, seg);
			cr_assert_str_eq(seg, "_SB_");
			parse_terms(out, p + off, end - off, NULL);
			off = end;
		} else if (p[off] == 0x5B && off + 1 < n && p[off + 1] == 0x82) { /* Device */
			struct dsdt_dev *d = &out->devs[out->ndevs];

			cr_assert_lt(out->ndevs, 48);
			pl = pkg_length(p + off + 2, &nb);
			end = off + 2 + pl;
			cr_assert_leq(end, n, "device past the end");
			off += 2 + nb;
			off += parse_name(p + off, end - off, d->name);
			out->ndevs++;
			parse_terms(out, p + off, end - off, d);
			off = end;
		} else if (p[off] == 0x14) { /* Method: name and flags; body not parsed */
			cr_assert_not_null(dev, "Method outside a device");
			pl = pkg_length(p + off + 1, &nb);
			end = off + 1 + pl;
			cr_assert_leq(end, n, "method past the end");
			parse_name(p + off + 1 + nb, end - off - 1 - nb, dev->method);
			off = end;
		} else if (p[off] == 0x5B && off + 1 < n && p[off + 1] == 0x80) { /* OpRegion */
			const uint8_t *buf;
			size_t buf_len;
			uint64_t port, len;

			cr_assert_not_null(dev, "OperationRegion outside a device");
			off += 2;
			off += parse_name(p + off, n - off, seg);
			cr_assert_eq(p[off], 1, "SystemIO");
			off++;
			off += parse_data(p + off, n - off, &port, &buf, &buf_len);
			off += parse_data(p + off, n - off, &len, &buf, &buf_len);
			dev->region_port = (uint16_t)port;
		} else if (p[off] == 0x5B && off + 1 < n && p[off + 1] == 0x81) { /* Field */
			pl = pkg_length(p + off + 2, &nb);
			cr_assert_leq(off + 2 + pl, n, "field past the end");
			off += 2 + pl;
		} else if (p[off] == 0x08 && !dev) { /* Name at the root: \_S5 */
			const uint8_t *buf;
			size_t buf_len;
			uint64_t v;

			off++;
			off += parse_name(p + off, n - off, seg);
			cr_assert_str_eq(seg, "_S5_", "unexpected name at the root");
			off += parse_data(p + off, n - off, &v, &buf, &buf_len);
			cr_assert_not_null(buf, "_S5 is a package");
			out->s5_count = (int)v;
			for (size_t e = 0, i = 0; e < v && i < buf_len; e++) {
				const uint8_t *b2;
				size_t l2;

				i += parse_data(buf + i, buf_len - i, &out->s5[e], &b2, &l2);
			}
		} else if (p[off] == 0x08) { /* Name */
			const uint8_t *buf;
			size_t buf_len;
			uint64_t v;

			off++;
			off += parse_name(p + off, n - off, seg);
			off += parse_data(p + off, n - off, &v, &buf, &buf_len);
			if (!strcmp(seg, "_HID") && buf) {
				cr_assert_lt(buf_len, sizeof(dev->hid_str));
				memcpy(dev->hid_str, buf, buf_len);
			} else if (!strcmp(seg, "_HID")) {
				dev->hid = (uint32_t)v;
			} else if (!strcmp(seg, "_UID")) {
				dev->has_uid = true;
			} else if (!strcmp(seg, "_CRS")) {
				cr_assert_not_null(buf);
				parse_crs(buf, buf_len, dev);
			}
		} else {
			cr_assert_fail("unexpected AML opcode %#x", p[off]);
		}
	}
	cr_assert_eq(off, n);
	return off;
}

/* What a guest does: find the RSDP in the BIOS area, then every table. */
static void parse(struct glue_mem *mem, struct parsed *out)
{
	const uint8_t *bios = glue_mem_ptr(mem, 0xE0000, 0x20000), *rsdp = NULL, *f;

	memset(out, 0, sizeof(*out));
	cr_assert_not_null(bios);
	for (size_t off = 0; off < 0x20000; off += 16)
		if (!memcmp(bios + off, "RSD PTR ", 8) && sum(bios + off, 20) == 0) {
			rsdp = bios + off;
			out->rsdp_gpa = 0xE0000 + off;
			break;
		}
	cr_assert_not_null(rsdp, "no RSDP with a valid checksum");
	cr_assert_eq(rsdp[15], 2, "RSDP revision");
	cr_assert_eq(rd32(rsdp + 20), 36, "RSDP length");
	cr_assert_eq(sum(rsdp, 36), 0, "RSDP extended checksum");
	cr_assert_eq(memcmp(rsdp + 9, "GLUE  ", 6), 0, "RSDP OEM ID");

	check_sdt(mem, rd64(rsdp + 24), "XSDT", 1, &out->xsdt);
	cr_assert_eq((out->xsdt.len - 36) % 8, 0, "XSDT length");
	out->xsdt_entries = (out->xsdt.len - 36) / 8;
	for (uint32_t i = 0; i < out->xsdt_entries; i++) {
		uint64_t gpa = rd64(out->xsdt.p + 36 + 8 * i);
		const uint8_t *sig = glue_mem_ptr(mem, gpa, 4);

		cr_assert_not_null(sig);
		if (!memcmp(sig, "FACP", 4)) {
			cr_assert_null(out->fadt.p, "two FADTs");
			check_sdt(mem, gpa, "FACP", 6, &out->fadt);
		} else if (!memcmp(sig, "APIC", 4)) {
			cr_assert_null(out->madt.p, "two MADTs");
			check_sdt(mem, gpa, "APIC", 5, &out->madt);
		} else if (!memcmp(sig, "MCFG", 4)) {
			cr_assert_null(out->mcfg.p, "two MCFGs");
			check_sdt(mem, gpa, "MCFG", 1, &out->mcfg);
		} else {
			cr_assert_fail("unexpected table %.4s in the XSDT", (const char *)sig);
		}
	}
	cr_assert_not_null(out->fadt.p, "no FADT");
	cr_assert_not_null(out->madt.p, "no MADT");

	f = out->fadt.p;
	cr_assert_eq(out->fadt.len, 276, "FADT length");
	cr_assert_eq(f[131], 5, "FADT minor version");
	cr_assert_eq(memcmp(f + 268, "GLUE", 4), 0, "hypervisor vendor");
	cr_assert_eq(rd64(f + 140), rd32(f + 40), "X_DSDT and DSDT differ");
	check_sdt(mem, rd64(f + 140), "DSDT", 2, &out->dsdt);
	parse_terms(out, out->dsdt.p + 36, out->dsdt.len - 36, NULL);
	parse_madt(out);
}

static int write_default(struct glue_mem *mem, uint32_t ncpus, uint64_t *rsdp)
{
	struct glue_acpi_config cfg;

	glue_acpi_config_init(&cfg);
	cfg.ncpus = ncpus;
	return glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, rsdp);
}

Test(acpi, tables_found_and_valid)
{
	struct glue_mem *mem = new_mem();
	struct glue_acpi_config cfg;
	uint64_t rsdp = 0;
	struct parsed *p = calloc(1, sizeof(*p));
	const uint8_t *f;
	uint64_t end;

	cr_assert_eq(write_default(mem, 2, &rsdp), 0, "%s", glue_error_last());
	parse(mem, p);
	cr_assert_eq(rsdp, GLUE_ACPI_ADDR);
	cr_assert_eq(p->rsdp_gpa, GLUE_ACPI_ADDR);
	cr_assert_eq(p->xsdt_entries, 2);

	/* glue_acpi_size() covers exactly what was written. */
	glue_acpi_config_init(&cfg);
	cfg.ncpus = 2;
	end = GLUE_MAX(GLUE_MAX(p->xsdt.gpa + p->xsdt.len, p->fadt.gpa + p->fadt.len),
		       GLUE_MAX(p->dsdt.gpa + p->dsdt.len, p->madt.gpa + p->madt.len));
	cr_assert_eq(glue_acpi_size(&cfg), end - GLUE_ACPI_ADDR);
	cr_assert_leq(end, GLUE_MPTABLE_ADDR);

	f = p->fadt.p;
	cr_assert(rd32(f + 112) & (1U << 20), "HW_REDUCED_ACPI");
	cr_assert(rd32(f + 112) & (1U << 0), "WBINVD");
	cr_assert_eq(rd16(f + 46), 0, "SCI_INT");
	cr_assert_eq(rd32(f + 76), 0, "PM timer block");
	cr_assert_eq(rd32(f + 36), 0, "FACS");
	cr_assert(rd16(f + 109) & (1U << 1), "8042 present");
	cr_assert_not(rd16(f + 109) & (1U << 5), "CMOS RTC present");
	cr_assert_eq(f[108], 0x32, "century register");
	cr_assert_eq(rd16(f + 129), 0, "ARM boot flags");
	free(p);
	glue_mem_free(mem);
}

Test(acpi, rsdp_scan_window_and_addresses_below_4g)
{
	struct glue_mem *mem = new_mem();
	const uint8_t *r;

	cr_assert_eq(write_default(mem, 1, NULL), 0);
	r = glue_mem_ptr(mem, GLUE_ACPI_ADDR, 36);
	cr_assert_eq(rd32(r + 16), 0, "no RSDT");
	cr_assert_lt(rd64(r + 24), 0x100000, "XSDT in the BIOS area");
	glue_mem_free(mem);
}

static void check_madt(uint32_t n)
{
	struct glue_mem *mem = new_mem();
	struct parsed *p = calloc(1, sizeof(*p));

	cr_assert_eq(write_default(mem, n, NULL), 0, "%u CPUs: %s", n, glue_error_last());
	parse(mem, p);
	cr_assert_eq(p->lapic_addr, 0xFEE00000);
	cr_assert_eq(p->madt_flags, 1, "PCAT_COMPAT");
	cr_assert_eq(p->nlapic, n, "%u CPUs: %u LAPIC entries", n, p->nlapic);
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(p->lapic_id[i], i, "APIC ID");
		cr_assert_eq(p->lapic_uid[i], i, "processor UID");
		cr_assert_eq(p->lapic_flags[i], 1, "enabled");
	}
	cr_assert_eq(p->nioapic, 1);
	cr_assert_eq(p->ioapic_id, (uint8_t)n, "I/O APIC ID = ncpus, as in the MP table");
	cr_assert_eq(p->ioapic_addr, 0xFEC00000);
	cr_assert_eq(p->ioapic_gsi_base, 0);
	cr_assert_eq(p->nnmi, 1);
	cr_assert_eq(p->nmi_uid, 0xFF, "NMI on all processors");
	cr_assert_eq(p->nmi_lint, 1, "NMI on LINT1");
	cr_assert_eq(p->nmi_flags, 0);
	cr_assert_eq(p->nother, 0, "no interrupt source overrides or other entries");
	free(p);
	glue_mem_free(mem);
}

Test(acpi, madt_1)
{
	check_madt(1);
}

Test(acpi, madt_2)
{
	check_madt(2);
}

Test(acpi, madt_8)
{
	check_madt(8);
}

Test(acpi, madt_64)
{
	check_madt(64);
}

Test(acpi, madt_255)
{
	check_madt(255);
}

static const struct dsdt_dev *find_dev(const struct parsed *p, uint32_t hid)
{
	for (int i = 0; i < p->ndevs; i++)
		if (p->devs[i].hid == hid)
			return &p->devs[i];
	return NULL;
}

#define HID_COM 0x0105D041 /* PNP0501 */
#define HID_KBD 0x0303D041 /* PNP0303 */
#define HID_RTC 0x000BD041 /* PNP0B00 */

Test(acpi, dsdt_devices)
{
	struct glue_mem *mem = new_mem();
	struct parsed *p = calloc(1, sizeof(*p));
	const struct dsdt_dev *d;

	cr_assert_eq(write_default(mem, 1, NULL), 0);
	parse(mem, p);
	cr_assert_eq(p->ndevs, 3);

	d = find_dev(p, HID_COM);
	cr_assert_not_null(d, "COM1");
	cr_assert_str_eq(d->name, "COM1");
	cr_assert_eq(d->nio, 1);
	cr_assert_eq(d->io_base[0], 0x3F8);
	cr_assert_eq(d->io_len[0], 8);
	cr_assert_eq(d->nirq, 1);
	cr_assert_eq(d->irq_mask, 1U << 4);

	d = find_dev(p, HID_KBD);
	cr_assert_not_null(d, "i8042");
	cr_assert_eq(d->nio, 2);
	cr_assert_eq(d->io_base[0], 0x60, "data port first");
	cr_assert_eq(d->io_base[1], 0x64);
	cr_assert_eq(d->io_len[0], 1);
	cr_assert_eq(d->io_len[1], 1);
	cr_assert_eq(d->irq_mask, 1U << 1);

	d = find_dev(p, HID_RTC);
	cr_assert_not_null(d, "RTC");
	cr_assert_eq(d->nio, 1);
	cr_assert_eq(d->io_base[0], 0x70);
	cr_assert_eq(d->io_len[0], 2);
	cr_assert_eq(d->irq_mask, 1U << 8);
	free(p);
	glue_mem_free(mem);
}

/* Devices switched off vanish from the DSDT and the FADT boot flags. */
Test(acpi, devices_follow_config)
{
	for (int mask = 0; mask < 8; mask++) {
		struct glue_mem *mem = new_mem();
		struct parsed *p = calloc(1, sizeof(*p));
		struct glue_acpi_config cfg;
		uint16_t boot;

		glue_acpi_config_init(&cfg);
		cfg.serial = mask & 1;
		cfg.i8042 = mask & 2;
		cfg.rtc = mask & 4;
		cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), 0, "%s",
			     glue_error_last());
		parse(mem, p);
		cr_assert_eq(p->ndevs, __builtin_popcount(mask), "mask %d", mask);
		cr_assert_eq(find_dev(p, HID_COM) != NULL, cfg.serial);
		cr_assert_eq(find_dev(p, HID_KBD) != NULL, cfg.i8042);
		cr_assert_eq(find_dev(p, HID_RTC) != NULL, cfg.rtc);
		boot = rd16(p->fadt.p + 109);
		cr_assert_eq(!!(boot & (1U << 1)), cfg.i8042, "mask %d: 8042 flag", mask);
		cr_assert_eq(!!(boot & (1U << 5)), !cfg.rtc, "mask %d: NO_CMOS_RTC flag", mask);
		cr_assert_eq(p->fadt.p[108], cfg.rtc ? 0x32 : 0, "century");
		cr_assert_eq(!!(boot & 1), mask != 0, "mask %d: LEGACY_DEVICES", mask);
		free(p);
		glue_mem_free(mem);
	}
}

Test(acpi, coexists_with_mptable)
{
	struct glue_mem *mem = new_mem();
	struct parsed *p = calloc(1, sizeof(*p));
	const uint8_t *mpf;

	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 255, NULL), 0);
	cr_assert_eq(write_default(mem, 255, NULL), 0);
	parse(mem, p);
	mpf = glue_mem_ptr(mem, GLUE_MPTABLE_ADDR, 16);
	cr_assert_eq(memcmp(mpf, "_MP_", 4), 0);
	cr_assert_eq(sum(mpf, 16), 0, "MP floating pointer intact");
	free(p);
	glue_mem_free(mem);
}

/* The tables may live anywhere in RAM, e.g. above 4 GiB (X_DSDT only). */
Test(acpi, other_addresses)
{
	struct glue_mem *mem;
	struct parsed *p = calloc(1, sizeof(*p));
	struct glue_acpi_config cfg;
	uint64_t rsdp = 0;
	const uint8_t *r;
	struct table fadt;

	cr_assert_eq(glue_mem_new_x86(&mem, 4ULL << 30), 0);
	glue_acpi_config_init(&cfg);
	cfg.ncpus = 4;
	cr_assert_eq(glue_acpi_write(mem, 0x100000000ULL, &cfg, &rsdp), 0, "%s", glue_error_last());
	cr_assert_eq(rsdp, 0x100000000ULL);
	r = glue_mem_ptr(mem, rsdp, 36);
	cr_assert_eq(sum(r, 20), 0);
	cr_assert_eq(sum(r, 36), 0);
	check_sdt(mem, rd64(r + 24), "XSDT", 1, &p->xsdt);
	check_sdt(mem, rd64(p->xsdt.p + 36), "FACP", 6, &fadt);
	cr_assert_eq(rd32(fadt.p + 40), 0, "no 32-bit DSDT pointer above 4 GiB");
	cr_assert_gt(rd64(fadt.p + 140), 0x100000000ULL);
	check_sdt(mem, rd64(fadt.p + 140), "DSDT", 2, &p->dsdt);
	free(p);
	glue_mem_free(mem);
}

static bool all_zero(struct glue_mem *mem, uint64_t gpa, size_t n)
{
	const uint8_t *q = glue_mem_ptr(mem, gpa, n);

	for (size_t i = 0; i < n; i++)
		if (q[i])
			return false;
	return true;
}

Test(acpi, bad_config)
{
	struct glue_mem *mem = new_mem();
	struct glue_acpi_config cfg;
	uint64_t rsdp = 42;

	glue_acpi_config_init(&cfg);
	cfg.ncpus = 0;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, &rsdp), -EINVAL);
	cr_assert_eq(glue_acpi_size(&cfg), 0);
	cfg.ncpus = 256;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, &rsdp), -EINVAL);
	cr_assert(strstr(glue_error_last(), "256 CPUs"), "message: %s", glue_error_last());
	cr_assert_eq(glue_acpi_size(&cfg), 0);

	glue_acpi_config_init(&cfg);
	cfg.size = 4;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, &rsdp), -EINVAL);
	cr_assert(strstr(glue_error_last(), "glue_acpi_config_init"), "message: %s",
		  glue_error_last());
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, NULL, &rsdp), -EINVAL);

	glue_acpi_config_init(&cfg);
	cfg.lapic_addr = 0x100000000ULL;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, &rsdp), -EINVAL);
	glue_acpi_config_init(&cfg);
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR + 8, &cfg, &rsdp), -EINVAL);
	cr_assert(strstr(glue_error_last(), "aligned"), "message: %s", glue_error_last());

	cr_assert_eq(rsdp, 42, "rsdp_gpa untouched on failure");
	cr_assert(all_zero(mem, GLUE_ACPI_ADDR, 0x10000), "nothing written");
	glue_mem_free(mem);
}

Test(acpi, does_not_fit)
{
	struct glue_mem *mem = new_mem();
	struct glue_acpi_config cfg;
	size_t size;

	glue_acpi_config_init(&cfg);
	cfg.ncpus = 255;
	size = glue_acpi_size(&cfg);
	cr_assert_gt(size, 2048);

	/* not backed: the legacy VGA hole */
	cr_assert_eq(glue_acpi_write(mem, 0xA0000, &cfg, NULL), -ENOSPC);
	cr_assert(strstr(glue_error_last(), "0xa0000"), "message: %s", glue_error_last());
	/* runs off the end of RAM */
	cr_assert_eq(glue_acpi_write(mem, glue_mem_end(mem) - 1024, &cfg, NULL), -ENOSPC);
	/* runs off the end of the BIOS area into the next region */
	cr_assert_eq(glue_acpi_write(mem, 0x100000 - 1024, &cfg, NULL), -ENOSPC);
	/* would overlap the MP table */
	cr_assert_eq(glue_acpi_write(mem, 0xF0000 - 1024, &cfg, NULL), -ENOSPC);
	cr_assert(strstr(glue_error_last(), "MP table"), "message: %s", glue_error_last());
	cr_assert(all_zero(mem, 0xC0000, 0x40000), "nothing written");
	/* just fits below it */
	cr_assert_eq(glue_acpi_write(mem, GLUE_ALIGN_DOWN(0xF0000 - size, 16), &cfg, NULL), 0, "%s",
		     glue_error_last());
	cr_assert_eq(glue_acpi_write(NULL, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	glue_mem_free(mem);
}

/* ---- iasl (acpica-tools), when installed ---- */

static bool have_iasl(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

static void dump(const char *dir, const char *name, const struct table *t)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(t->p, 1, t->len, f), t->len);
	fclose(f);
}

/* Every table, as iasl and acpiexec take them: xsdt, facp, dsdt, apic (and mcfg) .dat. */
static void dump_tables(const char *dir, const struct parsed *p)
{
	dump(dir, "xsdt", &p->xsdt);
	dump(dir, "facp", &p->fadt);
	dump(dir, "dsdt", &p->dsdt);
	dump(dir, "apic", &p->madt);
	if (p->mcfg.p)
		dump(dir, "mcfg", &p->mcfg);
}

/* Whole file into a NUL-terminated string. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	cr_assert_not_null(f, "%s missing", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

Test(acpi, iasl_disassembles)
{
	struct glue_mem *mem;
	struct parsed *p;
	char dir[] = "/tmp/glue-acpi-XXXXXX", cmd[512], path[300];
	const char *names[] = {"xsdt", "facp", "dsdt", "apic"};
	char *dsl;

	if (!have_iasl())
		cr_skip_test("iasl (acpica-tools) not installed");
	mem = new_mem();
	p = calloc(1, sizeof(*p));
	cr_assert_eq(write_default(mem, 4, NULL), 0);
	parse(mem, p);
	cr_assert_not_null(mkdtemp(dir));
	dump_tables(dir, p);
	for (size_t i = 0; i < 4; i++) {
		snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >%s.log 2>&1", dir, names[i],
			 names[i]);
		cr_assert_eq(system(cmd), 0, "iasl -d %s failed (see %s/%s.log)", names[i], dir,
			     names[i]);
		snprintf(path, sizeof(path), "%s/%s.dsl", dir, names[i]);
		dsl = slurp(path);
		/* iasl flags bad checksums and lengths in the disassembly. */
		cr_assert_null(strstr(dsl, "Incorrect"), "%s: %s", names[i], dsl);
		cr_assert_null(strstr(dsl, "Invalid"), "%s: %s", names[i], dsl);
		cr_assert_null(strstr(dsl, "Error"), "%s: %s", names[i], dsl);
		if (!strcmp(names[i], "dsdt")) {
			cr_assert(strstr(dsl, "EisaId (\"PNP0501\")"), "%s", dsl);
			cr_assert(strstr(dsl, "EisaId (\"PNP0303\")"), "%s", dsl);
			cr_assert(strstr(dsl, "EisaId (\"PNP0B00\")"), "%s", dsl);
			cr_assert(strstr(dsl, "IO (Decode16,"), "%s", dsl);
			cr_assert(strstr(dsl, "IRQNoFlags ()"), "%s", dsl);
		}
		if (!strcmp(names[i], "apic"))
			cr_assert(strstr(dsl, "Processor Local APIC"), "%s", dsl);
		free(dsl);
	}
	/* acpiexec runs ACPICA's interpreter, the one Linux uses: the DSDT must
	 * load into the namespace and its _CRS must evaluate. */
	if (system("command -v acpiexec >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
			 "cd %s && acpiexec -b 'evaluate \\_SB.COM1._CRS' facp.dat dsdt.dat "
			 "apic.dat xsdt.dat >exec.log 2>&1",
			 dir);
		cr_assert_eq(system(cmd), 0, "acpiexec failed (see %s/exec.log)", dir);
		snprintf(path, sizeof(path), "%s/exec.log", dir);
		dsl = slurp(path);
		cr_assert(strstr(dsl, "3 Devices"), "%s", dsl);
		cr_assert(strstr(dsl, "tables successfully acquired and loaded"), "%s", dsl);
		cr_assert(strstr(dsl, "47 01 F8 03 F8 03 01 08 22 10 00 79"), "%s", dsl);
		cr_assert_null(strstr(dsl, "Error"), "%s", dsl);
		cr_assert_null(strstr(dsl, "Warning"), "%s", dsl);
		free(dsl);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	free(p);
	glue_mem_free(mem);
}
static const struct dsdt_dev *find_named(const struct parsed *p, const char *name)
{
	for (int i = 0; i < p->ndevs; i++)
		if (!strcmp(p->devs[i].name, name))
			return &p->devs[i];
	return NULL;
}

/* What glue's own parser sees of the PM device: the FADT's two sleep
 * registers (GAS: system I/O, 8 bits, byte access), \_S5 = {5, 5, 0, 0},
 * PWRB and GED0 with its interrupt, region and _EVT. */
static void check_pm_tables(const struct parsed *p, uint16_t port, uint32_t gsi)
{
	const uint8_t *f = p->fadt.p;
	const struct dsdt_dev *ged = find_named(p, "GED0"), *btn = find_named(p, "PWRB");
	uint32_t pnp0c0c;

	for (int i = 0; i < 2; i++) {
		const uint8_t *g = f + 244 + 12 * i;

		cr_assert_eq(g[0], 1, "sleep register %d: system I/O", i);
		cr_assert_eq(g[1], 8);
		cr_assert_eq(g[3], 1, "byte access");
		cr_assert_eq(rd32(g + 4), port + i, "sleep register %d at %#x", i, rd32(g + 4));
		cr_assert_eq(rd32(g + 8), 0);
	}
	cr_assert_eq(p->s5_count, 4);
	cr_assert_eq(p->s5[0], 5, "SLP_TYPa of S5");
	cr_assert_eq(p->s5[1], 5);
	cr_assert_not_null(btn, "no PWRB");
	cr_assert(glue_aml_eisaid_value("PNP0C0C", &pnp0c0c));
	cr_assert_eq(btn->hid, pnp0c0c);
	cr_assert_not_null(ged, "no GED0");
	cr_assert_str_eq(ged->hid_str, "ACPI0013");
	cr_assert_eq(ged->next_irq, 1);
	cr_assert_eq(ged->ext_irq, gsi);
	cr_assert_eq(ged->ext_irq_flags, 0x03, "consumer, edge, active high, exclusive");
	cr_assert_str_eq(ged->method, "_EVT");
	cr_assert_eq(ged->region_port, port + 2, "the event register");
}

Test(acpi, pm_only_when_asked)
{
	struct glue_mem *mem = new_mem();
	struct parsed *p = calloc(1, sizeof(*p));
	struct glue_acpi_config cfg;
	uint8_t zero[24] = {0};

	cr_assert_eq(write_default(mem, 1, NULL), 0);
	parse(mem, p);
	cr_assert_null(find_named(p, "GED0"));
	cr_assert_null(find_named(p, "PWRB"));
	cr_assert_eq(p->s5_count, 0);
	cr_assert_arr_eq(p->fadt.p + 244, zero, sizeof(zero), "no sleep registers");
	memset(p, 0, sizeof(*p));
	glue_acpi_config_init(&cfg);
	cfg.pm = true;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), 0, "%s", glue_error_last());
	parse(mem, p);
	check_pm_tables(p, 0x600, 9);
	cfg.pm_gsi = 24;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	cr_assert(strstr(glue_error_last(), "GSI 24"), "%s", glue_error_last());
	cfg.pm_gsi = 9;
	cfg.pm_port = 0xfffe;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	free(p);
	glue_mem_free(mem);
}

/* The PM device's tables, through ACPICA: the FADT's sleep registers, \_S5,
 * the GED whose _EVT notifies the power button when the event register's
 * bit 0 is set (acpiexec -fv fills operation regions with a value). */
Test(acpi, iasl_pm_device)
{
	struct glue_acpi_config cfg;
	struct glue_mem *mem;
	struct parsed *p;
	char dir[] = "/tmp/glue-acpi-XXXXXX", cmd[768], path[300];
	char *dsl;

	if (!have_iasl())
		cr_skip_test("iasl (acpica-tools) not installed");
	mem = new_mem();
	p = calloc(1, sizeof(*p));
	glue_acpi_config_init(&cfg);
	cfg.ncpus = 2;
	cfg.pm = true;
	cfg.pm_port = 0x610;
	cfg.pm_gsi = 11;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), 0, "%s", glue_error_last());
	parse(mem, p);
	check_pm_tables(p, 0x610, 11);
	cr_assert_not_null(mkdtemp(dir));
	dump_tables(dir, p);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d facp.dat dsdt.dat >iasl.log 2>&1", dir);
	cr_assert_eq(system(cmd), 0, "iasl -d failed (see %s/iasl.log)", dir);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	dsl = slurp(path);
	cr_assert_null(strstr(dsl, "Error"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_S5, Package (0x04)"), "%s", dsl);
	cr_assert(strstr(dsl, "EisaId (\"PNP0C0C\")"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_HID, \"ACPI0013\" /* Generic Event Device */)"), "%s", dsl);
	cr_assert(strstr(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "0x0000000B,"), "GSI 11: %s", dsl);
	cr_assert(strstr(dsl, "OperationRegion (GEDR, SystemIO, 0x0612, One)"), "%s", dsl);
	cr_assert(strstr(dsl, "Method (_EVT, 1, Serialized)"), "%s", dsl);
	cr_assert(strstr(dsl, "Notify (PWRB, 0x80)"), "%s", dsl);
	free(dsl);
	snprintf(path, sizeof(path), "%s/facp.dsl", dir);
	dsl = slurp(path);
	cr_assert(strstr(dsl, "Sleep Control Register"), "%s", dsl);
	cr_assert(strstr(dsl, "Address : 0000000000000610"), "%s", dsl);
	cr_assert(strstr(dsl, "Address : 0000000000000611"), "%s", dsl);
	free(dsl);
	if (system("command -v acpiexec >/dev/null 2>&1") == 0) {
		for (int fill = 0; fill <= 1; fill++) {
			snprintf(cmd, sizeof(cmd),
				 "cd %s && acpiexec -fv %d -b 'evaluate \\_S5;evaluate "
				 "\\_SB.GED0._EVT 11' facp.dat dsdt.dat apic.dat xsdt.dat "
				 ">exec%d.log 2>&1",
				 dir, fill, fill);
			cr_assert_eq(system(cmd), 0, "acpiexec failed (see %s/exec%d.log)", dir,
				     fill);
			snprintf(path, sizeof(path), "%s/exec%d.log", dir, fill);
			dsl = slurp(path);
			cr_assert_null(strstr(dsl, "Error"), "%s", dsl);
			cr_assert_null(strstr(dsl, "AE_"), "%s", dsl);
			cr_assert(strstr(dsl, "0000000000000005"), "\\_S5 holds SLP_TYP 5: %s",
				  dsl);
			if (fill)
				cr_assert(strstr(dsl, "Notify") && strstr(dsl, "PWRB"),
					  "event bit 0 set: _EVT notifies PWRB\n%s", dsl);
			else
				cr_assert_null(strstr(dsl, "PWRB"), "no event: no notify\n%s", dsl);
			free(dsl);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	free(p);
	glue_mem_free(mem);
}
/* virtio-mmio devices: LNRO0005 with their window and level interrupt, as
 * iasl reads them and as ACPICA evaluates them. */
Test(acpi, virtio_mmio_devices)
{
	struct glue_acpi_config cfg;
	struct glue_mem *mem;
	struct parsed *p;
	char dir[] = "/tmp/glue-acpi-XXXXXX", cmd[768], path[300];
	char *dsl;

	mem = new_mem();
	p = calloc(1, sizeof(*p));
	glue_acpi_config_init(&cfg);
	cfg.virtio_mmio_count = GLUE_ACPI_MAX_VIRTIO_MMIO;
	for (uint32_t i = 0; i < cfg.virtio_mmio_count; i++) {
		cfg.virtio_mmio[i].base = 0xd0000000ULL + 0x1000ULL * i;
		cfg.virtio_mmio[i].size = 0x1000;
		cfg.virtio_mmio[i].gsi = 16 + i % 8;
	}
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), 0, "%s", glue_error_last());
	parse(mem, p);
	for (uint32_t i = 0; i < GLUE_ACPI_MAX_VIRTIO_MMIO; i++) {
		const struct dsdt_dev *d = NULL;
		char name[5];

		snprintf(name, sizeof(name), "VR%02X", i);
		for (int j = 0; j < p->ndevs; j++)
			if (!strcmp(p->devs[j].name, name))
				d = &p->devs[j];
		cr_assert_not_null(d, "%s missing", name);
		cr_assert_str_eq(d->hid_str, "LNRO0005");
		cr_assert(d->has_uid);
		cr_assert_eq(d->nmem, 1);
		cr_assert_eq(d->mem_base, 0xd0000000u + 0x1000u * i);
		cr_assert_eq(d->mem_len, 0x1000);
		cr_assert_eq(d->next_irq, 1);
		cr_assert_eq(d->ext_irq, 16 + i % 8);
		cr_assert_eq(d->ext_irq_flags, 0x01, "consumer, level, active-high, exclusive");
	}

	/* out of range: refused, naming why */
	cfg.virtio_mmio_count = GLUE_ACPI_MAX_VIRTIO_MMIO + 1;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	cfg.virtio_mmio_count = 1;
	cfg.virtio_mmio[0].gsi = 24;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	cr_assert(strstr(glue_error_last(), "GSI 24"), "%s", glue_error_last());
	cfg.virtio_mmio[0].gsi = 16;
	cfg.virtio_mmio[0].base = 0xfffff000ULL;
	cfg.virtio_mmio[0].size = 0x2000;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	cr_assert(strstr(glue_error_last(), "below 4 GiB"), "%s", glue_error_last());

	if (!have_iasl())
		cr_skip_test("iasl (acpica-tools) not installed");
	cr_assert_not_null(mkdtemp(dir));
	dump_tables(dir, p);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl.log 2>&1", dir);
	cr_assert_eq(system(cmd), 0, "iasl -d failed (see %s/iasl.log)", dir);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	dsl = slurp(path);
	cr_assert_null(strstr(dsl, "Error"), "%s", dsl);
	cr_assert(strstr(dsl, "Device (VR00)"), "%s", dsl);
	cr_assert(strstr(dsl, "Device (VR1F)"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_HID, \"LNRO0005\")"), "%s", dsl);
	cr_assert(strstr(dsl, "Memory32Fixed (ReadWrite,"), "%s", dsl);
	cr_assert(strstr(dsl, "0xD001F000,"), "%s", dsl);
	cr_assert(strstr(dsl, "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "0x00000017,"), "GSI 23: %s", dsl);
	free(dsl);
	if (system("command -v acpiexec >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
			 "cd %s && acpiexec -b 'evaluate \\_SB.VR1F._CRS;evaluate \\_SB.VR1F._UID' "
			 "facp.dat dsdt.dat apic.dat xsdt.dat >exec.log 2>&1",
			 dir);
		cr_assert_eq(system(cmd), 0, "acpiexec failed (see %s/exec.log)", dir);
		snprintf(path, sizeof(path), "%s/exec.log", dir);
		dsl = slurp(path);
		cr_assert_null(strstr(dsl, "AE_"), "%s", dsl);
		cr_assert(strstr(dsl, "000000000000001F"), "_UID 31: %s", dsl);
		free(dsl);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	free(p);
	glue_mem_free(mem);
}
/* A PCI root bridge: PNP0A08 with its windows and _PRT, MCFG for ECAM and
 * the PNP0C02 reservation of it, as iasl and ACPICA read them. */
Test(acpi, pci_root_bridge)
{
	struct glue_acpi_config cfg;
	struct glue_mem *mem;
	char dir[] = "/tmp/glue-acpi-XXXXXX", cmd[1024], path[300];
	struct parsed *p = calloc(1, sizeof(*p));
	uint64_t rsdp;
	char *dsl;

	mem = new_mem();
	glue_acpi_config_init(&cfg);
	cfg.pci = true;
	cfg.pci_mmio_base = 0xc1000000;
	cfg.pci_mmio_size = 16 << 20;
	cfg.pci_ecam_base = 0xc0000000;
	cfg.pci_intx_count = 2;
	cfg.pci_intx[0].slot = 1;
	cfg.pci_intx[0].gsi = 16;
	cfg.pci_intx[1].slot = 2;
	cfg.pci_intx[1].gsi = 17;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, &rsdp), 0, "%s", glue_error_last());

	/* bad windows and routes are refused */
	cfg.pci_ecam_base = 0xc0080000;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	cfg.pci_ecam_base = 0xc0000000;
	cfg.pci_intx[1].gsi = 24;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);
	cfg.pci_intx[1].gsi = 17;
	cfg.pci_mmio_base = 0xfff00000;
	cr_assert_eq(glue_acpi_write(mem, GLUE_ACPI_ADDR, &cfg, NULL), -EINVAL);

	if (!have_iasl())
		cr_skip_test("iasl (acpica-tools) not installed");
	cr_assert_not_null(mkdtemp(dir));
	/* The tables from guest memory, found through the XSDT as a guest would. */
	parse(mem, p);
	cr_assert_eq(p->rsdp_gpa, rsdp);
	cr_assert_eq(p->xsdt_entries, 3, "FADT, MADT, MCFG");
	cr_assert_not_null(p->mcfg.p);
	dump_tables(dir, p);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat mcfg.dat >iasl.log 2>&1", dir);
	cr_assert_eq(system(cmd), 0, "iasl -d failed (see %s/iasl.log)", dir);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	dsl = slurp(path);
	cr_assert_null(strstr(dsl, "Error"), "%s", dsl);
	cr_assert(strstr(dsl, "Device (PCI0)"), "%s", dsl);
	cr_assert(strstr(dsl, "EisaId (\"PNP0A08\")"), "%s", dsl);
	cr_assert(strstr(dsl, "EisaId (\"PNP0A03\")"), "%s", dsl);
	cr_assert(strstr(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, "
			      "NonCacheable, ReadWrite,"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "0xC1FFFFFF"), "%s", dsl);
	cr_assert(strstr(dsl, "0x0001FFFF"), "_PRT entry of slot 1: %s", dsl);
	cr_assert(strstr(dsl, "EisaId (\"PNP0C02\")"), "%s", dsl);
	free(dsl);
	snprintf(path, sizeof(path), "%s/mcfg.dsl", dir);
	dsl = slurp(path);
	cr_assert(strstr(dsl, "Base Address : 00000000C0000000"), "%s", dsl);
	cr_assert_null(strstr(dsl, "Incorrect"), "%s", dsl);
	free(dsl);
	if (system("command -v acpiexec >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
			 "cd %s && acpiexec -b 'evaluate \\_SB.PCI0._CRS;evaluate \\_SB.PCI0._PRT' "
			 "facp.dat dsdt.dat apic.dat mcfg.dat >exec.log 2>&1",
			 dir);
		cr_assert_eq(system(cmd), 0, "acpiexec failed (see %s/exec.log)", dir);
		snprintf(path, sizeof(path), "%s/exec.log", dir);
		dsl = slurp(path);
		cr_assert_null(strstr(dsl, "AE_"), "%s", dsl);
		cr_assert(strstr(dsl, "0000000000000011"), "_PRT routes slot 2 to GSI 17: %s", dsl);
		free(dsl);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	free(p);
	glue_mem_free(mem);
}
#endif
