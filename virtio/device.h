/* A virtio device on the virtio-mmio transport: what device code implements and what it may
 * call. Transport logic (feature negotiation, the status state machine, queue setup, interrupts,
 * NEEDS_RESET) is written once in mmio.c; pause, save and load of the transport and its queues
 * once in transport_state.c. The transport joins the machine's device list and owns the device:
 * the list's destroy frees both. */
#ifndef MINIVMM_VIRTIO_DEVICE_H
#define MINIVMM_VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/queue.h"
#include "vmm/errmsg.h"
#include "vmm/evloop.h"

#define VIRTIO_MAX_QUEUES 16
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_SIZE 0x1000ULL
#define VIRTIO_MMIO_FIRST_IRQ 5
#define VIRTIO_MMIO_MAX_DEVICES 16
/* Chains a queue handler takes per call (one full ring). One that reaches it requeues its
 * queue and returns, so a guest that keeps an avail ring ahead (recycling chains from another
 * vCPU as fast as they come back) cannot hold the I/O thread: other devices, signals and
 * --timeout get their turn in between. */
#define VIRTIO_BATCH VQ_MAX_SIZE
/* A chain also counts one more for every VIRTIO_BATCH_UNIT bytes of buffers it holds, so a
 * call takes at most about VIRTIO_BATCH * VIRTIO_BATCH_UNIT = 64 MiB: chains of a few GiB
 * (descriptors may repeat the same RAM) done inline, by the sync engine or a file output,
 * would hold the I/O thread as long as 256 small ones cannot. */
#define VIRTIO_BATCH_UNIT (256u << 10)

struct machine;
struct vcpu;
struct virtio_dev;

struct virtio_dev_ops {
	const char *name;        /* "virtio-blk", for messages */
	uint32_t device_id;      /* VIRTIO_ID_* */
	/* Reads the device-specific configuration (bounds already checked against config_size). */
	void (*read_config)(struct virtio_dev *d, uint32_t offset, void *data, uint32_t len);
	/* Optional: the driver wrote configuration space. */
	void (*write_config)(struct virtio_dev *d, uint32_t offset, const void *data, uint32_t len);
	/* DRIVER_OK: the device may start. Returns 0 or -errno (then the device fails). */
	int (*activate)(struct virtio_dev *d);
	/* Reset by the driver: drop in-flight work, forget state. */
	void (*reset)(struct virtio_dev *d);
	/* Optional. Pause: finish what is in flight (a disk's requests completed) and start
	 * nothing new; it runs on the I/O thread without d->lock (it may wait for I/O), after the
	 * transport stopped taking kicks. Resume: take up work again (the transport then kicks
	 * every queue). Save/load: the device's own state beyond transport and queues, e.g. what
	 * its configuration space shows. Destroy: free the device (the transport is freed after). */
	int (*pause)(struct virtio_dev *d);
	void (*resume)(struct virtio_dev *d);
	int (*save)(struct virtio_dev *d, void *fdt, int node);
	int (*load)(struct virtio_dev *d, const void *fdt, int node, struct errmsg *err);
	void (*destroy)(void *priv);
	/* Optional: the backend, for the machine's description (format, size, MAC...). */
	int (*describe)(struct virtio_dev *d, void *fdt, int node);
	/* Queue @q has new buffers. Runs on the I/O thread with d->lock held. */
	void (*notify)(struct virtio_dev *d, unsigned q);
};

struct virtio_queue_kick {
	struct ev_handler ev;    /* eventfd: ioeventfd from KVM, or written by the transport */
	struct virtio_dev *dev;
	unsigned index;
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;
	struct machine *m;
	pthread_mutex_t lock;    /* transport state, queues, device state */
	unsigned index;          /* slot: base = VIRTIO_MMIO_BASE + index * 4 KiB */
	uint64_t base;
	uint32_t irq;
	uint32_t config_size;

	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t status;
	uint32_t interrupt_status;
	uint32_t config_generation;
	uint32_t generation;     /* bumped on reset: completions of older requests are dropped */
	bool broken;             /* NEEDS_RESET set: queues are not processed until reset */
	bool paused;             /* kicks wait; resume kicks every queue */
	unsigned reports;        /* rate limit for messages */

	unsigned nr_queues;
	struct virtqueue vqs[VIRTIO_MAX_QUEUES];
	struct virtio_queue_kick kicks[VIRTIO_MAX_QUEUES];
	int irq_fd;              /* irqfd */
};

/* Creates a device in virtio-mmio slot @slot (MMIO base VIRTIO_MMIO_BASE + slot * 4 KiB, IRQ
 * VIRTIO_MMIO_FIRST_IRQ + slot; the caller announces it): registers the MMIO range, an
 * ioeventfd per queue and the irqfd, adds the kick handlers to the event loop and the device to
 * the machine's device list as "virtio@<base>". */
int virtio_mmio_create(struct machine *m, unsigned slot, const struct virtio_dev_ops *ops,
		       void *priv, unsigned nr_queues, uint64_t features, uint32_t config_size,
		       struct virtio_dev **out) __attribute__((warn_unused_result));
/* For a device whose creation failed before the list owned it. */
void virtio_mmio_destroy(struct virtio_dev *d);

/* The MMIO handler (also called directly by unit tests). */
void virtio_mmio_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
		    bool is_write, void *opaque);

/* For device code (d->lock held): */
bool virtio_has_feature(const struct virtio_dev *d, unsigned bit);
/* Pops the next chain of queue @q, counting it in *@taken (NULL: not counted): 1, and 1 per
 * VIRTIO_BATCH_UNIT bytes of its buffers. 1: @c filled;
 * 0: nothing available; -EAGAIN: *@taken reached VIRTIO_BATCH, the queue's handler is
 * queued to run again and the caller must return (notifications stay off meanwhile);
 * -EINVAL: the driver broke a rule, the device has failed (reason logged). */
int virtio_pop(struct virtio_dev *d, unsigned q, struct vq_chain *c, unsigned *taken);
/* The guest broke a rule: set DEVICE_NEEDS_RESET, raise a config interrupt, log one line. */
void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Chains were returned on @q: interrupt the driver if it wants one. */
void virtio_dev_used(struct virtio_dev *d, unsigned q);
/* Configuration space changed: bump the generation, config interrupt. */
void virtio_dev_config_changed(struct virtio_dev *d);
/* Queues @q's kick handler to run on the I/O thread (e.g. to resume after backpressure). */
void virtio_dev_kick(struct virtio_dev *d, unsigned q);

#endif
