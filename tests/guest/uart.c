/* SPDX-License-Identifier: MIT */
/* COM1 (16550A at 0x3f8), polled. check_serial.c adds the interrupt mode. */
#include "guest.h"
#include "uart.h"

/* Bytes we may still write before looking at LSR again (FIFO room). */
static unsigned int tx_room;
static unsigned int tx_fifo_size = 1;
/* Set once THRE never came: do not wait long again (a port that reads 0). */
static bool tx_stuck;

void uart_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + UART_DLL, 1); /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, UART_LCR_8N1);
	outb(COM1 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
	outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	/* A 16550A reports its FIFO in IIR bits 7:6; a 16450 has none. */
	if ((inb(COM1 + UART_IIR) & 0xc0) == 0xc0)
		tx_fifo_size = 16;
	tx_room = 0;
}

void uart_sync(void)
{
	/* Bounded: without a UART, or with a stuck one, we must not hang. */
	unsigned int limit = tx_stuck ? 10 : 1000000;
	unsigned int i;

	for (i = 0; i < limit; i++) {
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			break;
		cpu_relax();
	}
	tx_stuck = i == limit;
	tx_room = tx_fifo_size;
}

void uart_putc(char c)
{
	/* Every port access is a VM exit: check LSR once per FIFO's worth of bytes. */
	if (!tx_room)
		uart_sync();
	outb(COM1 + UART_THR, (u8)c);
	tx_room--;
}

bool uart_poll_getc(u8 *c)
{
	u8 lsr = inb(COM1 + UART_LSR);

	/* 0xff: no UART behind the port. */
	if (lsr == 0xff || !(lsr & UART_LSR_DR))
		return false;
	*c = inb(COM1 + UART_RBR);
	return true;
}
