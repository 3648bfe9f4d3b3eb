/* SPDX-License-Identifier: MIT */
/*
 * chaos: a hostile guest. Pseudo-random port and MMIO accesses (random
 * widths, values, offsets) to COM1, the RTC, the i8042, unassigned ports,
 * the empty part of the 32-bit MMIO hole and the addresses just past the end
 * of RAM, plus string I/O with large counts; then put the devices back the
 * way the guest found them and check that they still work.
 *
 * The VMM must survive all of it. What the guest keeps away from, so that
 * the run itself survives: the debug-exit port and every i8042 command that
 * resets the machine (0xf0-0xff, and the output port written through 0xd1
 * with bit 0 clear, which this check forces set); the pages of the MMIO hole
 * and past RAM whose probe read gives the virtio-mmio magic (a device lives
 * there; any other answer but all-ones is an odd read);
 * COM1's transmitter: MCR loopback is forced on in every MCR write, so the
 * garbage never reaches the console.
 *
 * Deterministic for a seed (glue.seed=N, default 1); glue.chaos_scale=N
 * multiplies the number of accesses (default 1: ~5000, well under a second
 * under the PVM emulator); glue.chaos_phases=MASK picks phases (PHASE_*).
 */
#include "guest.h"
#include "uart.h"

#define DEFAULT_SEED 1
#define MAX_SCALE 10000

/* Accesses per phase at scale 1. */
#define N_SERIAL 1200
#define N_RTC 600
#define N_I8042 800
#define N_PORTS 1200
#define N_MMIO 600
#define N_RAM_END 16 /* per RAM entry */

/* glue.chaos_phases=MASK runs only some phases (default all). */
#define PHASE_RTC 0x01
#define PHASE_SERIAL 0x02
#define PHASE_I8042 0x04
#define PHASE_PORTS 0x08
#define PHASE_MMIO 0x10
#define PHASE_RAM_END 0x20
#define PHASE_ALL 0x3f

#define UART_MCR_LOOP 0x10
#define UART_LSR_TEMT 0x40
#define UART_SCR 7

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_REGS 128
#define RTC_SEC 0x00
#define RTC_MIN 0x02
#define RTC_HOUR 0x04
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_NVRAM 0x0e
#define RTC_CENTURY 0x32
#define RTC_A_UIP 0x80
#define RTC_B_SET 0x80
#define RTC_B_BINARY 0x04
#define RTC_B_24H 0x02

#define I8042_DATA 0x60
#define I8042_CMD 0x64 /* status on read */
#define I8042_STR_OBF 0x01
#define I8042_STR_IBF 0x02
#define I8042_CMD_READ_CTR 0x20
#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_SELFTEST 0xaa
#define I8042_CMD_READ_OUTPORT 0xd0
#define I8042_CMD_WRITE_OUTPORT 0xd1
#define I8042_CMD_PULSE_FIRST 0xf0 /* 0xf0-0xff pulse output lines; 0xfe resets */
#define I8042_OUTPORT_RESET 0x01   /* low: CPU in reset */
#define I8042_OUTPORT_A20 0x02
#define I8042_SELFTEST_OK 0x55
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_ENABLE 0xf4
#define KBD_CMD_DEFAULTS 0xf6
#define KBD_ACK 0xfa

/* The 32-bit MMIO hole below the IOAPIC (0xfec00000), where glue maps nothing. */
#define HOLE_START 0xc0000000UL
#define HOLE_END 0xfec00000UL
#define PAGE 4096UL

#define STR_LEN 12288 /* bytes per string instruction: several KVM chunks */
#define STR_GUARD 64
#define STR_GUARD_BYTE 0x5c
#define OUTS_LINE_LEN 4000 /* pattern bytes of the CHAOS OUTS line */

struct chaos {
	u64 rng;
	u32 accesses;  /* single port/MMIO accesses */
	u32 skipped;   /* accesses left out or defused (i8042 reset, busy MMIO) */
	u32 odd_reads; /* reads of nothing that were not all-ones */
	u64 rep_bytes; /* bytes moved by string instructions */
	bool overrun;  /* a string instruction wrote outside its buffer */
	/* PCI bus 0, as configuration mechanism #1 shows it: each function's
	 * vendor/device dword (what its ECAM page starts with) and memory BARs. */
	u32 pci_ids[32];
	u32 npci;
	u64 bar_start[64], bar_end[64];
	u32 nbars;
};

static u8 strbuf[STR_GUARD + STR_LEN + 8 + STR_GUARD] __attribute__((aligned(8)));

/* ---- PRNG: splitmix64 ---- */

static u64 rnd64(struct chaos *c)
{
	u64 z = (c->rng += 0x9e3779b97f4a7c15UL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n), n > 0. */
static u32 rnd(struct chaos *c, u32 n)
{
	return (u32)(((rnd64(c) >> 32) * n) >> 32);
}

static unsigned int rnd_width(struct chaos *c)
{
	return 1u << rnd(c, 3); /* 1, 2 or 4 */
}

/* ---- port I/O of any width ---- */

static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline u16 inw(u16 port)
{
	u16 v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 inl(u16 port)
{
	u32 v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static u32 ones(unsigned int width)
{
	return width >= 4 ? 0xffffffffu : (1u << (8 * width)) - 1;
}

static u32 pio_read(struct chaos *c, u16 port, unsigned int width)
{
	c->accesses++;
	if (width == 1)
		return inb(port);
	if (width == 2)
		return inw(port);
	return inl(port);
}

static void pio_write(struct chaos *c, u16 port, unsigned int width, u32 v)
{
	c->accesses++;
	if (width == 1)
		outb(port, (u8)v);
	else if (width == 2)
		outw(port, (u16)v);
	else
		outl(port, v);
}

/* A read of a port where nothing is: it must read all-ones. */
static void pio_read_nothing(struct chaos *c, u16 port, unsigned int width)
{
	if (pio_read(c, port, width) != ones(width))
		c->odd_reads++;
}

/* ---- string I/O, into and out of strbuf between guard bytes ---- */

/* The data starts 3 bytes into the area: unaligned, as a guest may do. */
static u8 *str_data(void)
{
	return strbuf + STR_GUARD + 3;
}

/*
 * Everything outside [str_data(), + len) set to the guard byte; the data
 * random (for outs) or zero (for ins: a byte the instruction skipped shows).
 * Word stores: every guest instruction is emulated.
 */
static void str_prepare(struct chaos *c, u64 len, bool random_fill)
{
	u64 *w = (u64 *)strbuf;
	u8 *data = str_data();
	u64 i;

	for (i = 0; i < sizeof(strbuf) / 8; i++)
		w[i] = 0x0101010101010101UL * STR_GUARD_BYTE;
	for (i = 0; i + 8 <= len; i += 8)
		*(u64 *)(data + i) = random_fill ? rnd64(c) : 0;
	for (; i < len; i++)
		data[i] = random_fill ? (u8)rnd64(c) : 0;
}

static void rep_ins(u16 port, unsigned int width, void *buf, u64 count)
{
	if (width == 1)
		__asm__ volatile("rep insb" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
	else if (width == 2)
		__asm__ volatile("rep insw" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
	else
		__asm__ volatile("rep insl" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
}

static void rep_outs(u16 port, unsigned int width, const void *buf, u64 count)
{
	if (width == 1)
		__asm__ volatile("rep outsb" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
	else if (width == 2)
		__asm__ volatile("rep outsw" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
	else
		__asm__ volatile("rep outsl" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

/* Check the guard bytes around [data, data + len); note an overrun. */
static void str_check_guards(struct chaos *c, u64 len)
{
	const u8 *data = str_data();

	for (const u8 *p = strbuf; p < data; p++)
		if (*p != STR_GUARD_BYTE)
			c->overrun = true;
	for (const u8 *p = data + len; p < strbuf + sizeof(strbuf); p++)
		if (*p != STR_GUARD_BYTE)
			c->overrun = true;
}

static bool all_ones(const u8 *p, u64 len)
{
	u64 i = 0;

	for (; i < len && ((u64)(p + i) & 7); i++)
		if (p[i] != 0xff)
			return false;
	for (; i + 8 <= len; i += 8)
		if (*(const u64 *)(p + i) != ~0UL)
			return false;
	for (; i < len; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/* rep ins of len bytes (len a multiple of width) from port into strbuf. */
static void str_in(struct chaos *c, u16 port, unsigned int width, u64 len, bool nothing)
{
	str_prepare(c, len, false);
	rep_ins(port, width, str_data(), len / width);
	c->rep_bytes += len;
	str_check_guards(c, len);
	if (nothing && !all_ones(str_data(), len))
		c->odd_reads++;
}

static void str_out(struct chaos *c, u16 port, unsigned int width, u64 len)
{
	str_prepare(c, len, true);
	rep_outs(port, width, str_data(), len / width);
	c->rep_bytes += len;
}

/* ---- COM1 ---- */

static void chaos_serial(struct chaos *c, u32 n)
{
	const u16 mcr = COM1 + UART_MCR;

	uart_sync(); /* let what we printed go before the FIFOs are cleared */
	outb(mcr, UART_MCR_LOOP);
	for (u32 i = 0; i < n; i++) {
		unsigned int w = rnd_width(c);
		u16 port = (u16)(COM1 + rnd(c, 8));

		if (rnd(c, 2)) {
			pio_read(c, port, w);
			continue;
		}
		u32 v = (u32)rnd64(c);

		/* Keep the transmitter looped back: the console stays clean. */
		if (port <= mcr && port + w > mcr)
			v |= (u32)UART_MCR_LOOP << (8 * (mcr - port));
		pio_write(c, port, w, v);
	}
	/* String I/O at THR/RBR; a dword also covers IER, FCR and LCR, not MCR. */
	for (unsigned int w = 1; w <= 4; w *= 2) {
		str_out(c, COM1, w, STR_LEN);
		str_in(c, COM1, w, STR_LEN, false);
	}
}

/* Put COM1 back as at boot, then check it; NULL if it works. */
static const char *serial_restore_check(bool fifo_before)
{
	uart_init();
	inb(COM1 + UART_LSR); /* clears error bits left from the chaos */
	u8 lsr = inb(COM1 + UART_LSR);

	if ((lsr & (UART_LSR_THRE | UART_LSR_TEMT)) != (UART_LSR_THRE | UART_LSR_TEMT) ||
	    (lsr & UART_LSR_DR))
		return "serial-lsr";
	if (((inb(COM1 + UART_IIR) & 0xc0) == 0xc0) != fifo_before)
		return "serial-fifo";
	if (inb(COM1 + UART_LCR) != UART_LCR_8N1)
		return "serial-lcr";
	for (unsigned int v = 0x5a; v <= 0xa5; v += 0x4b) {
		outb(COM1 + UART_SCR, (u8)v);
		if (inb(COM1 + UART_SCR) != v)
			return "serial-scratch";
	}
	/* One byte through loopback: transmitter and receiver both work. */
	const char *err = NULL;
	unsigned int i;

	outb(COM1 + UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_RTS);
	outb(COM1 + UART_THR, 0x42);
	for (i = 0; i < 1000 && !(inb(COM1 + UART_LSR) & UART_LSR_DR); i++)
		cpu_relax();
	if (i == 1000)
		err = "serial-loopback-timeout";
	else if (inb(COM1 + UART_RBR) != 0x42)
		err = "serial-loopback-data";
	else if (inb(COM1 + UART_LSR) & UART_LSR_DR)
		err = "serial-loopback-extra";
	uart_init();
	return err;
}

/* A long line through one rep outsb: every byte must reach the console, in order. */
static void serial_outs_line(struct chaos *c)
{
	static const char prefix[] = "CHAOS OUTS ";
	const size_t plen = sizeof(prefix) - 1, len = plen + OUTS_LINE_LEN + 1;
	u8 *p = str_data();

	memcpy(p, prefix, plen);
	for (size_t i = 0; i < OUTS_LINE_LEN; i++)
		p[plen + i] = (u8)('a' + i % 26);
	p[len - 1] = '\n';
	uart_sync();
	rep_outs(COM1, 1, p, len);
	c->rep_bytes += len;
	uart_sync();
}

/* ---- RTC ---- */

struct rtc_snap {
	u8 reg[CMOS_REGS];
	s64 time; /* seconds since 1970 of the clock registers in reg[] */
};

static const u8 clock_regs[] = {RTC_SEC,  RTC_MIN, RTC_HOUR, RTC_WDAY,
				RTC_MDAY, RTC_MON, RTC_YEAR, RTC_CENTURY};

static bool rtc_present(void)
{
	return cmos_read(RTC_REG_A) != 0xff || cmos_read(RTC_REG_B) != 0xff;
}

/* Read the clock registers outside update cycles until two reads agree. */
static bool rtc_read_clock(u8 *out)
{
	u8 a[sizeof(clock_regs)], b[sizeof(clock_regs)];

	for (int tries = 0; tries < 5; tries++) {
		for (int pass = 0; pass < 2; pass++) {
			u8 *t = pass ? b : a;
			unsigned int i;

			for (i = 0; i < 100000 && (cmos_read(RTC_REG_A) & RTC_A_UIP); i++)
				;
			if (i == 100000)
				return false;
			for (size_t r = 0; r < sizeof(clock_regs); r++)
				t[r] = cmos_read(clock_regs[r]);
		}
		if (!memcmp(a, b, sizeof(a))) {
			for (size_t r = 0; r < sizeof(clock_regs); r++)
				out[clock_regs[r]] = a[r];
			return true;
		}
	}
	return false;
}

/* -1 if not valid BCD (or binary out of range). */
static int rtc_decode(u8 v, bool binary)
{
	if (binary)
		return v;
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

/* Days since 1970-01-01 (Howard Hinnant's days_from_civil, y >= 1). */
static s64 days_from_civil(s64 y, unsigned int m, unsigned int d)
{
	y -= m <= 2;
	s64 era = y / 400;
	unsigned int yoe = (unsigned int)(y - era * 400);
	unsigned int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The clock in reg[] as seconds since 1970; -1 if it is no valid date >= 2020. */
static s64 rtc_time(const u8 *reg, u8 regb)
{
	bool binary = regb & RTC_B_BINARY, h24 = regb & RTC_B_24H;
	int sec = rtc_decode(reg[RTC_SEC], binary), min = rtc_decode(reg[RTC_MIN], binary);
	int hour = rtc_decode(h24 ? reg[RTC_HOUR] : reg[RTC_HOUR] & 0x7f, binary);
	int day = rtc_decode(reg[RTC_MDAY], binary), mon = rtc_decode(reg[RTC_MON], binary);
	int yy = rtc_decode(reg[RTC_YEAR], binary), cent = rtc_decode(reg[RTC_CENTURY], binary);

	if (!h24) {
		if (hour < 1 || hour > 12)
			return -1;
		hour = hour % 12 + ((reg[RTC_HOUR] & 0x80) ? 12 : 0);
	}
	if (cent < 19 || cent > 99)
		cent = 20; /* no century register: as check_rtc assumes */
	if (sec < 0 || sec > 59 || min < 0 || min > 59 || hour < 0 || hour > 23 || day < 1 ||
	    day > 31 || mon < 1 || mon > 12 || yy < 0 || yy > 99 || cent * 100 + yy < 2020)
		return -1;
	return days_from_civil(cent * 100 + yy, (unsigned int)mon, (unsigned int)day) * 86400 +
	       hour * 3600 + min * 60 + sec;
}

/* Every register, the clock from a consistent read. */
static const char *rtc_save(struct rtc_snap *s)
{
	for (unsigned int r = 0; r < CMOS_REGS; r++)
		s->reg[r] = cmos_read((u8)r);
	if (!rtc_read_clock(s->reg))
		return "rtc-unstable-before";
	s->time = rtc_time(s->reg, s->reg[RTC_REG_B]);
	if (s->time < 0)
		return "rtc-invalid-before";
	return NULL;
}

static void chaos_rtc(struct chaos *c, u32 n)
{
	/* Every index, read and written, with NMI-mask bit or not. */
	for (unsigned int r = 0; r < CMOS_REGS; r++) {
		pio_write(c, CMOS_INDEX, 1, r | (rnd(c, 2) << 7));
		pio_read(c, CMOS_DATA, 1);
		pio_write(c, CMOS_INDEX, 1, r);
		pio_write(c, CMOS_DATA, 1, (u32)rnd64(c));
		pio_read(c, CMOS_DATA, 1);
	}
	for (u32 i = 0; i < n; i++) {
		unsigned int kind = rnd(c, 8);

		if (kind < 3)
			pio_write(c, CMOS_INDEX, 1, (u32)rnd64(c));
		else if (kind < 5)
			pio_read(c, CMOS_DATA, 1);
		else if (kind < 7)
			pio_write(c, CMOS_DATA, 1, (u32)rnd64(c));
		else if (rnd(c, 2))
			pio_read(c, (u16)(CMOS_INDEX + rnd(c, 2)), rnd_width(c));
		else
			pio_write(c, (u16)(CMOS_INDEX + rnd(c, 2)), rnd_width(c), (u32)rnd64(c));
	}
	/* A word at the index port writes index and data: 128 random pairs at once. */
	str_out(c, CMOS_INDEX, 2, 256);
	str_in(c, CMOS_DATA, 1, 1024, false);
}

/* Put every register back: the clock as read before the RTC phase (it lags
 * by that phase's duration, a fraction of a second), through SET as an OS
 * sets it. */
static void rtc_restore(const struct rtc_snap *s)
{
	cmos_write(RTC_REG_B, s->reg[RTC_REG_B] | RTC_B_SET);
	cmos_write(RTC_REG_A, s->reg[RTC_REG_A] & ~RTC_A_UIP);
	for (unsigned int r = 0; r < CMOS_REGS; r++) {
		if (r == RTC_REG_A || r == RTC_REG_B || r == RTC_REG_C || r == RTC_REG_D)
			continue;
		if (r != RTC_CENTURY)
			cmos_write((u8)r, s->reg[r]);
	}
	/* After the year: glue and QEMU combine the two into one year. */
	cmos_write(RTC_CENTURY, s->reg[RTC_CENTURY]);
	cmos_write(RTC_REG_B, s->reg[RTC_REG_B]);
}

static const char *rtc_check(const struct rtc_snap *s, s64 *now)
{
	u8 reg[CMOS_REGS];

	if ((cmos_read(RTC_REG_A) & ~RTC_A_UIP) != (s->reg[RTC_REG_A] & ~RTC_A_UIP) ||
	    cmos_read(RTC_REG_B) != s->reg[RTC_REG_B])
		return "rtc-regs";
	for (unsigned int r = RTC_NVRAM; r < CMOS_REGS; r++)
		if (r != RTC_CENTURY && cmos_read((u8)r) != s->reg[r])
			return "rtc-nvram";
	if (!rtc_read_clock(reg))
		return "rtc-unstable";
	*now = rtc_time(reg, s->reg[RTC_REG_B]);
	/* Restored to the time read before: it may have ticked once or twice since. */
	if (*now < s->time || *now > s->time + 5)
		return "rtc-date";
	return NULL;
}

/* At the end: the clock still reads a valid date, not before the last one. */
static const char *rtc_still_ticking(u8 regb, s64 *now)
{
	u8 reg[CMOS_REGS];
	s64 t;

	if (!rtc_read_clock(reg))
		return "rtc-unstable";
	t = rtc_time(reg, regb);
	if (t < *now)
		return "rtc-date";
	*now = t;
	return NULL;
}

/* ---- i8042 ---- */

static bool i8042_present(void)
{
	return inb(I8042_CMD) != 0xff;
}

/* Read every byte waiting in the output buffer (bounded: queues are short). */
static void i8042_drain(void)
{
	for (unsigned int i = 0; i < 256 && (inb(I8042_CMD) & I8042_STR_OBF); i++)
		inb(I8042_DATA);
}

static bool i8042_wait_ibf_clear(void)
{
	for (unsigned int i = 0; i < 10000; i++)
		if (!(inb(I8042_CMD) & I8042_STR_IBF))
			return true;
	return false;
}

/* The next output byte; -1 if none comes. */
static int i8042_read(void)
{
	for (unsigned int i = 0; i < 10000; i++)
		if (inb(I8042_CMD) & I8042_STR_OBF)
			return inb(I8042_DATA);
	return -1;
}

static int i8042_command(u8 cmd, bool reply)
{
	if (!i8042_wait_ibf_clear())
		return -1;
	outb(I8042_CMD, cmd);
	return reply ? i8042_read() : 0;
}

static int i8042_data(u8 v, bool reply)
{
	if (!i8042_wait_ibf_clear())
		return -1;
	outb(I8042_DATA, v);
	return reply ? i8042_read() : 0;
}

static void chaos_i8042(struct chaos *c, u32 n)
{
	/*
	 * A 0xd1 (write output port) may still wait for its data byte. glue
	 * forgets it at the next command, QEMU only when another command
	 * waits for data: keep it until a data byte has surely gone.
	 */
	bool outport_next = false;

	for (u32 i = 0; i < n; i++) {
		unsigned int w = rnd_width(c);
		u16 port = rnd(c, 2) ? I8042_CMD : I8042_DATA;

		if (rnd(c, 2)) {
			pio_read(c, port, w);
			continue;
		}
		u32 v = (u32)rnd64(c);

		/*
		 * Wider writes: glue refuses them (past the 1-byte ports), QEMU
		 * hands each byte to the port in turn. Treat them as delivered
		 * for what is dangerous, as not for what defuses.
		 */
		if (port == I8042_CMD) {
			bool pulse = false;

			for (unsigned int b = 0; b < w; b++) {
				u8 cmd = (u8)(v >> (8 * b));

				/* 0xfe and the other pulse commands: reset. */
				pulse = pulse || cmd >= I8042_CMD_PULSE_FIRST;
				if (cmd == I8042_CMD_WRITE_OUTPORT)
					outport_next = true;
			}
			if (pulse) {
				c->skipped++;
				continue;
			}
		} else if (outport_next) {
			/* The output port: keep the reset line (and A20) high. */
			v |= I8042_OUTPORT_RESET | I8042_OUTPORT_A20;
			c->skipped++;
			if (w == 1)
				outport_next = false;
		}
		pio_write(c, port, w, v);
	}
	str_in(c, I8042_DATA, 1, 256, false);
	str_in(c, I8042_CMD, 1, 256, false);
}

/* The output port's reset and A20 lines, the bits we restore and compare. */
#define OUTPORT_BITS (I8042_OUTPORT_RESET | I8042_OUTPORT_A20)

static const char *i8042_restore_check(u8 ctr, u8 outport)
{
	int v;

	i8042_drain();
	/* The command byte first: it may have disabled the keyboard, whose bytes then wait. */
	if (i8042_command(I8042_CMD_WRITE_CTR, false) < 0 || i8042_data(ctr, false) < 0)
		return "i8042-stuck";
	i8042_drain();
	/* A20 as before (0xdd may have cleared it); the reset line stays high. */
	if (i8042_command(I8042_CMD_WRITE_OUTPORT, false) < 0 ||
	    i8042_data(outport | I8042_OUTPORT_RESET, false) < 0)
		return "i8042-stuck";
	i8042_drain();
	v = i8042_command(I8042_CMD_READ_OUTPORT, true);
	if (v < 0 || (v & OUTPORT_BITS) != ((outport | I8042_OUTPORT_RESET) & OUTPORT_BITS))
		return "i8042-outport";
	i8042_drain();
	/* Keyboard defaults and scanning on, as after a BIOS. */
	if (i8042_data(KBD_CMD_DEFAULTS, true) != KBD_ACK ||
	    i8042_data(KBD_CMD_ENABLE, true) != KBD_ACK)
		return "i8042-kbd-ack";
	i8042_drain();
	v = i8042_command(I8042_CMD_SELFTEST, true);
	if (v != I8042_SELFTEST_OK)
		return "i8042-selftest";
	i8042_drain();
	v = i8042_command(I8042_CMD_READ_CTR, true);
	if (v != ctr)
		return "i8042-ctr";
	if (i8042_data(KBD_CMD_ECHO, true) != KBD_CMD_ECHO)
		return "i8042-echo";
	i8042_drain();
	return NULL;
}

/* ---- unassigned ports ---- */

static void chaos_ports(struct chaos *c, u32 n)
{
	for (u32 i = 0; i < n; i++) {
		unsigned int w = rnd_width(c);
		u16 port;

		/* Nothing at 0x100-0x3f7, nor at 0x1000-0xffff (no PCI yet). */
		if (rnd(c, 2))
			port = (u16)(0x100 + rnd(c, 0x3f8 - 0x100 - w + 1));
		else
			port = (u16)(0x1000 + rnd(c, 0x10000 - 0x1000 - w + 1));
		if (rnd(c, 2))
			pio_read_nothing(c, port, w);
		else
			pio_write(c, port, w, (u32)rnd64(c));
	}
	u16 port = (u16)(0x1000 + rnd(c, 0xeffc));

	for (unsigned int w = 1; w <= 4; w *= 2) {
		str_in(c, port, w, STR_LEN, true);
		str_out(c, port, w, STR_LEN);
	}
}

/* ---- MMIO ---- */

static u64 mmio_read(struct chaos *c, u64 addr, unsigned int width)
{
	c->accesses++;
	switch (width) {
	case 1:
		return *(volatile u8 *)phys_ptr(addr);
	case 2:
		return *(volatile u16 *)phys_ptr(addr);
	case 4:
		return *(volatile u32 *)phys_ptr(addr);
	default:
		return *(volatile u64 *)phys_ptr(addr);
	}
}

static void mmio_write(struct chaos *c, u64 addr, unsigned int width, u64 v)
{
	c->accesses++;
	switch (width) {
	case 1:
		*(volatile u8 *)phys_ptr(addr) = (u8)v;
		break;
	case 2:
		*(volatile u16 *)phys_ptr(addr) = (u16)v;
		break;
	case 4:
		*(volatile u32 *)phys_ptr(addr) = (u32)v;
		break;
	default:
		*(volatile u64 *)phys_ptr(addr) = v;
		break;
	}
}

static u64 ones64(unsigned int width)
{
	return width >= 8 ? ~0UL : (1UL << (8 * width)) - 1;
}

static void mmio_read_nothing(struct chaos *c, u64 addr, unsigned int width)
{
	if (mmio_read(c, addr, width) != ones64(width))
		c->odd_reads++;
}

/* What glue may map in the hole: virtio-mmio devices, "virt" at offset 0. */
#define VIRTIO_MMIO_MAGIC 0x74726976UL

static u32 pci_read32(u32 slot, u32 reg)
{
	outl(0xcf8, 0x80000000u | slot << 11 | reg);
	return inl(0xcfc);
}

static void pci_write32(u32 slot, u32 reg, u32 v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | reg);
	outl(0xcfc, v);
}

/* The devices on bus 0 and where their memory BARs are (sized the way an
 * OS does, decoding off meanwhile). Before any chaos. */
static void pci_scan(struct chaos *c)
{
	for (u32 slot = 0; slot < 32; slot++) {
		u32 id = pci_read32(slot, 0), cmd;

		if (id == 0xffffffffu)
			continue;
		c->pci_ids[c->npci++] = id;
		cmd = pci_read32(slot, 4);
		pci_write32(slot, 4, cmd & ~0x3u);
		for (u32 b = 0; b < 6 && c->nbars < 64; b++) {
			u32 reg = 0x10 + 4 * b, lo = pci_read32(slot, reg), hi = 0, size_lo,
			    size_hi = ~0u;
			bool is64 = (lo & 0x7) == 0x4;

			if (lo & 1)
				continue; /* I/O */
			pci_write32(slot, reg, ~0u);
			size_lo = pci_read32(slot, reg) & ~0xfu;
			pci_write32(slot, reg, lo);
			if (is64) {
				hi = pci_read32(slot, reg + 4);
				pci_write32(slot, reg + 4, ~0u);
				size_hi = pci_read32(slot, reg + 4);
				pci_write32(slot, reg + 4, hi);
			}
			if (size_lo) {
				u64 mask = (u64)size_hi << 32 | size_lo;
				u64 base = ((u64)hi << 32 | lo) & ~0xfUL;

				c->bar_start[c->nbars] = base;
				c->bar_end[c->nbars++] = base + (~mask + 1);
			}
			if (is64)
				b++;
		}
		pci_write32(slot, 4, cmd);
	}
}

static bool in_bar(const struct chaos *c, u64 addr)
{
	for (u32 i = 0; i < c->nbars; i++)
		if (addr >= c->bar_start[i] && addr < c->bar_end[i])
			return true;
	return false;
}

/*
 * A page that reads all-ones at offset 0 has nothing. One with a device is
 * left alone: a virtio-mmio device (its magic), a PCI BAR, or an ECAM page
 * of a PCI function (its vendor/device dword). Any other answer is an odd
 * read (and the page is left alone too).
 */
static bool hole_page_empty(struct chaos *c, u64 page)
{
	u64 v = mmio_read(c, page, 4);

	if (in_bar(c, page))
		return false;
	if (v == 0xffffffffUL)
		return true;
	for (u32 i = 0; i < c->npci; i++)
		if (v == c->pci_ids[i])
			return false;
	if (v != VIRTIO_MMIO_MAGIC)
		c->odd_reads++;
	return false;
}

static void chaos_mmio(struct chaos *c, u32 n)
{
	/* The last page stays out, so an access crossing a page stays in the hole. */
	const u32 pages = (u32)((HOLE_END - HOLE_START) / PAGE) - 1;

	for (u32 i = 0; i < n; i++) {
		u64 page = HOLE_START + rnd(c, pages) * PAGE;
		unsigned int w = 1u << rnd(c, 4); /* 1, 2, 4 or 8 */
		u64 off = rnd(c, PAGE);		  /* unaligned; may cross into the next page */

		if (!hole_page_empty(c, page) ||
		    (off + w > PAGE && !hole_page_empty(c, page + PAGE))) {
			c->skipped++;
			continue;
		}
		if (rnd(c, 2))
			mmio_read_nothing(c, page + off, w);
		else
			mmio_write(c, page + off, w, rnd64(c));
	}

	/* String MMIO: rep movsb out of the hole, rep stosq into it. */
	u64 page = HOLE_START + rnd(c, pages) * PAGE;

	if (hole_page_empty(c, page)) {
		u8 *dst = str_data();
		const void *src = phys_ptr(page + 0x100);
		u64 cnt = 512;

		str_prepare(c, 512, false);
		__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(cnt) : : "memory");
		c->rep_bytes += 512;
		str_check_guards(c, 512);
		if (!all_ones(str_data(), 512))
			c->odd_reads++;
		void *to = phys_ptr(page + 0x800);
		u64 v = rnd64(c);

		cnt = 64;
		__asm__ volatile("rep stosq" : "+D"(to), "+c"(cnt) : "a"(v) : "memory");
		c->rep_bytes += 64 * 8;
	}
}

static bool in_e820(u64 addr)
{
	for (u32 i = 0; i < boot.e820_count; i++)
		if (addr >= boot.e820[i].addr && addr - boot.e820[i].addr < boot.e820[i].size)
			return true;
	return false;
}

/* Start of the first E820 entry at or above addr; ~0 if none. */
static u64 next_e820(u64 addr)
{
	u64 next = ~0UL;

	for (u32 i = 0; i < boot.e820_count; i++)
		if (boot.e820[i].addr >= addr && boot.e820[i].addr < next)
			next = boot.e820[i].addr;
	return next;
}

/* Reads in the 8 KiB just past the end of each RAM entry, where nothing is. */
static void chaos_ram_end(struct chaos *c, u32 n)
{
	for (u32 e = 0; e < boot.e820_count; e++) {
		if (boot.e820[e].type != E820_RAM)
			continue;
		u64 end = boot.e820[e].addr + boot.e820[e].size;
		u64 room = next_e820(end) - end;

		if (in_e820(end))
			continue;
		if (room > 2 * PAGE)
			room = 2 * PAGE;
		/* Not into the IOAPIC/LAPIC/firmware range at the top of 4 GiB. */
		if (end < 1UL << 32 && end + room > HOLE_END)
			room = end < HOLE_END ? HOLE_END - end : 0;
		if (room < 8)
			continue;
		for (u32 i = 0; i < n; i++) {
			unsigned int w = 1u << rnd(c, 4);
			u64 addr = end + rnd(c, (u32)(room - w + 1));

			if (!phys_map(addr, w)) {
				c->skipped++;
				continue;
			}
			/* Devices may live just past RAM (the MMIO hole starts there). */
			if (!hole_page_empty(c, addr & ~(PAGE - 1)) ||
			    ((addr & (PAGE - 1)) + w > PAGE &&
			     !hole_page_empty(c, (addr & ~(PAGE - 1)) + PAGE))) {
				c->skipped++;
				continue;
			}
			mmio_read_nothing(c, addr, w);
		}
	}
}

/* ---- the check ---- */

static u64 cmdline_num(const char *key, u64 dflt)
{
	const char *v;
	size_t len;
	u64 n;

	if (cmdline_get(key, &v, &len) && parse_u64(v, len, &n))
		return n;
	return dflt;
}

static u64 save_flags_cli(void)
{
	u64 f;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(f) : : "memory");
	return f;
}

static void restore_flags(u64 f)
{
	__asm__ volatile("pushq %0; popfq" : : "r"(f) : "memory", "cc");
}

void check_chaos(void)
{
	struct chaos c = {0};
	struct rtc_snap rtc;
	const u64 seed = cmdline_num("glue.seed", DEFAULT_SEED);
	u64 scale = cmdline_num("glue.chaos_scale", 1);
	const u64 phases = cmdline_num("glue.chaos_phases", PHASE_ALL);
	const char *err = NULL;
	s64 now = 0;
	u8 ctr = 0, outport = 0;

	if (scale < 1 || scale > MAX_SCALE)
		scale = 1;
	c.rng = seed;
	const u32 k = (u32)scale;
	/* Device interrupts the chaos raises must not reach half-set-up handlers. */
	const u64 flags = save_flags_cli();
	const bool has_rtc = rtc_present(), has_kbc = i8042_present();
	const bool fifo = (inb(COM1 + UART_IIR) & 0xc0) == 0xc0;

	if (has_rtc)
		err = rtc_save(&rtc);
	if (!err && has_kbc) {
		i8042_drain();
		int v = i8042_command(I8042_CMD_READ_CTR, true);
		int o = i8042_command(I8042_CMD_READ_OUTPORT, true);

		if (v < 0 || o < 0)
			err = "i8042-before";
		ctr = (u8)v;
		outport = (u8)o;
	}
	if (err) {
		restore_flags(flags);
		test_result("chaos", false, "reason=%s seed=%lu", err, seed);
		return;
	}

	/* The RTC first and on its own: its clock is put back at once to what
	 * was read above, and must read that (plus a tick or two) right after. */
	if (phases & PHASE_RTC)
		chaos_rtc(&c, N_RTC * k);
	if (has_rtc) {
		rtc_restore(&rtc);
		err = rtc_check(&rtc, &now);
	}
	if (phases & PHASE_SERIAL)
		chaos_serial(&c, N_SERIAL * k);
	if (phases & PHASE_I8042)
		chaos_i8042(&c, N_I8042 * k);
	if (phases & PHASE_PORTS)
		chaos_ports(&c, N_PORTS * k);
	pci_scan(&c);
	if (phases & PHASE_MMIO)
		chaos_mmio(&c, N_MMIO * k);
	if (phases & PHASE_RAM_END)
		chaos_ram_end(&c, N_RAM_END * k);

	/* Everything back as it was, then see that it still works. */
	const char *serr = serial_restore_check(fifo);

	serial_outs_line(&c);
	if (!err)
		err = serr;
	if (!err && has_kbc)
		err = i8042_restore_check(ctr, outport);
	if (!err && has_rtc)
		err = rtc_still_ticking(rtc.reg[RTC_REG_B], &now);
	if (!err && c.overrun)
		err = "string-overrun";
	restore_flags(flags);

	if (err) {
		test_result("chaos", false, "reason=%s accesses=%u seed=%lu", err, c.accesses,
			    seed);
		return;
	}
	s64 days = now / 86400, secs = now % 86400;

	kprintf("TEST chaos PASS accesses=%u seed=%lu scale=%lu skipped=%u odd_reads=%u "
		"rep_bytes=%lu",
		c.accesses, seed, scale, c.skipped, c.odd_reads, c.rep_bytes);
	if (has_rtc) {
		/* civil_from_days, for the date the restored clock shows. */
		s64 z = days + 719468, era = z / 146097;
		unsigned int doe = (unsigned int)(z - era * 146097);
		unsigned int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		unsigned int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		unsigned int mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
		unsigned int m = mp < 10 ? mp + 3 : mp - 9;
		s64 y = yoe + era * 400 + (m <= 2);

		kprintf(" rtc=%04ld-%02u-%02uT%02ld:%02ld:%02ld", y, m, d, secs / 3600,
			secs / 60 % 60, secs % 60);
	} else {
		kprintf(" rtc=none");
	}
	kprintf(" i8042=%s\n", has_kbc ? "ok" : "none");
	test_count(true);
}
