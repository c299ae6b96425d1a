/* qcow2 layer 3, refcounts: lookup, update, cluster allocation, refcount-table growth,
 * deferred frees.
 *
 * Ordering (crash consistency): a new refcount block is written before the table entry that
 * points to it; refcounts of a new cluster are written before any L2/L1 entry that uses it
 * (block/qcow2_writeback.c writes refcount blocks first); a reference is dropped only after
 * the table that held it was written without it (qcow2_free_later). A crash can leak
 * clusters, never leave one referenced with a refcount that is too low. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_cache.h"
#include "block/qcow2_file.h"
#include "block/qcow2_image.h"
#include "block/qcow2_refcount.h"
#include "block/qcow2_set.h"

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *rb, uint64_t idx)
{
	switch (q->refcount_bits) {
	case 1:
	case 2:
	case 4: {
		unsigned per = 8 / q->refcount_bits, shift = (unsigned)(idx % per) * q->refcount_bits;

		return (rb[idx / per] >> shift) & ((1u << q->refcount_bits) - 1);
	}
	case 8:
		return rb[idx];
	case 16:
		return (uint64_t)rb[idx * 2] << 8 | rb[idx * 2 + 1];
	case 32:
		return qcow2_load_be32(rb + idx * 4);
	default:
		return qcow2_get_be64(rb, idx);
	}
}

static void rb_set(const struct qcow2 *q, uint8_t *rb, uint64_t idx, uint64_t val)
{
	switch (q->refcount_bits) {
	case 1:
	case 2:
	case 4: {
		unsigned per = 8 / q->refcount_bits, shift = (unsigned)(idx % per) * q->refcount_bits;
		uint8_t mask = (uint8_t)(((1u << q->refcount_bits) - 1) << shift);

		rb[idx / per] = (uint8_t)((rb[idx / per] & ~mask) | ((val << shift) & mask));
		break;
	}
	case 8:
		rb[idx] = (uint8_t)val;
		break;
	case 16:
		rb[idx * 2] = (uint8_t)(val >> 8);
		rb[idx * 2 + 1] = (uint8_t)val;
		break;
	case 32:
		qcow2_store_be32(rb + idx * 4, (uint32_t)val);
		break;
	default:
		qcow2_set_be64(rb, idx, val);
	}
}

uint64_t qcow2_refblock_entry(const struct qcow2 *q, const uint8_t *rb, uint64_t idx)
{
	return rb_get(q, rb, idx);
}

/* The refcount block covering @cluster, or NULL (*@rb) when it has none. */
static int get_rb(struct qcow2 *q, uint64_t cluster, uint8_t **rb)
{
	uint64_t ti = cluster >> q->rb_bits, off;

	*rb = NULL;
	if (ti >= q->rt_entries || !(off = q->rt[ti] & QCOW2_OFFSET_MASK))
		return 0;
	return qcow2_cache_get(&q->rb_cache, off, false, rb);
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val)
{
	uint8_t *rb;
	int ret = get_rb(q, cluster, &rb);

	*val = 0;
	if (ret || !rb)
		return ret;
	*val = rb_get(q, rb, cluster & (q->rb_entries - 1));
	return 0;
}

int qcow2_refcount_update(struct qcow2 *q, uint64_t off, int delta)
{
	uint64_t cluster = off >> q->cluster_bits, v;
	uint8_t *rb;
	int ret = get_rb(q, cluster, &rb);

	if (ret)
		return ret;
	if (!rb)
		return qcow2_corrupt(q, "refcount of cluster 0x%" PRIx64 ": no refcount block", off);
	v = rb_get(q, rb, cluster & (q->rb_entries - 1));
	if ((delta < 0 && v == 0) || (delta > 0 && v == q->refcount_max))
		return qcow2_corrupt(q, "refcount of cluster 0x%" PRIx64 " would %s", off,
				     delta < 0 ? "drop below 0" : "overflow");
	rb_set(q, rb, cluster & (q->rb_entries - 1), delta < 0 ? v - 1 : v + 1);
	qcow2_cache_mark_dirty(&q->rb_cache, rb);
	if (delta < 0 && v == 1 && cluster < q->free_hint)
		q->free_hint = cluster;
	return 0;
}

/* Grows the refcount table: new refcount blocks for the area the new structures occupy and a
 * bigger table, all placed at the end of the image and describing themselves; then the header
 * is switched to the new table (stable before and after) and the old table freed. */
static int grow_refcount_table(struct qcow2 *q)
{
	uint64_t cs = q->cluster_size, start = q->hwm, new_entries, k_rt = 0, k_rb = 0, end;
	uint64_t first_rb_idx, last_rb_idx, old_off = q->h.rt_offset;
	uint32_t old_clusters = q->h.rt_clusters;
	uint64_t *nrt = NULL;
	uint8_t hdr[12];
	int ret;

	new_entries = q->rt_entries * 2;
	for (int iter = 0;; iter++) {
		uint64_t need, prev_rb = k_rb, prev_rt = k_rt;

		if (iter == 64)
			return qcow2_corrupt(q, "refcount table growth does not converge");
		end = start + k_rb + k_rt;
		need = ((end - 1) >> q->rb_bits) + 1;
		if (need > new_entries)
			new_entries = need;
		k_rt = qcow2_align_up(new_entries * 8, cs) / cs;
		first_rb_idx = start >> q->rb_bits;
		last_rb_idx = (start + k_rb + k_rt - 1) >> q->rb_bits;
		k_rb = 0;
		for (uint64_t i = first_rb_idx; i <= last_rb_idx; i++)
			if (i >= q->rt_entries || !q->rt[i])
				k_rb++;
		if (k_rb == prev_rb && k_rt == prev_rt && iter > 0)
			break;
	}
	if (k_rt * cs > QCOW2_MAX_RT_BYTES)
		return qcow2_corrupt(q, "refcount table would exceed 8 MiB");
	new_entries = k_rt * cs / 8;
	nrt = calloc(new_entries, 8);
	if (!nrt)
		return -ENOMEM;
	memcpy(nrt, q->rt, q->rt_entries * 8);
	/* Dirty refcount blocks (and table entries that point to them) first. */
	if ((ret = qcow2_cache_write_dirty(&q->rb_cache)) || (ret = qcow2_sync(q->fd)))
		goto out;
	{
		uint64_t c = start;
		uint64_t *old_rt = q->rt, old_entries = q->rt_entries;

		for (uint64_t i = first_rb_idx; i <= last_rb_idx; i++) {
			uint8_t *rb;

			if (i < old_entries && old_rt[i])
				continue;
			if ((ret = qcow2_cache_get(&q->rb_cache, c * cs, true, &rb)))
				goto out;
			nrt[i] = c * cs;
			ret = qcow2_set_add(&q->meta, c);
			if (ret)
				goto out;
			c++;
		}
		/* Switch the in-memory table so refcount updates find the new blocks. */
		q->rt = nrt;
		q->rt_entries = new_entries;
		nrt = old_rt;
		for (uint64_t cl = start; cl < start + k_rb + k_rt; cl++)
			if ((ret = qcow2_refcount_update(q, cl * cs, +1)))
				goto out;
		if ((ret = qcow2_cache_write_dirty(&q->rb_cache)))
			goto out;
		q->h.rt_offset = c * cs;
		q->h.rt_clusters = (uint32_t)k_rt;
		q->rt_dirty = (struct qcow2_dirty){ 0, new_entries };
		if ((ret = qcow2_write_table(q->fd, q->rt, &q->rt_dirty, q->h.rt_offset)) || (ret = qcow2_sync(q->fd)))
			goto out;
		for (uint64_t cl = c; cl < c + k_rt; cl++)
			if ((ret = qcow2_set_add(&q->meta, cl)))
				goto out;
	}
	qcow2_store_be64(hdr, q->h.rt_offset);
	qcow2_store_be32(hdr + 8, q->h.rt_clusters);
	if ((ret = qcow2_write_at(q->fd, hdr, 12, 48)) || (ret = qcow2_sync(q->fd)))
		goto out;
	q->hwm = start + k_rb + k_rt;
	/* The old table is referenced by nothing stable any more. */
	for (uint32_t i = 0; i < old_clusters; i++) {
		qcow2_set_del(&q->meta, (old_off >> q->cluster_bits) + i);
		if ((ret = qcow2_refcount_update(q, old_off + (uint64_t)i * cs, -1)))
			goto out;
	}
out:
	free(nrt);
	return ret;
}

int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off, bool *fresh)
{
	for (;;) {
		uint64_t c = q->free_hint, v, ti;
		int ret;

		/* Find a cluster with refcount 0 (one without a refcount block counts as 0). */
		for (;; c++) {
			if ((c << q->cluster_bits) >> q->cluster_bits != c ||
			    (c << q->cluster_bits) > QCOW2_OFFSET_MASK)
				return -ENOSPC;
			if ((ret = qcow2_refcount_get(q, c, &v)))
				return ret;
			if (v == 0 && !qcow2_set_has(&q->meta, c) && c != 0)
				break;
		}
		q->free_hint = c;
		ti = c >> q->rb_bits;
		if (ti >= q->rt_entries) {
			if ((ret = grow_refcount_table(q)))
				return ret;
			continue;
		}
		if (!q->rt[ti]) {
			/* No refcount block here yet: the cluster becomes one that covers itself. */
			uint8_t *rb;

			if ((ret = qcow2_cache_get(&q->rb_cache, c << q->cluster_bits, true, &rb)))
				return ret;
			rb_set(q, rb, c & (q->rb_entries - 1), 1);
			q->rt[ti] = c << q->cluster_bits;
			qcow2_dirty_mark(&q->rt_dirty, ti);
			if ((ret = qcow2_set_add(&q->meta, c)))
				return ret;
			if (c + 1 > q->hwm)
				q->hwm = c + 1;
			q->free_hint = c + 1;
			continue;
		}
		if ((ret = qcow2_refcount_update(q, c << q->cluster_bits, +1)))
			return ret;
		*fresh = c >= q->hwm;
		if (c + 1 > q->hwm)
			q->hwm = c + 1;
		q->free_hint = c + 1;
		*off = c << q->cluster_bits;
		return 0;
	}
}

int qcow2_free_later(struct qcow2 *q, uint64_t off)
{
	if (q->npending == q->pending_cap) {
		size_t cap = q->pending_cap ? q->pending_cap * 2 : 64;
		uint64_t *n = realloc(q->pending_free, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		q->pending_free = n;
		q->pending_cap = cap;
	}
	q->pending_free[q->npending++] = off;
	return 0;
}

int qcow2_apply_pending_frees(struct qcow2 *q, size_t n)
{
	size_t i;
	int ret = 0;

	/* A drop that fails is given up (the cluster leaks): one that can never work (a hostile
	 * image's refcount already 0) must not fail every later writeback. */
	for (i = 0; i < n && i < q->npending && !ret; i++)
		ret = qcow2_refcount_update(q, q->pending_free[i], -1);
	memmove(q->pending_free, q->pending_free + i, (q->npending - i) * sizeof(*q->pending_free));
	q->npending -= i;
	q->nsealed -= i < q->nsealed ? i : q->nsealed;
	return ret;
}
