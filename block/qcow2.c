/* qcow2 images: open (validation, tables, backing chain), read/write loops, writeback, close. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/image_lock.h"
#include "block/iov.h"
#include "block/qcow2_impl.h"

#define QCOW2_IOV_MAX 1024

int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err.text, sizeof(q->err.text), fmt, ap);
	va_end(ap);
	return -EIO;
}

int qcow2_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

ssize_t qcow2_read_upto(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset((uint8_t *)buf + done, 0, len - done);
	return (ssize_t)done;
}

int qcow2_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int file_size_of(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

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
		return 0;
	}
	if (strcmp(q->h.backing_fmt, "raw"))
		return errmsg_set(err, -ENOTSUP, "backing file %s: format '%s' is not supported",
				  q->backing_path, q->h.backing_fmt);
	q->backing.fd = open(q->backing_path, O_RDONLY | O_CLOEXEC);
	if (q->backing.fd < 0)
		return errmsg_set(err, -errno, "backing file %s: %s", q->backing_path, strerror(errno));
	if ((ret = file_size_of(q->backing.fd, &q->backing.size)))
		return errmsg_set(err, ret, "backing file %s: not a regular file or block device",
				  q->backing_path);
	if ((ret = image_lock(q->backing.fd, false)))
		return errmsg_set(err, ret, "backing file %s: locking: %s", q->backing_path,
				  image_lock_strerror(ret));
	return 0;
}

int qcow2_backing_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t off)
{
	uint64_t have = off < q->backing.size ? q->backing.size - off : 0;
	int ret = 0;

	if (have > len)
		have = len;
	if (have) {
		if (q->backing.q) {
			ret = qcow2_pread(q->backing.q, buf, have, off);
		} else {
			ssize_t n = qcow2_read_upto(q->backing.fd, buf, have, off);

			ret = n < 0 ? (int)n : 0; /* past a shrunk file's end: zeros */
		}
	}
	memset((uint8_t *)buf + have, 0, len - have);
	return ret;
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
	if ((ret = file_size_of(q->fd, &q->file_size_at_open))) {
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
	if ((ret = qcow2_cache_init(&q->l2_cache, slots, cs)) ||
	    (ret = qcow2_cache_init(&q->rb_cache, slots > 32 ? 32 : slots, cs))) {
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
		if ((ret = write_header_features(q)) || (ret = fdatasync(q->fd) ? -errno : 0)) {
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

int qcow2_write_table(struct qcow2 *q, const uint64_t *table, struct qcow2_dirty *d,
		      uint64_t base)
{
	uint64_t *be;
	int ret;

	if (!qcow2_dirty_any(d))
		return 0;
	be = malloc((d->hi - d->lo) * 8);
	if (!be)
		return -ENOMEM;
	for (uint64_t i = d->lo; i < d->hi; i++)
		be[i - d->lo] = htobe64(table[i]);
	ret = qcow2_write_at(q->fd, be, (d->hi - d->lo) * 8, base + d->lo * 8);
	free(be);
	if (!ret)
		d->lo = d->hi = 0;
	return ret;
}

static int sync_fd(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

int qcow2_writeback(struct qcow2 *q)
{
	bool rb = qcow2_cache_has_dirty(&q->rb_cache) || qcow2_dirty_any(&q->rt_dirty);
	bool l2 = qcow2_cache_has_dirty(&q->l2_cache), l1 = qcow2_dirty_any(&q->l1_dirty);
	int ret;

	if (q->readonly)
		return 0;
	if (rb) {
		/* New refcount blocks before the table entries that point to them. */
		if ((ret = qcow2_cache_write_dirty(q, &q->rb_cache)))
			return ret;
		if (qcow2_dirty_any(&q->rt_dirty) &&
		    ((ret = sync_fd(q->fd)) ||
		     (ret = qcow2_write_table(q, q->rt, &q->rt_dirty, q->h.rt_offset))))
			return ret;
		if ((l2 || l1) && (ret = sync_fd(q->fd)))
			return ret;
	}
	/* Every cluster a table will point to lies inside the file, even if never written. */
	if ((l2 || l1) && q->hwm * q->cluster_size > q->file_len) {
		if (ftruncate(q->fd, (off_t)(q->hwm * q->cluster_size)) < 0 && errno != EINVAL)
			return -errno; /* EINVAL: a block device, already as long as it gets */
		q->file_len = q->hwm * q->cluster_size;
	}
	if (l2 && ((ret = qcow2_cache_write_dirty(q, &q->l2_cache)) || (ret = sync_fd(q->fd))))
		return ret;
	if (l1 && ((ret = qcow2_write_table(q, q->l1, &q->l1_dirty, q->h.l1_offset)) ||
		   (ret = sync_fd(q->fd))))
		return ret;
	/* References dropped by the tables just made stable can go now. */
	if (q->npending) {
		if ((ret = qcow2_apply_pending_frees(q)) ||
		    (ret = qcow2_cache_write_dirty(q, &q->rb_cache)))
			return ret;
	}
	return 0;
}

int qcow2_flush(struct qcow2 *q)
{
	int ret = qcow2_writeback(q);

	if (ret || q->readonly)
		return ret;
	return sync_fd(q->fd);
}

int qcow2_close(struct qcow2 *q)
{
	int ret = 0;

	if (!q)
		return 0;
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

uint64_t qcow2_size(const struct qcow2 *q)
{
	return q->h.size;
}

const char *qcow2_last_error(const struct qcow2 *q)
{
	return q->err.text;
}

struct qcow2 *qcow2_backing(struct qcow2 *q)
{
	return q->backing.q;
}

const char *qcow2_backing_path(const struct qcow2 *q)
{
	return q->h.backing[0] ? q->backing_path : "";
}

static int read_run(struct qcow2 *q, const struct qcow2_run *r, uint64_t off,
		    const struct iovec *iov, int iovcnt, uint64_t skip)
{
	struct iovec part[QCOW2_IOV_MAX];
	int n, ret = 0;

	switch (r->kind) {
	case QCOW2_RUN_ZERO:
		iov_memset(iov, iovcnt, skip, 0, r->len);
		return 0;
	case QCOW2_RUN_COMPRESSED: {
		uint64_t cl = off >> q->cluster_bits, l1_idx = cl >> q->l2_bits;
		uint8_t *l2;

		if ((ret = qcow2_get_l2(q, l1_idx, &l2)))
			return ret;
		ret = qcow2_decompress_cluster(q, qcow2_get_be64(l2, cl & (q->l2_entries - 1)));
		if (!ret)
			iov_from_buf(iov, iovcnt, skip, q->dbuf + (off & (q->cluster_size - 1)), r->len);
		return ret;
	}
	case QCOW2_RUN_BACKING:
		if (!q->backing.q && q->backing.fd < 0) {
			iov_memset(iov, iovcnt, skip, 0, r->len);
			return 0;
		}
		/* Through q->tmp one cluster at a time: the backing chain is synchronous anyway. */
		for (uint64_t done = 0; done < r->len;) {
			uint64_t n2 = r->len - done < q->cluster_size ? r->len - done : q->cluster_size;
			uint8_t *b = malloc(n2);

			if (!b)
				return -ENOMEM;
			ret = qcow2_backing_read(q, b, n2, off + done);
			if (!ret)
				iov_from_buf(iov, iovcnt, skip + done, b, n2);
			free(b);
			if (ret)
				return ret;
			done += n2;
		}
		return 0;
	case QCOW2_RUN_DATA:
		n = iov_slice(iov, iovcnt, skip, r->len, part, QCOW2_IOV_MAX);
		if (n < 0)
			return n;
		for (uint64_t done = 0; done < r->len;) {
			ssize_t got = preadv(q->fd, part, n, (off_t)(r->host + done));

			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return -errno;
			if (got == 0) { /* allocated, never written, past the end of the file */
				iov_memset(iov, iovcnt, skip + done, 0, r->len - done);
				return 0;
			}
			done += (uint64_t)got;
			if (done < r->len && (n = iov_slice(iov, iovcnt, skip + done, r->len - done,
							    part, QCOW2_IOV_MAX)) < 0)
				return n;
		}
		return 0;
	}
	return -EINVAL;
}

int qcow2_readv(struct qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt)
{
	uint64_t len = iov_total(iov, iovcnt), done = 0;

	if (off > q->h.size || len > q->h.size - off)
		return -ERANGE;
	while (done < len) {
		struct qcow2_run r;
		int ret = qcow2_map(q, off + done, len - done, &r);

		if (!ret)
			ret = read_run(q, &r, off + done, iov, iovcnt, done);
		if (ret)
			return ret;
		done += r.len;
	}
	return 0;
}

int qcow2_writev(struct qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt)
{
	uint64_t len = iov_total(iov, iovcnt), done = 0;
	struct iovec part[QCOW2_IOV_MAX];

	if (q->readonly)
		return -EROFS;
	if (off > q->h.size || len > q->h.size - off)
		return -ERANGE;
	while (done < len) {
		uint64_t host, run = 0;
		int ret = qcow2_prepare_write(q, off + done, len - done, &host, &run);

		for (uint64_t w = 0; !ret && w < run;) {
			int n = iov_slice(iov, iovcnt, done + w, run - w, part, QCOW2_IOV_MAX);
			ssize_t put = n < 0 ? -1 : pwritev(q->fd, part, n, (off_t)(host + w));

			if (n < 0)
				ret = n;
			else if (put < 0 && errno != EINTR)
				ret = -errno;
			else if (put == 0)
				ret = -EIO;
			else if (put > 0)
				w += (uint64_t)put;
		}
		if (ret)
			return ret;
		done += run;
	}
	return 0;
}

int qcow2_pread(struct qcow2 *q, void *buf, uint64_t len, uint64_t off)
{
	struct iovec v = { buf, len };

	return len ? qcow2_readv(q, off, &v, 1) : 0;
}

int qcow2_pwrite(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
	struct iovec v = { (void *)buf, len };

	return len ? qcow2_writev(q, off, &v, 1) : 0;
}

int qcow2_get_info(struct qcow2 *q, struct qcow2_info *info)
{
	uint64_t fs;
	int ret;

	memset(info, 0, sizeof(*info));
	info->version = q->h.version;
	info->size = q->h.size;
	info->cluster_size = q->cluster_size;
	info->refcount_bits = q->refcount_bits;
	info->corrupt = q->h.incompat & QCOW2_INCOMPAT_CORRUPT;
	info->dirty = q->h.incompat & QCOW2_INCOMPAT_DIRTY;
	info->lazy_refcounts = q->h.compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	info->zstd = q->h.compression == QCOW2_COMPRESS_ZSTD;
	info->nb_snapshots = q->h.nb_snapshots;
	snprintf(info->backing, sizeof(info->backing), "%s", q->h.backing);
	snprintf(info->backing_fmt, sizeof(info->backing_fmt), "%s", q->h.backing_fmt);
	if ((ret = file_size_of(q->fd, &fs)))
		return ret;
	info->file_size = fs;
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint8_t *l2;

		if ((ret = qcow2_get_l2(q, i, &l2)))
			return ret;
		for (uint64_t j = 0; l2 && j < q->l2_entries; j++) {
			uint64_t e = qcow2_get_be64(l2, j);

			if ((e & QCOW2_OFLAG_COMPRESSED) || ((e & QCOW2_OFFSET_MASK) && !(e & QCOW2_OFLAG_ZERO)))
				info->allocated += q->cluster_size;
		}
	}
	return 0;
}
