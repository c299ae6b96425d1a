/* qcow2, top layer: `img check`. Recounts every reference from the header, tables and
 * snapshots and compares with the stored refcounts, reporting like `qemu-img check`
 * (corruption: a refcount lower than the references or a wrong COPIED flag; leak: a refcount
 * higher than the references). Opens the image through qcow2_open like any user. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/qcow2.h"
#include "block/qcow2_cache.h"
#include "block/qcow2_cluster.h"
#include "block/qcow2_compress.h"
#include "block/qcow2_file.h"
#include "block/qcow2_image.h"
#include "block/qcow2_refcount.h"
#include "block/qcow2_snapshot.h"

struct counts {
	uint32_t *ref;
	uint64_t n;                  /* clusters in the file */
	uint64_t beyond;             /* references past the end of the file */
	uint64_t first_beyond;
};

static int count_ref(struct counts *c, uint64_t cluster)
{
	if (cluster >= c->n) {
		if (!c->beyond++)
			c->first_beyond = cluster;
		return 0;
	}
	if (c->ref[cluster] != UINT32_MAX)
		c->ref[cluster]++;
	return 0;
}

static int count_range(struct qcow2 *q, struct counts *c, uint64_t off, uint64_t len)
{
	for (uint64_t cl = off >> q->cluster_bits; len && cl <= (off + len - 1) >> q->cluster_bits; cl++) {
		int ret = count_ref(c, cl);

		if (ret)
			return ret;
	}
	return 0;
}

struct walk_stats {
	uint64_t allocated, fragmented, compressed, errors;
	uint64_t last_host;
};

/* Counts the L2 tables of one L1 table and the clusters they reference; @active also checks
 * COPIED flags against the stored refcounts. */
static int walk_l1(struct qcow2 *q, struct counts *c, const uint64_t *l1, uint32_t l1_size,
		   bool active, struct walk_stats *st, FILE *out)
{
	uint8_t *l2 = malloc(q->cluster_size);
	int ret = 0;

	if (!l2)
		return -ENOMEM;
	for (uint32_t i = 0; i < l1_size && !ret; i++) {
		uint64_t off = l1[i] & QCOW2_OFFSET_MASK, rc;

		if (!off)
			continue;
		if ((off & (q->cluster_size - 1)) || (ret = count_ref(c, off >> q->cluster_bits))) {
			if (!ret) {
				fprintf(out, "ERROR l1 entry %u: L2 offset 0x%" PRIx64 " unaligned\n", i, off);
				st->errors++;
			}
			continue;
		}
		if (active) {
			if ((ret = qcow2_refcount_get(q, off >> q->cluster_bits, &rc)))
				break;
			if ((rc == 1) != !!(l1[i] & QCOW2_OFLAG_COPIED)) {
				fprintf(out, "ERROR OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
					i, l1[i], rc);
				st->errors++;
			}
		}
		if ((ret = qcow2_read_at(q->fd, l2, q->cluster_size, off))) {
			fprintf(out, "ERROR l1 entry %u: cannot read L2 table at 0x%" PRIx64 "\n", i, off);
			st->errors++;
			ret = 0;
			continue;
		}
		for (uint64_t j = 0; j < q->l2_entries && !ret; j++) {
			uint64_t e = qcow2_get_be64(l2, j), h, len;

			if (!e)
				continue;
			if (qcow2_check_l2_entry(q, e, off, j)) {
				fprintf(out, "ERROR %s\n", q->err.text);
				st->errors++;
				continue;
			}
			if (e & QCOW2_OFLAG_COMPRESSED) {
				qcow2_compressed_range(q, e, &h, &len);
				ret = count_range(q, c, h, len);
				if (active) {
					st->allocated++;
					st->compressed++;
				}
				continue;
			}
			h = e & QCOW2_OFFSET_MASK;
			if (!h)
				continue;
			if ((ret = count_ref(c, h >> q->cluster_bits)))
				break;
			if (!active)
				continue;
			if (!(e & QCOW2_OFLAG_ZERO)) {
				st->allocated++;
				if (st->last_host && h != st->last_host + q->cluster_size)
					st->fragmented++;
				st->last_host = h;
			}
			if ((ret = qcow2_refcount_get(q, h >> q->cluster_bits, &rc)))
				break;
			if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
				fprintf(out, "ERROR OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
					e, rc);
				st->errors++;
			}
		}
	}
	free(l2);
	return ret;
}

static int count_all(struct qcow2 *q, struct counts *c, struct walk_stats *st, FILE *out)
{
	uint64_t cs = q->cluster_size, snap_bytes;
	struct qcow2_snapshot *snaps;
	int ret;

	if ((ret = count_ref(c, 0)) ||
	    (ret = count_range(q, c, q->h.l1_offset, (uint64_t)q->l1_size * 8)) ||
	    (ret = count_range(q, c, q->h.rt_offset, (uint64_t)q->h.rt_clusters * cs)))
		return ret;
	for (uint64_t i = 0; i < q->rt_entries; i++)
		if (q->rt[i] && (ret = count_ref(c, q->rt[i] >> q->cluster_bits)))
			return ret;
	if ((ret = walk_l1(q, c, q->l1, q->l1_size, true, st, out)))
		return ret;
	if ((ret = qcow2_load_snapshots(q, &snaps, &snap_bytes)))
		return ret;
	ret = count_range(q, c, q->h.snapshots_offset, snap_bytes);
	for (uint32_t i = 0; !ret && i < q->h.nb_snapshots; i++) {
		uint64_t *l1 = calloc(snaps[i].l1_size ? snaps[i].l1_size : 1, 8);

		if (!l1) {
			ret = -ENOMEM;
			break;
		}
		ret = count_range(q, c, snaps[i].l1_offset, (uint64_t)snaps[i].l1_size * 8);
		if (!ret)
			ret = qcow2_read_at(q->fd, l1, (size_t)snaps[i].l1_size * 8, snaps[i].l1_offset);
		for (uint32_t j = 0; !ret && j < snaps[i].l1_size; j++)
			l1[j] = be64toh(l1[j]);
		if (!ret)
			ret = walk_l1(q, c, l1, snaps[i].l1_size, false, st, out);
		free(l1);
	}
	free(snaps);
	return ret;
}

int qcow2_check(const char *path, FILE *out, struct qcow2_check_result *res, struct errmsg *err)
{
	struct counts c = { 0 };
	struct walk_stats st = { 0 };
	struct qcow2 *q;
	uint64_t end = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	if ((ret = qcow2_open(path, true, &q, NULL, err)))
		return ret;
	c.n = qcow2_align_up(q->file_size_at_open, q->cluster_size) >> q->cluster_bits;
	c.ref = calloc(c.n ? c.n : 1, sizeof(*c.ref));
	if (!c.ref) {
		ret = errmsg_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = count_all(q, &c, &st, out))) {
		errmsg_set(err, ret, "%s", q->err.text[0] ? q->err.text : strerror(-ret));
		goto out;
	}
	/* Per refcount block: stored counts against the references found. */
	for (uint64_t ti = 0; ti < q->rt_entries || (ti << q->rb_bits) < c.n; ti++) {
		uint64_t base = ti << q->rb_bits;
		uint8_t *rb = NULL;

		if (base >= c.n && (ti >= q->rt_entries || !q->rt[ti]))
			continue;
		if (ti < q->rt_entries && q->rt[ti] &&
		    (ret = qcow2_cache_get(&q->rb_cache, q->rt[ti], false, &rb)))
			goto out;
		for (uint64_t k = 0; k < q->rb_entries; k++) {
			uint64_t cl = base + k, rc = rb ? qcow2_refblock_entry(q, rb, k) : 0;
			uint64_t refs = cl < c.n ? c.ref[cl] : 0;

			if (!rb && cl >= c.n)
				break;
			if (rc)
				end = (cl + 1) << q->cluster_bits;
			if (rc < refs) {
				if (res->corruptions++ < 100)
					fprintf(out, "ERROR cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64 "\n",
						cl, rc, refs);
			} else if (rc > refs) {
				if (res->leaks++ < 100)
					fprintf(out, "Leaked cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64 "\n",
						cl, rc, refs);
			}
		}
	}
	if (c.beyond) {
		fprintf(out, "ERROR %" PRIu64 " references past the end of the file (first: cluster %" PRIu64 ")\n",
			c.beyond, c.first_beyond);
		res->corruptions += c.beyond;
	}
	res->corruptions += st.errors;
	res->allocated_clusters = st.allocated;
	res->fragmented_clusters = st.fragmented;
	res->total_clusters = (q->h.size + q->cluster_size - 1) >> q->cluster_bits;
	res->image_end = end;
	if (res->corruptions)
		fprintf(out, "\n%" PRIu64 " errors were found on the image.\n"
			"Data may be corrupted, or further writes to the image may corrupt it.\n",
			res->corruptions);
	if (res->leaks)
		fprintf(out, "\n%" PRIu64 " leaked clusters were found on the image.\n"
			"This means waste of disk space, but no harm to data.\n", res->leaks);
	if (!res->corruptions && !res->leaks)
		fprintf(out, "No errors were found on the image.\n");
	if (res->total_clusters)
		fprintf(out, "%" PRIu64 "/%" PRIu64 " = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters\n",
			st.allocated, res->total_clusters, 100.0 * st.allocated / res->total_clusters,
			st.allocated ? 100.0 * st.fragmented / st.allocated : 0.0,
			st.allocated ? 100.0 * st.compressed / st.allocated : 0.0);
	fprintf(out, "Image end offset: %" PRIu64 "\n", end);
out:
	free(c.ref);
	qcow2_close(q);
	return ret;
}
