/* SPDX-License-Identifier: MIT */
/* boot: how the guest was entered, and the command line it was given. */
#include "guest.h"

void check_boot(void)
{
	static const char *const entries[] = {"linux64", "linux32", "pvh"};
	u32 crc = crc32_update(0, boot.cmdline, boot.cmdline_len);

	if (!boot.info_ok) {
		test_result("boot", false, "reason=%s entry=%s bootinfo=0x%lx", boot.info_error,
			    entries[boot.entry], boot.info_paddr);
		return;
	}
	if (boot.entry == ENTRY_PVH)
		test_result("boot", true,
			    "entry=pvh pvh_version=%u cmdline_len=%u cmdline_crc32=%08x",
			    boot.pvh_version, boot.cmdline_len, crc);
	else
		test_result("boot", true,
			    "entry=%s protocol=%u.%02u hdrs=%u cmdline_len=%u cmdline_crc32=%08x",
			    entries[boot.entry], boot.linux_version >> 8, boot.linux_version & 0xff,
			    boot.linux_hdrs, boot.cmdline_len, crc);
}
