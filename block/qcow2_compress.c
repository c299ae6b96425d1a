/* qcow2 layer 3, compressed clusters: deflate (raw, as QEMU writes it) or zstd, output capped
 * at one cluster. */
#include <errno.h>
#include <inttypes.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2_compress.h"
#include "block/qcow2_file.h"
#include "block/qcow2_image.h"

void qcow2_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *host,
			    uint64_t *len)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t off = entry & ((1ULL << x) - 1);
	uint64_t nsect = (entry & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> x;

	*host = off;
	/* The data runs to the end of the last of (1 + nsect) 512-byte sectors. */
	*len = ((off & ~511ULL) + (nsect + 1) * 512) - off;
}

static int inflate_cluster(struct qcow2 *q, uint64_t in_len)
{
	z_stream z = { 0 };
	int ret;

	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = q->cbuf;
	z.avail_in = (uInt)in_len;
	z.next_out = q->dbuf;
	z.avail_out = (uInt)q->cluster_size;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	/* Z_BUF_ERROR with a full output: the stream's end lies past one cluster (QEMU accepts
	 * this too); anything short of a whole cluster is corrupt. */
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0)
		return 0;
	return -EIO;
}

static int unzstd_cluster(struct qcow2 *q, uint64_t in_len)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	ZSTD_inBuffer in = { q->cbuf, in_len, 0 };
	ZSTD_outBuffer out = { q->dbuf, q->cluster_size, 0 };
	int ret = -EIO;

	if (!dctx)
		return -ENOMEM;
	/* Whole frames until one cluster is produced; no frame may claim more. */
	while (out.pos < out.size && in.pos < in.size) {
		size_t r = ZSTD_decompressStream(dctx, &out, &in);

		if (ZSTD_isError(r))
			break;
		if (r == 0 && out.pos < out.size && in.pos == in.size)
			break;
	}
	if (out.pos == out.size)
		ret = 0;
	ZSTD_freeDCtx(dctx);
	return ret;
}

int qcow2_decompress_cluster(struct qcow2 *q, uint64_t entry)
{
	uint64_t host, len;
	ssize_t n;
	int ret;

	if (q->dbuf_desc == entry)
		return 0;
	qcow2_compressed_range(q, entry, &host, &len);
	if (host < q->cluster_size || len > 2 * q->cluster_size)
		return qcow2_corrupt(q, "compressed cluster at 0x%" PRIx64 " (%" PRIu64 " bytes): bad descriptor",
				     host, len);
	/* The last sector may lie past the end of the file (QEMU does not pad it). */
	n = qcow2_read_upto(q->fd, q->cbuf, len, host);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return qcow2_corrupt(q, "compressed cluster at 0x%" PRIx64 ": beyond the end of the file", host);
	len = (uint64_t)n;
	q->dbuf_desc = 0;
	ret = q->h.compression == QCOW2_COMPRESS_ZSTD ? unzstd_cluster(q, len) : inflate_cluster(q, len);
	if (ret)
		return qcow2_corrupt(q, "compressed cluster at 0x%" PRIx64 ": cannot decompress", host);
	q->dbuf_desc = entry;
	return 0;
}
