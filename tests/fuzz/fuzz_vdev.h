/* Device-level libFuzzer harness, shared by fuzz_virtio_{blk,net,console}.c: the input is a
 * driver program run against the REAL virtio-mmio register handler and the REAL device code
 * (and for blk, the real disk formats and I/O engines), with guest memory a malloc'd buffer
 * (tests/unit/vdrv.h), so ASan sees any access past it.
 *
 * Input: a header, then operations until the input ends.
 *   header: driver features (8 bytes, ANDed with what the device offers unless the last
 *           byte's top bit is set), one device-specific byte (configuration), then one byte
 *           per queue for its size (1 << (b % 9): 1 .. 256; b >= 0xf0: the raw value
 *           b - 0xf0, mostly invalid).
 *   ops:    one byte (opcode % number of ops), then its arguments:
 *     DESC q i addr16 len16 flags next  descriptor i of queue q (addr16: see fz_addr())
 *     PUBLISH q head                    head into the avail ring, avail idx + 1
 *     KICK q                            QueueNotify through the register, run the event loop
 *     RUN                               run the event loop (completions)
 *     RESET                             Status = 0, then the whole bring-up again
 *     REG off val32                     any register or config-space write
 *     MEM off16 len8 bytes              raw bytes anywhere in guest RAM (rings included)
 *     AVAIL_IDX q val16                 the avail index, raw
 *     REPEAT k n16                      the k operations that follow, n + 1 times
 *     CHAIN q head n (len16 w)*n        a chain of n fresh buffers, published
 *     STATUS v8                         a Status write (transitions, FAILED, reset)
 *     device ops (fz_dev_op)            requests, frames from the network, console input
 * Oracles: ASan/UBSan; libFuzzer's -timeout for hangs; and, until the program writes
 * registers or ring memory behind the harness's back, every used element must name a head
 * the driver offered and has not had back yet. That is checked as the device writes the
 * element (the devices' calls of vq_push() come here first: -Wl,--wrap=vq_push), not by
 * reading the used ring: a receive buffer the driver places over its own rings (an indirect
 * table the device filled with a frame can say so) lets the device's writes land there, and
 * the ring's memory then says nothing about what the device pushed. */
#ifndef MINIVMM_FUZZ_VDEV_H
#define MINIVMM_FUZZ_VDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/vdrv.h"

#define FZ_RAM (1ULL << 20)
#define FZ_MAX_OPS 1024          /* REPEAT included: bounds an input's work */
#ifndef FZ_RECREATE
#define FZ_RECREATE 1            /* inputs per device instance */
#endif

struct fz {
	/* Per input. */
	const uint8_t *p, *end;
	uint64_t features;
	uint8_t qbyte[VIRTIO_MAX_QUEUES];
	uint8_t dev_byte;
	bool oracle;
	unsigned ops;
	uint16_t outstanding[VIRTIO_MAX_QUEUES][VQ_MAX_SIZE];
	/* For as long as the device lives. */
	unsigned nq;
	struct vdrv v;
};

/* FZ_TRACE=1 in the environment: every operation and used element on stderr, to read what
 * a crashing input does (with FZ_FRESH=1). */
static inline bool fz_tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FZ_TRACE") != NULL;
	return on;
}
#define FZ_T(...) do { if (fz_tracing()) fprintf(stderr, "fz: " __VA_ARGS__); } while (0)

/* Implemented by each target. */
static int fz_dev_create(struct fz *f);          /* device on f->v.m; sets f->nq */
static void fz_dev_destroy(struct fz *f);
static void fz_dev_renew(struct fz *f);          /* between inputs on a live device */
static unsigned fz_dev_nops(void);               /* how many device-specific ops */
static void fz_dev_op(struct fz *f, unsigned op); /* op in [0, fz_dev_nops()) */

static inline uint8_t fz_u8(struct fz *f)
{
	return f->p < f->end ? *f->p++ : 0;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline unsigned fz_q(struct fz *f)
{
	return fz_u8(f) % f->nq;
}

/* Buffer addresses: mostly inside the buffer heap, a few at the edges of RAM and beyond. */
static inline uint64_t fz_addr(uint16_t a)
{
	if (a == 0xffff)
		return FZ_RAM - 8;                /* straddles the end of RAM */
	if (a == 0xfffe)
		return 1ULL << 40;                /* outside RAM */
	if (a == 0xfffd)
		return 0;                         /* the ring area */
	return VDRV_HEAP + ((uint64_t)a * 16) % (FZ_RAM - VDRV_HEAP);
}

static inline uint16_t fz_qsize(uint8_t b)
{
	return b >= 0xf0 ? (uint16_t)(b - 0xf0) : (uint16_t)(1u << (b % 9));
}

/* The driver's bring-up with the header's features and queue sizes. */
static inline void fz_bring_up(struct fz *f)
{
	uint64_t offered = 0;

	vdrv_wr(&f->v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vdrv_rd(&f->v, VIRTIO_MMIO_DEVICE_FEATURES);
	vdrv_wr(&f->v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vdrv_rd(&f->v, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vdrv_negotiate(&f->v, f->features >> 63 ? f->features & ~(1ULL << 63)
						: f->features & offered);
	for (unsigned q = 0; q < f->nq; q++)
		vdrv_queue(&f->v, q, fz_qsize(f->qbyte[q]));
	vdrv_driver_ok(&f->v);
	memset(f->outstanding, 0, sizeof(f->outstanding));
	f->oracle = true;
}

/* The input being run, for the push hook. */
static struct fz *fz_cur;

int __real_vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);
int __wrap_vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* Checks each element as the device pushes it, while the oracle holds. */
int __wrap_vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	struct fz *f = fz_cur;
	int ret = __real_vq_push(vq, head, len);
	unsigned q;

	if (!f || ret)
		return ret; /* refused by the queue (a head it does not hold): nothing written */
	q = (unsigned)(vq - f->v.dev->vqs);
	FZ_T("  push q%u head %u len %u\n", q, head, len);
	if (!f->oracle)
		return ret;
	if (q >= f->nq || head >= f->v.q[q].num || !f->outstanding[q][head])
		__builtin_trap(); /* a chain the driver never offered, or got back */
	f->outstanding[q][head]--;
	return ret;
}

/* Takes the used elements of every queue, as a driver would (checked as they were pushed). */
static inline void fz_reap(struct fz *f)
{
	for (unsigned q = 0; q < f->nq; q++) {
		struct vdrv_queue *vq = &f->v.q[q];
		uint32_t id, len;

		if (!vq->num)
			continue;
		while (vdrv_used(&f->v, q, &id, &len))
			FZ_T("  used q%u id %u len %u\n", q, id, len);
	}
}

static inline void fz_publish(struct fz *f, unsigned q, uint16_t head)
{
	if (!f->v.q[q].num)
		return;
	vdrv_publish(&f->v, q, head);
	if (head < VQ_MAX_SIZE && f->outstanding[q][head] < UINT16_MAX)
		f->outstanding[q][head]++;
}

static inline void fz_kick(struct fz *f, unsigned q)
{
	vdrv_wr(&f->v, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	vdrv_run(&f->v, 64);
}

/* Runs one operation starting at f->p. */
static inline void fz_op(struct fz *f)
{
	unsigned op = fz_u8(f), q;

	f->ops++;
	op %= 11 + fz_dev_nops();
	switch (op) {
	case 0: { /* DESC */
		uint16_t i, a, len, next;
		uint8_t flags;

		q = fz_q(f);
		i = fz_u8(f);
		a = fz_u16(f);
		len = fz_u16(f);
		flags = fz_u8(f);
		next = fz_u8(f);
		FZ_T("DESC q%u [%u] addr %#x len %u flags %u next %u\n", q, i, a, len, flags & 7, next);
		if (f->v.q[q].num)
			vdrv_desc(&f->v, q, i, fz_addr(a), len, flags & 7, next);
		break;
	}
	case 1: /* PUBLISH */
		q = fz_q(f);
		{
			uint8_t head = fz_u8(f);

			FZ_T("PUBLISH q%u head %u\n", q, head);
			fz_publish(f, q, head);
		}
		break;
	case 2: /* KICK */
		q = fz_q(f);
		FZ_T("KICK q%u\n", q);
		fz_kick(f, q);
		break;
	case 3: /* RUN */
		FZ_T("RUN\n");
		vdrv_run(&f->v, 64);
		break;
	case 4: /* RESET */
		FZ_T("RESET\n");
		vdrv_wr(&f->v, VIRTIO_MMIO_STATUS, 0);
		vdrv_run(&f->v, 64);
		fz_bring_up(f);
		break;
	case 5: { /* REG */
		uint8_t o = fz_u8(f);
		uint32_t val = fz_u32(f);

		FZ_T("REG %#x = %#x (oracle off)\n", o, val);
		if (o < 0xc0) {
			vdrv_wr(&f->v, (uint64_t)o * 4 % 0x100, val);
		} else {
			uint8_t len = (uint8_t)(1u << (o & 3));

			virtio_mmio_io(NULL, 0x100 + (o >> 2) % 16, (uint8_t *)&val, len > 4 ? 4 : len,
				       true, f->v.dev);
		}
		f->oracle = false;
		break;
	}
	case 6: { /* MEM */
		uint64_t off = fz_u16(f) * 16ULL % FZ_RAM;
		uint8_t len = fz_u8(f);

		FZ_T("MEM %#llx len %u\n", (unsigned long long)off, len);
		for (uint8_t k = 0; k < len && off + k < FZ_RAM; k++)
			f->v.ram[off + k] = fz_u8(f);
		if (off < VDRV_HEAP)
			f->oracle = false;
		break;
	}
	case 7: { /* AVAIL_IDX */
		uint16_t val;

		q = fz_q(f);
		val = fz_u16(f);
		FZ_T("AVAIL_IDX q%u = %u (oracle off)\n", q, val);
		if (f->v.q[q].num) {
			__atomic_store_n((uint16_t *)(f->v.ram + f->v.q[q].avail + 2), val,
					 __ATOMIC_RELEASE);
			f->v.q[q].avail_idx = val;
		}
		f->oracle = false;
		break;
	}
	case 8: { /* REPEAT */
		uint8_t k = fz_u8(f) % 8 + 1;
		uint16_t n = fz_u16(f);   /* 16 bits: long runs (hundreds) are as likely as short */
		const uint8_t *body = f->p;

		FZ_T("REPEAT %u ops x %u\n", k, n + 1);

		/* Nested REPEATs multiply; FZ_MAX_OPS bounds them. A body that is empty (the
		 * input ends here) ends the repeat: looping on nothing up to 65536 times, nested,
		 * cost most of the device targets' time. */
		for (unsigned r = 0; r <= n && f->ops < FZ_MAX_OPS && body < f->end; r++) {
			f->p = body;
			for (unsigned j = 0; j < k && f->p < f->end && f->ops < FZ_MAX_OPS; j++)
				fz_op(f);
		}
		break;
	}
	case 9: { /* CHAIN */
		uint16_t head;
		uint8_t n;

		q = fz_q(f);
		head = fz_u8(f);
		n = fz_u8(f) % 4 + 1;
		FZ_T("CHAIN q%u head %u, %u buffers\n", q, head, n);
		if (!f->v.q[q].num)
			break;
		for (uint8_t k = 0; k < n; k++) {
			uint16_t len = fz_u16(f) % 8192 + 1;
			uint8_t w = fz_u8(f);

			vdrv_desc(&f->v, q, (uint16_t)(head + k), vdrv_alloc(&f->v, len), len,
				  (uint16_t)((w & 1 ? VRING_DESC_F_WRITE : 0) |
					     (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
				  (uint16_t)((head + k + 1) % f->v.q[q].num));
		}
		fz_publish(f, q, (uint16_t)(head % f->v.q[q].num));
		break;
	}
	case 10: /* STATUS */
		FZ_T("STATUS (oracle off)\n");
		vdrv_wr(&f->v, VIRTIO_MMIO_STATUS, fz_u8(f));
		f->oracle = false;
		break;
	default:
		FZ_T("device op %u\n", op - 11);
		fz_dev_op(f, op - 11);
		break;
	}
	fz_reap(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static uint8_t *ram;
	static unsigned inputs;
	static bool live;

	/* One RAM buffer for the whole run: fresh pages for every input cost a page fault each,
	 * and on this host a fault is slow. Zeroed for every input. */
	if (!ram && !(ram = aligned_alloc(4096, FZ_RAM)))
		abort();
	memset(&f, 0, offsetof(struct fz, nq));
	fz_cur = &f;
	f.p = data;
	f.end = data + size;
	for (int i = 0; i < 8; i++)
		f.features |= (uint64_t)fz_u8(&f) << (8 * i);
	f.dev_byte = fz_u8(&f);
	/* A device lives for FZ_RECREATE inputs (a target whose creation is costly: virtio-blk
	 * allocates a request slot per head); between them it is reset and its disk restored,
	 * and FZ_FRESH=1 in the environment makes every input start from a new one (to replay
	 * a crash exactly). */
	if (live && (inputs++ % FZ_RECREATE == 0 || getenv("FZ_FRESH"))) {
		fz_dev_destroy(&f);
		vdrv_fini(&f.v);
		live = false;
	}
	if (!live) {
		if (vdrv_init_ram(&f.v, ram, FZ_RAM) || fz_dev_create(&f))
			abort();
		vdrv_attach(&f.v);
		live = true;
	} else {
		fz_dev_renew(&f);
		memset(ram, 0, FZ_RAM);
		memset(f.v.q, 0, sizeof(f.v.q));
		f.v.brk = VDRV_HEAP;
	}
	for (unsigned q = 0; q < f.nq; q++)
		f.qbyte[q] = fz_u8(&f);
	fz_bring_up(&f);
	while (f.p < f.end && f.ops < FZ_MAX_OPS)
		fz_op(&f);
	/* Quiesce: a reset, and the completions of whatever is still in flight. */
	vdrv_wr(&f.v, VIRTIO_MMIO_STATUS, 0);
	vdrv_run(&f.v, 64);
	return 0;
}

#endif
