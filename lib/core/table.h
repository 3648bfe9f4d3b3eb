/* SPDX-License-Identifier: MIT */
/*
 * Helpers for building firmware tables (MP, ACPI) in a host buffer before
 * copying it into guest memory: little-endian stores at byte offsets and the
 * 8-bit checksum both specifications use.
 */
#ifndef GLUE_INTERNAL_TABLE_H
#define GLUE_INTERNAL_TABLE_H

#include <stddef.h>
#include <stdint.h>

static inline void glue_put8(uint8_t *p, size_t off, uint8_t v)
{
	p[off] = v;
}

static inline void glue_put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static inline void glue_put32(uint8_t *p, size_t off, uint32_t v)
{
	glue_put16(p, off, (uint16_t)v);
	glue_put16(p, off + 2, (uint16_t)(v >> 16));
}

static inline void glue_put64(uint8_t *p, size_t off, uint64_t v)
{
	glue_put32(p, off, (uint32_t)v);
	glue_put32(p, off + 4, (uint32_t)(v >> 32));
}

/* The byte that makes p[0..len) sum to zero, given the rest (with the
 * checksum field itself still zero). */
static inline uint8_t glue_table_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0x100 - sum);
}

#endif
