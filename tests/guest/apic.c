/* SPDX-License-Identifier: MIT */
/* Local APIC and IOAPIC through xAPIC MMIO. */
#include "guest.h"

#define MSR_APIC_BASE 0x1b

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10

#define ICR_BUSY 0x1000

u64 lapic_base(void)
{
	static u64 base;

	/* Where the CPU decodes its APIC, whatever a table says; read once. */
	if (!base)
		base = rdmsr(MSR_APIC_BASE) & 0xffffff000UL;
	return base;
}

u32 lapic_read(u32 reg)
{
	return mmio_read32(lapic_base() + reg);
}

void lapic_write(u32 reg, u32 v)
{
	mmio_write32(lapic_base() + reg, v);
}

u8 lapic_id(void)
{
	return (u8)(lapic_read(LAPIC_ID) >> 24);
}

bool lapic_send_ipi(u8 dest, u32 icr_lo)
{
	lapic_write(LAPIC_ICR_HI, (u32)dest << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	for (unsigned int i = 0; i < 100000; i++) {
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY))
			return true;
		cpu_relax();
	}
	return false;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

u32 ioapic_read(u64 base, u32 reg)
{
	mmio_write32(base + IOAPIC_REGSEL, reg);
	return mmio_read32(base + IOAPIC_WINDOW);
}

void ioapic_write(u64 base, u32 reg, u32 v)
{
	mmio_write32(base + IOAPIC_REGSEL, reg);
	mmio_write32(base + IOAPIC_WINDOW, v);
}
