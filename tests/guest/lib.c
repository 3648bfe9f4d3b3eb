/* SPDX-License-Identifier: MIT */
/* The little of libc the guest needs, formatted output and CRC-32. */
#include "guest.h"

/* GCC may emit calls to these four even in freestanding code. */
void *memset(void *s, int c, size_t n)
{
	u8 *p = s;

	while (n--)
		*p++ = (u8)c;
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x - *y;
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static void put_uint(u64 v, unsigned int base, bool upper, int width, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int n = 0;

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);
	while (width-- > n)
		uart_putc(pad);
	while (n)
		uart_putc(buf[--n]);
}

/* Supports %[0][width][.*][l|ll|z](d|i|u|x|X|s|c|p) and %%. */
void kvprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			uart_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, longs = 0, prec = -1;

		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (fmt[0] == '.' && fmt[1] == '*') {
			prec = va_arg(ap, int);
			fmt += 2;
		}
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 v = longs ? va_arg(ap, s64) : va_arg(ap, int);

			if (v < 0) {
				uart_putc('-');
				put_uint(-(u64)v, 10, false, width - 1, pad);
			} else {
				put_uint((u64)v, 10, false, width, pad);
			}
			break;
		}
		case 'u':
			put_uint(longs ? va_arg(ap, u64) : va_arg(ap, unsigned int), 10, false,
				 width, pad);
			break;
		case 'x':
		case 'X':
			put_uint(longs ? va_arg(ap, u64) : va_arg(ap, unsigned int), 16,
				 *fmt == 'X', width, pad);
			break;
		case 'p':
			uart_putc('0');
			uart_putc('x');
			put_uint((u64)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 'c':
			uart_putc((char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			for (int i = 0; s[i] && (prec < 0 || i < prec); i++)
				uart_putc(s[i]);
			break;
		}
		case '%':
			uart_putc('%');
			break;
		default:
			/* Unknown conversion: show it rather than guess. */
			uart_putc('%');
			if (!*fmt)
				return;
			uart_putc(*fmt);
			break;
		}
	}
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void print_escaped(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		u8 c = (u8)s[i];

		if (c == '\n' || c == '\r' || c == 0)
			kprintf("\\x%02x", c);
		else
			uart_putc((char)c);
	}
}

/*
 * Slicing-by-8 CRC-32, tables built on first use (about 20k instructions):
 * an initrd of 1 MiB then costs ~2.5 instructions per byte instead of ~8,
 * which matters at the emulator's ~2M instructions per second.
 */
static u32 crc_table[8][256];
static bool crc_table_ready;

static void crc32_init(void)
{
	for (u32 n = 0; n < 256; n++) {
		u32 c = n;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
		crc_table[0][n] = c;
	}
	for (u32 n = 0; n < 256; n++) {
		for (int t = 1; t < 8; t++) {
			u32 prev = crc_table[t - 1][n];

			crc_table[t][n] = (prev >> 8) ^ crc_table[0][prev & 0xff];
		}
	}
	crc_table_ready = true;
}

u32 crc32_update(u32 crc, const void *buf, size_t len)
{
	const u8 *p = buf;

	if (!crc_table_ready)
		crc32_init();
	crc = ~crc;
	while (len && ((u64)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		u64 v = *(const u64 *)p ^ crc;
		u32 lo = (u32)v, hi = (u32)(v >> 32);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

bool parse_u64(const char *s, size_t len, u64 *out)
{
	unsigned int base = 10;
	u64 v = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		if (v > (~0UL - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}
