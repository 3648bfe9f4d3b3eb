// SPDX-License-Identifier: MIT
/*
 * MP tables: written into guest memory, then found and parsed the way a
 * guest does (scan for "_MP_", validate checksums, walk the entries).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/mptable.h>
#include <glue/x86.h>

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

struct parsed {
	uint32_t cpus, bsp_count, buses, ioapics, extint_pins;
	uint8_t apic_ids[256];
	uint8_t ioapic_id;
	int irq_pin[16]; /* -1: no entry */
	bool lint0_extint, lint1_nmi;
	uint32_t signature, features;
};

/* What a guest does: scan the BIOS area for the floating pointer. */
static void parse(struct glue_mem *mem, struct parsed *out)
{
	uint8_t *bios = glue_mem_ptr(mem, 0xf0000, 0x10000), *mpf = NULL, *mpc, *e, *end;
	uint16_t len, count;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 16; i++)
		out->irq_pin[i] = -1;
	cr_assert_not_null(bios);
	for (size_t off = 0; off < 0x10000; off += 16)
		if (!memcmp(bios + off, "_MP_", 4) && sum(bios + off, 16) == 0) {
			mpf = bios + off;
			break;
		}
	cr_assert_not_null(mpf, "no valid floating pointer");
	cr_assert_eq(mpf[8], 1, "length in paragraphs");
	cr_assert_eq(mpf[9], 4, "spec 1.4");
	cr_assert_eq(mpf[11], 0, "configuration table present (no default config)");

	mpc = glue_mem_ptr(mem, rd32(mpf + 4), 44);
	cr_assert_not_null(mpc);
	cr_assert_eq(memcmp(mpc, "PCMP", 4), 0);
	len = rd16(mpc + 4);
	mpc = glue_mem_ptr(mem, rd32(mpf + 4), len);
	cr_assert_not_null(mpc, "table runs out of memory");
	cr_assert_eq(sum(mpc, len), 0, "table checksum");
	cr_assert_eq(mpc[6], 4);
	cr_assert_eq(memcmp(mpc + 8, "GLUE", 4), 0, "OEM id");
	cr_assert_eq(rd32(mpc + 36), 0xfee00000, "LAPIC address");
	cr_assert_eq(rd16(mpc + 40), 0, "no extended table");
	count = rd16(mpc + 34);

	e = mpc + 44;
	end = mpc + len;
	for (uint16_t i = 0; i < count; i++) {
		cr_assert_lt(e, end, "entry %u beyond the table length", i);
		switch (e[0]) {
		case 0:
			cr_assert_eq(e[2], 0x14, "LAPIC version");
			cr_assert(e[3] & 1, "enabled");
			out->apic_ids[out->cpus++] = e[1];
			if (e[3] & 2) {
				out->bsp_count++;
				cr_assert_eq(e[1], 0, "BSP is APIC 0");
			}
			out->signature = rd32(e + 4);
			out->features = rd32(e + 8);
			e += 20;
			break;
		case 1:
			cr_assert_eq(memcmp(e + 2, "ISA   ", 6), 0);
			out->buses++;
			e += 8;
			break;
		case 2:
			out->ioapics++;
			out->ioapic_id = e[1];
			cr_assert_eq(e[2], 0x11, "I/O APIC version");
			cr_assert_eq(e[3] & 1, 1);
			cr_assert_eq(rd32(e + 4), 0xfec00000);
			e += 8;
			break;
		case 3:
			cr_assert_eq(e[4], 0, "source bus ISA");
			cr_assert_eq(e[6], out->ioapic_id, "destination I/O APIC");
			if (e[1] == 3) {
				out->extint_pins++;
				cr_assert_eq(e[7], 0, "8259 on pin 0");
			} else {
				cr_assert_eq(e[1], 0, "INT");
				cr_assert_lt(e[5], 16);
				cr_assert_eq(out->irq_pin[e[5]], -1, "IRQ %u twice", e[5]);
				out->irq_pin[e[5]] = e[7];
			}
			e += 8;
			break;
		case 4:
			cr_assert_eq(e[6], 0xff, "all local APICs");
			if (e[7] == 0)
				out->lint0_extint = e[1] == 3;
			if (e[7] == 1)
				out->lint1_nmi = e[1] == 1;
			e += 8;
			break;
		default:
			cr_assert_fail("unknown entry type %u", e[0]);
		}
	}
	cr_assert_eq(e, end, "entries fill the table exactly");
}

Test(mptable, parse_back_1_to_64_cpus)
{
	struct glue_mem *mem;
	struct parsed p;

	cr_assert_eq(glue_mem_new_x86(&mem, 64ULL << 20), 0, "%s", glue_error_last());
	for (uint32_t n = 1; n <= 64; n++) {
		/* Stale bytes from a larger table must not confuse the parse. */
		cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, n, NULL), 0, "%u: %s", n,
			     glue_error_last());
		parse(mem, &p);
		cr_assert_eq(p.cpus, n);
		cr_assert_eq(p.bsp_count, 1);
		for (uint32_t i = 0; i < n; i++)
			cr_assert_eq(p.apic_ids[i], i, "APIC ID = vCPU id");
		cr_assert_eq(p.buses, 1);
		cr_assert_eq(p.ioapics, 1);
		cr_assert_eq(p.ioapic_id, n, "I/O APIC id after the CPUs");
		cr_assert_eq(p.extint_pins, 1);
		cr_assert_eq(p.irq_pin[0], 0, "timer on pin 0, as KVM routes GSI 0");
		cr_assert_eq(p.irq_pin[2], -1, "cascade not routed");
		for (int irq = 3; irq < 16; irq++)
			cr_assert_eq(p.irq_pin[irq], irq);
		cr_assert_eq(p.irq_pin[1], 1);
		cr_assert(p.lint0_extint && p.lint1_nmi);
	}
	glue_mem_free(mem);
}

Test(mptable, max_cpus_and_sizes)
{
	struct glue_mem *mem;
	struct parsed p;

	cr_assert_eq(glue_mem_new_x86(&mem, 64ULL << 20), 0);
	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 255, NULL), 0, "%s",
		     glue_error_last());
	parse(mem, &p);
	cr_assert_eq(p.cpus, 255);
	cr_assert_eq(p.apic_ids[254], 254);
	cr_assert_eq(p.ioapic_id, 255);
	cr_assert_eq(glue_mptable_size(255), 16 + 44 + 255 * 20 + 20 * 8);
	cr_assert_lt(glue_mptable_size(255), 0x10000, "fits the BIOS area");
	glue_mem_free(mem);
}

Test(mptable, cpu_signature_from_cpuid)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 2 * sizeof(c->entries[0]));
	struct glue_mem *mem;
	struct parsed p;

	c->nent = 2;
	c->entries[0].function = 0;
	c->entries[0].eax = 0xd;
	c->entries[1].function = 1;
	c->entries[1].eax = 0x000806f8;
	c->entries[1].edx = 0x178bfbff;
	cr_assert_eq(glue_mem_new_x86(&mem, 16ULL << 20), 0);
	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 2, c), 0);
	parse(mem, &p);
	cr_assert_eq(p.signature, 0x6f8, "family/model/stepping");
	cr_assert_eq(p.features, 0x178bfbff);
	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 2, NULL), 0);
	parse(mem, &p);
	cr_assert_eq(p.features & 0x201, 0x201, "FPU and APIC without CPUID");
	free(c);
	glue_mem_free(mem);
}

Test(mptable, rejects_what_does_not_fit)
{
	struct glue_mem *mem;

	cr_assert_eq(glue_mem_new_x86(&mem, 16ULL << 20), 0);
	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 0, NULL), -EINVAL);
	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR, 256, NULL), -EINVAL);
	cr_assert(strstr(glue_error_last(), "256 CPUs"), "%s", glue_error_last());
	cr_assert_eq(glue_mptable_write(mem, GLUE_MPTABLE_ADDR + 8, 1, NULL), -EINVAL);
	cr_assert_eq(glue_mptable_write(mem, 0x100000, 1, NULL), -EINVAL, "above 1 MiB");
	/* 255 CPUs need 5.3 KiB: not in the last KiB of the BIOS area. */
	cr_assert_eq(glue_mptable_write(mem, 0xffc00, 255, NULL), -ENOSPC);
	cr_assert(strstr(glue_error_last(), "needs 5320 bytes") &&
			  strstr(glue_error_last(), "only 1024"),
		  "%s", glue_error_last());
	cr_assert_eq(glue_mptable_write(mem, 0xffc00, 30, NULL), 0, "30 CPUs fit in 1 KiB");
	/* The legacy hole [640K, 768K) is not memory. */
	cr_assert_eq(glue_mptable_write(mem, 0xa0000, 1, NULL), -ENOSPC);
	/* Nothing written on failure: the area stays zero. */
	{
		uint8_t z[16] = {0}, buf[16];

		cr_assert_eq(glue_mem_read(mem, GLUE_MPTABLE_ADDR, buf, 16), 0);
		cr_assert_eq(memcmp(buf, z, 16), 0);
	}
	glue_mem_free(mem);
}
