/* Raw images: virtual offset = file offset, one engine request per disk request. */
#include <errno.h>

#include "block/disk.h"

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
