/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART: the full register set (RBR/THR, IER, IIR/FCR, LCR, MCR, LSR,
 * MSR, SCR, DLL/DLM), 16-byte FIFOs, THRE and RX-data interrupts, loopback.
 *
 * Output goes to a callback (or an fd); input is pushed by the host side with
 * glue_serial_input(), e.g. from the event loop reading a terminal.
 *
 * Thread-safety: all functions may be called from any thread; the device
 * locks its own state. The irq line is driven with the device lock held (so
 * its set function must not call back into this device); the output
 * function is called without it (see glue_serial_set_output()).
 */
#ifndef GLUE_SERIAL_H
#define GLUE_SERIAL_H

#include <glue/common.h>

GLUE_BEGIN_DECLS

struct glue_serial;
struct glue_irq;
struct glue_bus;

#define GLUE_SERIAL_COM1_BASE 0x3F8
#define GLUE_SERIAL_COM1_IRQ 4
#define GLUE_SERIAL_COM2_BASE 0x2F8
#define GLUE_SERIAL_COM2_IRQ 3

/* Called with bytes the guest transmitted, from the vCPU thread that wrote
 * them. */
typedef void (*glue_serial_out_fn)(void *ctx, const uint8_t *data, size_t len);

/* irq may be NULL (no interrupts); it is not owned and must outlive the
 * device. Returns 0, -EINVAL or -ENOMEM. */
GLUE_API int glue_serial_new(struct glue_serial **out, struct glue_irq *irq);
/* Unregisters from the bus it was attached to (which must still exist, so
 * free devices before their bus), waiting for accesses in progress.
 * Accepts NULL. */
GLUE_API void glue_serial_free(struct glue_serial *s);

/* Where transmitted bytes go; by default they are dropped. Output calls are
 * serialised with each other and with this function: once it returns, the
 * previous fn is no longer running. fn may call glue_serial_input() (e.g. to
 * echo) but not glue_serial_set_output*() nor free the device. */
GLUE_API void glue_serial_set_output(struct glue_serial *s, glue_serial_out_fn fn, void *ctx);
/* Convenience: write transmitted bytes to fd (retrying short writes; on a
 * non-blocking fd that stays full for a second, the bytes are dropped).
 * fd is not closed by the device; -1 drops output. The write happens on the
 * vCPU thread that wrote THR: fine for a file, but a reader that stops
 * reading a pipe or terminal then stalls that vCPU. A VMM that must stay
 * responsive buffers in its own callback instead (glue_machine does). */
GLUE_API void glue_serial_set_output_fd(struct glue_serial *s, int fd);

/* Queue bytes received from the host side. Returns the number accepted (the
 * device buffers 4 KiB besides its 16-byte FIFO; retry the rest later, e.g.
 * when glue_serial_input_room() says there is room), or -EINVAL. */
GLUE_API int glue_serial_input(struct glue_serial *s, const void *data, size_t len);
/* Free space in the input buffer. */
GLUE_API size_t glue_serial_input_room(struct glue_serial *s);

/* Register the 8 registers at base on a port I/O bus (once: -EBUSY if
 * already attached). */
GLUE_API int glue_serial_attach(struct glue_serial *s, struct glue_bus *pio, uint64_t base);

GLUE_END_DECLS

#endif
