/* Host-side driver of block/qcow2 for the tests (qemu-img is the judge of the results):
 *
 *   qcow2io dump IMG OUT          read the whole virtual disk into raw file OUT
 *   qcow2io random IMG RAW SEED N apply N random writes/discards/zeroes to IMG and to the raw
 *                                 file RAW (the expected content), flushing now and then
 *   qcow2io crash IMG LOG SEED    write forever (killed by the test); after each flush the
 *                                 number of the last flushed operation goes to LOG
 *   qcow2io verify IMG LOG SEED   check that everything flushed before the kill reads back
 *   qcow2io write IMG OFF LEN     one write of a pattern (for the hostile-image table)
 *
 * The operation stream is a function of SEED, so verify regenerates it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"

#define FLUSH_EVERY 8

struct op {
	int kind; /* 0 write, 1 discard, 2 write-zeroes */
	uint64_t off, len;
	uint32_t tag;
};

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct op next_op(uint64_t *s, uint64_t size, uint32_t n)
{
	struct op o = { .tag = n };
	uint64_t r = rng(s) % 100, max = size < (512u << 10) ? size : (512u << 10);

	o.kind = r < 80 ? 0 : r < 90 ? 1 : 2;
	o.len = 1 + rng(s) % max;
	if (rng(s) % 4)  /* mostly sector-aligned, like a guest */
		o.len = (o.len + 511) & ~511ULL;
	if (o.len > size)
		o.len = size;
	o.off = rng(s) % (size - o.len + 1);
	if (rng(s) % 4)
		o.off &= ~511ULL;
	return o;
}

static void fill(uint8_t *buf, const struct op *o)
{
	for (uint64_t i = 0; i < o->len; i++) {
		uint64_t x = (o->off + i) * 0x9e3779b97f4a7c15ULL ^ o->tag;

		buf[i] = (uint8_t)(x >> 56 ^ x >> 24);
	}
}

static int apply(struct qcow2 *q, const struct op *o, uint8_t *buf)
{
	if (o->kind == 0) {
		fill(buf, o);
		return qcow2_pwrite(q, buf, o->len, o->off);
	}
	return qcow2_zero(q, o->off, o->len, o->kind == 1);
}

static struct qcow2 *open_or_die(const char *path, bool ro)
{
	struct qcow2 *q;
	struct errmsg err;

	if (qcow2_open(path, ro, &q, NULL, &err)) {
		fprintf(stderr, "qcow2io: %s: %s\n", path, err.text);
		exit(1);
	}
	return q;
}

static int dump(const char *img, const char *out)
{
	struct qcow2 *q = open_or_die(img, true);
	uint64_t size = qcow2_size(q), chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || !buf || ftruncate(fd, (off_t)size) < 0)
		return 1;
	for (uint64_t off = 0; off < size; off += chunk) {
		uint64_t n = size - off < chunk ? size - off : chunk;
		int ret = qcow2_pread(q, buf, n, off);

		if (ret) {
			fprintf(stderr, "qcow2io: read at %" PRIu64 ": %s: %s\n", off, strerror(-ret),
				qcow2_last_error(q));
			free(buf);
			close(fd);
			qcow2_close(q);
			return 1;
		}
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			return 1;
	}
	close(fd);
	free(buf);
	qcow2_close(q);
	return 0;
}

static int random_ops(const char *img, const char *raw, uint64_t seed, uint32_t n)
{
	struct qcow2 *q = open_or_die(img, false);
	uint64_t size = qcow2_size(q), s = seed | 1;
	uint8_t *buf = malloc(512u << 10);
	int fd = open(raw, O_RDWR);

	if (fd < 0 || !buf)
		return 1;
	for (uint32_t i = 0; i < n; i++) {
		struct op o = next_op(&s, size, i);
		int ret = apply(q, &o, buf);

		if (ret) {
			fprintf(stderr, "qcow2io: op %u (%d at %" PRIu64 "+%" PRIu64 "): %s %s\n", i, o.kind,
				o.off, o.len, strerror(-ret), qcow2_last_error(q));
			return 1;
		}
		if (o.kind)
			memset(buf, 0, o.len);
		if (pwrite(fd, buf, o.len, (off_t)o.off) != (ssize_t)o.len)
			return 1;
		if (i % 97 == 96 && qcow2_flush(q))
			return 1;
	}
	close(fd);
	free(buf);
	return qcow2_close(q) ? 1 : 0;
}

static int crash_writer(const char *img, const char *log, uint64_t seed)
{
	struct qcow2 *q = open_or_die(img, false);
	uint64_t size = qcow2_size(q), s = seed | 1;
	uint8_t *buf = malloc(512u << 10);
	int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (lfd < 0 || !buf)
		return 1;
	for (uint32_t i = 0;; i++) {
		struct op o = next_op(&s, size, i);

		if (apply(q, &o, buf))
			return 1;
		if (i % FLUSH_EVERY == FLUSH_EVERY - 1) {
			char line[32];
			int len;

			if (qcow2_flush(q))
				return 1;
			len = snprintf(line, sizeof(line), "%u\n", i);
			if (pwrite(lfd, line, (size_t)len, 0) != len || fdatasync(lfd))
				return 1;
		}
	}
}

static int verify(const char *img, const char *log, uint64_t seed)
{
	struct qcow2 *q = open_or_die(img, true);
	uint64_t size = qcow2_size(q), s = seed | 1;
	uint8_t *expect = calloc(1, size), *unsure = calloc(1, size), *got = malloc(size);
	uint8_t *buf = malloc(512u << 10);
	FILE *f = fopen(log, "r");
	long last = -1;
	uint64_t bad = 0, checked = 0;

	if (!expect || !unsure || !got || !buf)
		return 1;
	if (f) {
		if (fscanf(f, "%ld", &last) != 1)
			last = -1;
		fclose(f);
	}
	/* Ops up to `last` are stable; the ones issued after it may be in any state. */
	for (long i = 0; i <= last + FLUSH_EVERY; i++) {
		struct op o = next_op(&s, size, (uint32_t)i);

		if (i > last) {
			memset(unsure + o.off, 1, o.len);
			continue;
		}
		if (o.kind == 0) {
			fill(buf, &o);
			memcpy(expect + o.off, buf, o.len);
		} else {
			memset(expect + o.off, 0, o.len);
		}
	}
	if (qcow2_pread(q, got, size, 0)) {
		fprintf(stderr, "qcow2io verify: read failed: %s\n", qcow2_last_error(q));
		return 1;
	}
	for (uint64_t i = 0; i < size; i++) {
		if (unsure[i])
			continue;
		checked++;
		if (got[i] != expect[i] && bad++ < 5)
			fprintf(stderr, "qcow2io verify: byte %" PRIu64 ": 0x%02x, expected 0x%02x\n", i,
				got[i], expect[i]);
	}
	printf("verify: %ld ops flushed, %" PRIu64 " bytes checked, %" PRIu64 " wrong\n", last + 1,
	       checked, bad);
	free(expect);
	free(unsure);
	free(got);
	free(buf);
	qcow2_close(q);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "write")) {
		struct qcow2 *q = open_or_die(argv[2], false);
		struct op o = { 0, strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), 1 };
		uint8_t *buf = malloc(o.len ? o.len : 1);
		int ret;

		fill(buf, &o);
		ret = qcow2_pwrite(q, buf, o.len, o.off);
		if (ret)
			fprintf(stderr, "qcow2io: write: %s: %s\n", strerror(-ret), qcow2_last_error(q));
		free(buf);
		return (qcow2_close(q) || ret) ? 1 : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "dump"))
		return dump(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "random"))
		return random_ops(argv[2], argv[3], strtoull(argv[4], NULL, 0),
				  (uint32_t)strtoul(argv[5], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "crash"))
		return crash_writer(argv[2], argv[3], strtoull(argv[4], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "verify"))
		return verify(argv[2], argv[3], strtoull(argv[4], NULL, 0));
	fprintf(stderr, "usage: qcow2io dump IMG OUT | random IMG RAW SEED N | crash IMG LOG SEED | verify IMG LOG SEED\n");
	return 2;
}
