// SPDX-License-Identifier: MIT
/*
 * virtio-pci modern: the register structures in BAR 0, mapped onto the
 * common device part; interrupts by MSI-X vector, or by INTx with the ISR.
 *
 * Configuration space also has the PCI configuration access capability: a
 * window into BAR 0 for software that cannot map BARs (firmware).
 *
 * BAR 0 layout:
 *   0x0000 common configuration    0x3000 notifications (4 bytes per queue)
 *   0x1000 ISR status              0x4000 MSI-X table
 *   0x2000 device configuration    0x5000 MSI-X pending bits
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>

#include <glue/irq.h>
#include <glue/pci.h>
#include <glue/virtio_pci.h>

#include "core/err.h"
#include "core/util.h"

#define COMMON 0x0000
#define COMMON_SIZE 0x38
#define ISR 0x1000
#define DEVCFG 0x2000
#define NOTIFY 0x3000
#define NOTIFY_MULT 4
#define MSIX_TABLE 0x4000
#define MSIX_PBA 0x5000
#define VENDOR 0x1af4
#define ISR_QUEUE 0x1 /* VIRTIO_PCI_ISR_CONFIG is 0x2 */
#define MODERN_ID_BASE 0x1040

struct glue_virtio_pci {
	struct glue_virtio_dev *vdev;
	struct glue_pci_dev *pdev;
	struct glue_irq *irq;
	uint16_t nqueues, nvec;
	unsigned int slot;
	bool msix; /* the bus delivers MSI: the capability is there */

	/* registers of the common structure that are the transport's own */
	atomic_uint dev_sel, drv_sel;
	pthread_mutex_t lock; /* vectors and the ISR */
	uint16_t config_vec;
	uint16_t *queue_vec;
	uint8_t isr;
	uint8_t cfg_cap; /* config offset of VIRTIO_PCI_CAP_PCI_CFG */
};

/* ---- interrupts ---- */

static void intx_raise(struct glue_virtio_pci *t, uint8_t bit)
{
	/* The guest may have turned INTx off in the command register. */
	bool off = glue_pci_dev_command(t->pdev) & PCI_COMMAND_INTX_DISABLE;

	pthread_mutex_lock(&t->lock);
	t->isr |= bit;
	if (t->irq && !off)
		glue_irq_set(t->irq, 1);
	pthread_mutex_unlock(&t->lock);
}

static void fire(struct glue_virtio_pci *t, uint16_t vec, uint8_t isr_bit)
{
	if (t->msix && glue_pci_dev_msix_enabled(t->pdev)) {
		if (vec == VIRTIO_MSI_NO_VECTOR)
			return;
		/* -ENODEV: MSI-X was turned off meanwhile; INTx then, not nothing. */
		if (glue_pci_dev_msix_notify(t->pdev, vec) != -ENODEV)
			return;
	}
	intx_raise(t, isr_bit);
}

/* The vector the driver gave queue q (NO_VECTOR for none, or past the queues). */
static uint16_t queue_vector(struct glue_virtio_pci *t, uint16_t q)
{
	uint16_t vec;

	pthread_mutex_lock(&t->lock);
	vec = q < t->nqueues ? t->queue_vec[q] : VIRTIO_MSI_NO_VECTOR;
	pthread_mutex_unlock(&t->lock);
	return vec;
}

static void signal_queue(void *ctx, uint16_t q)
{
	struct glue_virtio_pci *t = ctx;

	fire(t, queue_vector(t, q), ISR_QUEUE);
}

static void signal_config(void *ctx)
{
	struct glue_virtio_pci *t = ctx;
	uint16_t vec;

	pthread_mutex_lock(&t->lock);
	vec = t->config_vec;
	pthread_mutex_unlock(&t->lock);
	fire(t, vec, VIRTIO_PCI_ISR_CONFIG);
}

/* The queue's vector's irqfd, for vhost: only while MSI-X delivers it unmasked. */
static int queue_irqfd(void *ctx, uint16_t q)
{
	struct glue_virtio_pci *t = ctx;
	uint16_t vec = queue_vector(t, q);

	if (!t->msix || vec == VIRTIO_MSI_NO_VECTOR)
		return -1;
	return glue_pci_dev_msix_irqfd(t->pdev, vec);
}

static const struct glue_virtio_transport_ops transport_ops = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
	.queue_irqfd = queue_irqfd,
};

/* ---- the common configuration structure ---- */

/* The whole structure as the driver would read it now. */
static void common_snapshot(struct glue_virtio_pci *t, uint8_t *s)
{
	struct glue_virtio_dev *v = t->vdev;
	uint32_t sel = glue_virtio_dev_queue_selected(v);
	uint16_t qvec;
	uint64_t a;

	memset(s, 0, COMMON_SIZE);
	pthread_mutex_lock(&t->lock);
	qvec = sel < t->nqueues ? t->queue_vec[sel] : VIRTIO_MSI_NO_VECTOR;
	memcpy(s + 0x10, &t->config_vec, 2);
	pthread_mutex_unlock(&t->lock);
	uint32_t ds = atomic_load(&t->dev_sel), gs = atomic_load(&t->drv_sel);
	uint32_t df = glue_virtio_dev_get_device_features(v, ds);
	uint32_t gf = glue_virtio_dev_get_driver_features(v, gs);
	uint16_t nq = t->nqueues, qs = glue_virtio_dev_queue_get_size(v);
	uint16_t en = glue_virtio_dev_queue_get_enable(v), qsel = (uint16_t)sel;

	memcpy(s + 0x00, &ds, 4);
	memcpy(s + 0x04, &df, 4);
	memcpy(s + 0x08, &gs, 4);
	memcpy(s + 0x0c, &gf, 4);
	memcpy(s + 0x12, &nq, 2);
	s[0x14] = glue_virtio_dev_get_status(v);
	s[0x15] = (uint8_t)glue_virtio_dev_config_generation(v);
	memcpy(s + 0x16, &qsel, 2);
	memcpy(s + 0x18, &qs, 2);
	memcpy(s + 0x1a, &qvec, 2);
	memcpy(s + 0x1c, &en, 2);
	memcpy(s + 0x1e, &qsel, 2); /* queue_notify_off: the queue's own index */
	a = glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DESC);
	memcpy(s + 0x20, &a, 8);
	a = glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DRIVER);
	memcpy(s + 0x28, &a, 8);
	a = glue_virtio_dev_queue_get_addr(v, GLUE_VIRTIO_AREA_DEVICE);
	memcpy(s + 0x30, &a, 8);
}

/* A vector the driver may choose: one of the table, or none. */
static uint16_t vector(const struct glue_virtio_pci *t, uint16_t v)
{
	return t->msix && v < t->nvec ? v : VIRTIO_MSI_NO_VECTOR;
}

static void set_addr_part(struct glue_virtio_dev *v, enum glue_virtio_area area, uint32_t off,
			  uint64_t val, uint32_t len)
{
	uint64_t a = glue_virtio_dev_queue_get_addr(v, area);

	if (len == 8)
		a = val;
	else if (off & 4)
		a = (a & 0xffffffffULL) | (val << 32);
	else
		a = (a & ~0xffffffffULL) | (val & 0xffffffffULL);
	glue_virtio_dev_queue_set_addr(v, area, a);
}

static void common_write(struct glue_virtio_pci *t, uint32_t off, uint64_t val, uint32_t len)
{
	struct glue_virtio_dev *v = t->vdev;
	uint32_t sel;

	/* Each field at its own width; the 64-bit addresses also as dword halves. */
	switch (off) {
	case 0x00:
		if (len == 4)
			atomic_store(&t->dev_sel, (uint32_t)val);
		break;
	case 0x08:
		if (len == 4)
			atomic_store(&t->drv_sel, (uint32_t)val);
		break;
	case 0x0c:
		if (len == 4)
			glue_virtio_dev_set_driver_features(v, atomic_load(&t->drv_sel),
							    (uint32_t)val);
		break;
	case 0x10:
		if (len == 2) {
			pthread_mutex_lock(&t->lock);
			t->config_vec = vector(t, (uint16_t)val);
			pthread_mutex_unlock(&t->lock);
		}
		break;
	case 0x14:
		if (len == 1) {
			glue_virtio_dev_set_status(v, (uint8_t)val);
			if (val == 0) {
				pthread_mutex_lock(&t->lock);
				t->config_vec = VIRTIO_MSI_NO_VECTOR;
				for (uint16_t i = 0; i < t->nqueues; i++)
					t->queue_vec[i] = VIRTIO_MSI_NO_VECTOR;
				t->isr = 0;
				if (t->irq)
					glue_irq_set(t->irq, 0);
				pthread_mutex_unlock(&t->lock);
				/* What was pending announced used buffers of queues now gone. */
				glue_pci_dev_msix_clear_pending(t->pdev);
				atomic_store(&t->dev_sel, 0);
				atomic_store(&t->drv_sel, 0);
			}
		}
		break;
	case 0x16:
		if (len == 2)
			glue_virtio_dev_queue_select(v, (uint16_t)val);
		break;
	case 0x18:
		if (len == 2)
			glue_virtio_dev_queue_set_size(v, (uint16_t)val);
		break;
	case 0x1a:
		if (len == 2) {
			sel = glue_virtio_dev_queue_selected(v);
			pthread_mutex_lock(&t->lock);
			if (sel < t->nqueues)
				t->queue_vec[sel] = vector(t, (uint16_t)val);
			pthread_mutex_unlock(&t->lock);
			glue_virtio_dev_irqfds_changed(v);
		}
		break;
	case 0x1c:
		if (len == 2)
			glue_virtio_dev_queue_set_enable(v, val & 1);
		break;
	case 0x20:
	case 0x24:
	case 0x28:
	case 0x2c:
	case 0x30:
	case 0x34:
		if (len == 4 || (len == 8 && !(off & 4)))
			set_addr_part(v,
				      off < 0x28   ? GLUE_VIRTIO_AREA_DESC
				      : off < 0x30 ? GLUE_VIRTIO_AREA_DRIVER
						   : GLUE_VIRTIO_AREA_DEVICE,
				      off, val, len);
		break;
	}
}

/* ---- BAR 0 ---- */

static void bar_read(void *ctx, int bar, uint64_t off, void *data, uint32_t len)
{
	struct glue_virtio_pci *t = ctx;

	memset(data, 0, len);
	if (off < COMMON + COMMON_SIZE) {
		uint8_t s[COMMON_SIZE];

		if (off + len > COMMON_SIZE)
			return;
		common_snapshot(t, s);
		memcpy(data, s + off, len);
	} else if (off >= ISR && off < ISR + 4) {
		/* Reading the ISR acknowledges the interrupt. */
		pthread_mutex_lock(&t->lock);
		if (off == ISR)
			*(uint8_t *)data = t->isr;
		t->isr = 0;
		if (t->irq)
			glue_irq_set(t->irq, 0);
		pthread_mutex_unlock(&t->lock);
	} else if (off >= DEVCFG && off < NOTIFY) {
		glue_virtio_dev_config_read(t->vdev, (uint32_t)(off - DEVCFG), data, len);
	}
}

static void bar_write(void *ctx, int bar, uint64_t off, const void *data, uint32_t len)
{
	struct glue_virtio_pci *t = ctx;
	uint64_t val = 0;

	if (len > 8)
		return;
	memcpy(&val, data, len);
	if (off < COMMON + COMMON_SIZE) {
		if (off % len == 0 && off + len <= COMMON_SIZE)
			common_write(t, (uint32_t)off, val, len);
	} else if (off >= DEVCFG && off < NOTIFY) {
		glue_virtio_dev_config_write(t->vdev, (uint32_t)(off - DEVCFG), data, len);
	} else if (off >= NOTIFY && off < NOTIFY + (uint64_t)NOTIFY_MULT * t->nqueues) {
		/* The queue is the one the address says (no NOTIFICATION_DATA). */
		glue_virtio_dev_notify(t->vdev, (uint32_t)((off - NOTIFY) / NOTIFY_MULT));
	}
}

/* ---- the configuration access capability (virtio 1.x, 4.1.4.9) ---- */

#define CFG_CAP_LEN 20 /* struct virtio_pci_cfg_cap */
#define CFG_DATA 16    /* pci_cfg_data within it */

/* Where the driver pointed the window: BAR 0, 1, 2 or 4 bytes, aligned, inside. */
static bool cfg_window(struct glue_virtio_pci *t, uint32_t *off, uint32_t *len)
{
	uint8_t cap[CFG_CAP_LEN];

	glue_pci_dev_config_read(t->pdev, t->cfg_cap, cap, sizeof(cap));
	memcpy(off, cap + 8, 4);
	memcpy(len, cap + 12, 4);
	return cap[4] == 0 && (*len == 1 || *len == 2 || *len == 4) && *off % *len == 0 &&
	       *off <= GLUE_VIRTIO_PCI_BAR_SIZE - *len;
}

/* Whether [off, off + len) of config space touches pci_cfg_data. */
static bool cfg_data_hit(const struct glue_virtio_pci *t, uint32_t off, uint32_t len)
{
	uint32_t data = t->cfg_cap + CFG_DATA;

	return t->cfg_cap && off < data + 4 && off + len > data;
}

static void cfg_write(void *ctx, uint32_t off, uint32_t len)
{
	struct glue_virtio_pci *t = ctx;
	uint32_t woff, wlen;
	uint8_t v[4];

	if (!cfg_data_hit(t, off, len) || !cfg_window(t, &woff, &wlen))
		return;
	glue_pci_dev_config_read(t->pdev, t->cfg_cap + CFG_DATA, v, sizeof(v));
	glue_pci_dev_bar_access(t->pdev, 0, woff, v, wlen, true);
}

static void cfg_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	struct glue_virtio_pci *t = ctx;
	uint32_t woff, wlen, base = t->cfg_cap + CFG_DATA;
	uint8_t v[4] = {0};

	if (!cfg_data_hit(t, off, len) || !cfg_window(t, &woff, &wlen))
		return;
	glue_pci_dev_bar_access(t->pdev, 0, woff, v, wlen, false);
	/* The bytes of pci_cfg_data this access covers, from the BAR. */
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= base && off + i < base + 4)
			((uint8_t *)data)[i] = v[off + i - base];
}

/* Masks, messages or MSI-X itself changed: a vhost path looks at its irqfds again. */
static void msix_changed(void *ctx, bool enabled)
{
	struct glue_virtio_pci *t = ctx;

	glue_virtio_dev_irqfds_changed(t->vdev);
}

static const struct glue_pci_dev_ops pci_ops = {
	.bar_read = bar_read,
	.bar_write = bar_write,
	.msix_changed = msix_changed,
	.config_write = cfg_write,
	.config_read = cfg_read,
};

/* PCI class for a virtio device type (what lspci shows). */
static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case 1:
		return 0x020000; /* network controller */
	case 2:
		return 0x018000; /* mass storage, other */
	case 3:
		return 0x078000; /* communication, other (console) */
	default:
		return 0x00ff00; /* unclassified */
	}
}

static int add_vcap(struct glue_pci_dev *p, uint8_t type, uint32_t offset, uint32_t length,
		    bool notify)
{
	uint8_t body[18] = {0};
	uint8_t len = notify ? 20 : 16;
	uint32_t mult = NOTIFY_MULT;

	body[0] = len; /* cap_len */
	body[1] = type;
	body[2] = 0; /* BAR 0 */
	memcpy(body + 6, &offset, 4);
	memcpy(body + 10, &length, 4);
	if (notify)
		memcpy(body + 14, &mult, 4);
	return glue_pci_dev_add_cap(p, PCI_CAP_ID_VNDR, body, NULL, len);
}

int glue_virtio_pci_new(struct glue_virtio_pci **out, const struct glue_virtio_device *dev,
			const struct glue_mem *mem, struct glue_pci *pci, uint64_t bar_addr,
			struct glue_irq *irq, uint32_t intx_gsi)
{
	struct glue_pci_dev_info info = {0};
	struct glue_virtio_pci *t;
	int r;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t && dev)
		t->queue_vec = calloc(dev->num_queues ? dev->num_queues : 1, sizeof(uint16_t));
	if (!t || !t->queue_vec || !dev) {
		if (t)
			free(t->queue_vec);
		free(t);
		if (dev && dev->ops && dev->ops->free)
			dev->ops->free(dev->ctx);
		return glue_err(dev ? -ENOMEM : -EINVAL, dev ? "out of memory" : "no device");
	}
	if (dev->config_size > MSIX_TABLE - DEVCFG - 0x1000 ||
	    (uint32_t)dev->num_queues * NOTIFY_MULT > MSIX_TABLE - NOTIFY ||
	    dev->num_queues + 1 > GLUE_PCI_MAX_MSIX) {
		free(t->queue_vec);
		free(t);
		if (dev->ops && dev->ops->free)
			dev->ops->free(dev->ctx);
		return glue_err(-EINVAL, "%s: too many queues or too large a config for virtio-pci",
				dev->name ? dev->name : "virtio");
	}
	t->irq = irq;
	t->nqueues = dev->num_queues;
	t->nvec = (uint16_t)(dev->num_queues + 1);
	t->config_vec = VIRTIO_MSI_NO_VECTOR;
	for (uint16_t i = 0; i < t->nqueues; i++)
		t->queue_vec[i] = VIRTIO_MSI_NO_VECTOR;
	pthread_mutex_init(&t->lock, NULL);
	r = glue_virtio_dev_new(&t->vdev, dev, mem, &transport_ops, t);
	if (r < 0) {
		pthread_mutex_destroy(&t->lock);
		free(t->queue_vec);
		free(t);
		return r;
	}
	info.vendor_id = VENDOR;
	info.device_id = (uint16_t)(MODERN_ID_BASE + dev->device_id);
	info.subsystem_vendor_id = VENDOR;
	info.subsystem_id = 0x1100;
	info.revision = 1; /* modern only */
	info.class_code = class_of(dev->device_id);
	info.interrupt_pin = irq ? 1 : 0;
	info.interrupt_line = (uint8_t)intx_gsi;
	r = glue_pci_dev_new(&t->pdev, pci, &info, &pci_ops, t, &t->slot);
	if (!r)
		r = glue_pci_dev_set_bar(t->pdev, 0, GLUE_PCI_BAR_MEM64, GLUE_VIRTIO_PCI_BAR_SIZE,
					 bar_addr);
	if (!r) {
		r = glue_pci_dev_add_msix(t->pdev, t->nvec, 0, MSIX_TABLE, MSIX_PBA);
		t->msix = r == 0;
		if (r == -ENOTSUP)
			r = 0; /* INTx only */
	}
	/* Notifications (16 bits, as Linux writes them) signal the queue's
	 * kick fd without an exit where the bus can; bar_write does the same
	 * for any other write. */
	for (uint16_t q = 0; !r && q < t->nqueues; q++)
		r = glue_pci_dev_add_ioevent(t->pdev, 0, NOTIFY + (uint64_t)q * NOTIFY_MULT, 2, -1,
					     glue_virtio_dev_kick_fd(t->vdev, q));
	if (!r)
		r = add_vcap(t->pdev, VIRTIO_PCI_CAP_COMMON_CFG, COMMON, COMMON_SIZE, false);
	if (r >= 0)
		r = add_vcap(t->pdev, VIRTIO_PCI_CAP_ISR_CFG, ISR, 4, false);
	if (r >= 0 && dev->config_size)
		r = add_vcap(t->pdev, VIRTIO_PCI_CAP_DEVICE_CFG, DEVCFG, dev->config_size, false);
	if (r >= 0)
		r = add_vcap(t->pdev, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY,
			     (uint32_t)t->nqueues * NOTIFY_MULT, true);
	if (r >= 0) {
		/* bar, offset, length and pci_cfg_data are the driver's to write */
		uint8_t body[CFG_CAP_LEN - 2] = {CFG_CAP_LEN, VIRTIO_PCI_CAP_PCI_CFG};
		uint8_t mask[CFG_CAP_LEN - 2] = {0};

		mask[2] = 0xff;
		memset(mask + 6, 0xff, 12);
		r = glue_pci_dev_add_cap(t->pdev, PCI_CAP_ID_VNDR, body, mask, CFG_CAP_LEN);
		if (r >= 0)
			t->cfg_cap = (uint8_t)r;
	}
	if (r < 0) {
		glue_virtio_pci_free(t);
		return r;
	}
	*out = t;
	return 0;
}

void glue_virtio_pci_free(struct glue_virtio_pci *t)
{
	if (!t)
		return;
	/* Off the bus first (no vCPU reaches the registers after this), then the
	 * device's threads stop, then nothing can ask for an MSI-X vector. */
	glue_pci_dev_detach(t->pdev);
	glue_virtio_dev_free(t->vdev);
	glue_pci_dev_free(t->pdev);
	pthread_mutex_destroy(&t->lock);
	free(t->queue_vec);
	free(t);
}

struct glue_virtio_dev *glue_virtio_pci_dev(struct glue_virtio_pci *t)
{
	return t->vdev;
}

unsigned int glue_virtio_pci_slot(const struct glue_virtio_pci *t)
{
	return t->slot;
}
