/* Dirty-page tracking for pre-copy: see migrate/dirty.h. */
#include "migrate/dirty.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/vm.h"

int dirty_set_init(struct dirty_set *d, const struct guest_mem *gm)
{
	uint64_t most = 0;

	memset(d, 0, sizeof(*d));
	d->nr_regions = gm->nr_regions;
	for (unsigned r = 0; r < gm->nr_regions; r++) {
		d->bits[r] = calloc(gm_bitmap_words(&gm->regions[r]), sizeof(uint64_t));
		if (!d->bits[r])
			goto fail;
		if (gm_bitmap_words(&gm->regions[r]) > most)
			most = gm_bitmap_words(&gm->regions[r]);
	}
	d->scratch = calloc(most ? most : 1, sizeof(uint64_t));
	if (d->scratch)
		return 0;
fail:
	dirty_set_free(d);
	return -ENOMEM;
}

void dirty_set_free(struct dirty_set *d)
{
	for (unsigned r = 0; r < GM_MAX_REGIONS; r++)
		free(d->bits[r]);
	free(d->scratch);
	memset(d, 0, sizeof(*d));
}

void dirty_set_clear(struct dirty_set *d, const struct guest_mem *gm)
{
	for (unsigned r = 0; r < d->nr_regions; r++)
		memset(d->bits[r], 0, gm_bitmap_words(&gm->regions[r]) * sizeof(uint64_t));
}

uint64_t dirty_set_count(const struct dirty_set *d, const struct guest_mem *gm)
{
	uint64_t n = 0;

	for (unsigned r = 0; r < d->nr_regions; r++)
		for (uint64_t w = 0; w < gm_bitmap_words(&gm->regions[r]); w++)
			n += (uint64_t)__builtin_popcountll(d->bits[r][w]);
	return n;
}

int dirty_start(struct vm *vm, struct errmsg *err)
{
	int ret = gm_dirty_start(&vm->mem);

	if (ret)
		return errmsg_set(err, ret, "dirty bitmap: %s", strerror(-ret));
	ret = vm_set_memslots(vm, KVM_MEM_LOG_DIRTY_PAGES);
	if (ret) {
		gm_dirty_stop(&vm->mem);
		if (vm_set_memslots(vm, 0)) {
			/* the slots keep logging: slower, not wrong; the failure is reported below */
		}
		return errmsg_set(err, ret, "KVM dirty logging (KVM_MEM_LOG_DIRTY_PAGES): %s",
				  strerror(-ret));
	}
	return 0;
}

void dirty_stop(struct vm *vm)
{
	int ret = vm_set_memslots(vm, 0);

	if (ret)
		fprintf(stderr, "minivmm: migration: turning KVM's dirty log off: %s\n",
			strerror(-ret));
	gm_dirty_stop(&vm->mem);
}

int dirty_collect(struct vm *vm, struct dirty_set *d, struct errmsg *err)
{
	for (unsigned r = 0; r < d->nr_regions; r++) {
		uint64_t words = gm_bitmap_words(&vm->mem.regions[r]);
		struct kvm_dirty_log log = { .slot = r, .dirty_bitmap = d->scratch };

		memset(d->scratch, 0, words * sizeof(uint64_t));
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return errmsg_set(err, -errno, "KVM_GET_DIRTY_LOG (slot %u): %s", r,
					  strerror(errno));
		for (uint64_t w = 0; w < words; w++)
			d->bits[r][w] |= d->scratch[w];
		gm_dirty_collect(&vm->mem, r, d->bits[r]);
	}
	return 0;
}
