/* SPDX-License-Identifier: MIT */
/*
 * i8042 keyboard controller, as much of it as a VMM needs: the status and
 * command ports, the controller configuration byte, self-test, and the reset
 * line (command 0xFE pulses the CPU reset: the guest's usual way to reboot),
 * and a keyboard port through which the host can inject Ctrl-Alt-Del (the
 * graceful shutdown request a guest without ACPI can hear). No mouse.
 *
 * Thread-safety: may be called from any thread.
 */
#ifndef GLUE_I8042_H
#define GLUE_I8042_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_i8042;
struct glue_bus;
struct glue_irq;

#define GLUE_I8042_DATA_PORT 0x60
#define GLUE_I8042_CMD_PORT 0x64
#define GLUE_I8042_KBD_IRQ 1

/* Called when the guest pulses the reset line, from its vCPU thread, without
 * the device lock held; may be called several times in a row (Linux retries
 * 0xFE). It should ask the VMM to reset or stop, and must not free the
 * device. */
typedef void (*glue_reset_fn)(void *ctx);

/* kbd_irq (ISA IRQ 1) may be NULL: the guest must then poll. The line is
 * not owned. reset may be NULL. Returns 0, -EINVAL or -ENOMEM. */
GLUE_API int glue_i8042_new(struct glue_i8042 **out, struct glue_irq *kbd_irq, glue_reset_fn reset,
			    void *ctx);
/* Unregisters from the bus (which must still exist). Accepts NULL. */
GLUE_API void glue_i8042_free(struct glue_i8042 *dev);
/* Registers ports 0x60 and 0x64 (once: -EBUSY if already attached). */
GLUE_API int glue_i8042_attach(struct glue_i8042 *dev, struct glue_bus *pio);
/* Queue the scancodes of Ctrl-Alt-Del (press and release, scancode set 1 as
 * the controller translates them; set 2 if the guest turned translation
 * off) and raise the keyboard interrupt. The bytes wait while the guest has
 * the keyboard interface disabled. -EAGAIN when the keyboard's 16-byte
 * buffer has no room (the guest is not reading it). */
GLUE_API int glue_i8042_send_ctrl_alt_del(struct glue_i8042 *dev);

GLUE_END_DECLS

#endif
