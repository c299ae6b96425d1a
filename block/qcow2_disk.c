/* qcow2 behind the disk interface. Steady-state reads and writes of allocated clusters map
 * from the metadata caches alone to one contiguous host range and go to the engine as one data
 * I/O, from the I/O thread. Everything else is slow, synchronous work for the disk's worker
 * thread (block/disk_worker.h), so a guest that allocates on a slow image holds up that disk
 * only: a table to read into the cache, allocation and copy-on-write (after which the data
 * still goes to the engine as one I/O), backing files, compressed clusters, requests that span
 * discontiguous clusters, discard and write-zeroes, a flush's metadata write-back. The caches
 * are shared with the worker under the format lock, which the I/O thread only tries: while the
 * worker holds it, the I/O thread's requests join the worker's queue instead of waiting. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/disk_worker.h"
#include "block/iov.h"
#include "block/qcow2.h"

static void qcow2_data_done(struct blk_io *io, int64_t result)
{
	struct disk_req *r = io->opaque;

	qcow2_data_io_end(r->disk->qcow2, r->fmt_epoch);
	if (result >= 0 && (uint64_t)result < r->expect) {
		if (r->op == BLK_OP_WRITE) {
			result = -EIO;
		} else {
			/* Allocated but never written past the end of the file: zeros. */
			iov_memset(r->iov, r->iovcnt, (uint64_t)result, 0, r->expect - (uint64_t)result);
		}
	}
	r->done(r, result < 0 ? (int)result : 0);
}

/* r->io as the data I/O to the mapped host run at @host (format lock held). */
static void prepare_data(struct disk *d, struct disk_req *r, uint64_t host)
{
	r->fmt_epoch = qcow2_data_io_begin(d->qcow2);
	r->io = (struct blk_io){
		.op = r->op, .fd = d->fd, .iov = r->iov, .iovcnt = r->iovcnt,
		.offset = host, .done = qcow2_data_done, .opaque = r,
	};
}

/* The worker's side (format lock held): the metadata work (a table read into the cache, an
 * allocation, a copy-on-write), then the data as one engine I/O when it maps to one host run;
 * else the whole request here (backing file, compressed or discontiguous clusters). */
static int qcow2_disk_work(struct disk *d, struct disk_req *r)
{
	struct qcow2 *q = d->qcow2;
	struct qcow2_run run;
	uint64_t host, n = 0;
	int ret;

	switch (r->op) {
	case BLK_OP_READ:
		if (!r->expect)
			return 0;
		ret = qcow2_map(q, r->offset, r->expect, &run);
		if (!ret && run.kind == QCOW2_RUN_DATA && run.len == r->expect) {
			prepare_data(d, r, run.host);
			return DISK_WORK_SUBMIT;
		}
		return ret ? ret : qcow2_readv(q, r->offset, r->iov, r->iovcnt);
	case BLK_OP_WRITE:
		if (!r->expect)
			return 0;
		ret = qcow2_prepare_write(q, r->offset, r->expect, &host, &n);
		if (!ret && n == r->expect) {
			prepare_data(d, r, host);
			return DISK_WORK_SUBMIT;
		}
		return ret ? ret : qcow2_writev(q, r->offset, r->iov, r->iovcnt);
	case BLK_OP_FLUSH:
		/* Metadata in crash-consistency order, then the data. */
		if ((ret = qcow2_writeback(q)))
			return ret;
		return fdatasync(d->fd) < 0 ? -errno : 0;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
	case BLK_OP_WRITE_ZEROES_UNMAP:
		return qcow2_zero(q, r->offset, r->len, r->op != BLK_OP_WRITE_ZEROES);
	}
	return -EINVAL;
}

/* The I/O thread's side: a read or write that maps to one allocated host range goes to the
 * engine; anything else, or a format lock the worker holds, goes to the worker. */
static int qcow2_disk_submit(struct disk *d, struct disk_req *r)
{
	struct qcow2_run run;
	bool direct = false;

	if ((r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) && r->expect &&
	    disk_format_trylock(d)) {
		direct = !qcow2_map_cached(d->qcow2, r->offset, r->expect, r->op == BLK_OP_WRITE,
					   &run) &&
			 run.kind == QCOW2_RUN_DATA && run.len == r->expect;
		if (direct)
			prepare_data(d, r, run.host);
		disk_format_unlock(d);
		if (direct) {
			int ret = blk_engine_submit(d->engine, &r->io);

			if (ret)
				qcow2_data_io_end(d->qcow2, r->fmt_epoch); /* done() will not be called */
			return ret;
		}
	}
	disk_worker_defer(d, r);
	return 0;
}

const struct disk_format_ops disk_format_qcow2 = {
	.name = "qcow2",
	.submit = qcow2_disk_submit,
	.work = qcow2_disk_work,
};
