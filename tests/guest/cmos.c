/* SPDX-License-Identifier: MIT */
/* CMOS (MC146818) access and timeouts counted in RTC seconds. */
#include "guest.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71

/*
 * Poll budget per second when the RTC does not tick. A poll (two or three
 * port exits to the VMM) took ~25 us under the PVM emulator (QEMU, 2026-11),
 * a few us on hardware KVM: a wait without an RTC lasts ~0.2..2.5 times its
 * nominal time.
 */
#define POLLS_PER_SECOND_FALLBACK 100000UL

u8 cmos_read(u8 reg)
{
	outb(CMOS_INDEX, reg & 0x7f);
	return inb(CMOS_DATA);
}

void cmos_write(u8 reg, u8 val)
{
	outb(CMOS_INDEX, reg & 0x7f);
	outb(CMOS_DATA, val);
}

void deadline_start(struct deadline *d, u32 seconds)
{
	/* Registers A and B read 0xff when there is no RTC at all. */
	bool rtc = cmos_read(0x0a) != 0xff || cmos_read(0x0b) != 0xff;

	d->last_sec = cmos_read(0x00);
	/* The first change may come at once: wait for one more. */
	d->ticks_left = seconds + 1;
	/*
	 * With an RTC its ticks decide, and the poll budget only catches one
	 * that stopped (hardware KVM polls far faster than the estimate).
	 */
	d->polls_left = (u64)(seconds ? seconds : 1) * POLLS_PER_SECOND_FALLBACK * (rtc ? 20 : 1);
}

bool deadline_expired(struct deadline *d)
{
	u8 s = cmos_read(0x00);

	if (s != d->last_sec) {
		d->last_sec = s;
		if (--d->ticks_left == 0)
			return true;
	}
	if (d->polls_left == 0 || --d->polls_left == 0)
		return true;
	return false;
}
