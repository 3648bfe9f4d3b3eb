// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glue/config.h>

#if GLUE_HAVE_RTC
#include <glue/bus.h>
#include <glue/rtc.h>

struct env {
	struct glue_bus *bus;
	struct glue_rtc *rtc;
};

static void setup(struct env *e)
{
	cr_assert_eq(glue_bus_new(&e->bus, "pio"), 0);
	cr_assert_eq(glue_rtc_new(&e->rtc, NULL), 0);
	cr_assert_eq(glue_rtc_attach(e->rtc, e->bus), 0);
}

static void teardown(struct env *e)
{
	glue_rtc_free(e->rtc);
	glue_bus_free(e->bus);
}

static uint8_t cmos_read(struct env *e, uint8_t reg)
{
	uint8_t v;

	/* Bit 7 is the NMI mask, as Linux sets it: not part of the index. */
	reg |= 0x80;
	cr_assert_eq(glue_bus_write(e->bus, 0x70, &reg, 1), 0);
	cr_assert_eq(glue_bus_read(e->bus, 0x71, &v, 1), 0);
	return v;
}

static void cmos_write(struct env *e, uint8_t reg, uint8_t v)
{
	cr_assert_eq(glue_bus_write(e->bus, 0x70, &reg, 1), 0);
	cr_assert_eq(glue_bus_write(e->bus, 0x71, &v, 1), 0);
}

static unsigned int bcd(uint8_t v)
{
	return (v >> 4) * 10u + (v & 15);
}

/* Read the clock as Linux's mc146818_get_time() does: wait for UIP to clear
 * and convert. */
static time_t read_clock(struct env *e)
{
	struct tm tm = {0};
	uint8_t b;
	unsigned int (*conv)(uint8_t);

	for (int i = 0; i < 100000 && (cmos_read(e, 0x0A) & 0x80); i++)
		;
	b = cmos_read(e, 0x0B);
	conv = (b & 0x04) ? NULL : bcd;
#define CONV(v) (conv ? conv(v) : (unsigned int)(v))
	tm.tm_sec = (int)CONV(cmos_read(e, 0));
	tm.tm_min = (int)CONV(cmos_read(e, 2));
	if (b & 0x02) {
		tm.tm_hour = (int)CONV(cmos_read(e, 4));
	} else {
		uint8_t h = cmos_read(e, 4);

		tm.tm_hour = (int)(CONV(h & 0x7F) % 12) + ((h & 0x80) ? 12 : 0);
	}
	tm.tm_mday = (int)CONV(cmos_read(e, 7));
	tm.tm_mon = (int)CONV(cmos_read(e, 8)) - 1;
	tm.tm_year = (int)(CONV(cmos_read(e, 0x32)) * 100 + CONV(cmos_read(e, 9))) - 1900;
#undef CONV
	return timegm(&tm);
}

static void assert_near(time_t got, time_t want)
{
	long d = (long)(got - want);

	cr_assert(d >= -2 && d <= 2, "clock off by %ld s", d);
}

Test(rtc, bcd_24h_matches_host)
{
	struct env e;

	setup(&e);
	cr_assert_eq(cmos_read(&e, 0x0B) & 0x06, 0x02, "BCD, 24 h by default");
	cr_assert_eq(cmos_read(&e, 0x0D), 0x80);
	assert_near(read_clock(&e), time(NULL));
	/* Day of week, Sunday = 1. */
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	uint8_t wd = cmos_read(&e, 6);
	cr_assert(wd == tm.tm_wday + 1 || wd == (tm.tm_wday + 1) % 7 + 1, "wday %u", wd);
	teardown(&e);
}

Test(rtc, binary_and_12h)
{
	struct env e;

	setup(&e);
	cmos_write(&e, 0x0B, 0x04); /* binary, 12 h */
	assert_near(read_clock(&e), time(NULL));
	/* Evening and morning hours both decode: pin the clock at 15:xx and
	 * 00:xx. */
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	glue_rtc_set_offset(e.rtc, (15 - tm.tm_hour) * 3600);
	uint8_t h = cmos_read(&e, 4);
	cr_assert(h == (0x80 | 3) || h == (0x80 | 4), "15 h reads as PM 3, got 0x%02x", h);
	glue_rtc_set_offset(e.rtc, (0 - tm.tm_hour) * 3600);
	h = cmos_read(&e, 4);
	cr_assert(h == 12 || h == 1, "0 h reads as AM 12, got 0x%02x", h);
	/* Noon is PM 12, not PM 0; 11 h is AM 11 (the hour may tick over). */
	glue_rtc_set_offset(e.rtc, (12 - tm.tm_hour) * 3600);
	h = cmos_read(&e, 4);
	cr_assert(h == (0x80 | 12) || h == (0x80 | 1), "12 h reads as PM 12, got 0x%02x", h);
	glue_rtc_set_offset(e.rtc, (11 - tm.tm_hour) * 3600);
	h = cmos_read(&e, 4);
	cr_assert(h == 11 || h == (0x80 | 12), "11 h reads as AM 11, got 0x%02x", h);
	teardown(&e);
}

Test(rtc, bcd_12h_noon_and_midnight)
{
	struct env e;
	time_t now = time(NULL);
	struct tm tm;
	uint8_t h;

	setup(&e);
	cmos_write(&e, 0x0B, 0x00); /* BCD, 12 h */
	gmtime_r(&now, &tm);
	glue_rtc_set_offset(e.rtc, (12 - tm.tm_hour) * 3600);
	h = cmos_read(&e, 4);
	cr_assert(h == (0x80 | 0x12) || h == (0x80 | 0x01), "12 h reads as PM 0x12, got 0x%02x", h);
	glue_rtc_set_offset(e.rtc, (0 - tm.tm_hour) * 3600);
	h = cmos_read(&e, 4);
	cr_assert(h == 0x12 || h == 0x01, "0 h reads as AM 0x12, got 0x%02x", h);
	glue_rtc_set_offset(e.rtc, (23 - tm.tm_hour) * 3600);
	h = cmos_read(&e, 4);
	cr_assert(h == (0x80 | 0x11) || h == 0x12, "23 h reads as PM 0x11, got 0x%02x", h);
	teardown(&e);
}

Test(rtc, offset)
{
	struct env e;

	setup(&e);
	glue_rtc_set_offset(e.rtc, 86400 * 365);
	assert_near(read_clock(&e), time(NULL) + 86400 * 365);
	glue_rtc_set_offset(e.rtc, -3600);
	assert_near(read_clock(&e), time(NULL) - 3600);
	teardown(&e);
}

Test(rtc, guest_sets_time_with_set_bit)
{
	struct env e;
	uint8_t b;

	setup(&e);
	/* Linux's mc146818_set_time(): SET, divider reset, registers. */
	b = cmos_read(&e, 0x0B);
	cmos_write(&e, 0x0B, b | 0x80);
	cmos_write(&e, 0x0A, 0x70);
	cmos_write(&e, 9, 0x99); /* 1999 */
	cmos_write(&e, 0x32, 0x19);
	cmos_write(&e, 8, 0x12); /* December */
	cmos_write(&e, 7, 0x31);
	cmos_write(&e, 4, 0x23);
	cmos_write(&e, 2, 0x59);
	cmos_write(&e, 0, 0x30);
	/* Frozen: reads show what was written. */
	cr_assert_eq(cmos_read(&e, 0), 0x30);
	cr_assert_eq(cmos_read(&e, 9), 0x99);
	cr_assert_eq(cmos_read(&e, 0x0A) & 0x80, 0, "no UIP while SET");
	cmos_write(&e, 0x0B, b);
	cmos_write(&e, 0x0A, 0x26);

	struct tm want = {.tm_year = 99,
			  .tm_mon = 11,
			  .tm_mday = 31,
			  .tm_hour = 23,
			  .tm_min = 59,
			  .tm_sec = 30};
	assert_near(read_clock(&e), timegm(&want));
	/* And it keeps running into the next century. */
	sleep(1);
	cr_assert_geq(read_clock(&e), timegm(&want) + 1);
	teardown(&e);
}

Test(rtc, write_without_set_bit)
{
	struct env e;

	setup(&e);
	cmos_write(&e, 0x0B, 0x06); /* binary, 24 h */
	uint8_t y = cmos_read(&e, 9);
	cmos_write(&e, 9, (uint8_t)((y + 1) % 100));
	cr_assert_eq(cmos_read(&e, 9), (y + 1) % 100);
	/* Garbage from the guest does not crash anything. */
	cmos_write(&e, 8, 0xFF);
	cmos_write(&e, 7, 0x00);
	cmos_write(&e, 0x0B, 0x80);
	cmos_write(&e, 4, 0xFF);
	cmos_write(&e, 0x0B, 0x02);
	cmos_read(&e, 4);
	teardown(&e);
}

Test(rtc, uip_seen_set_and_clear, .timeout = 30)
{
	struct env e;
	bool set = false, clear = false;

	setup(&e);
	/* UIP shows for 244 us before each host second: sleep until 50 ms
	 * before one, then poll across it. A loaded machine wakes a sleeper late
	 * and may preempt a poller for a few ms, so wake early, keep polling, and
	 * try across several seconds. */
	for (int attempt = 0; attempt < 20 && !set; attempt++) {
		struct timespec now, nap = {0};

		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_nsec < 1000000000L - 60000000L) {
			nap.tv_nsec = 1000000000L - 60000000L - now.tv_nsec;
			nanosleep(&nap, NULL);
		}
		do {
			uint8_t a = cmos_read(&e, 0x0A);

			cr_assert_eq(a & 0x7F, 0x26, "divider bits read back");
			if (a & 0x80)
				set = true;
			else
				clear = true;
			clock_gettime(CLOCK_REALTIME, &now);
		} while (now.tv_nsec > 1000000000L - 70000000L || now.tv_nsec < 2000000L);
	}
	cr_assert(set, "UIP never set");
	cr_assert(clear, "UIP never clear");
	teardown(&e);
}

/* Two reads in a row normally fall in the same second; a busy machine may
 * put a second boundary between them, so allow a few tries. */
static bool c_clears_on_read(struct env *e)
{
	for (int i = 0; i < 5; i++) {
		cmos_read(e, 0x0C);
		if (cmos_read(e, 0x0C) == 0)
			return true;
	}
	return false;
}

Test(rtc, register_c_update_flag)
{
	struct env e;

	setup(&e);
	cr_assert(c_clears_on_read(&e), "UF cleared by the read");
	sleep(1);
	cr_assert_eq(cmos_read(&e, 0x0C) & 0x10, 0x10, "a second boundary passed");
	cr_assert(c_clears_on_read(&e));
	teardown(&e);
}

Test(rtc, nvram)
{
	struct env e;
	uint8_t v;

	setup(&e);
	for (int r = 0x0E; r < 0x80; r++)
		if (r != 0x32)
			cmos_write(&e, (uint8_t)r, (uint8_t)(r ^ 0x5A));
	for (int r = 0x0E; r < 0x80; r++)
		if (r != 0x32)
			cr_assert_eq(cmos_read(&e, (uint8_t)r), r ^ 0x5A, "reg 0x%x", r);
	cr_assert_eq(glue_rtc_nvram_read(e.rtc, 0x40, &v), 0);
	cr_assert_eq(v, 0x40 ^ 0x5A);
	cr_assert_eq(glue_rtc_nvram_write(e.rtc, 0x7F, 0x11), 0);
	cr_assert_eq(cmos_read(&e, 0x7F), 0x11);
	cr_assert_eq(glue_rtc_nvram_write(e.rtc, 0x0D, 1), -EINVAL);
	cr_assert_eq(glue_rtc_nvram_write(e.rtc, 0x80, 1), -EINVAL);
	cr_assert_eq(glue_rtc_nvram_read(e.rtc, 0x32, &v), -EINVAL);
	/* Alarm registers are plain storage; C and D are read-only. */
	cmos_write(&e, 1, 0x42);
	cr_assert_eq(cmos_read(&e, 1), 0x42);
	cmos_write(&e, 0x0D, 0x00);
	cr_assert_eq(cmos_read(&e, 0x0D), 0x80);
	/* The index port is write-only. */
	uint8_t idx;
	cr_assert_eq(glue_bus_read(e.bus, 0x70, &idx, 1), 0);
	cr_assert_eq(idx, 0xFF);
	teardown(&e);
}

Test(rtc, free_detaches)
{
	struct env e;
	uint8_t v;

	setup(&e);
	cr_assert_eq(glue_rtc_attach(e.rtc, e.bus), -EBUSY);
	glue_rtc_free(e.rtc);
	cr_assert_eq(glue_bus_read(e.bus, 0x71, &v, 1), -ENOENT);
	glue_bus_free(e.bus);
	glue_rtc_free(NULL);
}
#endif
