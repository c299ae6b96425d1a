/* Write-zeroes and discard on a filesystem without FALLOC_FL_ZERO_RANGE (tmpfs, like NFS): the
 * engines fall back instead of failing the guest's request. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "block/engine.h"
#include "tests/unit/unit.h"

#define FILE_LEN (256 * 1024)

static void on_done(struct blk_io *io, int64_t result)
{
	io->result = result;
	*(int *)io->opaque = 1;
}

/* Runs one range request on a tmpfs file full of 0xaa; returns its result. */
static int64_t range_on_tmpfs(enum blk_engine_kind kind, enum blk_op op, uint8_t *after)
{
	char path[] = "/dev/shm/minivmm-range.XXXXXX";
	struct blk_engine *e;
	struct statfs sf;
	int fd = mkstemp(path), finished = 0;
	uint8_t *buf = malloc(FILE_LEN);
	struct blk_io io = { .op = op, .fd = fd, .offset = 4096, .len = 128 * 1024, .done = on_done,
			     .opaque = &finished };

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(fstatfs(fd, &sf), 0);
	ck_assert_msg(sf.f_type == TMPFS_MAGIC, "/dev/shm is not tmpfs here");
	memset(buf, 0xaa, FILE_LEN);
	ck_assert_int_eq(pwrite(fd, buf, FILE_LEN, 0), FILE_LEN);
	ck_assert_int_eq(blk_engine_create(kind, 8, NULL, &e), 0);
	ck_assert_int_eq(blk_engine_submit(e, &io), 0);
	blk_engine_kick(e);
	for (int i = 0; i < 1000 && !finished; i++) {
		blk_engine_poll(e);
		if (!finished)
			usleep(1000);
	}
	ck_assert(finished);
	ck_assert_int_eq(pread(fd, after, FILE_LEN, 0), FILE_LEN);
	blk_engine_destroy(e);
	close(fd);
	free(buf);
	return io.result;
}

static void check_zeroed(const uint8_t *b)
{
	/* One assertion, not one per byte: a million of Check's calls took most of this test's
	 * 4 s default timeout, and a loaded machine ran out of it. */
	for (size_t i = 0; i < FILE_LEN; i++) {
		uint8_t want = i >= 4096 && i < 4096 + 128 * 1024 ? 0 : 0xaa;

		if (b[i] != want)
			ck_abort_msg("byte %zu is 0x%02x, not 0x%02x", i, b[i], want);
	}
}

START_TEST(write_zeroes_on_tmpfs)
{
	static uint8_t after[FILE_LEN];
	enum blk_engine_kind kind = _i ? BLK_ENGINE_IO_URING : BLK_ENGINE_SYNC;

	ck_assert_int_eq(range_on_tmpfs(kind, BLK_OP_WRITE_ZEROES, after), 0);
	check_zeroed(after);
	ck_assert_int_eq(range_on_tmpfs(kind, BLK_OP_WRITE_ZEROES_UNMAP, after), 0);
	check_zeroed(after);
	/* Discard is advisory: it succeeds (here tmpfs punches the hole, so it reads zeros). */
	ck_assert_int_eq(range_on_tmpfs(kind, BLK_OP_DISCARD, after), 0);
}
END_TEST

Suite *suite_engine_range(void)
{
	Suite *s = suite_create("engine_range");
	TCase *tc = tcase_create("tmpfs");

	tcase_add_loop_test(tc, write_zeroes_on_tmpfs, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
