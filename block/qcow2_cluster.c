/* qcow2 layer 4, cluster mapping: guest offset → L1 → L2 → host cluster; allocation and
 * copy-on-write for writes; zeroing and discard. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2_cache.h"
#include "block/qcow2_cluster.h"
#include "block/qcow2_compress.h"
#include "block/qcow2_file.h"
#include "block/qcow2_image.h"
#include "block/qcow2_refcount.h"
#include "block/qcow2_set.h"

int qcow2_check_l2_entry(struct qcow2 *q, uint64_t e, uint64_t l2_off, uint64_t idx)
{
	if (e & QCOW2_OFLAG_COMPRESSED) {
		uint64_t host, len;

		if (e & QCOW2_OFLAG_COPIED)
			return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": compressed with COPIED set",
					     l2_off, idx);
		qcow2_compressed_range(q, e, &host, &len);
		if (host > QCOW2_OFFSET_MASK || host < q->cluster_size)
			return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": compressed data at 0x%" PRIx64,
					     l2_off, idx, host);
		return 0;
	}
	if (e & QCOW2_L2_RESERVED)
		return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": reserved bits set (0x%" PRIx64 ")",
				     l2_off, idx, e);
	if ((e & QCOW2_OFLAG_ZERO) && q->h.version < 3)
		return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": zero flag in a version 2 image",
				     l2_off, idx);
	if ((e & QCOW2_OFFSET_MASK) & (q->cluster_size - 1))
		return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": offset 0x%" PRIx64 " not cluster-aligned",
				     l2_off, idx, e & QCOW2_OFFSET_MASK);
	if ((e & QCOW2_OFLAG_COPIED) && !(e & QCOW2_OFFSET_MASK))
		return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": COPIED without an offset",
				     l2_off, idx);
	if ((e & QCOW2_OFFSET_MASK) && (e & QCOW2_OFFSET_MASK) < q->cluster_size)
		return qcow2_corrupt(q, "L2 table 0x%" PRIx64 " entry %" PRIu64 ": data in the header cluster",
				     l2_off, idx);
	return 0;
}

int qcow2_get_l2(struct qcow2 *q, uint64_t l1_idx, uint8_t **l2)
{
	uint64_t off = q->l1[l1_idx] & QCOW2_OFFSET_MASK;

	*l2 = NULL;
	if (!off)
		return 0;
	return qcow2_cache_get(&q->l2_cache, off, false, l2);
}

/* The L2 table for @l1_idx, made writable: allocated when missing, copied when shared (an L1
 * entry without COPIED belongs to a snapshot too). */
static int get_writable_l2(struct qcow2 *q, uint32_t l1_idx, uint8_t **l2)
{
	uint64_t e = q->l1[l1_idx], old = e & QCOW2_OFFSET_MASK, off;
	bool fresh;
	int ret;

	if (old && (e & QCOW2_OFLAG_COPIED))
		return qcow2_cache_get(&q->l2_cache, old, false, l2);
	if (old) {
		uint8_t *src;

		if ((ret = qcow2_cache_get(&q->l2_cache, old, false, &src)))
			return ret;
		memcpy(q->tmp, src, q->cluster_size);
	}
	if ((ret = qcow2_alloc_cluster(q, &off, &fresh)) ||
	    (ret = qcow2_cache_get(&q->l2_cache, off, true, l2)) ||
	    (ret = qcow2_set_add(&q->meta, off >> q->cluster_bits)))
		return ret;
	if (old) {
		memcpy(*l2, q->tmp, q->cluster_size);
		if ((ret = qcow2_free_later(q, old)))
			return ret;
	}
	q->l1[l1_idx] = off | QCOW2_OFLAG_COPIED;
	qcow2_dirty_mark(&q->l1_dirty, l1_idx);
	return 0;
}

static enum qcow2_cluster_kind entry_kind(uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_CLUSTER_COMPRESSED;
	if (e & QCOW2_OFLAG_ZERO)
		return QCOW2_CLUSTER_ZERO;
	if (!(e & QCOW2_OFFSET_MASK))
		return QCOW2_CLUSTER_UNALLOCATED;
	return QCOW2_CLUSTER_DATA;
}

int qcow2_cluster_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_extent *run)
{
	uint64_t cs = q->cluster_size, cl = off >> q->cluster_bits;
	uint64_t l1_idx = cl >> q->l2_bits, l2_idx = cl & (q->l2_entries - 1);
	uint64_t in = off & (cs - 1), avail = cs - in;
	uint8_t *l2;
	uint64_t e;
	int ret;

	if (off >= q->h.size || len == 0 || len > q->h.size - off)
		return -ERANGE;
	if ((ret = qcow2_get_l2(q, l1_idx, &l2)))
		return ret;
	if (!l2) {
		/* The whole L2 range is unallocated. */
		uint64_t to_end = (q->l2_entries - l2_idx) * cs - in;

		*run = (struct qcow2_extent){ QCOW2_CLUSTER_UNALLOCATED, 0, len < to_end ? len : to_end };
		return 0;
	}
	e = qcow2_get_be64(l2, l2_idx);
	if ((ret = qcow2_check_l2_entry(q, e, q->l1[l1_idx] & QCOW2_OFFSET_MASK, l2_idx)))
		return ret;
	run->kind = entry_kind(e);
	run->host = run->kind == QCOW2_CLUSTER_DATA ? (e & QCOW2_OFFSET_MASK) + in : 0;
	run->len = avail < len ? avail : len;
	if (run->kind == QCOW2_CLUSTER_COMPRESSED)
		return 0;
	/* Extend over following entries of the same table with the same kind (and, for data,
	 * contiguous host clusters). */
	for (uint64_t i = l2_idx + 1; i < q->l2_entries && run->len < len; i++) {
		uint64_t n = qcow2_get_be64(l2, i), step = len - run->len < cs ? len - run->len : cs;

		if (entry_kind(n) != run->kind || qcow2_check_l2_entry(q, n, 0, i))
			break;
		if (run->kind == QCOW2_CLUSTER_DATA &&
		    (n & QCOW2_OFFSET_MASK) != (e & QCOW2_OFFSET_MASK) + (i - l2_idx) * cs)
			break;
		run->len += step;
	}
	return 0;
}

int qcow2_cluster_map_in_place(struct qcow2 *q, uint64_t off, uint64_t len,
			       struct qcow2_extent *run)
{
	uint64_t first = off >> q->cluster_bits, last, l1_idx = first >> q->l2_bits;
	uint8_t *l2;
	int ret;

	if (q->readonly)
		return -EROFS;
	if ((ret = qcow2_cluster_map(q, off, len, run)))
		return ret;
	if (run->kind != QCOW2_CLUSTER_DATA || !(q->l1[l1_idx] & QCOW2_OFLAG_COPIED))
		return -EAGAIN;
	if ((ret = qcow2_get_l2(q, l1_idx, &l2)))
		return ret;
	last = (off + run->len - 1) >> q->cluster_bits;
	for (uint64_t gcl = first; gcl <= last; gcl++) {
		uint64_t e = qcow2_get_be64(l2, gcl & (q->l2_entries - 1)), rc;
		uint64_t host = (e & QCOW2_OFFSET_MASK) >> q->cluster_bits;

		if (!(e & QCOW2_OFLAG_COPIED) || qcow2_set_has(&q->meta, host))
			return -EAGAIN;
		if ((ret = qcow2_refcount_get(q, host, &rc)))
			return ret;
		if (rc != 1)
			return -EAGAIN;
	}
	return 0;
}

/* Reads the current content of guest cluster @gcl (described by L2 entry @e) into q->tmp,
 * or returns *zero when it reads as zeros. */
static int old_cluster_content(struct qcow2 *q, uint64_t gcl, uint64_t e, bool *zero)
{
	uint64_t cs = q->cluster_size, goff = gcl << q->cluster_bits;
	int ret;

	*zero = false;
	switch (entry_kind(e)) {
	case QCOW2_CLUSTER_COMPRESSED:
		if ((ret = qcow2_decompress_cluster(q, e)))
			return ret;
		memcpy(q->tmp, q->dbuf, cs);
		return 0;
	case QCOW2_CLUSTER_ZERO:
		*zero = true;
		return 0;
	case QCOW2_CLUSTER_UNALLOCATED:
		if (!q->backing.q && q->backing.fd < 0) {
			*zero = true;
			return 0;
		}
		return qcow2_backing_read(q, q->tmp, goff + cs > q->h.size ? q->h.size - goff : cs, goff);
	case QCOW2_CLUSTER_DATA:
		/* Allocated past the end of the file: never written, zeros. */
		ret = (int)qcow2_read_upto(q->fd, q->tmp, cs, e & QCOW2_OFFSET_MASK);
		return ret < 0 ? ret : 0;
	}
	return -EINVAL;
}

/* Frees the host clusters a compressed descriptor covers, later. */
static int free_compressed_later(struct qcow2 *q, uint64_t desc)
{
	uint64_t host, len;

	qcow2_compressed_range(q, desc, &host, &len);
	for (uint64_t c = host & ~(q->cluster_size - 1); c < host + len; c += q->cluster_size) {
		int ret = qcow2_free_later(q, c);

		if (ret)
			return ret;
	}
	return 0;
}

static int drop_entry(struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return free_compressed_later(q, e);
	if (e & QCOW2_OFFSET_MASK)
		return qcow2_free_later(q, e & QCOW2_OFFSET_MASK);
	return 0;
}

/* Grows the file past @end in steps of at least 1 MiB, so that the guest's writes into new
 * clusters do not each extend the file (an extending O_DIRECT write is serialized by the
 * filesystem and, under io_uring, punted to a worker thread). */
static int extend_file(struct qcow2 *q, uint64_t end)
{
	uint64_t to;

	if (end <= q->file_len)
		return 0;
	to = end - q->file_len < (1u << 20) ? q->file_len + (1u << 20) : end;
	to = qcow2_align_up(to, q->cluster_size);
	if (fallocate(q->fd, 0, (off_t)q->file_len, (off_t)(to - q->file_len)) < 0 &&
	    ftruncate(q->fd, (off_t)to) < 0)
		return errno == EINVAL ? 0 : -errno; /* a block device: as long as it gets */
	q->file_len = to;
	return 0;
}

/* Makes guest cluster @gcl writable in place; @head / @tail_start bound the bytes the caller
 * will overwrite, the rest is filled from the old content. Returns the host cluster. */
static int make_writable(struct qcow2 *q, uint64_t gcl, uint64_t head, uint64_t tail_start,
			 uint64_t *host)
{
	uint64_t cs = q->cluster_size, l2_idx = gcl & (q->l2_entries - 1), e, off;
	uint32_t l1_idx = (uint32_t)(gcl >> q->l2_bits);
	uint8_t *l2;
	bool zero, fresh;
	int ret;

	if ((ret = get_writable_l2(q, l1_idx, &l2)))
		return ret;
	e = qcow2_get_be64(l2, l2_idx);
	if ((ret = qcow2_check_l2_entry(q, e, q->l1[l1_idx] & QCOW2_OFFSET_MASK, l2_idx)))
		return ret;
	if (entry_kind(e) == QCOW2_CLUSTER_DATA && (e & QCOW2_OFLAG_COPIED)) {
		off = e & QCOW2_OFFSET_MASK;
		uint64_t rc;

		if (qcow2_set_has(&q->meta, off >> q->cluster_bits))
			return qcow2_corrupt(q, "L2 entry for guest 0x%" PRIx64 " points into metadata at 0x%" PRIx64,
					     gcl << q->cluster_bits, off);
		/* COPIED promises refcount 1; writing in place on anything else would write into
		 * a cluster that is shared, free or outside what the refcounts describe. */
		if ((ret = qcow2_refcount_get(q, off >> q->cluster_bits, &rc)))
			return ret;
		if (rc != 1)
			return qcow2_corrupt(q, "L2 entry for guest 0x%" PRIx64 ": COPIED cluster 0x%" PRIx64 " has refcount %" PRIu64,
					     gcl << q->cluster_bits, off, rc);
		*host = off;
		return 0;
	}
	if (head > 0 || tail_start < cs) {
		if ((ret = old_cluster_content(q, gcl, e, &zero)))
			return ret;
	} else {
		zero = true;
	}
	if ((ret = qcow2_alloc_cluster(q, &off, &fresh)))
		return ret;
	if (fresh && (ret = extend_file(q, off + cs)))
		return ret;
	if (!zero || !fresh) {
		if (zero)
			memset(q->tmp, 0, cs);
		if (head && (ret = qcow2_write_at(q->fd, q->tmp, head, off)))
			return ret;
		if (tail_start < cs &&
		    (ret = qcow2_write_at(q->fd, q->tmp + tail_start, cs - tail_start, off + tail_start)))
			return ret;
	}
	/* The allocation may have evicted our table: look it up again. */
	if ((ret = get_writable_l2(q, l1_idx, &l2)))
		return ret;
	if ((ret = drop_entry(q, e)))
		return ret;
	qcow2_set_be64(l2, l2_idx, off | QCOW2_OFLAG_COPIED);
	qcow2_cache_mark_dirty(&q->l2_cache, l2);
	*host = off;
	return 0;
}

int qcow2_cluster_prepare_write(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *host,
				uint64_t *run_len)
{
	uint64_t cs = q->cluster_size, done = 0;

	if (q->readonly)
		return -EROFS;
	if (off >= q->h.size || len == 0 || len > q->h.size - off)
		return -ERANGE;
	while (done < len) {
		uint64_t pos = off + done, in = pos & (cs - 1);
		uint64_t n = cs - in < len - done ? cs - in : len - done, h = 0;
		int ret = make_writable(q, pos >> q->cluster_bits, in, in + n, &h);

		if (ret)
			return done ? 0 : ret;
		if (done == 0)
			*host = h + in;
		else if (h + in != *host + done)
			break;
		done += n;
		*run_len = done;
	}
	return 0;
}

static int zero_whole_cluster(struct qcow2 *q, uint64_t gcl)
{
	uint64_t l2_idx = gcl & (q->l2_entries - 1), e, ne;
	uint32_t l1_idx = (uint32_t)(gcl >> q->l2_bits);
	bool has_backing = q->backing.q || q->backing.fd >= 0;
	uint8_t *l2;
	int ret;

	if (!(q->l1[l1_idx] & QCOW2_OFFSET_MASK) && !has_backing)
		return 0;
	if ((ret = get_writable_l2(q, l1_idx, &l2)))
		return ret;
	e = qcow2_get_be64(l2, l2_idx);
	if ((ret = qcow2_check_l2_entry(q, e, q->l1[l1_idx] & QCOW2_OFFSET_MASK, l2_idx)))
		return ret;
	ne = has_backing ? QCOW2_OFLAG_ZERO : 0;
	if (e == ne)
		return 0;
	if ((ret = drop_entry(q, e)))
		return ret;
	qcow2_set_be64(l2, l2_idx, ne);
	qcow2_cache_mark_dirty(&q->l2_cache, l2);
	return 0;
}

int qcow2_cluster_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool unmap)
{
	uint64_t cs = q->cluster_size, done = 0;
	bool has_backing = q->backing.q || q->backing.fd >= 0;

	(void)unmap; /* whole clusters are always deallocated: reads return zeros either way */
	if (q->readonly)
		return -EROFS;
	if (off > q->h.size || len > q->h.size - off)
		return -ERANGE;
	while (done < len) {
		uint64_t pos = off + done, in = pos & (cs - 1);
		uint64_t n = cs - in < len - done ? cs - in : len - done;
		int ret;

		if (n == cs && (q->h.version >= 3 || !has_backing)) {
			ret = zero_whole_cluster(q, pos >> q->cluster_bits);
		} else {
			struct qcow2_extent r;

			ret = qcow2_cluster_map(q, pos, n, &r);
			if (!ret && !(r.kind == QCOW2_CLUSTER_ZERO ||
				      (r.kind == QCOW2_CLUSTER_UNALLOCATED && !has_backing))) {
				uint64_t h = 0, rl = 0;

				ret = qcow2_cluster_prepare_write(q, pos, n, &h, &rl);
				if (!ret) {
					memset(q->tmp, 0, n);
					ret = qcow2_write_at(q->fd, q->tmp, n, h);
				}
			}
		}
		if (ret)
			return ret;
		done += n;
	}
	return 0;
}
