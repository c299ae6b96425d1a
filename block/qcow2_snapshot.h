/* qcow2 layer 3: the internal snapshot table, read only as far as keeping a snapshot's
 * clusters safe needs (their L1 tables, for the metadata set and for `img check`); snapshots
 * are never created here. Private to block/qcow2*.c (the layers: docs/architecture.md,
 * tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_SNAPSHOT_H
#define MINIVMM_BLOCK_QCOW2_SNAPSHOT_H

#include <stdint.h>

#include "block/qcow2_image.h"

/* A snapshot's L1 table (validated: aligned, inside the file). */
struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
};

/* Reads the snapshot table: *@out (h.nb_snapshots entries, the caller frees it) and the
 * table's length in bytes. */
int qcow2_load_snapshots(struct qcow2 *q, struct qcow2_snapshot **out, uint64_t *table_bytes);

#endif
