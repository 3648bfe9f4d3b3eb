// SPDX-License-Identifier: MIT
/*
 * PCI bus 0: configuration space (mechanism #1 and ECAM), BARs, MSI-X.
 *
 * Locks: pci->lock orders configuration accesses and BAR (un)mapping;
 * dev->msix_lock the MSI-X table and pending bits, which vCPUs reach through
 * a BAR and device threads through glue_pci_dev_msix_notify(). A BAR access
 * never takes pci->lock, so unmapping a BAR (which waits for accesses in
 * progress) under it cannot deadlock; that is why the command register has
 * an atomic copy (devices look at it from BAR accesses and their threads).
 * Device hooks run without pci->lock, counted, so that detach can wait for
 * them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <glue/bus.h>
#include <glue/pci.h>

#include "core/err.h"
#include "core/util.h"

#define CFG_SIZE 256
#define ECAM_FN_SIZE 4096
#define NBARS 6
#define CAP_START 0x40
#define MSIX_ENTRY 16
#define MAX_IOEVENTS 64

struct bar {
	enum glue_pci_bar_type type;
	uint64_t size;
	uint64_t mapped_at; /* valid while mapped */
	bool mapped;
};

struct bar_ref {
	struct glue_pci_dev *dev;
	int bar;
};

/* A write notification in a BAR, passed to the bus while the BAR is mapped. */
struct ioevent {
	int bar;
	uint64_t offset;
	uint32_t len;
	int64_t datamatch;
	int fd;
	bool on;     /* the bus took it */
	uint64_t at; /* where, while on */
};

struct glue_pci_dev {
	struct glue_pci *pci;
	unsigned int slot;
	const struct glue_pci_dev_ops *ops;
	void *ctx;
	uint8_t cfg[CFG_SIZE], wmask[CFG_SIZE];
	uint16_t next_cap; /* may reach 256: full */
	uint8_t last_cap;
	struct bar bar[NBARS];
	struct bar_ref ref[NBARS];

	pthread_mutex_t msix_lock;
	uint16_t msix_nvec;
	int msix_bar;
	uint32_t msix_table, msix_pba;
	uint8_t msix_cap;	   /* config offset of the capability, 0 = none */
	bool msix_on, msix_masked; /* from message control, under msix_lock */
	uint32_t msix[GLUE_PCI_MAX_MSIX][4];
	uint64_t msix_pending;
	/* Per-vector MSI routes (fd -1: none), and which ones lag behind the table. */
	int route_fd[GLUE_PCI_MAX_MSIX];
	uint32_t route_id[GLUE_PCI_MAX_MSIX];
	uint64_t route_stale;

	struct ioevent ioev[MAX_IOEVENTS]; /* under pci->lock */
	unsigned int nioev;
	unsigned int hooks;	  /* device hooks running (under pci->lock) */
	_Atomic uint16_t command; /* cfg's command register, readable without the lock */
};

struct glue_pci {
	struct glue_bus *pio, *mmio;
	glue_pci_msi_fn msi;
	void *msi_ctx;
	const struct glue_pci_msi_routes *routes;
	void *routes_ctx;
	pthread_mutex_t lock;
	pthread_cond_t hooks_done; /* a device's hooks count went to 0 */
	uint32_t cf8;
	bool ports, ecam;
	uint64_t ecam_base;
	struct glue_pci_dev *slot[GLUE_PCI_MAX_DEVICES];
	struct glue_pci_dev host;
};

static uint32_t get_le(const uint8_t *p, uint32_t len)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint32_t v, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void header(struct glue_pci_dev *d, const struct glue_pci_dev_info *info, uint8_t type)
{
	put_le(d->cfg + PCI_VENDOR_ID, info->vendor_id, 2);
	put_le(d->cfg + PCI_DEVICE_ID, info->device_id, 2);
	d->cfg[PCI_REVISION_ID] = info->revision;
	put_le(d->cfg + PCI_CLASS_PROG, info->class_code, 3);
	d->cfg[PCI_HEADER_TYPE] = type;
	put_le(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id, 2);
	put_le(d->cfg + PCI_SUBSYSTEM_ID, info->subsystem_id, 2);
	d->cfg[PCI_INTERRUPT_PIN] = info->interrupt_pin;
	d->cfg[PCI_INTERRUPT_LINE] = info->interrupt_line;
	/* What a guest may change in the header. */
	put_le(d->wmask + PCI_COMMAND,
	       PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR |
		       PCI_COMMAND_INTX_DISABLE,
	       2);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->next_cap = CAP_START;
	for (int v = 0; v < GLUE_PCI_MAX_MSIX; v++)
		d->route_fd[v] = -1;
	pthread_mutex_init(&d->msix_lock, NULL);
}

int glue_pci_new(struct glue_pci **out, struct glue_bus *pio, struct glue_bus *mmio,
		 glue_pci_msi_fn msi, void *msi_ctx)
{
	/* A host bridge, as QEMU's generic PCIe host (1b36:0008) says it is. */
	static const struct glue_pci_dev_info host = {
		.vendor_id = 0x1b36,
		.device_id = 0x0008,
		.subsystem_vendor_id = 0x1af4,
		.subsystem_id = 0x1100,
		.class_code = 0x060000, /* bridge, host */
	};
	struct glue_pci *p;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return glue_err(-ENOMEM, "out of memory");
	p->pio = pio;
	p->mmio = mmio;
	p->msi = msi;
	p->msi_ctx = msi_ctx;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->hooks_done, NULL);
	p->host.pci = p;
	header(&p->host, &host, PCI_HEADER_TYPE_NORMAL);
	p->slot[0] = &p->host;
	*out = p;
	return 0;
}

/* ---- BARs ---- */

static uint64_t bar_addr(const struct glue_pci_dev *d, int i)
{
	uint64_t lo = get_le(d->cfg + PCI_BASE_ADDRESS_0 + 4 * i, 4);

	if (d->bar[i].type == GLUE_PCI_BAR_IO)
		return lo & PCI_BASE_ADDRESS_IO_MASK;
	if (d->bar[i].type == GLUE_PCI_BAR_MEM64)
		return (lo & PCI_BASE_ADDRESS_MEM_MASK) |
		       (uint64_t)get_le(d->cfg + PCI_BASE_ADDRESS_0 + 4 * (i + 1), 4) << 32;
	return lo & PCI_BASE_ADDRESS_MEM_MASK;
}

static void routes_free(struct glue_pci_dev *d)
{
	for (int v = 0; v < GLUE_PCI_MAX_MSIX; v++) {
		if (d->route_fd[v] >= 0)
			d->pci->routes->del(d->pci->routes_ctx, d->route_id[v], d->route_fd[v]);
		d->route_fd[v] = -1;
	}
}

static bool msix_in(const struct glue_pci_dev *d, int bar, uint64_t off, uint32_t len,
		    uint32_t start, uint32_t size)
{
	return d->msix_nvec && bar == d->msix_bar && off >= start && off - start < size &&
	       len <= size - (off - start);
}

void glue_pci_set_msi_routes(struct glue_pci *p, const struct glue_pci_msi_routes *ops, void *ctx)
{
	p->routes = ops;
	p->routes_ctx = ctx;
}

static uint64_t msix_addr(const struct glue_pci_dev *d, uint16_t v)
{
	return d->msix[v][0] | (uint64_t)d->msix[v][1] << 32;
}

/* Vector v's route eventfd, pointed at the table's message first; -1 when it
 * has none or the route cannot be set. msix_lock held. */
static int route_current_locked(struct glue_pci_dev *d, uint16_t v)
{
	struct glue_pci *p = d->pci;
	uint64_t bit = 1ULL << v;

	if (d->route_fd[v] < 0)
		return -1;
	if ((d->route_stale & bit) &&
	    p->routes->set(p->routes_ctx, d->route_id[v], msix_addr(d, v), d->msix[v][2]) < 0)
		return -1;
	d->route_stale &= ~bit;
	return d->route_fd[v];
}

static void msix_fire_locked(struct glue_pci_dev *d, uint16_t v)
{
	struct glue_pci *p = d->pci;
	int fd = route_current_locked(d, v);
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) == sizeof(one))
		return;
	if (p->msi)
		p->msi(p->msi_ctx, msix_addr(d, v), d->msix[v][2]);
}

/* After a mask changed: what is pending and no longer masked goes out. */
static void msix_flush_locked(struct glue_pci_dev *d)
{
	if (!d->msix_on || d->msix_masked)
		return;
	for (uint16_t v = 0; v < d->msix_nvec; v++) {
		if ((d->msix_pending & (1ULL << v)) &&
		    !(d->msix[v][3] & PCI_MSIX_ENTRY_CTRL_MASKBIT)) {
			d->msix_pending &= ~(1ULL << v);
			msix_fire_locked(d, v);
		}
	}
}

/* Whether what the guest wrote changed an entry's mask or message. */
static bool msix_table_access(struct glue_pci_dev *d, uint64_t off, void *data, uint32_t len,
			      bool write)
{
	bool changed = false;

	uint32_t entry = (uint32_t)(off / MSIX_ENTRY), word = (uint32_t)(off % MSIX_ENTRY) / 4;

	/* Dwords and qwords, aligned (what the spec allows drivers). */
	if ((len != 4 && len != 8) || off % len) {
		if (!write)
			memset(data, 0, len);
		return false;
	}
	pthread_mutex_lock(&d->msix_lock);
	for (uint32_t i = 0; i < len / 4; i++, word++) {
		uint32_t *w = &d->msix[entry][word];

		if (write) {
			uint32_t v = get_le((const uint8_t *)data + 4 * i, 4);

			if (word == 3)
				v &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
			else if (v != *w)
				d->route_stale |= 1ULL << entry; /* a new message */
			changed |= v != *w;
			*w = v;
		} else {
			put_le((uint8_t *)data + 4 * i, *w, 4);
		}
	}
	if (write)
		msix_flush_locked(d);
	pthread_mutex_unlock(&d->msix_lock);
	return changed;
}

static void bar_read(void *p, uint64_t off, void *data, uint32_t len)
{
	struct bar_ref *r = p;
	struct glue_pci_dev *d = r->dev;

	if (msix_in(d, r->bar, off, len, d->msix_table, d->msix_nvec * MSIX_ENTRY)) {
		msix_table_access(d, off - d->msix_table, data, len, false);
	} else if (msix_in(d, r->bar, off, len, d->msix_pba, 8)) {
		uint64_t pending;

		pthread_mutex_lock(&d->msix_lock);
		pending = d->msix_pending;
		pthread_mutex_unlock(&d->msix_lock);
		memcpy(data, (const uint8_t *)&pending + (off - d->msix_pba), len);
	} else if (d->ops && d->ops->bar_read) {
		d->ops->bar_read(d->ctx, r->bar, off, data, len);
	} else {
		memset(data, 0xff, len);
	}
}

static void bar_write(void *p, uint64_t off, const void *data, uint32_t len)
{
	struct bar_ref *r = p;
	struct glue_pci_dev *d = r->dev;

	if (msix_in(d, r->bar, off, len, d->msix_table, d->msix_nvec * MSIX_ENTRY)) {
		/* A BAR access: no pci->lock held, and detach waits for it. */
		if (msix_table_access(d, off - d->msix_table, (void *)data, len, true) && d->ops &&
		    d->ops->msix_changed)
			d->ops->msix_changed(d->ctx, glue_pci_dev_msix_enabled(d));
	} else if (msix_in(d, r->bar, off, len, d->msix_pba, 8))
		return; /* read-only */
	else if (d->ops && d->ops->bar_write)
		d->ops->bar_write(d->ctx, r->bar, off, data, len);
}

static const struct glue_bus_ops bar_ops = {
	.read = bar_read,
	.write = bar_write,
};

void glue_pci_dev_bar_access(struct glue_pci_dev *d, int bar, uint64_t off, void *data,
			     uint32_t len, bool write)
{
	if (bar < 0 || bar >= NBARS || d->bar[bar].type == GLUE_PCI_BAR_NONE ||
	    off >= d->bar[bar].size || len > d->bar[bar].size - off) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	if (write)
		bar_write(&d->ref[bar], off, data, len);
	else
		bar_read(&d->ref[bar], off, data, len);
}

static struct glue_bus *bar_bus(const struct glue_pci_dev *d, int i)
{
	return d->bar[i].type == GLUE_PCI_BAR_IO ? d->pci->pio : d->pci->mmio;
}

/* The BAR's write notifications follow it onto the bus and off; pci->lock held. */
static void bar_ioevents(struct glue_pci_dev *d, int i, bool on)
{
	struct glue_bus *bus = bar_bus(d, i);

	for (unsigned int k = 0; k < d->nioev; k++) {
		struct ioevent *e = &d->ioev[k];

		if (e->bar != i || e->on == on || !bus)
			continue;
		if (!on) {
			glue_bus_ioevent_del(bus, e->at, e->len, e->datamatch, e->fd);
			e->on = false;
		} else if (glue_bus_ioevent_add(bus, d->bar[i].mapped_at + e->offset, e->len,
						e->datamatch, e->fd) == 0) {
			e->on = true;
			e->at = d->bar[i].mapped_at + e->offset;
		}
	}
}

/* Where BAR i should be decoded now, or 0 for nowhere. */
static uint64_t bar_wanted(const struct glue_pci_dev *d, int i)
{
	const struct bar *b = &d->bar[i];
	uint16_t cmd = (uint16_t)get_le(d->cfg + PCI_COMMAND, 2);
	bool io = b->type == GLUE_PCI_BAR_IO;
	uint64_t addr = bar_addr(d, i);

	if (b->type == GLUE_PCI_BAR_NONE || !(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) ||
	    !addr || addr + b->size <= addr || (io && addr + b->size > 0x10000) ||
	    (b->type == GLUE_PCI_BAR_MEM32 && addr + b->size > 1ULL << 32))
		return 0;
	return addr;
}

/* Take the BARs that are no longer where they should be (all: every one)
 * off their bus; pci->lock held. */
static void bars_unmap(struct glue_pci_dev *d, bool all)
{
	for (int i = 0; i < NBARS; i++) {
		struct bar *b = &d->bar[i];

		if (b->mapped && (all || bar_wanted(d, i) != b->mapped_at)) {
			bar_ioevents(d, i, false);
			glue_bus_unregister(bar_bus(d, i), b->mapped_at);
			b->mapped = false;
		}
	}
}

/* Map the BARs that should be and are not; pci->lock held. */
static void bars_map(struct glue_pci_dev *d)
{
	for (int i = 0; i < NBARS; i++) {
		struct bar *b = &d->bar[i];
		uint64_t addr = bar_wanted(d, i);

		/* Overlapping something else: not reachable, as on real hardware
		 * (and tried again whenever any BAR moves). */
		if (addr && !b->mapped && bar_bus(d, i) &&
		    glue_bus_register(bar_bus(d, i), addr, b->size, &bar_ops, &d->ref[i],
				      "pci bar") == 0) {
			b->mapped = true;
			b->mapped_at = addr;
			bar_ioevents(d, i, true);
		}
	}
}

/*
 * Every device's BARs where the guest put them while decoding is on: all
 * unmapping first, so that a BAR refused because another was in its way
 * gets the place once that one moved. pci->lock held.
 */
static void update_bars(struct glue_pci *p)
{
	for (int s = 1; s < GLUE_PCI_MAX_DEVICES; s++)
		if (p->slot[s])
			bars_unmap(p->slot[s], false);
	for (int s = 1; s < GLUE_PCI_MAX_DEVICES; s++)
		if (p->slot[s])
			bars_map(p->slot[s]);
}

int glue_pci_dev_set_bar(struct glue_pci_dev *d, int i, enum glue_pci_bar_type type, uint64_t size,
			 uint64_t addr)
{
	uint32_t lo;

	if (i < 0 || i >= NBARS || (type == GLUE_PCI_BAR_MEM64 && i == NBARS - 1) ||
	    size & (size - 1) || size < (type == GLUE_PCI_BAR_IO ? 4 : 16) ||
	    (type == GLUE_PCI_BAR_MEM32 && size > (1ULL << 31)) ||
	    (type == GLUE_PCI_BAR_IO && size > 256) || addr % size)
		return glue_err(-EINVAL, "PCI BAR %d: bad type, size %#llx or address %#llx", i,
				(unsigned long long)size, (unsigned long long)addr);
	d->bar[i].type = type;
	d->bar[i].size = size;
	d->ref[i].dev = d;
	d->ref[i].bar = i;
	lo = (uint32_t)addr;
	if (type == GLUE_PCI_BAR_IO)
		lo |= PCI_BASE_ADDRESS_SPACE_IO;
	if (type == GLUE_PCI_BAR_MEM64)
		lo |= PCI_BASE_ADDRESS_MEM_TYPE_64;
	put_le(d->cfg + PCI_BASE_ADDRESS_0 + 4 * i, lo, 4);
	if (type == GLUE_PCI_BAR_MEM64) {
		put_le(d->cfg + PCI_BASE_ADDRESS_0 + 4 * (i + 1), (uint32_t)(addr >> 32), 4);
		d->bar[i + 1].type = GLUE_PCI_BAR_NONE;
	}
	return 0;
}

/* A write of v to BAR register i: address bits only; all-ones reads back the size. */
static void bar_reg_write(struct glue_pci_dev *d, int i, uint32_t v)
{
	uint8_t *reg = d->cfg + PCI_BASE_ADDRESS_0 + 4 * i;
	uint32_t flags;

	if (d->bar[i].type == GLUE_PCI_BAR_NONE) {
		/* The upper half of a 64-bit BAR takes the size's upper bits. */
		if (i > 0 && d->bar[i - 1].type == GLUE_PCI_BAR_MEM64)
			put_le(reg, v & (uint32_t)(~(d->bar[i - 1].size - 1) >> 32), 4);
		return;
	}
	flags = get_le(reg, 4) & (d->bar[i].type == GLUE_PCI_BAR_IO ? 0x3 : 0xf);
	put_le(reg, (v & (uint32_t) ~(d->bar[i].size - 1)) | flags, 4);
}

/* ---- capabilities ---- */

int glue_pci_dev_add_cap(struct glue_pci_dev *d, uint8_t id, const void *body, const void *wmask,
			 uint8_t len)
{
	uint16_t off = d->next_cap;

	if (len < 2 || off + len > CFG_SIZE)
		return glue_err(-ENOSPC, "PCI capability %#x does not fit", id);
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	memcpy(d->cfg + off + 2, body, len - 2u);
	if (wmask)
		memcpy(d->wmask + off + 2, wmask, len - 2u);
	if (d->last_cap)
		d->cfg[d->last_cap + 1] = (uint8_t)off;
	else
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	put_le(d->cfg + PCI_STATUS, get_le(d->cfg + PCI_STATUS, 2) | PCI_STATUS_CAP_LIST, 2);
	d->last_cap = (uint8_t)off;
	d->next_cap = (uint16_t)((off + len + 3) / 4 * 4);
	return off;
}

int glue_pci_dev_add_msix(struct glue_pci_dev *d, uint16_t nvec, int bar, uint32_t table_offset,
			  uint32_t pba_offset)
{
	uint8_t body[10], mask[10] = {0};
	int off;

	if (!d->pci->msi)
		return glue_err(-ENOTSUP, "MSI-X: this bus delivers no MSI messages");
	if (!nvec || nvec > GLUE_PCI_MAX_MSIX || bar < 0 || bar >= NBARS ||
	    d->bar[bar].type == GLUE_PCI_BAR_NONE || table_offset % 8 || pba_offset % 8 ||
	    table_offset + nvec * MSIX_ENTRY > d->bar[bar].size ||
	    pba_offset + 8 > d->bar[bar].size)
		return glue_err(-EINVAL, "MSI-X: %u vectors do not fit in BAR %d", nvec, bar);
	put_le(body, nvec - 1u, 2); /* message control: table size - 1 */
	put_le(body + 2, table_offset | (uint32_t)bar, 4);
	put_le(body + 6, pba_offset | (uint32_t)bar, 4);
	mask[1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	off = glue_pci_dev_add_cap(d, PCI_CAP_ID_MSIX, body, mask, sizeof(body) + 2);
	if (off < 0)
		return off;
	d->msix_cap = (uint8_t)off;
	d->msix_nvec = nvec;
	d->msix_bar = bar;
	d->msix_table = table_offset;
	d->msix_pba = pba_offset;
	/* Every vector starts masked (PCI spec). */
	for (uint16_t v = 0; v < nvec; v++)
		d->msix[v][3] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	d->route_stale = ~0ULL;
	/* A route per vector where the bus has them; all or none. */
	for (uint16_t v = 0; d->pci->routes && v < nvec; v++) {
		uint32_t id;
		int fd;

		if (d->pci->routes->add(d->pci->routes_ctx, &id, &fd) < 0) {
			routes_free(d); /* the ones made so far */
			break;
		}
		d->route_id[v] = id;
		d->route_fd[v] = fd;
	}
	return 0;
}

int glue_pci_dev_msix_irqfd(struct glue_pci_dev *d, uint16_t v)
{
	int fd = -1;

	if (v >= d->msix_nvec)
		return -1;
	pthread_mutex_lock(&d->msix_lock);
	if (d->msix_on && !d->msix_masked && !(d->msix[v][3] & PCI_MSIX_ENTRY_CTRL_MASKBIT))
		fd = route_current_locked(d, v);
	pthread_mutex_unlock(&d->msix_lock);
	return fd;
}

void glue_pci_dev_msix_clear_pending(struct glue_pci_dev *d)
{
	pthread_mutex_lock(&d->msix_lock);
	d->msix_pending = 0;
	pthread_mutex_unlock(&d->msix_lock);
}

int glue_pci_dev_add_ioevent(struct glue_pci_dev *d, int bar, uint64_t offset, uint32_t len,
			     int64_t datamatch, int fd)
{
	struct ioevent *e;

	if (bar < 0 || bar >= NBARS || d->bar[bar].type == GLUE_PCI_BAR_NONE ||
	    offset >= d->bar[bar].size || len > d->bar[bar].size - offset || !len)
		return glue_err(-EINVAL, "PCI: write notification outside BAR %d", bar);
	pthread_mutex_lock(&d->pci->lock);
	if (d->nioev == MAX_IOEVENTS) {
		pthread_mutex_unlock(&d->pci->lock);
		return glue_err(-ENOSPC, "PCI: more than %d write notifications", MAX_IOEVENTS);
	}
	e = &d->ioev[d->nioev++];
	*e = (struct ioevent){
		.bar = bar, .offset = offset, .len = len, .datamatch = datamatch, .fd = fd};
	if (d->bar[bar].mapped)
		bar_ioevents(d, bar, true);
	pthread_mutex_unlock(&d->pci->lock);
	return 0;
}

bool glue_pci_dev_msix_enabled(struct glue_pci_dev *d)
{
	bool on;

	pthread_mutex_lock(&d->msix_lock);
	on = d->msix_on;
	pthread_mutex_unlock(&d->msix_lock);
	return on;
}

int glue_pci_dev_msix_notify(struct glue_pci_dev *d, uint16_t v)
{
	if (v >= d->msix_nvec)
		return -EINVAL;
	pthread_mutex_lock(&d->msix_lock);
	if (!d->msix_on) {
		pthread_mutex_unlock(&d->msix_lock);
		return -ENODEV;
	}
	if (d->msix_masked || (d->msix[v][3] & PCI_MSIX_ENTRY_CTRL_MASKBIT))
		d->msix_pending |= 1ULL << v;
	else
		msix_fire_locked(d, v);
	pthread_mutex_unlock(&d->msix_lock);
	return 0;
}

/* ---- configuration space ---- */

/* Returns 1 or 0 when MSI-X was turned on or off (for msix_changed, which
 * the caller runs without pci->lock), -1 otherwise. */
static int dev_config_write(struct glue_pci_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	int changed = -1;

	bool bars = false, msix = false;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 4 * NBARS) {
			bars = true;
			continue;
		}
		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (data[i] & d->wmask[o]));
		if (o == PCI_COMMAND)
			bars = true;
		if (d->msix_cap && (o == d->msix_cap + 2u || o == d->msix_cap + 3u))
			msix = true;
	}
	atomic_store(&d->command, (uint16_t)get_le(d->cfg + PCI_COMMAND, 2));
	/* BAR registers: whole dwords only (what every OS writes). */
	if (off >= PCI_BASE_ADDRESS_0 && off < PCI_BASE_ADDRESS_0 + 4 * NBARS && len == 4 &&
	    off % 4 == 0)
		bar_reg_write(d, (int)(off - PCI_BASE_ADDRESS_0) / 4, get_le(data, 4));
	if (bars)
		update_bars(d->pci);
	if (msix) {
		uint16_t ctl = (uint16_t)get_le(d->cfg + d->msix_cap + 2, 2);
		bool was, was_masked, on;

		pthread_mutex_lock(&d->msix_lock);
		was = d->msix_on;
		was_masked = d->msix_masked;
		d->msix_on = ctl & PCI_MSIX_FLAGS_ENABLE;
		d->msix_masked = ctl & PCI_MSIX_FLAGS_MASKALL;
		on = d->msix_on;
		msix_flush_locked(d);
		if (was != on || was_masked != d->msix_masked)
			changed = on;
		pthread_mutex_unlock(&d->msix_lock);
	}
	return changed;
}

static struct glue_pci_dev *lookup(struct glue_pci *p, uint32_t bdf)
{
	/* Bus 0, function 0 only. */
	if (bdf >> 8 || (bdf & 7))
		return NULL;
	return p->slot[(bdf >> 3) & 31];
}

/* The stored bytes; the device (NULL: none there) for a hook, or NULL. */
/* One more hook call running for d (pci->lock held): detach waits for it. */
static struct glue_pci_dev *hook_get(struct glue_pci_dev *d)
{
	d->hooks++;
	return d;
}

static void hook_put(struct glue_pci_dev *d)
{
	struct glue_pci *p = d->pci;

	pthread_mutex_lock(&p->lock);
	if (--d->hooks == 0)
		pthread_cond_broadcast(&p->hooks_done);
	pthread_mutex_unlock(&p->lock);
}

/* The stored bytes. With hook: the device, its hook taken, when it has a
 * config_read hook to run; else NULL. */
static struct glue_pci_dev *config_read(struct glue_pci *p, uint32_t bdf, uint32_t off, void *data,
					uint32_t len, bool hook)
{
	struct glue_pci_dev *d, *h = NULL;

	pthread_mutex_lock(&p->lock);
	d = lookup(p, bdf);
	if (!d) {
		memset(data, 0xff, len);
	} else if (off >= CFG_SIZE || len > CFG_SIZE - off) {
		memset(data, 0, len); /* extended space: nothing there */
	} else {
		memcpy(data, d->cfg + off, len);
		if (hook && d->ops && d->ops->config_read)
			h = hook_get(d);
	}
	pthread_mutex_unlock(&p->lock);
	return h;
}

void glue_pci_config_read(struct glue_pci *p, uint32_t bdf, uint32_t off, void *data, uint32_t len)
{
	struct glue_pci_dev *d = config_read(p, bdf, off, data, len, true);

	if (d) {
		d->ops->config_read(d->ctx, off, data, len);
		hook_put(d);
	}
}

void glue_pci_config_write(struct glue_pci *p, uint32_t bdf, uint32_t off, const void *data,
			   uint32_t len)
{
	struct glue_pci_dev *d;
	int changed = -1;

	pthread_mutex_lock(&p->lock);
	d = lookup(p, bdf);
	if (d && off < CFG_SIZE && len <= CFG_SIZE - off) {
		changed = dev_config_write(d, off, data, len);
		d = d->ops && ((changed >= 0 && d->ops->msix_changed) || d->ops->config_write)
			    ? hook_get(d)
			    : NULL;
	} else {
		d = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (!d)
		return;
	if (changed >= 0 && d->ops->msix_changed)
		d->ops->msix_changed(d->ctx, changed);
	if (d->ops->config_write)
		d->ops->config_write(d->ctx, off, len);
	hook_put(d);
}

void glue_pci_dev_config_read(struct glue_pci_dev *d, uint32_t off, void *data, uint32_t len)
{
	config_read(d->pci, d->slot << 3, off, data, len, false); /* the stored bytes */
}

uint16_t glue_pci_dev_command(struct glue_pci_dev *d)
{
	return atomic_load(&d->command);
}

/* ---- 0xCF8/0xCFC ---- */

static void ports_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct glue_pci *p = ctx;
	uint32_t a;

	if (off == 0 && len == 4) {
		pthread_mutex_lock(&p->lock);
		put_le(data, p->cf8, 4);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (off < 4) {
		memset(data, 0xff, len); /* 0xCF9 (reset control) and odd accesses */
		return;
	}
	pthread_mutex_lock(&p->lock);
	a = p->cf8;
	pthread_mutex_unlock(&p->lock);
	if (!(a & 0x80000000u) || off - 4 + len > 4) {
		memset(data, 0xff, len);
		return;
	}
	glue_pci_config_read(p, (a >> 8) & 0xffff, (a & 0xfc) + (uint32_t)(off - 4), data, len);
}

static void ports_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct glue_pci *p = ctx;
	uint32_t a;

	if (off == 0 && len == 4) {
		pthread_mutex_lock(&p->lock);
		p->cf8 = get_le(data, 4) & 0x80fffffcu;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (off < 4)
		return;
	pthread_mutex_lock(&p->lock);
	a = p->cf8;
	pthread_mutex_unlock(&p->lock);
	if (!(a & 0x80000000u) || off - 4 + len > 4)
		return;
	glue_pci_config_write(p, (a >> 8) & 0xffff, (a & 0xfc) + (uint32_t)(off - 4), data, len);
}

static const struct glue_bus_ops ports_ops = {
	.read = ports_read,
	.write = ports_write,
};

static void ecam_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	uint32_t reg = (uint32_t)(off & (ECAM_FN_SIZE - 1));

	if (reg % len) {
		memset(data, 0xff, len);
		return;
	}
	glue_pci_config_read(ctx, (uint32_t)(off >> 12), reg, data, len);
}

static void ecam_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	uint32_t reg = (uint32_t)(off & (ECAM_FN_SIZE - 1));

	if (reg % len)
		return;
	glue_pci_config_write(ctx, (uint32_t)(off >> 12), reg, data, len);
}

static const struct glue_bus_ops ecam_ops = {
	.read = ecam_read,
	.write = ecam_write,
};

int glue_pci_attach_ports(struct glue_pci *p)
{
	int r;

	if (p->ports)
		return glue_err(-EBUSY, "PCI: ports attached already");
	r = glue_bus_register(p->pio, GLUE_PCI_CONFIG_PORT, 8, &ports_ops, p, "pci-config");
	if (!r)
		p->ports = true;
	return r;
}

int glue_pci_attach_ecam(struct glue_pci *p, uint64_t base)
{
	int r;

	if (p->ecam)
		return glue_err(-EBUSY, "PCI: ECAM attached already");
	if (base % GLUE_PCI_ECAM_SIZE)
		return glue_err(-EINVAL, "PCI: ECAM at %#llx is not 1 MiB aligned",
				(unsigned long long)base);
	r = glue_bus_register(p->mmio, base, GLUE_PCI_ECAM_SIZE, &ecam_ops, p, "pci-ecam");
	if (!r) {
		p->ecam = true;
		p->ecam_base = base;
	}
	return r;
}

/* ---- devices ---- */

int glue_pci_dev_new(struct glue_pci_dev **out, struct glue_pci *p,
		     const struct glue_pci_dev_info *info, const struct glue_pci_dev_ops *ops,
		     void *ctx, unsigned int *slot_out)
{
	struct glue_pci_dev *d;
	unsigned int slot;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return glue_err(-ENOMEM, "out of memory");
	d->pci = p;
	d->ops = ops;
	d->ctx = ctx;
	header(d, info, PCI_HEADER_TYPE_NORMAL);
	/* Found and taken in one go: two callers never get the same slot. */
	pthread_mutex_lock(&p->lock);
	for (slot = 1; slot < GLUE_PCI_MAX_DEVICES && p->slot[slot]; slot++)
		;
	if (slot < GLUE_PCI_MAX_DEVICES) {
		d->slot = slot;
		p->slot[slot] = d;
	}
	pthread_mutex_unlock(&p->lock);
	if (slot == GLUE_PCI_MAX_DEVICES) {
		pthread_mutex_destroy(&d->msix_lock);
		free(d);
		return glue_err(-ENOSPC, "PCI: all 31 slots are taken");
	}
	if (slot_out)
		*slot_out = slot;
	*out = d;
	return 0;
}

void glue_pci_dev_detach(struct glue_pci_dev *d)
{
	struct glue_pci *p;

	if (!d)
		return;
	p = d->pci;
	pthread_mutex_lock(&p->lock);
	if (p->slot[d->slot] == d) {
		p->slot[d->slot] = NULL;
		bars_unmap(d, true);
		update_bars(p); /* a BAR its own kept out may fit now */
	}
	/* Hooks that found it before are still running (never wait from one). */
	while (d->hooks)
		pthread_cond_wait(&p->hooks_done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void glue_pci_dev_free(struct glue_pci_dev *d)
{
	if (!d)
		return;
	glue_pci_dev_detach(d);
	routes_free(d);
	pthread_mutex_destroy(&d->msix_lock);
	free(d);
}

void glue_pci_free(struct glue_pci *p)
{
	if (!p)
		return;
	if (p->ports)
		glue_bus_unregister(p->pio, GLUE_PCI_CONFIG_PORT);
	if (p->ecam)
		glue_bus_unregister(p->mmio, p->ecam_base);
	pthread_mutex_destroy(&p->host.msix_lock);
	pthread_cond_destroy(&p->hooks_done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
