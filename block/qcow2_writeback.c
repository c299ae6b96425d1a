/* qcow2 layer 4: the ordered metadata writeback. It sits above the refcounts (it applies the
 * deferred frees) and beside the cluster mapping, whose L1 and L2 tables it writes; the L2
 * cache reaches it through its writeback hook when it evicts a dirty table. */
#include <errno.h>
#include <unistd.h>

#include "block/qcow2_cache.h"
#include "block/qcow2_file.h"
#include "block/qcow2_image.h"
#include "block/qcow2_refcount.h"
#include "block/qcow2_writeback.h"

/* References dropped by tables now stable go once no data I/O mapped before the drop is in
 * flight. With I/O in flight, the drops so far are sealed and new I/O counts in the other
 * epoch; a later writeback applies them once the sealed epoch's I/O is over, even if newer
 * I/O is in flight then (a guest that always keeps a read going cannot hold frees back). */
static int release_frees(struct qcow2 *q)
{
	unsigned cur = q->data_epoch;
	size_t n;
	int ret;

	if (q->nsealed && atomic_load(&q->data_inflight[cur ^ 1]))
		return 0; /* the sealed drops wait for I/O mapped before them; newer ones behind */
	/* The other epoch has nothing in flight: the sealed drops go, and the rest too if
	 * nothing is in flight in this epoch either. */
	n = atomic_load(&q->data_inflight[cur]) ? q->nsealed : q->npending;
	if (n && ((ret = qcow2_apply_pending_frees(q, n)) ||
		  (ret = qcow2_cache_write_dirty(&q->rb_cache))))
		return ret;
	if (q->npending) {
		/* Dropped with I/O of this epoch in flight: sealed; new I/O counts in the other
		 * epoch, which has none in flight. */
		q->nsealed = q->npending;
		q->data_epoch = cur ^ 1;
	}
	return 0;
}

int qcow2_writeback_tables(struct qcow2 *q)
{
	bool rb = qcow2_cache_has_dirty(&q->rb_cache) || qcow2_dirty_any(&q->rt_dirty);
	bool l2 = qcow2_cache_has_dirty(&q->l2_cache), l1 = qcow2_dirty_any(&q->l1_dirty);
	int ret;

	if (q->readonly)
		return 0;
	if (rb) {
		/* New refcount blocks before the table entries that point to them. */
		if ((ret = qcow2_cache_write_dirty(&q->rb_cache)))
			return ret;
		if (qcow2_dirty_any(&q->rt_dirty) &&
		    ((ret = qcow2_sync(q->fd)) ||
		     (ret = qcow2_write_table(q->fd, q->rt, &q->rt_dirty, q->h.rt_offset))))
			return ret;
		if ((l2 || l1) && (ret = qcow2_sync(q->fd)))
			return ret;
	}
	/* Every cluster a table will point to lies inside the file, even if never written. */
	if ((l2 || l1) && q->hwm * q->cluster_size > q->file_len) {
		if (ftruncate(q->fd, (off_t)(q->hwm * q->cluster_size)) < 0 && errno != EINVAL)
			return -errno; /* EINVAL: a block device, already as long as it gets */
		q->file_len = q->hwm * q->cluster_size;
	}
	if (l2 && ((ret = qcow2_cache_write_dirty(&q->l2_cache)) || (ret = qcow2_sync(q->fd))))
		return ret;
	if (l1 && ((ret = qcow2_write_table(q->fd, q->l1, &q->l1_dirty, q->h.l1_offset)) ||
		   (ret = qcow2_sync(q->fd))))
		return ret;
	return release_frees(q);
}
