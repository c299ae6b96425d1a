/* QEMU's scheme (block/file-posix.c, measured with /proc/locks against qemu-io 7.2): one-byte
 * OFD read locks at 100 + i for each permission i a user holds and at 200 + i for each
 * permission it does not share with others. Permissions: 0 consistent read, 1 write,
 * 2 write without changing the data, 3 resize. A writer holds {0, 1, 3} and shares only reads;
 * a reader holds {0} and shares reads too (nobody may change what it reads); `-U` readers hold
 * {0} and share everything. Using one image needs: nobody unshares what we hold (no lock at
 * 200 + i), nobody holds what we unshare (no lock at 100 + i). Read locks never conflict with
 * each other, so the test is "could a write lock be taken on that byte". */
#include "block/image_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>

#define PERM_BASE 100
#define SHARED_BASE 200
#define PERM_READ (1U << 0)
#define PERM_WRITE (1U << 1)
#define PERM_RESIZE (1U << 3)
#define NR_PERMS 4

static int lock_byte(int fd, short type, unsigned byte)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 1: another file description holds a lock on @byte; 0: none; -errno. */
static int byte_held(int fd, unsigned byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

void image_unlock(int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = PERM_BASE,
			    .l_len = SHARED_BASE + NR_PERMS - PERM_BASE };

	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

int image_lock(int fd, bool write)
{
	uint32_t held = PERM_READ | (write ? PERM_WRITE | PERM_RESIZE : 0);
	uint32_t unshared = PERM_WRITE | PERM_RESIZE;
	int ret = 0;

	/* Take ours first, then look at the others: two processes racing both see the other. */
	for (unsigned i = 0; i < NR_PERMS && !ret; i++) {
		if (held & (1U << i))
			ret = lock_byte(fd, F_RDLCK, PERM_BASE + i);
		if (!ret && (unshared & (1U << i)))
			ret = lock_byte(fd, F_RDLCK, SHARED_BASE + i);
	}
	for (unsigned i = 0; i < NR_PERMS && !ret; i++) {
		if (held & (1U << i))
			ret = byte_held(fd, SHARED_BASE + i);
		if (!ret && (unshared & (1U << i)))
			ret = byte_held(fd, PERM_BASE + i);
		if (ret == 1)
			ret = -EAGAIN;
	}
	if (ret == -EINVAL || ret == -ENOLCK || ret == -EOPNOTSUPP)
		ret = 0; /* a filesystem without locks: nothing to coordinate with */
	if (ret)
		image_unlock(fd);
	return ret;
}

const char *image_lock_strerror(int ret)
{
	return ret == -EAGAIN ? "the image is in use by another process (qemu-img info -U can still read it)"
			      : strerror(-ret);
}
