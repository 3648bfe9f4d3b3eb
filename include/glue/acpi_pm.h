/* SPDX-License-Identifier: MIT */
/*
 * ACPI power management for a hardware-reduced guest: the sleep control and
 * status registers of the FADT (ACPI 6.5, 4.8.3.7), through which a guest's
 * poweroff enters S5, and a Generic Event Device (ACPI0013) event register
 * through which the host presses the power button. glue_acpi_write() with
 * glue_acpi_config.pm set describes them (FADT registers, \_S5, a GED with
 * its interrupt and _EVT method, a PNP0C0C power button).
 *
 * Ports, from base (GLUE_ACPI_PM_PORT by default):
 *   base+0  sleep control (write): SLP_TYPx in bits 2-4, SLP_EN bit 5; a
 *           write with SLP_EN and SLP_TYP = GLUE_ACPI_PM_SLP_TYP_S5 calls
 *           the sleep callback with 5; other types are ignored
 *   base+1  sleep status: reads 0 (no wake events); writes ignored
 *   base+2  GED events (read): pending events, cleared by the read; bit 0
 *           is the power button
 *   base+3  reserved
 *
 * Thread-safety: may be called from any thread.
 */
#ifndef GLUE_ACPI_PM_H
#define GLUE_ACPI_PM_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_acpi_pm;
struct glue_bus;
struct glue_irq;

#define GLUE_ACPI_PM_PORT 0x600
#define GLUE_ACPI_PM_PORTS 4
/* The GED's interrupt (an I/O APIC GSI, edge, active high). */
#define GLUE_ACPI_PM_GSI 9
/* SLP_TYP glue's \_S5 object names. */
#define GLUE_ACPI_PM_SLP_TYP_S5 5
#define GLUE_ACPI_PM_EVENT_POWER_BUTTON 0x1

/* Called from the vCPU thread that wrote the sleep register, without the
 * device lock held, with the sleep state entered (5: soft off). */
typedef void (*glue_acpi_pm_sleep_fn)(void *ctx, int state);

/* irq: the GED interrupt (not owned; NULL: the power button cannot be
 * pressed). sleep is required. Returns 0, -EINVAL or -ENOMEM. */
GLUE_API int glue_acpi_pm_new(struct glue_acpi_pm **out, struct glue_irq *irq,
			      glue_acpi_pm_sleep_fn sleep, void *ctx);
/* Unregisters from the bus (which must still exist). Accepts NULL. */
GLUE_API void glue_acpi_pm_free(struct glue_acpi_pm *dev);
/* Registers ports base..base+3. -EBUSY if already attached. */
GLUE_API int glue_acpi_pm_attach(struct glue_acpi_pm *dev, struct glue_bus *pio, uint64_t base);
/* Press the power button: mark the event pending and pulse the interrupt.
 * -ENODEV without an interrupt line. */
GLUE_API int glue_acpi_pm_press_power(struct glue_acpi_pm *dev);
/* True while a power-button press has not been collected by the guest (an
 * OS without ACPI never reads it: the caller may then try another way). */
GLUE_API bool glue_acpi_pm_power_pending(struct glue_acpi_pm *dev);

GLUE_END_DECLS

#endif
