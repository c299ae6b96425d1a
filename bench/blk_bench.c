/* Drives minivmm's virtio-blk device model host-side: a synthetic split queue in ordinary
 * memory, programmed through the real virtio-mmio register handler, kicked through the real
 * transport, completed by the real engine and event loop. No guest, no KVM.
 *   blk_bench FILE randread|randwrite|read|write BS QD SECONDS ENGINE
 * prints "IOPS MBps CPU-µs-per-request". */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "virtio/blk.h"
#include "virtio/device.h"
#include "vmm/machine.h"

#define QSIZE 256
#define MEM (512ULL << 20)
#define DESC 0x10000
#define AVAIL 0x20000
#define USED 0x30000
#define HDRS 0x100000
#define DATA 0x1000000

static struct guest_mem mem;
static struct bus pio_bus, mmio_bus;
static struct evloop loop;
static struct dev_list devices;
static struct machine machine;
static struct virtio_dev *dev;

static void wr(uint64_t off, uint32_t v) { virtio_mmio_io(NULL, off, (uint8_t *)&v, 4, true, dev); }
static uint32_t rd(uint64_t off) { uint32_t v; virtio_mmio_io(NULL, off, (uint8_t *)&v, 4, false, dev); return v; }
static uint64_t bs_g, nblocks_g, seq_g, rng_g = 88172645463325252ULL;
static int is_read_g, is_rand_g;
static uint16_t *avail_g, avail_idx_g;

/* Request in slot @slot: header type and sector, then publish its head. */
static void submit(uint64_t slot)
{
	struct virtio_blk_outhdr *h = gm_ptr(&mem, HDRS + 64 * slot, 16);
	uint64_t blk;

	rng_g ^= rng_g << 13, rng_g ^= rng_g >> 7, rng_g ^= rng_g << 17;
	blk = is_rand_g ? rng_g % nblocks_g : seq_g++ % nblocks_g;
	h->type = is_read_g ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
	h->sector = blk * (bs_g / 512);
	avail_g[2 + avail_idx_g % QSIZE] = (uint16_t)(3 * slot);
	avail_idx_g++;
	__atomic_store_n(&avail_g[1], avail_idx_g, __ATOMIC_RELEASE);
}

static double cpu_secs(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv)
{
	struct disk_config dc = { 0 };
	struct virtio_blk *blk;
	struct errmsg err;
	uint64_t bs, qd, secs, sectors, done = 0, inflight;
	struct vring_desc *desc;
	uint16_t *used_idx, last_used = 0;
	int is_read, is_rand;
	double t0, t1, c0;

	if (argc != 7)
		return fprintf(stderr, "usage: blk_bench FILE randread|randwrite|read|write BS QD SECONDS io_uring|sync\n"), 2;
	is_read = strstr(argv[2], "read") != NULL;
	is_rand = !strncmp(argv[2], "rand", 4);
	bs = strtoull(argv[3], NULL, 0);
	qd = strtoull(argv[4], NULL, 0);
	secs = strtoull(argv[5], NULL, 0);
	if (qd == 0 || qd > QSIZE / 3 || bs % 512 || bs * qd > 256ULL << 20)
		return fprintf(stderr, "blk_bench: bad BS/QD\n"), 2;
	bus_init(&pio_bus, "pio");
	bus_init(&mmio_bus, "mmio");
	if (gm_init(&mem, MEM, false) || evloop_init(&loop))
		return 1;
	machine = (struct machine){ .mem = &mem, .pio = &pio_bus, .mmio = &mmio_bus, .loop = &loop,
				    .vm_fd = -1, .devices = &devices };
	dc.path = argv[1];
	dc.direct = true;
	dc.engine = strcmp(argv[6], "sync") ? BLK_ENGINE_IO_URING : BLK_ENGINE_SYNC;
	dc.engine_set = true;
	dc.num_queues = 1;
	if (virtio_blk_create(&machine, 0, &dc, &blk, &err))
		return fprintf(stderr, "blk_bench: %s\n", err.text), 1;
	dev = devices.devs[0].priv;
	sectors = (uint64_t)rd(VIRTIO_MMIO_CONFIG) | (uint64_t)rd(VIRTIO_MMIO_CONFIG + 4) << 32;

	/* The driver's side of initialization, as Linux does it. */
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	desc = gm_ptr(&mem, DESC, 16 * QSIZE);
	avail_g = gm_ptr(&mem, AVAIL, 4 + 2 * QSIZE);
	bs_g = bs;
	nblocks_g = sectors / (bs / 512);
	is_read_g = is_read;
	is_rand_g = is_rand;
	used_idx = gm_ptr(&mem, USED + 2, 2);
	memset(gm_ptr(&mem, DATA, bs * qd), 0x5a, bs * qd);

	/* Slot i: descriptors 3i (header), 3i+1 (data), 3i+2 (status). */
	for (uint64_t i = 0; i < qd; i++) {
		desc[3 * i] = (struct vring_desc){ HDRS + 64 * i, 16, VRING_DESC_F_NEXT, (uint16_t)(3 * i + 1) };
		desc[3 * i + 1] = (struct vring_desc){ DATA + bs * i, (uint32_t)bs,
						       (uint16_t)(VRING_DESC_F_NEXT | (is_read ? VRING_DESC_F_WRITE : 0)),
						       (uint16_t)(3 * i + 2) };
		desc[3 * i + 2] = (struct vring_desc){ HDRS + 64 * i + 32, 1, VRING_DESC_F_WRITE, 0 };
	}
	c0 = cpu_secs();
	t0 = now();
	t1 = t0 + (double)secs;
	for (uint64_t slot = 0; slot < qd; slot++)
		submit(slot);
	inflight = qd;
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while (inflight) {
		bool refilled = false, reaped = false;

		while (last_used != __atomic_load_n(used_idx, __ATOMIC_ACQUIRE)) {
			uint32_t id;

			memcpy(&id, gm_ptr(&mem, USED + 4 + 8 * (last_used % QSIZE), 4), 4);
			last_used++;
			reaped = true;
			if (*(uint8_t *)gm_ptr(&mem, HDRS + 64 * (id / 3) + 32, 1))
				return fprintf(stderr, "blk_bench: I/O error\n"), 1;
			done++;
			inflight--;
			if (now() < t1) {
				submit(id / 3);
				inflight++;
				refilled = true;
			}
		}
		if (refilled)
			wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* one kick per batch, as drivers do */
		if (!reaped)
			evloop_run_once(&loop, 100);
	}
	{
		double el = now() - t0;

		/* Third figure: CPU time of this process (device model, engine, event loop, and the
		 * synthetic driver) per request, in µs: what the code costs, whatever the disk does. */
		printf("%.0f %.1f %.2f\n", (double)done / el, (double)done * (double)bs / el / 1e6,
		       done ? (cpu_secs() - c0) * 1e6 / (double)done : 0.0);
	}
	dev_list_destroy(&devices);
	return 0;
}
