/* A disk's side of a migration without shared storage: see block/disk_copy.h. */
#include "block/disk_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk_worker.h"
#include "block/qcow2.h"

#define ALIGN 4096u

uint64_t disk_copy_blocks(const struct disk *d)
{
	return (d->size + DISK_COPY_BLOCK - 1) >> DISK_COPY_BLOCK_BITS;
}

uint64_t disk_track_words(const struct disk *d)
{
	return (disk_copy_blocks(d) + 63) / 64;
}

/* A bitmap left on (a migration that failed while the VM could not pause) is kept, not
 * replaced: the I/O thread may be marking it right now. Its stale marks only cost resends. */
int disk_track_start(struct disk *d)
{
	uint64_t *bits, *none = NULL;

	if (atomic_load(&d->track))
		return 0;
	bits = calloc(disk_track_words(d) ? disk_track_words(d) : 1, sizeof(uint64_t));
	if (!bits)
		return -ENOMEM;
	if (!atomic_compare_exchange_strong(&d->track, &none, bits))
		free(bits);
	return 0;
}

void disk_track_stop(struct disk *d)
{
	free(atomic_exchange(&d->track, NULL));
}

static void track_mark(struct disk *d, uint64_t off, uint64_t len)
{
	uint64_t *bits = atomic_load(&d->track);
	uint64_t first, last;

	if (!bits || !len || off >= d->size)
		return;
	if (len > d->size - off)
		len = d->size - off;
	first = off >> DISK_COPY_BLOCK_BITS;
	last = (off + len - 1) >> DISK_COPY_BLOCK_BITS;
	for (uint64_t b = first; b <= last; b++)
		atomic_fetch_or_explicit((_Atomic uint64_t *)&bits[b / 64], 1ULL << (b % 64),
					 memory_order_release);
}

/* At completion, not submission: a copy that read the block before the request landed
 * must find it marked afterwards. */
static void tracked_done(struct disk_req *r, int err)
{
	track_mark(r->disk, r->offset, r->op == BLK_OP_WRITE ? r->expect : r->len);
	r->done = r->caller_done;
	r->done(r, err);
}

/* Every request that changes the disk, tracked or not: one submitted before the tracking
 * started may complete after the first pass read its block, and must be marked then. */
void disk_track_request(struct disk_req *r)
{
	if (r->op == BLK_OP_READ || r->op == BLK_OP_FLUSH || r->done == tracked_done)
		return;
	r->caller_done = r->done;
	r->done = tracked_done;
}

uint64_t disk_track_collect(struct disk *d, uint64_t *out)
{
	uint64_t *bits = atomic_load(&d->track), n = 0;

	if (!bits)
		return 0;
	for (uint64_t i = 0; i < disk_track_words(d); i++) {
		uint64_t w = atomic_exchange_explicit((_Atomic uint64_t *)&bits[i], 0,
						      memory_order_acq_rel);

		out[i] |= w;
		n += (uint64_t)__builtin_popcountll(w);
	}
	return n;
}

bool disk_has_backing(const struct disk *d)
{
	return d->qcow2 && qcow2_backing_path(d->qcow2)[0];
}

static bool all_zero(const void *p, uint64_t len)
{
	const uint64_t *w = p;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	for (uint64_t i = len & ~7ULL; i < len; i++)
		if (((const uint8_t *)p)[i])
			return false;
	return true;
}

/* A raw image: a range in a hole is zero without reading it. */
static int raw_read(struct disk *d, uint64_t off, uint64_t len, void *buf, enum disk_extent *kind)
{
	uint64_t want = d->direct ? (len + ALIGN - 1) & ~(uint64_t)(ALIGN - 1) : len, got = 0;
	off_t data = lseek(d->fd, (off_t)off, SEEK_DATA);

	if ((data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t)data >= off + len)) {
		*kind = DISK_EXTENT_ZERO;
		return 0;
	}
	while (got < len) {
		ssize_t n = pread(d->fd, (uint8_t *)buf + got, want - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the image shrank under the VM */
		got += (uint64_t)n;
	}
	*kind = all_zero(buf, len) ? DISK_EXTENT_ZERO : DISK_EXTENT_DATA;
	return 0;
}

/* A qcow2 image, under the format lock (the I/O thread only tries it and hands its request
 * to the worker meanwhile; the worker waits): the mapping first, so that a range left to the
 * backing file or zero is not read at all. With @top_only, zero clusters are read (as
 * zeros) like data: a block that mixes them with clusters left to the backing file must go
 * whole, or the destination would show the backing file's bytes where the guest zeroed. */
static int qcow2_read(struct disk *d, uint64_t off, uint64_t len, bool top_only, void *buf,
		      enum disk_extent *kind)
{
	bool backing = disk_has_backing(d), data = false, below = false;
	uint64_t done = 0;
	int ret = 0;

	disk_format_lock(d);
	while (done < len && !ret) {
		struct qcow2_run run;

		ret = qcow2_map(d->qcow2, off + done, len - done, &run);
		if (ret)
			break;
		if (run.kind == QCOW2_RUN_BACKING && top_only)
			below = true;
		else if (run.kind == QCOW2_RUN_DATA || run.kind == QCOW2_RUN_COMPRESSED ||
			 (run.kind == QCOW2_RUN_BACKING && backing) ||
			 (run.kind == QCOW2_RUN_ZERO && top_only))
			data = true;
		done += run.len;
	}
	if (!ret && data)
		ret = qcow2_pread(d->qcow2, buf, len, off);
	disk_format_unlock(d);
	if (ret)
		return ret;
	if (data)
		*kind = all_zero(buf, len) && !below ? DISK_EXTENT_ZERO : DISK_EXTENT_DATA;
	else
		*kind = below ? DISK_EXTENT_BACKING : DISK_EXTENT_ZERO;
	return 0;
}

int disk_copy_read(struct disk *d, uint64_t off, uint64_t len, bool top_only, void *buf,
		   enum disk_extent *kind)
{
	if (!len || len > DISK_COPY_BLOCK || off > d->size || len > d->size - off)
		return -ERANGE;
	return d->qcow2 ? qcow2_read(d, off, len, top_only, buf, kind) :
			  raw_read(d, off, len, buf, kind);
}

int disk_copy_target(struct disk *d, bool top_only, struct errmsg *err)
{
	struct qcow2_info info;
	int ret;

	if (d->copy_target)
		return 0;
	if (d->readonly)
		return errmsg_set(err, -EROFS, "--disk path=%s: attached read-only, cannot receive the source's disk",
				  d->path);
	if ((ret = disk_activate(d, err)))
		return ret;
	d->copy_target = true;
	if (!top_only)
		return 0;
	if (!disk_has_backing(d))
		return errmsg_set(err, -EINVAL, "--disk path=%s: the source copies only the top of its image (disks=copy-top), but this image has no backing file (create it with minivmm img create -f qcow2 -b BASE)",
				  d->path);
	/* What the source does not send must read as the backing file's: nothing allocated. */
	ret = qcow2_get_info(d->qcow2, &info);
	if (ret)
		return errmsg_set(err, ret, "--disk path=%s: reading its tables: %s", d->path,
				  strerror(-ret));
	if (info.allocated)
		return errmsg_set(err, -EINVAL, "--disk path=%s: disks=copy-top needs a new image over the backing file, this one has %llu bytes allocated",
				  d->path, (unsigned long long)info.allocated);
	return 0;
}

/* O_DIRECT wants aligned memory; the stream's payload is not. */
static int raw_write(struct disk *d, uint64_t off, const void *buf, uint64_t len)
{
	const uint8_t *src = buf;
	void *bounce = NULL;
	uint64_t done = 0;
	int ret = 0;

	if (d->direct) {
		if (((off | len) & (ALIGN - 1)) && off + len != d->size)
			return -EINVAL;
		if (posix_memalign(&bounce, ALIGN, (len + ALIGN - 1) & ~(uint64_t)(ALIGN - 1)))
			return -ENOMEM;
		memcpy(bounce, buf, len);
		src = bounce;
	}
	while (done < len) {
		ssize_t n = pwrite(d->fd, src + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	free(bounce);
	return ret;
}

int disk_copy_write(struct disk *d, uint64_t off, const void *buf, uint64_t len)
{
	int ret;

	if (!d->copy_target || off > d->size || len > d->size - off)
		return -ERANGE;
	/* As raw.c refuses the guest: a probed raw image must not become a qcow2 one (with a
	 * backing file of the source's choosing) at its next start. */
	if (d->probed_raw && off == 0 && len >= 4 && !memcmp(buf, QCOW2_MAGIC_BYTES, 4))
		return -EPERM;
	if (!d->qcow2)
		return raw_write(d, off, buf, len);
	disk_format_lock(d);
	ret = qcow2_pwrite(d->qcow2, buf, len, off);
	disk_format_unlock(d);
	return ret;
}

/* A hole in a raw file keeps it sparse; where the filesystem cannot punch one, zeros are
 * written. */
static int raw_zero(struct disk *d, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[DISK_COPY_BLOCK] __attribute__((aligned(ALIGN)));
	uint64_t done = 0;

	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	while (done < len) {
		uint64_t n = len - done < DISK_COPY_BLOCK ? len - done : DISK_COPY_BLOCK;
		int ret = raw_write(d, off + done, zeros, n);

		if (ret)
			return ret;
		done += n;
	}
	return 0;
}

int disk_copy_zero(struct disk *d, uint64_t off, uint64_t len)
{
	int ret;

	if (!d->copy_target || off > d->size || len > d->size - off)
		return -ERANGE;
	if (!d->qcow2)
		return raw_zero(d, off, len);
	disk_format_lock(d);
	ret = qcow2_zero(d->qcow2, off, len, true);
	disk_format_unlock(d);
	return ret;
}

int disk_copy_flush(struct disk *d)
{
	int ret = 0;

	if (d->qcow2) {
		disk_format_lock(d);
		ret = qcow2_flush(d->qcow2);
		disk_format_unlock(d);
	}
	if (!ret && fdatasync(d->fd) < 0)
		ret = -errno;
	return ret;
}
