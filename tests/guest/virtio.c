/* SPDX-License-Identifier: MIT */
/* The test guest's virtio driver (see virtio.h). */
#include "virtio.h"

/* ---- MMIO of every width ---- */

static inline u8 rd8(u64 a)
{
	return *(volatile u8 *)a;
}

static inline u16 rd16(u64 a)
{
	return *(volatile u16 *)a;
}

static inline void wr8(u64 a, u8 v)
{
	*(volatile u8 *)a = v;
}

static inline void wr16(u64 a, u16 v)
{
	*(volatile u16 *)a = v;
}

/* ---- PCI configuration (mechanism #1) ---- */

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_COMMAND 0x04
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_VNDR 0x09
#define PCI_CAP_MSIX 0x11
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_OFF 0x400

static u32 pci_addr(u8 slot, u32 reg)
{
	return 0x80000000u | (u32)slot << 11 | (reg & 0xfc);
}

static u32 pci_read32(u8 slot, u32 reg)
{
	u32 v;

	__asm__ volatile("outl %0, %1" : : "a"(pci_addr(slot, reg)), "Nd"((u16)0xcf8));
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"((u16)0xcfc));
	return v;
}

static void pci_write32(u8 slot, u32 reg, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(pci_addr(slot, reg)), "Nd"((u16)0xcf8));
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"((u16)0xcfc));
}

static u8 pci_read8(u8 slot, u32 reg)
{
	return (u8)(pci_read32(slot, reg) >> (8 * (reg & 3)));
}

static void pci_write16(u8 slot, u32 reg, u16 v)
{
	u32 w = pci_read32(slot, reg);
	u32 shift = 8 * (reg & 2);

	pci_write32(slot, reg, (w & ~(0xffffu << shift)) | (u32)v << shift);
}

static bool find_pci(struct vdev *d, u32 device_id)
{
	for (u8 slot = 1; slot < 32; slot++) {
		u32 id = pci_read32(slot, 0);
		u64 bar;

		if ((id & 0xffff) != PCI_VENDOR_VIRTIO || (id >> 16) != 0x1040 + device_id)
			continue;
		memset(d, 0, sizeof(*d));
		d->transport = VT_PCI;
		d->device_id = device_id;
		d->slot = slot;
		bar = pci_read32(slot, PCI_BAR0);
		if ((bar & 0x6) == 0x4) /* 64-bit */
			bar |= (u64)pci_read32(slot, PCI_BAR0 + 4) << 32;
		d->base = bar & ~0xfULL;
		if (!d->base || !phys_map(d->base, 0x8000))
			return false;
		/* Memory decoding and bus mastering (DMA); INTx off: MSI-X is used. */
		pci_write32(slot, PCI_COMMAND, PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
		if (!(pci_read32(slot, PCI_COMMAND) >> 16 & 0x10)) /* status: capability list */
			return false;				   /* no capability list */
		for (u8 p = pci_read8(slot, PCI_CAP_PTR); p; p = pci_read8(slot, p + 1u)) {
			u8 cap = pci_read8(slot, p);

			if (cap == PCI_CAP_MSIX) {
				u32 t = pci_read32(slot, p + 4u);

				d->msix_cap = p;
				d->msix_n = (u16)((pci_read32(slot, p) >> 16 & 0x7ff) + 1);
				d->msix_table = d->base + (t & ~7u); /* BIR 0 only */
			} else if (cap == PCI_CAP_VNDR) {
				u8 type = pci_read8(slot, p + 3u);
				u64 at = d->base + pci_read32(slot, p + 8u);

				if (type == 1)
					d->common = at;
				else if (type == 2) {
					d->notify = at;
					d->notify_mult = pci_read32(slot, p + 16u);
				} else if (type == 3)
					d->isr = at;
				else if (type == 4)
					d->devcfg = at;
			}
		}
		return d->common && d->notify && d->isr && d->msix_cap;
	}
	return false;
}

/* ---- virtio-mmio devices from the ACPI DSDT ---- */

#define MMIO_MAGIC 0x74726976
#define MMIO_VERSION 0x004
#define MMIO_DEVICE_ID 0x008
#define MMIO_DEV_FEATURES 0x010
#define MMIO_DEV_FEATURES_SEL 0x014
#define MMIO_DRV_FEATURES 0x020
#define MMIO_DRV_FEATURES_SEL 0x024
#define MMIO_QUEUE_SEL 0x030
#define MMIO_QUEUE_NUM_MAX 0x034
#define MMIO_QUEUE_NUM 0x038
#define MMIO_QUEUE_READY 0x044
#define MMIO_QUEUE_NOTIFY 0x050
#define MMIO_INT_STATUS 0x060
#define MMIO_INT_ACK 0x064
#define MMIO_STATUS 0x070
#define MMIO_QUEUE_DESC 0x080
#define MMIO_QUEUE_DRIVER 0x090
#define MMIO_QUEUE_DEVICE 0x0a0
#define MMIO_CONFIG 0x100

static bool table_ok(u64 at, u32 *len)
{
	u8 hdr[8];

	if (!phys_read(hdr, at, 8))
		return false;
	*len = hdr[4] | hdr[5] << 8 | hdr[6] << 16 | (u32)hdr[7] << 24;
	return *len >= 36 && *len < (1u << 20) && phys_map(at, *len);
}

/* The DSDT, through the RSDP the boot information gives. */
static bool find_dsdt(u64 *at, u32 *len)
{
	u64 rsdp = boot.acpi_rsdp, xsdt, fadt = 0;
	u32 xlen, flen;

	if (!rsdp || !phys_map(rsdp, 36) || memcmp(phys_ptr(rsdp), "RSD PTR ", 8))
		return false;
	memcpy(&xsdt, (u8 *)phys_ptr(rsdp) + 24, 8);
	if (!table_ok(xsdt, &xlen) || memcmp(phys_ptr(xsdt), "XSDT", 4))
		return false;
	for (u32 off = 36; off + 8 <= xlen; off += 8) {
		u64 t;

		memcpy(&t, (u8 *)phys_ptr(xsdt) + off, 8);
		if (table_ok(t, &flen) && !memcmp(phys_ptr(t), "FACP", 4)) {
			fadt = t;
			break;
		}
	}
	if (!fadt || flen < 148)
		return false;
	memcpy(at, (u8 *)phys_ptr(fadt) + 140, 8); /* X_DSDT */
	if (!*at)
		memcpy(at, (u8 *)phys_ptr(fadt) + 40, 4);
	return table_ok(*at, len) && !memcmp(phys_ptr(*at), "DSDT", 4);
}

/*
 * Each virtio-mmio device's _CRS is a Memory32Fixed of one page followed by
 * an Extended Interrupt: found by their byte patterns, then checked by the
 * register page's magic value.
 */
static bool find_mmio(struct vdev *d, u32 device_id)
{
	u64 dsdt;
	u32 len;

	if (!find_dsdt(&dsdt, &len))
		return false;
	const u8 *a = phys_ptr(dsdt);

	for (u32 i = 36; i + 12 + 9 <= len; i++) {
		u32 base, size, gsi;

		if (a[i] != 0x86 || a[i + 1] != 9 || a[i + 2] != 0)
			continue;
		memcpy(&base, a + i + 4, 4);
		memcpy(&size, a + i + 8, 4);
		if (size != 0x1000 || a[i + 12] != 0x89 || a[i + 13] != 6 || a[i + 14] != 0)
			continue;
		memcpy(&gsi, a + i + 17, 4);
		if (mmio_read32(base) != MMIO_MAGIC || mmio_read32(base + MMIO_VERSION) != 2 ||
		    mmio_read32(base + MMIO_DEVICE_ID) != device_id)
			continue;
		memset(d, 0, sizeof(*d));
		d->transport = VT_MMIO;
		d->device_id = device_id;
		d->base = base;
		d->gsi = gsi;
		return gsi < 24;
	}
	return false;
}

bool vdev_find(struct vdev *d, u32 device_id, int want)
{
	if (want != VT_MMIO && find_pci(d, device_id))
		return true;
	return want != VT_PCI && find_mmio(d, device_id);
}

const char *vdev_transport(const struct vdev *d)
{
	return d->transport == VT_PCI ? "pci" : "mmio";
}

/* ---- interrupts ---- */

#define VEC_CONFIG 0x50
#define VEC_QUEUE 0x51 /* + queue index */
#define VEC_MMIO 0x58
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define REDTBL_LEVEL 0x8000
#define REDTBL_MASKED 0x10000
#define SVR_ENABLE 0x100
#define LVT_MASKED 0x10000

/* The device the handlers count for (one at a time). */
static struct vdev *irq_dev;

static void msix_irq(u8 vector)
{
	struct vdev *d = irq_dev;

	if (!d)
		return;
	if (vector == VEC_CONFIG)
		d->config_irqs++;
	else if (vector - VEC_QUEUE < d->nq)
		d->q[vector - VEC_QUEUE].irqs++;
	d->irqs++;
}

static void mmio_irq(u8 vector)
{
	struct vdev *d = irq_dev;
	u32 s;

	if (!d)
		return;
	/* Acknowledge before the EOI: the line is level-triggered. */
	s = mmio_read32(d->base + MMIO_INT_STATUS);
	mmio_write32(d->base + MMIO_INT_ACK, s);
	if (s & 1)
		for (u16 i = 0; i < d->nq; i++)
			d->q[i].irqs++;
	if (s & 2)
		d->config_irqs++;
	d->irqs++;
}

static void irqs_on(struct vdev *d)
{
	const struct mp_info *mp = mptable_get();

	outb(0x21, 0xff); /* the 8259s stay out of it */
	outb(0xa1, 0xff);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
	irq_dev = d;
	if (d->transport == VT_PCI) {
		irq_set_handler(VEC_CONFIG, msix_irq);
		for (u16 i = 0; i < VDEV_MAX_QUEUES; i++)
			irq_set_handler((u8)(VEC_QUEUE + i), msix_irq);
		/* Enable MSI-X (message control bit 15). */
		pci_write16(d->slot, d->msix_cap + 2u,
			    (u16)((pci_read32(d->slot, d->msix_cap) >> 16) | 0x8000));
	} else {
		d->ioapic = mp->found && mp->ioapic_found ? mp->ioapic_addr : IOAPIC_DEFAULT_BASE;
		irq_set_handler(VEC_MMIO, mmio_irq);
		/* Level-triggered, active high, as the DSDT says; to the BSP. */
		ioapic_write(d->ioapic, IOAPIC_REDTBL(d->gsi) + 1, (u32)lapic_id() << 24);
		ioapic_write(d->ioapic, IOAPIC_REDTBL(d->gsi), VEC_MMIO | REDTBL_LEVEL);
	}
	sti();
}

static void irqs_off(struct vdev *d)
{
	cli();
	if (d->transport == VT_PCI && d->msix_cap)
		pci_write16(d->slot, d->msix_cap + 2u,
			    (u16)((pci_read32(d->slot, d->msix_cap) >> 16) & ~0x8000u));
	else if (d->transport == VT_MMIO && d->ioapic)
		ioapic_write(d->ioapic, IOAPIC_REDTBL(d->gsi), REDTBL_MASKED);
	irq_dev = NULL;
}

/* MSI-X table entry v: fixed delivery of vector to this CPU, unmasked. */
static void msix_entry(struct vdev *d, u16 v, u8 vector)
{
	u64 e = d->msix_table + 16u * v;

	mmio_write32(e + 0, 0xfee00000u | (u32)lapic_id() << 12);
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, vector);
	mmio_write32(e + 12, 0);
}

/* ---- status, features, queues ---- */

u8 vdev_status(struct vdev *d)
{
	return d->transport == VT_PCI ? rd8(d->common + 0x14)
				      : (u8)mmio_read32(d->base + MMIO_STATUS);
}

void vdev_set_status(struct vdev *d, u8 s)
{
	if (d->transport == VT_PCI)
		wr8(d->common + 0x14, s);
	else
		mmio_write32(d->base + MMIO_STATUS, s);
}

static u32 dev_features(struct vdev *d, u32 sel)
{
	if (d->transport == VT_PCI) {
		mmio_write32(d->common + 0x00, sel);
		return mmio_read32(d->common + 0x04);
	}
	mmio_write32(d->base + MMIO_DEV_FEATURES_SEL, sel);
	return mmio_read32(d->base + MMIO_DEV_FEATURES);
}

static void drv_features(struct vdev *d, u32 sel, u32 v)
{
	if (d->transport == VT_PCI) {
		mmio_write32(d->common + 0x08, sel);
		mmio_write32(d->common + 0x0c, v);
	} else {
		mmio_write32(d->base + MMIO_DRV_FEATURES_SEL, sel);
		mmio_write32(d->base + MMIO_DRV_FEATURES, v);
	}
}

bool vdev_reset(struct vdev *d)
{
	irqs_off(d);
	vdev_set_status(d, 0);
	for (int i = 0; i < 1000; i++)
		if (vdev_status(d) == 0)
			return true;
	return false;
}

bool vdev_begin(struct vdev *d, u64 want, u64 *offered, const char **why)
{
	u64 f;

	if (!vdev_reset(d)) {
		*why = "reset-stuck";
		return false;
	}
	d->nq = 0;
	vdev_set_status(d, VS_ACKNOWLEDGE);
	vdev_set_status(d, VS_ACKNOWLEDGE | VS_DRIVER);
	f = dev_features(d, 0) | (u64)dev_features(d, 1) << 32;
	*offered = f;
	if (!(f & (1ULL << VIRTIO_F_VERSION_1))) {
		*why = "not-modern";
		return false;
	}
	/* Indirect tables are offered by every glue device: take them, so that
	 * the hostile checks reach the rules for them. */
	want = (want | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_INDIRECT_DESC) & f;
	drv_features(d, 0, (u32)want);
	drv_features(d, 1, (u32)(want >> 32));
	vdev_set_status(d, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK);
	if (!(vdev_status(d) & VS_FEATURES_OK)) {
		*why = "features-refused";
		return false;
	}
	return true;
}

bool vdev_queue(struct vdev *d, u16 i, struct vq_mem *mem, const char **why)
{
	struct vq *q = &d->q[i];
	u64 desc = (u64)mem->desc, avail = (u64)&mem->avail, used = (u64)&mem->used;

	memset(mem, 0, sizeof(*mem));
	memset(q, 0, sizeof(*q));
	q->index = i;
	q->size = VQ_SIZE;
	q->mem = mem;
	if (d->transport == VT_PCI) {
		wr16(d->common + 0x16, i);
		if (rd16(d->common + 0x18) < VQ_SIZE) {
			*why = "queue-too-small";
			return false;
		}
		wr16(d->common + 0x18, VQ_SIZE);
		/* 64-bit fields as two dwords, as Linux writes them */
		mmio_write32(d->common + 0x20, (u32)desc);
		mmio_write32(d->common + 0x24, (u32)(desc >> 32));
		mmio_write32(d->common + 0x28, (u32)avail);
		mmio_write32(d->common + 0x2c, (u32)(avail >> 32));
		mmio_write32(d->common + 0x30, (u32)used);
		mmio_write32(d->common + 0x34, (u32)(used >> 32));
		msix_entry(d, (u16)(i + 1), (u8)(VEC_QUEUE + i));
		wr16(d->common + 0x1a, (u16)(i + 1));
		if (rd16(d->common + 0x1a) != i + 1) {
			*why = "no-msix-vector";
			return false;
		}
		wr16(d->common + 0x1c, 1);
		if (rd16(d->common + 0x1c) != 1) {
			*why = "queue-refused";
			return false;
		}
		if (rd16(d->common + 0x1e) != i) {
			*why = "notify-off-not-index"; /* what vdev_notify() assumes */
			return false;
		}
	} else {
		mmio_write32(d->base + MMIO_QUEUE_SEL, i);
		if (mmio_read32(d->base + MMIO_QUEUE_NUM_MAX) < VQ_SIZE) {
			*why = "queue-too-small";
			return false;
		}
		mmio_write32(d->base + MMIO_QUEUE_NUM, VQ_SIZE);
		mmio_write32(d->base + MMIO_QUEUE_DESC, (u32)desc);
		mmio_write32(d->base + MMIO_QUEUE_DESC + 4, (u32)(desc >> 32));
		mmio_write32(d->base + MMIO_QUEUE_DRIVER, (u32)avail);
		mmio_write32(d->base + MMIO_QUEUE_DRIVER + 4, (u32)(avail >> 32));
		mmio_write32(d->base + MMIO_QUEUE_DEVICE, (u32)used);
		mmio_write32(d->base + MMIO_QUEUE_DEVICE + 4, (u32)(used >> 32));
		mmio_write32(d->base + MMIO_QUEUE_READY, 1);
		if (mmio_read32(d->base + MMIO_QUEUE_READY) != 1) {
			*why = "queue-refused";
			return false;
		}
	}
	if (i >= d->nq)
		d->nq = (u16)(i + 1);
	return true;
}

void vdev_go(struct vdev *d)
{
	if (d->transport == VT_PCI) {
		msix_entry(d, 0, VEC_CONFIG);
		wr16(d->common + 0x10, 0);
	}
	irqs_on(d);
	vdev_set_status(d, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
}

/* ---- device config space ---- */

static u64 cfg_at(struct vdev *d, u32 off)
{
	return (d->transport == VT_PCI ? d->devcfg : d->base + MMIO_CONFIG) + off;
}

u8 vdev_cfg8(struct vdev *d, u32 off)
{
	return rd8(cfg_at(d, off));
}

u16 vdev_cfg16(struct vdev *d, u32 off)
{
	return rd16(cfg_at(d, off));
}

u32 vdev_cfg32(struct vdev *d, u32 off)
{
	return mmio_read32(cfg_at(d, off));
}

u64 vdev_cfg64(struct vdev *d, u32 off)
{
	return vdev_cfg32(d, off) | (u64)vdev_cfg32(d, off + 4) << 32;
}

void vdev_cfg_write32(struct vdev *d, u32 off, u32 v)
{
	mmio_write32(cfg_at(d, off), v);
}

/* ---- queues ---- */

void vdev_notify(struct vdev *d, u32 index)
{
	if (d->transport == VT_PCI)
		/* queue_notify_off is the queue's index (vdev_queue checks it) */
		wr16(d->notify + (u64)index * d->notify_mult, (u16)index);
	else
		mmio_write32(d->base + MMIO_QUEUE_NOTIFY, index);
}

void vq_desc(struct vq *q, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
	struct vring_desc *d = &q->mem->desc[i % VQ_SIZE];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void vq_publish(struct vdev *d, struct vq *q, u16 head)
{
	q->mem->avail.ring[q->avail_idx % VQ_SIZE] = head;
	barrier(); /* x86 keeps stores in order: the entry before the index */
	q->avail_idx++;
	*(volatile u16 *)&q->mem->avail.idx = q->avail_idx;
	barrier();
	vdev_notify(d, q->index);
}

int vq_wait(struct vdev *d, struct vq *q, u32 *id, u32 *len, u32 seconds)
{
	volatile struct vring_used *u = &q->mem->used;
	struct deadline dl;
	u32 spins = 0;

	deadline_start(&dl, seconds);
	while (u->idx == q->last_used) {
		if (++spins % 256 == 0) {
			if (vdev_status(d) & VS_NEEDS_RESET)
				return -1;
			if (deadline_expired(&dl))
				return 0;
		}
		cpu_relax();
	}
	barrier();
	*id = u->ring[q->last_used % VQ_SIZE].id;
	*len = u->ring[q->last_used % VQ_SIZE].len;
	q->last_used++;
	return 1;
}
