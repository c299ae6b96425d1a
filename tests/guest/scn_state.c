/* scenario=state [pages=N]: a guest that keeps a verifiable record of its own state, for pause,
 * snapshot/restore and migration tests.
 *
 * Every CPU owns @pages pages spread over RAM above 64 MiB. In round r it checks that each of
 * its pages still holds exactly what round r-1 wrote there (a pattern of r-1, its CPU, the page
 * and the word), then writes round r's pattern, then records r as done. Any page lost, stale or
 * mixed up across a save and restore fails the check the next time its CPU comes to it. The
 * BSP also, every 8 rounds: prints "state: round R" on COM1 (and on virtio-console when there
 * is one), writes one sector of the first virtio-blk disk (its number, and the tick it was
 * written at, in a recorded pattern), reads it back and checks it, and records the tick in RAM,
 * and polls COM1 for input. On a 'q' it stops every CPU at a round's end, checks every page
 * against the final rounds and every sector written against its record, and exits 0 with
 * "state: verified ...". Sector s holds "MVMSTATE", s, tick and then words pattern(tick, s, i):
 * the host can check the disk with the same rule. */
#include "guest.h"
#include "scenarios.h"
#include "smp.h"
#include "virtio.h"

#define MAX_CPUS 16
#define AREA_BASE (64ULL << 20)
#define PAGE 4096
#define WORDS (PAGE / 8)
#define TICK_ROUNDS 8
#define DISK_SECTORS 256
#define SECTOR 512
#define BLK_T_IN 0
#define BLK_T_OUT 1

struct cpu_rec {
	volatile uint64_t rounds;       /* completed */
	volatile uint32_t failed, done;
	uint64_t page, word, got, want;
};

static struct cpu_rec recs[MAX_CPUS];
static volatile uint32_t stop_all;
static volatile uint32_t next_cpu;
static volatile uint32_t go;            /* the layout is known: APs may start */
static uint64_t nr_pages, stride;
static unsigned nr_cpus;

/* What word @k of page @p of @cpu holds after round @r (0: never written, all zero). */
static uint64_t pattern(uint64_t r, uint64_t cpu, uint64_t p, uint64_t k)
{
	uint64_t x;

	if (!r)
		return 0;
	x = r * 0x9e3779b97f4a7c15ULL ^ (cpu << 56) ^ (p << 32) ^ k;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 32);
}

static volatile uint64_t *page_of(unsigned cpu, uint64_t p)
{
	return (volatile uint64_t *)(uintptr_t)(AREA_BASE + (p * nr_cpus + cpu) * stride);
}

/* Checks then rewrites every page of @cpu for round @r; false (recorded) on a mismatch. */
static bool do_round(unsigned cpu, uint64_t r)
{
	struct cpu_rec *rec = &recs[cpu];

	for (uint64_t p = 0; p < nr_pages; p++) {
		volatile uint64_t *w = page_of(cpu, p);

		for (uint64_t k = 0; k < WORDS; k++) {
			uint64_t want = pattern(r - 1, cpu, p, k);

			if (w[k] != want) {
				rec->page = p, rec->word = k, rec->got = w[k], rec->want = want;
				return false;
			}
			w[k] = pattern(r, cpu, p, k);
		}
	}
	return true;
}

static bool check_final(unsigned cpu)
{
	struct cpu_rec *rec = &recs[cpu];

	for (uint64_t p = 0; p < nr_pages; p++)
		for (uint64_t k = 0; k < WORDS; k++) {
			uint64_t want = pattern(rec->rounds, cpu, p, k), got = page_of(cpu, p)[k];

			if (got != want) {
				rec->page = p, rec->word = k, rec->got = got, rec->want = want;
				return false;
			}
		}
	return true;
}

static void worker(unsigned cpu)
{
	struct cpu_rec *rec = &recs[cpu];

	while (!__atomic_load_n(&stop_all, __ATOMIC_SEQ_CST)) {
		uint64_t r = rec->rounds + 1;

		if (!do_round(cpu, r)) {
			__atomic_store_n(&rec->failed, 1, __ATOMIC_SEQ_CST);
			break;
		}
		__atomic_store_n(&rec->rounds, r, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&rec->done, 1, __ATOMIC_SEQ_CST);
}

static void ap_worker(void)
{
	unsigned cpu = __atomic_add_fetch(&next_cpu, 1, __ATOMIC_SEQ_CST);

	while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
		__asm__ volatile("pause");
	worker(cpu);
}

/* ---- one disk, one synchronous request at a time ---- */

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct gdev disk;
static bool have_disk;
static struct blk_hdr *bhdr;
static uint8_t *bdata;
static volatile uint8_t *bstatus;
static uint64_t disk_gen[DISK_SECTORS];   /* tick each sector was last written at (0: never) */
static uint64_t disk_writes;

static bool blk_io(uint32_t type, uint64_t sector)
{
	struct gbuf b[3] = {
		{ bhdr, sizeof(*bhdr), false },
		{ bdata, SECTOR, type == BLK_T_IN },
		{ (const void *)bstatus, 1, true },
	};
	uint16_t head;
	uint32_t len;

	bhdr->type = type;
	bhdr->sector = sector;
	*bstatus = 0xff;
	if (gvq_add(&disk.vqs[0], b, 3, false) < 0)
		return false;
	gvq_kick(&disk.vqs[0]);
	return gvq_wait(&disk.vqs[0], &head, &len, 200000000UL) && *bstatus == 0;
}

static void sector_fill(uint8_t *buf, uint64_t s, uint64_t gen)
{
	uint64_t *w = (uint64_t *)buf;

	memcpy(buf, "MVMSTATE", 8);
	w[1] = s;
	w[2] = gen;
	for (unsigned i = 3; i < SECTOR / 8; i++)
		w[i] = pattern(gen, 0xd, s, i);
}

static bool sector_check(uint64_t s, uint64_t gen)
{
	static uint8_t want[SECTOR];

	if (!blk_io(BLK_T_IN, s))
		return false;
	sector_fill(want, s, gen);
	return !memcmp(bdata, want, SECTOR);
}

static bool disk_tick(uint64_t tick)
{
	uint64_t s = tick % DISK_SECTORS;

	sector_fill(bdata, s, tick);
	if (!blk_io(BLK_T_OUT, s) || !sector_check(s, tick)) {
		printk("state: FAIL disk sector %lu at tick %lu\n", s, tick);
		return false;
	}
	disk_gen[s] = tick;
	disk_writes++;
	return true;
}

/* ---- virtio-console, transmit only ---- */

static struct gdev con;
static bool have_con;
static char *con_buf;

static void con_line(const char *s, size_t n)
{
	struct gbuf b = { con_buf, (uint32_t)n, false };
	uint16_t head;
	uint32_t len;

	memcpy(con_buf, s, n);
	if (gvq_add(&con.vqs[1], &b, 1, false) >= 0) {
		gvq_kick(&con.vqs[1]);
		gvq_wait(&con.vqs[1], &head, &len, 200000000UL);
	}
}

static void open_devices(void)
{
	uint64_t want = 1ULL << VIRTIO_RING_F_EVENT_IDX;

	if (virtio_find(VIRTIO_ID_BLOCK, 0, &disk) && virtio_negotiate(&disk, want) &&
	    virtio_setup_queue(&disk, 0, 16)) {
		bhdr = galloc(PAGE);
		bstatus = (volatile uint8_t *)bhdr + 64;
		bdata = galloc(PAGE);
		virtio_driver_ok(&disk);
		have_disk = true;
	}
	if (virtio_find(VIRTIO_ID_CONSOLE, 0, &con) && virtio_negotiate(&con, want) &&
	    virtio_setup_queue(&con, 0, 8) && virtio_setup_queue(&con, 1, 8)) {
		con_buf = galloc(PAGE);
		virtio_driver_ok(&con);
		have_con = true;
	}
}

static int fail_report(void)
{
	for (unsigned c = 0; c < nr_cpus; c++)
		if (recs[c].failed)
			printk("state: FAIL cpu %u round %lu page %lu word %lu: 0x%lx, expected 0x%lx\n", c,
			       recs[c].rounds + 1, recs[c].page, recs[c].word, recs[c].got, recs[c].want);
	return GUEST_EXIT_FAIL;
}

int scn_state(void)
{
	uint64_t top = 0, tick = 0;
	char line[96];
	int started;

	nr_pages = 64;
	cmdline_get_u64("pages", &nr_pages);
	for (unsigned i = 0; i < bootinfo.nr_e820; i++) {
		const struct guest_e820 *e = &bootinfo.e820[i];

		if (e->type == 1 && e->addr <= AREA_BASE && e->addr + e->size > top)
			top = e->addr + e->size;
	}
	open_devices();
	started = smp_start(ap_worker, &nr_cpus, NULL);
	if (started < 0 || nr_cpus > MAX_CPUS) {
		printk("state: could not start the other CPUs\n");
		return GUEST_EXIT_FAIL;
	}
	/* Pages spread over all RAM above the area's base, CPUs interleaved. */
	if (top <= AREA_BASE || !nr_pages || (top - AREA_BASE) / (nr_pages * nr_cpus) < PAGE) {
		printk("state: not enough RAM above 64 MiB for %lu pages on %u CPUs\n", nr_pages,
		       nr_cpus);
		return GUEST_EXIT_FAIL;
	}
	stride = (top - AREA_BASE) / (nr_pages * nr_cpus) & ~(uint64_t)(PAGE - 1);
	printk("state: %u cpus, %lu pages each, %s%s\n", nr_cpus, nr_pages,
	       have_disk ? "disk" : "no disk", have_con ? ", console" : "");
	/* The APs waited for the layout (nr_cpus, stride) before their first round. */
	__atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint64_t r = recs[0].rounds + 1;
		int in;

		if (!do_round(0, r)) {
			recs[0].failed = 1;
			break;
		}
		recs[0].rounds = r;
		if (r % TICK_ROUNDS)
			continue;
		tick++;
		printk("state: round %lu\n", r);
		if (have_con) {
			size_t n = 0;

			memcpy(line, "state-console: round ", 21);
			n = 21;
			for (uint64_t v = r, d = 1000000000000ULL; d; d /= 10)
				if (v / d || n > 21 || d == 1)
					line[n++] = (char)('0' + (v / d) % 10);
			line[n++] = '\n';
			con_line(line, n);
		}
		if (have_disk && !disk_tick(tick))
			return GUEST_EXIT_FAIL;
		for (unsigned c = 1; c < nr_cpus; c++)
			if (recs[c].failed)
				goto stop;
		in = (inb(0x3f8 + 5) & 1) ? inb(0x3f8) : -1;
		if (in == 'q')
			break;
	}
stop:
	__atomic_store_n(&stop_all, 1, __ATOMIC_SEQ_CST);
	for (unsigned c = 1; c < nr_cpus; c++)
		while (!__atomic_load_n(&recs[c].done, __ATOMIC_SEQ_CST))
			__asm__ volatile("pause");
	for (unsigned c = 0; c < nr_cpus; c++)
		if (recs[c].failed || !check_final(c)) {
			recs[c].failed = 1;
			return fail_report();
		}
	for (uint64_t s = 0; have_disk && s < DISK_SECTORS; s++)
		if (disk_gen[s] && !sector_check(s, disk_gen[s])) {
			printk("state: FAIL disk sector %lu does not hold tick %lu\n", s, disk_gen[s]);
			return GUEST_EXIT_FAIL;
		}
	printk("state: verified %u cpus, rounds", nr_cpus);
	for (unsigned c = 0; c < nr_cpus; c++)
		printk(" %lu", recs[c].rounds);
	printk(", %lu disk writes, last tick %lu\n", disk_writes, tick);
	return 0;
}
