#include "block/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

struct blk_engine {
	enum blk_engine_kind kind;
	struct ev_handler ev;      /* completion eventfd */
	struct evloop *loop;
	struct io_uring ring;      /* io_uring engine */
	unsigned inflight, depth;
	struct blk_io *backlog, **backlog_tail;  /* io_uring: waiting for a free SQE */
	struct blk_io *done, **done_tail;        /* sync: finished, waiting to be reported */
	void (*batch_done)(void *opaque);
	void *batch_opaque;
};

void blk_engine_set_batch_done(struct blk_engine *e, void (*fn)(void *opaque), void *opaque)
{
	e->batch_done = fn;
	e->batch_opaque = opaque;
}

static int fallocate_mode(enum blk_op op)
{
	return op == BLK_OP_WRITE_ZEROES ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE
					 : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

static bool is_range_op(enum blk_op op)
{
	return op == BLK_OP_DISCARD || op == BLK_OP_WRITE_ZEROES || op == BLK_OP_WRITE_ZEROES_UNMAP;
}

/* Filesystems differ in the fallocate modes they offer: tmpfs and NFS have no ZERO_RANGE, 9p
 * has no PUNCH_HOLE either. As QEMU does, write-zeroes then tries the other mode (holes read as
 * zeros; on a block device the kernel zeroes the range) and, failing both, writes zeros; discard
 * is advisory, so a file that cannot punch holes keeps its data and the request succeeds.
 * Write-zeroes with UNMAP is still write-zeroes: it never just keeps the data.
 * Runs synchronously: only on filesystems that lack the faster modes. */
static int64_t range_fallback(const struct blk_io *io, int64_t err)
{
	/* Aligned, so that the writes also work through O_DIRECT. */
	static const uint8_t zeros[64 * 1024] __attribute__((aligned(4096)));
	uint64_t off = io->offset, end = io->offset + io->len;

	if (err != -EOPNOTSUPP || !is_range_op(io->op))
		return err;
	if (io->op == BLK_OP_DISCARD)
		return 0;
	/* the mode not tried yet */
	if (fallocate(io->fd, fallocate_mode(io->op == BLK_OP_WRITE_ZEROES ? BLK_OP_WRITE_ZEROES_UNMAP
									   : BLK_OP_WRITE_ZEROES),
		      (off_t)io->offset, (off_t)io->len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	while (off < end) {
		size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
		ssize_t w = pwrite(io->fd, zeros, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
	}
	return 0;
}

/* ---- synchronous engine: does the work in submit, reports it from the event loop ---- */

static int64_t sync_rw(struct blk_io *io)
{
	struct iovec iov[IOV_MAX];
	int cnt = io->iovcnt < IOV_MAX ? io->iovcnt : IOV_MAX;
	uint64_t off = io->offset;
	int64_t total = 0;
	int first = 0;

	memcpy(iov, io->iov, (size_t)cnt * sizeof(iov[0]));
	while (first < cnt) {
		ssize_t n = io->op == BLK_OP_READ ? preadv(io->fd, iov + first, cnt - first, (off_t)off)
						  : pwritev(io->fd, iov + first, cnt - first, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break; /* end of file: the caller sees a short count */
		total += n;
		off += (uint64_t)n;
		while (first < cnt && (size_t)n >= iov[first].iov_len) {
			n -= (ssize_t)iov[first].iov_len;
			first++;
		}
		if (first < cnt) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + n;
			iov[first].iov_len -= (size_t)n;
		}
	}
	return total;
}

static int64_t sync_execute(struct blk_io *io)
{
	switch (io->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		return sync_rw(io);
	case BLK_OP_FLUSH:
		return fdatasync(io->fd) < 0 ? -errno : 0;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
	case BLK_OP_WRITE_ZEROES_UNMAP:
		return fallocate(io->fd, fallocate_mode(io->op), (off_t)io->offset, (off_t)io->len) < 0
			       ? range_fallback(io, -errno) : 0;
	}
	return -EINVAL;
}

static void engine_signal(struct blk_engine *e)
{
	uint64_t one = 1;

	if (write(e->ev.fd, &one, sizeof(one)) < 0) {
		/* overflow cannot happen with at most depth pending completions */
	}
}

/* ---- io_uring engine ---- */

static bool uring_prep(struct blk_engine *e, struct blk_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	if (!sqe)
		return false;
	switch (io->op) {
	/* One buffer (the common case for large I/O): the plain ops, which take the kernel's
	 * faster non-vectored path. */
	case BLK_OP_READ:
		if (io->iovcnt == 1)
			io_uring_prep_read(sqe, io->fd, io->iov[0].iov_base,
					   (unsigned)io->iov[0].iov_len, io->offset);
		else
			io_uring_prep_readv(sqe, io->fd, io->iov, (unsigned)io->iovcnt, io->offset);
		break;
	case BLK_OP_WRITE:
		if (io->iovcnt == 1)
			io_uring_prep_write(sqe, io->fd, io->iov[0].iov_base,
					    (unsigned)io->iov[0].iov_len, io->offset);
		else
			io_uring_prep_writev(sqe, io->fd, io->iov, (unsigned)io->iovcnt, io->offset);
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
	case BLK_OP_WRITE_ZEROES_UNMAP:
		io_uring_prep_fallocate(sqe, io->fd, fallocate_mode(io->op), io->offset, io->len);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	e->inflight++;
	return true;
}

static void uring_reap(struct blk_engine *e)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&e->ring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int64_t res = range_fallback(io, cqe->res);

		io_uring_cqe_seen(&e->ring, cqe);
		e->inflight--;
		io->done(io, res);
	}
	/* Freed slots: start what waited for one. */
	while (e->backlog && e->inflight < e->depth) {
		struct blk_io *io = e->backlog;

		if (!uring_prep(e, io))
			break;
		e->backlog = io->next_done;
		if (!e->backlog)
			e->backlog_tail = &e->backlog;
	}
	io_uring_submit(&e->ring);
}

/* What the kernel executes from this ring never passes through the seccomp filters, so the
 * ring itself is restricted: created disabled, the completion eventfd registered, then the
 * only opcodes uring_prep() makes, no SQE flags and no further register operations; enabled
 * only after that (the kernel refuses anything else with -EACCES). */
static int uring_setup(struct blk_engine *e)
{
	static const uint8_t ops[] = { IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV,
				       IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_restriction res[sizeof(ops) + 1];
	unsigned n = 0;
	int ret = io_uring_queue_init(e->depth, &e->ring, IORING_SETUP_R_DISABLED);

	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(ops); i++)
		res[n++] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_OP,
							  .sqe_op = ops[i] };
	res[n++] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED,
						  .sqe_flags = 0 };
	/* Raw calls: Debian's liburing 2.3 shared library does not export
	 * io_uring_register_restrictions() and io_uring_enable_rings(). */
	ret = io_uring_register_eventfd(&e->ring, e->ev.fd);
	if (!ret && syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
			    res, n) < 0)
		ret = -errno;
	if (!ret && syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
			    NULL, 0) < 0)
		ret = -errno;
	if (ret)
		io_uring_queue_exit(&e->ring);
	return ret;
}

static void engine_on_completion(struct ev_handler *h, uint32_t events)
{
	struct blk_engine *e = h->opaque;
	uint64_t cnt;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	blk_engine_poll(e);
}

void blk_engine_poll(struct blk_engine *e)
{
	if (e->kind == BLK_ENGINE_IO_URING)
		uring_reap(e);
	while (e->done) {
		struct blk_io *io = e->done;

		e->done = io->next_done;
		if (!e->done)
			e->done_tail = &e->done;
		io->done(io, io->result);
	}
	if (e->batch_done)
		e->batch_done(e->batch_opaque);
}

int blk_engine_drain(struct blk_engine *e)
{
	while (e->inflight || e->backlog || e->done) {
		if (e->kind == BLK_ENGINE_IO_URING && e->inflight) {
			struct io_uring_cqe *cqe;
			int ret = io_uring_wait_cqe(&e->ring, &cqe);

			if (ret && ret != -EINTR)
				return ret;
		}
		blk_engine_poll(e);
	}
	return 0;
}

int blk_engine_create(enum blk_engine_kind kind, unsigned depth, struct evloop *loop,
		      struct blk_engine **out)
{
	struct blk_engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e)
		return -ENOMEM;
	e->kind = kind;
	e->depth = depth;
	e->loop = loop;
	e->backlog_tail = &e->backlog;
	e->done_tail = &e->done;
	e->ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), engine_on_completion, e };
	if (e->ev.fd < 0) {
		ret = -errno;
		free(e);
		return ret;
	}
	if (kind == BLK_ENGINE_IO_URING) {
		ret = uring_setup(e);
		if (ret) {
			close(e->ev.fd);
			free(e);
			return ret == -EPERM || ret == -ENOSYS ? -ENOSYS : ret;
		}
	}
	if (loop && loop->epfd >= 0 && (ret = evloop_add(loop, &e->ev, EPOLLIN))) {
		blk_engine_destroy(e);
		return ret;
	}
	*out = e;
	return 0;
}

void blk_engine_destroy(struct blk_engine *e)
{
	if (!e)
		return;
	if (e->kind == BLK_ENGINE_IO_URING) {
		/* Let in-flight requests finish: their buffers are guest memory still mapped. */
		while (e->inflight) {
			struct io_uring_cqe *cqe;

			if (io_uring_wait_cqe(&e->ring, &cqe))
				break;
			io_uring_cqe_seen(&e->ring, cqe);
			e->inflight--;
		}
		io_uring_queue_exit(&e->ring);
	}
	close(e->ev.fd);
	free(e);
}

void blk_engine_complete(struct blk_engine *e, struct blk_io *io, int64_t result)
{
	io->result = result;
	io->next_done = NULL;
	*e->done_tail = io;
	e->done_tail = &io->next_done;
}

int blk_engine_submit(struct blk_engine *e, struct blk_io *io)
{
	if (e->kind == BLK_ENGINE_SYNC) {
		blk_engine_complete(e, io, sync_execute(io));
		return 0;
	}
	if (e->inflight >= e->depth || !uring_prep(e, io)) {
		io->next_done = NULL;
		*e->backlog_tail = io;
		e->backlog_tail = &io->next_done;
	}
	return 0;
}

void blk_engine_kick(struct blk_engine *e)
{
	if (e->kind == BLK_ENGINE_IO_URING)
		io_uring_submit(&e->ring);
	if (e->done)
		engine_signal(e);
}

const char *blk_engine_name(const struct blk_engine *e)
{
	return e->kind == BLK_ENGINE_IO_URING ? "io_uring" : "sync";
}
