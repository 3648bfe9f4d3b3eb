/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART: the full register set (RBR/THR, IER, IIR/FCR, LCR, MCR, LSR,
 * MSR, SCR, DLL/DLM), 16-byte FIFOs, THRE and RX-data interrupts, loopback.
 *
 * Output goes to a callback (or an fd); input is pushed by the host side with
 * glue_serial_input(), e.g. from the event loop reading a terminal.
 *
 * Thread-safety: all functions may be called from any thread; the device
 * locks its own state.
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

/* Called with bytes the guest transmitted. */
typedef void (*glue_serial_out_fn)(void *ctx, const uint8_t *data, size_t len);

/* irq may be NULL (no interrupts). */
GLUE_API int glue_serial_new(struct glue_serial **out, struct glue_irq *irq);
GLUE_API void glue_serial_free(struct glue_serial *s);

/* Where transmitted bytes go; by default they are dropped. */
GLUE_API void glue_serial_set_output(struct glue_serial *s, glue_serial_out_fn fn, void *ctx);
/* Convenience: write transmitted bytes to fd (retrying short writes). */
GLUE_API void glue_serial_set_output_fd(struct glue_serial *s, int fd);

/* Queue bytes received from the host side. Returns the number accepted (the
 * device buffers a limited amount; retry the rest later), or a negative
 * errno. */
GLUE_API int glue_serial_input(struct glue_serial *s, const void *data, size_t len);
/* Free space in the input buffer. */
GLUE_API size_t glue_serial_input_room(struct glue_serial *s);

/* Register the 8 registers at base on a port I/O bus. */
GLUE_API int glue_serial_attach(struct glue_serial *s, struct glue_bus *pio, uint64_t base);

GLUE_END_DECLS

#endif
