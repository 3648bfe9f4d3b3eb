/* SPDX-License-Identifier: MIT */
/*
 * IDT and the C side of the interrupt stubs (head.S). Exceptions are fatal:
 * they are reported on the console and end the run with a failure, so a bug
 * in a check (or a VMM fault injected into the guest) shows up as a FAIL
 * instead of a silent triple fault.
 */
#include "guest.h"

extern const char isr_stubs[];

struct idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler handlers[256];
static bool in_fatal;

static void idt_set(unsigned int vector, u64 addr)
{
	struct idt_gate *g = &idt[vector];

	g->offset_lo = (u16)addr;
	g->selector = SEL_CODE64;
	g->ist = 0;
	g->type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g->offset_mid = (u16)(addr >> 16);
	g->offset_hi = (u32)(addr >> 32);
	g->reserved = 0;
}

void idt_load(void)
{
	struct __attribute__((packed)) {
		u16 limit;
		u64 base;
	} desc = {sizeof(idt) - 1, (u64)idt};

	__asm__ volatile("lidt %0" : : "m"(desc));
}

void idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++)
		idt_set(v, (u64)isr_stubs + v * ISR_STUB_SIZE);
	idt_load();
}

void irq_set_handler(u8 vector, irq_handler fn)
{
	handlers[vector] = fn;
}

static NORETURN void fatal_exception(struct trap_frame *f)
{
	if (in_fatal) {
		/* Faulted while reporting: give up quietly. */
		outb(0x501, 1);
		i8042_reset();
	}
	in_fatal = true;
	kprintf("\nGUEST EXCEPTION vector=%lu error=0x%lx rip=0x%lx rsp=0x%lx cr2=0x%lx "
		"apic_id=%u\n",
		f->vector, f->error, f->rip, f->rsp, read_cr2(), lapic_id());
	if (current_check)
		test_result(current_check, false, "reason=exception vector=%lu rip=0x%lx",
			    f->vector, f->rip);
	guest_finish();
}

void guest_trap(struct trap_frame *f)
{
	u8 vector = (u8)f->vector;

	if (vector < 32)
		fatal_exception(f);
	if (vector == SPURIOUS_VECTOR)
		return; /* no EOI for spurious interrupts */
	if (handlers[vector])
		handlers[vector](vector);
	else
		unexpected_irqs++;
	lapic_eoi();
}
