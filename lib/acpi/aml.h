/* SPDX-License-Identifier: MIT */
/*
 * Internal: a tiny AML (ACPI Machine Language) encoder, just what glue's
 * DSDT needs: scopes, devices, named integers, strings and packages,
 * resource-template buffers with I/O port and interrupt descriptors, and
 * the few operators of the GED's _EVT method: an I/O operation region with
 * one byte field, Method, Store, If/And, Notify (ACPI 6.5 chapters 6.4, 19,
 * 20).
 *
 * Output goes into a caller-provided fixed buffer; running out of room
 * sets a sticky flag instead of failing each call, so a sequence of calls
 * is checked once at the end with glue_aml_ok().
 *
 * Thread-safety: none needed; a struct glue_aml is used by one thread.
 */
#ifndef GLUE_INTERNAL_AML_H
#define GLUE_INTERNAL_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct glue_aml {
	uint8_t *buf;
	size_t len, cap;
	bool bad; /* out of room, or an invalid argument */
};

/* Start writing into buf[0..cap). */
void glue_aml_init(struct glue_aml *a, uint8_t *buf, size_t cap);
/* False when any call since glue_aml_init() overflowed or got bad input. */
bool glue_aml_ok(const struct glue_aml *a);

void glue_aml_byte(struct glue_aml *a, uint8_t v);
void glue_aml_bytes(struct glue_aml *a, const void *p, size_t n);

/*
 * Packages with a PkgLength: _begin returns a mark, _end inserts the
 * (shortest) PkgLength encoding at the mark covering everything written
 * since, the PkgLength bytes themselves included. Nest freely.
 */
size_t glue_aml_pkg_begin(struct glue_aml *a);
void glue_aml_pkg_end(struct glue_aml *a, size_t mark);

/*
 * A NameString: "\\" root prefix optional, then one or more 4-character
 * segments separated by '.', e.g. "\\_SB_" or "_HID". Segments must be
 * exactly 4 characters of [A-Z0-9_], the first not a digit.
 */
void glue_aml_namestring(struct glue_aml *a, const char *name);

/* An integer constant in its shortest form (ZeroOp, OneOp, Byte..QWord). */
void glue_aml_integer(struct glue_aml *a, uint64_t v);

/*
 * The 32-bit compressed EISA ID of "PNP0501" and the like (3 upper-case
 * letters, 4 hex digits), as ASL's EisaId() yields; false on a bad id.
 */
bool glue_aml_eisaid_value(const char *id, uint32_t *out);
/* The EISA ID as a DWord constant. */
void glue_aml_eisaid(struct glue_aml *a, const char *id);

/* Name (name, ...): NameOp and the name; the caller writes the object. */
void glue_aml_name(struct glue_aml *a, const char *name);

/* Scope (name) { ... } and Device (name) { ... }: return the package mark
 * to close with glue_aml_pkg_end(). */
size_t glue_aml_scope_begin(struct glue_aml *a, const char *name);
size_t glue_aml_device_begin(struct glue_aml *a, const char *name);

/* A string constant ("ACPI0013"): printable ASCII only. */
void glue_aml_string(struct glue_aml *a, const char *s);

/* Package () { integers }: PackageOp, PkgLength, the count, the values. */
void glue_aml_package_ints(struct glue_aml *a, const uint64_t *v, uint8_t n);

/* OperationRegion (name, SystemIO, port, len). */
void glue_aml_opregion_io(struct glue_aml *a, const char *name, uint16_t port, uint8_t len);
/* Field (region, ByteAcc, NoLock, Preserve) { field, 8 }: one byte field. */
void glue_aml_field_byte(struct glue_aml *a, const char *region, const char *field);

/* Method (name, nargs, Serialized or not) { ... }: returns the package mark
 * to close with glue_aml_pkg_end(). */
size_t glue_aml_method_begin(struct glue_aml *a, const char *name, uint8_t nargs, bool serialized);
/* Store (name, Local<n>). */
void glue_aml_store_to_local(struct glue_aml *a, const char *name, uint8_t local);
/* If (And (Local<n>, mask)) { ...: returns the mark to close. */
size_t glue_aml_if_local_and_begin(struct glue_aml *a, uint8_t local, uint64_t mask);
/* Notify (name, value). */
void glue_aml_notify(struct glue_aml *a, const char *name, uint64_t value);

/* Buffer () { bytes }: BufferOp, PkgLength, the size and the bytes. */
void glue_aml_buffer(struct glue_aml *a, const void *p, size_t n);

/*
 * Resource descriptors, written into a (separate) glue_aml that becomes a
 * ResourceTemplate through glue_aml_buffer() after glue_aml_res_end().
 */
/* IO (Decode16, min, max, align, len). */
void glue_aml_res_io(struct glue_aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags () { irq } (edge-triggered, active high: ISA); irq 0-15. */
void glue_aml_res_irq(struct glue_aml *r, unsigned int irq);
/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }: the
 * extended descriptor, for GSIs of the I/O APIC. */
void glue_aml_res_ext_irq_edge(struct glue_aml *r, uint32_t gsi);
/* End tag, with the checksum that makes the whole template sum to zero. */
/* Extended Interrupt, level-triggered and active-high (a virtio-mmio line). */
void glue_aml_res_ext_irq_level(struct glue_aml *r, uint32_t gsi);
/* Memory32Fixed, read-write. */
void glue_aml_res_mem32(struct glue_aml *r, uint32_t base, uint32_t len);
/* Address space descriptors a bridge produces (_CRS of a PCI root). */
#define GLUE_AML_ADDR_MEM 0
#define GLUE_AML_ADDR_IO 1
#define GLUE_AML_ADDR_BUS 2
void glue_aml_res_word_range(struct glue_aml *r, uint8_t type, uint8_t tflags, uint16_t min,
			     uint16_t max);
void glue_aml_res_dword_mem(struct glue_aml *r, uint32_t min, uint32_t max);
void glue_aml_res_end(struct glue_aml *r);

#endif
