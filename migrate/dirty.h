/* Which guest pages changed since the last look, for pre-copy: KVM's dirty log (the guest's
 * own writes, on every RAM memslot) ORed with the VMM's marks (vmm/memory.h: rings, block read
 * data, received frames, console input).
 *
 * KVM_GET_DIRTY_LOG in its classic form (fetch and re-protect in one ioctl per slot), not
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 + KVM_CLEAR_DIRTY_LOG: manual protect pays off when a
 * slot is so large that write-protecting all of it at once holds KVM's MMU lock too long (tens
 * of GiB), or to clear in chunks just before each chunk is sent; here a GET_DIRTY_LOG of a
 * 256 MiB slot takes ~0.04 ms (docs/KVM-NOTES), and one call per round keeps one order that
 * is easy to reason about: fetch-and-protect, then read the pages (a write after the fetch is
 * in the next round's log). The dirty ring would need a vCPU exit per 4096 pages.
 * bench/dirty_log.sh measures the three: the same cost to the guest (a write-protect fault per
 * page per round) and to the collector per round (docs/migration.md, "Choices"). */
#ifndef MINIVMM_DIRTY_H
#define MINIVMM_DIRTY_H

#include <stdint.h>

#include "vmm/errmsg.h"
#include "vmm/memory.h"

struct vm;

struct dirty_set {
	uint64_t *bits[GM_MAX_REGIONS]; /* a bit per page of region r */
	uint64_t *scratch;              /* KVM's answer for one slot */
	unsigned nr_regions;
};

/* Allocates bitmaps for @vm's regions (all clear). */
int dirty_set_init(struct dirty_set *d, const struct guest_mem *gm)
	__attribute__((warn_unused_result));
void dirty_set_free(struct dirty_set *d);
void dirty_set_clear(struct dirty_set *d, const struct guest_mem *gm);
/* Pages set in @d. */
uint64_t dirty_set_count(const struct dirty_set *d, const struct guest_mem *gm);

/* Turns on KVM's dirty log on every RAM slot and the VMM's marks. From now on every page
 * written is reported by the next dirty_collect(). */
int dirty_start(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));
/* Turns both off again (any failure is reported, not fatal: the log costs only speed). Only
 * while the VM is paused (vCPUs parked, devices quiesced): the VMM's bitmap is freed, and a
 * device thread could otherwise still be marking it. */
void dirty_stop(struct vm *vm);
/* ORs into @d the pages written since the last collect (or the start), and resets both
 * logs. */
int dirty_collect(struct vm *vm, struct dirty_set *d, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif
