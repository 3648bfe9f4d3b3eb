/* SPDX-License-Identifier: MIT */
/*
 * serial / serialirq: announce "SERIAL READY", read one line from COM1 and
 * echo it. serial polls LSR; serialirq is interrupt driven end to end (UART
 * IER -> ISA IRQ 4 -> IOAPIC pin -> local APIC -> IDT) and sends its
 * announcement from THRE interrupts, so both directions prove an interrupt.
 */
#include "guest.h"
#include "uart.h"

#define LINE_MAX 256
#define LINE_TIMEOUT_S 60
#define TX_TIMEOUT_S 5
#define UART_VECTOR 0x30

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1
#define LVT_MASKED 0x10000
#define SVR_ENABLE 0x100
#define IOAPIC_VERSION 0x01
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define REDTBL_MASKED 0x10000

static char line[LINE_MAX];
static volatile u32 line_len;
static volatile bool line_done;
static volatile u32 rx_irqs, tx_irqs;
static const char *tx_buf;
static volatile u32 tx_pos, tx_len;

static void line_reset(void)
{
	line_len = 0;
	line_done = false;
}

static void line_add(u8 c)
{
	if (line_done || c == '\r')
		return;
	if (c == '\n')
		line_done = true;
	else if (line_len < LINE_MAX)
		line[line_len++] = (char)c;
}

static void print_line(void)
{
	print_escaped(line, line_len);
}

void check_serial(void)
{
	struct deadline d;
	u8 c;

	line_reset();
	kprintf("SERIAL READY\n");
	deadline_start(&d, LINE_TIMEOUT_S);
	while (!line_done) {
		if (uart_poll_getc(&c))
			line_add(c);
		else if (deadline_expired(&d))
			break;
	}
	if (!line_done) {
		kprintf("TEST serial FAIL reason=timeout partial=");
		print_line();
		kprintf("\n");
		test_count(false);
		return;
	}
	kprintf("TEST serial PASS echo=");
	print_line();
	kprintf("\n");
	test_count(true);
}

static void uart_irq(u8 vector)
{
	(void)vector;
	/* Serve every pending source so the (edge-triggered) line drops. */
	for (int n = 0; n < 16; n++) {
		u8 iir = inb(COM1 + UART_IIR);

		if (iir & UART_IIR_NO_INT)
			break;
		switch (iir & UART_IIR_ID) {
		case UART_IIR_RDI:
		case UART_IIR_TIMEOUT:
			rx_irqs++;
			for (int k = 0; k < 64 && (inb(COM1 + UART_LSR) & UART_LSR_DR); k++)
				line_add(inb(COM1 + UART_RBR));
			break;
		case UART_IIR_THRI:
			tx_irqs++;
			if (tx_pos < tx_len)
				outb(COM1 + UART_THR, (u8)tx_buf[tx_pos++]);
			break;
		case UART_IIR_RLSI:
			inb(COM1 + UART_LSR);
			break;
		default:
			inb(COM1 + UART_MSR);
			break;
		}
	}
}

static void uart_irq_off(u64 ioapic, int pin)
{
	cli();
	outb(COM1 + UART_IER, 0);
	ioapic_write(ioapic, IOAPIC_REDTBL(pin), REDTBL_MASKED);
	irq_set_handler(UART_VECTOR, NULL);
	uart_sync();
}

void check_serialirq(void)
{
	const struct mp_info *mp = mptable_get();
	u64 ioapic = IOAPIC_DEFAULT_BASE;
	int pin = UART_ISA_IRQ;
	const char *route = "default";
	struct deadline d;

	if (mp->found && !mp->error) {
		if (mp->ioapic_found)
			ioapic = mp->ioapic_addr;
		if (mp->isa_irq_pin[UART_ISA_IRQ] >= 0) {
			pin = mp->isa_irq_pin[UART_ISA_IRQ];
			route = "mptable";
		}
	}
	if (ioapic < 0xc0000000UL || ioapic > 0xfffff000UL) {
		test_result("serialirq", false, "reason=bad-ioapic-address ioapic=0x%lx", ioapic);
		return;
	}
	u32 ver = ioapic_read(ioapic, IOAPIC_VERSION);

	if (ver == 0xffffffff || ver == 0) {
		test_result("serialirq", false, "reason=no-ioapic ioapic=0x%lx", ioapic);
		return;
	}
	if (pin > (int)((ver >> 16) & 0xff)) {
		test_result("serialirq", false, "reason=bad-pin pin=%d ioapic_pins=%u", pin,
			    ((ver >> 16) & 0xff) + 1);
		return;
	}
	u32 lver = lapic_read(LAPIC_VERSION);

	if (lver == 0xffffffff || lver == 0) {
		test_result("serialirq", false, "reason=no-lapic");
		return;
	}

	/* Keep the 8259s out: KVM resets the BSP's LINT0 to ExtINT. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
	irq_set_handler(UART_VECTOR, uart_irq);
	/* Fixed delivery to the BSP, physical, edge, active high. */
	ioapic_write(ioapic, IOAPIC_REDTBL(pin) + 1, (u32)lapic_id() << 24);
	ioapic_write(ioapic, IOAPIC_REDTBL(pin), UART_VECTOR);

	/* Start clean: no stale received bytes or pending sources. */
	outb(COM1 + UART_IER, 0);
	for (int k = 0; k < 64 && (inb(COM1 + UART_LSR) & UART_LSR_DR); k++)
		inb(COM1 + UART_RBR);
	inb(COM1 + UART_IIR);
	inb(COM1 + UART_MSR);
	outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	uart_sync();

	line_reset();
	rx_irqs = tx_irqs = 0;
	tx_buf = "SERIAL READY\n";
	tx_len = (u32)strlen(tx_buf);
	/*
	 * Send the first byte ourselves: the THRE interrupt for the rest then
	 * comes whether the UART raises it when IER.THRI is set on an empty
	 * THR (a 16550A does) or only when a byte has gone out.
	 */
	outb(COM1 + UART_THR, (u8)tx_buf[0]);
	tx_pos = 1;
	outb(COM1 + UART_IER, UART_IER_RDI | UART_IER_THRI);
	sti();

	deadline_start(&d, TX_TIMEOUT_S);
	while (tx_pos < tx_len && !deadline_expired(&d))
		cpu_relax();
	if (tx_pos < tx_len) {
		uart_irq_off(ioapic, pin);
		test_result("serialirq", false, "reason=tx-timeout sent=%u tx_irqs=%u rx_irqs=%u",
			    tx_pos, tx_irqs, rx_irqs);
		return;
	}

	deadline_start(&d, LINE_TIMEOUT_S);
	while (!line_done && !deadline_expired(&d))
		cpu_relax();
	uart_irq_off(ioapic, pin);

	bool pass = line_done && rx_irqs && tx_irqs;

	kprintf("TEST serialirq %s ", pass ? "PASS" : "FAIL");
	if (!line_done)
		kprintf("reason=timeout partial=");
	else
		kprintf("echo=");
	print_line();
	kprintf(" rx_irqs=%u tx_irqs=%u route=%s pin=%d vector=0x%x\n", rx_irqs, tx_irqs, route,
		pin, UART_VECTOR);
	test_count(pass);
}
