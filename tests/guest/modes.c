/* SPDX-License-Identifier: MIT */
/*
 * Special modes that do not return: reset (reboot through the i8042 at once),
 * ticker (a long-running guest for control-plane tests: pause, resume,
 * snapshot, Ctrl-Alt-Del) and flood (console output as fast as the UART
 * takes it, for tests of a VMM whose console reader stalls).
 */
#include "guest.h"

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define I8042_STR_OBF 0x01     /* output buffer full */
#define I8042_STR_AUXDATA 0x20 /* the byte is from the mouse */

/* Scan code set 1. */
#define SC_CTRL 0x1d
#define SC_ALT 0x38
#define SC_DELETE 0x53
#define SC_EXTENDED 0xe0
#define SC_BREAK 0x80

void mode_reset(void)
{
	kprintf("GUEST RESET via=i8042\n");
	i8042_reset();
}

void mode_flood(void)
{
	for (u64 n = 0;; n++)
		kprintf("FLOOD %lu the quick brown fox jumps over the lazy dog\n", n);
}

void mode_ticker(void)
{
	bool ctrl = false, alt = false;
	u8 last = cmos_read(0x00);
	u64 n = 0;

	kprintf("TICK 0\n");
	for (;;) {
		u8 s = cmos_read(0x00);

		if (s != last) {
			last = s;
			kprintf("TICK %lu\n", ++n);
		}
		u8 st = inb(I8042_STATUS);

		/* 0xff: no controller behind the port. */
		if (st == 0xff || !(st & I8042_STR_OBF))
			continue;
		u8 sc = inb(I8042_DATA);

		if (st & I8042_STR_AUXDATA)
			continue;
		/* The E0 prefix only tells left from right here: skip it. */
		if (sc == SC_EXTENDED)
			continue;
		bool make = !(sc & SC_BREAK);
		u8 code = sc & ~SC_BREAK;

		/* Left and right (E0-prefixed) Ctrl and Alt; Delete with or without E0. */
		if (code == SC_CTRL)
			ctrl = make;
		else if (code == SC_ALT)
			alt = make;
		else if (code == SC_DELETE && make && ctrl && alt) {
			kprintf("SHUTDOWN ctrl-alt-del\n");
			i8042_reset();
		}
	}
}
