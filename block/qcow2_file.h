/* qcow2 layer 0: the image file itself. Whole-buffer reads and writes on a descriptor, its
 * size, fdatasync, big-endian fields and tables, and the write-back of the dirty part of an
 * in-memory table. Knows nothing of the qcow2 format; every qcow2 layer above may use it.
 * Private to block/qcow2*.c (the layers: docs/architecture.md, tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_FILE_H
#define MINIVMM_BLOCK_QCOW2_FILE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Reads all of [off, off+len): 0, -ENODATA when the file ends first, or -errno. */
int qcow2_read_at(int fd, void *buf, size_t len, uint64_t off);
/* Reads up to the end of the file and zero-fills the rest of @buf: the bytes read, or -errno. */
ssize_t qcow2_read_upto(int fd, void *buf, size_t len, uint64_t off);
int qcow2_write_at(int fd, const void *buf, size_t len, uint64_t off);
/* fdatasync: 0 or -errno. */
int qcow2_sync(int fd);
/* The size of a regular file or block device (-EINVAL for anything else). */
int qcow2_file_size(int fd, uint64_t *size);

/* Big-endian fields at @p (no alignment needed). */
static inline uint16_t qcow2_load_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static inline uint32_t qcow2_load_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline uint64_t qcow2_load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline void qcow2_store_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static inline void qcow2_store_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* Entry @idx of a big-endian table of 64-bit entries (L2 table, refcount table on disk). */
static inline uint64_t qcow2_get_be64(const uint8_t *table, uint64_t idx)
{
	return qcow2_load_be64(table + idx * 8);
}

static inline void qcow2_set_be64(uint8_t *table, uint64_t idx, uint64_t val)
{
	qcow2_store_be64(table + idx * 8, val);
}

static inline uint64_t qcow2_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Entries [lo, hi) of an in-memory table (L1, refcount table) that differ from the file. */
struct qcow2_dirty {
	uint64_t lo, hi;
};

static inline void qcow2_dirty_mark(struct qcow2_dirty *d, uint64_t idx)
{
	if (d->lo >= d->hi) {
		d->lo = idx;
		d->hi = idx + 1;
		return;
	}
	if (idx < d->lo)
		d->lo = idx;
	if (idx + 1 > d->hi)
		d->hi = idx + 1;
}

static inline bool qcow2_dirty_any(const struct qcow2_dirty *d)
{
	return d->lo < d->hi;
}

/* Writes the dirty entries of host-order @table (big-endian on disk at @base) and clears @d. */
int qcow2_write_table(int fd, const uint64_t *table, struct qcow2_dirty *d, uint64_t base);

#endif
