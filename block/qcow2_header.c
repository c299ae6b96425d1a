/* qcow2 layer 1, the header: parse, validate (every error names the field), encode. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block/qcow2_file.h"
#include "block/qcow2_header.h"

/* The feature name table's name for an unknown incompatible bit, if the image has one. */
static void feature_name(const uint8_t *buf, size_t start, size_t end, unsigned bit, char *out,
			 size_t outlen)
{
	size_t pos = start;

	snprintf(out, outlen, "bit %u", bit);
	while (pos + 8 <= end) {
		uint32_t type = qcow2_load_be32(buf + pos), len = qcow2_load_be32(buf + pos + 4);
		size_t data = pos + 8;

		if (type == QCOW2_EXT_END || len > end - data)
			return;
		if (type == QCOW2_EXT_FEATURE_NAMES) {
			for (size_t e = 0; e + 48 <= len; e += 48) {
				const uint8_t *f = buf + data + e;

				if (f[0] == 0 && f[1] == bit) {
					snprintf(out, outlen, "bit %u (%.46s)", bit, (const char *)f + 2);
					return;
				}
			}
		}
		pos = data + qcow2_align_up(len, 8);
	}
}

static int parse_extensions(const uint8_t *buf, size_t end, size_t start,
			    struct qcow2_header *h, struct errmsg *err)
{
	size_t pos = start;
	bool seen_fmt = false;

	while (pos + 8 <= end) {
		uint32_t type = qcow2_load_be32(buf + pos), len = qcow2_load_be32(buf + pos + 4);
		size_t data = pos + 8;

		if (type == QCOW2_EXT_END)
			return 0;
		if (len > end - data)
			return errmsg_set(err, -EINVAL,
					  "header extension 0x%08x at byte %zu: length %u runs past the header cluster",
					  type, pos, len);
		switch (type) {
		case QCOW2_EXT_BACKING_FMT:
			if (seen_fmt)
				return errmsg_set(err, -EINVAL, "backing format extension appears twice");
			if (len == 0 || len >= sizeof(h->backing_fmt))
				return errmsg_set(err, -EINVAL, "backing format extension: length %u", len);
			memcpy(h->backing_fmt, buf + data, len);
			h->backing_fmt[len] = 0;
			if (strlen(h->backing_fmt) != len)
				return errmsg_set(err, -EINVAL, "backing format extension: embedded NUL");
			seen_fmt = true;
			break;
		case QCOW2_EXT_BITMAPS:
			h->has_bitmaps = true;
			break;
		case QCOW2_EXT_DATA_FILE:
			return errmsg_set(err, -ENOTSUP, "external data file extension: not supported");
		default:
			break; /* feature names, crypto header (refused via crypt_method), unknown */
		}
		pos = data + qcow2_align_up(len, 8);
	}
	return 0;
}

int qcow2_header_parse(const uint8_t *buf, size_t buflen, uint64_t file_size,
		       struct qcow2_header *h, struct errmsg *err)
{
	uint64_t cs, l2_entries, need_l1;
	size_t hdr_end;

	memset(h, 0, sizeof(*h));
	if (buflen < QCOW2_V2_HEADER_LEN || file_size < QCOW2_V2_HEADER_LEN)
		return errmsg_set(err, -EINVAL, "file too short for a qcow2 header (%" PRIu64 " bytes)",
				  file_size);
	if (qcow2_load_be32(buf) != QCOW2_MAGIC)
		return errmsg_set(err, -EINVAL, "magic: not a qcow2 image");
	h->version = qcow2_load_be32(buf + 4);
	h->backing_offset = qcow2_load_be64(buf + 8);
	h->backing_size = qcow2_load_be32(buf + 16);
	h->cluster_bits = qcow2_load_be32(buf + 20);
	h->size = qcow2_load_be64(buf + 24);
	h->crypt_method = qcow2_load_be32(buf + 32);
	h->l1_size = qcow2_load_be32(buf + 36);
	h->l1_offset = qcow2_load_be64(buf + 40);
	h->rt_offset = qcow2_load_be64(buf + 48);
	h->rt_clusters = qcow2_load_be32(buf + 56);
	h->nb_snapshots = qcow2_load_be32(buf + 60);
	h->snapshots_offset = qcow2_load_be64(buf + 64);
	h->refcount_order = 4;
	h->header_length = QCOW2_V2_HEADER_LEN;

	if (h->version != 2 && h->version != 3)
		return errmsg_set(err, -ENOTSUP, "version: %u (supported: 2 and 3)", h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return errmsg_set(err, -EINVAL,
				  "cluster_bits: %u (cluster size must be 512 B to 2 MiB)", h->cluster_bits);
	cs = 1ULL << h->cluster_bits;
	if (h->version == 3) {
		if (buflen < QCOW2_V3_HEADER_LEN || file_size < QCOW2_V3_HEADER_LEN)
			return errmsg_set(err, -EINVAL, "file too short for a version 3 header");
		h->incompat = qcow2_load_be64(buf + 72);
		h->compat = qcow2_load_be64(buf + 80);
		h->autoclear = qcow2_load_be64(buf + 88);
		h->refcount_order = qcow2_load_be32(buf + 96);
		h->header_length = qcow2_load_be32(buf + 100);
		if (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length % 8 ||
		    h->header_length > cs || h->header_length > buflen)
			return errmsg_set(err, -EINVAL, "header_length: %u", h->header_length);
		if (h->header_length > 104)
			h->compression = buf[104];
	}
	hdr_end = buflen < cs ? buflen : (size_t)cs;
	if (h->incompat & ~QCOW2_INCOMPAT_KNOWN) {
		char name[64];
		unsigned bit = (unsigned)__builtin_ctzll(h->incompat & ~QCOW2_INCOMPAT_KNOWN);

		feature_name(buf, h->header_length, hdr_end, bit, name, sizeof(name));
		return errmsg_set(err, -ENOTSUP, "incompatible_features: unknown feature %s", name);
	}
	if (h->incompat & QCOW2_INCOMPAT_DATA_FILE)
		return errmsg_set(err, -ENOTSUP, "incompatible_features: external data file (not supported)");
	if (h->incompat & QCOW2_INCOMPAT_EXTL2)
		return errmsg_set(err, -ENOTSUP, "incompatible_features: extended L2 entries (not supported)");
	if (h->incompat & QCOW2_INCOMPAT_COMPRESSION) {
		if (h->compression != QCOW2_COMPRESS_ZSTD)
			return errmsg_set(err, -ENOTSUP, "compression_type: %u (supported: zlib, zstd)",
					  h->compression);
	} else if (h->compression != 0) {
		return errmsg_set(err, -EINVAL,
				  "compression_type: %u without the compression type feature bit",
				  h->compression);
	}
	if (h->crypt_method)
		return errmsg_set(err, -ENOTSUP, "crypt_method: %u (encrypted images are not supported)",
				  h->crypt_method);
	if (h->refcount_order > 6)
		return errmsg_set(err, -EINVAL, "refcount_order: %u (at most 6)", h->refcount_order);
	/* Sizes: virtual size within what an L1 of QEMU's limit can map, L1 big enough. */
	l2_entries = cs / 8;
	if (h->size > (1ULL << 62))
		return errmsg_set(err, -EINVAL, "size: %" PRIu64 " is too large", h->size);
	need_l1 = (h->size + cs * l2_entries - 1) / (cs * l2_entries);
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return errmsg_set(err, -EFBIG, "l1_size: %u entries (at most %u)", h->l1_size,
				  QCOW2_MAX_L1_BYTES / 8);
	if (h->l1_size < need_l1)
		return errmsg_set(err, -EINVAL,
				  "l1_size: %u entries cannot map the virtual size %" PRIu64 " (need %" PRIu64 ")",
				  h->l1_size, h->size, need_l1);
	if (h->rt_clusters == 0)
		return errmsg_set(err, -EINVAL, "refcount_table_clusters: 0");
	if ((uint64_t)h->rt_clusters * cs > QCOW2_MAX_RT_BYTES)
		return errmsg_set(err, -EFBIG, "refcount_table_clusters: %u (table over 8 MiB)",
				  h->rt_clusters);
	if (h->backing_offset) {
		if (h->backing_size == 0 || h->backing_size >= sizeof(h->backing))
			return errmsg_set(err, -EINVAL, "backing_file_size: %u (1 to 1023)",
					  h->backing_size);
		if (h->backing_offset >= hdr_end || h->backing_size > hdr_end - h->backing_offset)
			return errmsg_set(err, -EINVAL,
					  "backing_file_offset: name at %" PRIu64 "+%u lies outside the header cluster",
					  h->backing_offset, h->backing_size);
		if (h->backing_offset < h->header_length)
			return errmsg_set(err, -EINVAL, "backing_file_offset: %" PRIu64 " inside the header",
					  h->backing_offset);
		memcpy(h->backing, buf + h->backing_offset, h->backing_size);
		h->backing[h->backing_size] = 0;
		if (strlen(h->backing) != h->backing_size)
			return errmsg_set(err, -EINVAL, "backing file name: embedded NUL");
	}
	{
		int ret = parse_extensions(buf, h->backing_offset && h->backing_offset < hdr_end
						       ? (size_t)h->backing_offset : hdr_end,
					   h->header_length, h, err);
		if (ret)
			return ret;
	}
	return qcow2_header_check_layout(h, file_size, err);
}

struct area {
	const char *name;
	uint64_t off, len;
};

int qcow2_header_check_layout(const struct qcow2_header *h, uint64_t file_size,
			      struct errmsg *err)
{
	uint64_t cs = 1ULL << h->cluster_bits;
	struct area a[4] = {
		{ "header", 0, cs },
		{ "l1_table_offset", h->l1_offset, (uint64_t)h->l1_size * 8 },
		{ "refcount_table_offset", h->rt_offset, (uint64_t)h->rt_clusters * cs },
		/* A snapshot table entry is at least 40 bytes. */
		{ "snapshots_offset", h->snapshots_offset, (uint64_t)h->nb_snapshots * 40 },
	};

	for (int i = 1; i < 4; i++) {
		if (a[i].len == 0)
			continue;
		if (a[i].off % cs)
			return errmsg_set(err, -EINVAL, "%s: 0x%" PRIx64 " is not cluster-aligned",
					  a[i].name, a[i].off);
		if (a[i].off >= file_size || a[i].len > file_size - a[i].off)
			return errmsg_set(err, -EINVAL,
					  "%s: table at 0x%" PRIx64 " (%" PRIu64 " bytes) lies beyond the end of the file",
					  a[i].name, a[i].off, a[i].len);
	}
	for (int i = 0; i < 4; i++) {
		for (int j = i + 1; j < 4; j++) {
			uint64_t ai = a[i].off, ae = ai + qcow2_align_up(a[i].len, cs);
			uint64_t bi = a[j].off, be = bi + qcow2_align_up(a[j].len, cs);

			if (a[i].len && a[j].len && ai < be && bi < ae)
				return errmsg_set(err, -EINVAL, "%s overlaps %s", a[j].name,
						  i == 0 ? "the header cluster" : a[i].name);
		}
	}
	return 0;
}

void qcow2_header_encode(const struct qcow2_header *h, uint8_t *buf)
{
	qcow2_store_be32(buf, QCOW2_MAGIC);
	qcow2_store_be32(buf + 4, h->version);
	qcow2_store_be64(buf + 8, h->backing_offset);
	qcow2_store_be32(buf + 16, h->backing_size);
	qcow2_store_be32(buf + 20, h->cluster_bits);
	qcow2_store_be64(buf + 24, h->size);
	qcow2_store_be32(buf + 32, h->crypt_method);
	qcow2_store_be32(buf + 36, h->l1_size);
	qcow2_store_be64(buf + 40, h->l1_offset);
	qcow2_store_be64(buf + 48, h->rt_offset);
	qcow2_store_be32(buf + 56, h->rt_clusters);
	qcow2_store_be32(buf + 60, h->nb_snapshots);
	qcow2_store_be64(buf + 64, h->snapshots_offset);
	if (h->version >= 3) {
		qcow2_store_be64(buf + 72, h->incompat);
		qcow2_store_be64(buf + 80, h->compat);
		qcow2_store_be64(buf + 88, h->autoclear);
		qcow2_store_be32(buf + 96, h->refcount_order);
		qcow2_store_be32(buf + 100, h->header_length);
	}
}
