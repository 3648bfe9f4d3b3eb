/* SPDX-License-Identifier: MIT */
/*
 * MC146818 CMOS real-time clock: time and date (BCD or binary, 12/24 h) from
 * the host clock plus a guest-set offset, the update-in-progress flag of
 * register A, status registers B-D, and 114 bytes of NVRAM.
 *
 * Not modelled: interrupts (periodic, alarm, update-ended; irq is kept for
 * later), the square wave output, alarms (plain storage). Register C shows
 * the update-ended flag, computed when read.
 *
 * Thread-safety: may be called from any thread.
 */
#ifndef GLUE_RTC_H
#define GLUE_RTC_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_rtc;
struct glue_irq;
struct glue_bus;

#define GLUE_RTC_PORT 0x70 /* index at 0x70, data at 0x71 */
#define GLUE_RTC_IRQ 8

/* irq may be NULL. Returns 0, -EINVAL or -ENOMEM. */
GLUE_API int glue_rtc_new(struct glue_rtc **out, struct glue_irq *irq);
/* Unregisters from the bus (which must still exist). Accepts NULL. */
GLUE_API void glue_rtc_free(struct glue_rtc *rtc);
/* Registers ports 0x70-0x71 (once: -EBUSY if already attached). */
GLUE_API int glue_rtc_attach(struct glue_rtc *rtc, struct glue_bus *pio);

/* NVRAM (registers 0x0E-0x7F) access from the host, e.g. to set what
 * firmware would. -EINVAL for other registers and for 0x32 (the century,
 * part of the clock). */
GLUE_API int glue_rtc_nvram_write(struct glue_rtc *rtc, uint8_t reg, uint8_t value);
GLUE_API int glue_rtc_nvram_read(struct glue_rtc *rtc, uint8_t reg, uint8_t *value);

/* For tests: the clock reads as the host time plus offset_s seconds. */
GLUE_API void glue_rtc_set_offset(struct glue_rtc *rtc, int64_t offset_s);

GLUE_END_DECLS

#endif
