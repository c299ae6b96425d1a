#include "vmm/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE_SIZE (2ULL << 20)

int gm_layout(struct guest_mem *gm, uint64_t size)
{
	uint64_t low;

	memset(gm->regions, 0, sizeof(gm->regions));
	if (size == 0 || size % GM_PAGE_SIZE)
		return -EINVAL;
	/* Keep every guest-physical address well inside the 52-bit space. */
	if (size > (1ULL << 46))
		return -E2BIG;
	low = size < GM_MMIO_HOLE_START ? size : GM_MMIO_HOLE_START;
	gm->regions[0] = (struct gm_region){ .gpa = 0, .size = low, .hva = gm->base };
	gm->nr_regions = 1;
	if (size > low) {
		gm->regions[1] = (struct gm_region){
			.gpa = GM_MMIO_HOLE_END,
			.size = size - low,
			.hva = gm->base ? gm->base + low : NULL,
		};
		gm->nr_regions = 2;
	}
	gm->size = size;
	return 0;
}

int gm_mergeable(struct guest_mem *gm)
{
	/* Marking the range costs ~0.2 ms at startup, so only on request (--memory merge=on). */
	if (gm->hugepages || !gm->base)
		return -EINVAL;
	return madvise(gm->base, gm->size, MADV_MERGEABLE) < 0 ? -errno : 0;
}

int gm_init(struct guest_mem *gm, uint64_t size, bool hugepages)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	void *p;

	memset(gm, 0, sizeof(*gm));
	if (size == 0 || size % (hugepages ? HUGE_PAGE_SIZE : GM_PAGE_SIZE))
		return -EINVAL;
	if (hugepages)
		flags |= MAP_HUGETLB;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	gm->base = p;
	gm->hugepages = hugepages;
	/* Opened now: after the privilege drop /proc/self is root's (the process is no longer
	 * dumpable). Without it, a migration tests every page. */
	gm->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	gm->has_pagemap = gm->pagemap_fd >= 0;
	return gm_layout(gm, size);
}

void gm_destroy(struct guest_mem *gm)
{
	gm_dirty_stop(gm);
	if (gm->base)
		munmap(gm->base, gm->size);
	if (gm->has_pagemap)
		close(gm->pagemap_fd);
	memset(gm, 0, sizeof(*gm));
}

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)

int gm_unpopulated(const struct guest_mem *gm, uint64_t gpa, unsigned pages, uint64_t *out)
{
	uint64_t entries[GM_PAGEMAP_BATCH];
	const uint8_t *hva;
	ssize_t n;

	if (!gm->has_pagemap)
		return -ENOSYS;
	hva = pages && pages <= GM_PAGEMAP_BATCH ? gm_ptr(gm, gpa, (uint64_t)pages * GM_PAGE_SIZE) :
						  NULL;
	if (!hva)
		return -EINVAL;
	n = pread(gm->pagemap_fd, entries, pages * sizeof(entries[0]),
		  (off_t)((uintptr_t)hva / GM_PAGE_SIZE * sizeof(entries[0])));
	if (n < 0)
		return -errno;
	if ((size_t)n != pages * sizeof(entries[0]))
		return -EIO;
	memset(out, 0, (pages + 63) / 64 * sizeof(*out));
	for (unsigned i = 0; i < pages; i++)
		if (!(entries[i] & (PM_PRESENT | PM_SWAPPED)))
			out[i / 64] |= 1ULL << (i % 64);
	return 0;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + len - 1 < gpa)
		return NULL;
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r->hva ? r->hva + (gpa - r->gpa) : NULL;
	}
	return NULL;
}

int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
{
	void *p;

	if (len == 0)
		return 0;
	p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
{
	void *p;

	if (len == 0)
		return 0;
	p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	gm_mark_dirty(gm, gpa, len);
	return 0;
}

int gm_fill(struct guest_mem *gm, uint64_t gpa, int byte, size_t len)
{
	void *p;

	if (len == 0)
		return 0;
	p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memset(p, byte, len);
	gm_mark_dirty(gm, gpa, len);
	return 0;
}

uint64_t gm_low_top(const struct guest_mem *gm)
{
	return gm->regions[0].gpa + gm->regions[0].size;
}

int gm_dirty_start(struct guest_mem *gm)
{
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		struct gm_region *r = &gm->regions[i];
		uint64_t *b = calloc(gm_bitmap_words(r), sizeof(uint64_t));

		if (!b) {
			gm_dirty_stop(gm);
			return -ENOMEM;
		}
		__atomic_store_n(&r->dirty, b, __ATOMIC_RELEASE);
	}
	return 0;
}

void gm_dirty_stop(struct guest_mem *gm)
{
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		uint64_t *b = __atomic_exchange_n(&gm->regions[i].dirty, NULL, __ATOMIC_ACQ_REL);

		free(b);
	}
}

static void mark_region(const struct gm_region *r, uint64_t off, uint64_t len)
{
	uint64_t *b = __atomic_load_n(&r->dirty, __ATOMIC_ACQUIRE);

	if (!b || !len)
		return;
	for (uint64_t pg = off / GM_PAGE_SIZE; pg <= (off + len - 1) / GM_PAGE_SIZE; pg++)
		__atomic_fetch_or(&b[pg / 64], 1ULL << (pg % 64), __ATOMIC_RELEASE);
}

void gm_mark_dirty(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			mark_region(r, gpa - r->gpa, len);
	}
}

void gm_mark_dirty_hva(const struct guest_mem *gm, const void *p, size_t len)
{
	const uint8_t *h = p;

	for (unsigned i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (r->hva && h >= r->hva && (uint64_t)(h - r->hva) < r->size &&
		    len <= r->size - (uint64_t)(h - r->hva))
			mark_region(r, (uint64_t)(h - r->hva), len);
	}
}

void gm_dirty_collect(const struct guest_mem *gm, unsigned r, uint64_t *out)
{
	uint64_t *b = __atomic_load_n(&gm->regions[r].dirty, __ATOMIC_ACQUIRE);

	if (!b)
		return;
	for (uint64_t w = 0; w < gm_bitmap_words(&gm->regions[r]); w++)
		if (__atomic_load_n(&b[w], __ATOMIC_RELAXED))
			out[w] |= __atomic_exchange_n(&b[w], 0, __ATOMIC_ACQ_REL);
}
