/* qcow2, top layer: `img create -f qcow2`. Header (+ backing format extension and name),
 * refcount table and blocks for the metadata, an empty L1 table; needs only the header and
 * file layers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "block/qcow2_file.h"
#include "block/qcow2_header.h"

int qcow2_create(const char *path, const struct qcow2_create_opts *o, struct errmsg *err)
{
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536, bits = 0;
	uint64_t l1_size, l1c, k_rb = 0, k_rt = 0, total, rb_entries, pos;
	struct qcow2_header h = { 0 };
	uint8_t *buf;
	size_t buflen;
	int fd, ret = 0;

	while ((1u << bits) < cs)
		bits++;
	if ((1u << bits) != cs || bits < QCOW2_MIN_CLUSTER_BITS || bits > QCOW2_MAX_CLUSTER_BITS)
		return errmsg_set(err, -EINVAL,
				  "cluster_size=%u: must be a power of two from 512 to 2M", cs);
	if (o->version && o->version != 2 && o->version != 3)
		return errmsg_set(err, -EINVAL, "compat: version %u (2 or 3)", o->version);
	if (o->backing && strlen(o->backing) > 1023)
		return errmsg_set(err, -ENAMETOOLONG, "backing file name longer than 1023 bytes");
	if (o->backing && (!o->backing_fmt || (strcmp(o->backing_fmt, "raw") && strcmp(o->backing_fmt, "qcow2"))))
		return errmsg_set(err, -EINVAL, "backing format must be raw or qcow2");
	l1_size = (o->size + (uint64_t)cs * (cs / 8) - 1) / ((uint64_t)cs * (cs / 8));
	if (l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return errmsg_set(err, -EFBIG, "size %" PRIu64 ": too large for cluster_size=%u",
				  o->size, cs);
	l1c = l1_size ? (l1_size * 8 + cs - 1) / cs : 1;
	rb_entries = (uint64_t)cs * 8 / 16;
	for (;;) {
		uint64_t nrb, nrt;

		total = 1 + k_rt + k_rb + l1c;
		nrb = (total + rb_entries - 1) / rb_entries;
		nrt = (nrb * 8 + cs - 1) / cs;
		if (nrb == k_rb && nrt == k_rt)
			break;
		k_rb = nrb;
		k_rt = nrt;
	}
	h.version = o->version ? o->version : 3;
	h.cluster_bits = bits;
	h.size = o->size;
	h.l1_size = (uint32_t)l1_size;
	h.rt_offset = (uint64_t)cs;
	h.rt_clusters = (uint32_t)k_rt;
	h.l1_offset = (1 + k_rt + k_rb) * (uint64_t)cs;
	h.refcount_order = 4;
	h.header_length = h.version == 3 ? QCOW2_V3_HEADER_LEN : QCOW2_V2_HEADER_LEN;
	buflen = (size_t)(total * cs);
	buf = calloc(1, buflen);
	if (!buf)
		return errmsg_set(err, -ENOMEM, "out of memory");
	pos = h.header_length;
	if (o->backing) {
		uint32_t len = (uint32_t)strlen(o->backing_fmt);

		qcow2_store_be32(buf + pos, QCOW2_EXT_BACKING_FMT);
		qcow2_store_be32(buf + pos + 4, len);
		memcpy(buf + pos + 8, o->backing_fmt, len);
		pos += 8 + qcow2_align_up(len, 8);
		pos += 8; /* end of extensions */
		if (pos + strlen(o->backing) > cs) {
			free(buf);
			return errmsg_set(err, -ENAMETOOLONG,
					  "backing file name does not fit in a %u-byte header cluster", cs);
		}
		h.backing_offset = pos;
		h.backing_size = (uint32_t)strlen(o->backing);
		memcpy(buf + pos, o->backing, h.backing_size);
	}
	qcow2_header_encode(&h, buf);
	for (uint64_t i = 0; i < k_rb; i++)
		qcow2_set_be64(buf + cs, i, (1 + k_rt + i) * (uint64_t)cs);
	for (uint64_t c = 0; c < total; c++) {
		uint8_t *rb = buf + (1 + k_rt + c / rb_entries) * (uint64_t)cs;

		rb[(c % rb_entries) * 2 + 1] = 1; /* 16-bit refcount 1 */
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = errmsg_set(err, -errno, "%s: %s", path, strerror(errno));
	} else {
		if ((ret = qcow2_write_at(fd, buf, buflen, 0)) || (fsync(fd) < 0 && (ret = -errno)))
			errmsg_set(err, ret, "%s: %s", path, strerror(-ret));
		close(fd);
	}
	free(buf);
	return ret;
}
