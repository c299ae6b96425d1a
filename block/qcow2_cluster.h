/* qcow2 layer 4: cluster mapping. Guest offset → L1 → L2 → host cluster; allocation and
 * copy-on-write for writes; zeroing and discard. Private to block/qcow2*.c (the layers:
 * docs/architecture.md, tests/unit/layering.sh); block/qcow2.h's qcow2_map, qcow2_prepare_write
 * and qcow2_zero are these, seen from outside. */
#ifndef MINIVMM_BLOCK_QCOW2_CLUSTER_H
#define MINIVMM_BLOCK_QCOW2_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "block/qcow2_image.h"

/* What an L2 entry makes of a guest cluster. */
enum qcow2_cluster_kind {
	QCOW2_CLUSTER_DATA,          /* at a host offset in this image's file */
	QCOW2_CLUSTER_ZERO,          /* reads as zeros */
	QCOW2_CLUSTER_UNALLOCATED,   /* the backing file (or zeros) */
	QCOW2_CLUSTER_COMPRESSED,
};

/* Guest bytes of one kind and, for data, at contiguous host offsets from .host. */
struct qcow2_extent {
	enum qcow2_cluster_kind kind;
	uint64_t host;
	uint64_t len;                /* >= 1 */
};

/* The L2 table for @l1_idx from the cache, or NULL (*@l2) when it has none. */
int qcow2_get_l2(struct qcow2 *q, uint64_t l1_idx, uint8_t **l2);
/* Validates L2 entry @entry (number @idx of the table at @l2_off, for the message). */
int qcow2_check_l2_entry(struct qcow2 *q, uint64_t entry, uint64_t l2_off, uint64_t idx);
/* The longest extent at @off, at most @len bytes, within one L2 table. */
int qcow2_cluster_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_extent *run);
/* Like qcow2_cluster_map, for a write that needs no allocation and no copy: the extent at @off
 * is data in clusters whose entries say COPIED (refcount 1, checked) under an L2 table of
 * their own. -EAGAIN when the first cluster is not (the caller takes the slow path, which also
 * reports what is corrupt). */
int qcow2_cluster_map_in_place(struct qcow2 *q, uint64_t off, uint64_t len,
			       struct qcow2_extent *run);
/* Makes the clusters under [off, off+len) writable in place (allocation, copy-on-write from
 * backing/compressed/shared clusters): the host offset of the first contiguous run and its
 * length in *@run_len (<= len). */
int qcow2_cluster_prepare_write(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *host,
				uint64_t *run_len);
/* Makes [off, off+len) read as zeros, deallocating whole clusters. */
int qcow2_cluster_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool unmap);

#endif
