/* Raw images: virtual offset = file offset, one engine request per disk request. */
#include <errno.h>
#include <string.h>

#include "block/disk.h"
#include "block/iov.h"
#include "block/qcow2.h"

static void raw_done(struct blk_io *io, int64_t result)
{
	struct disk_req *r = io->opaque;

	if (result >= 0 && (r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) &&
	    (uint64_t)result != r->expect)
		result = -EIO; /* short transfer: the image shrank under us */
	r->done(r, result < 0 ? (int)result : 0);
}

static int raw_submit(struct disk *d, struct disk_req *r)
{
	if (d->probed_raw && r->op == BLK_OP_WRITE && r->offset == 0 && r->expect >= 4) {
		char magic[4];

		iov_to_buf(r->iov, r->iovcnt, 0, magic, 4);
		if (!memcmp(magic, QCOW2_MAGIC_BYTES, 4))
			return -EPERM; /* would turn this raw image into a qcow2 one (set format=raw) */
	}
	r->io = (struct blk_io){
		.op = r->op, .fd = d->fd, .iov = r->iov, .iovcnt = r->iovcnt,
		.offset = r->offset, .len = r->len, .done = raw_done, .opaque = r,
	};
	return blk_engine_submit(d->engine, &r->io);
}

const struct disk_format_ops disk_format_raw = {
	.name = "raw",
	.submit = raw_submit,
};
