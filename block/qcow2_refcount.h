/* qcow2 layer 3: refcounts (lookup, update), cluster allocation (growing the refcount table
 * when it is full) and deferred frees. Crash-consistency order is kept here for what this
 * layer writes itself; the order of the whole writeback is block/qcow2_writeback.c's. Private
 * to block/qcow2*.c (the layers: docs/architecture.md, tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_REFCOUNT_H
#define MINIVMM_BLOCK_QCOW2_REFCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "block/qcow2_image.h"

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val);
/* Refcount @idx of refcount block @rb (as on disk). */
uint64_t qcow2_refblock_entry(const struct qcow2 *q, const uint8_t *rb, uint64_t idx);
/* Adds @delta (+1/-1) to the refcount of the cluster at host offset @off. */
int qcow2_refcount_update(struct qcow2 *q, uint64_t off, int delta);
/* Allocates one cluster (refcount 1); *@fresh is set when it was never written. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off, bool *fresh);
/* Queues a reference drop to apply after the next L2 writeback (free: L2 before refcount). */
int qcow2_free_later(struct qcow2 *q, uint64_t off);
/* Applies the @n oldest queued drops: only once the tables that held the references are
 * stable (and no data I/O mapped before them is in flight). */
int qcow2_apply_pending_frees(struct qcow2 *q, size_t n);

#endif
