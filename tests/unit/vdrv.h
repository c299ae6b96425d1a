/* A host-side virtio driver for unit tests and fuzzers: a fake guest RAM (a malloc'd buffer, so
 * ASan sees any access past its ends), rings laid out in it, the device programmed through the
 * real virtio-mmio register handler and kicked through its real kick eventfd and the event
 * loop. No KVM. Header-only (static inline) so that each test and fuzzer takes what it uses.
 *
 * The driver side is deliberately permissive: it writes whatever descriptors and ring entries
 * the caller asks for, including ones that break the rules. */
#ifndef MINIVMM_TESTS_VDRV_H
#define MINIVMM_TESTS_VDRV_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio/device.h"
#include "virtio/net.h"
#include "vmm/machine.h"
#include "vmm/stdin_input.h"

#define VDRV_RING_STRIDE 0x2000ULL     /* one queue's desc, avail and used areas */
#define VDRV_RINGS 0x1000ULL           /* rings of queue q at VDRV_RINGS + q * stride */
#define VDRV_HEAP (VDRV_RINGS + VIRTIO_MAX_QUEUES * VDRV_RING_STRIDE)

struct vdrv_queue {
	uint16_t num;
	uint64_t desc, avail, used;        /* guest-physical */
	uint16_t avail_idx, last_used;
};

struct vdrv {
	struct guest_mem mem;
	struct bus pio, mmio;
	struct evloop loop;
	struct dev_list devices;
	struct machine m;                  /* what the devices see */
	struct stdin_input input;
	unsigned slots;                    /* virtio-mmio slots handed out */
	uint8_t *ram;
	uint64_t ram_size;
	bool owns_ram;
	uint64_t brk;                      /* bump allocator for buffers */
	struct virtio_dev *dev;            /* the device under test (the last one created) */
	struct vdrv_queue q[VIRTIO_MAX_QUEUES];
};

/* A VM whose fake RAM is @ram (@ram_size bytes, a multiple of 4 KiB, page-aligned, zeroed
 * here; the caller keeps it, e.g. a fuzzer across inputs: fresh pages cost a fault each), an
 * MMIO bus and an event loop. */
static inline int vdrv_init_ram(struct vdrv *v, uint8_t *ram, uint64_t ram_size)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->ram = ram;
	memset(v->ram, 0, ram_size);
	v->ram_size = ram_size;
	v->mem.base = v->ram;
	ret = gm_layout(&v->mem, ram_size);
	if (ret)
		return ret;
	stdin_input_init(&v->input);
	bus_init(&v->pio, "pio");
	bus_init(&v->mmio, "mmio");
	ret = evloop_init(&v->loop);
	if (ret)
		return ret;
	v->m = (struct machine){ .mem = &v->mem, .pio = &v->pio, .mmio = &v->mmio,
				 .loop = &v->loop, .vm_fd = -1, .devices = &v->devices };
	v->brk = VDRV_HEAP;
	return 0;
}

/* The same with @ram_size bytes of RAM of its own (a malloc'd buffer, so ASan sees accesses
 * past its ends). */
static inline int vdrv_init(struct vdrv *v, uint64_t ram_size)
{
	uint8_t *ram = aligned_alloc(4096, ram_size);
	int ret;

	if (!ram)
		return -ENOMEM;
	ret = vdrv_init_ram(v, ram, ram_size);
	if (ret) {
		free(ram);
		return ret;
	}
	v->owns_ram = true;
	return 0;
}

/* The next free virtio-mmio slot, for a device's create call. */
static inline unsigned vdrv_slot(struct vdrv *v)
{
	return v->slots++;
}

/* Every device and its transport, as vm_destroy() does it (the device list owns them). */
static inline void vdrv_destroy_devices(struct vdrv *v)
{
	dev_list_destroy(&v->devices);
	v->dev = NULL;
}

static inline void vdrv_fini(struct vdrv *v)
{
	vdrv_destroy_devices(v);
	evloop_destroy(&v->loop);
	bus_destroy(&v->mmio);
	bus_destroy(&v->pio);
	if (v->owns_ram)
		free(v->ram);
	v->ram = NULL;
}

/* The device created last in this VM becomes the one the driver talks to. */
static inline void vdrv_attach(struct vdrv *v)
{
	v->dev = v->devices.devs[v->devices.n - 1].priv;
}

static inline void vdrv_wr(struct vdrv *v, uint64_t off, uint32_t val)
{
	virtio_mmio_io(NULL, off, (uint8_t *)&val, 4, true, v->dev);
}

static inline uint32_t vdrv_rd(struct vdrv *v, uint64_t off)
{
	uint32_t val = 0;

	virtio_mmio_io(NULL, off, (uint8_t *)&val, 4, false, v->dev);
	return val;
}

static inline uint32_t vdrv_status(struct vdrv *v)
{
	return vdrv_rd(v, VIRTIO_MMIO_STATUS);
}

static inline bool vdrv_needs_reset(struct vdrv *v)
{
	return vdrv_status(v) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static inline void *vdrv_ptr(struct vdrv *v, uint64_t gpa, uint64_t len)
{
	return gm_ptr(&v->mem, gpa, len);
}

/* Guest memory for buffers, 16-byte aligned, zeroed; wraps to the heap's start when full. */
static inline uint64_t vdrv_alloc(struct vdrv *v, uint64_t len)
{
	uint64_t gpa;

	len = (len + 15) & ~15ULL;
	if (v->brk + len > v->ram_size)
		v->brk = VDRV_HEAP;
	gpa = v->brk;
	v->brk += len;
	memset(v->ram + gpa, 0, len);
	return gpa;
}

/* Dispatches what is ready in the event loop until nothing is (at most @rounds rounds). */
static inline int vdrv_run(struct vdrv *v, int rounds)
{
	int total = 0;

	while (rounds-- > 0) {
		int n = evloop_run_once(&v->loop, 0);

		if (n <= 0)
			break;
		total += n;
	}
	return total;
}

/* Reset, ACKNOWLEDGE, DRIVER, @features (VERSION_1 added), FEATURES_OK. True if granted. */
static inline bool vdrv_negotiate(struct vdrv *v, uint64_t features)
{
	features |= 1ULL << VIRTIO_F_VERSION_1;
	vdrv_wr(v, VIRTIO_MMIO_STATUS, 0);
	vdrv_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdrv_wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdrv_wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vdrv_wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vdrv_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_FEATURES_OK);
	return vdrv_status(v) & VIRTIO_CONFIG_S_FEATURES_OK;
}

/* Queue @q with @num entries at its fixed ring area. True if the device took it. */
static inline bool vdrv_queue(struct vdrv *v, unsigned q, uint16_t num)
{
	struct vdrv_queue *vq = &v->q[q];
	uint64_t base = VDRV_RINGS + q * VDRV_RING_STRIDE;

	memset(vq, 0, sizeof(*vq));
	vq->num = num;
	vq->desc = base;                       /* 16 * 256 = 0x1000 */
	vq->avail = base + 0x1000;             /* 6 + 2 * 256 */
	vq->used = base + 0x1400;              /* 6 + 8 * 256 = 0x806: ends before base + 0x2000 */
	memset(v->ram + base, 0, VDRV_RING_STRIDE);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_SEL, q);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_NUM, num);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vq->desc);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)vq->avail);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)vq->used);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
	return vdrv_rd(v, VIRTIO_MMIO_QUEUE_READY) == 1;
}

static inline void vdrv_driver_ok(struct vdrv *v)
{
	vdrv_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The whole bring-up: features, @nq queues of @num entries each, DRIVER_OK. */
static inline bool vdrv_start(struct vdrv *v, uint64_t features, unsigned nq, uint16_t num)
{
	if (!vdrv_negotiate(v, features))
		return false;
	for (unsigned q = 0; q < nq; q++)
		if (!vdrv_queue(v, q, num))
			return false;
	vdrv_driver_ok(v);
	return (vdrv_status(v) & VIRTIO_CONFIG_S_DRIVER_OK) && !vdrv_needs_reset(v);
}

static inline void vdrv_desc(struct vdrv *v, unsigned q, uint16_t i, uint64_t addr, uint32_t len,
			     uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	memcpy(v->ram + v->q[q].desc + 16 * (size_t)(i % v->q[q].num), &d, sizeof(d));
}

/* Puts @head in the next avail slot and publishes it (no kick). */
static inline void vdrv_publish(struct vdrv *v, unsigned q, uint16_t head)
{
	struct vdrv_queue *vq = &v->q[q];
	uint16_t *avail = (uint16_t *)(v->ram + vq->avail);

	avail[2 + vq->avail_idx % vq->num] = head;
	vq->avail_idx++;
	__atomic_store_n(&avail[1], vq->avail_idx, __ATOMIC_RELEASE);
}

/* Notifies queue @q through the register (the kick eventfd), then runs the event loop. */
static inline void vdrv_kick(struct vdrv *v, unsigned q)
{
	vdrv_wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	vdrv_run(v, 64);
}

static inline uint16_t vdrv_used_idx(struct vdrv *v, unsigned q)
{
	return __atomic_load_n((uint16_t *)(v->ram + v->q[q].used + 2), __ATOMIC_ACQUIRE);
}

/* The next used element of @q, if any. */
static inline bool vdrv_used(struct vdrv *v, unsigned q, uint32_t *id, uint32_t *len)
{
	struct vdrv_queue *vq = &v->q[q];
	uint8_t *e;

	if (vdrv_used_idx(v, q) == vq->last_used)
		return false;
	e = v->ram + vq->used + 4 + 8 * (size_t)(vq->last_used % vq->num);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	vq->last_used++;
	return true;
}

/* A guest on another vCPU that recycles chains exactly between two of the device's writes,
 * for tests of handlers that must yield the I/O thread. The byte the device writes into each
 * chain (a status or ack byte) is alone on a page kept read-only until the device writes it.
 * The write faults; the handler makes that page writable, protects the previous chain's page
 * again and offers the previous chain again (the device returned it before starting this
 * one). So a handler that takes chains until the ring is empty never finds it empty. */
#define VDRV_RECYCLE_MAX 128
#define VDRV_PAGE 4096ULL

static struct {
	struct vdrv *v;
	unsigned q, n, limit, offered;
	int last;
	uint64_t page[VDRV_RECYCLE_MAX];
	uint16_t head[VDRV_RECYCLE_MAX];
	struct sigaction old;
} vdrv_recycler __attribute__((unused));

static inline void vdrv_recycle_fault(int sig, siginfo_t *si, void *uc)
{
	uint8_t *addr = si->si_addr;
	struct vdrv *v = vdrv_recycler.v;

	(void)sig;
	(void)uc;
	for (unsigned i = 0; i < vdrv_recycler.n; i++) {
		uint8_t *page = v->ram + vdrv_recycler.page[i];
		int last = vdrv_recycler.last;

		if (addr < page || addr >= page + VDRV_PAGE)
			continue;
		mprotect(page, VDRV_PAGE, PROT_READ | PROT_WRITE);
		if (last >= 0 && vdrv_recycler.offered < vdrv_recycler.limit) {
			mprotect(v->ram + vdrv_recycler.page[last], VDRV_PAGE, PROT_READ);
			vdrv_publish(v, vdrv_recycler.q, vdrv_recycler.head[last]);
			vdrv_recycler.offered++;
		}
		vdrv_recycler.last = (int)i;
		return;
	}
	abort(); /* a real fault */
}

/* A page of guest memory of its own (for a device-written byte). */
static inline uint64_t vdrv_alloc_page(struct vdrv *v)
{
	v->brk = (v->brk + VDRV_PAGE - 1) & ~(VDRV_PAGE - 1);
	return vdrv_alloc(v, VDRV_PAGE);
}

/* Chain i (head @heads[i]) has its device-written byte on page @pages[i] (vdrv_alloc_page);
 * offers chains again up to @limit times. */
static inline int vdrv_recycle_start(struct vdrv *v, unsigned q, unsigned n,
				     const uint64_t *pages, const uint16_t *heads, unsigned limit)
{
	struct sigaction sa = { .sa_sigaction = vdrv_recycle_fault, .sa_flags = SA_SIGINFO };

	if (n > VDRV_RECYCLE_MAX)
		return -EINVAL;
	vdrv_recycler.v = v;
	vdrv_recycler.q = q;
	vdrv_recycler.n = n;
	vdrv_recycler.limit = limit;
	vdrv_recycler.offered = 0;
	vdrv_recycler.last = -1;
	for (unsigned i = 0; i < n; i++) {
		vdrv_recycler.page[i] = pages[i];
		vdrv_recycler.head[i] = heads[i];
		if (mprotect(v->ram + pages[i], VDRV_PAGE, PROT_READ))
			return -errno;
	}
	return sigaction(SIGSEGV, &sa, &vdrv_recycler.old) ? -errno : 0;
}

/* Returns how many chains were offered again. */
static inline unsigned vdrv_recycle_stop(void)
{
	sigaction(SIGSEGV, &vdrv_recycler.old, NULL);
	for (unsigned i = 0; i < vdrv_recycler.n; i++)
		mprotect(vdrv_recycler.v->ram + vdrv_recycler.page[i], VDRV_PAGE,
			 PROT_READ | PROT_WRITE);
	return vdrv_recycler.offered;
}

/* A socketpair standing in for a tap: the device gets one end, the test the other. Reads have
 * tun's semantics (the whole frame's length even when it was cut), through MSG_TRUNC. */
static inline ssize_t vdrv_sock_read(int fd, const struct iovec *iov, int cnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };

	return recvmsg(fd, &m, MSG_TRUNC | MSG_DONTWAIT);
}

static inline ssize_t vdrv_sock_write(int fd, const struct iovec *iov, int cnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };

	return sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static inline int vdrv_sock_offload(int fd, unsigned flags)
{
	(void)fd;
	(void)flags;
	return 0;
}

static const struct net_backend_ops vdrv_sock_backend __attribute__((unused)) = {
	.read = vdrv_sock_read,
	.write = vdrv_sock_write,
	.set_offload = vdrv_sock_offload,
};

/* Makes @pairs socketpairs: @dev_fds for the device (nonblocking), @peer_fds for the test. */
static inline int vdrv_sock_pairs(unsigned pairs, int *dev_fds, int *peer_fds)
{
	for (unsigned i = 0; i < pairs; i++) {
		int sv[2], buf = 1 << 20;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		dev_fds[i] = sv[0];
		peer_fds[i] = sv[1];
	}
	return 0;
}

#endif
