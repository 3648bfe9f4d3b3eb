/* SPDX-License-Identifier: MIT */
/* 16550A register offsets and bits. */
#ifndef GUEST_UART_H
#define GUEST_UART_H

#define UART_RBR 0 /* read */
#define UART_THR 0 /* write */
#define UART_DLL 0 /* with LCR.DLAB */
#define UART_IER 1
#define UART_DLM 1 /* with LCR.DLAB */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6

#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID 0x0e
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_TIMEOUT 0x0c

#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04

#define UART_LCR_8N1 0x03
#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT2 0x08 /* gates the IRQ line on PC hardware */

#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

/* COM1's ISA IRQ. */
#define UART_ISA_IRQ 4

#endif
