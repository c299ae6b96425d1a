/* block/qcow2 pieces that need no qemu-img: header validation, the cluster set, iovec
 * helpers, and a create → write → reopen → read → check round trip. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/iov.h"
#include "block/qcow2.h"
#include "block/qcow2_compress.h"
#include "block/qcow2_header.h"
#include "block/qcow2_refcount.h"
#include "block/qcow2_set.h"
#include "tests/unit/unit.h"

/* A valid v3 header for a 1 MiB image with 64 KiB clusters: rt at 0x10000, L1 at 0x30000. */
static void good_header(uint8_t *buf, struct qcow2_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version = 3;
	h->cluster_bits = 16;
	h->size = 1 << 20;
	h->l1_size = 1;
	h->l1_offset = 0x30000;
	h->rt_offset = 0x10000;
	h->rt_clusters = 1;
	h->refcount_order = 4;
	h->header_length = 104;
	memset(buf, 0, 65536);
	qcow2_header_encode(h, buf);
}

static int parse_with(void (*edit)(struct qcow2_header *h), struct errmsg *err)
{
	static uint8_t buf[65536];
	struct qcow2_header h, out;

	good_header(buf, &h);
	if (edit) {
		edit(&h);
		qcow2_header_encode(&h, buf);
	}
	return qcow2_header_parse(buf, sizeof(buf), 0x40000, &out, err);
}

static void e_version(struct qcow2_header *h) { h->version = 4; }
static void e_cluster_bits(struct qcow2_header *h) { h->cluster_bits = 22; }
static void e_incompat(struct qcow2_header *h) { h->incompat = 1ULL << 40; }
static void e_rt_zero(struct qcow2_header *h) { h->rt_clusters = 0; }
static void e_l1_small(struct qcow2_header *h) { h->size = 1ULL << 40; }
static void e_l1_unaligned(struct qcow2_header *h) { h->l1_offset = 0x30008; }
static void e_l1_past_end(struct qcow2_header *h) { h->l1_offset = 0x40000; }
static void e_overlap(struct qcow2_header *h) { h->l1_offset = 0x10000; }
static void e_order(struct qcow2_header *h) { h->refcount_order = 7; }
static void e_crypt(struct qcow2_header *h) { h->crypt_method = 2; }

START_TEST(header_validation)
{
	static const struct {
		void (*edit)(struct qcow2_header *h);
		const char *field;
	} cases[] = {
		{ e_version, "version" },
		{ e_cluster_bits, "cluster_bits" },
		{ e_incompat, "incompatible_features" },
		{ e_rt_zero, "refcount_table_clusters" },
		{ e_l1_small, "l1_size" },
		{ e_l1_unaligned, "l1_table_offset" },
		{ e_l1_past_end, "l1_table_offset" },
		{ e_overlap, "overlaps" },
		{ e_order, "refcount_order" },
		{ e_crypt, "crypt_method" },
	};
	struct errmsg err = { "" };

	ck_assert_int_eq(parse_with(NULL, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err.text[0] = 0;
		ck_assert_int_lt(parse_with(cases[i].edit, &err), 0);
		ck_assert_msg(strstr(err.text, cases[i].field), "case %zu: '%s' lacks '%s'", i,
			      err.text, cases[i].field);
	}
}
END_TEST

START_TEST(header_v2_and_extensions)
{
	static uint8_t buf[65536];
	struct qcow2_header h, out;
	struct errmsg err;
	uint32_t be;

	good_header(buf, &h);
	h.version = 2;
	h.header_length = 72;
	memset(buf, 0, sizeof(buf));
	qcow2_header_encode(&h, buf);
	/* A backing format extension right after the v2 header, then the name. */
	be = htobe32(QCOW2_EXT_BACKING_FMT);
	memcpy(buf + 72, &be, 4);
	be = htobe32(3);
	memcpy(buf + 76, &be, 4);
	memcpy(buf + 80, "raw", 3);
	memcpy(buf + 96, "base.img", 8);
	h.backing_offset = 96;
	h.backing_size = 8;
	qcow2_header_encode(&h, buf);
	ck_assert_int_eq(qcow2_header_parse(buf, sizeof(buf), 0x40000, &out, &err), 0);
	ck_assert_str_eq(out.backing, "base.img");
	ck_assert_str_eq(out.backing_fmt, "raw");
	ck_assert_uint_eq(out.refcount_order, 4);
	/* Truncated input is refused, not read past. */
	ck_assert_int_lt(qcow2_header_parse(buf, 50, 50, &out, &err), 0);
}
END_TEST

START_TEST(cluster_set)
{
	struct qcow2_cluster_set s = { 0 };

	for (uint64_t i = 0; i < 1000; i++)
		ck_assert_int_eq(qcow2_set_add(&s, i * 7), 0);
	ck_assert_int_eq(qcow2_set_add(&s, 0), 0); /* duplicate */
	ck_assert_uint_eq(s.count, 1000);
	for (uint64_t i = 0; i < 1000; i += 2)
		qcow2_set_del(&s, i * 7);
	for (uint64_t i = 0; i < 1000; i++)
		ck_assert(qcow2_set_has(&s, i * 7) == (i % 2 == 1));
	ck_assert(!qcow2_set_has(&s, 3));
	qcow2_set_free(&s);
}
END_TEST

START_TEST(iov_helpers)
{
	uint8_t a[3], b[5], out[8];
	struct iovec v[2] = { { a, 3 }, { b, 5 } }, part[2];

	iov_from_buf(v, 2, 0, "abcdefgh", 8);
	ck_assert(!memcmp(a, "abc", 3) && !memcmp(b, "defgh", 5));
	ck_assert_int_eq(iov_slice(v, 2, 2, 3, part, 2), 2);
	ck_assert_uint_eq(part[0].iov_len, 1);
	ck_assert_uint_eq(part[1].iov_len, 2);
	ck_assert_int_eq(iov_slice(v, 2, 2, 3, part, 1), -E2BIG);
	iov_memset(v, 2, 2, 'z', 2);
	iov_to_buf(v, 2, 0, out, 8);
	ck_assert(!memcmp(out, "abzzefgh", 8));
	ck_assert_uint_eq(iov_total(v, 2), 8);
}
END_TEST

/* Create, write across clusters, discard, reopen, read back, check. */
START_TEST(roundtrip)
{
	char path[] = "/tmp/minivmm-qcow2-unit.XXXXXX";
	struct qcow2_create_opts o = { .size = 4 << 20, .cluster_size = 4096 };
	uint8_t *w = malloc(100000), *r = malloc(100000);
	struct errmsg err;
	struct qcow2 *q;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	for (size_t i = 0; i < 100000; i++)
		w[i] = (uint8_t)(i * 31 + 7);
	ck_assert_int_eq(qcow2_create(path, &o, &err), 0);
	ck_assert_int_eq(qcow2_open(path, false, &q, NULL, &err), 0);
	ck_assert_int_eq(qcow2_pwrite(q, w, 100000, 12345), 0);
	ck_assert_int_eq(qcow2_zero(q, 20480, 8192, true), 0);
	ck_assert_int_eq(qcow2_pread(q, r, 100000, 12345), 0);
	memset(w + (20480 - 12345), 0, 8192);
	ck_assert(!memcmp(w, r, 100000));
	ck_assert_int_eq(qcow2_pwrite(q, w, 1, (4 << 20) - 1), 0);
	ck_assert_int_eq(qcow2_pwrite(q, w, 2, (4 << 20) - 1), -ERANGE);
	ck_assert_int_eq(qcow2_close(q), 0);
	ck_assert_int_eq(qcow2_open(path, true, &q, NULL, &err), 0);
	memset(r, 0xee, 100000);
	ck_assert_int_eq(qcow2_pread(q, r, 100000, 12345), 0);
	ck_assert(!memcmp(w, r, 100000));
	ck_assert_int_eq(qcow2_pwrite(q, w, 10, 0), -EROFS);
	qcow2_close(q);
	{
		struct qcow2_check_result res;
		FILE *devnull = fopen("/dev/null", "w");

		ck_assert_int_eq(qcow2_check(path, devnull, &res, &err), 0);
		fclose(devnull);
		ck_assert_uint_eq(res.corruptions, 0);
		ck_assert_uint_eq(res.leaks, 0);
	}
	unlink(path);
	free(w);
	free(r);
}
END_TEST

/* The host cluster @off maps to (it must be allocated). */
static uint64_t host_of(struct qcow2 *q, uint64_t off)
{
	struct qcow2_run run;

	ck_assert_int_eq(qcow2_map(q, off, 1, &run), 0);
	ck_assert_int_eq(run.kind, QCOW2_RUN_DATA);
	return run.host - run.host % 65536;
}

static struct qcow2 *fresh_image(char *path, uint64_t size)
{
	struct qcow2_create_opts o = { .size = size, .cluster_size = 65536 };
	struct errmsg err;
	struct qcow2 *q;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(qcow2_create(path, &o, &err), 0);
	ck_assert_int_eq(qcow2_open(path, false, &q, NULL, &err), 0);
	return q;
}

/* A cluster a discard frees is not reused while data I/O mapped before the discard is in
 * flight, however many writebacks pass; once that I/O is over it is, even with newer I/O in
 * flight then. */
START_TEST(discarded_cluster_waits_only_for_older_io)
{
	char path[] = "/tmp/minivmm-qcow2-unit.XXXXXX";
	struct qcow2 *q = fresh_image(path, 4 << 20);
	static uint8_t buf[65536];
	unsigned older, newer;
	uint64_t freed;

	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(qcow2_pwrite(q, buf, sizeof(buf), 0), 0);
	freed = host_of(q, 0);
	older = qcow2_data_io_begin(q);              /* say, a write to guest cluster 0 */
	ck_assert_int_eq(qcow2_zero(q, 0, sizeof(buf), true), 0);
	ck_assert_int_eq(qcow2_flush(q), 0);
	ck_assert_int_eq(qcow2_flush(q), 0);
	ck_assert_int_eq(qcow2_pwrite(q, buf, sizeof(buf), 65536), 0);
	ck_assert_uint_ne(host_of(q, 65536), freed);
	newer = qcow2_data_io_begin(q);              /* mapped after the discard */
	qcow2_data_io_end(q, older);
	ck_assert_int_eq(qcow2_flush(q), 0);
	ck_assert_int_eq(qcow2_pwrite(q, buf, sizeof(buf), 2 * 65536), 0);
	ck_assert_uint_eq(host_of(q, 2 * 65536), freed);
	qcow2_data_io_end(q, newer);
	ck_assert_int_eq(qcow2_close(q), 0);
	unlink(path);
}
END_TEST

/* Found in review: frees waited for a moment with no data I/O in flight at all, so a guest
 * that always keeps a read going made every rewrite after a discard take new clusters: the
 * image grew by what was rewritten, without bound (53.7 MB after 50 rounds of 1 MiB here). */
START_TEST(rewrites_with_io_always_in_flight_stay_bounded)
{
	char path[] = "/tmp/minivmm-qcow2-unit.XXXXXX";
	struct qcow2 *q = fresh_image(path, 1 << 20);
	static uint8_t buf[1 << 20];
	unsigned prev = qcow2_data_io_begin(q);
	struct stat st;
	off_t settled = 0;

	memset(buf, 0xab, sizeof(buf));
	for (int round = 0; round < 50; round++) {
		unsigned next = qcow2_data_io_begin(q);  /* started before the last one ends */

		ck_assert_int_eq(qcow2_pwrite(q, buf, sizeof(buf), 0), 0);
		ck_assert_int_eq(qcow2_zero(q, 0, sizeof(buf), true), 0);
		ck_assert_int_eq(qcow2_flush(q), 0);
		qcow2_data_io_end(q, prev);
		prev = next;
		if (round == 9) {
			ck_assert_int_eq(stat(path, &st), 0);
			settled = st.st_size;
		}
	}
	qcow2_data_io_end(q, prev);
	ck_assert_int_eq(stat(path, &st), 0);
	/* It stops growing within a few rounds (5.5 MB from the 5th round on, 2.4 MB with no
	 * I/O in flight), and nothing after the 10th round needs a new cluster. */
	ck_assert_int_le(st.st_size, 8 << 20);
	ck_assert_int_eq(st.st_size, settled);
	ck_assert_int_eq(qcow2_close(q), 0);
	unlink(path);
}
END_TEST

/* A drop that can never be applied (a hostile image: the cluster's refcount is already 0)
 * fails one writeback and is given up (a leak), instead of failing every later flush. */
START_TEST(impossible_free_fails_once)
{
	char path[] = "/tmp/minivmm-qcow2-unit.XXXXXX";
	struct qcow2 *q = fresh_image(path, 4 << 20);
	static uint8_t buf[65536];

	ck_assert_int_eq(qcow2_pwrite(q, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(qcow2_free_later(q, 40ULL * 65536), 0);  /* never allocated */
	ck_assert_int_ne(qcow2_flush(q), 0);
	ck_assert_int_eq(qcow2_flush(q), 0);
	ck_assert_int_eq(qcow2_pwrite(q, buf, sizeof(buf), 65536), 0);
	ck_assert_int_eq(qcow2_flush(q), 0);
	ck_assert_int_eq(qcow2_close(q), 0);
	unlink(path);
}
END_TEST

START_TEST(compressed_descriptor)
{
	struct qcow2 q = { .cluster_bits = 16 };
	unsigned x = 62 - (16 - 8);
	uint64_t host, len;

	/* Offset 0x12345 (not aligned), 2 more sectors: runs to the end of sector 0x12200+3*512. */
	qcow2_compressed_range(&q, QCOW2_OFLAG_COMPRESSED | (2ULL << x) | 0x12345, &host, &len);
	ck_assert_uint_eq(host, 0x12345);
	ck_assert_uint_eq(len, 0x12200 + 3 * 512 - 0x12345);
}
END_TEST

Suite *suite_qcow2(void)
{
	Suite *s = suite_create("qcow2");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, header_validation);
	tcase_add_test(tc, header_v2_and_extensions);
	tcase_add_test(tc, cluster_set);
	tcase_add_test(tc, iov_helpers);
	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, compressed_descriptor);
	tcase_add_test(tc, discarded_cluster_waits_only_for_older_io);
	tcase_add_test(tc, rewrites_with_io_always_in_flight_stay_bounded);
	tcase_add_test(tc, impossible_free_fails_once);
	suite_add_tcase(s, tc);
	return s;
}
