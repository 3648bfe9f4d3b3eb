// SPDX-License-Identifier: MIT
/*
 * 16550A UART.
 *
 * There is no real line: a transmitted byte leaves at once, so THR is always
 * empty (THRE and TEMT stay set) and the THRE interrupt is raised again after
 * every THR write. Received bytes wait in an input buffer (glue_serial_input)
 * and move into the 16-byte RX FIFO whenever it has room, which is what a
 * very fast line would do; the buffer is the flow control, so host input
 * never overruns. Only loopback can overrun the FIFO.
 *
 * Locking: one mutex for the registers and buffers, held across each access
 * and while driving the irq line (so level changes reach the line in
 * order). The output callback is called after that mutex is dropped, under a
 * second mutex that only serialises output and glue_serial_set_output(): a
 * slow terminal then blocks only other transmitters, and the callback may
 * call glue_serial_input() (an echo, or a loop back into this UART) without
 * deadlocking.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glue/bus.h>
#include <glue/irq.h>
#include <glue/serial.h>
#include "core/err.h"
#include "core/util.h"

/* Register offsets. */
#define UART_RBR 0 /* read, DLAB = 0 */
#define UART_THR 0 /* write, DLAB = 0 */
#define UART_DLL 0 /* DLAB = 1 */
#define UART_IER 1 /* DLAB = 0 */
#define UART_DLM 1 /* DLAB = 1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7
#define UART_NR_REGS 8

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IER_MASK 0x0F /* the 16550A has no bits 4-7; Linux probes that */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_TIMEOUT 0x0C
#define IIR_FIFO_ENABLED 0xC0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_TRIGGER_MASK 0xC0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define RX_FIFO_SIZE 16
#define INPUT_SIZE 4096

struct glue_serial {
	pthread_mutex_t lock;
	struct glue_irq *irq;
	int irq_level;

	uint8_t dll, dlm, ier, lcr, mcr, scr;
	uint8_t fcr;	   /* FCR_ENABLE and the trigger bits */
	uint8_t lsr_err;   /* LSR_ERRORS latched until LSR is read */
	uint8_t msr;	   /* modem status bits 4-7 */
	uint8_t msr_delta; /* bits 0-3, cleared by reading MSR */
	bool thre_pending;

	uint8_t rx[RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	uint8_t rbr_last;

	uint8_t in[INPUT_SIZE];
	size_t in_head, in_count;

	pthread_mutex_t out_lock; /* serialises output and set_output */
	glue_serial_out_fn out_fn;
	void *out_ctx;
	int out_fd;

	struct glue_bus *bus; /* where attached, or NULL */
	uint64_t base;
};

static unsigned int rx_capacity(const struct glue_serial *s)
{
	/* FIFO disabled: a single holding register (16450 mode). */
	return (s->fcr & FCR_ENABLE) ? RX_FIFO_SIZE : 1;
}

static unsigned int rx_trigger(const struct glue_serial *s)
{
	static const unsigned int levels[4] = {1, 4, 8, 14};

	return levels[s->fcr >> 6];
}

static bool rx_push(struct glue_serial *s, uint8_t v)
{
	if (s->rx_count >= rx_capacity(s))
		return false;
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = v;
	s->rx_count++;
	return true;
}

/* Move input into the FIFO while it has room. In loopback the receiver is
 * cut off from the line, so input waits. */
static void rx_refill(struct glue_serial *s)
{
	if (s->mcr & MCR_LOOP)
		return;
	while (s->in_count && rx_push(s, s->in[s->in_head])) {
		s->in_head = (s->in_head + 1) % INPUT_SIZE;
		s->in_count--;
	}
}

static void rx_clear(struct glue_serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* Modem status inputs: in loopback they are wired to the MCR outputs. */
static void update_msr(struct glue_serial *s)
{
	uint8_t now, changed;

	if (s->mcr & MCR_LOOP) {
		now = ((s->mcr & MCR_RTS) ? MSR_CTS : 0) | ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
		      ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
	} else {
		now = MSR_DCD | MSR_DSR | MSR_CTS;
	}
	changed = now ^ s->msr;
	if (changed & MSR_CTS)
		s->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		s->msr_delta |= MSR_DDSR;
	if ((changed & MSR_RI) && !(now & MSR_RI))
		s->msr_delta |= MSR_TERI; /* trailing edge only */
	if (changed & MSR_DCD)
		s->msr_delta |= MSR_DDCD;
	s->msr = now;
}

/* The highest-priority pending interrupt, as IIR bits 0-3. */
static uint8_t pending_iir(const struct glue_serial *s)
{
	if ((s->ier & IER_RLSI) && s->lsr_err)
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count) {
		/* Below the trigger level a real FIFO reports a character
		 * timeout once the line goes quiet: here it always is. */
		if ((s->fcr & FCR_ENABLE) && s->rx_count < rx_trigger(s))
			return IIR_TIMEOUT;
		return IIR_RDI;
	}
	if ((s->ier & IER_THRI) && s->thre_pending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && s->msr_delta)
		return IIR_MSI;
	return IIR_NO_INT;
}

static void update_irq(struct glue_serial *s)
{
	int level;

	/* On a PC, OUT2 gates the UART's interrupt output onto the bus; in
	 * loopback the OUT2 pin is forced inactive. */
	level = pending_iir(s) != IIR_NO_INT && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->irq)
		glue_irq_set(s->irq, level);
}

static uint8_t reg_read(struct glue_serial *s, uint64_t reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			s->rbr_last = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
			s->rx_count--;
			rx_refill(s);
		}
		return s->rbr_last;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		v = pending_iir(s);
		if (v == IIR_THRI)
			s->thre_pending = false; /* reading IIR acknowledges THRE */
		return v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = (s->rx_count ? LSR_DR : 0) | s->lsr_err | LSR_THRE | LSR_TEMT;
		s->lsr_err = 0;
		return v;
	case UART_MSR:
		v = s->msr | s->msr_delta;
		s->msr_delta = 0;
		return v;
	default:
		return s->scr;
	}
}

/* Returns true when v must be transmitted to the output. */
static bool reg_write(struct glue_serial *s, uint64_t reg, uint8_t v)
{
	bool out = false;

	switch (reg) {
	case UART_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP) {
			if (!rx_push(s, v))
				s->lsr_err |= LSR_OE;
		} else {
			out = true;
		}
		/* Sent at once: the holding register is empty again. */
		s->thre_pending = true;
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI while THR is empty raises THRE at once;
		 * Linux's 8250 driver tests for exactly that. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thre_pending = true;
		s->ier = v & IER_MASK;
		break;
	case UART_FCR:
		if ((v ^ s->fcr) & FCR_ENABLE)
			rx_clear(s); /* switching FIFO mode empties them */
		if (v & FCR_ENABLE) {
			if (v & FCR_CLEAR_RX)
				rx_clear(s);
			s->fcr = v & (FCR_ENABLE | FCR_TRIGGER_MASK);
		} else {
			s->fcr = 0;
		}
		rx_refill(s);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & MCR_MASK;
		update_msr(s);
		rx_refill(s); /* leaving loopback reconnects the receiver */
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:
		break; /* LSR and MSR writes: factory test only */
	}
	return out;
}

static void serial_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct glue_serial *s = dev;
	uint8_t *p = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		p[i] = offset + i < UART_NR_REGS ? reg_read(s, offset + i) : 0xff;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct glue_serial *s = dev;
	const uint8_t *p = data;
	uint8_t out[UART_NR_REGS];
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len && offset + i < UART_NR_REGS; i++)
		if (reg_write(s, offset + i, p[i]))
			out[n++] = p[i];
	update_irq(s);
	pthread_mutex_unlock(&s->lock);

	if (n) {
		pthread_mutex_lock(&s->out_lock);
		if (s->out_fn)
			s->out_fn(s->out_ctx, out, n);
		pthread_mutex_unlock(&s->out_lock);
	}
}

static const struct glue_bus_ops serial_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

int glue_serial_new(struct glue_serial **out, struct glue_irq *irq)
{
	struct glue_serial *s;

	if (!out)
		return glue_err(-EINVAL, "serial: no output pointer");
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return glue_err(-ENOMEM, "serial: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->out_lock, NULL);
	s->irq = irq;
	s->out_fd = -1;
	/* Divisor 12: 9600 baud, what a PC BIOS leaves behind. */
	s->dll = 12;
	update_msr(s);
	s->msr_delta = 0; /* power-on state, not a change */
	*out = s;
	return 0;
}

void glue_serial_free(struct glue_serial *s)
{
	if (!s)
		return;
	if (s->bus)
		glue_bus_unregister(s->bus, s->base);
	pthread_mutex_destroy(&s->out_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void glue_serial_set_output(struct glue_serial *s, glue_serial_out_fn fn, void *ctx)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->out_lock);
	s->out_fn = fn;
	s->out_ctx = ctx;
	pthread_mutex_unlock(&s->out_lock);
}

static void write_fd(void *ctx, const uint8_t *data, size_t len)
{
	struct glue_serial *s = ctx;

	while (len) {
		ssize_t n = write(s->out_fd, data, len);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = s->out_fd, .events = POLLOUT};

			/* A non-blocking terminal that stays full for a
			 * second loses the rest rather than stalling the
			 * vCPU forever. */
			if (poll(&pfd, 1, 1000) <= 0)
				return;
		} else {
			return; /* the console went away: drop output */
		}
	}
}

void glue_serial_set_output_fd(struct glue_serial *s, int fd)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->out_lock);
	s->out_fd = fd;
	s->out_fn = fd >= 0 ? write_fd : NULL;
	s->out_ctx = s;
	pthread_mutex_unlock(&s->out_lock);
}

int glue_serial_input(struct glue_serial *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n;

	if (!s || (!data && len))
		return glue_err(-EINVAL, "serial: bad input arguments");
	pthread_mutex_lock(&s->lock);
	n = GLUE_MIN(len, (size_t)INPUT_SIZE - s->in_count);
	for (size_t i = 0; i < n; i++)
		s->in[(s->in_head + s->in_count + i) % INPUT_SIZE] = p[i];
	s->in_count += n;
	rx_refill(s);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return (int)n;
}

size_t glue_serial_input_room(struct glue_serial *s)
{
	size_t room;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	room = INPUT_SIZE - s->in_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

int glue_serial_attach(struct glue_serial *s, struct glue_bus *pio, uint64_t base)
{
	int ret;

	if (!s || !pio)
		return glue_err(-EINVAL, "serial: attach needs a device and a bus");
	if (s->bus)
		return glue_err(-EBUSY, "serial: already attached at 0x%llx",
				(unsigned long long)s->base);
	ret = glue_bus_register(pio, base, UART_NR_REGS, &serial_ops, s, "serial");
	if (ret)
		return ret;
	s->bus = pio;
	s->base = base;
	return 0;
}
