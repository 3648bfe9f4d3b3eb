/* SPDX-License-Identifier: MIT */
/*
 * The freestanding test guest: shared types and helpers. No libc; the guest
 * runs single-threaded on the BSP (APs only run ap_main() in check_smp.c).
 */
#ifndef GUEST_H
#define GUEST_H

#include "asm.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_end(ap) __builtin_va_end(ap)
#define va_arg(ap, type) __builtin_va_arg(ap, type)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((u64)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a)-1))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))

#define GiB (1UL << 30)

/* Linker symbols: the loaded image is [_start, _end). */
extern char _start[], _edata[], __bss_start[], _end[];

/* ---- CPU ---- */

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 mmio_read32(u64 addr)
{
	return *(volatile u32 *)addr;
}

static inline void mmio_write32(u64 addr, u32 v)
{
	*(volatile u32 *)addr = v;
}

/* Compiler barrier only: no fence instructions (the PVM emulator lacks some). */
static inline void barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

static inline void cli(void)
{
	__asm__ volatile("cli" : : : "memory");
}

static inline void sti(void)
{
	__asm__ volatile("sti" : : : "memory");
}

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return lo | ((u64)hi << 32);
}

static inline u64 read_cr2(void)
{
	u64 v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

/* A pointer to low physical memory (hides the constant from -Warray-bounds). */
static inline void *phys_ptr(u64 paddr)
{
	__asm__("" : "+r"(paddr));
	return (void *)paddr;
}

/* A short delay: one write to the POST port is an I/O exit (~1 us or more). */
static inline void io_delay(void)
{
	outb(0x80, 0);
}

NORETURN void halt_forever(void);

/* ---- lib.c: strings, formatted output, CRC-32, numbers ---- */

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

void kprintf(const char *fmt, ...) PRINTF(1, 2);
void kvprintf(const char *fmt, va_list ap);
/* Print bytes as they are, except NUL, CR and LF (\x00, \x0d, \x0a): one line. */
void print_escaped(const char *s, size_t len);

/* zlib's crc32(): CRC-32/ISO-HDLC, continuing from crc (0 to start). */
u32 crc32_update(u32 crc, const void *buf, size_t len);

/* Parse a decimal or 0x-prefixed hex number of exactly len bytes. */
bool parse_u64(const char *s, size_t len, u64 *out);

/* ---- uart.c: COM1, polled ---- */

#define COM1 0x3f8
void uart_init(void);
void uart_putc(char c);
/* Wait until the transmitter is empty (after someone else wrote to it). */
void uart_sync(void);
/* One received byte, if there is one. */
bool uart_poll_getc(u8 *c);

/* ---- cmos.c: CMOS/RTC access and coarse timeouts ---- */

u8 cmos_read(u8 reg);
void cmos_write(u8 reg, u8 val);

/*
 * A timeout counted in RTC seconds (changes of the seconds register). Without
 * an RTC (or with one that does not tick) a poll budget ends the wait instead.
 * Every deadline_expired() call costs two port I/O exits.
 */
struct deadline {
	u8 last_sec;
	u32 ticks_left;
	u64 polls_left;
};
void deadline_start(struct deadline *d, u32 seconds);
bool deadline_expired(struct deadline *d);

/* ---- paging.c ---- */

/*
 * Make [paddr, paddr + len) addressable at phys_ptr(paddr) (identity map);
 * false if it is above 512 GiB or crosses a 1 GiB boundary above 4 GiB.
 * Memory above 4 GiB shares one window: a later call may unmap the range an
 * earlier call mapped.
 */
bool phys_map(u64 paddr, u64 len);
/* Bytes from paddr to the end of its 1 GiB region: chunk size for phys_map(). */
static inline u64 phys_chunk(u64 paddr, u64 len)
{
	u64 room = GiB - (paddr & (GiB - 1));

	return len < room ? len : room;
}
/* Copy len bytes from guest-physical paddr; false if not mappable. */
bool phys_read(void *dst, u64 paddr, size_t len);

/* ---- trap.c: IDT, interrupts ---- */

struct trap_frame {
	u64 r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	u64 rdi, rsi, rdx, rcx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

typedef void (*irq_handler)(u8 vector);
void idt_init(void);
/* Load the IDT on this CPU (the BSP does it in idt_init()). */
void idt_load(void);
void irq_set_handler(u8 vector, irq_handler fn);
void guest_trap(struct trap_frame *f);

/* ---- apic.c: local APIC and IOAPIC, xAPIC MMIO ---- */

#define LAPIC_DEFAULT_BASE 0xfee00000UL
#define IOAPIC_DEFAULT_BASE 0xfec00000UL
#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define SPURIOUS_VECTOR 0xff

u64 lapic_base(void);
u32 lapic_read(u32 reg);
void lapic_write(u32 reg, u32 v);
u8 lapic_id(void);
/* Send an IPI; false if the delivery status never cleared. */
bool lapic_send_ipi(u8 dest, u32 icr_lo);
void lapic_eoi(void);
u32 ioapic_read(u64 base, u32 reg);
void ioapic_write(u64 base, u32 reg, u32 v);

/* ---- mptable.c ---- */

#define MP_MAX_CPUS 64

struct mp_info {
	bool found;
	u64 fp_addr;	/* the "_MP_" floating pointer */
	u64 table_addr; /* the "PCMP" configuration table */
	u64 lapic_addr;
	u32 ncpus; /* processor entries (enabled or not) */
	u8 cpu_apic_id[MP_MAX_CPUS];
	u8 cpu_flags[MP_MAX_CPUS];
	bool ioapic_found;
	u8 ioapic_id;
	u64 ioapic_addr;
	bool isa_bus_found;
	u8 isa_bus_id;
	/* ISA IRQ -> IOAPIC pin from the I/O interrupt entries; -1 if none. */
	int isa_irq_pin[16];
	u16 isa_irq_flags[16];
	const char *error; /* why found is false, or why parsing stopped */
};
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02

/* Find and parse the MP table; the result is cached. */
const struct mp_info *mptable_get(void);

/* ---- main.c: boot information, command line, results ---- */

#define E820_MAX 128
#define E820_RAM 1
#define CMDLINE_MAX 4095

struct e820_entry {
	u64 addr;
	u64 size;
	u32 type;
};

struct bootinfo {
	int entry;		/* ENTRY_* */
	u64 info_paddr;		/* boot_params or hvm_start_info */
	bool info_ok;		/* info_paddr readable (and PVH magic right) */
	const char *info_error; /* why not */
	u16 linux_version;	/* setup header version (zero page) */
	bool linux_hdrs;	/* "HdrS" present in the zero page */
	u32 pvh_version;
	char cmdline[CMDLINE_MAX + 1];
	u32 cmdline_len;
	u64 cmdline_paddr;
	struct e820_entry e820[E820_MAX];
	u32 e820_count;
	u64 acpi_rsdp; /* 0: not given */
	bool has_initrd;
	u64 initrd_addr;
	u64 initrd_size;
};

extern struct bootinfo boot;
/* Name of the check running now (for exception reports), or NULL. */
extern const char *current_check;
/* Interrupts that arrived on a vector nobody handles. */
extern unsigned int unexpected_irqs;

/* Value of "key=" on the command line (not NUL-terminated); false if absent. */
bool cmdline_get(const char *key, const char **val, size_t *len);
/* glue.expect_<name>=<n>: false if absent or unparsable. */
bool cmdline_expect(const char *name, u64 *out);

/* Print "TEST <name> PASS|FAIL <details>" and count it. */
void test_result(const char *name, bool pass, const char *fmt, ...) PRINTF(3, 4);
/* Count a result whose TEST line the check printed itself. */
void test_count(bool pass);
/* Print "GUEST DONE", set the debug-exit status, reset, halt. */
NORETURN void guest_finish(void);
/* Reset through the i8042 (0xfe to port 0x64), then halt. */
NORETURN void i8042_reset(void);

/* ---- the checks (check_*.c, modes.c) ---- */

void check_boot(void);
void check_mem(void);
void check_initrd(void);
void check_smp(void);
void check_rtc(void);
void check_serial(void);
void check_serialirq(void);
void check_chaos(void);
void check_vblk(void);
void check_vnet(void);
void check_vrng(void);
NORETURN void mode_reset(void);
NORETURN void mode_ticker(void);
NORETURN void mode_flood(void);

#endif
