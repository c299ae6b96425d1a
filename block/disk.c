#include "block/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "block/disk_copy.h"
#include "block/disk_worker.h"
#include "block/image_lock.h"
#include "block/qcow2.h"

#define DISK_ENGINE_DEPTH 256

/* The first 4 bytes, read through an aligned sector so that O_DIRECT allows it. Zeros for
 * an empty file. */
static int read_magic(int fd, char magic[4])
{
	void *sector;
	ssize_t n;

	if (posix_memalign(&sector, 4096, 4096))
		return -ENOMEM;
	n = pread(fd, sector, 4096, 0);
	memset(magic, 0, 4);
	if (n >= 4)
		memcpy(magic, sector, 4);
	free(sector);
	return n < 0 ? -errno : 0;
}

/* The virtual size from a qcow2 header (big-endian, at byte 24), bounded like the real open
 * bounds it; the rest of the header is checked when the image is opened. */
static int read_qcow2_size(struct disk *d, struct errmsg *err)
{
	uint8_t h[32];
	uint64_t size = 0;

	if (pread(d->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return errmsg_set(err, -EIO, "--disk path=%s: reading the qcow2 header failed", d->path);
	for (int i = 24; i < 32; i++)
		size = size << 8 | h[i];
	if (!size || size > (1ULL << 62))
		return errmsg_set(err, -EINVAL, "--disk path=%s: qcow2 header: virtual size %llu out of range",
				  d->path, (unsigned long long)size);
	d->size = size & ~511ULL;
	return 0;
}

static int open_qcow2(struct disk *d, const struct disk_config *cfg, struct errmsg *err)
{
	bool forced_ro;
	int ret = qcow2_open(cfg->path, cfg->readonly, &d->qcow2, &forced_ro, err);

	if (ret)
		return errmsg_prefix(err, ret, "--disk path=%s", cfg->path);
	if (forced_ro) {
		d->readonly = true;
		snprintf(d->note, sizeof(d->note),
			 "--disk path=%s: the image is marked corrupt; attached read-only", cfg->path);
	}
	d->size = qcow2_size(d->qcow2) & ~511ULL;
	d->fmt = &disk_format_qcow2;
	return 0;
}

/* A filesystem's name for a message, from statfs's magic (linux/magic.h values). */
static const char *fs_name(int fd)
{
	static const struct { long magic; const char *name; } known[] = {
		{ 0x01021994, "tmpfs" }, { 0x6969, "NFS" }, { 0x01021997, "9p" },
		{ 0x65735546, "FUSE" }, { 0xff534d42, "CIFS" }, { 0x794c7630, "overlayfs" },
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) == 0)
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if ((long)sf.f_type == known[i].magic)
				return known[i].name;
	return "its filesystem";
}

/* open() said only "Invalid argument" or "Permission denied": find out which of the user's
 * choices the file cannot honour (O_DIRECT; writing), so the message names the option to
 * change. Probes with the option taken away; anything else keeps the plain error. */
static int explain_open_error(const struct disk_config *cfg, int flags, int e,
			      struct errmsg *err)
{
	int fd, ro = 0;
	struct stat st;

	if (e == EINVAL && (flags & O_DIRECT) && (fd = open(cfg->path, flags & ~O_DIRECT)) >= 0) {
		errmsg_set(err, -e, "--disk path=%s: direct=on: %s does not support O_DIRECT (use direct=off, or keep the image on a filesystem or device that does)",
			   cfg->path, fs_name(fd));
		close(fd);
		return -e;
	}
	if ((e == EROFS || e == EACCES || e == EPERM) && (flags & O_ACCMODE) == O_RDWR &&
	    (fd = open(cfg->path, (flags & ~O_ACCMODE) | O_RDONLY)) >= 0) {
		if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKROGET, &ro) == 0 && ro)
			errmsg_set(err, -e, "--disk path=%s: the block device is read-only (attach it with readonly=on)",
				   cfg->path);
		else if (e == EROFS)
			errmsg_set(err, -e, "--disk path=%s: on a read-only filesystem (attach it with readonly=on)",
				   cfg->path);
		else
			errmsg_set(err, -e, "--disk path=%s: no permission to write it (attach it with readonly=on, or change its permissions)",
				   cfg->path);
		close(fd);
		return -e;
	}
	return errmsg_set(err, -e, "--disk path=%s: %s", cfg->path, strerror(e));
}

int disk_open(const struct disk_config *cfg, struct evloop *loop, struct disk **out,
	      struct errmsg *err)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (cfg->direct ? O_DIRECT : 0);
	struct disk *d = calloc(1, sizeof(*d));
	struct stat st;
	char magic[4];
	int ret;

	if (!d)
		return errmsg_set(err, -ENOMEM, "--disk: out of memory");
	d->fd = -1;
	d->loop = loop;
	pthread_mutex_init(&d->format_lock, NULL);
	snprintf(d->path, sizeof(d->path), "%s", cfg->path);
	d->readonly = cfg->readonly;
	d->direct = cfg->direct;
	d->fd = open(cfg->path, flags);
	if (d->fd < 0) {
		ret = explain_open_error(cfg, flags, errno, err);
		goto fail;
	}
	if (fstat(d->fd, &st) < 0) {
		ret = errmsg_set(err, -errno, "--disk path=%s: %s", cfg->path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		int ro = 0;

		/* Linux opens a read-only device for writing and fails each write: refuse now. */
		if (!cfg->readonly && ioctl(d->fd, BLKROGET, &ro) == 0 && ro) {
			ret = errmsg_set(err, -EROFS, "--disk path=%s: the block device is read-only (attach it with readonly=on)",
					 cfg->path);
			goto fail;
		}
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
			ret = errmsg_set(err, -errno, "--disk path=%s: BLKGETSIZE64: %s", cfg->path,
					 strerror(errno));
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else {
		ret = errmsg_set(err, -EINVAL, "--disk path=%s: not a regular file or block device",
				 cfg->path);
		goto fail;
	}
	if ((ret = read_magic(d->fd, magic))) {
		errmsg_set(err, ret, "--disk path=%s: reading the first sector: %s", cfg->path,
			   strerror(-ret));
		goto fail;
	}
	if (!memcmp(magic, QCOW2_MAGIC_BYTES, 4) && cfg->format != DISK_FORMAT_RAW && cfg->inactive) {
		/* A migration's destination: the source writes the image until the hand-over, so
		 * its tables are read only then (disk_activate); until then, the size. */
		ret = read_qcow2_size(d, err);
		if (ret)
			goto fail;
		d->fmt = &disk_format_qcow2;
		d->qcow2_pending = true;
	} else if (!memcmp(magic, QCOW2_MAGIC_BYTES, 4) && cfg->format == DISK_FORMAT_AUTO) {
		ret = open_qcow2(d, cfg, err);
		if (ret)
			goto fail;
	} else if (cfg->format == DISK_FORMAT_QCOW2) {
		ret = errmsg_set(err, -EINVAL, "--disk path=%s: format=qcow2: not a qcow2 image (magic)",
				 cfg->path);
		goto fail;
	} else {
		/* A probed raw image whose guest writes a qcow2 header would be opened as qcow2 next
		 * time (with a backing file of the guest's choosing): raw.c refuses that write. */
		d->probed_raw = cfg->format == DISK_FORMAT_AUTO;
		if (!cfg->inactive && (ret = disk_activate(d, err)))
			goto fail;
		d->size &= ~511ULL; /* whole sectors only */
		d->fmt = &disk_format_raw;
	}
	ret = blk_engine_create(cfg->engine_set ? cfg->engine : BLK_ENGINE_IO_URING,
				DISK_ENGINE_DEPTH, loop, &d->engine);
	if (ret == -ENOSYS && !cfg->engine_set)
		ret = blk_engine_create(BLK_ENGINE_SYNC, DISK_ENGINE_DEPTH, loop, &d->engine);
	if (ret) {
		errmsg_set(err, ret, "--disk path=%s: cannot start the %s engine: %s", cfg->path,
			   cfg->engine == BLK_ENGINE_SYNC ? "sync" : "io_uring", strerror(-ret));
		goto fail;
	}
	*out = d;
	return 0;
fail:
	disk_close(d);
	return ret;
}

/* The destination's qcow2 image, opened for real once the source has let it go: tables,
 * refcounts and backing chain as the source left them, its lock taken. */
static int activate_qcow2(struct disk *d, struct errmsg *err)
{
	struct disk_config cfg = { .path = d->path, .readonly = d->readonly };
	uint64_t size = d->size;
	int ret = open_qcow2(d, &cfg, err);

	if (ret)
		return ret;
	if (d->size != size) {
		qcow2_close(d->qcow2);
		d->qcow2 = NULL;
		d->size = size;
		return errmsg_set(err, -ESTALE, "--disk path=%s: the image's size changed during the migration",
				  d->path);
	}
	d->qcow2_pending = false;
	return 0;
}

int disk_activate(struct disk *d, struct errmsg *err)
{
	int ret;

	if (d->copy_target)
		return 0; /* taken when the copy began (disk_copy_target) */
	if (d->qcow2_pending)
		return activate_qcow2(d, err);
	ret = d->qcow2 ? qcow2_relock(d->qcow2) : image_lock(d->fd, !d->readonly);
	return ret ? errmsg_set(err, ret, "--disk path=%s: locking: %s", d->path,
				image_lock_strerror(ret)) : 0;
}

void disk_inactivate(struct disk *d)
{
	if (d->qcow2)
		qcow2_unlock(d->qcow2);
	else if (!d->qcow2_pending)
		image_unlock(d->fd);
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	disk_worker_stop(d);   /* serves what was handed over: the engine gets no more after */
	/* Complete what is still queued or in flight through the usual callbacks: they free the
	 * formats' host copies and finish qcow2's metadata updates; dropped, both were lost. */
	if (d->engine)
		blk_engine_drain(d->engine);
	blk_engine_destroy(d->engine);
	qcow2_close(d->qcow2); /* after the engine: no data write may still be in flight */
	if (d->fd >= 0)
		close(d->fd);
	pthread_mutex_destroy(&d->format_lock);
	free(atomic_load(&d->track));
	free(d);
}

int disk_submit(struct disk *d, struct disk_req *r)
{
	uint64_t len = r->len;

	if (r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) {
		len = 0;
		for (int i = 0; i < r->iovcnt; i++)
			len += r->iov[i].iov_len;
		r->expect = len;
	}
	if (r->op != BLK_OP_FLUSH && (r->offset > d->size || len > d->size - r->offset))
		return -ERANGE;
	if (d->readonly && r->op != BLK_OP_READ && r->op != BLK_OP_FLUSH)
		return -EROFS;
	r->disk = d;
	disk_track_request(r);
	return d->fmt->submit(d, r);
}

void disk_kick(struct disk *d)
{
	blk_engine_kick(d->engine);
}

int disk_quiesce(struct disk *d)
{
	int ret;

	disk_worker_drain(d);
	if ((ret = blk_engine_drain(d->engine)) || d->readonly)
		return ret;
	if (d->qcow2) {
		disk_format_lock(d); /* the worker is idle: this does not wait */
		ret = qcow2_writeback(d->qcow2);
		disk_format_unlock(d);
		if (ret)
			return ret;
	}
	return fdatasync(d->fd) < 0 ? -errno : 0;
}
