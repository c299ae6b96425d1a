/* virtio-blk scenarios: data integrity with many requests in flight, read-only disks, bounds
 * and request types, discard / write-zeroes, and one hostile scenario per attack class. */
#include "guest.h"
#include "pattern.h"
#include "scenarios.h"
#include "smp.h"
#include "virtio.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define F_SIZE_MAX 1
#define F_SEG_MAX 2
#define F_RO 5
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define F_DISCARD 13
#define F_WRITE_ZEROES 14
#define SECTOR 512
#define MAX_SECTORS 128
#define SLOTS 16
#define WAIT_SPINS 2000000UL

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

struct slot {
	struct blk_hdr *hdr;
	uint8_t *data;
	volatile uint8_t *status;
	uint64_t sector;
	uint32_t sectors;
	int head;            /* -1: free */
	bool is_read;
};

struct blkdev {
	struct gdev dev;
	uint64_t capacity;   /* sectors */
	uint64_t seed;
	struct slot slots[SLOTS];
};

static const uint64_t blk_wanted = (1ULL << F_RO) | (1ULL << F_FLUSH) | (1ULL << F_BLK_SIZE) |
				   (1ULL << F_SEG_MAX) | (1ULL << F_SIZE_MAX) |
				   (1ULL << F_DISCARD) | (1ULL << F_WRITE_ZEROES) |
				   (1ULL << VIRTIO_RING_F_EVENT_IDX) |
				   (1ULL << VIRTIO_RING_F_INDIRECT_DESC);

/* Opens the @nth disk; the pattern seed comes from seed= on the command line (default 1). */
static bool blk_open(struct blkdev *b, unsigned nth, uint64_t wanted)
{
	memset(b, 0, sizeof(*b));
	b->seed = 1;
	cmdline_get_u64("seed", &b->seed);
	if (!virtio_find(VIRTIO_ID_BLOCK, nth, &b->dev)) {
		printk("blk: no virtio-blk device #%u (virtio_mmio.device= on the command line?)\n", nth);
		return false;
	}
	if (!virtio_negotiate(&b->dev, wanted) || !virtio_setup_queue(&b->dev, 0, 128))
		return false;
	b->capacity = (uint64_t)vmmio_read(&b->dev, 0x100) |
		      (uint64_t)vmmio_read(&b->dev, 0x104) << 32;
	for (unsigned i = 0; i < SLOTS; i++) {
		b->slots[i].hdr = galloc(4096);
		b->slots[i].status = (volatile uint8_t *)b->slots[i].hdr + 64;
		b->slots[i].data = galloc(MAX_SECTORS * SECTOR);
		b->slots[i].head = -1;
	}
	virtio_driver_ok(&b->dev);
	return true;
}

static void fill_sectors(uint8_t *buf, uint64_t sector, uint32_t n, uint64_t seed)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t *q = (uint64_t *)(buf + (uint64_t)i * SECTOR), v = pattern_fill(sector + i, seed);
		size_t cnt = 63;
		uint64_t *p = q + 1;

		q[0] = pattern_head(sector + i, seed);
		__asm__ volatile("rep stosq" : "+D"(p), "+c"(cnt) : "a"(v) : "memory");
	}
}

static bool check_sectors(const uint8_t *buf, uint64_t sector, uint32_t n, uint64_t seed)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint64_t *q = (const uint64_t *)(buf + (uint64_t)i * SECTOR);
		const uint64_t *p = q + 1;
		uint64_t v = pattern_fill(sector + i, seed);
		size_t cnt = 63;
		uint8_t ne;

		if (q[0] != pattern_head(sector + i, seed)) {
			printk("blk: sector %lu: head 0x%lx\n", sector + i, q[0]);
			return false;
		}
		__asm__ volatile("repe scasq\n\tsetne %2" : "+D"(p), "+c"(cnt), "=q"(ne) : "a"(v) : "memory", "cc");
		if (ne) {
			printk("blk: sector %lu: body differs\n", sector + i);
			return false;
		}
	}
	return true;
}

/* Submits one request in slot @s: [header][data][status]. */
static bool blk_submit(struct blkdev *b, struct slot *s, uint32_t type, uint64_t sector,
		       void *data, uint32_t len, bool data_write, bool indirect)
{
	struct gbuf bufs[3];
	unsigned n = 0;

	s->hdr->type = type;
	s->hdr->reserved = 0;
	s->hdr->sector = sector;
	*s->status = 0xff;
	bufs[n++] = (struct gbuf){ s->hdr, sizeof(struct blk_hdr), false };
	if (len)
		bufs[n++] = (struct gbuf){ data, len, data_write };
	bufs[n++] = (struct gbuf){ (const void *)s->status, 1, true };
	s->head = gvq_add(&b->dev.vqs[0], bufs, n, indirect);
	return s->head >= 0;
}

/* Waits for any completion; returns its slot. */
static struct slot *blk_reap(struct blkdev *b, uint32_t *len)
{
	uint16_t head;

	if (!gvq_wait(&b->dev.vqs[0], &head, len, WAIT_SPINS)) {
		printk("blk: no completion (device status 0x%x)\n", vmmio_read(&b->dev, 0x70));
		return NULL;
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (b->slots[i].head == head) {
			b->slots[i].head = -1;
			return &b->slots[i];
		}
	printk("blk: completion for unknown head %u\n", head);
	return NULL;
}

/* One synchronous request in slot 0; returns the status byte (or -1 on timeout). */
static int blk_sync(struct blkdev *b, uint32_t type, uint64_t sector, void *data, uint32_t len,
		    bool data_write)
{
	uint32_t got;

	if (!blk_submit(b, &b->slots[0], type, sector, data, len, data_write, false))
		return -1;
	gvq_kick(&b->dev.vqs[0]);
	return blk_reap(b, &got) ? *b->slots[0].status : -1;
}

static const uint32_t sizes[] = { 8, 1, 32, 3, 128, 16, 2, 64 };

/* Writes (or reads and verifies) the pattern over the whole disk, SLOTS requests in flight,
 * mixed sizes, every other request through an indirect table. */
static bool blk_sweep(struct blkdev *b, bool write)
{
	uint64_t next = 0, done = 0;
	unsigned k = 0, inflight = 0;

	while (done < b->capacity) {
		bool queued = false;

		for (unsigned i = 0; i < SLOTS && next < b->capacity; i++) {
			struct slot *s = &b->slots[i];
			uint32_t n = sizes[k++ % 8];

			if (s->head >= 0)
				continue;
			if (n > b->capacity - next)
				n = (uint32_t)(b->capacity - next);
			s->sector = next;
			s->sectors = n;
			s->is_read = !write;
			if (write)
				fill_sectors(s->data, next, n, b->seed);
			if (!blk_submit(b, s, write ? T_OUT : T_IN, next, s->data, n * SECTOR, !write,
					k & 1))
				break;
			next += n;
			inflight++;
			queued = true;
		}
		if (queued)
			gvq_kick(&b->dev.vqs[0]);
		while (inflight) {
			uint32_t len;
			struct slot *s = blk_reap(b, &len);

			if (!s)
				return false;
			inflight--;
			if (*s->status != S_OK) {
				printk("blk: %s of sector %lu: status %u\n", write ? "write" : "read",
				       s->sector, *s->status);
				return false;
			}
			if (!write && (len != s->sectors * SECTOR + 1 ||
				       !check_sectors(s->data, s->sector, s->sectors, b->seed)))
				return false;
			done += s->sectors;
			if (next < b->capacity)
				break; /* refill before waiting for more */
		}
	}
	return true;
}

int scn_blk_rw(void)
{
	struct blkdev b;

	if (!blk_open(&b, 0, blk_wanted))
		return GUEST_EXIT_FAIL;
	printk("blk-rw: %lu sectors, features 0x%lx\n", b.capacity, b.dev.features);
	if (virtio_has(&b.dev, F_RO)) {
		printk("blk-rw: disk is read-only\n");
		return GUEST_EXIT_FAIL;
	}
	if (!blk_sweep(&b, true))
		return GUEST_EXIT_FAIL;
	if (blk_sync(&b, T_FLUSH, 0, NULL, 0, false) != S_OK) {
		printk("blk-rw: flush failed\n");
		return GUEST_EXIT_FAIL;
	}
	if (!blk_sweep(&b, false))
		return GUEST_EXIT_FAIL;
	printk("blk-rw: wrote, flushed, read back and verified %lu sectors\n", b.capacity);
	return 0;
}

int scn_blk_ro(void)
{
	struct blkdev b;

	if (!blk_open(&b, 0, blk_wanted))
		return GUEST_EXIT_FAIL;
	if (!virtio_has(&b.dev, F_RO)) {
		printk("blk-ro: VIRTIO_BLK_F_RO not offered\n");
		return GUEST_EXIT_FAIL;
	}
	if (!blk_sweep(&b, false))
		return GUEST_EXIT_FAIL;
	fill_sectors(b.slots[1].data, 0, 1, 99);
	if (blk_sync(&b, T_OUT, 0, b.slots[1].data, SECTOR, false) != S_IOERR) {
		printk("blk-ro: a write did not fail with IOERR\n");
		return GUEST_EXIT_FAIL;
	}
	if (blk_sync(&b, T_IN, 0, b.slots[1].data, SECTOR, true) != S_OK ||
	    !check_sectors(b.slots[1].data, 0, 1, b.seed)) {
		printk("blk-ro: the refused write changed the disk\n");
		return GUEST_EXIT_FAIL;
	}
	printk("blk-ro: %lu sectors verified, writes refused with IOERR\n", b.capacity);
	return 0;
}

static bool expect_status(const char *what, int got, int want)
{
	if (got == want) {
		printk("blk-bounds: %s: status %d as expected\n", what, got);
		return true;
	}
	printk("blk-bounds: %s: status %d, expected %d\n", what, got, want);
	return false;
}

int scn_blk_bounds(void)
{
	struct blkdev b;
	uint8_t *buf;
	bool ok = true;
	uint32_t len;
	int st;

	if (!blk_open(&b, 0, blk_wanted))
		return GUEST_EXIT_FAIL;
	buf = b.slots[1].data;
	ok &= expect_status("read at capacity", blk_sync(&b, T_IN, b.capacity, buf, SECTOR, true), S_IOERR);
	ok &= expect_status("read across the end", blk_sync(&b, T_IN, b.capacity - 1, buf, 2 * SECTOR, true), S_IOERR);
	ok &= expect_status("read at sector 2^63", blk_sync(&b, T_IN, 1ULL << 63, buf, SECTOR, true), S_IOERR);
	ok &= expect_status("write across the end", blk_sync(&b, T_OUT, b.capacity - 1, buf, 2 * SECTOR, false), S_IOERR);
	ok &= expect_status("read of 100 bytes", blk_sync(&b, T_IN, 0, buf, 100, true), S_IOERR);
	ok &= expect_status("unknown type 99", blk_sync(&b, 99, 0, buf, SECTOR, true), S_UNSUPP);
	/* The legacy SCSI command: refused; devices differ on IOERR or UNSUPP (QEMU: IOERR). */
	st = blk_sync(&b, 2, 0, buf, SECTOR, true);
	ok &= expect_status("legacy SCSI type 2 refused", st == S_IOERR || st == S_UNSUPP ? st : -2, st);
	fill_sectors(buf, b.capacity - 1, 1, 7);
	ok &= expect_status("write of the last sector", blk_sync(&b, T_OUT, b.capacity - 1, buf, SECTOR, false), S_OK);
	memset(buf, 0, SECTOR);
	ok &= expect_status("read of the last sector", blk_sync(&b, T_IN, b.capacity - 1, buf, SECTOR, true), S_OK);
	ok &= check_sectors(buf, b.capacity - 1, 1, 7);
	ok &= expect_status("flush", blk_sync(&b, T_FLUSH, 0, NULL, 0, false), S_OK);
	memset(buf, 0, 64);
	if (!blk_submit(&b, &b.slots[0], T_GET_ID, 0, buf, 20, true, false))
		return GUEST_EXIT_FAIL;
	gvq_kick(&b.dev.vqs[0]);
	if (!blk_reap(&b, &len))
		return GUEST_EXIT_FAIL;
	ok &= expect_status("get id", *b.slots[0].status, S_OK);
	buf[20] = 0;
	printk("blk-bounds: id '%s'\n", (const char *)buf);
	return ok ? 0 : GUEST_EXIT_FAIL;
}

struct range_seg {
	uint64_t sector;
	uint32_t num, flags;
};

static int blk_range_req(struct blkdev *b, uint32_t type, uint64_t sector, uint32_t num,
			 uint32_t flags)
{
	struct range_seg *seg = (struct range_seg *)b->slots[2].data;

	seg->sector = sector;
	seg->num = num;
	seg->flags = flags;
	return blk_sync(b, type, 0, seg, sizeof(*seg), false);
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int scn_blk_discard(void)
{
	struct blkdev b;
	uint8_t *buf;
	bool discard_zeroed;
	uint32_t max_wz;

	if (!blk_open(&b, 0, blk_wanted))
		return GUEST_EXIT_FAIL;
	if (!virtio_has(&b.dev, F_DISCARD) || !virtio_has(&b.dev, F_WRITE_ZEROES)) {
		printk("blk-discard: DISCARD/WRITE_ZEROES not offered\n");
		return GUEST_EXIT_FAIL;
	}
	buf = b.slots[1].data;
	fill_sectors(buf, 0, 64, 3);
	if (blk_sync(&b, T_OUT, 0, buf, 64 * SECTOR, false) != S_OK)
		return GUEST_EXIT_FAIL;
	if (blk_range_req(&b, T_DISCARD, 8, 8, 0) != S_OK ||
	    blk_range_req(&b, T_WRITE_ZEROES, 24, 8, 0) != S_OK ||
	    blk_range_req(&b, T_WRITE_ZEROES, 40, 8, 1 /* UNMAP */) != S_OK) {
		printk("blk-discard: a range request failed\n");
		return GUEST_EXIT_FAIL;
	}
	if (blk_range_req(&b, T_DISCARD, b.capacity - 4, 8, 0) != S_IOERR ||
	    blk_range_req(&b, T_DISCARD, 0, 8, 1) != S_UNSUPP) {
		printk("blk-discard: out-of-range or UNMAP discard not refused\n");
		return GUEST_EXIT_FAIL;
	}
	/* More than max_write_zeroes_sectors (config offset 48) in one request: refused, nothing
	 * zeroed (a disk larger than the limit is needed to try). */
	max_wz = vmmio_read(&b.dev, 0x100 + 48);
	if (max_wz && b.capacity > (uint64_t)max_wz + 64) {
		if (blk_range_req(&b, T_WRITE_ZEROES, 64, max_wz + 1, 0) != S_IOERR) {
			printk("blk-discard: write-zeroes over max_write_zeroes_sectors (%u) not refused\n",
			       max_wz);
			return GUEST_EXIT_FAIL;
		}
		printk("blk-discard: write-zeroes over the limit of %u sectors refused\n", max_wz);
	}
	memset(buf, 0xaa, 64 * SECTOR);
	if (blk_sync(&b, T_IN, 0, buf, 64 * SECTOR, true) != S_OK)
		return GUEST_EXIT_FAIL;
	/* Write-zeroes must read back as zeros. Discard is a hint: the device may drop the data
	 * (it reads as zeros here: a punched hole) or keep it, where the storage cannot punch
	 * holes (9p, some NFS); never anything else. */
	discard_zeroed = all_zero(buf + 8 * SECTOR, 8 * SECTOR);
	for (uint64_t s = 0; s < 64; s += 8) {
		bool zeroed = s == 24 || s == 40 || (s == 8 && discard_zeroed);
		const uint8_t *p = buf + s * SECTOR;

		if (zeroed ? !all_zero(p, 8 * SECTOR) : !check_sectors(p, s, 8, 3)) {
			printk("blk-discard: sectors %lu-%lu wrong\n", s, s + 7);
			return GUEST_EXIT_FAIL;
		}
	}
	printk("blk-discard: write-zeroes read back as zeroes, discarded sectors %s, the rest intact\n",
	       discard_zeroed ? "as zeroes too" : "unchanged (the storage kept them)");
	return 0;
}

/* Fills virtio-console's transmit ring with 4 KiB chains of 'x' lines (256: 1 MiB, more than a
 * pipe holds) and kicks once; returns how many were queued, 0 on failure. */
static unsigned console_fill(struct gdev *con)
{
	unsigned queued = 0;
	uint8_t *data;

	if (!virtio_find(VIRTIO_ID_CONSOLE, 0, con)) {
		printk("console: no virtio-console device\n");
		return 0;
	}
	if (!virtio_negotiate(con, 1ULL << VIRTIO_RING_F_EVENT_IDX) ||
	    !virtio_setup_queue(con, 0, 8) || !virtio_setup_queue(con, 1, 256))
		return 0;
	virtio_driver_ok(con);
	data = galloc(4096);
	memset(data, 'x', 4096);
	data[4095] = '\n';
	for (;;) {
		struct gbuf buf = { data, 4096, false };

		if (gvq_add(&con->vqs[1], &buf, 1, false) < 0)
			break;
		queued++;
	}
	gvq_kick(&con->vqs[1]);
	return queued;
}

/* The console's chains the device has returned so far. */
static unsigned console_returned(struct gdev *con)
{
	unsigned back = 0;
	uint16_t head;
	uint32_t len;

	while (gvq_get(&con->vqs[1], &head, &len))
		back++;
	return back;
}

/* Statics: a struct gdev is large (about 10 KiB), too large for several on the stack. */
static struct gdev stall_con;
static struct blkdev stall_disk, storm_disk;

/* scenario=console-stall (issue 16): fills virtio-console's transmit ring with 1 MiB and,
 * without waiting for it, writes and reads back the whole disk. With the console's reader
 * stalled the VMM must keep the chains (the ring stays full: backpressure) and still serve the
 * disk; before, its I/O thread blocked in the console's write and the disk's requests never
 * completed. */
int scn_console_stall(void)
{
	unsigned queued = console_fill(&stall_con);

	if (!queued)
		return GUEST_EXIT_FAIL;
	if (!blk_open(&stall_disk, 0, blk_wanted) || !blk_sweep(&stall_disk, true) ||
	    !blk_sweep(&stall_disk, false)) {
		printk("console-stall: the disk stopped while the console's output waited\n");
		return GUEST_EXIT_FAIL;
	}
	printk("console-stall: disk wrote and verified %lu sectors; %u of %u console chains written meanwhile\n",
	       stall_disk.capacity, console_returned(&stall_con), queued);
	return 0;
}

static volatile bool storm_stop;
static volatile unsigned long storm_kicks;

/* The second CPU: disk 1's queue notified without end, nothing in it. With ioeventfd each
 * notify is an eventfd write by KVM and a wake-up of the VMM's I/O thread. */
static void storm_notifier(void)
{
	while (!storm_stop) {
		vmmio_write(&storm_disk.dev, 0x050 /* QueueNotify */, 0);
		storm_kicks++;
	}
}

/* scenario=storm [net=1] (issue 16, --cpus 2, two disks, a console, a NIC with net=1): a guest
 * that tries to stall or bloat the VMM. The console's ring holds 1 MiB (its reader may be
 * stalled), the second CPU storms disk 1 with notifies, the NIC has no receive buffer while the
 * host floods it, and meanwhile this CPU writes and reads back the whole of disk 0 (16
 * requests of up to 64 KiB in flight, every other through an indirect table), then does it
 * again; then the NIC gets buffers and must receive. The host samples the VMM's memory. */
int scn_storm(void)
{
	unsigned queued = console_fill(&stall_con), frames = 0;
	size_t len;
	bool net = cmdline_get("net", &len) != NULL;

	if (!queued || !blk_open(&storm_disk, 1, blk_wanted) || !blk_open(&stall_disk, 0, blk_wanted))
		return GUEST_EXIT_FAIL;
	if (net && !net_storm_open())
		return GUEST_EXIT_FAIL;
	if (net)
		printk("storm: NIC up with no receive buffers\n");
	if (smp_start(storm_notifier, NULL, NULL) < 1) {
		printk("storm: needs a second CPU (--cpus 2)\n");
		return GUEST_EXIT_FAIL;
	}
	for (int round = 0; round < 2; round++) {
		stall_disk.seed = 100 + (uint64_t)round;
		if (!blk_sweep(&stall_disk, true) || !blk_sweep(&stall_disk, false)) {
			storm_stop = true;
			printk("storm: disk 0 stopped during the storm\n");
			return GUEST_EXIT_FAIL;
		}
	}
	storm_stop = true;
	if (net && !(frames = net_storm_receive())) {
		printk("storm: no frame came once receive buffers were posted\n");
		return GUEST_EXIT_FAIL;
	}
	printk("storm: disk 0 written and verified twice (%lu sectors) during %lu notifies of disk 1; %u of %u console chains written\n",
	       stall_disk.capacity, storm_kicks, console_returned(&stall_con), queued);
	if (net)
		printk("storm: net: %u frames received once 16 buffers were posted\n", frames);
	return 0;
}

static struct blkdev slow_disk, fast_disk;

/* scenario=blk-slow (issue 16; two disks): disk 0 is a qcow2 image on slow storage, disk 1 is
 * fast. SLOTS writes of 8 sectors go to disk 0, each into its own cluster 1 MiB apart (each
 * an allocation with copy-on-write from the backing file); without waiting for them, 64 reads
 * of disk 1 one after the other, counting how many of disk 0's writes completed meanwhile;
 * then disk 0's writes are awaited and read back. A VMM that allocates on its I/O thread
 * serves disk 1 only after every allocation: all SLOTS are complete when disk 1's reads end. */
int scn_blk_slow(void)
{
	enum { READS = 64, SECTORS = 8, STRIDE = 2048 /* sectors: 1 MiB */ };
	unsigned seen = 0, reads = 0;
	uint32_t len;

	if (!blk_open(&slow_disk, 0, blk_wanted) || !blk_open(&fast_disk, 1, blk_wanted))
		return GUEST_EXIT_FAIL;
	if (slow_disk.capacity < SLOTS * STRIDE) {
		printk("blk-slow: disk 0 has %lu sectors, %u needed\n", slow_disk.capacity,
		       SLOTS * STRIDE);
		return GUEST_EXIT_FAIL;
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		struct slot *sl = &slow_disk.slots[i];

		sl->sector = (uint64_t)i * STRIDE;
		sl->sectors = SECTORS;
		fill_sectors(sl->data, sl->sector, SECTORS, slow_disk.seed);
		if (!blk_submit(&slow_disk, sl, T_OUT, sl->sector, sl->data, SECTORS * SECTOR, false,
				false))
			return GUEST_EXIT_FAIL;
	}
	gvq_kick(&slow_disk.dev.vqs[0]);
	for (; reads < READS; reads++) {
		uint16_t head;

		if (blk_sync(&fast_disk, T_IN, reads % fast_disk.capacity, fast_disk.slots[1].data,
			     SECTOR, true) != S_OK) {
			printk("blk-slow: read %u of disk 1 failed\n", reads);
			return GUEST_EXIT_FAIL;
		}
		while (gvq_get(&slow_disk.dev.vqs[0], &head, &len)) {
			for (unsigned i = 0; i < SLOTS; i++)
				if (slow_disk.slots[i].head == head)
					slow_disk.slots[i].head = -1;
			seen++;
		}
	}
	printk("blk-slow: %u reads of disk 1 done while %u of %u allocating writes of disk 0 completed\n",
	       reads, seen, SLOTS);
	for (unsigned done = seen; done < SLOTS; done++) {
		struct slot *sl = NULL;

		for (int tries = 0; tries < 8 && !sl; tries++)
			sl = blk_reap(&slow_disk, &len);
		if (!sl)
			return GUEST_EXIT_FAIL;
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		struct slot *sl = &slow_disk.slots[i];

		if (*sl->status != S_OK) {
			printk("blk-slow: write of sector %lu: status %u\n", sl->sector, *sl->status);
			return GUEST_EXIT_FAIL;
		}
		memset(sl->data, 0, SECTORS * SECTOR);
		if (blk_sync(&slow_disk, T_IN, sl->sector, sl->data, SECTORS * SECTOR, true) != S_OK ||
		    !check_sectors(sl->data, sl->sector, SECTORS, slow_disk.seed)) {
			printk("blk-slow: sector %lu does not read back\n", sl->sector);
			return GUEST_EXIT_FAIL;
		}
	}
	printk("blk-slow: every write of disk 0 read back\n");
	return 0;
}

/* scenario=serial-flood lines=N (issue 16): N lines of 100 bytes through COM1 as fast as THR
 * takes them. With the output's reader stalled the guest must still get to its end. */
int scn_serial_flood(void)
{
	uint64_t lines = 200;

	cmdline_get_u64("lines", &lines);
	for (uint64_t i = 0; i < lines; i++)
		printk("serial-flood %6lu ........................................................................................\n", i);
	return 0;
}
