/* I/O engines: where disk requests are executed. Both complete asynchronously on the I/O
 * thread (a completion eventfd in the event loop), so device code has one contract. */
#ifndef MINIVMM_BLOCK_ENGINE_H
#define MINIVMM_BLOCK_ENGINE_H

#include <stdint.h>
#include <sys/uio.h>

#include "vmm/evloop.h"

/* DISCARD is a hint (the range may keep its data); both WRITE_ZEROES must read back as zeros,
 * the _UNMAP one preferably by deallocating (a hole). */
enum blk_op {
	BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH, BLK_OP_DISCARD, BLK_OP_WRITE_ZEROES,
	BLK_OP_WRITE_ZEROES_UNMAP,
};

struct blk_io;
typedef void (*blk_io_done_fn)(struct blk_io *io, int64_t result);

struct blk_io {
	enum blk_op op;
	int fd;
	const struct iovec *iov;
	int iovcnt;
	uint64_t offset;
	uint64_t len;               /* discard / write-zeroes */
	blk_io_done_fn done;        /* result: bytes transferred or -errno */
	void *opaque;
	struct blk_io *next_done;   /* engine-private */
	int64_t result;             /* engine-private */
};

enum blk_engine_kind { BLK_ENGINE_IO_URING, BLK_ENGINE_SYNC };

struct blk_engine;

/* Creates an engine whose completions run from @loop. For io_uring, falls back to -ENOSYS when
 * the kernel refuses (io_uring disabled); the caller then picks the sync engine. */
int blk_engine_create(enum blk_engine_kind kind, unsigned depth, struct evloop *loop,
		      struct blk_engine **out) __attribute__((warn_unused_result));
void blk_engine_destroy(struct blk_engine *e);

/* Queues @io; it completes later through io->done. Returns 0 or -errno (then done is never
 * called). */
int blk_engine_submit(struct blk_engine *e, struct blk_io *io);
/* Reports @io as finished with @result from the event loop, like an engine completion: for
 * work a format did synchronously (the completion must not run inside the submit call). */
void blk_engine_complete(struct blk_engine *e, struct blk_io *io, int64_t result);
/* Starts everything queued since the last call (io_uring: one io_uring_submit). */
void blk_engine_kick(struct blk_engine *e);
/* Runs pending completions now (tests and benchmarks without an event loop). */
void blk_engine_poll(struct blk_engine *e);
/* Waits until every request submitted has completed (its done() has run): pausing a disk. */
int blk_engine_drain(struct blk_engine *e);

/* Called after each batch of completions, so the owner can notify once per batch (one guest
 * interrupt for many requests) instead of once per request. */
void blk_engine_set_batch_done(struct blk_engine *e, void (*fn)(void *opaque), void *opaque);

const char *blk_engine_name(const struct blk_engine *e);

#endif
