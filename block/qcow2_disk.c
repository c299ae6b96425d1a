/* qcow2 behind the disk interface. Steady-state reads and writes of allocated clusters map
 * from the metadata caches to one contiguous host range and go to the engine as one data I/O;
 * everything else (allocation, copy-on-write, backing files, compressed clusters, requests
 * that span discontiguous clusters, discard) is done synchronously on the I/O thread and
 * reported through the engine's completion path. */
#include <errno.h>

#include "block/disk.h"
#include "block/iov.h"
#include "block/qcow2.h"

static void qcow2_data_done(struct blk_io *io, int64_t result)
{
	struct disk_req *r = io->opaque;

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

static void qcow2_sync_done(struct blk_io *io, int64_t result)
{
	struct disk_req *r = io->opaque;

	r->done(r, (int)result);
}

static void complete_now(struct disk *d, struct disk_req *r, int result)
{
	r->io = (struct blk_io){ .op = r->op, .done = qcow2_sync_done, .opaque = r };
	blk_engine_complete(d->engine, &r->io, result);
}

static int submit_data(struct disk *d, struct disk_req *r, uint64_t host)
{
	r->io = (struct blk_io){
		.op = r->op, .fd = d->fd, .iov = r->iov, .iovcnt = r->iovcnt,
		.offset = host, .done = qcow2_data_done, .opaque = r,
	};
	return blk_engine_submit(d->engine, &r->io);
}

static int qcow2_disk_submit(struct disk *d, struct disk_req *r)
{
	struct qcow2 *q = d->qcow2;
	struct qcow2_run run;
	uint64_t host, n = 0;
	int ret;

	switch (r->op) {
	case BLK_OP_READ:
		if (r->expect == 0) {
			complete_now(d, r, 0);
			return 0;
		}
		ret = qcow2_map(q, r->offset, r->expect, &run);
		if (!ret && run.kind == QCOW2_RUN_DATA && run.len == r->expect)
			return submit_data(d, r, run.host);
		complete_now(d, r, ret ? ret : qcow2_readv(q, r->offset, r->iov, r->iovcnt));
		return 0;
	case BLK_OP_WRITE:
		if (r->expect == 0) {
			complete_now(d, r, 0);
			return 0;
		}
		ret = qcow2_prepare_write(q, r->offset, r->expect, &host, &n);
		if (!ret && n == r->expect)
			return submit_data(d, r, host);
		complete_now(d, r, ret ? ret : qcow2_writev(q, r->offset, r->iov, r->iovcnt));
		return 0;
	case BLK_OP_FLUSH:
		/* Metadata in crash-consistency order, then the data descriptor. */
		ret = qcow2_writeback(q);
		if (ret) {
			complete_now(d, r, ret);
			return 0;
		}
		r->io = (struct blk_io){ .op = BLK_OP_FLUSH, .fd = d->fd, .done = qcow2_data_done,
					 .opaque = r };
		return blk_engine_submit(d->engine, &r->io);
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
	case BLK_OP_WRITE_ZEROES_UNMAP:
		complete_now(d, r, qcow2_zero(q, r->offset, r->len, r->op != BLK_OP_WRITE_ZEROES));
		return 0;
	}
	return -EINVAL;
}

const struct disk_format_ops disk_format_qcow2 = {
	.name = "qcow2",
	.submit = qcow2_disk_submit,
};
