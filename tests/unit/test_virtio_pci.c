// SPDX-License-Identifier: MIT
/*
 * virtio-pci modern as Linux's driver finds and drives it: the vendor
 * capabilities, the common configuration, notifications, MSI-X per queue and
 * the INTx fallback with the ISR; plus accesses of the wrong width.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <glue/bus.h>
#include <glue/error.h>
#include <glue/irq.h>
#include <glue/memory.h>
#include <glue/pci.h>
#include <glue/virtio.h>
#include <glue/virtio_pci.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#include "virtio_driver.h"

#define MiB (1024ULL * 1024)
#define BAR 0xc1000000ULL
#define QBASE 0x10000ULL

static struct glue_mem *mem;
static struct glue_bus *pio, *mmio;
static struct glue_pci *pci;
static struct glue_irq *irq;
static struct glue_virtio_pci *t;
static struct glue_virtq_mock *mq;
static struct {
	struct fake_device d;
	int level, msis;
	uint32_t msi_data;
} f;

static int set_level(void *ctx, int level)
{
	f.level = level;
	return 0;
}

static int msi(void *ctx, uint64_t addr, uint32_t data)
{
	f.msis++;
	f.msi_data = data;
	return 0;
}

/* Fake MSI routes (as the machine makes with KVM): an eventfd each. */
static bool with_routes;
static int route_fds[8], nroutes;

static int rt_add(void *ctx, uint32_t *id, int *fd)
{
	*fd = route_fds[nroutes] = eventfd(0, EFD_NONBLOCK);
	*id = (uint32_t)nroutes++;
	return 0;
}

static int rt_set(void *ctx, uint32_t id, uint64_t addr, uint32_t data)
{
	return 0;
}

static void rt_del(void *ctx, uint32_t id, int fd)
{
	close(fd);
}

static const struct glue_pci_msi_routes rt_ops = {.add = rt_add, .set = rt_set, .del = rt_del};

static void setup(void)
{
	struct glue_virtio_device d = fake_device(&f.d, 2, 0, 2, 64, 8);

	memset(&f, 0, sizeof(f));
	memcpy(f.d.config, "CONFIG!!", 8);
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 2 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_bus_new(&pio, "pio"), 0);
	cr_assert_eq(glue_bus_new(&mmio, "mmio"), 0);
	cr_assert_eq(glue_pci_new(&pci, pio, mmio, msi, NULL), 0);
	nroutes = 0;
	if (with_routes)
		glue_pci_set_msi_routes(pci, &rt_ops, NULL);
	cr_assert_eq(glue_pci_attach_ports(pci), 0);
	cr_assert_eq(glue_irq_new_fn(&irq, set_level, NULL), 0);
	cr_assert_eq(glue_virtio_pci_new(&t, &d, mem, pci, BAR, irq, 16), 0, "%s",
		     glue_error_last());
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 64), 0);
}

static void teardown(void)
{
	glue_virtio_pci_free(t);
	glue_virtq_mock_free(mq);
	glue_irq_free(irq);
	glue_pci_free(pci);
	glue_bus_free(pio);
	glue_bus_free(mmio);
	glue_mem_free(mem);
}

TestSuite(virtio_pci, .init = setup, .fini = teardown);

static uint32_t cfg(unsigned int reg, unsigned int len)
{
	uint32_t a = 0x80000000u | glue_virtio_pci_slot(t) << 11 | (reg & 0xfc), v = 0;

	glue_bus_write(pio, 0xcf8, &a, 4);
	glue_bus_read(pio, 0xcfc + (reg & 3), &v, len);
	return v;
}

static void cfg_write(unsigned int reg, uint32_t v, unsigned int len)
{
	uint32_t a = 0x80000000u | glue_virtio_pci_slot(t) << 11 | (reg & 0xfc);

	glue_bus_write(pio, 0xcf8, &a, 4);
	glue_bus_write(pio, 0xcfc + (reg & 3), &v, len);
}

static uint64_t rd(uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	cr_assert_eq(glue_bus_read(mmio, BAR + off, &v, len), 0, "BAR not mapped at %#llx",
		     (unsigned long long)(BAR + off));
	return v;
}

static void wr(uint64_t off, uint64_t v, uint32_t len)
{
	cr_assert_eq(glue_bus_write(mmio, BAR + off, &v, len), 0);
}

/* Where the structure of cfg_type is: (offset in BAR 0); -1 if absent. */
static long find_cap(uint8_t type, uint32_t *length, uint32_t *mult)
{
	for (unsigned int p = cfg(PCI_CAPABILITY_LIST, 1); p; p = cfg(p + 1, 1)) {
		if (cfg(p, 1) != PCI_CAP_ID_VNDR || cfg(p + 3, 1) != type)
			continue;
		cr_assert_eq(cfg(p + 4, 1), 0, "in BAR 0");
		if (length)
			*length = cfg(p + 12, 4);
		if (mult)
			*mult = cfg(p + 16, 4);
		return (long)cfg(p + 8, 4);
	}
	return -1;
}

Test(virtio_pci, identifies_as_a_modern_device)
{
	uint32_t len, mult;

	cr_assert_eq(cfg(PCI_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(cfg(PCI_DEVICE_ID, 2), 0x1042, "0x1040 + the virtio device id");
	cr_assert_geq(cfg(PCI_REVISION_ID, 1), 1);
	cr_assert_eq(cfg(PCI_CLASS_REVISION, 4) >> 8, 0x018000);
	cr_assert_eq(cfg(PCI_INTERRUPT_PIN, 1), 1);
	cr_assert_eq(cfg(PCI_INTERRUPT_LINE, 1), 16);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_0, 4), (uint32_t)BAR | 0x4, "64-bit memory BAR");
	cr_assert_eq(find_cap(VIRTIO_PCI_CAP_COMMON_CFG, &len, NULL), 0);
	cr_assert_geq(len, 0x38);
	cr_assert_geq(find_cap(VIRTIO_PCI_CAP_ISR_CFG, NULL, NULL), 0);
	cr_assert_geq(find_cap(VIRTIO_PCI_CAP_DEVICE_CFG, &len, NULL), 0);
	cr_assert_eq(len, 8);
	cr_assert_geq(find_cap(VIRTIO_PCI_CAP_NOTIFY_CFG, &len, &mult), 0);
	cr_assert_eq(mult, 4);
	cr_assert_eq(len, 2 * 4);
}

/* Linux's virtio_pci_modern: enable memory, features, queue 0 with a vector, DRIVER_OK. */
static void bring_up(bool use_msix)
{
	struct glue_virtq_layout l;
	unsigned int msix = 0;

	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	for (unsigned int p = cfg(PCI_CAPABILITY_LIST, 1); p; p = cfg(p + 1, 1))
		if (cfg(p, 1) == PCI_CAP_ID_MSIX)
			msix = p;
	cr_assert_neq(msix, 0, "no MSI-X capability");
	if (use_msix) {
		cfg_write(msix + 2, PCI_MSIX_FLAGS_ENABLE, 2);
		for (int v = 0; v < 3; v++) {
			wr(0x4000 + 16 * v, 0xfee00000, 4);
			wr(0x4000 + 16 * v + 8, 0x40 + (unsigned int)v, 4);
			wr(0x4000 + 16 * v + 12, 0, 4); /* unmasked */
		}
	}
	wr(0x14, 0, 1);
	wr(0x14, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	wr(0x00, 1, 4);
	cr_assert(rd(0x04, 4) & 1, "VERSION_1");
	wr(0x08, 1, 4);
	wr(0x0c, 1, 4);
	wr(0x14, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK,
	   1);
	cr_assert(rd(0x14, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	if (use_msix) {
		wr(0x10, 0, 2); /* config changes on vector 0 */
		cr_assert_eq(rd(0x10, 2), 0);
	}
	cr_assert_eq(rd(0x12, 2), 2, "num_queues");
	glue_virtq_mock_layout(mq, &l);
	wr(0x16, 0, 2);
	cr_assert_eq(rd(0x18, 2), 64);
	wr(0x18, 64, 2);
	if (use_msix) {
		wr(0x1a, 1, 2);
		cr_assert_eq(rd(0x1a, 2), 1);
	}
	wr(0x20, l.desc, 8);		/* a qword... */
	wr(0x28, (uint32_t)l.avail, 4); /* ...or dword halves */
	wr(0x2c, 0, 4);
	wr(0x30, l.used, 8);
	cr_assert_eq(rd(0x20, 8), l.desc);
	cr_assert_eq(rd(0x28, 4), (uint32_t)l.avail);
	wr(0x1c, 1, 2);
	cr_assert_eq(rd(0x1c, 2), 1);
	cr_assert_eq(rd(0x1e, 2), 0, "queue_notify_off");
	wr(0x14, rd(0x14, 1) | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	cr_assert_eq(f.d.activated, 1);
}

static void push_one(void)
{
	struct glue_virtq_mock_buf b = {0x40000, 8, true};
	struct glue_virtq_chain *c;
	struct glue_virtq *q = glue_virtio_dev_queue(f.d.vdev, 0);
	uint16_t head;

	cr_assert_not_null(q);
	cr_assert_eq(glue_virtq_mock_add(mq, &b, 1, &head), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	glue_virtq_push(q, c, 8);
	glue_virtio_dev_signal(f.d.vdev, 0);
}

Test(virtio_pci, msix_per_queue_and_for_config)
{
	bring_up(true);
	wr(0x3000, 0, 2);
	cr_assert_eq(driver_kicks(f.d.vdev, 0), 1);
	wr(0x3000 + 4 * 2, 0, 2); /* past the queues */
	cr_assert_eq(driver_kicks(f.d.vdev, 0) + driver_kicks(f.d.vdev, 1), 0);
	push_one();
	cr_assert_eq(f.msis, 1);
	cr_assert_eq(f.msi_data, 0x41, "queue 0 on vector 1");
	glue_virtio_dev_config_changed(f.d.vdev);
	cr_assert_eq(f.msis, 2);
	cr_assert_eq(f.msi_data, 0x40, "config on vector 0");
	cr_assert_eq(f.level, 0, "no INTx with MSI-X");
	/* a vector past the table reads back as none */
	wr(0x16, 1, 2);
	wr(0x1a, 9, 2);
	cr_assert_eq(rd(0x1a, 2), VIRTIO_MSI_NO_VECTOR);
	cr_assert_eq(rd(0x2000, 4), 0x464e4f43, "device config: \"CONF\"");
}

Test(virtio_pci, intx_and_the_isr_without_msix)
{
	bring_up(false);
	push_one();
	cr_assert_eq(f.msis, 0);
	cr_assert_eq(f.level, 1);
	cr_assert_eq(rd(0x1000, 1), 1, "queue interrupt");
	cr_assert_eq(f.level, 0, "reading the ISR acknowledges");
	cr_assert_eq(rd(0x1000, 1), 0);
	glue_virtio_dev_config_changed(f.d.vdev);
	cr_assert_eq(rd(0x1000, 1), 2, "config interrupt");
	/* a reset takes the vectors and any pending ISR away */
	glue_virtio_dev_config_changed(f.d.vdev);
	wr(0x14, 0, 1);
	cr_assert_eq(f.level, 0);
	cr_assert_eq(rd(0x10, 2), VIRTIO_MSI_NO_VECTOR);
}

Test(virtio_pci, odd_accesses_are_dropped)
{
	bring_up(false);
	wr(0x14, 0, 4); /* device_status is a byte */
	cr_assert_neq(rd(0x14, 1), 0, "a dword write to the status byte reset it");
	wr(0x16, 1, 1); /* queue_select is a word */
	cr_assert_eq(rd(0x16, 2), 0);
	wr(0x37, 0xff, 1);
	cr_assert_eq(rd(0x36, 2), 0);
	cr_assert_eq(rd(0x38, 4), 0, "past the common structure");
	cr_assert_eq(rd(0x2006, 4), 0, "past the device config");
}

/* A fake fast path for notification writes (KVM_IOEVENTFD in glue's machine). */
static struct {
	uint64_t addr[4];
	int fd[4];
	int n;
} io;

static int fake_ioevent(void *ctx, uint64_t addr, uint32_t len, int64_t dm, int fd, bool assign)
{
	cr_assert_eq(len, 2, "the width Linux writes");
	cr_assert_eq(dm, -1, "the address tells the queue");
	if (assign) {
		io.addr[io.n] = addr;
		io.fd[io.n++] = fd;
	} else {
		io.n--;
	}
	return 0;
}

Test(virtio_pci, notifications_skip_the_registers_where_the_bus_can)
{
	memset(&io, 0, sizeof(io));
	glue_bus_set_ioevent(mmio, fake_ioevent, NULL);
	cr_assert_eq(io.n, 0);
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_eq(io.n, 2, "one per queue once the BAR is decoded");
	for (int q = 0; q < 2; q++) {
		cr_assert_eq(io.addr[q], BAR + 0x3000 + 4 * q);
		cr_assert_eq(io.fd[q],
			     glue_virtio_dev_kick_fd(glue_virtio_pci_dev(t), (uint16_t)q));
	}
	cfg_write(PCI_COMMAND, 0, 2);
	cr_assert_eq(io.n, 0);
}

/* The PCI configuration access capability's config offset. */
static unsigned int cfg_access_cap(void)
{
	for (unsigned int p = cfg(PCI_CAPABILITY_LIST, 1); p; p = cfg(p + 1, 1))
		if (cfg(p, 1) == PCI_CAP_ID_VNDR && cfg(p + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			return p;
	cr_assert_fail("no VIRTIO_PCI_CAP_PCI_CFG capability");
	return 0;
}

/* Point the window: BAR, offset in it, length. */
static void window(unsigned int cap, uint8_t bar, uint32_t off, uint32_t len)
{
	cfg_write(cap + 4, bar, 1);
	cfg_write(cap + 8, off, 4);
	cfg_write(cap + 12, len, 4);
}

Test(virtio_pci, config_space_reaches_bar_0_through_the_access_capability)
{
	unsigned int cap = cfg_access_cap();

	cr_assert_eq(cfg(cap + 2, 1), 20, "cap_len");
	/* no memory decoding needed: that is what it is for */
	cr_assert_eq(cfg(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, 0);
	window(cap, 0, 0x12, 2);
	cr_assert_eq(cfg(cap + 16, 2), 2, "num_queues, read through the window");
	window(cap, 0, 0x14, 1);
	cfg_write(cap + 16, VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	cr_assert_eq(glue_virtio_dev_get_status(glue_virtio_pci_dev(t)),
		     VIRTIO_CONFIG_S_ACKNOWLEDGE, "device_status, written through the window");
	/* the MSI-X table behind it too (the PCI core's part of the BAR) */
	window(cap, 0, 0x4000, 4);
	cfg_write(cap + 16, 0xfee00000, 4);
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_eq(rd(0x4000, 4), 0xfee00000);

	/* windows a driver may not point: nothing reaches the BAR */
	window(cap, 0, 0x14, 3); /* odd length */
	cfg_write(cap + 16, 0, 1);
	window(cap, 1, 0x14, 1); /* another BAR */
	cfg_write(cap + 16, 0, 1);
	window(cap, 0, 0x15, 2); /* misaligned */
	cfg_write(cap + 16, 0, 2);
	window(cap, 0, 0x7ffe, 4); /* past the end */
	cfg_write(cap + 16, 0, 4);
	window(cap, 0, 0xfffffffc, 4); /* wrapping */
	cfg_write(cap + 16, 0, 4);
	cr_assert_eq(rd(0x14, 1), VIRTIO_CONFIG_S_ACKNOWLEDGE, "status unchanged");
	/* only the fields a driver sets are writable */
	cfg_write(cap + 3, 0x77, 1);
	cr_assert_eq(cfg(cap + 3, 1), VIRTIO_PCI_CAP_PCI_CFG);
}

static void setup_with_routes(void)
{
	with_routes = true;
	setup();
	with_routes = false;
}

/* vhost's way: an eventfd per queue that interrupts the guest itself, only while unmasked. */
Test(virtio_pci_irqfd, a_queue_irqfd_follows_the_vectors_mask, .init = setup_with_routes,
     .fini = teardown)
{
	int fd;

	cr_assert_eq(nroutes, 3, "a route per vector");
	bring_up(true);
	fd = glue_virtio_dev_irqfd(f.d.vdev, 0);
	cr_assert_eq(fd, route_fds[1], "queue 0 is on vector 1: its route's eventfd");
	cr_assert_eq(glue_virtio_dev_irqfd(f.d.vdev, 1), -1, "queue 1 was not enabled");
	f.d.irqfd_changes = 0;
	wr(0x4000 + 16 + 12, 1, 4); /* mask vector 1 */
	cr_assert_geq(f.d.irqfd_changes, 1, "told to look again");
	cr_assert_eq(glue_virtio_dev_irqfd(f.d.vdev, 0), -1, "masked: not straight to the guest");
	wr(0x4000 + 16 + 12, 0, 4);
	cr_assert_geq(f.d.irqfd_changes, 2);
	cr_assert_eq(glue_virtio_dev_irqfd(f.d.vdev, 0), fd);
	wr(0x4000 + 16 + 8, 0x55, 4); /* a new message: the route follows, the fd stays */
	cr_assert_geq(f.d.irqfd_changes, 3);
	cr_assert_eq(glue_virtio_dev_irqfd(f.d.vdev, 0), fd);
	for (unsigned int p = cfg(PCI_CAPABILITY_LIST, 1); p; p = cfg(p + 1, 1))
		if (cfg(p, 1) == PCI_CAP_ID_MSIX)
			cfg_write(p + 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	cr_assert_geq(f.d.irqfd_changes, 4);
	cr_assert_eq(glue_virtio_dev_irqfd(f.d.vdev, 0), -1, "the function is masked");
	wr(0x14, 0, 1); /* reset: not live, nobody to tell */
	f.d.irqfd_changes = 0;
	wr(0x4000 + 16 + 12, 1, 4);
	cr_assert_eq(f.d.irqfd_changes, 0);
	cr_assert_eq(glue_virtio_dev_irqfd(f.d.vdev, 0), -1);
}
