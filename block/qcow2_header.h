/* qcow2 layer 1: the on-disk format's constants (header fields, feature bits, extensions,
 * table entry bits, the limits we share with QEMU) and the header: parse and validate (every
 * error names the field), check the tables' layout, encode. Reads no file: callers hand it
 * bytes. Private to block/qcow2*.c (the layers: docs/architecture.md, tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_HEADER_H
#define MINIVMM_BLOCK_QCOW2_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

/* The spec's magic, a big-endian field; block/qcow2.h has the same four bytes as a string
 * for the callers that probe a file's first bytes. */
#define QCOW2_MAGIC 0x514649fbu

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)          /* QEMU's limit, so we open what it opens */
#define QCOW2_MAX_RT_BYTES (8u << 20)
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104

#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1fULL
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)

#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURE_NAMES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* L1 / L2 / refcount-table entry bits. */
#define QCOW2_OFLAG_COPIED (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO (1ULL << 0)
#define QCOW2_OFFSET_MASK UINT64_C(0x00fffffffffffe00)  /* bits 9-55 */
#define QCOW2_L1_RESERVED UINT64_C(0x7f000000000001ff)
#define QCOW2_L2_RESERVED UINT64_C(0x3f000000000001fe)

enum qcow2_compression { QCOW2_COMPRESS_ZLIB = 0, QCOW2_COMPRESS_ZSTD = 1 };

/* The header as read (host byte order), validated by qcow2_header_parse. */
struct qcow2_header {
	uint32_t version;
	uint64_t backing_offset;
	uint32_t backing_size;
	uint32_t cluster_bits;
	uint64_t size;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order;
	uint32_t header_length;
	uint8_t compression;
	char backing[1024];          /* "" when none */
	char backing_fmt[32];        /* "" when the image does not say */
	bool has_bitmaps;
};

/* Parses and validates the header in @buf (the image's first cluster, or all of the file when
 * it is shorter; @buflen bytes) for a file of @file_size bytes. Errors name the field. */
int qcow2_header_parse(const uint8_t *buf, size_t buflen, uint64_t file_size,
		       struct qcow2_header *h, struct errmsg *err);
/* Checks that the header's own tables (L1, refcount table, snapshot table) lie in the file,
 * are aligned and do not overlap each other or the header cluster. */
int qcow2_header_check_layout(const struct qcow2_header *h, uint64_t file_size,
			      struct errmsg *err);
/* Serializes the fixed part of a header (72 or 104 bytes) into @buf. */
void qcow2_header_encode(const struct qcow2_header *h, uint8_t *buf);

#endif
