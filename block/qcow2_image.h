/* qcow2 layer 2: struct qcow2, the state of one open image that the layers above share, with
 * the two things every one of them may need: recording a corruption found at run time, and
 * reading guest bytes from the backing file. Each group of fields says which layer keeps it
 * up to date. Private to block/qcow2*.c (the layers: docs/architecture.md,
 * tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_IMAGE_H
#define MINIVMM_BLOCK_QCOW2_IMAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/qcow2_cache.h"
#include "block/qcow2_file.h"
#include "block/qcow2_header.h"
#include "block/qcow2_set.h"
#include "vmm/errmsg.h"

struct qcow2;

struct qcow2_backing {
	struct qcow2 *q;             /* qcow2 backing, or NULL for raw */
	/* Reads guest bytes of the qcow2 backing @q: qcow2_pread, set when the backing is opened.
	 * Reading a backing image runs the whole read path (mapping, decompression, its own
	 * backing) of the top layer, and copy-on-write in the cluster layer needs it: a pointer
	 * set from the top keeps that one true cycle (image → backing image) out of the calls
	 * between files. */
	int (*read)(struct qcow2 *q, void *buf, uint64_t len, uint64_t off);
	int fd;                      /* raw backing */
	uint64_t size;
};

struct qcow2 {
	/* Set at open (block/qcow2_open.c), fixed afterwards except where noted. */
	int fd;
	bool readonly;
	char path[4096];
	uint64_t file_size_at_open;
	struct qcow2_header h;       /* rt_offset, rt_clusters: refcount table growth */

	uint64_t cluster_size;
	uint32_t cluster_bits;
	uint64_t l2_entries;         /* per L2 table */
	uint32_t l2_bits;
	uint64_t rb_entries;         /* refcounts per refcount block */
	uint32_t rb_bits;
	uint32_t refcount_bits;
	uint64_t refcount_max;

	/* Cluster mapping (block/qcow2_cluster.c); written back by block/qcow2_writeback.c. */
	uint64_t *l1;                /* host order */
	uint32_t l1_size;
	struct qcow2_dirty l1_dirty;         /* entries to write */
	struct qcow2_cache l2_cache;
	uint64_t file_len;           /* at least this long (we extended it) */

	/* Refcounts and allocation (block/qcow2_refcount.c). */
	uint64_t *rt;                /* refcount table, host order */
	uint64_t rt_entries;
	struct qcow2_dirty rt_dirty;
	struct qcow2_cache rb_cache;
	uint64_t free_hint;          /* no free cluster below this index */
	uint64_t hwm;                /* clusters at or above this index were never written */
	uint64_t *pending_free;      /* host offsets to decrement after the next L2 writeback */
	size_t npending, pending_cap;
	/* Data I/O another thread has in flight to clusters it mapped (qcow2_data_io_begin),
	 * counted per epoch: a free waits until no I/O mapped before it is in flight, so that no
	 * such write lands in a cluster freed and allocated again meanwhile (as an L2 table, say).
	 * The first nsealed pending frees were sealed at a writeback with I/O in flight; the
	 * epoch changed then, and they go once the other epoch's count is 0. One count for all
	 * I/O let a guest that always keeps a read in flight hold every free back for good. */
	atomic_uint data_inflight[2];
	unsigned data_epoch;         /* 0 or 1: the epoch new data I/O counts in */
	size_t nsealed;

	/* Every metadata cluster: filled at open, kept by the cluster and refcount layers. */
	struct qcow2_cluster_set meta;

	struct qcow2_backing backing;
	char backing_path[4096];
	unsigned depth;

	uint8_t *cbuf;               /* compressed input, 2 clusters (block/qcow2_compress.c) */
	uint8_t *dbuf;               /* last decompressed cluster */
	uint64_t dbuf_desc;          /* its descriptor (0: none) */
	uint8_t *tmp;                /* one cluster for copy-on-write */
	struct errmsg err;           /* last run-time corruption */
};

/* Records a corruption found at run time and returns -EIO. */
int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads guest bytes [off, off+len) of the backing file (zeros past its end). */
int qcow2_backing_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t off);

#endif
