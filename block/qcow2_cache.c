/* qcow2 layer 1: LRU caches of one-cluster metadata tables (L2 tables, refcount blocks), kept
 * as on disk.
 *
 * Dirty tables are written lazily, at writeback (guest flush, close) or eviction. The L2 cache
 * is given a writeback hook (block/qcow2_open.c) that runs the full ordered writeback
 * (block/qcow2_writeback.c), because an L2 table must never reach the disk before the
 * refcounts of the clusters it points to; that writeback sits above the refcounts, which sit
 * above this cache, so it is reached through the hook rather than called by name. The
 * refcount-block cache has no hook: a refcount block may be written at any time (increments
 * only make leaks, and decrements are applied only after the L2 tables that dropped the
 * references are stable). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_cache.h"
#include "block/qcow2_file.h"

int qcow2_cache_init(struct qcow2_cache *c, unsigned nslots, int fd, uint64_t cluster_size,
		     qcow2_cache_writeback_fn writeback, void *opaque)
{
	c->fd = fd;
	c->cluster_size = cluster_size;
	c->writeback = writeback;
	c->opaque = opaque;
	c->slot = calloc(nslots, sizeof(*c->slot));
	if (!c->slot)
		return -ENOMEM;
	c->nslots = nslots;
	for (unsigned i = 0; i < nslots; i++) {
		if (posix_memalign((void **)&c->slot[i].data, 4096, cluster_size)) {
			qcow2_cache_free(c);
			return -ENOMEM;
		}
	}
	return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	if (!c->slot)
		return;
	for (unsigned i = 0; i < c->nslots; i++)
		free(c->slot[i].data);
	free(c->slot);
	c->slot = NULL;
}

static int write_slot(struct qcow2_cache *c, struct qcow2_cache_slot *s)
{
	int ret = qcow2_write_at(c->fd, s->data, c->cluster_size, s->offset);

	if (!ret)
		s->dirty = false;
	return ret;
}

int qcow2_cache_get(struct qcow2_cache *c, uint64_t offset, bool fresh, uint8_t **data)
{
	struct qcow2_cache_slot *victim = NULL;
	int ret;

	for (unsigned i = 0; i < c->nslots; i++) {
		struct qcow2_cache_slot *s = &c->slot[i];

		if (s->offset == offset) {
			s->used = ++c->tick;
			if (fresh) {
				memset(s->data, 0, c->cluster_size);
				s->dirty = true;
			}
			*data = s->data;
			return 0;
		}
		if (!victim || s->used < victim->used)
			victim = s;
	}
	if (c->hits_only)
		return -EWOULDBLOCK;
	if (victim->offset && victim->dirty) {
		if (c->writeback)
			ret = c->writeback(c->opaque);
		else
			ret = write_slot(c, victim);
		if (ret)
			return ret;
	}
	victim->offset = 0;
	victim->dirty = false;
	if (fresh) {
		memset(victim->data, 0, c->cluster_size);
		victim->dirty = true;
	} else if ((ret = qcow2_read_at(c->fd, victim->data, c->cluster_size, offset))) {
		return ret;
	}
	victim->offset = offset;
	victim->used = ++c->tick;
	*data = victim->data;
	return 0;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *data)
{
	for (unsigned i = 0; i < c->nslots; i++) {
		if (c->slot[i].data == data) {
			c->slot[i].dirty = true;
			return;
		}
	}
}

int qcow2_cache_write_dirty(struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->nslots; i++) {
		if (c->slot[i].offset && c->slot[i].dirty) {
			int ret = write_slot(c, &c->slot[i]);

			if (ret)
				return ret;
		}
	}
	return 0;
}

bool qcow2_cache_has_dirty(const struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->nslots; i++)
		if (c->slot[i].offset && c->slot[i].dirty)
			return true;
	return false;
}
