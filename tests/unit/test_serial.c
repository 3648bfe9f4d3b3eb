// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glue/config.h>

#if GLUE_HAVE_SERIAL
#include <glue/bus.h>
#include <glue/irq.h>
#include <glue/serial.h>

#define BASE GLUE_SERIAL_COM1_BASE
#define RBR 0
#define THR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct env {
	struct glue_bus *bus;
	struct glue_irq *irq;
	struct glue_serial *s;
	int level;   /* current line level */
	int changes; /* calls to the line */
	char out[256];
	size_t out_len;
};

static int set_level(void *ctx, int level)
{
	struct env *e = ctx;

	e->level = level;
	e->changes++;
	return 0;
}

static void capture(void *ctx, const uint8_t *data, size_t len)
{
	struct env *e = ctx;

	memcpy(e->out + e->out_len, data, len);
	e->out_len += len;
}

static void setup(struct env *e)
{
	memset(e, 0, sizeof(*e));
	cr_assert_eq(glue_bus_new(&e->bus, "pio"), 0);
	cr_assert_eq(glue_irq_new_fn(&e->irq, set_level, e), 0);
	cr_assert_eq(glue_serial_new(&e->s, e->irq), 0);
	cr_assert_eq(glue_serial_attach(e->s, e->bus, BASE), 0);
	glue_serial_set_output(e->s, capture, e);
}

static void teardown(struct env *e)
{
	glue_serial_free(e->s); /* detaches from the bus */
	glue_irq_free(e->irq);
	glue_bus_free(e->bus);
}

static uint8_t rd(struct env *e, int reg)
{
	uint8_t v;

	cr_assert_eq(glue_bus_read(e->bus, BASE + reg, &v, 1), 0);
	return v;
}

static void wr(struct env *e, int reg, uint8_t v)
{
	cr_assert_eq(glue_bus_write(e->bus, BASE + reg, &v, 1), 0);
}

/* What Linux's 8250 driver does at startup: 8N1 at 115200, FIFO on with
 * a 14-byte trigger, DTR/RTS/OUT2. */
static void linux_init(struct env *e)
{
	wr(e, LCR, 0x83);
	wr(e, 0, 1); /* DLL */
	wr(e, 1, 0); /* DLM */
	wr(e, LCR, 0x03);
	wr(e, FCR, 0xC7);
	wr(e, MCR, 0x0B);
}

Test(serial, divisor_latch_and_scratch)
{
	struct env e;

	setup(&e);
	wr(&e, LCR, 0x83);
	wr(&e, 0, 0x34);
	wr(&e, 1, 0x12);
	cr_assert_eq(rd(&e, 0), 0x34);
	cr_assert_eq(rd(&e, 1), 0x12);
	wr(&e, LCR, 0x03);
	cr_assert_eq(rd(&e, LCR), 0x03);
	/* With DLAB clear, offset 1 is IER again and the divisor stays. */
	wr(&e, IER, 0x0F);
	cr_assert_eq(rd(&e, IER), 0x0F);
	wr(&e, IER, 0xFF); /* a 16550A has no IER bits 4-7 */
	cr_assert_eq(rd(&e, IER), 0x0F);
	wr(&e, IER, 0);
	wr(&e, LCR, 0x83);
	cr_assert_eq(rd(&e, 0), 0x34);
	wr(&e, LCR, 0x03);
	cr_assert_eq(e.out_len, 0, "DLL write must not transmit");
	wr(&e, SCR, 0xA5);
	cr_assert_eq(rd(&e, SCR), 0xA5);
	teardown(&e);
}

Test(serial, transmit)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	cr_assert_eq(rd(&e, LSR) & 0x60, 0x60); /* THRE | TEMT */
	for (const char *p = "hello\n"; *p; p++)
		wr(&e, THR, (uint8_t)*p);
	cr_assert_eq(e.out_len, 6);
	cr_assert_eq(memcmp(e.out, "hello\n", 6), 0);
	cr_assert_eq(rd(&e, LSR) & 0x60, 0x60);
	teardown(&e);
}

Test(serial, fifo_bits_in_iir)
{
	struct env e;

	setup(&e);
	cr_assert_eq(rd(&e, IIR), 0x01); /* no FIFO, no interrupt */
	wr(&e, FCR, 0x01);
	cr_assert_eq(rd(&e, IIR), 0xC1);
	wr(&e, FCR, 0x00);
	cr_assert_eq(rd(&e, IIR), 0x01);
	teardown(&e);
}

Test(serial, thre_interrupt)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	cr_assert_eq(e.level, 0);
	wr(&e, IER, 0x02); /* enable THRI: THR is empty, so it fires */
	cr_assert_eq(e.level, 1);
	cr_assert_eq(rd(&e, IIR), 0xC2);
	cr_assert_eq(e.level, 0, "reading IIR acknowledges THRE");
	cr_assert_eq(rd(&e, IIR), 0xC1);
	wr(&e, THR, 'a');
	cr_assert_eq(e.level, 1, "THRE again after the byte left");
	wr(&e, IER, 0x00);
	cr_assert_eq(e.level, 0);
	cr_assert_eq(rd(&e, IIR), 0xC1);
	teardown(&e);
}

Test(serial, out2_gates_the_line)
{
	struct env e;

	setup(&e);
	wr(&e, MCR, 0x03); /* DTR, RTS, no OUT2 */
	wr(&e, IER, 0x02);
	cr_assert_eq(rd(&e, IIR) & 0x0F, 0x02, "pending in IIR...");
	wr(&e, THR, 'x');
	cr_assert_eq(e.level, 0, "...but not on the line");
	cr_assert_eq(e.changes, 0);
	wr(&e, MCR, 0x0B);
	cr_assert_eq(e.level, 1);
	teardown(&e);
}

Test(serial, receive_and_rx_interrupt)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	wr(&e, IER, 0x01); /* RDI */
	cr_assert_eq(rd(&e, LSR) & 0x01, 0);
	cr_assert_eq(glue_serial_input(e.s, "ab", 2), 2);
	cr_assert_eq(rd(&e, LSR) & 0x01, 1);
	cr_assert_eq(e.level, 1);
	/* 2 bytes, below the 14-byte trigger: character timeout. */
	cr_assert_eq(rd(&e, IIR), 0xCC);
	cr_assert_eq(rd(&e, RBR), 'a');
	cr_assert_eq(e.level, 1);
	cr_assert_eq(rd(&e, RBR), 'b');
	cr_assert_eq(rd(&e, LSR) & 0x01, 0);
	cr_assert_eq(e.level, 0);
	cr_assert_eq(rd(&e, IIR), 0xC1);
	teardown(&e);
}

Test(serial, fifo_trigger_and_refill)
{
	struct env e;
	char in[100];

	setup(&e);
	linux_init(&e);
	wr(&e, IER, 0x01);
	for (int i = 0; i < 100; i++)
		in[i] = (char)i;
	cr_assert_eq(glue_serial_input(e.s, in, sizeof(in)), 100);
	cr_assert_eq(glue_serial_input_room(e.s), 4096 - (100 - 16));
	/* 16 bytes in the FIFO, at or above the trigger: RX data available. */
	cr_assert_eq(rd(&e, IIR), 0xC4);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(rd(&e, LSR) & 0x01, 1, "byte %d", i);
		cr_assert_eq(rd(&e, RBR), i);
	}
	cr_assert_eq(rd(&e, LSR) & 0x01, 0);
	cr_assert_eq(e.level, 0);
	cr_assert_eq(glue_serial_input_room(e.s), 4096);
	teardown(&e);
}

Test(serial, input_buffer_limit)
{
	struct env e;
	static char big[5000];

	setup(&e);
	linux_init(&e);
	/* The buffer takes 4096; 16 of them move on into the FIFO. */
	cr_assert_eq(glue_serial_input(e.s, big, sizeof(big)), 4096);
	cr_assert_eq(glue_serial_input_room(e.s), 16);
	cr_assert_eq(glue_serial_input(e.s, big, sizeof(big)), 16);
	cr_assert_eq(glue_serial_input_room(e.s), 0);
	cr_assert_eq(glue_serial_input(e.s, big, 1), 0);
	rd(&e, RBR);
	cr_assert_eq(glue_serial_input_room(e.s), 1);
	teardown(&e);
}

/* The 4096-byte input buffer is a ring: stream more than it holds through
 * it, writer and reader at different paces, so its ends wrap many times;
 * every byte must come out once, in order. */
Test(serial, input_ring_wraps_in_order)
{
	struct env e;
	uint8_t chunk[700];
	uint32_t sent = 0, got = 0;

	setup(&e);
	linux_init(&e);
	while (got < 20000) {
		if (sent < 20000) {
			size_t room = glue_serial_input_room(e.s), n = sizeof(chunk);

			n = n < room ? n : room;
			n = n < 20000 - sent ? n : 20000 - sent;
			for (size_t i = 0; i < n; i++)
				chunk[i] = (uint8_t)((sent + i) * 7 + (sent + i) / 251);
			cr_assert_eq(glue_serial_input(e.s, chunk, n), (int)n);
			sent += (uint32_t)n;
		}
		for (int i = 0; i < 500 && got < sent; i++, got++) {
			cr_assert_eq(rd(&e, LSR) & 0x01, 1, "byte %u missing", got);
			cr_assert_eq(rd(&e, RBR), (uint8_t)(got * 7 + got / 251), "byte %u", got);
		}
	}
	cr_assert_eq(rd(&e, LSR) & 0x01, 0, "nothing more than was sent");
	teardown(&e);
}

Test(serial, fifo_disabled_holds_one_byte)
{
	struct env e;

	setup(&e);
	wr(&e, MCR, 0x0B);
	wr(&e, IER, 0x01);
	cr_assert_eq(glue_serial_input(e.s, "xyz", 3), 3);
	cr_assert_eq(rd(&e, IIR), 0x04);
	cr_assert_eq(rd(&e, RBR), 'x');
	cr_assert_eq(rd(&e, RBR), 'y');
	cr_assert_eq(rd(&e, RBR), 'z');
	cr_assert_eq(rd(&e, LSR) & 1, 0);
	teardown(&e);
}

Test(serial, fcr_clears_rx)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	cr_assert_eq(glue_serial_input(e.s, "0123456789abcdefXY", 18), 18);
	wr(&e, FCR, 0xC3); /* clear RX: drops the 16 in the FIFO... */
	/* ...and the line delivers the next ones. */
	cr_assert_eq(rd(&e, RBR), 'X');
	cr_assert_eq(rd(&e, RBR), 'Y');
	cr_assert_eq(rd(&e, LSR) & 1, 0);
	teardown(&e);
}

Test(serial, loopback)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	wr(&e, IER, 0x01);
	/* Linux's probe: loopback with OUT2 and RTS gives DCD and CTS. */
	wr(&e, MCR, 0x1A);
	cr_assert_eq(rd(&e, MSR) & 0xF0, 0x90);
	wr(&e, THR, 'L');
	cr_assert_eq(e.out_len, 0, "loopback does not reach the line");
	cr_assert_eq(rd(&e, LSR) & 1, 1);
	cr_assert_eq(e.level, 0, "no interrupt out of loopback");
	cr_assert_eq(rd(&e, RBR), 'L');
	/* Host input waits while in loopback. */
	cr_assert_eq(glue_serial_input(e.s, "H", 1), 1);
	cr_assert_eq(rd(&e, LSR) & 1, 0);
	/* Overrun: 17 bytes into a 16-byte FIFO. */
	for (int i = 0; i < 17; i++)
		wr(&e, THR, (uint8_t)('a' + i));
	cr_assert_eq(rd(&e, LSR) & 0x03, 0x03); /* DR | OE */
	cr_assert_eq(rd(&e, LSR) & 0x02, 0, "OE clears on read");
	for (int i = 0; i < 16; i++)
		cr_assert_eq(rd(&e, RBR), 'a' + i);
	wr(&e, MCR, 0x0B);
	cr_assert_eq(rd(&e, MSR) & 0xF0, 0xB0);
	cr_assert_eq(rd(&e, RBR), 'H');
	teardown(&e);
}

Test(serial, msr_deltas_and_interrupt)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	cr_assert_eq(rd(&e, MSR), 0xB0);
	wr(&e, MCR, 0x10 | 0x0F); /* loopback, all outputs on */
	/* CTS, DSR, DCD unchanged; RI rose, and only its fall counts. */
	cr_assert_eq(rd(&e, MSR), 0xF0);
	wr(&e, MCR, 0x10 | 0x03); /* OUT1 and OUT2 off: RI falls, DCD falls */
	cr_assert_eq(rd(&e, MSR), 0x30 | 0x04 | 0x08);
	cr_assert_eq(rd(&e, MSR), 0x30, "deltas clear on read");
	/* MSI priority is the lowest; IIR reports it when alone. */
	wr(&e, IER, 0x08);
	wr(&e, MCR, 0x10 | 0x01);
	cr_assert_eq(rd(&e, IIR), 0xC0);
	rd(&e, MSR);
	cr_assert_eq(rd(&e, IIR), 0xC1);
	teardown(&e);
}

Test(serial, iir_priorities)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	wr(&e, MCR, 0x1A); /* loopback so we can overrun; DSR falls */
	wr(&e, IER, 0x0F);
	for (int i = 0; i < 17; i++)
		wr(&e, THR, 'o');
	/* Line status beats RX data beats THRE. */
	cr_assert_eq(rd(&e, IIR), 0xC6);
	rd(&e, LSR);
	cr_assert_eq(rd(&e, IIR), 0xC4);
	for (int i = 0; i < 16; i++)
		rd(&e, RBR);
	cr_assert_eq(rd(&e, IIR), 0xC2);
	cr_assert_eq(rd(&e, IIR) & 0x0F, 0x00, "then the modem status change");
	teardown(&e);
}

Test(serial, output_fd)
{
	struct env e;
	int p[2];
	char buf[8] = {0};

	setup(&e);
	cr_assert_eq(pipe(p), 0);
	glue_serial_set_output_fd(e.s, p[1]);
	wr(&e, THR, 'o');
	wr(&e, THR, 'k');
	cr_assert_eq(read(p[0], buf, sizeof(buf)), 2);
	cr_assert_str_eq(buf, "ok");
	close(p[0]);
	close(p[1]);
	teardown(&e);
}

/* An output callback that feeds the byte back as input: must not deadlock. */
static void echo(void *ctx, const uint8_t *data, size_t len)
{
	struct env *e = ctx;

	cr_assert_eq(glue_serial_input(e->s, data, len), (int)len);
}

Test(serial, echo_from_output_callback, .timeout = 10)
{
	struct env e;

	setup(&e);
	linux_init(&e);
	glue_serial_set_output(e.s, echo, &e);
	wr(&e, THR, 'E');
	cr_assert_eq(rd(&e, RBR), 'E');
	teardown(&e);
}

Test(serial, wide_and_bad_accesses)
{
	struct env e;
	uint8_t two[2] = {0x55, 0xAA};

	setup(&e);
	/* Past the last register: refused by the bus. */
	cr_assert_eq(glue_bus_write(e.bus, BASE + SCR, two, 2), -ENOENT);
	/* A 16-bit write covers two registers: MSR (ignored) and SCR. */
	cr_assert_eq(glue_bus_write(e.bus, BASE + MSR, two, 2), 0);
	cr_assert_eq(rd(&e, SCR), 0xAA);
	cr_assert_eq(glue_serial_input(e.s, NULL, 1), -EINVAL);
	cr_assert_eq(glue_serial_attach(e.s, e.bus, BASE), -EBUSY);
	teardown(&e);
}

Test(serial, free_detaches)
{
	struct glue_bus *bus;
	struct glue_serial *s;
	uint8_t v;

	cr_assert_eq(glue_bus_new(&bus, "pio"), 0);
	cr_assert_eq(glue_serial_new(&s, NULL), 0);
	cr_assert_eq(glue_serial_attach(s, bus, GLUE_SERIAL_COM2_BASE), 0);
	cr_assert_eq(glue_bus_read(bus, GLUE_SERIAL_COM2_BASE + LSR, &v, 1), 0);
	cr_assert_eq(v & 0x60, 0x60);
	glue_serial_free(s);
	cr_assert_eq(glue_bus_read(bus, GLUE_SERIAL_COM2_BASE + LSR, &v, 1), -ENOENT);
	glue_bus_free(bus);
	glue_serial_free(NULL);
}
#endif
