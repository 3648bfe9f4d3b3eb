/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: find the floating pointer,
 * check both checksums and collect processors, the IOAPIC and the ISA IRQ
 * routing. The table comes from the VMM: every length is checked before use.
 */
#include "guest.h"

#define MP_ENTRY_CPU 0
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IOINT 3
#define MP_ENTRY_LINT 4

#define MP_HEADER_SIZE 44

static struct mp_info mp;
static bool mp_done;

static u8 checksum(const u8 *p, size_t len)
{
	u8 sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 rd32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

/* The floating pointer sits on a 16-byte boundary in [start, start + len). */
static u64 scan(u64 start, u64 len)
{
	for (u64 a = ALIGN_UP(start, 16); a + 16 <= start + len; a += 16) {
		const u8 *p = (const u8 *)a;

		if (memcmp(p, "_MP_", 4))
			continue;
		/* Length in 16-byte units; only 1 is defined. */
		if (p[8] != 1 || checksum(p, 16))
			continue;
		return a;
	}
	return 0;
}

static u64 find_floating_pointer(void)
{
	/* The BDA says where the EBDA is and how much base memory there is. */
	const volatile u16 *bda_ebda = phys_ptr(0x40e), *bda_base_kib = phys_ptr(0x413);
	u64 ebda = (u64)*bda_ebda << 4;
	u64 base_kib = *bda_base_kib;
	u64 top = (base_kib >= 512 && base_kib <= 640) ? base_kib * 1024 : 0xa0000;
	u64 a;

	if (ebda >= 0x80000 && ebda < 0xa0000 && (a = scan(ebda, 1024)))
		return a;
	if ((a = scan(top - 1024, 1024)))
		return a;
	/* 639 KiB of base memory is the usual layout when the BDA is empty. */
	if (top != 0xa0000 && (a = scan(0x9fc00, 1024)))
		return a;
	return scan(0xf0000, 0x10000);
}

/*
 * Walk the entries by the table length, as Linux does: some firmware (qboot)
 * leaves the header's entry count at 0.
 */
static void parse_table(const u8 *t, u32 len)
{
	const u8 *p = t + MP_HEADER_SIZE, *end = t + len;

	mp.lapic_addr = rd32(t + 36);
	while (p < end) {
		u8 type = p[0];
		size_t size = type == MP_ENTRY_CPU ? 20 : 8;

		if (type > MP_ENTRY_LINT) {
			mp.error = "unknown-entry-type";
			return;
		}
		if ((size_t)(end - p) < size) {
			mp.error = "truncated-entry";
			return;
		}
		switch (type) {
		case MP_ENTRY_CPU:
			if (mp.ncpus < MP_MAX_CPUS) {
				mp.cpu_apic_id[mp.ncpus] = p[1];
				mp.cpu_flags[mp.ncpus] = p[3];
			}
			mp.ncpus++;
			break;
		case MP_ENTRY_BUS:
			if (!memcmp(p + 2, "ISA", 3)) {
				mp.isa_bus_found = true;
				mp.isa_bus_id = p[1];
			}
			break;
		case MP_ENTRY_IOAPIC:
			if ((p[3] & 1) && !mp.ioapic_found) {
				mp.ioapic_found = true;
				mp.ioapic_id = p[1];
				mp.ioapic_addr = rd32(p + 4);
			}
			break;
		case MP_ENTRY_IOINT:
			/* Type INT (0) from the ISA bus; buses precede these entries. */
			if (p[1] == 0 && mp.isa_bus_found && p[4] == mp.isa_bus_id && p[5] < 16) {
				mp.isa_irq_pin[p[5]] = p[7];
				mp.isa_irq_flags[p[5]] = rd16(p + 2);
			}
			break;
		default:
			break;
		}
		p += size;
	}
}

const struct mp_info *mptable_get(void)
{
	if (mp_done)
		return &mp;
	mp_done = true;
	for (int i = 0; i < 16; i++)
		mp.isa_irq_pin[i] = -1;

	u64 fp = find_floating_pointer();

	if (!fp) {
		mp.error = "no-mptable";
		return &mp;
	}
	mp.fp_addr = fp;

	const u8 *f = (const u8 *)fp;

	if (f[11]) {
		mp.error = "default-configuration-unsupported";
		return &mp;
	}
	u64 table = rd32(f + 4);

	mp.table_addr = table;
	/* Keep clear of the top of the 4 GiB map and of address 0. */
	if (table < 0x400 || table > 0xfe000000UL) {
		mp.error = "bad-table-address";
		return &mp;
	}
	const u8 *t = (const u8 *)table;
	u32 len = rd16(t + 4);

	if (memcmp(t, "PCMP", 4)) {
		mp.error = "bad-table-signature";
		return &mp;
	}
	if (len < MP_HEADER_SIZE) {
		mp.error = "bad-table-length";
		return &mp;
	}
	if (checksum(t, len)) {
		mp.error = "bad-table-checksum";
		return &mp;
	}
	mp.found = true;
	parse_table(t, len);
	return &mp;
}
