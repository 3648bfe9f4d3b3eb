// SPDX-License-Identifier: MIT
/*
 * MC146818 RTC.
 *
 * The clock registers are not stored: each read computes them from the host
 * clock (CLOCK_REALTIME) plus an offset in seconds. A guest that sets the
 * clock does it as Linux does: set SET in register B (which freezes the
 * registers), write them, clear SET; the offset is then recomputed from what
 * it wrote. Writes without SET change the offset at once.
 *
 * Left out: interrupts on IRQ 8 (periodic, alarm, update-ended) and the
 * square wave; register C reports the update-ended flag (once per second
 * boundary crossed since it was last read), never PF or AF. The alarm
 * registers are plain storage. The divider bits of register A are kept but
 * do not stop the clock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glue/bus.h>
#include <glue/irq.h>
#include <glue/rtc.h>
#include "core/err.h"
#include "core/util.h"

#define REG_SEC 0x00
#define REG_SEC_ALARM 0x01
#define REG_MIN 0x02
#define REG_MIN_ALARM 0x03
#define REG_HOUR 0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D
#define REG_NVRAM_FIRST 0x0E
#define REG_CENTURY 0x32
#define NR_REGS 0x80

#define A_UIP 0x80
#define A_DV_MASK 0x70
#define A_DV_NORMAL 0x20 /* 32.768 kHz time base, running */

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_SQWE 0x08
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define B_DSE 0x01

#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

#define D_VRT 0x80

/* UIP is set for the last 244 us before each update. */
#define UIP_NS 244000L

struct glue_rtc {
	pthread_mutex_t lock;
	struct glue_irq *irq; /* unused until interrupts are modelled */
	uint8_t index;
	uint8_t cmos[NR_REGS]; /* A, B, alarms, NVRAM; not the clock */
	int64_t offset_s;
	struct tm frozen;   /* the clock while SET is set */
	int64_t last_c_sec; /* guest second at the last register C read */
	struct glue_bus *bus;
};

static struct timespec host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static void guest_tm(const struct glue_rtc *rtc, int64_t host_sec, struct tm *tm)
{
	time_t t = (time_t)(host_sec + rtc->offset_s);

	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm)); /* offset beyond what gmtime takes */
}

/* The clock as the guest sees it now (caller holds the lock). */
static void clock_tm(const struct glue_rtc *rtc, struct tm *tm)
{
	if (rtc->cmos[REG_B] & B_SET)
		*tm = rtc->frozen;
	else
		guest_tm(rtc, host_now().tv_sec, tm);
}

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10 % 10) << 4) | (v % 10));
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10u + (v & 0x0F);
}

static uint8_t encode(const struct glue_rtc *rtc, unsigned int v)
{
	return (rtc->cmos[REG_B] & B_DM_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned int decode(const struct glue_rtc *rtc, uint8_t v)
{
	return (rtc->cmos[REG_B] & B_DM_BINARY) ? v : from_bcd(v);
}

static uint8_t encode_hour(const struct glue_rtc *rtc, int hour)
{
	unsigned int h12;

	if (rtc->cmos[REG_B] & B_24H)
		return encode(rtc, (unsigned int)hour);
	h12 = hour % 12 ? (unsigned int)(hour % 12) : 12;
	return encode(rtc, h12) | (hour >= 12 ? 0x80 : 0);
}

static int decode_hour(const struct glue_rtc *rtc, uint8_t v)
{
	if (rtc->cmos[REG_B] & B_24H)
		return (int)decode(rtc, v);
	/* 12 AM is hour 0, 12 PM is hour 12. */
	return (int)(decode(rtc, v & 0x7F) % 12) + ((v & 0x80) ? 12 : 0);
}

static uint8_t read_clock(const struct glue_rtc *rtc, uint8_t reg)
{
	struct tm tm;

	clock_tm(rtc, &tm);
	switch (reg) {
	case REG_SEC:
		/* A leap second (60) shows as 59: the chip has no 60. */
		return encode(rtc, (unsigned int)GLUE_MIN(tm.tm_sec, 59));
	case REG_MIN:
		return encode(rtc, (unsigned int)tm.tm_min);
	case REG_HOUR:
		return encode_hour(rtc, tm.tm_hour);
	case REG_WDAY:
		return encode(rtc, (unsigned int)tm.tm_wday + 1); /* Sunday = 1 */
	case REG_MDAY:
		return encode(rtc, (unsigned int)tm.tm_mday);
	case REG_MON:
		return encode(rtc, (unsigned int)tm.tm_mon + 1);
	case REG_YEAR:
		return encode(rtc, (unsigned int)(tm.tm_year + 1900) % 100);
	default: /* REG_CENTURY */
		return encode(rtc, (unsigned int)(tm.tm_year + 1900) / 100);
	}
}

/*
 * A guest write to a clock register. The values are guest-controlled: out
 * of range ones (month 13, BCD 0xFF) are normalised by timegm(), as good a
 * meaning as any.
 */
static void write_clock(struct glue_rtc *rtc, uint8_t reg, uint8_t v)
{
	struct tm tm;
	int year;

	clock_tm(rtc, &tm);
	year = tm.tm_year + 1900;
	switch (reg) {
	case REG_SEC:
		tm.tm_sec = (int)decode(rtc, v);
		break;
	case REG_MIN:
		tm.tm_min = (int)decode(rtc, v);
		break;
	case REG_HOUR:
		tm.tm_hour = decode_hour(rtc, v);
		break;
	case REG_WDAY:
		tm.tm_wday = (int)decode(rtc, v) - 1; /* recomputed from the date */
		break;
	case REG_MDAY:
		tm.tm_mday = (int)decode(rtc, v);
		break;
	case REG_MON:
		tm.tm_mon = (int)decode(rtc, v) - 1;
		break;
	case REG_YEAR:
		tm.tm_year = year / 100 * 100 + (int)decode(rtc, v) - 1900;
		break;
	default: /* REG_CENTURY */
		tm.tm_year = (int)decode(rtc, v) * 100 + year % 100 - 1900;
		break;
	}
	if (rtc->cmos[REG_B] & B_SET) {
		rtc->frozen = tm;
	} else {
		time_t t = timegm(&tm);

		if (t != (time_t)-1)
			rtc->offset_s = (int64_t)t - host_now().tv_sec;
	}
}

static bool is_clock_reg(uint8_t reg)
{
	switch (reg) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_WDAY:
	case REG_MDAY:
	case REG_MON:
	case REG_YEAR:
	case REG_CENTURY:
		return true;
	default:
		return false;
	}
}

static uint8_t reg_read(struct glue_rtc *rtc, uint8_t reg)
{
	struct timespec now;
	uint8_t v;

	if (is_clock_reg(reg))
		return read_clock(rtc, reg);
	switch (reg) {
	case REG_A:
		v = rtc->cmos[REG_A];
		now = host_now();
		if ((v & A_DV_MASK) == A_DV_NORMAL && !(rtc->cmos[REG_B] & B_SET) &&
		    now.tv_nsec >= 1000000000L - UIP_NS)
			v |= A_UIP;
		return v;
	case REG_C: {
		int64_t sec = host_now().tv_sec + rtc->offset_s;

		v = 0;
		/* An update cycle ended since the last read. */
		if (!(rtc->cmos[REG_B] & B_SET) && sec != rtc->last_c_sec)
			v |= C_UF;
		rtc->last_c_sec = sec;
		if ((v & C_UF) && (rtc->cmos[REG_B] & B_UIE))
			v |= C_IRQF;
		return v;
	}
	case REG_D:
		return D_VRT; /* the battery is fine */
	default:
		return rtc->cmos[reg];
	}
}

static void reg_write(struct glue_rtc *rtc, uint8_t reg, uint8_t v)
{
	uint8_t old;

	if (is_clock_reg(reg)) {
		write_clock(rtc, reg, v);
		return;
	}
	switch (reg) {
	case REG_A:
		rtc->cmos[REG_A] = v & ~A_UIP;
		break;
	case REG_B:
		old = rtc->cmos[REG_B];
		if (v & B_SET)
			v &= ~B_UIE; /* the chip clears UIE when SET is written */
		if (!(old & B_SET) && (v & B_SET))
			guest_tm(rtc, host_now().tv_sec, &rtc->frozen);
		rtc->cmos[REG_B] = v;
		if ((old & B_SET) && !(v & B_SET)) {
			time_t t = timegm(&rtc->frozen);

			if (t != (time_t)-1)
				rtc->offset_s = (int64_t)t - host_now().tv_sec;
		}
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		rtc->cmos[reg] = v;
		break;
	}
}

static void rtc_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct glue_rtc *rtc = dev;
	uint8_t *p = data;

	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++) {
		/* The index port is write-only. */
		p[i] = offset + i == 1 ? reg_read(rtc, rtc->index) : 0xff;
	}
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct glue_rtc *rtc = dev;
	const uint8_t *p = data;

	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (offset + i == 0)
			rtc->index = p[i] & 0x7F; /* bit 7 masks NMIs: not ours */
		else if (offset + i == 1)
			reg_write(rtc, rtc->index, p[i]);
	}
	pthread_mutex_unlock(&rtc->lock);
}

static const struct glue_bus_ops rtc_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
};

int glue_rtc_new(struct glue_rtc **out, struct glue_irq *irq)
{
	struct glue_rtc *rtc;

	if (!out)
		return glue_err(-EINVAL, "rtc: no output pointer");
	*out = NULL;
	rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return glue_err(-ENOMEM, "rtc: out of memory");
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->irq = irq;
	rtc->cmos[REG_A] = A_DV_NORMAL | 0x06; /* 1024 Hz periodic rate */
	rtc->cmos[REG_B] = B_24H;	       /* BCD, 24 hours, as a BIOS sets */
	rtc->last_c_sec = host_now().tv_sec;
	*out = rtc;
	return 0;
}

void glue_rtc_free(struct glue_rtc *rtc)
{
	if (!rtc)
		return;
	if (rtc->bus)
		glue_bus_unregister(rtc->bus, GLUE_RTC_PORT);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

int glue_rtc_attach(struct glue_rtc *rtc, struct glue_bus *pio)
{
	int ret;

	if (!rtc || !pio)
		return glue_err(-EINVAL, "rtc: attach needs a device and a bus");
	if (rtc->bus)
		return glue_err(-EBUSY, "rtc: already attached");
	ret = glue_bus_register(pio, GLUE_RTC_PORT, 2, &rtc_ops, rtc, "rtc");
	if (ret)
		return ret;
	rtc->bus = pio;
	return 0;
}

static int check_nvram_reg(uint8_t reg)
{
	if (reg < REG_NVRAM_FIRST || reg >= NR_REGS)
		return glue_err(-EINVAL, "rtc: 0x%02x is not an NVRAM register (0x0e-0x7f)", reg);
	if (reg == REG_CENTURY)
		return glue_err(-EINVAL, "rtc: 0x32 is the century, part of the clock");
	return 0;
}

int glue_rtc_nvram_write(struct glue_rtc *rtc, uint8_t reg, uint8_t value)
{
	int ret;

	if (!rtc)
		return glue_err(-EINVAL, "rtc: no device");
	ret = check_nvram_reg(reg);
	if (ret)
		return ret;
	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[reg] = value;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

int glue_rtc_nvram_read(struct glue_rtc *rtc, uint8_t reg, uint8_t *value)
{
	int ret;

	if (!rtc || !value)
		return glue_err(-EINVAL, "rtc: no device or output pointer");
	ret = check_nvram_reg(reg);
	if (ret)
		return ret;
	pthread_mutex_lock(&rtc->lock);
	*value = rtc->cmos[reg];
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

void glue_rtc_set_offset(struct glue_rtc *rtc, int64_t offset_s)
{
	if (!rtc)
		return;
	pthread_mutex_lock(&rtc->lock);
	rtc->offset_s = offset_s;
	pthread_mutex_unlock(&rtc->lock);
}
