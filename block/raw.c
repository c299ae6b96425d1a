/* Raw images: virtual offset = file offset, one engine request per disk request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk.h"
#include "block/iov.h"
#include "block/qcow2.h"

/* How much of a write that starts at offset 0 of a probed raw image goes through a host
 * copy: a whole 4 KiB, so that what follows keeps the guest's alignment (O_DIRECT). */
#define RAW_HEAD_COPY 4096

static void raw_done(struct blk_io *io, int64_t result)
{
	struct disk_req *r = io->opaque;

	free(r->bounce);
	r->bounce = NULL;
	if (result >= 0 && (r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) &&
	    (uint64_t)result != r->expect)
		result = -EIO; /* short transfer: the image shrank under us */
	r->done(r, result < 0 ? (int)result : 0);
}

/* A probed raw image whose first bytes a guest sets to a qcow2 magic is opened as qcow2 next
 * time, with a backing file of the guest's choosing. The check must look at what is written:
 * guest memory can change between the check and the engine's read of it (io_uring reads it at
 * disk_kick, O_DIRECT later still; another vCPU has all that time), so the head of the write
 * is copied once, checked, and written from the copy. Writes there are rare (partition table,
 * boot sector), the copy is cheap. */
static int raw_guard_head(struct disk_req *r, const struct iovec **iov, int *iovcnt)
{
	uint64_t head = r->expect < RAW_HEAD_COPY ? r->expect : RAW_HEAD_COPY;
	struct iovec *v;
	uint8_t *copy;
	int n = 0;

	if (r->expect < 4)
		return -EPERM; /* would build a magic from a partial write: nothing we issue does */
	if (posix_memalign((void **)&copy, RAW_HEAD_COPY, RAW_HEAD_COPY + (r->iovcnt + 1) * sizeof(*v)))
		return -ENOMEM;
	iov_to_buf(r->iov, r->iovcnt, 0, copy, head);
	if (!memcmp(copy, QCOW2_MAGIC_BYTES, 4)) {
		free(copy);
		return -EPERM; /* would turn this raw image into a qcow2 one (set format=raw) */
	}
	v = (struct iovec *)(copy + RAW_HEAD_COPY);
	v[0] = (struct iovec){ copy, head };
	if (r->expect > head)
		n = iov_slice(r->iov, r->iovcnt, head, r->expect - head, v + 1, r->iovcnt);
	if (n < 0) {
		free(copy);
		return n;
	}
	r->bounce = copy;
	*iov = v;
	*iovcnt = n + 1;
	return 0;
}

static int raw_submit(struct disk *d, struct disk_req *r)
{
	const struct iovec *iov = r->iov;
	int iovcnt = r->iovcnt, ret;

	r->bounce = NULL;
	if (d->probed_raw && r->op == BLK_OP_WRITE && r->offset < 4 && r->expect) {
		if (r->offset != 0)
			return -EPERM;
		ret = raw_guard_head(r, &iov, &iovcnt);
		if (ret)
			return ret;
	}
	r->io = (struct blk_io){
		.op = r->op, .fd = d->fd, .iov = iov, .iovcnt = iovcnt,
		.offset = r->offset, .len = r->len, .done = raw_done, .opaque = r,
	};
	ret = blk_engine_submit(d->engine, &r->io);
	if (ret) {
		free(r->bounce);
		r->bounce = NULL;
	}
	return ret;
}

const struct disk_format_ops disk_format_raw = {
	.name = "raw",
	.submit = raw_submit,
};
