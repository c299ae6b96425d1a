/* A qcow2 disk's worker thread (block/disk_worker.h) on both engines: allocation and
 * copy-on-write leave the I/O thread, which never waits for the format, and every result comes
 * back through the event loop, in a quiesce and at close too. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/disk_worker.h"
#include "block/qcow2.h"
#include "tests/unit/unit.h"

#define SIZE (16ULL << 20)
#define CLUSTER 65536
#define NREQ 32
#define LEN 4096

static struct evloop loop;
static char path[64];
static int done_count, done_err;
static pthread_t worker_thread;
static struct disk_req reqs[NREQ];
static struct iovec iovs[NREQ];
static uint8_t bufs[NREQ][LEN];

static void setup(void)
{
	struct qcow2_create_opts o = { .size = SIZE, .cluster_size = CLUSTER };
	struct errmsg err;
	int fd;

	snprintf(path, sizeof(path), "/tmp/minivmm-unit-worker-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_msg(qcow2_create(path, &o, &err) == 0, "%s", err.text);
	ck_assert_int_eq(evloop_init(&loop), 0);
	done_count = done_err = 0;
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
	if (err)
		done_err = err;
}

static int note_thread(void *arg)
{
	(void)arg;
	worker_thread = pthread_self();
	return 0;
}

static int refuse(void *arg)
{
	return *(int *)arg;
}

static struct disk *open_qcow2(enum blk_engine_kind engine)
{
	struct disk_config dc = { .path = path, .engine = engine, .engine_set = true };
	struct errmsg err;
	struct disk *d;

	ck_assert_msg(disk_open(&dc, &loop, &d, &err) == 0, "%s", err.text);
	ck_assert_ptr_nonnull(d->qcow2);
	return d;
}

/* Request @i: @op of LEN bytes at the start of cluster 2 * i + 1 (every write allocates). */
static void submit(struct disk *d, int i, enum blk_op op)
{
	if (op == BLK_OP_WRITE)
		memset(bufs[i], 'A' + i % 26, LEN);
	else
		memset(bufs[i], 0, LEN);
	iovs[i] = (struct iovec){ bufs[i], LEN };
	reqs[i] = (struct disk_req){ .op = op, .offset = (2ULL * i + 1) * CLUSTER, .iov = &iovs[i],
				     .iovcnt = 1, .done = on_done };
	ck_assert_int_eq(disk_submit(d, &reqs[i]), 0);
}

static void wait_done(int n)
{
	for (int i = 0; i < 5000 && done_count < n; i++)
		evloop_run_once(&loop, 1);
	ck_assert_int_eq(done_count, n);
	ck_assert_int_eq(done_err, 0);
}

static void check_read_back(struct disk *d)
{
	done_count = 0;
	for (int i = 0; i < NREQ; i++)
		submit(d, i, BLK_OP_READ);
	disk_kick(d);
	wait_done(NREQ);
	/* One assertion per request, not per byte: per-byte checks took most of Check's 4 s
	 * default timeout, and a loaded machine ran out of it. */
	for (int i = 0; i < NREQ; i++)
		for (int k = 0; k < LEN; k++)
			if (bufs[i][k] != 'A' + i % 26)
				ck_abort_msg("request %d, byte %d: 0x%02x", i, k, bufs[i][k]);
}

/* While the worker holds the format (here: the test holds its lock, as a long allocation
 * would), the I/O thread's submits return at once and nothing completes; once it is free,
 * every write completes through the event loop and reads back. */
static void io_thread_never_waits(enum blk_engine_kind engine)
{
	struct disk *d = open_qcow2(engine);

	ck_assert_int_eq(disk_worker_start(d, note_thread, NULL), 0);
	ck_assert(!pthread_equal(worker_thread, pthread_self()));
	disk_format_lock(d);
	for (int i = 0; i < NREQ; i++)
		submit(d, i, BLK_OP_WRITE);
	disk_kick(d);
	for (int i = 0; i < 20; i++)
		evloop_run_once(&loop, 1);
	ck_assert_int_eq(done_count, 0);
	disk_format_unlock(d);
	wait_done(NREQ);
	/* The clusters are allocated now: these reads take the I/O thread's direct path. */
	check_read_back(d);
	disk_close(d);
}

START_TEST(io_thread_never_waits_uring)
{
	io_thread_never_waits(BLK_ENGINE_IO_URING);
}
END_TEST

START_TEST(io_thread_never_waits_sync)
{
	io_thread_never_waits(BLK_ENGINE_SYNC);
}
END_TEST

/* A quiesce (pause, snapshot, migration) returns only with every handed-over request
 * completed; close serves what is still queued and frees everything (ASan build). */
START_TEST(quiesce_and_close_with_work_queued)
{
	struct disk *d = open_qcow2(BLK_ENGINE_SYNC);

	ck_assert_int_eq(disk_worker_start(d, NULL, NULL), 0);
	for (int i = 0; i < NREQ; i++)
		submit(d, i, BLK_OP_WRITE);
	disk_kick(d);
	ck_assert_int_eq(disk_quiesce(d), 0);
	ck_assert_int_eq(done_count, NREQ);
	ck_assert_int_eq(done_err, 0);
	check_read_back(d);
	done_count = 0;
	for (int i = 0; i < NREQ; i++)
		submit(d, i, BLK_OP_WRITE);
	disk_close(d);                 /* the writes reach the image; their completions are dropped */
	d = open_qcow2(BLK_ENGINE_SYNC);
	check_read_back(d);
	disk_close(d);
}
END_TEST

/* A thread whose first step fails (its seccomp filter) serves nothing: the start fails with
 * that error, and the slow work runs where it always did. */
START_TEST(failed_thread_start_leaves_no_worker)
{
	struct disk *d = open_qcow2(BLK_ENGINE_SYNC);
	int e = -EPERM;

	ck_assert_int_eq(disk_worker_start(d, refuse, &e), -EPERM);
	ck_assert_ptr_null(d->worker);
	for (int i = 0; i < NREQ; i++)
		submit(d, i, BLK_OP_WRITE);
	disk_kick(d);
	wait_done(NREQ);
	check_read_back(d);
	disk_close(d);
}
END_TEST

/* Found in review: a write the I/O thread mapped and sent to the engine is in flight while a
 * discard of the same range frees its cluster and a flush makes the free stable; a new
 * allocation could then take that cluster (as another guest offset's data, or an L2 table)
 * and the late write would land in it. Frees now wait until no mapped data I/O is in flight. */
START_TEST(cluster_of_a_write_in_flight_is_not_reused)
{
	struct disk *d = open_qcow2(BLK_ENGINE_SYNC);
	struct qcow2_run before, after;
	struct disk_req discard = { .op = BLK_OP_DISCARD, .offset = CLUSTER, .len = CLUSTER,
				    .done = on_done };
	struct disk_req flush = { .op = BLK_OP_FLUSH, .done = on_done };

	submit(d, 0, BLK_OP_WRITE);                 /* allocates guest cluster 1 */
	disk_kick(d);
	wait_done(1);
	ck_assert_int_eq(qcow2_map(d->qcow2, CLUSTER, LEN, &before), 0);
	ck_assert_int_eq(before.kind, QCOW2_RUN_DATA);
	done_count = 0;
	submit(d, 0, BLK_OP_WRITE);                 /* mapped: in flight until its completion */
	ck_assert_int_eq(disk_submit(d, &discard), 0);
	ck_assert_int_eq(disk_submit(d, &flush), 0);
	submit(d, 5, BLK_OP_WRITE);                 /* allocates guest cluster 11 */
	ck_assert_int_eq(qcow2_map(d->qcow2, 11ULL * CLUSTER, LEN, &after), 0);
	ck_assert_int_eq(after.kind, QCOW2_RUN_DATA);
	ck_assert_uint_ne(after.host - after.host % CLUSTER, before.host - before.host % CLUSTER);
	disk_kick(d);
	wait_done(4);
	ck_assert_int_eq(disk_quiesce(d), 0);       /* nothing in flight: the free is applied */
	disk_close(d);
}
END_TEST

Suite *suite_disk_worker(void)
{
	Suite *s = suite_create("disk_worker");
	TCase *tc = tcase_create("qcow2");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, io_thread_never_waits_uring);
	tcase_add_test(tc, io_thread_never_waits_sync);
	tcase_add_test(tc, quiesce_and_close_with_work_queued);
	tcase_add_test(tc, failed_thread_start_leaves_no_worker);
	tcase_add_test(tc, cluster_of_a_write_in_flight_is_not_reused);
	suite_add_tcase(s, tc);
	return s;
}
