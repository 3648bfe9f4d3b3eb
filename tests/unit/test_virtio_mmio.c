// SPDX-License-Identifier: MIT
/*
 * virtio-mmio registers, through the MMIO bus as a vCPU reaches them: the
 * identification, a driver's whole setup sequence, kicks, the interrupt
 * status behind the level line, and accesses a driver should not make.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <glue/bus.h>
#include <glue/error.h>
#include <glue/irq.h>
#include <glue/memory.h>
#include <glue/virtio.h>
#include <glue/virtio_mmio.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#include "virtio_driver.h"

#define MiB (1024ULL * 1024)
#define BASE 0xd0000000ULL
#define QBASE 0x10000ULL
#define DATA 0x40000ULL

static struct {
	struct fake_device d;
	int level;
} f;

static struct glue_mem *mem;
static struct glue_bus *bus;
static struct glue_irq *irq;
static struct glue_virtio_mmio *t;
static struct glue_virtq_mock *mq;

static int set_level(void *ctx, int level)
{
	f.level = level;
	return 0;
}

static void setup(void)
{
	struct glue_virtio_device d = fake_device(&f.d, 26, 1ULL << 3, 1, 64, sizeof(f.d.config));

	memset(&f, 0, sizeof(f));
	for (int i = 0; i < 16; i++)
		f.d.config[i] = (uint8_t)(0xa0 + i);
	cr_assert_eq(glue_mem_new(&mem), 0);
	cr_assert_eq(glue_mem_add(mem, 0, 2 * MiB, GLUE_MEM_RAM), 0);
	cr_assert_eq(glue_bus_new(&bus, "mmio"), 0);
	cr_assert_eq(glue_irq_new_fn(&irq, set_level, NULL), 0);
	cr_assert_eq(glue_virtio_mmio_new(&t, &d, mem, irq), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtio_mmio_attach(t, bus, BASE), 0, "%s", glue_error_last());
	cr_assert_eq(glue_virtq_mock_new(&mq, mem, QBASE, 64), 0);
}

static void teardown(void)
{
	glue_virtio_mmio_free(t);
	glue_virtq_mock_free(mq);
	glue_irq_free(irq);
	glue_bus_free(bus);
	glue_mem_free(mem);
	t = NULL;
}

TestSuite(virtio_mmio, .init = setup, .fini = teardown);

static uint32_t rd(uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	cr_assert_eq(glue_bus_read(bus, BASE + off, &v, 4), 0);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	cr_assert_eq(glue_bus_write(bus, BASE + off, &v, 4), 0);
}

/* What Linux's virtio_mmio driver does, up to DRIVER_OK. */
static void linux_setup(void)
{
	struct glue_virtq_layout l;

	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	cr_assert(rd(VIRTIO_MMIO_DEVICE_FEATURES) & 1, "VERSION_1 (bit 32) offered");
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1u << 3);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);

	glue_virtq_mock_layout(mq, &l);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	wr(VIRTIO_MMIO_QUEUE_NUM, 64);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)l.desc);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(l.desc >> 32));
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)l.avail);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)l.used);
	wr(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

Test(virtio_mmio, identifies_itself)
{
	cr_assert_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	cr_assert_eq(rd(VIRTIO_MMIO_VERSION), 2);
	cr_assert_eq(rd(VIRTIO_MMIO_DEVICE_ID), 26);
	cr_assert_neq(rd(VIRTIO_MMIO_VENDOR_ID), 0);
	cr_assert_eq(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff, "no shared memory");
	cr_assert_eq(rd(VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
}

Test(virtio_mmio, a_linux_driver_sets_it_up)
{
	struct glue_virtq_layout l;

	linux_setup();
	cr_assert_eq(f.d.activated, 1);
	cr_assert_not_null(glue_virtio_dev_queue(f.d.vdev, 0));
	glue_virtq_mock_layout(mq, &l);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), (uint32_t)l.desc);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_USED_LOW), (uint32_t)l.used);
	cr_assert_eq(glue_virtio_dev_features(f.d.vdev), (1ULL << 32) | (1ULL << 3));

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	cr_assert_eq(driver_kicks(f.d.vdev, 0), 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 7); /* no such queue */
	cr_assert_eq(driver_kicks(f.d.vdev, 0), 0);

	wr(VIRTIO_MMIO_STATUS, 0);
	cr_assert_eq(f.d.resets, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_STATUS), 0);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}

Test(virtio_mmio, interrupt_status_drives_the_line)
{
	struct glue_virtq_mock_buf b = {DATA, 8, true};
	struct glue_virtq_chain *c;
	struct glue_virtq *q;
	uint16_t head;

	linux_setup();
	q = glue_virtio_dev_queue(f.d.vdev, 0);
	cr_assert_eq(glue_virtq_mock_add(mq, &b, 1, &head), 0);
	cr_assert_eq(glue_virtq_pop(q, &c), 1);
	glue_virtq_push(q, c, 8);
	cr_assert_eq(f.level, 0);
	glue_virtio_dev_signal(f.d.vdev, 0);
	cr_assert_eq(f.level, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	glue_virtio_dev_config_changed(f.d.vdev);
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS),
		     VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	cr_assert_eq(f.level, 1, "the config interrupt is still pending");
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	cr_assert_eq(f.level, 0);
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* a reset takes a pending interrupt away too */
	glue_virtio_dev_config_changed(f.d.vdev);
	cr_assert_eq(f.level, 1);
	wr(VIRTIO_MMIO_STATUS, 0);
	cr_assert_eq(f.level, 0);
}

Test(virtio_mmio, config_space_at_0x100_in_any_width)
{
	uint8_t b;
	uint16_t h;
	uint64_t q;

	cr_assert_eq(glue_bus_read(bus, BASE + 0x100, &b, 1), 0);
	cr_assert_eq(b, 0xa0);
	cr_assert_eq(glue_bus_read(bus, BASE + 0x102, &h, 2), 0);
	cr_assert_eq(h, 0xa3a2);
	cr_assert_eq(glue_bus_read(bus, BASE + 0x108, &q, 8), 0);
	cr_assert_eq(q, 0xafaeadacabaaa9a8ULL);
	cr_assert_eq(glue_bus_read(bus, BASE + 0x10e, &q, 8), 0);
	cr_assert_eq(q, 0, "past the device's config: zeros");
	cr_assert_eq(glue_bus_read(bus, BASE + 0xffc, &b, 1), 0);
	cr_assert_eq(b, 0);
}

Test(virtio_mmio, odd_register_accesses_are_ignored)
{
	uint16_t h = 0xffff;
	uint8_t b = 0xff;
	uint32_t v = 0xffffffff;

	cr_assert_eq(glue_bus_read(bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, &h, 2), 0);
	cr_assert_eq(h, 0, "a 16-bit read of a 32-bit register");
	cr_assert_eq(glue_bus_read(bus, BASE + VIRTIO_MMIO_MAGIC_VALUE + 1, &v, 4), 0);
	cr_assert_eq(v, 0, "unaligned");
	cr_assert_eq(rd(0x0f8), 0, "no register there");
	b = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	cr_assert_eq(glue_bus_write(bus, BASE + VIRTIO_MMIO_STATUS, &b, 1), 0);
	cr_assert_eq(rd(VIRTIO_MMIO_STATUS), 0, "an 8-bit status write is dropped");
	wr(0x0f8, 0x12345678); /* nothing there: dropped */
	/* legacy registers of version 1 do nothing here */
	wr(VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
	wr(VIRTIO_MMIO_QUEUE_PFN, 0x10);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_PFN), 0);
	cr_assert_eq(rd(VIRTIO_MMIO_STATUS), 0);
}

Test(virtio_mmio, a_hostile_setup_needs_reset_not_a_crash)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 0x10040); /* past 16 bits */
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0xfffff000);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0xffffffff);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	cr_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_assert(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	cr_assert_eq(f.level, 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	cr_assert_eq(f.d.activated, 0, "a broken device is not started by a kick");
	wr(VIRTIO_MMIO_STATUS, 0);
	cr_assert_eq(rd(VIRTIO_MMIO_STATUS), 0);
	linux_setup();
	cr_assert_eq(f.d.activated, 1, "works after the reset");
}

Test(virtio_mmio, attaches_once_and_announces_itself)
{
	char buf[64];
	int n;

	cr_assert_eq(glue_virtio_mmio_attach(t, bus, BASE + 0x1000), -EBUSY);
	n = glue_virtio_mmio_cmdline(buf, sizeof(buf), BASE, 16);
	cr_assert_str_eq(buf, "virtio_mmio.device=4K@0xd0000000:16");
	cr_assert_eq(n, (int)strlen(buf));
}

Test(virtio_mmio, too_large_a_config_space_is_refused)
{
	struct glue_virtio_mmio *t2;
	struct fake_device f2 = {0};
	struct glue_virtio_device d = fake_device(&f2, 26, 0, 1, 8, 0x1000);

	cr_assert_eq(glue_virtio_mmio_new(&t2, &d, mem, irq), -EINVAL);
	cr_assert_null(t2);
}

/* A fake fast path for QueueNotify writes (KVM_IOEVENTFD in glue's machine). */
static struct {
	uint64_t addr[4];
	int64_t dm[4];
	int fd[4];
	int n;
} io;

static int fake_ioevent(void *ctx, uint64_t addr, uint32_t len, int64_t dm, int fd, bool assign)
{
	cr_assert_eq(len, 4);
	if (assign) {
		io.addr[io.n] = addr;
		io.dm[io.n] = dm;
		io.fd[io.n++] = fd;
	} else {
		int i = 0;

		while (i < io.n && !(io.fd[i] == fd && io.dm[i] == dm))
			i++;
		cr_assert_lt(i, io.n, "removed once, and only what was added");
		io.n--;
		io.addr[i] = io.addr[io.n];
		io.dm[i] = io.dm[io.n];
		io.fd[i] = io.fd[io.n];
	}
	return 0;
}

Test(virtio_mmio, kicks_skip_the_registers_where_the_bus_can)
{
	struct fake_device f2 = {0};
	struct glue_virtio_device d = fake_device(&f2, 26, 0, 2, 64, 0);
	struct glue_virtio_mmio *t2;
	struct glue_bus *bus2;
	struct glue_virtio_dev *v2;

	cr_assert_eq(glue_bus_new(&bus2, "mmio2"), 0);
	glue_bus_set_ioevent(bus2, fake_ioevent, NULL);
	cr_assert_eq(glue_virtio_mmio_new(&t2, &d, mem, irq), 0);
	v2 = glue_virtio_mmio_dev(t2);
	cr_assert_eq(io.n, 0, "only once it has an address");
	cr_assert_eq(glue_virtio_mmio_attach(t2, bus2, BASE), 0);
	cr_assert_eq(io.n, 2, "one per queue");
	for (int q = 0; q < 2; q++) {
		cr_assert_eq(io.addr[q], BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
		cr_assert_eq(io.dm[q], q, "told apart by the value written");
		cr_assert_eq(io.fd[q], glue_virtio_dev_kick_fd(v2, (uint16_t)q));
	}
	glue_virtio_mmio_free(t2);
	cr_assert_eq(io.n, 0, "gone with the transport");
	glue_bus_free(bus2);
}
