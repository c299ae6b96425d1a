/* Private to block/qcow2*.c: the image state shared by header, cache, refcount, cluster
 * mapping and check code. Nothing outside block/ includes this. */
#ifndef MINIVMM_BLOCK_QCOW2_IMPL_H
#define MINIVMM_BLOCK_QCOW2_IMPL_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "block/qcow2.h"

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

/* A small LRU cache of one-cluster tables (L2 tables or refcount blocks), stored as on disk. */
struct qcow2_cache_slot {
	uint64_t offset;             /* 0: empty */
	uint8_t *data;
	uint64_t used;               /* LRU tick */
	bool dirty;
};
struct qcow2_cache {
	struct qcow2_cache_slot *slot;
	unsigned nslots;
	uint64_t tick;
};

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

/* A set of cluster indices (metadata clusters that data writes must never land on). */
struct qcow2_cluster_set {
	uint64_t *key;               /* key + 1 stored; 0 = empty */
	size_t cap, count;
};

struct qcow2_backing {
	struct qcow2 *q;             /* qcow2 backing, or NULL for raw */
	int fd;                      /* raw backing */
	uint64_t size;
};

struct qcow2 {
	int fd;
	bool readonly;
	char path[4096];
	uint64_t file_size_at_open;
	uint64_t file_len;           /* at least this long (we extended it) */
	struct qcow2_header h;

	uint64_t cluster_size;
	uint32_t cluster_bits;
	uint64_t l2_entries;         /* per L2 table */
	uint32_t l2_bits;
	uint64_t rb_entries;         /* refcounts per refcount block */
	uint32_t rb_bits;
	uint32_t refcount_bits;
	uint64_t refcount_max;

	uint64_t *l1;                /* host order */
	uint32_t l1_size;
	struct qcow2_dirty l1_dirty;         /* entries to write */

	uint64_t *rt;                /* refcount table, host order */
	uint64_t rt_entries;
	struct qcow2_dirty rt_dirty;

	struct qcow2_cache l2_cache, rb_cache;
	struct qcow2_cluster_set meta;

	uint64_t free_hint;          /* no free cluster below this index */
	uint64_t hwm;                /* clusters at or above this index were never written */
	uint64_t *pending_free;      /* host offsets to decrement after the next L2 writeback */
	size_t npending, pending_cap;

	struct qcow2_backing backing;
	char backing_path[4096];
	unsigned depth;

	uint8_t *cbuf;               /* compressed input, 2 clusters */
	uint8_t *dbuf;               /* last decompressed cluster */
	uint64_t dbuf_desc;          /* its descriptor (0: none) */
	uint8_t *tmp;                /* one cluster for copy-on-write */
	struct errmsg err;           /* last run-time corruption */
};

/* Big-endian table access. */
static inline uint64_t qcow2_get_be64(const uint8_t *table, uint64_t idx)
{
	uint64_t v;

	memcpy(&v, table + idx * 8, 8);
	return be64toh(v);
}

static inline void qcow2_set_be64(uint8_t *table, uint64_t idx, uint64_t val)
{
	uint64_t v = htobe64(val);

	memcpy(table + idx * 8, &v, 8);
}

static inline uint64_t qcow2_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Records a corruption found at run time and returns -EIO. */
int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* qcow2.c: whole-buffer I/O on the image descriptor. */
int qcow2_read_at(int fd, void *buf, size_t len, uint64_t off);
/* Reads up to the end of the file and zero-fills the rest of @buf: the bytes read, or -errno. */
ssize_t qcow2_read_upto(int fd, void *buf, size_t len, uint64_t off);
/* Writes the dirty entries of host-order @table (big-endian on disk at @base) and clears @d. */
int qcow2_write_table(struct qcow2 *q, const uint64_t *table, struct qcow2_dirty *d,
		      uint64_t base);
int qcow2_write_at(int fd, const void *buf, size_t len, uint64_t off);

/* qcow2_cache.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned nslots, uint64_t cluster_size);
void qcow2_cache_free(struct qcow2_cache *c);
/* Returns the table at @offset, reading it unless @fresh (then zero-filled). May evict, which
 * for the L2 cache first writes back everything in order. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool fresh,
		    uint8_t **data);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *data);
/* Writes every dirty table of @c (no sync). */
int qcow2_cache_write_dirty(struct qcow2 *q, struct qcow2_cache *c);
bool qcow2_cache_has_dirty(const struct qcow2_cache *c);

/* qcow2_set.c */
int qcow2_set_add(struct qcow2_cluster_set *s, uint64_t key);
bool qcow2_set_has(const struct qcow2_cluster_set *s, uint64_t key);
void qcow2_set_del(struct qcow2_cluster_set *s, uint64_t key);
void qcow2_set_free(struct qcow2_cluster_set *s);

/* qcow2_refcount.c */
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val);
uint64_t qcow2_refblock_entry(const struct qcow2 *q, const uint8_t *rb, uint64_t idx);
/* Adds @delta (+1/-1) to the refcount of the cluster at host offset @off. */
int qcow2_refcount_update(struct qcow2 *q, uint64_t off, int delta);
/* Allocates one cluster (refcount 1); *@fresh is set when it was never written. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off, bool *fresh);
/* Queues a reference drop to apply after the next L2 writeback (free: L2 before refcount). */
int qcow2_free_later(struct qcow2 *q, uint64_t off);
/* Frees the host clusters a compressed descriptor covers, later. */
int qcow2_free_compressed_later(struct qcow2 *q, uint64_t desc);
int qcow2_apply_pending_frees(struct qcow2 *q);

/* qcow2_compress.c: decompresses the cluster described by L2 entry @entry into q->dbuf. */
int qcow2_decompress_cluster(struct qcow2 *q, uint64_t entry);
void qcow2_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *host,
			    uint64_t *len);

/* qcow2_cluster.c */
int qcow2_get_l2(struct qcow2 *q, uint64_t l1_idx, uint8_t **l2);
int qcow2_check_l2_entry(struct qcow2 *q, uint64_t entry, uint64_t l2_off, uint64_t idx);

/* qcow2_snapshot.c: the snapshot table's L1 tables (validated: aligned, inside the file). */
struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
};
int qcow2_load_snapshots(struct qcow2 *q, struct qcow2_snapshot **out, uint64_t *table_bytes);

/* qcow2.c: reads guest bytes [off, off+len) of the backing file (zeros past its end). */
int qcow2_backing_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t off);

#endif
