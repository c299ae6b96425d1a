/* The split virtqueue (virtio 1.x, section 2.7), validated once per chain.
 *
 * A device pops a whole chain as host iovecs: readable buffers first, then writable ones. Every
 * rule the driver can break is checked here and nowhere else: descriptor index below the queue
 * size, chain length (direct + indirect) at most the queue size, indirect tables only when
 * negotiated, not nested and not combined with NEXT, a multiple of 16 bytes, total length without
 * overflow (a direct chain visits at most queue-size descriptors; a whole chain, indirect
 * included, holds at most VQ_MAX_SIZE buffers), no readable buffer after a writable one, every
 * buffer wholly inside guest RAM, the avail index never more than the queue size ahead, and no
 * head made available again while the device still holds it (popped, not yet pushed). A
 * violation makes vq_pop() return -EINVAL with a reason; the transport then sets
 * DEVICE_NEEDS_RESET.
 *
 * Because of the last rule a device never holds more chains than the queue has entries, never
 * the same one twice, and may keep per-head state (a request slot per head) safely. */
#ifndef MINIVMM_VIRTQUEUE_H
#define MINIVMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/errmsg.h"
#include "vmm/memory.h"

#define VQ_MAX_SIZE 256

struct vq_chain {
	uint16_t head;
	uint16_t nr_readable;      /* iov[0 .. nr_readable) */
	uint16_t nr_writable;      /* iov[nr_readable .. nr_readable + nr_writable) */
	uint32_t readable_len;
	uint32_t writable_len;
	struct iovec iov[VQ_MAX_SIZE];
};

struct virtqueue {
	/* Set by the transport while the driver configures the queue. */
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;            /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;             /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

	/* Run-time state. */
	bool enabled;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_used_valid;
	uint64_t held[VQ_MAX_SIZE / 64];   /* heads popped and not yet pushed */
	struct guest_mem *mem;
	void *desc;                /* host views of the rings, checked by vq_enable() */
	void *avail;
	void *used;
};

/* Back to the state after device reset (not enabled, indices 0, no head held). Keeps
 * num/addresses. */
void vq_reset(struct virtqueue *vq);

/* Checks the ring layout the driver gave (size a power of two up to VQ_MAX_SIZE, alignment,
 * all three areas inside RAM) and starts the queue. -EINVAL with *why on failure. */
int vq_enable(struct virtqueue *vq, struct guest_mem *mem, const char **why);

/* Pops the next available chain. 1: @c filled; 0: nothing available; -EINVAL: the driver broke
 * a rule (*why says which), the queue must not be used until reset. */
int vq_pop(struct virtqueue *vq, struct vq_chain *c, const char **why);

/* Returns a chain to the driver with @len bytes written into its writable part. -EINVAL (and
 * nothing written) when the device does not hold @head: never popped, pushed already, or
 * popped before a reset. */
int vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* The device wrote @len bytes into @c's writable part (directly, through its iovecs, or with
 * vq_chain_write): marks those pages for a migration (vmm/memory.h). vq_push() marks the ring
 * itself; the data is the device's to mark, once written, before it pushes the chain. */
void vq_mark_written(const struct virtqueue *vq, const struct vq_chain *c, size_t len);

/* After one or more vq_push(): whether the driver wants an interrupt now (used_event with
 * EVENT_IDX, else the NO_INTERRUPT flag). Never for a queue that is not enabled (reset). */
bool vq_should_interrupt(struct virtqueue *vq);

/* Tells the driver whether the device wants notifications (kicks). When enabling, returns true
 * if buffers became available meanwhile (so the caller processes them instead of sleeping). */
bool vq_set_notify(struct virtqueue *vq, bool enable);

/* Gives back the @n chains popped last (heads in pop order), as if never popped: a device that
 * pauses holding chains it has not filled returns them this way. -EINVAL if one is not held.
 * The avail ring is not consulted (the driver may have rewritten it). */
int vq_unpop(struct virtqueue *vq, const uint16_t *heads, unsigned n);

/* Snapshots. Save refuses (-EBUSY) a queue whose device still holds chains (pause first).
 * Load takes a queue after device reset, sets its configuration and indices from @node, and
 * enables it through vq_enable()'s checks, as a guest's QueueReady would; indices the saved
 * queue could not have had are refused. */
int vq_save(const struct virtqueue *vq, void *fdt, int node);
int vq_load(struct virtqueue *vq, struct guest_mem *mem, const void *fdt, int node,
	    struct errmsg *err);

/* Copies up to @len bytes from the chain's readable part starting at @offset; returns bytes. */
size_t vq_chain_read(const struct vq_chain *c, size_t offset, void *dst, size_t len);
/* Copies into the writable part starting at @offset; returns bytes written. */
size_t vq_chain_write(const struct vq_chain *c, size_t offset, const void *src, size_t len);

#endif
