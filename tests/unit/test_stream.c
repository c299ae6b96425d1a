/* The state stream (snapshots, migration): a round trip, and a reader that refuses every
 * truncation and every flipped byte; the configuration comparison names the field. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libfdt.h>

#include "migrate/snapshot.h"
#include "migrate/stream.h"
#include "tests/unit/unit.h"
#include "vmm/state.h"

#define RAM (1u << 20)

static int fill_small(void *fdt, void *arg)
{
	int node, ret;

	ret = state_put_u32(fdt, 0, "cpus", *(uint32_t *)arg);
	ret = ret ? ret : state_put_u64(fdt, 0, "ram-size", 512ULL << 20);
	node = ret ? ret : state_add_node(fdt, 0, "devices");
	node = node < 0 ? node : state_add_node(fdt, node, "virtio@d0000000");
	return node < 0 ? node : state_put_blob(fdt, node, "format", "raw", 4);
}

/* A stream in a memfd: header, CONFIG, STATE, pages at 0x1000 and 0x3000..0x4fff, END. */
static int make_stream(size_t *len)
{
	struct stream_writer w;
	uint8_t page[STREAM_PAGE];
	uint32_t cpus = 2;
	void *fdt;
	size_t flen;
	int fd = memfd_create("stream", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(state_build(fill_small, &cpus, 1 << 20, &fdt, &flen), 0);
	ck_assert_int_eq(stream_writer_init(&w, fd), 0);
	ck_assert_int_eq(stream_write_header(&w), 0);
	ck_assert_int_eq(stream_write_section(&w, STREAM_SEC_CONFIG, fdt, flen), 0);
	ck_assert_int_eq(stream_write_section(&w, STREAM_SEC_STATE, fdt, flen), 0);
	for (unsigned i = 0; i < 3; i++) {
		memset(page, 0x11 * (i + 1), sizeof(page));
		ck_assert_int_eq(stream_write_page(&w, i ? 0x2000 + i * 0x1000 : 0x1000, page), 0);
	}
	ck_assert_int_eq(stream_write_end(&w), 0);
	*len = w.bytes;
	stream_writer_free(&w);
	free(fdt);
	return fd;
}

/* A RAM section holding @payload, framed and checksummed, read back the way a destination or
 * --restore reads it (straight into @gm). */
static int apply_ram(const void *payload, size_t len, struct guest_mem *gm, struct errmsg *err)
{
	struct stream_writer w;
	struct stream_reader r;
	uint32_t type;
	size_t n;
	int fd = memfd_create("ram", 0), ret;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(stream_writer_init(&w, fd), 0);
	ck_assert_int_eq(stream_write_section(&w, STREAM_SEC_RAM, payload, len), 0);
	stream_writer_free(&w);
	lseek(fd, 0, SEEK_SET);
	stream_reader_init(&r, fd, "test");
	ck_assert_int_eq(stream_read_section_header(&r, &type, &n, err), 0);
	ck_assert_uint_eq(n, len);
	ret = stream_receive_ram(&r, gm, err);
	close(fd);
	return ret;
}

/* Reads the whole stream at @fd into @gm; 0 or the first error. */
static int read_stream(int fd, struct guest_mem *gm, struct errmsg *err)
{
	struct stream_reader r;
	int ret;

	lseek(fd, 0, SEEK_SET);
	stream_reader_init(&r, fd, "test");
	ret = stream_read_header(&r, err);
	while (!ret) {
		uint8_t *p;
		size_t len;
		uint32_t type;

		ret = stream_read_next(&r, gm, &type, &p, &len, err);
		if (ret)
			break;
		if (type == STREAM_SEC_RAM)
			continue;
		if (type != STREAM_SEC_END)
			ret = state_check(p, len, err);
		free(p);
		if (type == STREAM_SEC_END)
			return ret;
	}
	return ret;
}

START_TEST(round_trip)
{
	struct guest_mem gm = { 0 };
	struct errmsg err = { "" };
	size_t len;
	int fd = make_stream(&len);
	uint8_t *p;

	ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
	ck_assert_msg(read_stream(fd, &gm, &err) == 0, "%s", err.text);
	p = gm_ptr(&gm, 0, 0x6000);
	ck_assert_uint_eq(p[0x0fff], 0);
	ck_assert_uint_eq(p[0x1000], 0x11);
	ck_assert_uint_eq(p[0x2fff], 0);
	ck_assert_uint_eq(p[0x3000], 0x22);
	ck_assert_uint_eq(p[0x4fff], 0x33);
	ck_assert_uint_eq(p[0x5000], 0);
	gm_destroy(&gm);
	close(fd);
}
END_TEST

/* Every prefix is refused, every single flipped bit is refused: the stream has no byte that a
 * reader believes without a checksum. */
START_TEST(every_truncation_and_flip_refused)
{
	struct guest_mem gm = { 0 };
	struct errmsg err;
	size_t len;
	int fd = make_stream(&len), t;
	uint8_t *orig = malloc(len);

	ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
	ck_assert_int_eq(pread(fd, orig, len, 0), (ssize_t)len);
	t = memfd_create("t", 0);
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(ftruncate(t, 0), 0);
		ck_assert_int_eq(pwrite(t, orig, cut, 0), (ssize_t)cut);
		ck_assert_msg(read_stream(t, &gm, &err) < 0, "a stream cut at %zu of %zu was accepted",
			      cut, len);
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t b = orig[i];

		orig[i] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ftruncate(t, 0), 0);
		ck_assert_int_eq(pwrite(t, orig, len, 0), (ssize_t)len);
		ck_assert_msg(read_stream(t, &gm, &err) < 0, "a flip at byte %zu was accepted", i);
		orig[i] = b;
	}
	free(orig);
	close(t);
	close(fd);
	gm_destroy(&gm);
}
END_TEST

START_TEST(ram_outside_guest_refused)
{
	struct guest_mem gm = { 0 };
	struct errmsg err = { "" };
	uint8_t run[16 + STREAM_PAGE] = { 0 };
	uint64_t gpa = RAM; /* one page past the end */

	ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
	memcpy(run, &gpa, 8);
	run[8] = 1;
	ck_assert_int_eq(apply_ram(run, sizeof(run), &gm, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "outside guest RAM"));
	gpa = 0x800; /* not page-aligned */
	memcpy(run, &gpa, 8);
	ck_assert_int_eq(apply_ram(run, sizeof(run), &gm, &err), -EINVAL);
	gpa = 0;
	memcpy(run, &gpa, 8);
	run[8] = 2; /* two pages claimed, one present */
	ck_assert_int_eq(apply_ram(run, sizeof(run), &gm, &err), -EINVAL);
	gm_destroy(&gm);
}
END_TEST

START_TEST(config_mismatch_named)
{
	struct errmsg err = { "" };
	uint32_t two = 2, four = 4;
	void *a, *b;
	size_t la, lb;

	ck_assert_int_eq(state_build(fill_small, &two, 1 << 20, &a, &la), 0);
	ck_assert_int_eq(state_build(fill_small, &four, 1 << 20, &b, &lb), 0);
	ck_assert_int_eq(snapshot_config_compare(a, a, "the snapshot", &err), 0);
	ck_assert_int_eq(snapshot_config_compare(a, b, "the snapshot", &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "cpus (--cpus): the snapshot has 2, this VM 4"), "%s", err.text);
	free(a);
	free(b);
}
END_TEST

static int fill_ram_size(void *fdt, void *arg)
{
	int ret = state_put_u32(fdt, 0, "cpus", 2);

	return ret ? ret : state_put_u64(fdt, 0, "ram-size", *(uint64_t *)arg);
}

/* A device tree's 8-byte property is only 4-byte aligned. The message for a mismatched one
 * loaded it as a uint64_t: in the sanitizer builds (the hostile-file tests, the fuzzers) any
 * snapshot taken with another --memory stopped the restore with a UBSan abort instead of the
 * message. */
START_TEST(config_mismatch_in_an_unaligned_u64)
{
	struct errmsg err = { "" };
	uint64_t small = 512ULL << 20, big = 1ULL << 30;
	void *a, *b;
	size_t la, lb;
	int off;

	ck_assert_int_eq(state_build(fill_ram_size, &small, 1 << 20, &a, &la), 0);
	ck_assert_int_eq(state_build(fill_ram_size, &big, 1 << 20, &b, &lb), 0);
	ck_assert_ptr_nonnull(fdt_getprop(a, 0, "ram-size", NULL));
	off = (int)((const char *)fdt_getprop(a, 0, "ram-size", NULL) - (const char *)a);
	ck_assert_int_ne(off % 8, 0);          /* the case this test is about */
	ck_assert_int_eq(snapshot_config_compare(a, b, "the snapshot", &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "ram-size (--memory): the snapshot has 536870912, this VM 1073741824"),
		      "%s", err.text);
	free(a);
	free(b);
}
END_TEST

/* A migration round: only the marked pages go, a marked page that became zero goes as a zero
 * run (the destination still holds its older data) and overwrites it there. */
START_TEST(dirty_round_with_zero_runs)
{
	struct guest_mem src = { 0 }, dst = { 0 };
	struct stream_writer w;
	struct stream_reader r;
	struct errmsg err = { "" };
	uint64_t words[RAM / STREAM_PAGE / 64] = { 0 };
	uint64_t *bits[1] = { words };
	uint8_t *s, *d, *p;
	size_t len;
	uint32_t type;
	int fd = memfd_create("round", 0);

	ck_assert_int_eq(gm_init(&src, RAM, false), 0);
	ck_assert_int_eq(gm_init(&dst, RAM, false), 0);
	s = gm_ptr(&src, 0, RAM);
	d = gm_ptr(&dst, 0, RAM);
	memset(d, 0x77, RAM);            /* what an earlier round left there */
	memset(s + 0x3000, 0x11, 0x1000); /* page 3: data; page 5: zero now; page 9: not marked */
	memset(s + 0x9000, 0x22, 0x1000);
	words[0] = 1u << 3 | 1u << 5;
	ck_assert_int_eq(stream_writer_init(&w, fd), 0);
	ck_assert_int_eq(stream_write_ram(&w, &src, bits, false, NULL, NULL), 0);
	stream_writer_free(&w);
	lseek(fd, 0, SEEK_SET);
	stream_reader_init(&r, fd, "test");
	ck_assert_int_eq(stream_read_section(&r, &type, &p, &len, &err), 0);
	ck_assert_uint_eq(type, STREAM_SEC_RAM);
	/* One data page and one zero run: two run headers, one page of data. */
	ck_assert_uint_eq(len, 2 * 16 + STREAM_PAGE);
	ck_assert_msg(apply_ram(p, len, &dst, &err) == 0, "%s", err.text);
	free(p);
	ck_assert_uint_eq(d[0x3000], 0x11);
	ck_assert_uint_eq(d[0x5000], 0);
	ck_assert_uint_eq(d[0x5fff], 0);
	ck_assert_uint_eq(d[0x9000], 0x77);
	ck_assert_uint_eq(d[0x4000], 0x77);
	close(fd);
	gm_destroy(&src);
	gm_destroy(&dst);
}
END_TEST

START_TEST(unknown_run_flags_refused)
{
	struct guest_mem gm = { 0 };
	struct errmsg err = { "" };
	uint8_t run[16] = { 0 };

	ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
	run[8] = 1;
	run[12] = 2;
	ck_assert_int_eq(apply_ram(run, sizeof(run), &gm, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "unknown flags"));
	/* A zero run past RAM is refused like a data run. */
	run[12] = 1;
	run[8] = 0;
	run[9] = 1; /* 256 pages = 1 MiB from 0: fits */
	ck_assert_int_eq(apply_ram(run, sizeof(run), &gm, &err), 0);
	run[9] = 2;
	ck_assert_int_eq(apply_ram(run, sizeof(run), &gm, &err), -EINVAL);
	gm_destroy(&gm);
}
END_TEST

/* Review (helper-18): a zero run's 16 bytes made the reader memset up to all of RAM, and a
 * section holds half a million of them (hours of CPU for one section of a 4 GiB guest, from
 * a snapshot file too). A sender visits each page once per section: the runs of a section
 * add up to the RAM at most. */
START_TEST(runs_cover_ram_once_per_section)
{
	struct guest_mem gm = { 0 };
	struct errmsg err = { "" };
	uint8_t p[3 * 16 + STREAM_PAGE] = { 0 };
	uint32_t pages = RAM / STREAM_PAGE;
	uint64_t gpa = STREAM_PAGE;

	ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
	/* One data page at 0, zeros over the rest: the whole RAM once. */
	p[8] = 1;
	memset(p + 16, 0x5a, STREAM_PAGE);
	memcpy(p + 16 + STREAM_PAGE, &gpa, 8);
	pages -= 1;
	memcpy(p + 16 + STREAM_PAGE + 8, &pages, 4);
	p[16 + STREAM_PAGE + 12] = 1;
	ck_assert_msg(apply_ram(p, 2 * 16 + STREAM_PAGE, &gm, &err) == 0, "%s", err.text);
	ck_assert_int_eq(((uint8_t *)gm_ptr(&gm, 0, 1))[0], 0x5a);
	/* One more zero page in the same section: refused. */
	p[2 * 16 + STREAM_PAGE + 8] = 1;
	p[2 * 16 + STREAM_PAGE + 12] = 1;
	ck_assert_int_eq(apply_ram(p, sizeof(p), &gm, &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "more than the guest's") != NULL, "%s", err.text);
	gm_destroy(&gm);
}
END_TEST

/* Review (helper-18): a peer that connects and stops sending held a destination for ever,
 * and SIGTERM could not stop it (the VM's signals are blocked and arrive only through its
 * signalfd, which nothing read while the stream was read). */
START_TEST(reader_stops_on_signal_or_silence)
{
	struct stream_reader r;
	struct errmsg err = { "" };
	struct timespec t0, t1;
	int sv[2], stop = eventfd(0, EFD_CLOEXEC), fd;
	size_t len;

	ck_assert_int_ge(stop, 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "MINI", 4), 4); /* part of a header, then silence */
	stream_reader_init(&r, sv[0], "test");
	stream_reader_watch(&r, stop, 0);
	ck_assert_int_eq(eventfd_write(stop, 1), 0);
	ck_assert_int_eq(stream_read_header(&r, &err), -EINTR);
	ck_assert_msg(strstr(err.text, "stopped by a signal") != NULL, "%s", err.text);

	ck_assert_int_eq(write(sv[1], "MINI", 4), 4);
	stream_reader_init(&r, sv[0], "test");
	stream_reader_watch(&r, -1, 200);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(stream_read_header(&r, &err), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_msg(strstr(err.text, "nothing received for 0.2 s") != NULL, "%s", err.text);
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 190);
	close(sv[0]);
	close(sv[1]);

	/* Watched, a stream with data reads as before. */
	{
		struct guest_mem gm = { 0 };
		eventfd_t v;

		ck_assert_int_eq(eventfd_read(stop, &v), 0);
		ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
		fd = make_stream(&len);
		lseek(fd, 0, SEEK_SET);
		stream_reader_init(&r, fd, "test");
		stream_reader_watch(&r, stop, 200);
		ck_assert_int_eq(stream_read_header(&r, &err), 0);
		for (;;) {
			uint8_t *pl;
			size_t n;
			uint32_t type;

			ck_assert_msg(stream_read_next(&r, &gm, &type, &pl, &n, &err) == 0, "%s", err.text);
			free(pl);
			if (type == STREAM_SEC_END)
				break;
		}
		ck_assert_uint_eq(r.offset, len);
		close(fd);
		gm_destroy(&gm);
	}
	close(stop);
}
END_TEST

static int fill_long_name(void *fdt, void *arg)
{
	char name[300];
	size_t n = *(size_t *)arg;

	memset(name, 'n', n);
	name[n] = '\0';
	return state_put_u32(fdt, 0, name, 1);
}

/* Review (helper-18): libfdt looks for a property name's NUL up to the end of the strings
 * block, for every property it checks or looks up: one node of many properties naming one
 * long string made fdt_check_full() alone take about 75 s for a 16 MiB tree. Names are
 * short words: longer than 255 bytes is refused before libfdt looks. */
START_TEST(long_property_names_refused)
{
	struct errmsg err = { "" };
	size_t n = 255, len;
	void *fdt;

	ck_assert_int_eq(state_build(fill_long_name, &n, 1 << 20, &fdt, &len), 0);
	ck_assert_msg(state_check(fdt, len, &err) == 0, "%s", err.text);
	free(fdt);
	n = 256;
	ck_assert_int_eq(state_build(fill_long_name, &n, 1 << 20, &fdt, &len), 0);
	ck_assert_int_eq(state_check(fdt, len, &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "strings block") != NULL, "%s", err.text);
	free(fdt);
}
END_TEST

/* A CONFIG section fuzz_snapshot found: a device tree that claims version 4. libfdt 1.6.1's
 * fdt_check_full() read through a NULL pointer on it (SIGSEGV in the reader of a snapshot
 * or migration stream); it is refused before libfdt looks at it. */
static const uint8_t fdt_version_4[] = {
	0xd0, 0x0d, 0xfe, 0xed, 0x00, 0x00, 0x02, 0xaa, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x02, 0x54,
	0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x56, 0x00, 0x00, 0x02, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x64, 0x65, 0x76, 0x69, 0x63, 0x65, 0x73, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x40, 0x64, 0x30, 0x30, 0x30, 0x32, 0x30, 0x30, 0x30, 0x00,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x01,
	0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x25,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x1e,
	0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x2d, 0x63, 0x6f, 0x6e, 0x73, 0x6f, 0x6c, 0x65, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x19, 0x76, 0x69, 0x72, 0x74,
	0x69, 0x6f, 0x00, 0x31, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x76, 0x69, 0x72, 0x74,
	0x69, 0x6f, 0x40, 0x64, 0x30, 0x30, 0x30, 0x31, 0x30, 0x30, 0x30, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x4c, 0x52, 0x54, 0x00, 0xe8, 0xca, 0x6f, 0x99, 0xa3,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x01,
	0x30, 0x01, 0x99, 0xa3, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x25,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x1e,
	0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x2d, 0x6e, 0x65, 0x74, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x72, 0x65, 0x67, 0x73, 0x72, 0x74, 0x69, 0x6f, 0x00, 0x30,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x40, 0x64,
	0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04,
	0x00, 0x00, 0x00, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x3c, 0x72, 0x61, 0x77, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x01, 0x30, 0x00, 0x62, 0x46,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x1e, 0x76, 0x69, 0x72, 0x74,
	0x69, 0x6f, 0x2d, 0x62, 0x6c, 0x6b, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x19, 0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x01, 0x75, 0x61, 0x72, 0x74, 0x40, 0x33, 0x66, 0x38, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x19, 0x75, 0x61, 0x72, 0x74,
	0x00, 0x61, 0x6d, 0x2d, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x09, 0x72, 0x61, 0x6d, 0x2d, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x63, 0x70, 0x75,
	0x73, 0x00, 0x61, 0x63, 0x70, 0x69, 0x00, 0x63, 0x70, 0x75, 0x69, 0x64, 0x00, 0x6b, 0x69, 0x6e,
	0x64, 0x00, 0x64, 0x65, 0x76, 0x69, 0x63, 0x65, 0x00, 0x71, 0x75, 0x65, 0x75, 0x65, 0x73, 0x00,
	0x64, 0x65, 0x76, 0x69, 0x63, 0x65, 0x2d, 0x66, 0x65, 0x61, 0x74, 0x75, 0x72, 0x65, 0x73, 0x00,
	0x66, 0x6f, 0x72, 0x6d, 0x61, 0x74, 0x00, 0x70, 0x61, 0x69, 0x72, 0x73, 0x00, 0x72, 0x65, 0x61,
	0x64, 0x6f, 0x6e, 0x6c, 0x79, 0x00, 0x6d, 0x61, 0x63, 0x00,
};

START_TEST(old_fdt_version_refused)
{
	struct errmsg err = { "" };
	void *p = malloc(sizeof(fdt_version_4));

	ck_assert_ptr_nonnull(p);
	memcpy(p, fdt_version_4, sizeof(fdt_version_4));
	ck_assert_int_eq(state_check(p, sizeof(fdt_version_4), &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "not a well-formed device tree: magic 0xd00dfeed, version 4"),
		      "%s", err.text);
	free(p);
}
END_TEST

/* Both implementations give the published CRC-32C values (RFC 3720's vectors and the usual
 * "123456789"), agree on lengths and alignments around the instruction's three-lane blocks,
 * continue across any split, and the copying form copies exactly what it checksums. */
START_TEST(crc32c_both_kinds_agree)
{
	static const struct { const char *what; uint8_t byte; size_t n; uint32_t crc; } known[] = {
		{ "32 zero bytes", 0x00, 32, 0x8a9136aa },
		{ "32 0xff bytes", 0xff, 32, 0x62a8ab43 },
	};
	static uint8_t buf[3 * 3 * CRC32C_LANE + 100], out[sizeof(buf) + 10];
	struct crc32c c;
	uint32_t want[2];

	crc32c_init(&c);
	for (int hw = 0; hw < 2; hw++) {
		if (hw && !__builtin_cpu_supports("sse4.2"))
			continue;
		c.hw = hw;
		ck_assert_uint_eq(crc32c(&c, 0, "123456789", 9), 0xe3069283);
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			memset(buf, known[i].byte, known[i].n);
			ck_assert_msg(crc32c(&c, 0, buf, known[i].n) == known[i].crc, "%s (%s)",
				      known[i].what, hw ? "instruction" : "tables");
		}
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off + 10 <= sizeof(buf); n += n < 3 * CRC32C_LANE - 8 ? 1 + n / 8 : 7) {
			for (int hw = 0; hw < 2; hw++) {
				c.hw = hw && __builtin_cpu_supports("sse4.2");
				want[hw] = crc32c(&c, 0, buf + off, n);
				ck_assert_uint_eq(crc32c(&c, crc32c(&c, 0, buf + off, n / 3), buf + off + n / 3,
							 n - n / 3), want[hw]);
				memset(out, 0xee, sizeof(out));
				ck_assert_uint_eq(crc32c_copy(&c, 0, out + 1, buf + off, n), want[hw]);
				ck_assert_int_eq(memcmp(out + 1, buf + off, n), 0);
				ck_assert_uint_eq(out[0], 0xee);
				ck_assert_uint_eq(out[n + 1], 0xee);
			}
			ck_assert_msg(want[0] == want[1], "offset %zu, %zu bytes", off, n);
		}
}
END_TEST

/* Guest RAM written whole: the data runs split at the section size, every section within the
 * reader's limit, and every page arrives. */
START_TEST(long_runs_split_into_sections)
{
	const size_t ram = 3 * STREAM_RAM_CHUNK + 5 * STREAM_PAGE;
	struct guest_mem src = { 0 }, dst = { 0 };
	struct stream_writer w;
	struct stream_reader r;
	struct errmsg err = { "" };
	unsigned sections = 0;
	uint8_t *s, *p;
	uint32_t type;
	size_t len;
	int fd = memfd_create("long", 0);

	ck_assert_int_eq(gm_init(&src, ram, false), 0);
	ck_assert_int_eq(gm_init(&dst, ram, false), 0);
	s = gm_ptr(&src, 0, ram);
	for (size_t i = 0; i < ram / 8; i++)
		((uint64_t *)s)[i] = i * 0x9e3779b97f4a7c15ull | 1;
	memset(s + STREAM_RAM_CHUNK, 0, 3 * STREAM_PAGE); /* zero pages skipped mid-run */
	ck_assert_int_eq(stream_writer_init(&w, fd), 0);
	ck_assert_int_eq(stream_write_ram(&w, &src, NULL, true, NULL, NULL), 0);
	ck_assert_uint_eq(stream_writer_buffered(&w), 0);
	stream_writer_free(&w);
	lseek(fd, 0, SEEK_SET);
	stream_reader_init(&r, fd, "test");
	while (stream_read_section(&r, &type, &p, &len, &err) == 0) {
		ck_assert_uint_eq(type, STREAM_SEC_RAM);
		ck_assert_uint_le(len, STREAM_MAX_RAM);
		ck_assert_msg(apply_ram(p, len, &dst, &err) == 0, "%s", err.text);
		free(p);
		sections++;
	}
	ck_assert_msg(strstr(err.text, "truncated in a section header"), "%s", err.text);
	ck_assert_uint_eq(sections, 4);
	ck_assert_int_eq(memcmp(s, gm_ptr(&dst, 0, ram), ram), 0);
	close(fd);
	gm_destroy(&src);
	gm_destroy(&dst);
}
END_TEST

/* A round of scattered pages (a run each, read through the reader's buffer), a long run (read
 * straight into guest RAM) and zero runs between them, in one section: every page arrives. */
START_TEST(scattered_and_long_runs_arrive)
{
	const size_t ram = 4u << 20, pages = ram / STREAM_PAGE;
	struct guest_mem src = { 0 }, dst = { 0 };
	uint64_t words[(4u << 20) / STREAM_PAGE / 64] = { 0 };
	uint64_t *bits[1] = { words };
	struct stream_writer w;
	struct stream_reader r;
	struct errmsg err = { "" };
	uint8_t *s, *d;
	uint32_t type;
	size_t len;
	int fd = memfd_create("mixed", 0);

	ck_assert_int_eq(gm_init(&src, ram, false), 0);
	ck_assert_int_eq(gm_init(&dst, ram, false), 0);
	s = gm_ptr(&src, 0, ram);
	d = gm_ptr(&dst, 0, ram);
	memset(d, 0x77, ram);                   /* an earlier round's data: zero runs clear it */
	for (size_t pg = 0; pg < pages; pg++) {
		bool scattered = pg < pages / 2 && pg % 3 == 0, long_run = pg >= pages / 2 + 7;

		if (scattered || long_run || pg % 5 == 1)
			words[pg / 64] |= 1ull << (pg % 64);
		if (scattered || long_run)
			memset(s + pg * STREAM_PAGE, (int)(pg % 251) + 1, STREAM_PAGE);
	}
	ck_assert_int_eq(stream_writer_init(&w, fd), 0);
	ck_assert_int_eq(stream_write_ram(&w, &src, bits, false, NULL, NULL), 0);
	stream_writer_free(&w);
	lseek(fd, 0, SEEK_SET);
	stream_reader_init(&r, fd, "test");
	ck_assert_int_eq(stream_read_section_header(&r, &type, &len, &err), 0);
	ck_assert_uint_eq(type, STREAM_SEC_RAM);
	ck_assert_msg(stream_receive_ram(&r, &dst, &err) == 0, "%s", err.text);
	for (size_t pg = 0; pg < pages; pg++) {
		const uint8_t *got = d + pg * STREAM_PAGE;

		if (words[pg / 64] >> (pg % 64) & 1)
			ck_assert_msg(memcmp(got, s + pg * STREAM_PAGE, STREAM_PAGE) == 0, "page %zu", pg);
		else
			ck_assert_msg(got[0] == 0x77 && got[STREAM_PAGE - 1] == 0x77, "page %zu", pg);
	}
	close(fd);
	gm_destroy(&src);
	gm_destroy(&dst);
}
END_TEST

/* A whole pass skips never-populated pages without reading them: afterwards they are still
 * unpopulated (a read would have mapped the zero page), and the written ones arrived. */
START_TEST(never_touched_pages_stay_unread)
{
	struct guest_mem src = { 0 }, dst = { 0 };
	struct stream_writer w;
	struct stream_reader r;
	struct errmsg err = { "" };
	uint64_t bits[GM_PAGEMAP_BATCH / 64];
	uint8_t *s;
	uint32_t type;
	size_t len;
	int fd = memfd_create("idle", 0);

	ck_assert_int_eq(gm_init(&src, RAM, false), 0);
	ck_assert_int_eq(gm_init(&dst, RAM, false), 0);
	s = gm_ptr(&src, 0, RAM);
	memset(s + 7 * STREAM_PAGE, 0x5a, STREAM_PAGE);
	s[9 * STREAM_PAGE] = 0; /* populated and zero: looked at, not sent */
	ck_assert_int_eq(stream_writer_init(&w, fd), 0);
	ck_assert_int_eq(stream_write_ram(&w, &src, NULL, true, NULL, NULL), 0);
	stream_writer_free(&w);
	ck_assert_int_eq(gm_unpopulated(&src, 0, RAM / STREAM_PAGE, bits), 0);
	for (unsigned i = 0; i < RAM / STREAM_PAGE; i++)
		ck_assert_msg((bits[i / 64] >> (i % 64) & 1) == (i != 7 && i != 9), "page %u", i);
	lseek(fd, 0, SEEK_SET);
	stream_reader_init(&r, fd, "test");
	ck_assert_int_eq(stream_read_section_header(&r, &type, &len, &err), 0);
	ck_assert_uint_eq(len, 16 + STREAM_PAGE);
	ck_assert_msg(stream_receive_ram(&r, &dst, &err) == 0, "%s", err.text);
	ck_assert_int_eq(memcmp(gm_ptr(&dst, 0, RAM), s, RAM), 0);
	close(fd);
	gm_destroy(&src);
	gm_destroy(&dst);
}
END_TEST

Suite *suite_stream(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("format");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, every_truncation_and_flip_refused);
	tcase_add_test(tc, ram_outside_guest_refused);
	tcase_add_test(tc, config_mismatch_named);
	tcase_add_test(tc, config_mismatch_in_an_unaligned_u64);
	tcase_add_test(tc, dirty_round_with_zero_runs);
	tcase_add_test(tc, unknown_run_flags_refused);
	tcase_add_test(tc, old_fdt_version_refused);
	tcase_add_test(tc, crc32c_both_kinds_agree);
	tcase_add_test(tc, long_runs_split_into_sections);
	tcase_add_test(tc, scattered_and_long_runs_arrive);
	tcase_add_test(tc, never_touched_pages_stay_unread);
	tcase_add_test(tc, runs_cover_ram_once_per_section);
	tcase_add_test(tc, reader_stops_on_signal_or_silence);
	tcase_add_test(tc, long_property_names_refused);
	suite_add_tcase(s, tc);
	return s;
}
