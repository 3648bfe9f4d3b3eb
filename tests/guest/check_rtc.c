/* SPDX-License-Identifier: MIT */
/*
 * rtc: read the date from the MC146818 CMOS clock the way an OS does (wait
 * out update-in-progress, honour the BCD and 12/24-hour bits of register B,
 * read until two reads agree) and round-trip a byte of NVRAM.
 */
#include "guest.h"

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_CENTURY 0x32 /* the ACPI FADT's usual century register */
#define RTC_NVRAM_TEST 0x40

#define REG_A_UIP 0x80
#define REG_B_24H 0x02
#define REG_B_BINARY 0x04
#define HOUR_PM 0x80

struct rtc_raw {
	u8 sec, min, hour, day, mon, year, century;
};

static void read_raw(struct rtc_raw *t)
{
	t->sec = cmos_read(RTC_SECONDS);
	t->min = cmos_read(RTC_MINUTES);
	t->hour = cmos_read(RTC_HOURS);
	t->day = cmos_read(RTC_DAY);
	t->mon = cmos_read(RTC_MONTH);
	t->year = cmos_read(RTC_YEAR);
	t->century = cmos_read(RTC_CENTURY);
}

/* Decode a register; -1 if it is not valid BCD. */
static int decode(u8 v, bool binary)
{
	if (binary)
		return v;
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

/* Poll until update-in-progress is clear; false if it never clears. */
static bool wait_uip(bool *seen)
{
	for (unsigned int i = 0; i < 100000; i++) {
		if (!(cmos_read(RTC_REG_A) & REG_A_UIP))
			return true;
		*seen = true;
	}
	return false;
}

static bool nvram_roundtrip(void)
{
	u8 orig = cmos_read(RTC_NVRAM_TEST);
	bool ok;

	cmos_write(RTC_NVRAM_TEST, 0xa5);
	ok = cmos_read(RTC_NVRAM_TEST) == 0xa5;
	cmos_write(RTC_NVRAM_TEST, 0x5a);
	ok = ok && cmos_read(RTC_NVRAM_TEST) == 0x5a;
	cmos_write(RTC_NVRAM_TEST, orig);
	return ok;
}

void check_rtc(void)
{
	struct rtc_raw t, t2;
	bool uip_seen = false, stable = false;
	u8 regb = cmos_read(RTC_REG_B);

	if (regb == 0xff && cmos_read(RTC_REG_A) == 0xff) {
		test_result("rtc", false, "reason=no-rtc");
		return;
	}
	/* An update between two reads changes them: retry until they agree. */
	for (int tries = 0; tries < 5 && !stable; tries++) {
		if (!wait_uip(&uip_seen)) {
			test_result("rtc", false, "reason=uip-stuck");
			return;
		}
		read_raw(&t);
		if (!wait_uip(&uip_seen)) {
			test_result("rtc", false, "reason=uip-stuck");
			return;
		}
		read_raw(&t2);
		stable = !memcmp(&t, &t2, sizeof(t));
	}
	if (!stable) {
		test_result("rtc", false, "reason=unstable");
		return;
	}

	bool binary = regb & REG_B_BINARY, h24 = regb & REG_B_24H;
	bool pm = !h24 && (t.hour & HOUR_PM);
	int sec = decode(t.sec, binary), min = decode(t.min, binary);
	int hour = decode(h24 ? t.hour : t.hour & ~HOUR_PM, binary);
	int day = decode(t.day, binary), mon = decode(t.mon, binary);
	int yy = decode(t.year, binary), cent = decode(t.century, binary);
	bool century_reg = cent >= 19 && cent <= 99;

	if (!h24 && hour >= 1 && hour <= 12)
		hour = hour % 12 + (pm ? 12 : 0);
	if (!century_reg)
		cent = 20;
	int year = cent * 100 + yy;
	bool valid = sec >= 0 && sec < 60 && min >= 0 && min < 60 && hour >= 0 && hour < 24 &&
		     day >= 1 && day <= 31 && mon >= 1 && mon <= 12 && yy >= 0 && yy <= 99;
	bool nvram = nvram_roundtrip();
	bool pass = valid && year >= 2020 && nvram;
	const char *reason = "";

	if (!valid)
		reason = "reason=invalid-date ";
	else if (year < 2020)
		reason = "reason=year-before-2020 ";
	else if (!nvram)
		reason = "reason=nvram-readback ";

	test_result("rtc", pass,
		    "%sdate=%04d-%02d-%02dT%02d:%02d:%02d uip_seen=%u bcd=%u h24=%u century_reg=%u "
		    "nvram=%s regb=0x%02x",
		    reason, year, mon, day, hour, min, sec, uip_seen, !binary, h24, century_reg,
		    nvram ? "ok" : "bad", regb);
}
