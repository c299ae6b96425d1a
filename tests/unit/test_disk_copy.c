/* A migration's disks=copy: the block layer's changed-block tracking and guest-visible reads
 * (block/disk_copy.h), and the destination's DISK section parser (migrate/disk_stream.h),
 * which must refuse every malformed section before it writes anything. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/disk_copy.h"
#include "block/qcow2.h"
#include "migrate/disk_stream.h"
#include "tests/unit/unit.h"
#include "vmm/seccomp.h"

#define SIZE (1ULL << 20)
#define BLK DISK_COPY_BLOCK

static struct evloop loop;
static char path[64], base[64];
static int done_count;

static void setup(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/minivmm-unit-copy-XXXXXX");
	snprintf(base, sizeof(base), "/tmp/minivmm-unit-base-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, SIZE), 0);
	close(fd);
	fd = mkstemp(base);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(evloop_init(&loop), 0);
	done_count = 0; /* the ASan runner runs every test in one process (CK_FORK=no) */
}

static void teardown(void)
{
	evloop_destroy(&loop);
	unlink(path);
	unlink(base);
}

static struct disk *open_disk_engine(const char *p, enum blk_engine_kind engine)
{
	struct disk_config dc = { .path = p, .format = DISK_FORMAT_AUTO, .engine = engine,
				  .engine_set = true };
	struct errmsg err;
	struct disk *d;

	ck_assert_msg(disk_open(&dc, &loop, &d, &err) == 0, "%s", err.text);
	return d;
}

static struct disk *open_disk(const char *p)
{
	return open_disk_engine(p, BLK_ENGINE_SYNC);
}

static void on_done(struct disk_req *r, int err)
{
	(void)r;
	(void)err;
	done_count++;
}

static void run(struct disk *d, struct disk_req *r)
{
	int want = done_count + 1;

	r->done = on_done;
	ck_assert_int_eq(disk_submit(d, r), 0);
	disk_kick(d);
	for (int i = 0; i < 1000 && done_count < want; i++)
		evloop_run_once(&loop, 1);
	ck_assert_int_eq(done_count, want);
}

static void file_write(const char *p, uint64_t off, int byte, size_t len)
{
	uint8_t *b = malloc(len);
	int fd = open(p, O_WRONLY);

	memset(b, byte, len);
	ck_assert_int_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(b);
}

/* Writes and write-zeroes mark every block they touch (a write across a block boundary marks
 * both); reads and flushes mark none; a collect clears what it returns. */
START_TEST(writes_mark_their_blocks)
{
	struct disk *d = open_disk(path);
	uint8_t *buf = aligned_alloc(4096, 8192);
	struct iovec iov = { buf, 8192 };
	struct disk_req w = { .op = BLK_OP_WRITE, .offset = BLK - 4096, .iov = &iov, .iovcnt = 1 };
	struct disk_req r = { .op = BLK_OP_READ, .offset = 5 * BLK, .iov = &iov, .iovcnt = 1 };
	struct disk_req z = { .op = BLK_OP_WRITE_ZEROES, .offset = 9 * BLK, .len = 512 };
	struct disk_req f = { .op = BLK_OP_FLUSH };
	uint64_t bits[2] = { 0 };

	memset(buf, 0x42, 8192);
	ck_assert_int_eq(disk_copy_blocks(d), SIZE / BLK);
	run(d, &w); /* not tracked yet */
	ck_assert_int_eq(disk_track_start(d), 0);
	ck_assert_int_eq(disk_track_collect(d, bits), 0);
	run(d, &r);
	run(d, &f);
	ck_assert_int_eq(disk_track_collect(d, bits), 0);
	w.done = NULL;
	run(d, &w);
	run(d, &z);
	ck_assert_int_eq(disk_track_collect(d, bits), 3);
	ck_assert_uint_eq(bits[0], (1u << 0) | (1u << 1) | (1u << 9));
	ck_assert_int_eq(disk_track_collect(d, bits), 0);
	disk_track_stop(d);
	run(d, &w);
	ck_assert_int_eq(disk_track_collect(d, bits), 0);
	disk_close(d);
	free(buf);
}
END_TEST

/* A raw image: a hole and a block of written zeros read as zero, data as data. */
START_TEST(raw_read_kinds)
{
	uint8_t *buf = aligned_alloc(4096, BLK);
	enum disk_extent k;
	struct disk *d;

	file_write(path, 2 * BLK + 100, 0x77, 10);
	file_write(path, 4 * BLK, 0, BLK);
	d = open_disk(path);
	ck_assert_int_eq(disk_copy_read(d, 0, BLK, false, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_ZERO);
	ck_assert_int_eq(disk_copy_read(d, 2 * BLK, BLK, false, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_DATA);
	ck_assert_int_eq(buf[100], 0x77);
	ck_assert_int_eq(buf[99], 0);
	ck_assert_int_eq(disk_copy_read(d, 4 * BLK, BLK, false, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_ZERO);
	ck_assert_int_eq(disk_copy_read(d, SIZE - BLK, BLK + 512, false, buf, &k), -ERANGE);
	disk_close(d);
	free(buf);
}
END_TEST

/* A new qcow2 image at @p (any old file there removed) with @len bytes of @byte at @off. */
static void qcow2_with(const char *p, const struct qcow2_create_opts *o, int byte, size_t len,
		       uint64_t off)
{
	static uint8_t data[BLK];
	struct errmsg err;
	struct qcow2 *q;

	unlink(p);
	ck_assert_msg(qcow2_create(p, o, &err) == 0, "%s", err.text);
	if (!len)
		return;
	ck_assert_int_eq(qcow2_open(p, false, &q, NULL, &err), 0);
	memset(data, byte, len);
	ck_assert_int_eq(qcow2_pwrite(q, data, len, off), 0);
	ck_assert_int_eq(qcow2_close(q), 0);
}

/* qcow2 over a backing file: with top_only a block the top leaves to the backing file is
 * BACKING (not sent); without, it is the backing file's data; a block the top holds is
 * data either way; an unallocated block without backing data is zero. */
START_TEST(qcow2_top_only_read_kinds)
{
	struct qcow2_create_opts ob = { .size = SIZE }, ot = { .size = SIZE, .backing = base,
								 .backing_fmt = "qcow2" };
	uint8_t *buf = aligned_alloc(4096, BLK);
	enum disk_extent k;
	struct disk *d;

	qcow2_with(base, &ob, 0x31, 512, BLK);
	qcow2_with(path, &ot, 0x32, 512, 3 * BLK);

	d = open_disk(path);
	ck_assert(disk_has_backing(d));
	ck_assert_int_eq(disk_copy_read(d, BLK, BLK, true, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_BACKING);
	ck_assert_int_eq(disk_copy_read(d, BLK, BLK, false, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_DATA);
	ck_assert_int_eq(buf[0], 0x31);
	ck_assert_int_eq(disk_copy_read(d, 3 * BLK, BLK, true, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_DATA);
	ck_assert_int_eq(buf[0], 0x32);
	ck_assert_int_eq(disk_copy_read(d, 5 * BLK, BLK, false, buf, &k), 0);
	ck_assert_int_eq(k, DISK_EXTENT_ZERO);
	disk_close(d);
	free(buf);
}
END_TEST

/* Review of 82a7d8e, 1: a write submitted before the tracking started and completing after
 * the first pass read its block must be marked (it was not: the destination kept zeros). */
START_TEST(write_in_flight_at_track_start_is_marked)
{
	struct disk *d = open_disk_engine(path, BLK_ENGINE_IO_URING);
	uint8_t *buf = aligned_alloc(4096, BLK), *rd = aligned_alloc(4096, BLK);
	struct iovec iov = { buf, 4096 };
	struct disk_req w = { .op = BLK_OP_WRITE, .offset = 0, .iov = &iov, .iovcnt = 1,
			      .done = on_done };
	uint64_t bits[1] = { 0 };
	enum disk_extent k;

	memset(buf, 0x42, 4096);
	ck_assert_int_eq(disk_submit(d, &w), 0);     /* guest write, in flight */
	ck_assert_int_eq(disk_track_start(d), 0);    /* migrate disks=copy starts */
	ck_assert_int_eq(disk_copy_read(d, 0, BLK, false, rd, &k), 0); /* first pass */
	ck_assert_int_eq(k, DISK_EXTENT_ZERO);       /* sent as zeros */
	disk_kick(d);
	for (int i = 0; i < 1000 && !done_count; i++)
		evloop_run_once(&loop, 10);
	ck_assert_int_eq(done_count, 1);             /* the write landed */
	ck_assert_int_eq(disk_copy_read(d, 0, BLK, false, rd, &k), 0);
	ck_assert_int_eq(rd[0], 0x42);
	/* ...but block 0 is not marked: never sent again. */
	ck_assert_msg(disk_track_collect(d, bits) == 1, "block 0 not marked: destination keeps zeros");
	disk_close(d);
	free(buf);
	free(rd);
}
END_TEST

/* Review of 82a7d8e, 2: copy-top with clusters under 64 KiB: a block whose top holds a zero
 * cluster and leaves the rest to the backing file must be sent (it was reported BACKING:
 * the destination showed the backing file's bytes where the guest had zeroed). */
START_TEST(copy_top_sends_zero_clusters)
{
	struct qcow2_create_opts ob = { .size = 1 << 20 },
		ot = { .size = 1 << 20, .cluster_size = 4096, .backing = base, .backing_fmt = "qcow2" };
	uint8_t *buf = aligned_alloc(4096, BLK);
	enum disk_extent k;
	struct disk *d;

	qcow2_with(base, &ob, 0x31, BLK, 0);
	qcow2_with(path, &ot, 0, 0, 0);
	d = open_disk(path);
	/* guest: write-zeroes of 4 KiB at 0 (what a discard / WRITE_ZEROES does) */
	ck_assert_int_eq(qcow2_zero(d->qcow2, 0, 4096, true), 0);
	ck_assert_int_eq(qcow2_pread(d->qcow2, buf, BLK, 0), 0);
	ck_assert_int_eq(buf[0], 0);       /* the guest sees zeros */
	ck_assert_int_eq(buf[4096], 0x31);
	ck_assert_int_eq(disk_copy_read(d, 0, BLK, true, buf, &k), 0);
	ck_assert_msg(k != DISK_EXTENT_BACKING,
		      "block with a ZERO cluster reported BACKING: not sent, destination reads 0x31");
	ck_assert_int_eq(buf[0], 0);
	ck_assert_int_eq(buf[4096], 0x31);
	disk_close(d);
	free(buf);
}
END_TEST

/* ---- the destination's parser ---- */

static size_t sec(uint8_t *p, uint32_t disk, uint32_t flags)
{
	stream_put32(p, disk);
	stream_put32(p + 4, flags);
	return 8;
}

static size_t run_hdr(uint8_t *p, uint64_t off, uint32_t len, uint32_t flags)
{
	stream_put64(p, off);
	stream_put32(p + 8, len);
	stream_put32(p + 12, flags);
	return 16;
}

static uint8_t file_byte(uint64_t off)
{
	uint8_t b = 0xee;
	int fd = open(path, O_RDONLY);

	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	close(fd);
	return b;
}

START_TEST(apply_refuses_malformed_sections)
{
	static uint8_t p[4096];
	struct disk *d = open_disk(path);
	struct errmsg err;
	size_t n;

	file_write(path, 0, 0x55, 4096);
	/* Too short; a disk it does not have; unknown flags; TOP without BEGIN. */
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, 7, &err), -EINVAL);
	n = sec(p, 1, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "disk 1"));
	n = sec(p, 0, 4);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), -EINVAL);
	n = sec(p, 0, 2);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), -EINVAL);
	/* Data before BEGIN. */
	n = sec(p, 0, 0);
	n += run_hdr(p + n, 0, 512, 0);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 512, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "before its BEGIN"));
	/* BEGIN with bytes after it; then a real BEGIN. */
	n = sec(p, 0, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), 0);
	/* Runs: cut-short header, zero length, not whole sectors, past the end (also by
	 * wrapping around), unknown flags, more data claimed than carried. */
	n = sec(p, 0, 0);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 15, &err), -EINVAL);
	run_hdr(p + n, 0, 0, 0);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	run_hdr(p + n, 100, 512, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	run_hdr(p + n, 0, 700, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	run_hdr(p + n, SIZE - 512, 1024, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	run_hdr(p + n, UINT64_MAX - 511, 1024, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	run_hdr(p + n, 0, 512, 6);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	run_hdr(p + n, 0, 1024, 0);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16 + 1000, &err), -EINVAL);
	ck_assert_int_eq(file_byte(0), 0x55);
	/* A good section: data at 0, zeros at 4096-512. */
	n = sec(p, 0, 0);
	n += run_hdr(p + n, 0, 512, 0);
	memset(p + n, 0x66, 512);
	n += 512;
	n += run_hdr(p + n, 3584, 512, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), 0);
	ck_assert_int_eq(disk_copy_flush(d), 0);
	ck_assert_int_eq(file_byte(0), 0x66);
	ck_assert_int_eq(file_byte(512), 0x55);
	ck_assert_int_eq(file_byte(3584), 0);
	ck_assert_int_eq(file_byte(3583), 0x55);
	disk_close(d);
}
END_TEST

/* Review (helper-18): a DISK section's zero runs were bounded only by the disk's size, each:
 * 16 bytes of stream asked for up to 4 GiB of zeros (written out where the storage cannot
 * punch holes), half a million times a section. Now as the sender makes them: 1 GiB a run
 * at most, and zeros over the disk's size at most in one section. */
START_TEST(zero_runs_bounded_as_the_sender_makes_them)
{
	static uint8_t p[8 + 3 * 16];
	struct disk *d;
	struct errmsg err;
	size_t n;
	int fd = open(path, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 2ULL << 30), 0); /* sparse: nothing is written below */
	close(fd);
	d = open_disk(path);
	sec(p, 0, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, 8, &err), 0); /* BEGIN */
	n = sec(p, 0, 0);
	run_hdr(p + n, 0, (3u << 29), 1); /* 1.5 GiB of zeros in one run */
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n + 16, &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "zero run") != NULL, "%s", err.text);
	disk_close(d);

	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, SIZE), 0);
	close(fd);
	d = open_disk(path);
	sec(p, 0, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, 8, &err), 0);
	file_write(path, 0, 0x55, 4096);
	/* The whole disk once: fine; the same run twice in a section: refused. */
	n = sec(p, 0, 0);
	n += run_hdr(p + n, 0, SIZE, 1);
	ck_assert_msg(disk_stream_apply(&d, 1, p, n, &err) == 0, "%s", err.text);
	n += run_hdr(p + n, 0, SIZE, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "zero run") != NULL, "%s", err.text);
	disk_close(d);
}
END_TEST

/* copy-top onto an image without a backing file would read the source's unsent blocks as
 * zeros: refused, naming the disk. */
START_TEST(copy_top_needs_a_backing_file)
{
	struct disk *d = open_disk(path);
	uint8_t p[8];
	struct errmsg err;

	sec(p, 0, 3);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, 8, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, path));
	disk_close(d);
}
END_TEST

/* Review of 82a7d8e, 3: a DISK run must not write a qcow2 header at byte 0 of a destination
 * image whose format is probed as raw (raw.c refuses the guest the same); the next start
 * would open it as qcow2 with a backing file of the source's choosing. */
START_TEST(copy_cannot_plant_qcow2_magic_in_probed_raw)
{
	static uint8_t p[8 + 16 + 512];
	struct disk *d = open_disk(path);
	struct errmsg err;
	size_t n = 0;

	ck_assert(d->probed_raw);
	stream_put32(p, 0);
	stream_put32(p + 4, 1);
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, 8, &err), 0); /* BEGIN */
	stream_put32(p, 0);
	stream_put32(p + 4, 0);
	n = 8;
	stream_put64(p + n, 0);
	stream_put32(p + n + 8, 512);
	stream_put32(p + n + 12, 0);
	n += 16;
	memcpy(p + n, "QFI\xfb", 4);
	n += 512;
	ck_assert_int_eq(disk_stream_apply(&d, 1, p, n, &err), -EPERM);
	ck_assert_ptr_nonnull(strstr(err.text, "format=raw"));
	disk_close(d);
	{
		char m[4];
		int fd = open(path, O_RDONLY);

		ck_assert_int_eq(pread(fd, m, 4, 0), 4);
		close(fd);
		ck_assert_msg(memcmp(m, "QFI\xfb", 4) != 0, "probed raw image now starts with the qcow2 magic");
	}
}
END_TEST

/* Review of 82a7d8e, 4: the migration thread reads a qcow2 image under its own seccomp
 * filter, and the L2 cache's eviction write-back it may run grows the file (ftruncate) when
 * tables were allocated past the file's end (write-zeroes over a backing file allocates L2
 * tables without extending the file): the filter killed the VM. */
START_TEST(migration_filter_allows_eviction_writeback)
{
	const uint64_t region = 512ULL << 20, nreg = 80;
	struct qcow2_create_opts ot = { .size = nreg * region, .backing = base, .backing_fmt = "raw" };
	uint8_t *buf = aligned_alloc(4096, BLK);
	struct seccomp_set *set;
	struct errmsg err;
	struct disk *d;
	int fd, st;
	pid_t pid;

	fd = open(base, O_WRONLY);
	ck_assert_int_eq(ftruncate(fd, (off_t)(nreg * region)), 0);
	close(fd);
	unlink(path);
	ck_assert_msg(qcow2_create(path, &ot, &err) == 0, "%s", err.text);
	d = open_disk(path);
	for (uint64_t i = 0; i < nreg; i++) /* the guest: write-zeroes, one per 512 MiB */
		ck_assert_int_eq(qcow2_zero(d->qcow2, i * region, BLK, true), 0);
	pid = fork();
	if (pid == 0) {
		if (seccomp_set_new(SECCOMP_POLICY_ON, true, -1, &set, &err) ||
		    seccomp_set_build(set, SECCOMP_THREAD_MIGRATION))
			_exit(2);
		for (uint64_t i = 0; i < nreg; i++) {
			enum disk_extent k;

			if (disk_copy_read(d, i * region, BLK, false, buf, &k))
				_exit(3);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "migration thread's reads died: status 0x%x (159 = SIGSYS report)", st);
	disk_close(d);
	free(buf);
}
END_TEST

Suite *suite_disk_copy(void)
{
	Suite *s = suite_create("disk_copy");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, writes_mark_their_blocks);
	tcase_add_test(tc, raw_read_kinds);
	tcase_add_test(tc, qcow2_top_only_read_kinds);
	tcase_add_test(tc, apply_refuses_malformed_sections);
	tcase_add_test(tc, copy_top_needs_a_backing_file);
	tcase_add_test(tc, zero_runs_bounded_as_the_sender_makes_them);
	tcase_add_test(tc, write_in_flight_at_track_start_is_marked);
	tcase_add_test(tc, copy_top_sends_zero_clusters);
	tcase_add_test(tc, copy_cannot_plant_qcow2_magic_in_probed_raw);
	tcase_add_test(tc, migration_filter_allows_eviction_writeback);
	suite_add_tcase(s, tc);
	return s;
}
