/* qcow2, top layer: open (validation, tables, caches, backing chain) and close. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/image_lock.h"
#include "block/qcow2.h"
#include "block/qcow2_cache.h"
#include "block/qcow2_file.h"
#include "block/qcow2_header.h"
#include "block/qcow2_image.h"
#include "block/qcow2_set.h"
#include "block/qcow2_snapshot.h"
#include "block/qcow2_writeback.h"

static int qcow2_open_depth(const char *path, bool readonly, unsigned depth, struct qcow2 **out,
			    bool *forced_ro, struct errmsg *err);

/* Opens the backing file named in the header, relative to the image's directory. */
static int open_backing(struct qcow2 *q, struct errmsg *err)
{
	char dir[4096];
	int ret;

	if (q->depth + 1 >= QCOW2_MAX_BACKING_DEPTH)
		return errmsg_set(err, -ELOOP, "backing chain deeper than %d images",
				  QCOW2_MAX_BACKING_DEPTH);
	if (q->h.backing[0] == '/') {
		snprintf(q->backing_path, sizeof(q->backing_path), "%s", q->h.backing);
	} else {
		snprintf(dir, sizeof(dir), "%s", q->path);
		if (snprintf(q->backing_path, sizeof(q->backing_path), "%s/%s", dirname(dir),
			     q->h.backing) >= (int)sizeof(q->backing_path))
			return errmsg_set(err, -ENAMETOOLONG, "backing file name too long");
	}
	/* Never probe: a raw backing file's first bytes are guest data. */
	if (!q->h.backing_fmt[0])
		return errmsg_set(err, -EINVAL,
				  "backing file %s: the image does not record its format (recreate the overlay with -F raw|qcow2)",
				  q->h.backing);
	if (!strcmp(q->h.backing_fmt, "qcow2")) {
		ret = qcow2_open_depth(q->backing_path, true, q->depth + 1, &q->backing.q, NULL, err);
		if (ret)
			return errmsg_prefix(err, ret, "backing file %s", q->backing_path);
		q->backing.size = q->backing.q->h.size;
		q->backing.read = qcow2_pread;
		return 0;
	}
	if (strcmp(q->h.backing_fmt, "raw"))
		return errmsg_set(err, -ENOTSUP, "backing file %s: format '%s' is not supported",
				  q->backing_path, q->h.backing_fmt);
	q->backing.fd = open(q->backing_path, O_RDONLY | O_CLOEXEC);
	if (q->backing.fd < 0)
		return errmsg_set(err, -errno, "backing file %s: %s", q->backing_path, strerror(errno));
	if ((ret = qcow2_file_size(q->backing.fd, &q->backing.size)))
		return errmsg_set(err, ret, "backing file %s: not a regular file or block device",
				  q->backing_path);
	if ((ret = image_lock(q->backing.fd, false)))
		return errmsg_set(err, ret, "backing file %s: locking: %s", q->backing_path,
				  image_lock_strerror(ret));
	return 0;
}

/* Loads and validates L1 and the refcount table; records every metadata cluster. */
static int load_tables(struct qcow2 *q, struct errmsg *err)
{
	uint64_t fs = q->file_size_at_open, cs = q->cluster_size, snap_bytes;
	struct qcow2_snapshot *snaps;
	int ret;

	q->l1_size = q->h.l1_size;
	q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
	q->rt_entries = (uint64_t)q->h.rt_clusters * cs / 8;
	q->rt = calloc(q->rt_entries, 8);
	if (!q->l1 || !q->rt)
		return errmsg_set(err, -ENOMEM, "out of memory");
	if ((ret = qcow2_read_at(q->fd, q->l1, (size_t)q->l1_size * 8, q->h.l1_offset)) ||
	    (ret = qcow2_read_at(q->fd, q->rt, q->rt_entries * 8, q->h.rt_offset)))
		return errmsg_set(err, ret, "reading tables: %s", strerror(-ret));
	if ((ret = qcow2_set_add(&q->meta, 0)))
		return ret;
	for (uint64_t i = 0; i < q->h.rt_clusters; i++)
		if ((ret = qcow2_set_add(&q->meta, (q->h.rt_offset >> q->cluster_bits) + i)))
			return ret;
	for (uint64_t i = 0; i < qcow2_align_up((uint64_t)q->l1_size * 8, cs) / cs; i++)
		if ((ret = qcow2_set_add(&q->meta, (q->h.l1_offset >> q->cluster_bits) + i)))
			return ret;
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t e = q->rt[i] = be64toh(q->rt[i]);

		if (!e)
			continue;
		if ((e & ~QCOW2_OFFSET_MASK) || (e & (cs - 1)) || e >= fs || cs > fs - e)
			return errmsg_set(err, -EINVAL,
					  "refcount table entry %" PRIu64 ": 0x%" PRIx64 " is not a cluster inside the file",
					  i, e);
		if (qcow2_set_has(&q->meta, e >> q->cluster_bits))
			return errmsg_set(err, -EINVAL,
					  "refcount table entry %" PRIu64 ": block at 0x%" PRIx64 " overlaps other metadata",
					  i, e);
		if ((ret = qcow2_set_add(&q->meta, e >> q->cluster_bits)))
			return ret;
	}
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint64_t e = q->l1[i] = be64toh(q->l1[i]), off = e & QCOW2_OFFSET_MASK;

		if (e & QCOW2_L1_RESERVED)
			return errmsg_set(err, -EINVAL, "L1 entry %u: reserved bits set (0x%" PRIx64 ")",
					  i, e);
		if (!off)
			continue;
		if ((off & (cs - 1)) || off >= fs || cs > fs - off)
			return errmsg_set(err, -EINVAL,
					  "L1 entry %u: L2 table at 0x%" PRIx64 " is not a cluster inside the file",
					  i, off);
		/* Two L1 entries may share an L2 table only through snapshots; a table that is also
		 * a refcount block, the header or a table is an attack. */
		if (qcow2_set_has(&q->meta, off >> q->cluster_bits)) {
			bool dup = false;

			for (uint32_t j = 0; j < i && !dup; j++)
				dup = (q->l1[j] & QCOW2_OFFSET_MASK) == off;
			if (!dup)
				return errmsg_set(err, -EINVAL,
						  "L1 entry %u: L2 table at 0x%" PRIx64 " overlaps other metadata",
						  i, off);
		}
		if ((ret = qcow2_set_add(&q->meta, off >> q->cluster_bits)))
			return ret;
	}
	ret = qcow2_load_snapshots(q, &snaps, &snap_bytes);
	if (ret)
		return errmsg_set(err, ret, "%s", q->err.text);
	for (uint64_t c = 0; c < qcow2_align_up(snap_bytes, cs) / cs; c++)
		if ((ret = qcow2_set_add(&q->meta, (q->h.snapshots_offset >> q->cluster_bits) + c)))
			break;
	for (uint32_t i = 0; !ret && i < q->h.nb_snapshots; i++)
		for (uint64_t c = 0; !ret && c < qcow2_align_up((uint64_t)snaps[i].l1_size * 8, cs) / cs; c++)
			ret = qcow2_set_add(&q->meta, (snaps[i].l1_offset >> q->cluster_bits) + c);
	free(snaps);
	return ret;
}

static int write_header_features(struct qcow2 *q)
{
	uint8_t buf[QCOW2_V3_HEADER_LEN];

	qcow2_header_encode(&q->h, buf);
	/* Only the feature fields: the rest of the header is untouched. */
	return qcow2_write_at(q->fd, buf + 72, 24, 72);
}

/* The L2 cache's writeback hook: evicting a dirty L2 table writes back everything in order
 * first, since an L2 table must not reach the disk before the refcounts of the clusters it
 * points to. The cache sits below the refcounts and cannot call this by name. */
static int l2_evict_writeback(void *q)
{
	return qcow2_writeback_tables(q);
}

static int qcow2_open_depth(const char *path, bool readonly, unsigned depth, struct qcow2 **out,
			    bool *forced_ro, struct errmsg *err)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	uint64_t cs, buflen;
	uint8_t *buf = NULL;
	unsigned slots;
	int ret;

	if (!q)
		return errmsg_set(err, -ENOMEM, "out of memory");
	q->fd = q->backing.fd = -1;
	q->depth = depth;
	q->readonly = readonly;
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (q->fd < 0) {
		ret = errmsg_set(err, -errno, "%s", strerror(errno));
		goto fail;
	}
	if ((ret = qcow2_file_size(q->fd, &q->file_size_at_open))) {
		errmsg_set(err, ret, "not a regular file or block device");
		goto fail;
	}
	if ((ret = image_lock(q->fd, !readonly))) {
		errmsg_set(err, ret, "locking: %s", image_lock_strerror(ret));
		goto fail;
	}
	buflen = q->file_size_at_open < (2u << 20) ? q->file_size_at_open : (2u << 20);
	buf = malloc(buflen ? buflen : 1);
	if (!buf) {
		ret = errmsg_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((ret = qcow2_read_at(q->fd, buf, buflen, 0))) {
		errmsg_set(err, ret, "reading the header: %s", strerror(-ret));
		goto fail;
	}
	if ((ret = qcow2_header_parse(buf, buflen, q->file_size_at_open, &q->h, err)))
		goto fail;
	if (q->h.incompat & QCOW2_INCOMPAT_CORRUPT) {
		q->readonly = true;
		if (forced_ro)
			*forced_ro = true;
	}
	if ((q->h.incompat & QCOW2_INCOMPAT_DIRTY) && !q->readonly) {
		ret = errmsg_set(err, -EINVAL,
				 "incompatible_features: dirty bit set, refcounts may be stale (repair with qemu-img check -r all, or open read-only)");
		goto fail;
	}
	cs = q->cluster_size = 1ULL << q->h.cluster_bits;
	q->cluster_bits = q->h.cluster_bits;
	q->l2_bits = q->cluster_bits - 3;
	q->l2_entries = cs / 8;
	q->refcount_bits = 1u << q->h.refcount_order;
	q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX : (1ULL << q->refcount_bits) - 1;
	q->rb_bits = q->cluster_bits + 3 - q->h.refcount_order;
	q->rb_entries = 1ULL << q->rb_bits;
	q->free_hint = 1;
	q->hwm = qcow2_align_up(q->file_size_at_open, cs) >> q->cluster_bits;
	q->file_len = q->file_size_at_open;
	if ((ret = load_tables(q, err)))
		goto fail;
	slots = (unsigned)((4u << 20) / cs);
	slots = slots < 4 ? 4 : slots > 64 ? 64 : slots;
	if ((ret = qcow2_cache_init(&q->l2_cache, slots, q->fd, cs, l2_evict_writeback, q)) ||
	    (ret = qcow2_cache_init(&q->rb_cache, slots > 32 ? 32 : slots, q->fd, cs, NULL, NULL))) {
		errmsg_set(err, ret, "out of memory");
		goto fail;
	}
	q->cbuf = malloc(2 * cs);
	q->dbuf = malloc(cs);
	q->tmp = malloc(cs);
	if (!q->cbuf || !q->dbuf || !q->tmp) {
		ret = errmsg_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (q->h.backing[0] && (ret = open_backing(q, err)))
		goto fail;
	/* Unknown auto-clear features describe data we will not keep up to date. */
	if (!q->readonly && q->h.version >= 3 && q->h.autoclear) {
		q->h.autoclear = 0;
		if ((ret = write_header_features(q)) || (ret = qcow2_sync(q->fd))) {
			errmsg_set(err, ret, "clearing autoclear_features: %s", strerror(-ret));
			goto fail;
		}
	}
	free(buf);
	*out = q;
	return 0;
fail:
	free(buf);
	q->readonly = true; /* nothing to write back */
	qcow2_close(q);
	return ret;
}

int qcow2_open(const char *path, bool readonly, struct qcow2 **out, bool *forced_ro,
	       struct errmsg *err)
{
	if (forced_ro)
		*forced_ro = false;
	return qcow2_open_depth(path, readonly, 0, out, forced_ro, err);
}

int qcow2_close(struct qcow2 *q)
{
	int ret = 0;

	if (!q)
		return 0;
	/* The caller's data I/O is over: an engine is destroyed before its image is closed. */
	atomic_store(&q->data_inflight[0], 0);
	atomic_store(&q->data_inflight[1], 0);
	if (!q->readonly) {
		/* Twice: the second pass writes the refcount drops the first one applied. */
		ret = qcow2_writeback(q);
		if (!ret)
			ret = qcow2_flush(q);
	}
	if (q->backing.q)
		qcow2_close(q->backing.q);
	if (q->backing.fd >= 0)
		close(q->backing.fd);
	qcow2_cache_free(&q->l2_cache);
	qcow2_cache_free(&q->rb_cache);
	qcow2_set_free(&q->meta);
	free(q->l1);
	free(q->rt);
	free(q->pending_free);
	free(q->cbuf);
	free(q->dbuf);
	free(q->tmp);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
	return ret;
}

void qcow2_unlock(struct qcow2 *q)
{
	image_unlock(q->fd);
}

int qcow2_relock(struct qcow2 *q)
{
	return image_lock(q->fd, !q->readonly);
}
