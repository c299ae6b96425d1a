/* qcow2 layer 4: metadata writeback in the qcow2 spec's crash-consistency order. Private to
 * block/qcow2*.c (the layers: docs/architecture.md, tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_WRITEBACK_H
#define MINIVMM_BLOCK_QCOW2_WRITEBACK_H

#include "block/qcow2_image.h"

/* Refcount blocks (then the refcount-table entries that point to new ones), then L2 tables,
 * then L1, each step stable before the next; then the reference drops those tables made safe.
 * Data written through other descriptors is the caller's to sync. */
int qcow2_writeback_tables(struct qcow2 *q);

#endif
