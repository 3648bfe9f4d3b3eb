/* SPDX-License-Identifier: MIT */
/*
 * smp: count the processors in the MP table and start every AP with
 * INIT / SIPI / SIPI. APs run the trampoline (head.S) at 0x8000 into long
 * mode, record their APIC ID here (ap_main) and halt. APs are started one at
 * a time, so one mailbox is enough; every wait is bounded.
 */
#include "guest.h"

#define ICR_INIT 0x00004500    /* INIT, level assert */
#define ICR_STARTUP 0x00004600 /* STARTUP | vector */
#define AP_STACK_SIZE 1024

extern const char ap_trampoline_start[], ap_trampoline_end[];

/* Mailbox between the BSP and the AP being started. */
u64 ap_stack_top;
static volatile u32 ap_checked_in;
static volatile u32 ap_lapic_id;
static volatile u32 ap_cpuid_id;

static u8 ap_stacks[MP_MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));

void ap_main(void);

void ap_main(void)
{
	u32 a, b, c, d;

	idt_load();
	cpuid(1, &a, &b, &c, &d);
	ap_cpuid_id = b >> 24;
	ap_lapic_id = lapic_id();
	barrier();
	ap_checked_in = 1;
}

/* Start the AP with this APIC ID and wait for it; 0 or a reason. */
static const char *start_ap(u8 apic_id, unsigned int slot)
{
	struct deadline d;

	ap_stack_top = (u64)ap_stacks[slot] + AP_STACK_SIZE;
	ap_checked_in = 0;
	barrier();
	if (!lapic_send_ipi(apic_id, ICR_INIT))
		return "init-not-delivered";
	/* The MP spec wants 10 ms here; KVM needs none, hardware a little. */
	for (int i = 0; i < 100; i++)
		io_delay();
	for (int sipi = 0; sipi < 2; sipi++) {
		if (!lapic_send_ipi(apic_id, ICR_STARTUP | (AP_TRAMPOLINE >> 12)))
			return "sipi-not-delivered";
		for (int i = 0; i < 200 && !ap_checked_in; i++)
			io_delay();
		if (ap_checked_in)
			return NULL;
	}
	/* Emulated real mode is slow: allow a few seconds. */
	deadline_start(&d, 3);
	while (!ap_checked_in) {
		if (deadline_expired(&d))
			return "ap-timeout";
		cpu_relax();
	}
	return NULL;
}

static void print_ids(const u8 *ids, u32 n)
{
	for (u32 i = 0; i < n; i++)
		kprintf("%s%u", i ? "," : "", ids[i]);
}

void check_smp(void)
{
	const struct mp_info *mp = mptable_get();
	u8 ids[MP_MAX_CPUS];
	u32 ncpus = 0, a, b, c, d;
	u64 expect;
	const char *err = NULL;
	u8 bad_id = 0;

	if (!mp->found) {
		test_result("smp", false, "reason=%s", mp->error);
		return;
	}
	if (mp->error) {
		test_result("smp", false, "reason=%s mptable=0x%lx", mp->error, mp->table_addr);
		return;
	}
	if (!mp->ncpus) {
		test_result("smp", false, "reason=no-cpus-in-mptable mptable=0x%lx",
			    mp->table_addr);
		return;
	}
	if (mp->ncpus > MP_MAX_CPUS) {
		test_result("smp", false, "reason=too-many-cpus mptable_cpus=%u", mp->ncpus);
		return;
	}
	u32 ver = lapic_read(LAPIC_VERSION);

	if (ver == 0xffffffff || ver == 0) {
		test_result("smp", false, "reason=no-lapic mptable_cpus=%u", mp->ncpus);
		return;
	}

	u8 bsp = lapic_id();

	cpuid(1, &a, &b, &c, &d);
	if (b >> 24 != bsp) {
		test_result("smp", false, "reason=bsp-id-mismatch lapic_id=%u cpuid_id=%u", bsp,
			    b >> 24);
		return;
	}
	ids[ncpus++] = bsp;

	/* The table must list the BSP, and every APIC ID once. */
	bool bsp_listed = false;

	for (u32 i = 0; i < mp->ncpus; i++) {
		bsp_listed |= mp->cpu_apic_id[i] == bsp;
		for (u32 j = 0; j < i; j++) {
			if (mp->cpu_apic_id[i] == mp->cpu_apic_id[j]) {
				test_result("smp", false, "reason=duplicate-apic-id apic_id=%u",
					    mp->cpu_apic_id[i]);
				return;
			}
		}
	}
	if (!bsp_listed) {
		test_result("smp", false, "reason=bsp-not-in-mptable apic_id=%u mptable_cpus=%u",
			    bsp, mp->ncpus);
		return;
	}

	memcpy(phys_ptr(AP_TRAMPOLINE), ap_trampoline_start,
	       (size_t)(ap_trampoline_end - ap_trampoline_start));
	barrier();

	for (u32 i = 0; i < mp->ncpus && !err; i++) {
		u8 id = mp->cpu_apic_id[i];

		if (!(mp->cpu_flags[i] & MP_CPU_ENABLED) || id == bsp)
			continue;
		err = start_ap(id, i);
		if (err) {
			bad_id = id;
			break;
		}
		if (ap_lapic_id != id || ap_cpuid_id != id) {
			err = "ap-id-mismatch";
			bad_id = id;
			break;
		}
		ids[ncpus++] = (u8)ap_lapic_id;
	}

	if (err) {
		kprintf("TEST smp FAIL reason=%s apic_id=%u cpus=%u mptable_cpus=%u apic_ids=", err,
			bad_id, ncpus, mp->ncpus);
	} else if (cmdline_expect("cpus", &expect) && expect != ncpus) {
		err = "expect-mismatch";
		kprintf("TEST smp FAIL reason=expect-mismatch expected=%lu cpus=%u mptable_cpus=%u "
			"apic_ids=",
			expect, ncpus, mp->ncpus);
	} else {
		kprintf("TEST smp PASS cpus=%u mptable_cpus=%u mptable=0x%lx apic_ids=", ncpus,
			mp->ncpus, mp->table_addr);
	}
	print_ids(ids, ncpus);
	kprintf("\n");
	test_count(!err);
}
