/* SPDX-License-Identifier: MIT */
/*
 * Test guest main: copy the boot information, print it, run the checks named
 * by glue.test= in order, report and end the run. See README.md.
 */
#include "guest.h"

/* struct boot_params (the zero page) offsets. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_MAGIC 0x202
#define BP_HDR_VERSION 0x206
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_CMDLINE_SIZE 0x238
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20

/* Command-line limit when the header states none (as glue assumes). */
#define CMDLINE_DEFAULT_MAX 2047

/* struct hvm_start_info (Xen's public/arch-x86/hvm/start_info.h). */
#define PVH_MAGIC 0x336ec578
#define PVH_SIZE 56
#define PVH_MEMMAP_ENTRY_SIZE 24
#define PVH_MODLIST_ENTRY_SIZE 32

#define DEBUG_EXIT_PORT 0x501
#define I8042_STATUS 0x64
#define I8042_CMD_RESET 0xfe

struct bootinfo boot;
const char *current_check;
unsigned int unexpected_irqs;
static unsigned int npass, nfail;
static u8 zero_page[4096];

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 rd32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

static u64 rd64(const u8 *p)
{
	return rd32(p) | (u64)rd32(p + 4) << 32;
}

static void read_cmdline(u64 paddr, u32 max)
{
	boot.cmdline_paddr = paddr;
	if (!paddr)
		return;
	if (max > CMDLINE_MAX)
		max = CMDLINE_MAX;
	u32 n = 0;

	for (; n < max; n++) {
		if (!phys_map(paddr + n, 1))
			break;

		const char c = *(const char *)phys_ptr(paddr + n);

		if (!c)
			break;
		boot.cmdline[n] = c;
	}
	boot.cmdline[n] = 0;
	boot.cmdline_len = n;
}

static void read_zero_page(void)
{
	const u8 *bp = zero_page;

	if (!phys_read(zero_page, boot.info_paddr, sizeof(zero_page))) {
		boot.info_error = "boot-params-unmappable";
		return;
	}
	boot.info_ok = true;
	boot.linux_hdrs = !memcmp(bp + BP_HDR_MAGIC, "HdrS", 4);
	boot.linux_version = boot.linux_hdrs ? rd16(bp + BP_HDR_VERSION) : 0;

	u32 max = CMDLINE_DEFAULT_MAX;

	if (boot.linux_version >= 0x206 && rd32(bp + BP_CMDLINE_SIZE))
		max = rd32(bp + BP_CMDLINE_SIZE);
	read_cmdline(rd32(bp + BP_CMD_LINE_PTR) | (u64)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32, max);

	u32 n = bp[BP_E820_ENTRIES];

	if (n > E820_MAX)
		n = E820_MAX;
	for (u32 i = 0; i < n; i++) {
		const u8 *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		boot.e820[i].addr = rd64(e);
		boot.e820[i].size = rd64(e + 8);
		boot.e820[i].type = rd32(e + 16);
	}
	boot.e820_count = n;

	boot.acpi_rsdp = rd64(bp + BP_ACPI_RSDP_ADDR);
	boot.initrd_addr = rd32(bp + BP_RAMDISK_IMAGE) | (u64)rd32(bp + BP_EXT_RAMDISK_IMAGE) << 32;
	boot.initrd_size = rd32(bp + BP_RAMDISK_SIZE) | (u64)rd32(bp + BP_EXT_RAMDISK_SIZE) << 32;
	boot.has_initrd = boot.initrd_addr && boot.initrd_size;
}

static void read_start_info(void)
{
	u8 si[PVH_SIZE];

	if (!phys_read(si, boot.info_paddr, sizeof(si))) {
		boot.info_error = "start-info-unmappable";
		return;
	}
	if (rd32(si) != PVH_MAGIC) {
		boot.info_error = "bad-start-info-magic";
		return;
	}
	boot.info_ok = true;
	boot.pvh_version = rd32(si + 4);
	read_cmdline(rd64(si + 24), CMDLINE_MAX);
	boot.acpi_rsdp = rd64(si + 32);

	if (rd32(si + 12)) {
		u8 mod[PVH_MODLIST_ENTRY_SIZE];

		if (phys_read(mod, rd64(si + 16), sizeof(mod))) {
			boot.initrd_addr = rd64(mod);
			boot.initrd_size = rd64(mod + 8);
			boot.has_initrd = boot.initrd_addr && boot.initrd_size;
		}
	}
	/* The memory map fields exist from version 1 on. */
	if (boot.pvh_version < 1)
		return;

	u64 map = rd64(si + 40);
	u32 n = rd32(si + 48);

	if (n > E820_MAX)
		n = E820_MAX;
	for (u32 i = 0; i < n; i++) {
		u8 e[PVH_MEMMAP_ENTRY_SIZE];

		if (!phys_read(e, map + i * PVH_MEMMAP_ENTRY_SIZE, sizeof(e)))
			break;
		boot.e820[i].addr = rd64(e);
		boot.e820[i].size = rd64(e + 8);
		boot.e820[i].type = rd32(e + 16);
		boot.e820_count = i + 1;
	}
}

static const char *const entry_names[] = {
	[ENTRY_LINUX64] = "linux64",
	[ENTRY_LINUX32] = "linux32",
	[ENTRY_PVH] = "pvh",
};

static void print_boot_info(void)
{
	kprintf("GUEST entry=%s protocol=", entry_names[boot.entry]);
	if (boot.entry == ENTRY_PVH)
		kprintf("pvh-%u", boot.pvh_version);
	else
		kprintf("linux-%u.%02u", boot.linux_version >> 8, boot.linux_version & 0xff);
	kprintf(" bootinfo=0x%lx image=0x%lx-0x%lx\n", boot.info_paddr, (u64)_start, (u64)_end);
	kprintf("CMDLINE ");
	print_escaped(boot.cmdline, boot.cmdline_len);
	kprintf("\n");
	for (u32 i = 0; i < boot.e820_count; i++)
		kprintf("E820 0x%lx 0x%lx %u\n", boot.e820[i].addr, boot.e820[i].size,
			boot.e820[i].type);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cmdline_get(const char *key, const char **val, size_t *len)
{
	size_t klen = strlen(key);
	const char *s = boot.cmdline, *end = s + boot.cmdline_len;

	while (s < end) {
		while (s < end && is_space(*s))
			s++;
		const char *tok = s;

		while (s < end && !is_space(*s))
			s++;
		if ((size_t)(s - tok) > klen && !memcmp(tok, key, klen) && tok[klen] == '=') {
			*val = tok + klen + 1;
			*len = (size_t)(s - tok) - klen - 1;
			return true;
		}
	}
	return false;
}

bool cmdline_expect(const char *name, u64 *out)
{
	char key[40] = "glue.expect_";
	size_t n = strlen(key), m = strlen(name);
	const char *v;
	size_t len;

	if (n + m >= sizeof(key))
		return false;
	memcpy(key + n, name, m + 1);
	return cmdline_get(key, &v, &len) && parse_u64(v, len, out);
}

void test_result(const char *name, bool pass, const char *fmt, ...)
{
	va_list ap;

	kprintf("TEST %s %s", name, pass ? "PASS" : "FAIL");
	if (fmt && *fmt) {
		uart_putc(' ');
		va_start(ap, fmt);
		kvprintf(fmt, ap);
		va_end(ap);
	}
	uart_putc('\n');
	test_count(pass);
}

void test_count(bool pass)
{
	if (pass)
		npass++;
	else
		nfail++;
}

void i8042_reset(void)
{
	/* Wait (bounded) until the controller takes commands. */
	for (unsigned int i = 0; i < 10000 && (inb(I8042_STATUS) & 0x02); i++)
		io_delay();
	outb(I8042_STATUS, I8042_CMD_RESET);
	halt_forever();
}

void guest_finish(void)
{
	cli();
	current_check = NULL;
	kprintf("GUEST DONE pass=%u fail=%u", npass, nfail);
	if (unexpected_irqs)
		kprintf(" unexpected_irqs=%u", unexpected_irqs);
	kprintf("\n");
	outb(DEBUG_EXIT_PORT, nfail ? 1 : 0);
	i8042_reset();
}

static const struct check {
	const char *name;
	void (*run)(void);
} checks[] = {
	{"boot", check_boot},
	{"mem", check_mem},
	{"initrd", check_initrd},
	{"smp", check_smp},
	{"rtc", check_rtc},
	{"serial", check_serial},
	{"serialirq", check_serialirq},
	{"chaos", check_chaos},
	{"vblk", check_vblk},
	{"vnet", check_vnet},
	{"vrng", check_vrng},
	{"reset", mode_reset},
	{"ticker", mode_ticker},
	{"flood", mode_flood},
};

static void run_check(const char *name, size_t len)
{
	char buf[32];

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, name, len);
	buf[len] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
		if (!memcmp(checks[i].name, buf, len + 1)) {
			current_check = checks[i].name;
			checks[i].run();
			current_check = NULL;
			return;
		}
	}
	kprintf("TEST ");
	print_escaped(buf, len);
	kprintf(" FAIL reason=unknown-check\n");
	test_count(false);
}

void guest_main(int entry, u64 info);

void guest_main(int entry, u64 info)
{
	boot.entry = entry;
	boot.info_paddr = info;
	/* Copy everything from the VMM's low-memory structures first. */
	if (!info)
		boot.info_error = "no-boot-info";
	else if (entry == ENTRY_PVH)
		read_start_info();
	else
		read_zero_page();

	uart_init();
	idt_init();
	print_boot_info();

	const char *list = "boot";
	size_t len = 4;

	cmdline_get("glue.test", &list, &len);
	for (size_t i = 0; i <= len;) {
		size_t j = i;

		while (j < len && list[j] != ',')
			j++;
		if (j > i)
			run_check(list + i, j - i);
		i = j + 1;
	}
	guest_finish();
}
