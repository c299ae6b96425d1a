#include "virtio.h"

#include "acpi.h"
#include "guest.h"

#define MMIO_MAGIC 0x000
#define MMIO_VERSION 0x004
#define MMIO_DEVICE_ID 0x008
#define MMIO_DEVICE_FEATURES 0x010
#define MMIO_DEVICE_FEATURES_SEL 0x014
#define MMIO_DRIVER_FEATURES 0x020
#define MMIO_DRIVER_FEATURES_SEL 0x024
#define MMIO_QUEUE_SEL 0x030
#define MMIO_QUEUE_NUM_MAX 0x034
#define MMIO_QUEUE_NUM 0x038
#define MMIO_QUEUE_READY 0x044
#define MMIO_QUEUE_NOTIFY 0x050
#define MMIO_STATUS 0x070
#define MMIO_QUEUE_DESC_LOW 0x080
#define MMIO_QUEUE_DESC_HIGH 0x084
#define MMIO_QUEUE_AVAIL_LOW 0x090
#define MMIO_QUEUE_AVAIL_HIGH 0x094
#define MMIO_QUEUE_USED_LOW 0x0a0
#define MMIO_QUEUE_USED_HIGH 0x0a4
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define POOL_SIZE (8ULL << 20)
#define POOL_ALIGN (2ULL << 20)
static uint8_t *pool;
static uint64_t pool_used;

/* The pool is RAM just above the guest image (checked against the e820 map), not .bss, so
 * that the image's init_size stays small and scenarios without virtio run in little memory. */
static void pool_init(void)
{
	uint64_t start = ((uint64_t)(uintptr_t)_end + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);

	for (unsigned i = 0; i < bootinfo.nr_e820; i++) {
		const struct guest_e820 *e = &bootinfo.e820[i];

		if (e->type == 1 && start >= e->addr && start + POOL_SIZE <= e->addr + e->size) {
			pool = (uint8_t *)(uintptr_t)start;
			return;
		}
	}
	printk("guest: no %lu MiB of RAM above the image for buffers\n", (uint64_t)(POOL_SIZE >> 20));
	guest_exit(GUEST_EXIT_CRASH);
}

void *galloc(uint64_t size)
{
	void *p;

	if (!pool)
		pool_init();
	size = (size + 4095) & ~4095ULL;
	if (pool_used + size > POOL_SIZE) {
		printk("guest: out of pool memory\n");
		guest_exit(GUEST_EXIT_CRASH);
	}
	p = pool + pool_used;
	pool_used += size;
	memset(p, 0, size);
	return p;
}

void galloc_reset(void)
{
	pool_used = 0;
}

uint32_t vmmio_read(const struct gdev *d, unsigned off)
{
	return *(volatile uint32_t *)(d->base + off);
}

void vmmio_write(const struct gdev *d, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(d->base + off) = v;
}

/* "virtio_mmio.device=<size>@<base>:<irq>" (size may carry a K/M suffix). */
unsigned virtio_discover(uintptr_t *bases, unsigned *irqs, unsigned max)
{
	static const char key[] = "virtio_mmio.device=";
	const char *p = bootinfo.cmdline;
	unsigned n = 0;

	while ((p = strstr_guest(p, key)) && n < max) {
		const char *at, *colon, *end;
		uint64_t base, irq;

		p += sizeof(key) - 1;
		end = p;
		while (*end && *end != ' ')
			end++;
		at = p;
		while (at < end && *at != '@')
			at++;
		colon = at;
		while (colon < end && *colon != ':')
			colon++;
		if (at < end && colon < end && parse_u64(at + 1, (size_t)(colon - at - 1), &base) &&
		    parse_u64(colon + 1, (size_t)(end - colon - 1), &irq)) {
			bases[n] = (uintptr_t)base;
			irqs[n] = (unsigned)irq;
			n++;
		}
		p = end;
	}
	return n;
}

/* Devices announced in the DSDT as LNRO0005 (what ACPI kernels use). */
static unsigned virtio_discover_acpi(uintptr_t *bases, unsigned *irqs, unsigned max)
{
	static struct platform p;
	unsigned n = 0;

	if (!platform_discover(&p, false) || !p.acpi)
		return 0;
	for (unsigned i = 0; i < p.nr_devs && n < max; i++) {
		if (strncmp(p.devs[i].hid, "LNRO0005", 8) || !p.devs[i].mem_len)
			continue;
		bases[n] = (uintptr_t)p.devs[i].mem_base;
		irqs[n] = (unsigned)p.devs[i].irq;
		n++;
	}
	return n;
}

bool virtio_find(uint32_t device_id, unsigned nth, struct gdev *dev)
{
	uintptr_t bases[16];
	unsigned irqs[16], n = virtio_discover(bases, irqs, 16);

	if (n == 0)
		n = virtio_discover_acpi(bases, irqs, 16);

	for (unsigned i = 0; i < n; i++) {
		struct gdev d = { .base = bases[i], .irq = irqs[i] };

		if (vmmio_read(&d, MMIO_MAGIC) != 0x74726976 || vmmio_read(&d, MMIO_VERSION) != 2)
			continue;
		d.device_id = vmmio_read(&d, MMIO_DEVICE_ID);
		if (d.device_id != device_id)
			continue;
		if (nth-- == 0) {
			*dev = d;
			return true;
		}
	}
	return false;
}

bool virtio_has(const struct gdev *d, unsigned bit)
{
	return d->features & (1ULL << bit);
}

bool virtio_negotiate(struct gdev *d, uint64_t wanted)
{
	uint64_t offered;

	vmmio_write(d, MMIO_STATUS, 0);
	vmmio_write(d, MMIO_STATUS, S_ACK);
	vmmio_write(d, MMIO_STATUS, S_ACK | S_DRIVER);
	vmmio_write(d, MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vmmio_read(d, MMIO_DEVICE_FEATURES);
	vmmio_write(d, MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vmmio_read(d, MMIO_DEVICE_FEATURES) << 32;
	if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
		printk("virtio: device at 0x%lx is not VERSION_1\n", (uint64_t)d->base);
		return false;
	}
	d->features = offered & (wanted | (1ULL << VIRTIO_F_VERSION_1));
	vmmio_write(d, MMIO_DRIVER_FEATURES_SEL, 0);
	vmmio_write(d, MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	vmmio_write(d, MMIO_DRIVER_FEATURES_SEL, 1);
	vmmio_write(d, MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	vmmio_write(d, MMIO_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(vmmio_read(d, MMIO_STATUS) & S_FEATURES_OK)) {
		printk("virtio: device refused features 0x%lx\n", d->features);
		return false;
	}
	return true;
}

bool virtio_setup_queue(struct gdev *d, unsigned qi, uint16_t size)
{
	struct gvq *q = &d->vqs[qi];
	uint32_t max;
	uint8_t *mem;

	if (qi >= sizeof(d->vqs) / sizeof(d->vqs[0]))
		return false;

	vmmio_write(d, MMIO_QUEUE_SEL, qi);
	max = vmmio_read(d, MMIO_QUEUE_NUM_MAX);
	if (max == 0 || vmmio_read(d, MMIO_QUEUE_READY)) {
		printk("virtio: queue %u unavailable\n", qi);
		return false;
	}
	if (size > max)
		size = (uint16_t)max;
	if (size > GVQ_MAX)
		size = GVQ_MAX;
	memset(q, 0, sizeof(*q));
	q->dev = d;
	q->index = qi;
	q->num = size;
	/* desc (16 n), avail (6 + 2 n), used (6 + 8 n) in one allocation, each aligned. */
	mem = galloc(16 * (uint64_t)size + 4096 + 6 + 8 * (uint64_t)size + 4096);
	q->desc = (struct gdesc *)mem;
	q->avail = (volatile uint16_t *)(mem + 16 * size);
	q->used = mem + ((16 * (uint64_t)size + 6 + 2 * (uint64_t)size + 4095) & ~4095ULL);
	for (uint16_t i = 0; i < size; i++)
		q->desc[i].next = (uint16_t)(i + 1);
	q->nr_free = size;
	vmmio_write(d, MMIO_QUEUE_NUM, size);
	vmmio_write(d, MMIO_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)q->desc);
	vmmio_write(d, MMIO_QUEUE_DESC_HIGH, (uint32_t)((uint64_t)(uintptr_t)q->desc >> 32));
	vmmio_write(d, MMIO_QUEUE_AVAIL_LOW, (uint32_t)(uintptr_t)q->avail);
	vmmio_write(d, MMIO_QUEUE_AVAIL_HIGH, (uint32_t)((uint64_t)(uintptr_t)q->avail >> 32));
	vmmio_write(d, MMIO_QUEUE_USED_LOW, (uint32_t)(uintptr_t)q->used);
	vmmio_write(d, MMIO_QUEUE_USED_HIGH, (uint32_t)((uint64_t)(uintptr_t)q->used >> 32));
	vmmio_write(d, MMIO_QUEUE_READY, 1);
	if (qi + 1 > d->nr_vqs)
		d->nr_vqs = qi + 1;
	return vmmio_read(d, MMIO_QUEUE_READY) == 1;
}

bool virtio_reuse_queue(struct gdev *d, unsigned qi)
{
	struct gvq *q = &d->vqs[qi];

	if (qi >= d->nr_vqs || !q->num)
		return false;
	q->free_head = 0;
	q->nr_free = q->num;
	q->avail_idx = q->last_used = q->kicked_at = 0;
	for (uint16_t i = 0; i < q->num; i++)
		q->desc[i].next = (uint16_t)(i + 1);
	memset((void *)q->avail, 0, 6 + 2 * (uint64_t)q->num);
	memset((void *)q->used, 0, 6 + 8 * (uint64_t)q->num);
	vmmio_write(d, MMIO_QUEUE_SEL, qi);
	vmmio_write(d, MMIO_QUEUE_NUM, q->num);
	vmmio_write(d, MMIO_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)q->desc);
	vmmio_write(d, MMIO_QUEUE_DESC_HIGH, (uint32_t)((uint64_t)(uintptr_t)q->desc >> 32));
	vmmio_write(d, MMIO_QUEUE_AVAIL_LOW, (uint32_t)(uintptr_t)q->avail);
	vmmio_write(d, MMIO_QUEUE_AVAIL_HIGH, (uint32_t)((uint64_t)(uintptr_t)q->avail >> 32));
	vmmio_write(d, MMIO_QUEUE_USED_LOW, (uint32_t)(uintptr_t)q->used);
	vmmio_write(d, MMIO_QUEUE_USED_HIGH, (uint32_t)((uint64_t)(uintptr_t)q->used >> 32));
	vmmio_write(d, MMIO_QUEUE_READY, 1);
	return vmmio_read(d, MMIO_QUEUE_READY) == 1;
}

void virtio_driver_ok(struct gdev *d)
{
	vmmio_write(d, MMIO_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static uint16_t alloc_desc(struct gvq *q)
{
	uint16_t i = q->free_head;

	q->free_head = q->desc[i].next;
	q->nr_free--;
	return i;
}

int gvq_add(struct gvq *q, const struct gbuf *bufs, unsigned n, bool indirect)
{
	uint16_t head, prev = 0, i;

	if (n == 0)
		return -1;
	indirect = indirect && virtio_has(q->dev, VIRTIO_RING_F_INDIRECT_DESC) && n > 1;
	if (q->nr_free < (indirect ? 1 : n))
		return -1;
	if (indirect) {
		struct gdesc *t = galloc(16 * (uint64_t)n);

		for (unsigned k = 0; k < n; k++)
			t[k] = (struct gdesc){ (uint64_t)(uintptr_t)bufs[k].addr, bufs[k].len,
					       (uint16_t)((bufs[k].write ? VRING_DESC_F_WRITE : 0) |
							  (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
					       (uint16_t)(k + 1) };
		head = alloc_desc(q);
		q->desc[head].addr = (uint64_t)(uintptr_t)t;
		q->desc[head].len = 16 * n;
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->indirect[head] = t;
	} else {
		head = alloc_desc(q);
		i = head;
		for (unsigned k = 0; k < n; k++) {
			if (k) {
				i = alloc_desc(q);
				q->desc[prev].next = i;
			}
			q->desc[i].addr = (uint64_t)(uintptr_t)bufs[k].addr;
			q->desc[i].len = bufs[k].len;
			q->desc[i].flags = (uint16_t)((bufs[k].write ? VRING_DESC_F_WRITE : 0) |
						      (k + 1 < n ? VRING_DESC_F_NEXT : 0));
			prev = i;
		}
		q->indirect[head] = NULL;
	}
	q->avail[2 + q->avail_idx % q->num] = head;
	/* Descriptors and the ring entry before the index that publishes them. */
	wmb();
	q->avail_idx++;
	q->avail[1] = q->avail_idx;
	return head;
}

void gvq_kick(struct gvq *q)
{
	bool notify;

	/* Our avail->idx store must be visible before we read the device's suppression state. */
	mb();
	if (virtio_has(q->dev, VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t event = *(volatile uint16_t *)(q->used + 4 + 8 * (uint64_t)q->num);

		notify = (uint16_t)(q->avail_idx - event - 1) < (uint16_t)(q->avail_idx - q->kicked_at);
	} else {
		notify = !(*(volatile uint16_t *)q->used & 1);
	}
	q->kicked_at = q->avail_idx;
	if (notify)
		vmmio_write(q->dev, MMIO_QUEUE_NOTIFY, q->index);
}

static void free_chain(struct gvq *q, uint16_t head)
{
	uint16_t i = head;

	for (;;) {
		uint16_t flags = q->desc[i].flags, next = q->desc[i].next;

		q->desc[i].next = q->free_head;
		q->free_head = i;
		q->nr_free++;
		if (!(flags & VRING_DESC_F_NEXT) || (flags & VRING_DESC_F_INDIRECT))
			break;
		i = next;
	}
}

bool gvq_get(struct gvq *q, uint16_t *head, uint32_t *len)
{
	uint16_t used_idx = *(volatile uint16_t *)(q->used + 2);
	volatile uint8_t *e;

	if (used_idx == q->last_used)
		return false;
	__asm__ volatile("" ::: "memory"); /* read the element after the index (x86: in order) */
	e = q->used + 4 + 8 * (uint64_t)(q->last_used % q->num);
	*head = (uint16_t)*(volatile uint32_t *)e;
	*len = *(volatile uint32_t *)(e + 4);
	q->last_used++;
	/* Ask to be told about the next completion (we poll, but behave like a driver would). */
	if (virtio_has(q->dev, VIRTIO_RING_F_EVENT_IDX))
		q->avail[2 + q->num] = q->last_used;
	if (*head < q->num)
		free_chain(q, *head);
	return true;
}

bool gvq_wait(struct gvq *q, uint16_t *head, uint32_t *len, unsigned long spins)
{
	while (spins--) {
		if (gvq_get(q, head, len))
			return true;
		(void)inb(0x80); /* ~8 µs: lets the I/O thread run without spinning on memory */
	}
	return false;
}
