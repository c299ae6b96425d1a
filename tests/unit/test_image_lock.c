#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "block/image_lock.h"
#include "tests/unit/unit.h"

/* Two opens of one file are two lock owners, as two processes would be. */
static int open_tmp(char *path)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Is a read lock held by another owner on @byte (seen from @fd)? */
static bool held(int fd, unsigned byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	ck_assert_int_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
	return fl.l_type != F_UNLCK;
}

START_TEST(writer_takes_qemus_bytes)
{
	char path[] = "/tmp/minivmm-lock.XXXXXX";
	int w = open_tmp(path), probe = open(path, O_RDWR);

	ck_assert_int_eq(image_lock(w, true), 0);
	/* QEMU's rw layout: holds read, write, resize (100, 101, 103), unshares write and
	 * resize (201, 203); shares read (200) and write-unchanged (102, 202). */
	ck_assert(held(probe, 100) && held(probe, 101) && held(probe, 103));
	ck_assert(held(probe, 201) && held(probe, 203));
	ck_assert(!held(probe, 102) && !held(probe, 200) && !held(probe, 202));
	close(probe);
	close(w);
	unlink(path);
}
END_TEST

START_TEST(who_excludes_whom)
{
	char path[] = "/tmp/minivmm-lock.XXXXXX";
	int a = open_tmp(path), b = open(path, O_RDWR), c = open(path, O_RDWR);
	struct flock shared_reader = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 1 };

	ck_assert_int_eq(image_lock(a, false), 0);
	ck_assert_int_eq(image_lock(b, false), 0);  /* readers share */
	ck_assert_int_eq(image_lock(c, true), -EAGAIN); /* no writer beside readers */
	ck_assert(!held(a, 101));                     /* and the refused one left nothing */
	close(a);
	close(b);
	ck_assert_int_eq(image_lock(c, true), 0);
	a = open(path, O_RDWR);
	ck_assert_int_eq(image_lock(a, true), -EAGAIN);  /* one writer */
	ck_assert_int_eq(image_lock(a, false), -EAGAIN); /* no reader beside a writer */
	/* A `qemu-img -U` reader: a read lock on 100 only, beside the writer. */
	ck_assert_int_eq(fcntl(a, F_OFD_SETLK, &shared_reader), 0);
	close(a);
	close(c);
	unlink(path);
}
END_TEST

Suite *suite_image_lock(void)
{
	Suite *s = suite_create("image_lock");
	TCase *tc = tcase_create("qemu_compatible");

	tcase_add_test(tc, writer_takes_qemus_bytes);
	tcase_add_test(tc, who_excludes_whom);
	suite_add_tcase(s, tc);
	return s;
}
