/* qcow2 layer 3, the internal snapshot table: only what is needed to keep a snapshot's clusters
 * safe (their L1 tables for the metadata set and for `img check`); snapshots are never created
 * here. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "block/qcow2_file.h"
#include "block/qcow2_image.h"
#include "block/qcow2_snapshot.h"

#define QCOW2_MAX_SNAPSHOTS 65536
#define SNAPSHOT_FIXED 40

int qcow2_load_snapshots(struct qcow2 *q, struct qcow2_snapshot **out, uint64_t *table_bytes)
{
	uint64_t pos = q->h.snapshots_offset, file_size = q->file_size_at_open;
	struct qcow2_snapshot *s;
	uint32_t n = q->h.nb_snapshots;

	*out = NULL;
	*table_bytes = 0;
	if (!n)
		return 0;
	if (n > QCOW2_MAX_SNAPSHOTS)
		return qcow2_corrupt(q, "nb_snapshots: %u (at most %u)", n, QCOW2_MAX_SNAPSHOTS);
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t e[SNAPSHOT_FIXED];
		uint32_t extra, l1_size;
		uint16_t id_len, name_len;
		uint64_t l1_off, len;
		int ret = qcow2_read_at(q->fd, e, sizeof(e), pos);

		if (ret) {
			free(s);
			return ret == -ENODATA ? qcow2_corrupt(q, "snapshot %u: table entry beyond end of file", i)
					       : ret;
		}
		l1_off = qcow2_load_be64(e);
		l1_size = qcow2_load_be32(e + 8);
		id_len = qcow2_load_be16(e + 12);
		name_len = qcow2_load_be16(e + 14);
		extra = qcow2_load_be32(e + 36);
		if (extra > 1024) {
			free(s);
			return qcow2_corrupt(q, "snapshot %u: extra data size %u", i, extra);
		}
		if ((l1_off & (q->cluster_size - 1)) || (uint64_t)l1_size * 8 > QCOW2_MAX_L1_BYTES ||
		    l1_off >= file_size || (uint64_t)l1_size * 8 > file_size - l1_off) {
			free(s);
			return qcow2_corrupt(q, "snapshot %u: L1 table at 0x%" PRIx64 " (%u entries) is not aligned or lies outside the file",
					     i, l1_off, l1_size);
		}
		s[i] = (struct qcow2_snapshot){ l1_off, l1_size };
		len = SNAPSHOT_FIXED + (uint64_t)extra + id_len + name_len;
		/* The last entry's padding need not be in the file. */
		if (pos + len > file_size) {
			free(s);
			return qcow2_corrupt(q, "snapshot %u: table entry beyond end of file", i);
		}
		pos += qcow2_align_up(len, 8);
	}
	*out = s;
	*table_bytes = pos - q->h.snapshots_offset;
	return 0;
}
