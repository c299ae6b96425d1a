/* The test guest's virtio-mmio driver core, following the spec's driver requirements the way
 * Linux's virtio_mmio/virtio_ring do: discovery from virtio_mmio.device= on the command line,
 * the status sequence, feature negotiation, split rings with event index and indirect tables.
 * Completion is by polling the used ring (the guest runs with interrupts off). */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

#define VIRTIO_STATUS_NEEDS_RESET 0x40

#define GVQ_MAX 256

struct gdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct gvq {
	struct gdev *dev;
	unsigned index;
	uint16_t num;
	struct gdesc *desc;
	volatile uint16_t *avail;     /* flags, idx, ring[num], used_event */
	volatile uint8_t *used;       /* flags, idx, ring[num] {u32 id, u32 len}, avail_event */
	uint16_t free_head, nr_free;
	uint16_t avail_idx;           /* shadow */
	uint16_t last_used;
	uint16_t kicked_at;           /* avail idx at the last notify */
	struct gdesc *indirect[GVQ_MAX];  /* per head: its indirect table, if any */
};

struct gdev {
	uintptr_t base;
	unsigned irq;
	uint32_t device_id;
	uint64_t features;            /* negotiated */
	unsigned nr_vqs;
	struct gvq vqs[5];            /* net with 2 pairs: rx0 tx0 rx1 tx1 ctrl */
};

struct gbuf {
	const void *addr;
	uint32_t len;
	bool write;                   /* device writes it */
};

/* Number of virtio_mmio.device= entries on the command line; fills @bases/@irqs. */
unsigned virtio_discover(uintptr_t *bases, unsigned *irqs, unsigned max);
/* The @nth device with @device_id, or false. Devices come from the command line, or when it
 * names none, from the DSDT (LNRO0005 devices), as Linux finds them. */
bool virtio_find(uint32_t device_id, unsigned nth, struct gdev *dev);

uint32_t vmmio_read(const struct gdev *d, unsigned off);
void vmmio_write(const struct gdev *d, unsigned off, uint32_t v);

/* Reset, ACK, DRIVER, negotiate (@wanted ∩ offered, VERSION_1 required), FEATURES_OK. */
bool virtio_negotiate(struct gdev *d, uint64_t wanted);
/* Sets up queue @q with up to @size entries (memory from the guest's pool). */
bool virtio_setup_queue(struct gdev *d, unsigned q, uint16_t size);
/* Sets queue @q up again in the memory it had (after a reset), with a fresh ring state. */
bool virtio_reuse_queue(struct gdev *d, unsigned q);
void virtio_driver_ok(struct gdev *d);
bool virtio_has(const struct gdev *d, unsigned bit);

/* Exposes a request; returns its head or -1 if the ring is full. @indirect uses one indirect
 * table (when negotiated). Does not notify. */
int gvq_add(struct gvq *q, const struct gbuf *bufs, unsigned n, bool indirect);
/* Notifies the device if it asked for it (event index) or did not suppress it. */
void gvq_kick(struct gvq *q);
/* Next completed request: head, bytes written; false if none yet. */
bool gvq_get(struct gvq *q, uint16_t *head, uint32_t *len);
/* Polls until a completion arrives or about @spins polls pass. */
bool gvq_wait(struct gvq *q, uint16_t *head, uint32_t *len, unsigned long spins);

/* Page-aligned memory from a static pool (never freed; a scenario uses a few MiB). */
void *galloc(uint64_t size);
/* Resets the pool (between independent phases of one scenario). */
void galloc_reset(void);

static inline void mb(void)
{
	__asm__ volatile("lock; addl $0, (%%rsp)" ::: "memory", "cc");
}
static inline void wmb(void)
{
	__asm__ volatile("" ::: "memory"); /* x86: stores are not reordered with stores */
}

#endif
