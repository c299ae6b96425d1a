/* A guest that dirties its memory at a set rate, for migration benchmarks (bench/migrate.sh):
 * a rate relative to the link is what decides whether pre-copy converges.
 *
 * scenario=dirty rate=P [per=M]
 *   writes P pages every M million TSC cycles (default 1), one 8-byte store each, walking all
 *   RAM above 64 MiB with a stride coprime to its page count (every page once before any
 *   twice, no two neighbours in a row: scattered pages, not long runs). The rate holds on
 *   average: a period that ran late (write-protection faults while the dirty log is on, a
 *   throttled vCPU) leaves its pages to the next ones, which write them on top of their own,
 *   as a workload with a backlog would, up to 100 periods' worth (more is dropped and
 *   counted). Prints "dirty: running" after the first period, and after every 1024 periods
 *   the periods that ended late, the pages behind and the pages dropped. Runs until the VM
 *   is stopped. */
#include "guest.h"
#include "scenarios.h"

#define AREA_BASE (64ULL << 20)
#define PAGE 4096

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

int scn_dirty(void)
{
	uint64_t rate = 0, per = 1, top = 0, pages, stride = 1031, pos = 0, late = 0;
	uint64_t start, written = 0, dropped = 0;
	size_t len;

	if (!cmdline_get_u64("rate", &rate) || !rate) {
		printk("dirty: rate=PAGES is required\n");
		return GUEST_EXIT_USAGE;
	}
	if (cmdline_get("per", &len) && (!cmdline_get_u64("per", &per) || !per)) {
		printk("dirty: bad per=\n");
		return GUEST_EXIT_USAGE;
	}
	for (unsigned i = 0; i < bootinfo.nr_e820; i++) {
		const struct guest_e820 *e = &bootinfo.e820[i];

		if (e->type == 1 && e->addr <= AREA_BASE && e->addr + e->size > top)
			top = e->addr + e->size;
	}
	if (top <= AREA_BASE + PAGE) {
		printk("dirty: no RAM above 64 MiB\n");
		return GUEST_EXIT_FAIL;
	}
	pages = (top - AREA_BASE) / PAGE;
	while (gcd(stride, pages) != 1)
		stride += 2;
	printk("dirty: %lu pages every %lu Mcycles over %lu pages\n", rate, per, pages);
	start = rdtsc();
	for (uint64_t n = 1;; n++) {
		uint64_t end = n * per * 1000000, due = n * rate;

		if (due - written > 100 * rate) {
			dropped += due - written - 100 * rate;
			written = due - 100 * rate;
		}
		for (; written < due; written++) {
			*(volatile uint64_t *)(uintptr_t)(AREA_BASE + pos * PAGE) = written;
			pos = (pos + stride) % pages;
		}
		if (rdtsc() - start >= end)
			late++;
		while (rdtsc() - start < end)
			__asm__ volatile("pause");
		if (n == 1)
			printk("dirty: running\n");
		if (n % 1024 == 0) {
			/* how far behind the clock the writes are now, in pages */
			uint64_t now_due = (rdtsc() - start) / (per * 1000000) * rate;

			printk("dirty: %lu periods, %lu late, %lu pages behind, %lu dropped\n", n,
			       late, now_due > written ? now_due - written : 0, dropped);
		}
	}
}
