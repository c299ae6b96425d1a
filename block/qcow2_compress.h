/* qcow2 layer 3: compressed clusters (deflate as QEMU writes it, or zstd): where a descriptor's
 * data lies, and decompression into q->dbuf. Private to block/qcow2*.c (the layers:
 * docs/architecture.md, tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_COMPRESS_H
#define MINIVMM_BLOCK_QCOW2_COMPRESS_H

#include <stdint.h>

#include "block/qcow2_image.h"

/* Decompresses the cluster described by L2 entry @entry into q->dbuf. */
int qcow2_decompress_cluster(struct qcow2 *q, uint64_t entry);
/* The host bytes [*@host, *@host + *@len) that compressed L2 entry @entry covers. */
void qcow2_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *host,
			    uint64_t *len);

#endif
