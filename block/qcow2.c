/* qcow2, top layer: the entry points of block/qcow2.h that read and write guest data (the
 * loops over a request's runs), map for the disk adapter, flush, and what `img info` asks.
 * Open and close are in block/qcow2_open.c; the layers below are in docs/architecture.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/iov.h"
#include "block/qcow2.h"
#include "block/qcow2_cluster.h"
#include "block/qcow2_compress.h"
#include "block/qcow2_file.h"
#include "block/qcow2_header.h"
#include "block/qcow2_image.h"
#include "block/qcow2_writeback.h"

#define QCOW2_IOV_MAX 1024

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

static int read_run(struct qcow2 *q, const struct qcow2_extent *r, uint64_t off,
		    const struct iovec *iov, int iovcnt, uint64_t skip)
{
	struct iovec part[QCOW2_IOV_MAX];
	int n, ret = 0;

	switch (r->kind) {
	case QCOW2_CLUSTER_ZERO:
		iov_memset(iov, iovcnt, skip, 0, r->len);
		return 0;
	case QCOW2_CLUSTER_COMPRESSED: {
		uint64_t cl = off >> q->cluster_bits, l1_idx = cl >> q->l2_bits;
		uint8_t *l2;

		if ((ret = qcow2_get_l2(q, l1_idx, &l2)))
			return ret;
		ret = qcow2_decompress_cluster(q, qcow2_get_be64(l2, cl & (q->l2_entries - 1)));
		if (!ret)
			iov_from_buf(iov, iovcnt, skip, q->dbuf + (off & (q->cluster_size - 1)), r->len);
		return ret;
	}
	case QCOW2_CLUSTER_UNALLOCATED:
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
	case QCOW2_CLUSTER_DATA:
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
		struct qcow2_extent r;
		int ret = qcow2_cluster_map(q, off + done, len - done, &r);

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
		int ret = qcow2_cluster_prepare_write(q, off + done, len - done, &host, &run);

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

static void run_of_extent(const struct qcow2_extent *e, struct qcow2_run *run)
{
	static const enum qcow2_run_kind kind[] = {
		[QCOW2_CLUSTER_DATA] = QCOW2_RUN_DATA,
		[QCOW2_CLUSTER_ZERO] = QCOW2_RUN_ZERO,
		[QCOW2_CLUSTER_UNALLOCATED] = QCOW2_RUN_BACKING,
		[QCOW2_CLUSTER_COMPRESSED] = QCOW2_RUN_COMPRESSED,
	};

	*run = (struct qcow2_run){ kind[e->kind], e->host, e->len };
}

int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_run *run)
{
	struct qcow2_extent e;
	int ret = qcow2_cluster_map(q, off, len, &e);

	if (!ret)
		run_of_extent(&e, run);
	return ret;
}

int qcow2_map_cached(struct qcow2 *q, uint64_t off, uint64_t len, bool write,
		     struct qcow2_run *run)
{
	struct qcow2_extent e;
	int ret;

	q->l2_cache.hits_only = q->rb_cache.hits_only = true;
	ret = write ? qcow2_cluster_map_in_place(q, off, len, &e) : qcow2_cluster_map(q, off, len, &e);
	q->l2_cache.hits_only = q->rb_cache.hits_only = false;
	if (!ret)
		run_of_extent(&e, run);
	return ret;
}

int qcow2_prepare_write(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *host,
			uint64_t *run_len)
{
	return qcow2_cluster_prepare_write(q, off, len, host, run_len);
}

unsigned qcow2_data_io_begin(struct qcow2 *q)
{
	unsigned epoch = q->data_epoch;

	atomic_fetch_add(&q->data_inflight[epoch], 1);
	return epoch;
}

void qcow2_data_io_end(struct qcow2 *q, unsigned epoch)
{
	atomic_fetch_sub(&q->data_inflight[epoch & 1], 1);
}

int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool unmap)
{
	return qcow2_cluster_zero(q, off, len, unmap);
}

int qcow2_writeback(struct qcow2 *q)
{
	return qcow2_writeback_tables(q);
}

int qcow2_flush(struct qcow2 *q)
{
	int ret = qcow2_writeback_tables(q);

	if (ret || q->readonly)
		return ret;
	return qcow2_sync(q->fd);
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
	if ((ret = qcow2_file_size(q->fd, &fs)))
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
