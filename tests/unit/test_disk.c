/* block/disk with the raw format on both engines, without a device: what the format does with
 * the guest's buffers, and when. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/qcow2.h"
#include "tests/unit/unit.h"

#define DISK (1ULL << 20)

static struct evloop loop;
static char path[64];
static int done_count, done_err;

static void setup(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/minivmm-unit-disk-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DISK), 0);
	close(fd);
	ck_assert_int_eq(evloop_init(&loop), 0);
}

static void teardown(void)
{
	evloop_destroy(&loop);
	unlink(path);
}

static void on_done(struct disk_req *r, int err)
{
	(void)r;
	done_count++;
	done_err = err;
}

static struct disk *open_probed(enum blk_engine_kind engine)
{
	struct disk_config dc = { .path = path, .format = DISK_FORMAT_AUTO, .engine = engine,
				  .engine_set = true };
	struct errmsg err;
	struct disk *d;

	ck_assert_msg(disk_open(&dc, &loop, &d, &err) == 0, "%s", err.text);
	ck_assert(d->probed_raw);
	return d;
}

static void wait_done(int n)
{
	for (int i = 0; i < 1000 && done_count < n; i++)
		evloop_run_once(&loop, 1);
	ck_assert_int_eq(done_count, n);
}

static void file_head(char out[4])
{
	int fd = open(path, O_RDONLY);

	ck_assert_int_eq(pread(fd, out, 4, 0), 4);
	close(fd);
}

/* Issue 13, finding 3: the guard that keeps a guest from writing a qcow2 magic into sector 0
 * of a probed raw image checked guest memory, and the engine read that memory again later
 * (io_uring: at disk_kick; with O_DIRECT later still). A second vCPU could change the bytes in
 * between and turn the image into a qcow2 file with a backing file of its choosing. The guard
 * must check, and the engine write, one host copy. */
START_TEST(sector0_guard_checks_what_is_written)
{
	static const enum blk_engine_kind engines[] = { BLK_ENGINE_IO_URING, BLK_ENGINE_SYNC };

	for (unsigned e = 0; e < 2; e++) {
		uint8_t *buf = aligned_alloc(4096, 8192);
		struct iovec iov[2] = { { buf, 4096 }, { buf + 4096, 4096 } };
		struct disk_req r = { .op = BLK_OP_WRITE, .offset = 0, .iov = iov, .iovcnt = 2,
				      .done = on_done };
		struct disk *d = open_probed(engines[e]);
		char head[4];

		done_count = 0;
		memset(buf, 0x11, 8192);
		ck_assert_int_eq(disk_submit(d, &r), 0);
		memcpy(buf, QCOW2_MAGIC_BYTES, 4);      /* the other vCPU, after the check */
		disk_kick(d);
		wait_done(1);
		ck_assert_int_eq(done_err, 0);
		file_head(head);
		ck_assert_msg(memcmp(head, QCOW2_MAGIC_BYTES, 4), "engine %u: qcow2 magic on disk", e);
		ck_assert_uint_eq((uint8_t)head[0], 0x11);
		{
			int fd = open(path, O_RDONLY);
			uint8_t tail[2];

			ck_assert_int_eq(pread(fd, tail, 2, 4095), 2);   /* across the copy's end */
			ck_assert_uint_eq(tail[0], 0x11);
			ck_assert_uint_eq(tail[1], 0x11);
			ck_assert_int_eq(pread(fd, tail, 1, 8191), 1);
			ck_assert_uint_eq(tail[0], 0x11);
			close(fd);
		}

		/* A magic there from the start is refused, as before. */
		done_count = 0;
		ck_assert_int_eq(disk_submit(d, &r), -EPERM);
		/* Elsewhere it is just data; and the rest of a sector-0 write lands as given. */
		memset(buf, 0x22, 8192);
		r.offset = 4096;
		ck_assert_int_eq(disk_submit(d, &r), 0);
		disk_kick(d);
		wait_done(1);
		disk_close(d);
		free(buf);
	}
}
END_TEST

/* Closing a disk completes what is still queued, in flight or waiting for a free slot: each
 * request's callback runs, so that the sector-0 guard's host copy is freed (the fuzzers found
 * it leaked when a device went away with I/O in flight) and the caller hears of every one. */
START_TEST(close_completes_requests_in_flight)
{
	static const enum blk_engine_kind engines[] = { BLK_ENGINE_IO_URING, BLK_ENGINE_SYNC };
	enum { N = 300 }; /* past the engine's 256 slots: some wait in its backlog */

	for (unsigned e = 0; e < 2; e++) {
		uint8_t *buf = aligned_alloc(4096, 4096);
		struct iovec iov = { buf, 4096 };
		struct disk_req *r = calloc(N, sizeof(*r));
		struct disk *d = open_probed(engines[e]);
		char head[4];

		done_count = 0;
		memset(buf, 0x33, 4096);
		for (int i = 0; i < N; i++) {
			r[i] = (struct disk_req){ .op = BLK_OP_WRITE, .offset = (uint64_t)(i % 2) * 4096,
						  .iov = &iov, .iovcnt = 1, .done = on_done };
			ck_assert_int_eq(disk_submit(d, &r[i]), 0);
		}
		disk_kick(d);
		disk_close(d);
		ck_assert_msg(done_count == N, "engine %u: %d of %d completed", e, done_count, N);
		ck_assert_int_eq(done_err, 0);
		file_head(head);
		ck_assert_uint_eq((uint8_t)head[0], 0x33);
		free(r);
		free(buf);
	}
}
END_TEST

/* Issue 16: open() says only "Invalid argument" when a filesystem refuses O_DIRECT; the
 * message names the option and the filesystem instead. /dev/shm is a tmpfs, which refuses
 * O_DIRECT before Linux 6.6. */
START_TEST(direct_on_tmpfs_is_refused_by_name)
{
	char shm[64];
	struct disk_config dc = { .path = shm, .format = DISK_FORMAT_RAW, .direct = true };
	struct errmsg err;
	struct disk *d;
	int fd;

	snprintf(shm, sizeof(shm), "/dev/shm/minivmm-unit-direct-XXXXXX");
	ck_assert_int_ge(fd = mkstemp(shm), 0);
	ck_assert_int_eq(ftruncate(fd, DISK), 0);
	close(fd);
	fd = open(shm, O_RDWR | O_DIRECT);
	if (fd >= 0) {
		/* tmpfs has O_DIRECT since Linux 6.6: then the disk opens (the box's 6.1 refuses:
		 * tests/integration/test_storage.sh checks the message there too). */
		close(fd);
		ck_assert_msg(disk_open(&dc, &loop, &d, &err) == 0, "%s", err.text);
		disk_close(d);
	} else {
		ck_assert_int_eq(disk_open(&dc, &loop, &d, &err), -EINVAL);
		ck_assert_msg(strstr(err.text, "direct=on: tmpfs does not support O_DIRECT (use direct=off"),
			      "%s", err.text);
		ck_assert_msg(!strncmp(err.text, "--disk path=/dev/shm/", 21), "%s", err.text);
	}
	unlink(shm);
}
END_TEST

Suite *suite_disk(void)
{
	Suite *s = suite_create("disk");
	TCase *tc = tcase_create("raw");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sector0_guard_checks_what_is_written);
	tcase_add_test(tc, close_completes_requests_in_flight);
	tcase_add_test(tc, direct_on_tmpfs_is_refused_by_name);
	suite_add_tcase(s, tc);
	return s;
}
