/* LRU caches of one-cluster metadata tables (L2 tables, refcount blocks), kept as on disk.
 *
 * Dirty tables are written lazily, at writeback (guest flush, close) or eviction. Evicting a
 * dirty L2 table runs the full ordered writeback first, because an L2 table must never reach
 * the disk before the refcounts of the clusters it points to. A refcount block may be written
 * at any time: increments only make leaks, and decrements are applied (qcow2_free_later) only
 * after the L2 tables that dropped the references are stable. */
#include <errno.h>
#include <stdlib.h>

#include "block/qcow2_impl.h"

int qcow2_cache_init(struct qcow2_cache *c, unsigned nslots, uint64_t cluster_size)
{
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

static int write_slot(struct qcow2 *q, struct qcow2_cache_slot *s)
{
	int ret = qcow2_write_at(q->fd, s->data, q->cluster_size, s->offset);

	if (!ret)
		s->dirty = false;
	return ret;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool fresh,
		    uint8_t **data)
{
	struct qcow2_cache_slot *victim = NULL;
	int ret;

	for (unsigned i = 0; i < c->nslots; i++) {
		struct qcow2_cache_slot *s = &c->slot[i];

		if (s->offset == offset) {
			s->used = ++c->tick;
			if (fresh) {
				memset(s->data, 0, q->cluster_size);
				s->dirty = true;
			}
			*data = s->data;
			return 0;
		}
		if (!victim || s->used < victim->used)
			victim = s;
	}
	if (victim->offset && victim->dirty) {
		if (c == &q->l2_cache)
			ret = qcow2_writeback(q);
		else
			ret = write_slot(q, victim);
		if (ret)
			return ret;
	}
	victim->offset = 0;
	victim->dirty = false;
	if (fresh) {
		memset(victim->data, 0, q->cluster_size);
		victim->dirty = true;
	} else if ((ret = qcow2_read_at(q->fd, victim->data, q->cluster_size, offset))) {
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

int qcow2_cache_write_dirty(struct qcow2 *q, struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->nslots; i++) {
		if (c->slot[i].offset && c->slot[i].dirty) {
			int ret = write_slot(q, &c->slot[i]);

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

/* ---- cluster index set: open addressing, linear probing, grown at 50% load ---- */

static size_t set_slot(const struct qcow2_cluster_set *s, uint64_t key)
{
	uint64_t h = (key + 1) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 17) & (s->cap - 1);
}

static int set_grow(struct qcow2_cluster_set *s)
{
	struct qcow2_cluster_set n = { .cap = s->cap ? s->cap * 2 : 64 };

	n.key = calloc(n.cap, sizeof(*n.key));
	if (!n.key)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->key[i]) {
			size_t j = set_slot(&n, s->key[i] - 1);

			while (n.key[j])
				j = (j + 1) & (n.cap - 1);
			n.key[j] = s->key[i];
			n.count++;
		}
	}
	free(s->key);
	*s = n;
	return 0;
}

int qcow2_set_add(struct qcow2_cluster_set *s, uint64_t key)
{
	size_t i;

	if ((s->count + 1) * 2 > s->cap) {
		int ret = set_grow(s);

		if (ret)
			return ret;
	}
	for (i = set_slot(s, key); s->key[i]; i = (i + 1) & (s->cap - 1))
		if (s->key[i] == key + 1)
			return 0;
	s->key[i] = key + 1;
	s->count++;
	return 0;
}

bool qcow2_set_has(const struct qcow2_cluster_set *s, uint64_t key)
{
	if (!s->cap)
		return false;
	for (size_t i = set_slot(s, key); s->key[i]; i = (i + 1) & (s->cap - 1))
		if (s->key[i] == key + 1)
			return true;
	return false;
}

void qcow2_set_del(struct qcow2_cluster_set *s, uint64_t key)
{
	size_t i;

	if (!s->cap)
		return;
	for (i = set_slot(s, key); s->key[i]; i = (i + 1) & (s->cap - 1))
		if (s->key[i] == key + 1)
			break;
	if (!s->key[i])
		return;
	s->key[i] = 0;
	s->count--;
	/* Re-insert the rest of the probe run so lookups still find them. */
	for (size_t j = (i + 1) & (s->cap - 1); s->key[j]; j = (j + 1) & (s->cap - 1)) {
		uint64_t k = s->key[j];
		size_t t;

		s->key[j] = 0;
		for (t = set_slot(s, k - 1); s->key[t]; t = (t + 1) & (s->cap - 1))
			;
		s->key[t] = k;
	}
}

void qcow2_set_free(struct qcow2_cluster_set *s)
{
	free(s->key);
	memset(s, 0, sizeof(*s));
}
