/* SPDX-License-Identifier: MIT */
/*
 * Virtio devices through the guest's own driver (virtio.c), as a driver
 * should use them and as a hostile one would: vblk, vnet, vrng. Each finds
 * the first device of its type (glue.virtio=pci|mmio picks a transport),
 * does real work with it, then sends malformed chains and register writes on
 * purpose. After each the device must either give the chain back (used) or
 * say DEVICE_NEEDS_RESET; a reset must bring it back, and it must work
 * afterwards. A chain that is neither answered nor refused fails the check
 * (reason=lost), so does a VMM that stops (the run never ends).
 */
#include "virtio.h"

#define WAIT_S 5

/*
 * What the devices are shown lives at 4 MiB, outside the image (which must
 * stay small): the rings, then data buffers.
 */
#define DMA_BASE 0x400000UL
#define DMA_BUF 16384
#define RX_BUFS 8
#define RX_BUF_SIZE 2048

static struct vq_mem *qmem;	  /* VDEV_MAX_QUEUES of them */
static u8 *buf, *buf2;		  /* DMA_BUF bytes each */
static struct vring_desc *itable; /* 64 entries */
static u8 (*rxbuf)[RX_BUF_SIZE];  /* RX_BUFS of them */
static struct vdev dev;

static void dma_init(void)
{
	u8 *p = phys_ptr(DMA_BASE);

	qmem = (struct vq_mem *)p;
	p += VDEV_MAX_QUEUES * sizeof(struct vq_mem);
	buf = p;
	buf2 = p + DMA_BUF;
	itable = (struct vring_desc *)(p + 2 * DMA_BUF);
	rxbuf = (u8(*)[RX_BUF_SIZE])(p + 2 * DMA_BUF + 4096);
}

struct hostile {
	const char *name; /* the first failure */
	u32 cases, answered, resets, lost;
};

/* TEST <name> PASS|FAIL [reason=<why>] <details>: FAIL when there is a why. */
static void result(const char *name, const char *why, const char *fmt, ...) PRINTF(3, 4);

static void result(const char *name, const char *why, const char *fmt, ...)
{
	va_list ap;

	kprintf("TEST %s %s ", name, why ? "FAIL" : "PASS");
	if (why)
		kprintf("reason=%s ", why);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	test_count(!why);
}

static int transport_wanted(void)
{
	const char *v;
	size_t n;

	if (!cmdline_get("glue.virtio", &v, &n))
		return 0;
	if (n == 3 && !memcmp(v, "pci", 3))
		return VT_PCI;
	if (n == 4 && !memcmp(v, "mmio", 4))
		return VT_MMIO;
	return 0;
}

/* A RAM address no E820 entry covers from there on: the end of the last RAM entry. */
static u64 ram_end(void)
{
	u64 end = 0;

	for (u32 i = 0; i < boot.e820_count; i++)
		if (boot.e820[i].type == E820_RAM && boot.e820[i].addr + boot.e820[i].size > end)
			end = boot.e820[i].addr + boot.e820[i].size;
	return end;
}

#define OUTSIDE_RAM (1ULL << 40) /* 1 TiB: no test VM has RAM there */

/*
 * After a hostile chain on queue q: the device answered it, or wants a
 * reset (then bring it back with up()). false: it did neither in time.
 */
static bool settle(struct hostile *h, const char *name, struct vq *q, bool (*up)(void), u32 *len)
{
	u32 id, l;
	int r = vq_wait(&dev, q, &id, &l, WAIT_S);

	h->cases++;
	if (len)
		*len = r == 1 ? l : 0;
	if (r == 1) {
		h->answered++;
		return true;
	}
	if (r < 0) {
		h->resets++;
		if (up())
			return true;
		if (!h->name)
			h->name = name;
		return false;
	}
	h->lost++;
	if (!h->name)
		h->name = name;
	return false;
}

/*
 * The first device of this type on the transport asked for, brought up by
 * up(); false (with the FAIL line printed) when there is none or it refuses.
 */
static bool start(const char *name, u32 device_id, bool (*up)(void))
{
	dma_init();
	if (!vdev_find(&dev, device_id, transport_wanted())) {
		test_result(name, false, "reason=no-device");
		return false;
	}
	if (!up()) {
		test_result(name, false, "reason=setup-failed transport=%s", vdev_transport(&dev));
		vdev_reset(&dev);
		return false;
	}
	return true;
}

/* A register-level insult: the device must still come up afterwards (reset). */
static void reset_after(struct hostile *h, const char *name, bool (*up)(void))
{
	h->cases++;
	if (vdev_status(&dev) & VS_NEEDS_RESET)
		h->resets++;
	if (!up() && !h->name)
		h->name = name;
}

/* ---- virtio-blk ---- */

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define BLK_F_RO 5
#define BLK_F_FLUSH 9
#define SECTOR 512

/* Sectors written by the check: the host reads them back from the image. */
#define PATTERN_A 64
#define PATTERN_B 128
#define PATTERN_SECTORS 16
/* Where hostile writes aim: must stay as they were (zero). */
#define HOSTILE_SECTOR 256

struct blk_hdr {
	u32 type;
	u32 reserved;
	u64 sector;
};

static struct blk_hdr bhdr;
static volatile u8 bstatus;
static u64 blk_features;

static bool blk_up(void)
{
	const char *why;
	u64 offered;

	if (!vdev_begin(&dev, 1ULL << BLK_F_FLUSH | 1ULL << BLK_F_RO, &offered, &why) ||
	    !vdev_queue(&dev, 0, &qmem[0], &why))
		return false;
	blk_features = offered;
	vdev_go(&dev);
	return !(vdev_status(&dev) & VS_NEEDS_RESET);
}

/* One well-formed request; returns the status byte, or -1 (lost), -2 (needs reset). */
static int blk_req(u32 type, u64 sector, void *data, u32 len, u32 *used_len)
{
	struct vq *q = &dev.q[0];
	bool in = type == BLK_T_IN || type == BLK_T_GET_ID;
	u16 n = 0;
	u32 id, l;
	int r;

	bhdr.type = type;
	bhdr.reserved = 0;
	bhdr.sector = sector;
	bstatus = 0xff;
	vq_desc(q, n, (u64)&bhdr, sizeof(bhdr), VRING_DESC_F_NEXT, (u16)(n + 1));
	n++;
	if (len) {
		vq_desc(q, n, (u64)data, len, VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0),
			(u16)(n + 1));
		n++;
	}
	vq_desc(q, n, (u64)&bstatus, 1, VRING_DESC_F_WRITE, 0);
	vq_publish(&dev, q, 0);
	r = vq_wait(&dev, q, &id, &l, WAIT_S);
	if (r <= 0)
		return r == 0 ? -1 : -2;
	if (used_len)
		*used_len = l;
	return bstatus;
}

static u8 pattern(u64 sector, u32 i)
{
	return (u8)((sector * 131) ^ (i * 7) ^ (i >> 8) ^ 0x5a);
}

/* Write count sectors of the pattern at sector, flush, read back, compare. */
static const char *blk_pattern(u64 sector, u32 count)
{
	u32 len = count * SECTOR;
	int s;

	for (u32 i = 0; i < len; i++)
		buf[i] = pattern(sector + i / SECTOR, i % SECTOR);
	if ((s = blk_req(BLK_T_OUT, sector, buf, len, NULL)) != BLK_S_OK)
		return s == -1 ? "write-lost" : "write-failed";
	if ((blk_features & (1ULL << BLK_F_FLUSH)) &&
	    blk_req(BLK_T_FLUSH, 0, NULL, 0, NULL) != BLK_S_OK)
		return "flush-failed";
	memset(buf2, 0, len);
	if (blk_req(BLK_T_IN, sector, buf2, len, NULL) != BLK_S_OK)
		return "read-failed";
	if (memcmp(buf, buf2, len))
		return "read-back-mismatch";
	return NULL;
}

/* A write chain (hdr, data, status) with one descriptor made bad by mangle. */
static void blk_chain(u32 type, u64 sector, u32 len)
{
	struct vq *q = &dev.q[0];

	bhdr.type = type;
	bhdr.reserved = 0;
	bhdr.sector = sector;
	bstatus = 0xff;
	for (u32 i = 0; i < len && i < DMA_BUF; i++)
		buf[i] = 0xee; /* what must never reach the image */
	vq_desc(q, 0, (u64)&bhdr, sizeof(bhdr), VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, (u64)buf, len, VRING_DESC_F_NEXT, 2);
	vq_desc(q, 2, (u64)&bstatus, 1, VRING_DESC_F_WRITE, 0);
}

static void blk_hostile(struct hostile *h, u64 capacity)
{
	struct vq *q = &dev.q[0];
	u64 end = ram_end();
	u32 len;
	int k = 0;

	/* descriptor rules (virtio 1.x, 2.7.5) */
	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 2, (u64)&bstatus, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0); /* a loop */
	vq_publish(&dev, q, 0);
	settle(h, "loop", &dev.q[0], blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 1, OUTSIDE_RAM, SECTOR, VRING_DESC_F_NEXT, 2);
	vq_publish(&dev, q, 0);
	settle(h, "outside-ram", q, blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 1, end - SECTOR / 2, SECTOR, VRING_DESC_F_NEXT, 2); /* across RAM's end */
	vq_publish(&dev, q, 0);
	settle(h, "across-ram-end", q, blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 1, (u64)buf, 0xfffffff0u, VRING_DESC_F_NEXT, 2); /* 4 GiB of "data" */
	vq_publish(&dev, q, 0);
	settle(h, "huge-length", q, blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 1, (u64)buf, 0, VRING_DESC_F_NEXT, 2); /* zero length */
	vq_publish(&dev, q, 0);
	settle(h, "zero-length", q, blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 0, (u64)&bhdr, sizeof(bhdr), VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	vq_desc(q, 1, (u64)buf, SECTOR, VRING_DESC_F_NEXT, 2); /* readable after writable */
	vq_publish(&dev, q, 0);
	settle(h, "write-then-read", q, blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 1, (u64)buf, SECTOR, VRING_DESC_F_NEXT, VQ_SIZE + 3); /* next past the table */
	vq_publish(&dev, q, 0);
	settle(h, "next-out-of-range", q, blk_up, NULL);

	/* indirect tables: nested, odd-sized, too long */
	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	itable[0] = (struct vring_desc){(u64)&bhdr, sizeof(bhdr), VRING_DESC_F_NEXT, 1};
	itable[1] = (struct vring_desc){(u64)itable, 32, VRING_DESC_F_INDIRECT, 0};
	vq_desc(q, 0, (u64)itable, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	vq_publish(&dev, q, 0);
	settle(h, "nested-indirect", q, blk_up, NULL);

	vq_desc(q, 0, (u64)itable, 20, VRING_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
	vq_publish(&dev, q, 0);
	settle(h, "indirect-length", q, blk_up, NULL);

	for (u32 i = 0; i < 64; i++) /* 64 one-byte pieces, each the next's */
		itable[i] = (struct vring_desc){(u64)buf + i, 1, VRING_DESC_F_NEXT, (u16)(i + 1)};
	itable[63].flags = VRING_DESC_F_WRITE;
	bhdr = (struct blk_hdr){BLK_T_OUT, 0, HOSTILE_SECTOR + k++};
	itable[0].addr = (u64)&bhdr;
	itable[0].len = sizeof(bhdr);
	vq_desc(q, 0, (u64)itable, 64 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	vq_publish(&dev, q, 0); /* INDIRECT with NEXT: not allowed either */
	settle(h, "indirect-with-next", q, blk_up, NULL);

	/* the request itself */
	blk_chain(BLK_T_OUT, capacity, SECTOR); /* past the end */
	vq_publish(&dev, q, 0);
	if (settle(h, "past-the-end", q, blk_up, NULL) && bstatus != BLK_S_IOERR && !h->name)
		h->name = "past-the-end-not-ioerr";

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, 100); /* not whole sectors */
	vq_publish(&dev, q, 0);
	if (settle(h, "partial-sector", q, blk_up, NULL) && bstatus != BLK_S_IOERR && !h->name)
		h->name = "partial-sector-not-ioerr";

	blk_chain(0xdead, HOSTILE_SECTOR + k++, SECTOR);
	vq_publish(&dev, q, 0);
	if (settle(h, "unknown-type", q, blk_up, NULL) && bstatus != BLK_S_UNSUPP && !h->name)
		h->name = "unknown-type-not-unsupp";

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 0, (u64)&bhdr, 8, VRING_DESC_F_NEXT, 2); /* half a header, no data */
	vq_publish(&dev, q, 0);
	settle(h, "short-header", q, blk_up, NULL);

	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_desc(q, 2, (u64)&bstatus, 1, 0, 0); /* no writable status byte */
	vq_publish(&dev, q, 0);
	settle(h, "readonly-status", q, blk_up, &len);

	/* the rings: a head past the table, an index far ahead */
	blk_chain(BLK_T_OUT, HOSTILE_SECTOR + k++, SECTOR);
	vq_publish(&dev, q, VQ_SIZE + 7);
	settle(h, "head-out-of-range", q, blk_up, NULL);

	q->avail_idx = (u16)(q->avail_idx + VQ_SIZE + 10);
	vq_publish(&dev, q, 0);
	settle(h, "avail-index-jump", q, blk_up, NULL);

	/* the registers: a queue nobody can use, a kick for a queue that is not there */
	{
		const char *why;
		u64 offered;

		if (vdev_begin(&dev, 0, &offered, &why)) {
			/* three entries, outside RAM: the queue must not come up */
			u64 m = OUTSIDE_RAM;

			if (dev.transport == VT_PCI) {
				*(volatile u16 *)(dev.common + 0x16) = 0;
				*(volatile u16 *)(dev.common + 0x18) = 3; /* not a power of two */
				mmio_write32(dev.common + 0x20, (u32)m);
				mmio_write32(dev.common + 0x24, (u32)(m >> 32));
				*(volatile u16 *)(dev.common + 0x1c) = 1;
			} else {
				mmio_write32(dev.base + 0x030, 0);
				mmio_write32(dev.base + 0x038, 3);
				mmio_write32(dev.base + 0x080, (u32)m);
				mmio_write32(dev.base + 0x084, (u32)(m >> 32));
				mmio_write32(dev.base + 0x044, 1);
			}
			vdev_notify(&dev, 7);
			vdev_notify(&dev, 0xffff);
			vdev_set_status(&dev,
					VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
		}
		reset_after(h, "bad-queue-setup", blk_up);
	}
	vdev_cfg_write32(&dev, 0, 0); /* capacity is read-only */
	if (vdev_cfg64(&dev, 0) != capacity && !h->name)
		h->name = "capacity-written";
}

void check_vblk(void)
{
	struct hostile h = {0};
	const char *why = NULL;
	char serial[21] = {0};
	u64 capacity;
	int s;

	if (!start("vblk", VIRTIO_ID_BLOCK, blk_up))
		return;
	capacity = vdev_cfg64(&dev, 0);
	s = blk_req(BLK_T_GET_ID, 0, serial, 20, NULL);
	if (s != BLK_S_OK)
		why = "get-id-failed";
	for (int i = 0; i < 20; i++)
		if (serial[i] && (serial[i] < 0x21 || serial[i] > 0x7e))
			serial[i] = '?'; /* one word on the TEST line */
	if (!why && capacity < PATTERN_B + PATTERN_SECTORS)
		why = "disk-too-small";
	if (!why && (blk_features & (1ULL << BLK_F_RO))) {
		/* a read-only disk: a write must fail, and nothing else is tried */
		if (blk_req(BLK_T_OUT, PATTERN_A, buf, SECTOR, NULL) != BLK_S_IOERR)
			why = "ro-write-not-refused";
		vdev_reset(&dev);
		result("vblk", why, "transport=%s ro=1 capacity=%lu serial=%s irqs=%u",
		       vdev_transport(&dev), capacity, serial[0] ? serial : "-", dev.irqs);
		return;
	}
	if (!why)
		why = blk_pattern(PATTERN_A, PATTERN_SECTORS);
	if (!why) {
		blk_hostile(&h, capacity);
		why = h.name;
	}
	if (!why && !blk_up())
		why = "setup-after-hostile";
	if (!why)
		why = blk_pattern(PATTERN_B, PATTERN_SECTORS);
	if (!why && !dev.irqs)
		why = "no-interrupts";
	vdev_reset(&dev);
	result("vblk", why,
	       "transport=%s capacity=%lu serial=%s hostile=%u answered=%u resets=%u lost=%u "
	       "irqs=%u config_irqs=%u",
	       vdev_transport(&dev), capacity, serial[0] ? serial : "-", h.cases, h.answered,
	       h.resets, h.lost, dev.irqs, dev.config_irqs);
}

/* ---- virtio-rng ---- */

static bool rng_up(void)
{
	const char *why;
	u64 offered;

	if (!vdev_begin(&dev, 0, &offered, &why) || !vdev_queue(&dev, 0, &qmem[0], &why))
		return false;
	vdev_go(&dev);
	return !(vdev_status(&dev) & VS_NEEDS_RESET);
}

/* len random bytes into p; the bytes the device wrote, or -1. */
static int rng_read(u8 *p, u32 len)
{
	struct vq *q = &dev.q[0];
	u32 id, l;

	vq_desc(q, 0, (u64)p, len, VRING_DESC_F_WRITE, 0);
	vq_publish(&dev, q, 0);
	return vq_wait(&dev, q, &id, &l, WAIT_S) == 1 ? (int)l : -1;
}

void check_vrng(void)
{
	struct hostile h = {0};
	const char *why = NULL;
	struct vq *q = &dev.q[0];
	int n1, n2;

	if (!start("vrng", VIRTIO_ID_RNG, rng_up))
		return;
	memset(buf, 0, 64);
	memset(buf2, 0, 64);
	n1 = rng_read(buf, 64);
	n2 = rng_read(buf2, 64);
	if (n1 <= 0 || n2 <= 0)
		why = "no-entropy";
	else if (!memcmp(buf, buf2, (u32)(n1 < n2 ? n1 : n2)))
		why = "same-bytes-twice";

	vq_desc(q, 0, (u64)buf, 64, 0, 0); /* nothing writable */
	vq_publish(&dev, q, 0);
	settle(&h, "readonly-buffer", q, rng_up, NULL);
	vq_desc(q, 0, OUTSIDE_RAM, 64, VRING_DESC_F_WRITE, 0);
	vq_publish(&dev, q, 0);
	settle(&h, "outside-ram", q, rng_up, NULL);
	vq_desc(q, 0, (u64)buf, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0); /* loop */
	vq_publish(&dev, q, 0);
	settle(&h, "loop", q, rng_up, NULL);
	if (!why)
		why = h.name;
	if (!why && rng_read(buf, 64) <= 0)
		why = "dead-after-hostile";
	if (!why && !dev.irqs)
		why = "no-interrupts";
	vdev_reset(&dev);
	result("vrng", why, "transport=%s bytes=%d hostile=%u answered=%u resets=%u irqs=%u",
	       vdev_transport(&dev), n1, h.cases, h.answered, h.resets, dev.irqs);
}

/* ---- virtio-net ---- */

#define NET_F_MAC 5
#define NET_F_STATUS 16
#define NET_F_CTRL_VQ 17
#define NET_F_CTRL_RX 18
#define NET_HDR 12 /* struct virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1
#define CTRLQ 2

struct net_hdr {
	u8 flags, gso_type;
	u16 hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

static u8 txbuf[2048] __attribute__((aligned(64)));
static struct net_hdr thdr;
static u8 mac[6];
static u64 net_features;

static void rx_post(u16 i)
{
	struct vq *q = &dev.q[RXQ];

	vq_desc(q, i, (u64)rxbuf[i], RX_BUF_SIZE, VRING_DESC_F_WRITE, 0);
	vq_publish(&dev, q, i);
}

/* Set up without receive buffers. */
static bool net_start(void)
{
	const char *why;
	u64 offered;

	if (!vdev_begin(&dev,
			1ULL << NET_F_MAC | 1ULL << NET_F_STATUS | 1ULL << NET_F_CTRL_VQ |
				1ULL << NET_F_CTRL_RX,
			&offered, &why))
		return false;
	net_features = offered;
	for (u16 i = 0; i < 3; i++)
		if (!vdev_queue(&dev, i, &qmem[i], &why))
			return false;
	vdev_go(&dev);
	return !(vdev_status(&dev) & VS_NEEDS_RESET);
}

static bool net_up(void)
{
	if (!net_start())
		return false;
	for (u16 i = 0; i < RX_BUFS; i++)
		rx_post(i);
	return !(vdev_status(&dev) & VS_NEEDS_RESET);
}

static const u8 gw_ip[4] = {10, 0, 2, 2}, my_ip[4] = {10, 0, 2, 15};

/* An ARP request for the gateway, in txbuf; its length. */
static u32 arp_request(void)
{
	u8 *f = txbuf;

	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	f[14] = 0, f[15] = 1;	 /* Ethernet */
	f[16] = 0x08, f[17] = 0; /* IPv4 */
	f[18] = 6, f[19] = 4;
	f[20] = 0, f[21] = 1; /* request */
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, my_ip, 4);
	memcpy(f + 38, gw_ip, 4);
	return 60;
}

/* Send one frame (header, then frame); false if the device did not take it. */
static bool tx(const struct net_hdr *h, u32 len)
{
	struct vq *q = &dev.q[TXQ];
	u32 id, l;

	thdr = *h;
	vq_desc(q, 0, (u64)&thdr, NET_HDR, VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, (u64)txbuf, len, 0, 0);
	vq_publish(&dev, q, 0);
	return vq_wait(&dev, q, &id, &l, WAIT_S) == 1;
}

/* Wait for the gateway's ARP reply among received frames (reposting buffers). */
static bool arp_reply(void)
{
	struct vq *q = &dev.q[RXQ];
	u32 id, len;

	for (int n = 0; n < 16; n++) {
		if (vq_wait(&dev, q, &id, &len, WAIT_S) != 1 || id >= RX_BUFS)
			return false;
		const u8 *f = rxbuf[id] + NET_HDR;
		bool ok = len >= NET_HDR + 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 &&
			  !memcmp(f + 28, gw_ip, 4) && !memcmp(f + 38, my_ip, 4) &&
			  !memcmp(f, mac, 6);

		rx_post((u16)id);
		if (ok)
			return true;
	}
	return false;
}

static bool arp_roundtrip(void)
{
	struct net_hdr h = {0};

	return tx(&h, arp_request()) && arp_reply();
}

/* A control command: class, command, data; the ack byte, or -1. */
static u8 ctrl_cmd[8], ctrl_ack;

static int ctrl(u8 cls, u8 cmd, const void *data, u32 len)
{
	struct vq *q = &dev.q[CTRLQ];
	u32 id, l;

	ctrl_cmd[0] = cls;
	ctrl_cmd[1] = cmd;
	memcpy(txbuf, data, len);
	ctrl_ack = 0xff;
	vq_desc(q, 0, (u64)ctrl_cmd, 2, VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, (u64)txbuf, len, VRING_DESC_F_NEXT, 2);
	vq_desc(q, 2, (u64)&ctrl_ack, 1, VRING_DESC_F_WRITE, 0);
	vq_publish(&dev, q, 0);
	return vq_wait(&dev, q, &id, &l, WAIT_S) == 1 ? ctrl_ack : -1;
}

static void net_hostile(struct hostile *h)
{
	struct vq *q = &dev.q[TXQ];
	struct net_hdr bad;

	/* frames: too short, too long, headers that lie */
	thdr = (struct net_hdr){0};
	vq_desc(q, 0, (u64)&thdr, NET_HDR, 0, 0); /* a header and no frame */
	vq_publish(&dev, q, 0);
	settle(h, "header-only", q, net_up, NULL);

	thdr = (struct net_hdr){0};
	vq_desc(q, 0, (u64)&thdr, NET_HDR, VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, (u64)txbuf, 5, 0, 0); /* a runt */
	vq_publish(&dev, q, 0);
	settle(h, "runt", q, net_up, NULL);

	itable[0] = (struct vring_desc){(u64)&thdr, NET_HDR, VRING_DESC_F_NEXT, 1};
	for (u16 i = 1; i < 40; i++) /* 39 x 2 KiB: larger than any frame */
		itable[i] = (struct vring_desc){(u64)buf, 2048, VRING_DESC_F_NEXT, (u16)(i + 1)};
	itable[39].flags = 0;
	vq_desc(q, 0, (u64)itable, 40 * 16, VRING_DESC_F_INDIRECT, 0);
	vq_publish(&dev, q, 0);
	settle(h, "oversized", q, net_up, NULL);

	arp_request();
	bad = (struct net_hdr){.flags = 1,
			       .gso_type = 1,
			       .gso_size = 1400,
			       .csum_start = 34,
			       .csum_offset = 16}; /* TSO that was never negotiated */
	h->cases++;
	if (tx(&bad, 60))
		h->answered++;
	else if (!h->name)
		h->name = "gso-lost";
	bad = (struct net_hdr){
		.flags = 1, .csum_start = 50, .csum_offset = 60}; /* past the frame */
	h->cases++;
	if (tx(&bad, 60))
		h->answered++;
	else if (!h->name)
		h->name = "csum-lost";
	bad = (struct net_hdr){.flags = 0x80};
	h->cases++;
	if (tx(&bad, 60))
		h->answered++;
	else if (!h->name)
		h->name = "flags-lost";

	/* descriptors */
	vq_desc(q, 0, (u64)&thdr, NET_HDR, VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, (u64)txbuf, 60, VRING_DESC_F_WRITE, 0); /* writable in a transmit chain */
	vq_publish(&dev, q, 0);
	settle(h, "writable-frame", q, net_up, NULL);

	vq_desc(q, 0, (u64)&thdr, NET_HDR, VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, OUTSIDE_RAM, 60, 0, 0);
	vq_publish(&dev, q, 0);
	settle(h, "outside-ram", q, net_up, NULL);

	vq_desc(q, 0, (u64)&thdr, NET_HDR, VRING_DESC_F_NEXT, 1);
	vq_desc(q, 1, (u64)txbuf, 60, VRING_DESC_F_NEXT, 0); /* a loop */
	vq_publish(&dev, q, 0);
	settle(h, "loop", q, net_up, NULL);

	/* receive buffers the device cannot use, ahead of the good ones */
	if (!net_start()) {
		if (!h->name)
			h->name = "setup-before-rx";
		return;
	}
	{
		struct vq *rq = &dev.q[RXQ];

		vq_desc(rq, RX_BUFS, (u64)rxbuf[0], 64, 0, 0); /* not writable */
		vq_publish(&dev, rq, RX_BUFS);
		vq_desc(rq, RX_BUFS + 1, OUTSIDE_RAM, RX_BUF_SIZE, VRING_DESC_F_WRITE, 0);
		vq_publish(&dev, rq, RX_BUFS + 1);
		vq_desc(rq, RX_BUFS + 2, (u64)rxbuf[0], 4, VRING_DESC_F_WRITE, 0); /* no room */
		vq_publish(&dev, rq, RX_BUFS + 2);
		for (u16 i = 0; i < RX_BUFS; i++)
			rx_post(i);
		h->cases += 3;
		/* the frame lands in a good buffer behind them, or the device wants a reset */
		if (tx(&(struct net_hdr){0}, arp_request())) {
			u32 id, len;
			bool got = false;

			for (int n = 0; n < 16 && !got; n++) {
				int r = vq_wait(&dev, rq, &id, &len, WAIT_S);

				if (r < 0) {
					h->resets++;
					got = net_up() && arp_roundtrip();
					break;
				}
				if (r == 0)
					break;
				if (id < RX_BUFS) {
					const u8 *f = rxbuf[id] + NET_HDR;

					got = len >= NET_HDR + 42 && f[12] == 0x08 && f[21] == 2;
					rx_post((u16)id);
				} else {
					h->answered++; /* a bad buffer given back */
				}
			}
			if (!got && !h->name)
				h->name = "rx-after-bad-buffers";
		} else if (!h->name) {
			h->name = "tx-before-bad-buffers";
		}
	}

	/* the control queue, when there is one */
	if (!(net_features & (1ULL << NET_F_CTRL_VQ)))
		return;
	q = &dev.q[CTRLQ];
	ctrl_cmd[0] = 0;
	vq_desc(q, 0, (u64)ctrl_cmd, 1, 0, 0); /* a command with no ack */
	vq_publish(&dev, q, 0);
	settle(h, "ctrl-no-ack", q, net_up, NULL);
	h->cases++;
	if (ctrl(99, 0, "x", 1) == 1) /* no such class: VIRTIO_NET_ERR */
		h->answered++;
	else if (!h->name)
		h->name = "ctrl-unknown-class";
	{
		u32 huge[2] = {1000000, 0}; /* a MAC table longer than its buffer */

		h->cases++;
		if (ctrl(1, 0, huge, 8) == 1)
			h->answered++;
		else if (!h->name)
			h->name = "ctrl-mac-table";
	}
}

void check_vnet(void)
{
	struct hostile h = {0};
	const char *why = NULL;
	u16 status = 0;

	if (!start("vnet", VIRTIO_ID_NET, net_up))
		return;
	for (int i = 0; i < 6; i++)
		mac[i] = vdev_cfg8(&dev, (u32)i);
	if (net_features & (1ULL << NET_F_STATUS))
		status = vdev_cfg16(&dev, 6);
	if (!(status & 1))
		why = "link-down";
	if (!why && !arp_roundtrip())
		why = "no-arp-reply";
	if (!why && (net_features & (1ULL << NET_F_CTRL_RX))) {
		u8 on = 1;

		if (ctrl(0, 0, &on, 1) != 0) /* RX_PROMISC on */
			why = "ctrl-promisc";
	}
	if (!why) {
		net_hostile(&h);
		why = h.name;
	}
	if (!why && !arp_roundtrip())
		why = "no-arp-reply-after-hostile";
	if (!why && !dev.irqs)
		why = "no-interrupts";
	vdev_reset(&dev);
	result("vnet", why,
	       "transport=%s mac=%02x:%02x:%02x:%02x:%02x:%02x hostile=%u answered=%u resets=%u "
	       "lost=%u irqs=%u",
	       vdev_transport(&dev), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], h.cases,
	       h.answered, h.resets, h.lost, dev.irqs);
}
