/* qcow2 images (v2 and v3): open and validate, read, write, discard, flush, check, create.
 *
 * Synchronous on the image's own descriptor: the disk adapter (block/qcow2_disk.c) uses the
 * mapping calls to send steady-state data I/O through the asynchronous engine, and these calls
 * for everything else. `minivmm img`, the unit tests, the crash test and the fuzzer use the same
 * code. Every byte read from an image is hostile until checked.
 *
 * The top of the qcow2 layers (docs/architecture.md, "qcow2 layers"; implemented by qcow2.c,
 * qcow2_open.c, qcow2_check.c and qcow2_create.c), and the only qcow2 header that code outside
 * block/ includes. */
#ifndef MINIVMM_BLOCK_QCOW2_H
#define MINIVMM_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "vmm/errmsg.h"

#define QCOW2_MAGIC_BYTES "QFI\xfb"
#define QCOW2_MAX_BACKING_DEPTH 16

struct qcow2;

/* Opens @path. Read-only when @readonly, when the image has the corrupt bit set (then
 * *@forced_ro is set if non-NULL), and always for backing files. */
int qcow2_open(const char *path, bool readonly, struct qcow2 **out, bool *forced_ro,
	       struct errmsg *err) __attribute__((warn_unused_result));
/* Writes back metadata (crash-consistency order) and closes the image and its backing chain. */
int qcow2_close(struct qcow2 *q);
/* Live migration on shared storage: a quiesced image's own lock given up, so that the
 * destination can open it, and taken back if the migration fails (the backing files keep
 * their shared read locks, which the destination's fit beside). */
void qcow2_unlock(struct qcow2 *q);
int qcow2_relock(struct qcow2 *q) __attribute__((warn_unused_result));

uint64_t qcow2_size(const struct qcow2 *q);
/* The last corruption found at run time ("L2 entry 5 of table at 0x50000: ..."), or "". */
const char *qcow2_last_error(const struct qcow2 *q);

int qcow2_readv(struct qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt);
int qcow2_writev(struct qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt);
int qcow2_pread(struct qcow2 *q, void *buf, uint64_t len, uint64_t off);
int qcow2_pwrite(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off);
/* Makes [off, off+len) read as zeros. @unmap lets whole clusters be deallocated (discard). */
int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool unmap);
/* Metadata writeback in crash-consistency order, then fdatasync: everything written before is
 * stable. */
int qcow2_flush(struct qcow2 *q);
/* The metadata part of qcow2_flush (refcounts, then L2 tables, then L1), each step stable
 * before the next; data written through other descriptors is the caller's to sync. */
int qcow2_writeback(struct qcow2 *q);

/* Where guest bytes live, for sending data I/O elsewhere (the disk adapter's engine). */
enum qcow2_run_kind {
	QCOW2_RUN_DATA,          /* at host offset .host in this image's file */
	QCOW2_RUN_ZERO,          /* reads as zeros */
	QCOW2_RUN_BACKING,       /* unallocated: the backing file (or zeros) */
	QCOW2_RUN_COMPRESSED,
};
struct qcow2_run {
	enum qcow2_run_kind kind;
	uint64_t host;
	uint64_t len;            /* bytes of the request this run covers (>= 1) */
};
/* Describes the longest run at @off (at most @len bytes) that has one kind and, for data,
 * contiguous host offsets. */
int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_run *run);
/* qcow2_map from the metadata caches alone, no file I/O (-EWOULDBLOCK on a cache miss); with
 * @write, only a run that can be written in place as it is (no allocation, no copy; -EAGAIN
 * otherwise). For the I/O thread: anything else is the worker's. */
int qcow2_map_cached(struct qcow2 *q, uint64_t off, uint64_t len, bool write,
		     struct qcow2_run *run);
/* A data I/O to the host run a mapping returned, sent elsewhere (the disk's engine): from
 * begin (called with the mapping, under the caller's lock) to end (from any thread, with the
 * epoch begin returned), no cluster freed by a discard is reused, so the I/O cannot land in
 * another guest offset or in metadata. Clusters freed while it is in flight are reused once
 * the I/O mapped before them is over, whatever is in flight by then. qcow2_close does not
 * wait: the caller's I/O is over by then. */
unsigned qcow2_data_io_begin(struct qcow2 *q);
void qcow2_data_io_end(struct qcow2 *q, unsigned epoch);
/* Makes the clusters under [off, off+len) writable in place (allocation, copy-on-write from
 * backing/compressed/shared clusters) and returns the host offset of the first contiguous run
 * and its length in *@run_len (<= len). The caller then writes the guest data there. */
int qcow2_prepare_write(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *host,
			uint64_t *run_len);

struct qcow2_info {
	uint32_t version;
	uint64_t size, cluster_size, file_size;
	uint64_t allocated;      /* bytes of guest clusters allocated in this image */
	uint32_t refcount_bits;
	bool corrupt, dirty, lazy_refcounts, zstd;
	uint32_t nb_snapshots;
	char backing[1024], backing_fmt[32];
};
int qcow2_get_info(struct qcow2 *q, struct qcow2_info *info);
/* The backing image, if it is qcow2 (for `img info` to walk the chain). */
struct qcow2 *qcow2_backing(struct qcow2 *q);
/* The backing file's resolved path and format ("" when none). */
const char *qcow2_backing_path(const struct qcow2 *q);

struct qcow2_check_result {
	uint64_t corruptions, leaks;
	uint64_t allocated_clusters, total_clusters, fragmented_clusters;
	uint64_t image_end;
};
/* Recounts every reference in @path (opened read-only) and compares with the stored refcounts,
 * printing what it finds to @out like `qemu-img check`. Returns 0 (result filled) or -errno
 * when the image cannot be read at all. */
int qcow2_check(const char *path, FILE *out, struct qcow2_check_result *res, struct errmsg *err);

struct qcow2_create_opts {
	uint64_t size;
	uint32_t cluster_size;   /* 0: 64 KiB */
	uint32_t version;        /* 0: 3 */
	const char *backing;     /* as stored in the header (relative to the image's directory) */
	const char *backing_fmt; /* "qcow2" or "raw" */
};
int qcow2_create(const char *path, const struct qcow2_create_opts *o, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif
