// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller with a keyboard attached and no mouse.
 *
 * The guest reads one output register (port 0x60). Behind it wait two
 * queues: replies of the controller itself (command byte, self-test...) and
 * bytes from the keyboard (command replies, scancodes). Controller replies
 * go first; keyboard bytes only while the keyboard interface is enabled
 * (command byte bit 4 clear), as on the real chip, whose keyboard waits
 * with its clock held low.
 *
 * The interrupt line is high while the output register is full and the
 * command byte enables the keyboard interrupt. When the guest reads a byte
 * and another one follows, the line drops and rises again, so an
 * edge-triggered controller (ISA IRQ 1 is edge-triggered) sees each byte.
 *
 * There is no AUX port: its commands (0xD3 loop, 0xD4 send, 0xA9 test)
 * behave as on an AT controller without one (the parameter byte goes to the
 * keyboard, which answers "resend"), which Linux's i8042 driver recognises
 * quickly as "no AUX port". The enable/disable AUX commands still flip the
 * command byte's bit, as Linux checks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <glue/bus.h>
#include <glue/i8042.h>
#include <glue/irq.h>
#include "core/err.h"
#include "core/util.h"

/* Status register. */
#define STR_OBF 0x01
#define STR_SYS 0x04
#define STR_CMDDAT 0x08	 /* last write went to the command port */
#define STR_KEYLOCK 0x10 /* set: keyboard not inhibited */

/* Controller configuration ("command") byte. */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

/* Output port. */
#define OUTP_RESET 0x01 /* low: CPU held in reset */
#define OUTP_A20 0x02
#define OUTP_KBD_OBF 0x10

/* Keyboard replies. */
#define KBD_ACK 0xFA
#define KBD_BAT_OK 0xAA
#define KBD_RESEND 0xFE
#define KBD_ECHO 0xEE

/* A PS/2 keyboard buffers 16 bytes; Linux's i8042_flush() also takes more
 * than 16 waiting bytes for "no controller". */
#define QUEUE_SIZE 16

struct byteq {
	uint8_t v[QUEUE_SIZE];
	unsigned int head, count;
};

struct glue_i8042 {
	pthread_mutex_t lock;
	struct glue_irq *irq;
	int irq_level;
	glue_reset_fn reset;
	void *ctx;

	uint8_t ram[32]; /* controller RAM; ram[0] is the command byte */
	uint8_t outport;
	uint8_t cmddat;	     /* STR_CMDDAT or 0 */
	uint8_t pending_cmd; /* controller command awaiting its data byte */

	bool obf;
	uint8_t out; /* the output register */
	struct byteq ctrlq;
	struct byteq kbdq;

	/* The keyboard. */
	uint8_t kbd_pending; /* keyboard command awaiting its argument */
	uint8_t kbd_set;     /* scancode set 1-3 */
	uint8_t kbd_leds;
	uint8_t kbd_last; /* for the resend command */
	bool kbd_scanning;

	struct glue_bus *bus;
};

#define CTR(d) ((d)->ram[0])

static bool q_push(struct byteq *q, uint8_t v)
{
	if (q->count == QUEUE_SIZE)
		return false;
	q->v[(q->head + q->count) % QUEUE_SIZE] = v;
	q->count++;
	return true;
}

static uint8_t q_pop(struct byteq *q)
{
	uint8_t v = q->v[q->head];

	q->head = (q->head + 1) % QUEUE_SIZE;
	q->count--;
	return v;
}

static void q_clear(struct byteq *q)
{
	q->head = q->count = 0;
}

static void update_irq(struct glue_i8042 *d)
{
	int level = d->obf && (CTR(d) & CTR_KBDINT);

	if (level == d->irq_level)
		return;
	d->irq_level = level;
	if (d->irq)
		glue_irq_set(d->irq, level);
}

/* Fill an empty output register from the queues. */
static void load_output(struct glue_i8042 *d)
{
	if (d->obf)
		return;
	if (d->ctrlq.count) {
		d->out = q_pop(&d->ctrlq);
		d->obf = true;
	} else if (d->kbdq.count && !(CTR(d) & CTR_KBDDIS)) {
		d->out = q_pop(&d->kbdq);
		d->obf = true;
	}
}

static void ctrl_reply(struct glue_i8042 *d, uint8_t v)
{
	q_push(&d->ctrlq, v);
	load_output(d);
}

static void kbd_reply(struct glue_i8042 *d, uint8_t v)
{
	if (q_push(&d->kbdq, v))
		d->kbd_last = v;
	load_output(d);
}

static void kbd_defaults(struct glue_i8042 *d)
{
	d->kbd_set = 2;
	d->kbd_pending = 0;
}

/* A byte the guest sent to the keyboard. */
static void kbd_write(struct glue_i8042 *d, uint8_t v)
{
	uint8_t cmd = d->kbd_pending;

	/* A command byte ends any argument wait, as on a real keyboard. */
	if (cmd && v < 0xED) {
		d->kbd_pending = 0;
		switch (cmd) {
		case 0xED: /* set LEDs */
			d->kbd_leds = v & 7;
			break;
		case 0xF0: /* scancode set: 0 asks for the current one */
			if (v > 3) {
				kbd_reply(d, KBD_RESEND);
				return;
			}
			kbd_reply(d, KBD_ACK);
			if (v == 0)
				kbd_reply(d, d->kbd_set);
			else
				d->kbd_set = v;
			return;
		default: /* 0xF3 typematic rate: accepted, not modelled */
			break;
		}
		kbd_reply(d, KBD_ACK);
		return;
	}
	d->kbd_pending = 0;
	switch (v) {
	case 0xED:
	case 0xF0:
	case 0xF3:
		d->kbd_pending = v;
		kbd_reply(d, KBD_ACK);
		break;
	case 0xEE:
		kbd_reply(d, KBD_ECHO);
		break;
	case 0xF2: /* identify: MF2 keyboard, ID as seen through translation */
		kbd_reply(d, KBD_ACK);
		kbd_reply(d, 0xAB);
		kbd_reply(d, (CTR(d) & CTR_XLATE) ? 0x41 : 0x83);
		break;
	case 0xF4: /* enable scanning: also clears the keyboard's buffer */
		q_clear(&d->kbdq);
		d->kbd_scanning = true;
		kbd_reply(d, KBD_ACK);
		break;
	case 0xF5: /* disable scanning, defaults */
		q_clear(&d->kbdq);
		kbd_defaults(d);
		d->kbd_scanning = false;
		kbd_reply(d, KBD_ACK);
		break;
	case 0xF6: /* defaults */
		q_clear(&d->kbdq);
		kbd_defaults(d);
		kbd_reply(d, KBD_ACK);
		break;
	case 0xF7:
	case 0xF8:
	case 0xF9:
	case 0xFA:
	case 0xFB:
	case 0xFC:
	case 0xFD: /* typematic/make/break modes: accepted */
		kbd_reply(d, KBD_ACK);
		break;
	case 0xFE: /* resend */
		kbd_reply(d, d->kbd_last);
		break;
	case 0xFF: /* reset and self-test */
		q_clear(&d->kbdq);
		kbd_defaults(d);
		d->kbd_scanning = true;
		kbd_reply(d, KBD_ACK);
		kbd_reply(d, KBD_BAT_OK);
		break;
	default:
		kbd_reply(d, KBD_RESEND);
		break;
	}
}

/* Returns true when the CPU reset line was pulsed. */
static bool write_outport(struct glue_i8042 *d, uint8_t v)
{
	d->outport = v | OUTP_RESET; /* the reset is a pulse: it comes back */
	return !(v & OUTP_RESET);
}

static bool ctrl_command(struct glue_i8042 *d, uint8_t cmd)
{
	d->pending_cmd = 0;
	if (cmd >= 0x20 && cmd <= 0x3F) {
		ctrl_reply(d, d->ram[cmd & 0x1F]);
		return false;
	}
	if (cmd >= 0x60 && cmd <= 0x7F) {
		d->pending_cmd = cmd;
		return false;
	}
	if (cmd >= 0xF0)
		return !(cmd & 1); /* pulse output port bits; bit 0 is reset */

	switch (cmd) {
	case 0xA7:
		CTR(d) |= CTR_AUXDIS;
		break;
	case 0xA8:
		CTR(d) &= ~CTR_AUXDIS;
		break;
	case 0xAA: /* controller self-test */
		ctrl_reply(d, 0x55);
		break;
	case 0xAB: /* keyboard interface test */
		ctrl_reply(d, 0x00);
		break;
	case 0xAD:
		CTR(d) |= CTR_KBDDIS;
		break;
	case 0xAE:
		CTR(d) &= ~CTR_KBDDIS;
		load_output(d);
		break;
	case 0xD0: /* read output port */
		ctrl_reply(d,
			   (uint8_t)((d->outport & ~OUTP_KBD_OBF) | (d->obf ? OUTP_KBD_OBF : 0)));
		break;
	case 0xD1: /* write output port */
	case 0xD2: /* write keyboard output buffer */
		d->pending_cmd = cmd;
		break;
	case 0xDD:
		d->outport &= ~OUTP_A20;
		break;
	case 0xDF:
		d->outport |= OUTP_A20;
		break;
	case 0xE0: /* read test inputs */
		ctrl_reply(d, 0x00);
		break;
	default:
		break; /* unknown (and AUX) commands: ignored, as on an AT */
	}
	return false;
}

static bool data_write(struct glue_i8042 *d, uint8_t v)
{
	uint8_t cmd = d->pending_cmd;

	d->pending_cmd = 0;
	if (cmd >= 0x60 && cmd <= 0x7F) {
		if (cmd == 0x60) {
			v &= 0x7F; /* bit 7 does not exist */
			CTR(d) = v;
			load_output(d); /* the keyboard may have been enabled */
		} else {
			d->ram[cmd & 0x1F] = v;
		}
		return false;
	}
	if (cmd == 0xD1)
		return write_outport(d, v);
	if (cmd == 0xD2) {
		kbd_reply(d, v);
		return false;
	}
	kbd_write(d, v);
	return false;
}

static uint8_t i8042_read(struct glue_i8042 *d, bool cmd_port)
{
	uint8_t v;

	if (cmd_port)
		return (d->obf ? STR_OBF : 0) | ((CTR(d) & CTR_SYS) ? STR_SYS : 0) | d->cmddat |
		       STR_KEYLOCK;
	v = d->out; /* an empty register reads its last byte again */
	if (d->obf) {
		d->obf = false;
		update_irq(d); /* drop the line before the next byte raises it */
		load_output(d);
	}
	return v;
}

static void i8042_access(struct glue_i8042 *d, bool cmd_port, bool is_write, uint8_t *data,
			 uint32_t len)
{
	bool reset = false;

	pthread_mutex_lock(&d->lock);
	/* Byte-wide registers: a wider access touches only the first byte. */
	if (is_write) {
		d->cmddat = cmd_port ? STR_CMDDAT : 0;
		reset = cmd_port ? ctrl_command(d, data[0]) : data_write(d, data[0]);
	} else {
		memset(data, 0xff, len);
		data[0] = i8042_read(d, cmd_port);
	}
	update_irq(d);
	pthread_mutex_unlock(&d->lock);

	/* Outside the lock: the handler may do anything but free us. */
	if (reset && d->reset)
		d->reset(d->ctx);
}

static void data_port_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	i8042_access(dev, false, false, data, len);
}

static void data_port_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	i8042_access(dev, false, true, (uint8_t *)data, len);
}

static void cmd_port_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	i8042_access(dev, true, false, data, len);
}

static void cmd_port_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	i8042_access(dev, true, true, (uint8_t *)data, len);
}

static const struct glue_bus_ops data_ops = {
	.read = data_port_read,
	.write = data_port_write,
};

static const struct glue_bus_ops cmd_ops = {
	.read = cmd_port_read,
	.write = cmd_port_write,
};

int glue_i8042_new(struct glue_i8042 **out, struct glue_irq *kbd_irq, glue_reset_fn reset,
		   void *ctx)
{
	struct glue_i8042 *d;

	if (!out)
		return glue_err(-EINVAL, "i8042: no output pointer");
	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return glue_err(-ENOMEM, "i8042: out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->irq = kbd_irq;
	d->reset = reset;
	d->ctx = ctx;
	/* As a BIOS leaves it: keyboard interrupt on, POST passed, set 2
	 * translated to set 1, no AUX. */
	CTR(d) = CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE;
	d->outport = OUTP_RESET | OUTP_A20;
	d->kbd_scanning = true;
	kbd_defaults(d);
	*out = d;
	return 0;
}

void glue_i8042_free(struct glue_i8042 *dev)
{
	if (!dev)
		return;
	if (dev->bus) {
		glue_bus_unregister(dev->bus, GLUE_I8042_DATA_PORT);
		glue_bus_unregister(dev->bus, GLUE_I8042_CMD_PORT);
	}
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

int glue_i8042_attach(struct glue_i8042 *dev, struct glue_bus *pio)
{
	int ret;

	if (!dev || !pio)
		return glue_err(-EINVAL, "i8042: attach needs a device and a bus");
	if (dev->bus)
		return glue_err(-EBUSY, "i8042: already attached");
	ret = glue_bus_register(pio, GLUE_I8042_DATA_PORT, 1, &data_ops, dev, "i8042 data");
	if (ret)
		return ret;
	ret = glue_bus_register(pio, GLUE_I8042_CMD_PORT, 1, &cmd_ops, dev, "i8042 command");
	if (ret) {
		glue_bus_unregister(pio, GLUE_I8042_DATA_PORT);
		return ret;
	}
	dev->bus = pio;
	return 0;
}

int glue_i8042_send_ctrl_alt_del(struct glue_i8042 *dev)
{
	/* Press Ctrl, Alt, Del; release Del, Alt, Ctrl. */
	static const uint8_t set1[] = {0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D};
	static const uint8_t set2[] = {0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0,
				       0x71, 0xF0, 0x11, 0xF0, 0x14};
	const uint8_t *seq;
	size_t n;
	int ret = 0;

	if (!dev)
		return glue_err(-EINVAL, "i8042: no device");
	pthread_mutex_lock(&dev->lock);
	/* The controller translates set 2 to set 1 unless told not to. */
	if ((CTR(dev) & CTR_XLATE) || dev->kbd_set == 1) {
		seq = set1;
		n = sizeof(set1);
	} else {
		seq = set2;
		n = sizeof(set2);
	}
	if (QUEUE_SIZE - dev->kbdq.count < n) {
		ret = glue_err(-EAGAIN, "i8042: keyboard buffer full (is the guest reading it?)");
	} else {
		for (size_t i = 0; i < n; i++)
			q_push(&dev->kbdq, seq[i]);
		load_output(dev);
		update_irq(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}
