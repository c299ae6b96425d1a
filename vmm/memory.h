/* Guest RAM and the only sanctioned way to touch it.
 *
 * RAM is one host mapping split into at most two guest-physical regions: [0, min(size, 3 GiB))
 * and, for larger guests, [4 GiB, 4 GiB + rest), leaving the 32-bit MMIO hole for devices, the
 * IOAPIC and the LAPIC. Every access checks that the whole [gpa, gpa+len) lies inside one region,
 * with overflow checks; device code never adds offsets to guest addresses itself. */
#ifndef MINIVMM_MEMORY_H
#define MINIVMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MMIO_HOLE_START 0xc0000000ULL /* 3 GiB */
#define GM_MMIO_HOLE_END 0x100000000ULL  /* 4 GiB */
#define GM_MAX_REGIONS 2
#define GM_PAGE_SIZE 4096ULL

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	/* While a migration tracks writes: a bit per page the VMM wrote (atomic words), else
	 * NULL. KVM's dirty log sees only the guest's own writes. */
	uint64_t *dirty;
};

struct guest_mem {
	struct gm_region regions[GM_MAX_REGIONS];
	unsigned nr_regions;
	uint8_t *base;       /* start of the host mapping */
	uint64_t size;       /* total RAM in bytes */
	bool hugepages;
	bool has_pagemap;    /* pagemap_fd is open */
	int pagemap_fd;      /* /proc/self/pagemap: which pages were never populated */
};

/* Lays out the regions for @size bytes without mapping anything (unit-testable). */
int gm_layout(struct guest_mem *gm, uint64_t size);

/* Maps @size bytes of anonymous memory (MAP_NORESERVE; MAP_HUGETLB when @hugepages) and lays
 * out the regions. @size must be a non-zero multiple of 4 KiB (2 MiB with hugepages). */
int gm_init(struct guest_mem *gm, uint64_t size, bool hugepages)
	__attribute__((warn_unused_result));
/* How many pages gm_unpopulated() looks at per call. */
#define GM_PAGEMAP_BATCH 512

/* Sets a bit in @out (bit i of word i / 64 for the i-th page) for each of the @pages pages
 * (at most GM_PAGEMAP_BATCH) from @gpa that were never populated: neither present nor swapped
 * out, so that they read as zero, and reading them would only fault in the zero page (a
 * migration's first pass over an idle guest). A page can be populated right after: callers
 * rely on the dirty log, or a paused VM. 0, or -errno (-ENOSYS without /proc/self/pagemap):
 * then nothing is known and every page must be looked at. */
int gm_unpopulated(const struct guest_mem *gm, uint64_t gpa, unsigned pages, uint64_t *out)
	__attribute__((warn_unused_result));
/* Lets KSM share identical guest pages (not with huge pages). */
int gm_mergeable(struct guest_mem *gm);
void gm_destroy(struct guest_mem *gm);

/* Host pointer for [gpa, gpa+len) if the whole range lies in one RAM region, else NULL.
 * len 0 is refused (NULL) so that callers cannot use it to probe addresses. */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copy out of / into guest RAM: 0, or -EFAULT when any byte is outside RAM. */
int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
	__attribute__((warn_unused_result));
int gm_write(struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
	__attribute__((warn_unused_result));
int gm_fill(struct guest_mem *gm, uint64_t gpa, int byte, size_t len)
	__attribute__((warn_unused_result));

/* Dirty tracking of the VMM's own writes into guest RAM, for live migration. Everything that
 * writes guest memory outside KVM (used rings, block read data, received frames, console
 * input, gm_write/gm_fill) marks the pages once the write is done; the migration sends what is
 * marked (with KVM's dirty log) and collects again. Marking is a no-op when not tracking. */
int gm_dirty_start(struct guest_mem *gm) __attribute__((warn_unused_result));
void gm_dirty_stop(struct guest_mem *gm);
void gm_mark_dirty(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* The same for a host pointer into guest RAM (a device's iovec); pointers outside RAM are
 * ignored. */
void gm_mark_dirty_hva(const struct guest_mem *gm, const void *p, size_t len);
/* ORs region @r's marks into @out (a bit per page, region-relative) and clears them. */
void gm_dirty_collect(const struct guest_mem *gm, unsigned r, uint64_t *out);
/* Words of a region's page bitmap. */
static inline uint64_t gm_bitmap_words(const struct gm_region *r)
{
	return (r->size / GM_PAGE_SIZE + 63) / 64;
}

/* End of RAM below 4 GiB (the top of the first region). */
uint64_t gm_low_top(const struct guest_mem *gm);

#endif
