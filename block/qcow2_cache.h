/* qcow2 layer 1: a small LRU cache of one-cluster tables (L2 tables or refcount blocks) of one
 * image file, kept as on disk (big-endian). Knows nothing of what the tables mean: the order in
 * which they must reach the disk is the business of the layers above, which say it through
 * the writeback hook. Private to block/qcow2*.c (the layers: docs/architecture.md,
 * tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_CACHE_H
#define MINIVMM_BLOCK_QCOW2_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct qcow2_cache_slot {
	uint64_t offset;             /* 0: empty */
	uint8_t *data;
	uint64_t used;               /* LRU tick */
	bool dirty;
};

/* Called instead of writing a dirty victim alone; it must leave the victim clean. NULL: the
 * victim is written alone. */
typedef int (*qcow2_cache_writeback_fn)(void *opaque);

struct qcow2_cache {
	struct qcow2_cache_slot *slot;
	unsigned nslots;
	uint64_t tick;
	int fd;
	uint64_t cluster_size;
	qcow2_cache_writeback_fn writeback;
	void *opaque;
	/* Set around a lookup that must not touch the file (the I/O thread's fast path): a miss
	 * fails with -EWOULDBLOCK and leaves the cache as it was. */
	bool hits_only;
};

/* @nslots tables of @cluster_size bytes from @fd; @writeback (with @opaque) as above. */
int qcow2_cache_init(struct qcow2_cache *c, unsigned nslots, int fd, uint64_t cluster_size,
		     qcow2_cache_writeback_fn writeback, void *opaque);
void qcow2_cache_free(struct qcow2_cache *c);
/* Returns the table at @offset, reading it unless @fresh (then zero-filled). May evict: a
 * dirty victim is written first (through the writeback hook when there is one). */
int qcow2_cache_get(struct qcow2_cache *c, uint64_t offset, bool fresh, uint8_t **data);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *data);
/* Writes every dirty table of @c (no sync). */
int qcow2_cache_write_dirty(struct qcow2_cache *c);
bool qcow2_cache_has_dirty(const struct qcow2_cache *c);

#endif
