// SPDX-License-Identifier: MIT
/*
 * PCI bus 0 as a guest's firmware and OS use it: configuration through
 * 0xCF8/0xCFC and ECAM, BAR sizing and moving, capabilities, MSI-X masking
 * and pending bits; and the accesses no OS makes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <linux/pci_regs.h>

#include <glue/bus.h>
#include <glue/error.h>
#include <glue/pci.h>

#define ECAM 0xe0000000ULL
#define BAR_AT 0xc1000000ULL

static struct glue_bus *pio, *mmio;
static struct glue_pci *pci;
static struct glue_pci_dev *dev;
static struct {
	uint64_t off;
	int bar, reads, writes, msis;
	uint64_t msi_addr;
	uint32_t msi_data;
} f;

static int msi(void *ctx, uint64_t addr, uint32_t data)
{
	f.msis++;
	f.msi_addr = addr;
	f.msi_data = data;
	return 0;
}

static void d_read(void *ctx, int bar, uint64_t off, void *data, uint32_t len)
{
	f.reads++;
	f.bar = bar;
	f.off = off;
	memset(data, 0x5a, len);
}

static void d_write(void *ctx, int bar, uint64_t off, const void *data, uint32_t len)
{
	f.writes++;
	f.bar = bar;
	f.off = off;
}

static const struct glue_pci_dev_ops d_ops = {.bar_read = d_read, .bar_write = d_write};

static void setup(void)
{
	struct glue_pci_dev_info info = {.vendor_id = 0x1af4,
					 .device_id = 0x1042,
					 .class_code = 0x018000,
					 .interrupt_pin = 1,
					 .interrupt_line = 16};
	unsigned int slot;

	memset(&f, 0, sizeof(f));
	cr_assert_eq(glue_bus_new(&pio, "pio"), 0);
	cr_assert_eq(glue_bus_new(&mmio, "mmio"), 0);
	cr_assert_eq(glue_pci_new(&pci, pio, mmio, msi, NULL), 0);
	cr_assert_eq(glue_pci_attach_ports(pci), 0);
	cr_assert_eq(glue_pci_attach_ecam(pci, ECAM), 0, "%s", glue_error_last());
	cr_assert_eq(glue_pci_dev_new(&dev, pci, &info, &d_ops, NULL, &slot), 0);
	cr_assert_eq(slot, 1);
}

static void teardown(void)
{
	glue_pci_dev_free(dev);
	glue_pci_free(pci);
	glue_bus_free(pio);
	glue_bus_free(mmio);
}

TestSuite(pci, .init = setup, .fini = teardown);

/* Mechanism #1, as an OS does it. */
static uint32_t cf8_read(unsigned int slot, unsigned int fn, unsigned int reg, unsigned int len)
{
	uint32_t a = 0x80000000u | slot << 11 | fn << 8 | (reg & 0xfc), v = 0;

	cr_assert_eq(glue_bus_write(pio, 0xcf8, &a, 4), 0);
	cr_assert_eq(glue_bus_read(pio, 0xcfc + (reg & 3), &v, len), 0);
	return v;
}

static void cf8_write(unsigned int slot, unsigned int reg, uint32_t v, unsigned int len)
{
	uint32_t a = 0x80000000u | slot << 11 | (reg & 0xfc);

	cr_assert_eq(glue_bus_write(pio, 0xcf8, &a, 4), 0);
	cr_assert_eq(glue_bus_write(pio, 0xcfc + (reg & 3), &v, len), 0);
}

static uint32_t ecam_read(unsigned int slot, unsigned int reg, unsigned int len)
{
	uint32_t v = 0;

	cr_assert_eq(glue_bus_read(mmio, ECAM + (slot << 15) + reg, &v, len), 0);
	return v;
}

Test(pci, the_host_bridge_and_empty_slots)
{
	uint32_t a;

	cr_assert_eq(cf8_read(0, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	cr_assert_eq(cf8_read(0, 0, PCI_CLASS_REVISION, 4) >> 8, 0x060000);
	cr_assert_eq(cf8_read(5, 0, 0, 4), 0xffffffff, "an empty slot");
	cr_assert_eq(cf8_read(1, 3, 0, 4), 0xffffffff, "a function that is not there");
	cr_assert_eq(cf8_read(1, 0, 0, 2), 0x1af4);
	cr_assert_eq(cf8_read(1, 0, 2, 2), 0x1042, "a word at an offset");
	cr_assert_eq(cf8_read(1, 0, PCI_INTERRUPT_PIN, 1), 1);
	/* without the enable bit, data reads all-ones; the address reads back */
	a = 0x00000800;
	cr_assert_eq(glue_bus_write(pio, 0xcf8, &a, 4), 0);
	cr_assert_eq(glue_bus_read(pio, 0xcfc, &a, 4), 0);
	cr_assert_eq(a, 0xffffffff);
	a = 0x80000803; /* the low bits are not part of the address */
	cr_assert_eq(glue_bus_write(pio, 0xcf8, &a, 4), 0);
	cr_assert_eq(glue_bus_read(pio, 0xcf8, &a, 4), 0);
	cr_assert_eq(a, 0x80000800);
	/* bus 1 is not there */
	a = 0x80010000;
	cr_assert_eq(glue_bus_write(pio, 0xcf8, &a, 4), 0);
	cr_assert_eq(glue_bus_read(pio, 0xcfc, &a, 4), 0);
	cr_assert_eq(a, 0xffffffff);
}

Test(pci, ecam_sees_the_same_space)
{
	cr_assert_eq(ecam_read(0, 0, 4), 0x00081b36);
	cr_assert_eq(ecam_read(1, 0, 4), 0x10421af4);
	cr_assert_eq(ecam_read(1, 0x100, 4), 0, "no extended capabilities");
	cr_assert_eq(ecam_read(1, 1, 2), 0xffff, "misaligned");
	cr_assert_eq(ecam_read(9, 0, 4), 0xffffffff);
	cr_assert_eq(glue_pci_attach_ecam(pci, ECAM), -EBUSY);
}

Test(pci, read_only_fields_stay)
{
	cf8_write(1, PCI_VENDOR_ID, 0x12345678, 4);
	cr_assert_eq(cf8_read(1, 0, PCI_VENDOR_ID, 4), 0x10421af4);
	cf8_write(1, PCI_CLASS_REVISION, 0, 4);
	cr_assert_eq(cf8_read(1, 0, PCI_CLASS_REVISION, 4) >> 8, 0x018000);
	cf8_write(1, PCI_INTERRUPT_LINE, 0x0b, 1);
	cr_assert_eq(cf8_read(1, 0, PCI_INTERRUPT_LINE, 1), 0x0b, "the line is the OS's to write");
	cf8_write(1, PCI_COMMAND, 0xffff, 2);
	cr_assert_eq(cf8_read(1, 0, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
							     PCI_COMMAND_MASTER | PCI_COMMAND_SERR |
							     PCI_COMMAND_INTX_DISABLE);
}

Test(pci, bars_size_map_and_move)
{
	uint8_t b;

	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM64, 0x8000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_set_bar(dev, 2, GLUE_PCI_BAR_MEM32, 0x1000, 0x1000), 0);
	cr_assert_eq(glue_pci_dev_set_bar(dev, 5, GLUE_PCI_BAR_MEM64, 0x1000, 0), -EINVAL,
		     "a 64-bit BAR in the last slot");
	cr_assert_eq(glue_pci_dev_set_bar(dev, 3, GLUE_PCI_BAR_MEM32, 0x1800, 0), -EINVAL);
	cr_assert_eq(cf8_read(1, 0, PCI_BASE_ADDRESS_0, 4), (uint32_t)BAR_AT | 0x4);

	/* sizing, as an OS does it */
	cf8_write(1, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	cf8_write(1, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	cr_assert_eq(cf8_read(1, 0, PCI_BASE_ADDRESS_0, 4), 0xffff8004);
	cr_assert_eq(cf8_read(1, 0, PCI_BASE_ADDRESS_1, 4), 0xffffffff);
	cf8_write(1, PCI_BASE_ADDRESS_0, (uint32_t)BAR_AT, 4);
	cf8_write(1, PCI_BASE_ADDRESS_1, 0, 4);

	/* not decoded until the OS enables memory */
	cr_assert_neq(glue_bus_read(mmio, BAR_AT + 0x10, &b, 1), 0);
	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x10, &b, 1), 0);
	cr_assert_eq(f.bar, 0);
	cr_assert_eq(f.off, 0x10);
	cr_assert_eq(b, 0x5a);

	/* moved: only the new place answers */
	cf8_write(1, PCI_BASE_ADDRESS_0, 0xc2000000, 4);
	cr_assert_neq(glue_bus_read(mmio, BAR_AT, &b, 1), 0);
	cr_assert_eq(glue_bus_read(mmio, 0xc2000000 + 0x7fff, &b, 1), 0);
	cr_assert_eq(f.off, 0x7fff);
	/* into something else's range: not mapped, no crash */
	cf8_write(1, PCI_BASE_ADDRESS_0, (uint32_t)ECAM, 4);
	cr_assert_eq(ecam_read(0, 0, 4), 0x00081b36, "ECAM still answers");
	cf8_write(1, PCI_COMMAND, 0, 2);
	cr_assert_neq(glue_bus_read(mmio, 0xc2000000, &b, 1), 0);
	/* byte writes to a BAR register are not how BARs are written */
	cf8_write(1, PCI_BASE_ADDRESS_2, 0x77, 1);
	cr_assert_eq(cf8_read(1, 0, PCI_BASE_ADDRESS_2, 4), 0x1000);
}

Test(pci, capabilities_are_chained)
{
	const uint8_t body[2] = {0xaa, 0xbb};
	int a, b;

	cr_assert_eq(cf8_read(1, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	a = glue_pci_dev_add_cap(dev, PCI_CAP_ID_VNDR, body, NULL, 4);
	b = glue_pci_dev_add_cap(dev, PCI_CAP_ID_VNDR, body, NULL, 4);
	cr_assert_geq(a, 0x40);
	cr_assert_gt(b, a);
	cr_assert(cf8_read(1, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	cr_assert_eq(cf8_read(1, 0, PCI_CAPABILITY_LIST, 1), (uint32_t)a);
	cr_assert_eq(cf8_read(1, 0, (unsigned int)a + 1, 1), (uint32_t)b);
	cr_assert_eq(cf8_read(1, 0, (unsigned int)b + 1, 1), 0);
	cr_assert_eq(cf8_read(1, 0, (unsigned int)a + 2, 2), 0xbbaa);
	cf8_write(1, (unsigned int)a + 2, 0, 2);
	cr_assert_eq(cf8_read(1, 0, (unsigned int)a + 2, 2), 0xbbaa, "no write mask: read-only");
	for (int i = 0; i < 100; i++)
		if (glue_pci_dev_add_cap(dev, PCI_CAP_ID_VNDR, body, NULL, 4) < 0)
			return;
	cr_assert_fail("config space never filled up");
}

/* MSI-X table entry v through the BAR. */
static void msix_entry(int v, uint64_t addr, uint32_t data, uint32_t ctrl)
{
	uint32_t w[4] = {(uint32_t)addr, (uint32_t)(addr >> 32), data, ctrl};

	for (int i = 0; i < 4; i++)
		cr_assert_eq(glue_bus_write(mmio, BAR_AT + 0x4000 + 16 * v + 4 * i, &w[i], 4), 0);
}

static uint64_t pba(void)
{
	uint64_t p = 0;

	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x5000, &p, 8), 0);
	return p;
}

Test(pci, msix_masking_and_pending_bits)
{
	int cap;
	uint16_t ctl;

	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM64, 0x8000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_add_msix(dev, 3, 0, 0x4000, 0x5000), 0);
	cr_assert_eq(glue_pci_dev_add_msix(dev, 3, 4, 0x4000, 0x5000), -EINVAL, "no BAR 4");
	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cap = (int)cf8_read(1, 0, PCI_CAPABILITY_LIST, 1);
	cr_assert_eq(cf8_read(1, 0, (unsigned int)cap, 1), PCI_CAP_ID_MSIX);
	ctl = (uint16_t)cf8_read(1, 0, (unsigned int)cap + 2, 2);
	cr_assert_eq(ctl & PCI_MSIX_FLAGS_QSIZE, 2, "table size - 1");
	cr_assert_eq(cf8_read(1, 0, (unsigned int)cap + 4, 4), 0x4000, "table in BAR 0");

	cr_assert_eq(glue_pci_dev_msix_notify(dev, 0), -ENODEV, "not enabled yet");
	cf8_write(1, (unsigned int)cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
	cr_assert(glue_pci_dev_msix_enabled(dev));
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 3), -EINVAL, "past the table");

	/* every vector starts masked: the message waits */
	msix_entry(1, 0xfee00000, 0x4041, 1);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 1), 0);
	cr_assert_eq(f.msis, 0);
	cr_assert_eq(pba(), 1u << 1);
	/* unmasked: it goes out, the bit clears */
	msix_entry(1, 0xfee00000, 0x4041, 0);
	cr_assert_eq(f.msis, 1);
	cr_assert_eq(f.msi_addr, 0xfee00000);
	cr_assert_eq(f.msi_data, 0x4041);
	cr_assert_eq(pba(), 0);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 1), 0);
	cr_assert_eq(f.msis, 2);

	/* the function mask holds all of them */
	cf8_write(1, (unsigned int)cap + 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 1), 0);
	cr_assert_eq(f.msis, 2);
	cr_assert_eq(pba(), 1u << 1);
	cf8_write(1, (unsigned int)cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
	cr_assert_eq(f.msis, 3);

	/* the table reads back; odd widths and the PBA take no writes */
	uint32_t w = 0;
	uint8_t b = 0xff;
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x4000 + 16 + 8, &w, 4), 0);
	cr_assert_eq(w, 0x4041);
	cr_assert_eq(glue_bus_write(mmio, BAR_AT + 0x4000 + 16 + 8, &b, 1), 0);
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x4000 + 16 + 8, &w, 4), 0);
	cr_assert_eq(w, 0x4041);
	uint64_t all = ~0ULL;
	cr_assert_eq(glue_bus_write(mmio, BAR_AT + 0x5000, &all, 8), 0);
	cr_assert_eq(pba(), 0);
	/* the rest of the BAR is the device's */
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x100, &w, 4), 0);
	cr_assert_eq(f.off, 0x100);
}

Test(pci, slots_run_out)
{
	struct glue_pci_dev_info info = {.vendor_id = 1};
	struct glue_pci_dev *more[31] = {0};
	int n = 0, r = 0;

	while (n < 31 && (r = glue_pci_dev_new(&more[n], pci, &info, NULL, NULL, NULL)) == 0)
		n++;
	cr_assert_eq(r, -ENOSPC);
	cr_assert_eq(n, 30, "slot 1 was taken by the setup");
	for (int i = 0; i < n; i++)
		glue_pci_dev_free(more[i]);
	cr_assert_eq(cf8_read(31, 0, 0, 4), 0xffffffff, "freed devices are gone");
}

Test(pci, no_msi_function_no_msix)
{
	struct glue_pci_dev_info info = {.vendor_id = 1};
	struct glue_pci *p2;
	struct glue_pci_dev *d2;
	struct glue_bus *m2;

	cr_assert_eq(glue_bus_new(&m2, "mmio2"), 0);
	cr_assert_eq(glue_pci_new(&p2, NULL, m2, NULL, NULL), 0);
	cr_assert_eq(glue_pci_dev_new(&d2, p2, &info, NULL, NULL, NULL), 0);
	cr_assert_eq(glue_pci_dev_set_bar(d2, 0, GLUE_PCI_BAR_MEM32, 0x8000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_add_msix(d2, 2, 0, 0x4000, 0x5000), -ENOTSUP);
	glue_pci_dev_free(d2);
	glue_pci_free(p2);
	glue_bus_free(m2);
}

/* ---- write notifications and MSI routes ---- */

/* A fake hypervisor fast path: which (address, length, fd) it holds now. */
static struct {
	uint64_t addr[8];
	uint32_t len[8];
	int fd[8];
	int n, calls;
	bool refuse;
} io;

static int fake_ioevent(void *ctx, uint64_t addr, uint32_t len, int64_t dm, int fd, bool assign)
{
	io.calls++;
	if (assign) {
		if (io.refuse)
			return -ENOTSUP;
		cr_assert_lt(io.n, 8);
		io.addr[io.n] = addr;
		io.len[io.n] = len;
		io.fd[io.n++] = fd;
		return 0;
	}
	for (int i = 0; i < io.n; i++) {
		if (io.addr[i] == addr && io.len[i] == len && io.fd[i] == fd) {
			io.n--;
			io.addr[i] = io.addr[io.n];
			io.len[i] = io.len[io.n];
			io.fd[i] = io.fd[io.n];
			return 0;
		}
	}
	cr_assert_fail("removed a write notification it never had at 0x%llx",
		       (unsigned long long)addr);
	return -ENOENT;
}

Test(pci, write_notifications_follow_the_bar)
{
	uint16_t two = 0;

	memset(&io, 0, sizeof(io));
	glue_bus_set_ioevent(mmio, fake_ioevent, NULL);
	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM64, 0x8000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_add_ioevent(dev, 0, 0x3000, 2, -1, 42), 0);
	cr_assert_eq(glue_pci_dev_add_ioevent(dev, 0, 0x7fff, 2, -1, 43), -EINVAL, "past the BAR");
	cr_assert_eq(glue_pci_dev_add_ioevent(dev, 1, 0, 2, -1, 43), -EINVAL, "no BAR 1");
	cr_assert_eq(io.n, 0, "not decoded yet: nothing to notify");

	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_eq(io.n, 1);
	cr_assert_eq(io.addr[0], BAR_AT + 0x3000);
	cr_assert_eq(io.len[0], 2);
	cr_assert_eq(io.fd[0], 42);
	/* one added while mapped is passed on at once */
	cr_assert_eq(glue_pci_dev_add_ioevent(dev, 0, 0x3004, 2, -1, 44), 0);
	cr_assert_eq(io.n, 2);

	/* moved: they move with it */
	cf8_write(1, PCI_BASE_ADDRESS_0, 0xc2000000, 4);
	cr_assert_eq(io.n, 2);
	cr_assert(io.addr[0] == 0xc2000000 + 0x3000 || io.addr[1] == 0xc2000000 + 0x3000);
	cr_assert(io.addr[0] == 0xc2000000 + 0x3004 || io.addr[1] == 0xc2000000 + 0x3004);
	/* the register still takes the write where no fast path did */
	cr_assert_eq(glue_bus_write(mmio, 0xc2000000 + 0x3000, &two, 2), 0);
	cr_assert_eq(f.off, 0x3000);

	cf8_write(1, PCI_COMMAND, 0, 2);
	cr_assert_eq(io.n, 0, "decoding off: gone");
	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_eq(io.n, 2);
	glue_pci_dev_detach(dev);
	cr_assert_eq(io.n, 0, "detached: gone");
}

Test(pci, a_refused_fast_path_is_no_error)
{
	memset(&io, 0, sizeof(io));
	io.refuse = true;
	glue_bus_set_ioevent(mmio, fake_ioevent, NULL);
	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM64, 0x8000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_add_ioevent(dev, 0, 0x3000, 2, -1, 42), 0);
	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_eq(io.calls, 1);
	cf8_write(1, PCI_COMMAND, 0, 2);
	cr_assert_eq(io.calls, 1, "nothing to remove");
}

Test(pci, a_bar_kept_out_gets_its_place_when_the_other_moves)
{
	struct glue_pci_dev_info info = {.vendor_id = 1};
	struct glue_pci_dev *d2;
	uint8_t b;

	cr_assert_eq(glue_pci_dev_new(&d2, pci, &info, &d_ops, NULL, NULL), 0);
	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM32, 0x1000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_set_bar(d2, 0, GLUE_PCI_BAR_MEM32, 0x1000, BAR_AT + 0x1000), 0);
	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cf8_write(2, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	/* the OS puts device 2 over device 1: device 1 keeps the place */
	cf8_write(2, PCI_BASE_ADDRESS_0, (uint32_t)BAR_AT, 4);
	f.reads = 0;
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 8, &b, 1), 0);
	cr_assert_neq(glue_bus_read(mmio, BAR_AT + 0x1000, &b, 1), 0, "device 2 is nowhere");
	/* then moves device 1 away: device 2 is decoded where the OS put it */
	cf8_write(1, PCI_BASE_ADDRESS_0, (uint32_t)BAR_AT + 0x2000, 4);
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x2000, &b, 1), 0);
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 8, &b, 1), 0, "device 2 now");
	/* and when device 1 goes, nothing is left mapped of it */
	glue_pci_dev_free(d2);
	cr_assert_neq(glue_bus_read(mmio, BAR_AT + 8, &b, 1), 0);
	cr_assert_eq(glue_bus_read(mmio, BAR_AT + 0x2000, &b, 1), 0);
}

/* Fake MSI routes: eventfds, with the message each was last pointed at. */
static struct {
	int fd[8], n, sets, dels;
	uint64_t addr[8];
	uint32_t data[8];
	bool fail_add_at; /* the third add fails */
} rt;

static int rt_add(void *ctx, uint32_t *id, int *fd)
{
	if (rt.fail_add_at && rt.n == 2)
		return -ENOSPC;
	cr_assert_lt(rt.n, 8);
	*fd = rt.fd[rt.n] = eventfd(0, EFD_NONBLOCK);
	*id = (uint32_t)rt.n++;
	return 0;
}

static int rt_set(void *ctx, uint32_t id, uint64_t addr, uint32_t data)
{
	rt.sets++;
	rt.addr[id] = addr;
	rt.data[id] = data;
	return 0;
}

static void rt_del(void *ctx, uint32_t id, int fd)
{
	cr_assert_eq(fd, rt.fd[id]);
	rt.dels++;
	close(fd);
}

static const struct glue_pci_msi_routes rt_ops = {.add = rt_add, .set = rt_set, .del = rt_del};

/* What route id's eventfd counted since the last look. */
static uint64_t rt_fired(int id)
{
	uint64_t n = 0;

	return read(rt.fd[id], &n, 8) == 8 ? n : 0;
}

static int msix_setup(uint16_t nvec)
{
	int cap;

	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM64, 0x8000, BAR_AT), 0);
	cr_assert_eq(glue_pci_dev_add_msix(dev, nvec, 0, 0x4000, 0x5000), 0);
	cf8_write(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cap = (int)cf8_read(1, 0, PCI_CAPABILITY_LIST, 1);
	cf8_write(1, (unsigned int)cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
	return cap;
}

Test(pci, msix_vectors_fire_through_their_routes)
{
	memset(&rt, 0, sizeof(rt));
	glue_pci_set_msi_routes(pci, &rt_ops, NULL);
	msix_setup(3);
	cr_assert_eq(rt.n, 3, "one route per vector");
	cr_assert_eq(rt.sets, 0, "pointing nowhere until used");

	msix_entry(1, 0xfee00000, 0x4041, 0);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 1), 0);
	cr_assert_eq(rt_fired(1), 1);
	cr_assert_eq(f.msis, 0, "not through the msi function");
	cr_assert_eq(rt.sets, 1);
	cr_assert_eq(rt.addr[1], 0xfee00000);
	cr_assert_eq(rt.data[1], 0x4041);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 1), 0);
	cr_assert_eq(rt_fired(1), 1);
	cr_assert_eq(rt.sets, 1, "unchanged: the route stays");

	/* the OS moves the interrupt: the route follows before the next one */
	msix_entry(1, 0xfee01000, 0x4052, 0);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 1), 0);
	cr_assert_eq(rt.sets, 2);
	cr_assert_eq(rt.addr[1], 0xfee01000);
	cr_assert_eq(rt.data[1], 0x4052);
	cr_assert_eq(rt_fired(1), 1);

	/* the route's eventfd for a path outside glue: only while unmasked */
	cr_assert_eq(glue_pci_dev_msix_irqfd(dev, 1), rt.fd[1]);
	cr_assert_eq(glue_pci_dev_msix_irqfd(dev, 3), -1, "past the table");

	/* masked: pending, nothing written; unmasked: out through the route */
	msix_entry(2, 0xfee00000, 0x4060, 1);
	cr_assert_eq(glue_pci_dev_msix_irqfd(dev, 2), -1, "masked");
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 2), 0);
	cr_assert_eq(rt_fired(2), 0);
	cr_assert_eq(pba(), 1u << 2);
	msix_entry(2, 0xfee00000, 0x4060, 0);
	cr_assert_eq(rt_fired(2), 1);
	cr_assert_eq(pba(), 0);

	/* a reset device forgets what was pending */
	msix_entry(2, 0xfee00000, 0x4060, 1);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 2), 0);
	cr_assert_eq(pba(), 1u << 2);
	glue_pci_dev_msix_clear_pending(dev);
	cr_assert_eq(pba(), 0);
	msix_entry(2, 0xfee00000, 0x4060, 0);
	cr_assert_eq(rt_fired(2), 0, "nothing left to deliver");

	glue_pci_dev_free(dev);
	dev = NULL;
	cr_assert_eq(rt.dels, 3, "routes released with the device");
}

Test(pci, without_every_route_the_msi_function_delivers)
{
	memset(&rt, 0, sizeof(rt));
	rt.fail_add_at = true;
	glue_pci_set_msi_routes(pci, &rt_ops, NULL);
	msix_setup(3);
	cr_assert_eq(rt.dels, 2, "the two made are given back");
	msix_entry(0, 0xfee00000, 0x4041, 0);
	cr_assert_eq(glue_pci_dev_msix_notify(dev, 0), 0);
	cr_assert_eq(f.msis, 1);
	cr_assert_eq(f.msi_data, 0x4041);
}

Test(pci, bar_access_without_a_mapping)
{
	uint32_t v = 0;

	cr_assert_eq(glue_pci_dev_set_bar(dev, 0, GLUE_PCI_BAR_MEM32, 0x1000, BAR_AT), 0);
	glue_pci_dev_bar_access(dev, 0, 0x20, &v, 4, false);
	cr_assert_eq(f.reads, 1, "the device answered, decoding off or not");
	cr_assert_eq(f.off, 0x20);
	cr_assert_eq(v, 0x5a5a5a5a);
	glue_pci_dev_bar_access(dev, 0, 0x10, &v, 4, true);
	cr_assert_eq(f.writes, 1);
	glue_pci_dev_bar_access(dev, 0, 0xffe, &v, 4, false);
	cr_assert_eq(v, 0xffffffff, "past the end: nothing");
	glue_pci_dev_bar_access(dev, 3, 0, &v, 4, false);
	cr_assert_eq(v, 0xffffffff, "no such BAR");
	glue_pci_dev_bar_access(dev, 0, 0xffe, &v, 4, true);
	cr_assert_eq(f.writes, 1);
}
