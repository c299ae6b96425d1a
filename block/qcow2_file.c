/* qcow2 layer 0: whole-buffer I/O on the image file (EINTR and short transfers handled here,
 * once), its size, and table write-back. */
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2_file.h"

int qcow2_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

ssize_t qcow2_read_upto(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset((uint8_t *)buf + done, 0, len - done);
	return (ssize_t)done;
}

int qcow2_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int qcow2_sync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

int qcow2_file_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

int qcow2_write_table(int fd, const uint64_t *table, struct qcow2_dirty *d, uint64_t base)
{
	uint64_t *be;
	int ret;

	if (!qcow2_dirty_any(d))
		return 0;
	be = malloc((d->hi - d->lo) * 8);
	if (!be)
		return -ENOMEM;
	for (uint64_t i = d->lo; i < d->hi; i++)
		be[i - d->lo] = htobe64(table[i]);
	ret = qcow2_write_at(fd, be, (d->hi - d->lo) * 8, base + d->lo * 8);
	free(be);
	if (!ret)
		d->lo = d->hi = 0;
	return ret;
}
