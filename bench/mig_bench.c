/* Live migration's data path alone, host-side, no KVM: guest RAM (vmm/memory.h, mapped as the
 * VMM maps it) -> the dirty set (migrate/dirty.h, fed by the VMM's own marks: the synthetic
 * dirtier writes through gm_write) -> the stream writer (migrate/stream.h) -> a connection made
 * by migrate/channel.c (so with the migration's own socket options) -> the stream reader ->
 * stream_receive_ram straight into a second guest RAM. The source is the main thread, the destination a
 * thread of its own. Every transfer ends with a memcmp of the two memories: a figure is printed
 * only for a copy that came out right.
 *
 * Before each scenario a plain write()/read() loop moves the RAM size, RAM to RAM, over a fresh
 * connection of the same kind: the link's limit at that moment (this machine's figures drift
 * between runs, so each scenario is compared with a limit measured next to it).
 *
 *   mig_bench [--size SIZE] [--uri unix:PATH|tcp:ADDR:PORT] [--src-netns NAME]
 *             [--dst-netns NAME] [--downtime-ms N] [--dst-ram reused|fresh] SCENARIO...
 *
 * --dst-ram reused (default): the destination writes into one mapping written through before
 * the first transfer, so that the figures are the data path's and the socket's; fresh: a new
 * mapping per transfer, as a destination VMM has, whose first touch of each page is counted.
 *
 *   full          every page written once before; pre-copy sends them in the full pass
 *   zero          RAM never touched: the full pass skips every page (the destination is fresh)
 *   zero-resident the same with RAM touched and zero again: the scan reads real memory, not
 *                 the kernel's one zero page
 *   zero-flagged  RAM zeroed through gm_fill while tracked, the destination holding older data:
 *                 every page goes as a zero-run flag and the destination clears it
 *   dirty:PCT     a dirtier writes random pages at PCT% of the link's rate (the median of
 *                 three loops at the start) while pre-copy runs rounds, stopped by
 *                 converge_decide() (migrate/converge.c) when the remainder fits the downtime
 *                 budget, or at its round limit
 *
 * One line of key=value per scenario; bench/migrate_datapath.sh makes a table of them. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "migrate/channel.h"
#include "migrate/converge.h"
#include "migrate/dirty.h"
#include "migrate/stream.h"
#include "vmm/memory.h"
#include "vmm/parse.h"

#define GIB (1024.0 * 1024 * 1024)
#define CONNECT_TRIES 5000 /* 1 ms apart: the listener starts on the other thread */

struct opts {
	uint64_t size;
	struct channel_uri uri;
	const char *uri_text;
	int dst_ns; /* a network namespace for the destination thread, or -1 */
	unsigned downtime_ms;
	double link_ref; /* bytes/s the dirtier's PCT refers to: see main() */
};

/* What the destination thread was asked to do and what it saw. */
struct dst {
	const struct opts *o;
	struct guest_mem *gm;
	bool raw;
	int abort_fd; /* an eventfd: the source gave up before connecting */
	atomic_bool finished;
	int ret;
	struct errmsg err;
	double t_done; /* CLOCK_MONOTONIC, shared with the source thread */
	double cpu;    /* this thread's CPU seconds from the accepted connection on */
	uint64_t bytes;
};

/* One transfer, as the source saw it. */
struct result {
	double t0, t_pause;  /* CLOCK_MONOTONIC: the source's first byte, its pause */
	double secs, cpu;
	uint64_t wire_bytes;
	unsigned rounds;     /* sent before stop-and-copy, the full pass being the first */
	int converged;       /* 1 fitted the budget, 0 gave up at the round limit, -1 not decided */
	double expected_ms;  /* converge_decide()'s estimate for the remainder it stopped at */
	uint64_t remaining;  /* bytes dirty at that decision */
	uint64_t final_bytes; /* dirty pages' bytes collected after the pause */
	double downtime_ms;  /* pause -> the destination applied END */
	double dirty_mbps;   /* what the dirtier achieved */
};

/* The synthetic guest: writes a sequence number into a random word of a random page, as the
 * kernel's dirty-log selftest does, through gm_write so that the page is marked the way the
 * VMM's own writes are. One word per page: a guest dirties a whole page by writing any byte,
 * and the dirtier must keep up with a multi-GB/s link without needing a core for itself. */
struct dirtier {
	struct guest_mem *gm;
	double pages_per_s;
	atomic_bool stop;
	uint64_t pages;
	double secs;
	int ret;
	pthread_t thread;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Guest-physical address of the @idx-th page of RAM, across the MMIO hole. */
static uint64_t page_gpa(const struct guest_mem *gm, uint64_t idx)
{
	uint64_t off = idx * GM_PAGE_SIZE;

	for (unsigned r = 0; r < gm->nr_regions; r++) {
		if (off < gm->regions[r].size)
			return gm->regions[r].gpa + off;
		off -= gm->regions[r].size;
	}
	return UINT64_MAX;
}

/* Every page non-zero and different: what a guest leaves after writing all of its RAM. */
static void fill_pattern(struct guest_mem *gm, uint64_t seed)
{
	uint64_t *w = (uint64_t *)gm->base, s = seed | 1;

	for (uint64_t i = 0; i < gm->size / 8; i++)
		w[i] = xorshift(&s);
}

static int verify(const struct guest_mem *src, const struct guest_mem *dst, struct errmsg *err)
{
	if (!memcmp(src->base, dst->base, src->size))
		return 0;
	for (uint64_t i = 0; i < src->size / GM_PAGE_SIZE; i++)
		if (memcmp(src->base + i * GM_PAGE_SIZE, dst->base + i * GM_PAGE_SIZE, GM_PAGE_SIZE))
			return errmsg_set(err, -EIO, "destination differs from the source at gpa 0x%llx",
					  (unsigned long long)page_gpa(src, i));
	return errmsg_set(err, -EIO, "destination differs from the source");
}

static void *dirtier_main(void *arg)
{
	struct dirtier *d = arg;
	uint64_t n = d->gm->size / GM_PAGE_SIZE, rng = 0x9e3779b97f4a7c15ULL, seq = 0;
	double t0 = now();

	while (!atomic_load(&d->stop) && !d->ret) {
		double due = (now() - t0) * d->pages_per_s;
		unsigned batch = 0;

		/* Catch up with the rate in batches small enough to see stop soon; sleep when
		 * ahead (a sleep lasts longer than asked on a busy host: the next batch is
		 * larger, the rate holds). */
		while ((double)d->pages < due && batch++ < 1024 && !d->ret) {
			uint64_t v = ++seq, gpa = page_gpa(d->gm, xorshift(&rng) % n);

			d->ret = gm_write(d->gm, gpa + xorshift(&rng) % (GM_PAGE_SIZE / 8) * 8, &v, 8);
			d->pages++;
		}
		if (!batch)
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	d->secs = now() - t0;
	return NULL;
}

static int dirtier_start(struct dirtier *d)
{
	return -pthread_create(&d->thread, NULL, dirtier_main, d);
}

static int dirtier_stop(struct dirtier *d)
{
	atomic_store(&d->stop, true);
	pthread_join(d->thread, NULL);
	return d->ret;
}

static int raw_send(int fd, const struct guest_mem *gm)
{
	for (uint64_t off = 0; off < gm->size;) {
		size_t len = gm->size - off < STREAM_RAM_CHUNK ? gm->size - off : STREAM_RAM_CHUNK;
		ssize_t n = write(fd, gm->base + off, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (uint64_t)n;
	}
	return 0;
}

static int raw_recv(int fd, struct guest_mem *gm, uint64_t *bytes)
{
	for (*bytes = 0; *bytes < gm->size;) {
		ssize_t n = read(fd, gm->base + *bytes, gm->size - *bytes);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EPIPE;
		*bytes += (uint64_t)n;
	}
	return 0;
}

/* The destination's part of vm_receive_stream() (migrate/restore.c) without CONFIG and STATE:
 * RAM sections applied as they come, until END. */
static int stream_recv(int fd, struct guest_mem *gm, uint64_t *bytes, struct errmsg *err)
{
	struct stream_reader r;
	uint32_t type = 0;
	int ret;

	stream_reader_init(&r, fd, "stream");
	ret = stream_read_header(&r, err);
	while (!ret && type != STREAM_SEC_END) {
		uint8_t *payload;
		size_t len;

		ret = stream_read_next(&r, gm, &type, &payload, &len, err);
		if (ret || type == STREAM_SEC_RAM)
			continue;
		if (type != STREAM_SEC_END)
			ret = errmsg_set(err, -EPROTO, "stream: a section of type 0x%x", type);
		free(payload);
	}
	*bytes = r.offset;
	return ret;
}

static void *dst_main(void *arg)
{
	struct dst *d = arg;
	double c0;
	int fd;

	if (d->o->dst_ns >= 0 && setns(d->o->dst_ns, CLONE_NEWNET) < 0)
		d->ret = errmsg_set(&d->err, -errno, "--dst-netns: setns: %s", strerror(errno));
	if (!d->ret)
		d->ret = channel_accept(&d->o->uri, d->abort_fd, NULL, &fd, &d->err);
	if (!d->ret) {
		c0 = thread_cpu();
		if (d->raw && (d->ret = raw_recv(fd, d->gm, &d->bytes)))
			errmsg_set(&d->err, d->ret, "receiving: %s", strerror(-d->ret));
		else if (!d->raw)
			d->ret = stream_recv(fd, d->gm, &d->bytes, &d->err);
		d->t_done = now();
		d->cpu = thread_cpu() - c0;
		close(fd);
	}
	atomic_store(&d->finished, true);
	return NULL;
}

static int connect_retry(const struct opts *o, struct dst *d, int *fd, struct errmsg *err)
{
	int ret = 0;

	for (int i = 0; i < CONNECT_TRIES && !atomic_load(&d->finished); i++) {
		ret = channel_connect(&o->uri, fd, err);
		if (ret != -ECONNREFUSED && ret != -ENOENT)
			return ret;
		usleep(1000);
	}
	return ret ? ret : errmsg_set(err, -ECONNREFUSED, "the destination did not listen");
}

static void collect(const struct guest_mem *gm, struct dirty_set *d)
{
	for (unsigned r = 0; r < d->nr_regions; r++)
		gm_dirty_collect(gm, r, d->bits[r]);
}

/* As migrate.c's send_round(): @d's pages, or all of RAM with zero pages skipped; the round's
 * bandwidth once it lasted long enough to measure one. No tick function: the real one costs a
 * clock read and a mutex per 1 MiB. */
static int send_round(struct stream_writer *w, const struct guest_mem *gm, struct dirty_set *d,
		      double *bw)
{
	uint64_t b0 = w->bytes;
	double t0 = now(), t;
	int ret = stream_write_ram(w, gm, d ? d->bits : NULL, !d, NULL, NULL);

	t = now() - t0;
	if (!ret && t >= 0.005)
		*bw = (double)(w->bytes - b0) / t;
	return ret;
}

/* The source's pre-copy (migrate.c's precopy() with the synthetic guest), then the pause and
 * the last round. @zero_all: RAM is zeroed through gm_fill once tracking is on, and the first
 * round sends those marks instead of a full pass. */
static int migrate_src(const struct opts *o, int fd, struct guest_mem *src, double dirty_pages_per_s,
		       bool zero_all, struct result *res, struct errmsg *err)
{
	struct dirtier dt = { .gm = src, .pages_per_s = dirty_pages_per_s };
	struct stream_writer w;
	struct dirty_set d;
	double t0, c0, bw = 0;
	int ret, dret;

	res->converged = -1;
	if ((ret = stream_writer_init(&w, fd)))
		return errmsg_set(err, ret, "stream writer: %s", strerror(-ret));
	if ((ret = dirty_set_init(&d, src))) {
		stream_writer_free(&w);
		return errmsg_set(err, ret, "dirty set: %s", strerror(-ret));
	}
	ret = gm_dirty_start(src);
	for (unsigned r = 0; !ret && zero_all && r < src->nr_regions; r++)
		ret = gm_fill(src, src->regions[r].gpa, 0, src->regions[r].size);
	if (ret) {
		errmsg_set(err, ret, "dirty tracking: %s", strerror(-ret));
		goto out;
	}
	t0 = now();
	c0 = thread_cpu();
	/* The guest runs from before the full pass: pages it writes during it go again. */
	if (dirty_pages_per_s > 0 && (ret = dirtier_start(&dt))) {
		errmsg_set(err, ret, "dirtier thread: %s", strerror(-ret));
		goto out;
	}
	ret = stream_write_header(&w);
	if (!ret && zero_all)
		collect(src, &d);
	ret = ret ? ret : send_round(&w, src, zero_all ? &d : NULL, &bw);
	dirty_set_clear(&d, src);
	res->rounds = 1;
	while (!ret) {
		struct converge_in in;
		enum converge_step step;

		collect(src, &d);
		in = (struct converge_in){ dirty_set_count(&d, src) * STREAM_PAGE, bw, o->downtime_ms,
					   res->rounds, CONVERGE_MAX_ITERATIONS };
		step = converge_decide(&in, &res->expected_ms);
		if (step != CONVERGE_ITERATE) {
			res->converged = step == CONVERGE_STOP_COPY;
			res->remaining = in.remaining;
			break;
		}
		ret = send_round(&w, src, &d, &bw);
		dirty_set_clear(&d, src);
		res->rounds++;
	}
	/* Stop and copy, also after giving up: the last round makes the copy checkable. */
	dret = dirty_pages_per_s > 0 ? dirtier_stop(&dt) : 0;
	res->t_pause = now();
	if (!ret) {
		collect(src, &d);
		res->final_bytes = dirty_set_count(&d, src) * STREAM_PAGE;
		ret = send_round(&w, src, &d, &bw);
	}
	ret = ret ? ret : stream_write_end(&w);
	if (ret)
		errmsg_set(err, ret, "sending: %s", strerror(-ret));
	else if (dret)
		ret = errmsg_set(err, dret, "dirtier: %s", strerror(-dret));
	res->t0 = t0;
	res->cpu = thread_cpu() - c0;
	res->wire_bytes = w.bytes;
	if (dirty_pages_per_s > 0)
		res->dirty_mbps = dt.secs > 0 ? (double)dt.pages * GM_PAGE_SIZE / dt.secs / 1e6 : 0;
out:
	gm_dirty_stop(src);
	dirty_set_free(&d);
	stream_writer_free(&w);
	return ret;
}

/* Where the destination writes: @reused (a mapping written through before, reset here outside
 * the timing) or, when NULL, a fresh mapping as a destination VMM has. @old_data: it holds
 * older data rather than zeros. @scrub: the source has no zero page, so a reused mapping may
 * hold anything but what the last transfer left (a page the stream missed shows in the
 * memcmp). */
static int dst_prepare(const struct opts *o, struct guest_mem *reused, bool old_data, bool scrub,
		       struct guest_mem *fresh, struct guest_mem **dst, struct errmsg *err)
{
	int ret;

	if (reused) {
		memset(reused->base, old_data || scrub ? 0xa5 : 0, reused->size);
		*dst = reused;
		return 0;
	}
	if ((ret = gm_init(fresh, o->size, false)))
		return errmsg_set(err, ret, "destination RAM: %s", strerror(-ret));
	if (old_data)
		memset(fresh->base, 0xa5, fresh->size);
	*dst = fresh;
	return 0;
}

/* One transfer from @src (raw: the plain loop; else the stream, with a dirtier of
 * @dirty_pages_per_s when not 0), checked with memcmp. */
static int transfer(const struct opts *o, struct guest_mem *src, bool raw, double dirty_pages_per_s,
		    bool zero_all, struct guest_mem *dst_reused, struct result *res, struct dst *d,
		    struct errmsg *err)
{
	struct guest_mem fresh, *dmem = NULL;
	pthread_t th;
	int ret, fd = -1, efd;

	*res = (struct result){ 0 };
	/* Old data where pages go as zero-run flags; zeros where the full pass skips zero
	 * pages. */
	ret = dst_prepare(o, dst_reused, zero_all, !stream_page_is_zero(src->base), &fresh, &dmem,
			  err);
	if (ret)
		return ret;
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0) {
		ret = errmsg_set(err, -errno, "eventfd: %s", strerror(errno));
		goto out;
	}
	*d = (struct dst){ .o = o, .gm = dmem, .raw = raw, .abort_fd = efd };
	if ((ret = -pthread_create(&th, NULL, dst_main, d))) {
		close(efd);
		errmsg_set(err, ret, "destination thread: %s", strerror(-ret));
		goto out;
	}
	ret = connect_retry(o, d, &fd, err);
	/* Not connected: the destination may still wait in accept() (a fresh eventfd takes the
	 * write). */
	if (ret)
		eventfd_write(efd, 1);
	if (!ret && raw) {
		double c0 = thread_cpu();

		res->t0 = now();
		if ((ret = raw_send(fd, src)))
			errmsg_set(err, ret, "sending: %s", strerror(-ret));
		res->cpu = thread_cpu() - c0;
		res->wire_bytes = src->size;
	} else if (!ret) {
		ret = migrate_src(o, fd, src, dirty_pages_per_s, zero_all, res, err);
	}
	/* Closed before the join: a destination still waiting for data sees the end. */
	if (fd >= 0)
		close(fd);
	pthread_join(th, NULL);
	close(efd);
	/* The destination's error is the cause when it stopped first: the source then fails to
	 * connect or to write. */
	if (d->ret && (!ret || fd < 0 || ret == -EPIPE || ret == -ECONNRESET)) {
		*err = d->err;
		ret = d->ret;
	}
	if (!ret) {
		res->secs = d->t_done - res->t0;
		res->downtime_ms = raw ? 0 : (d->t_done - res->t_pause) * 1e3;
		ret = d->bytes != res->wire_bytes
			      ? errmsg_set(err, -EIO, "the destination read %llu bytes, the source wrote %llu",
					   (unsigned long long)d->bytes,
					   (unsigned long long)res->wire_bytes)
			      : verify(src, dmem, err);
	}
out:
	if (dmem == &fresh)
		gm_destroy(&fresh);
	return ret;
}

/* A scenario's name, checked; *@pct the dirtier's rate in % of the link (0: none). */
static int scenario_parse(const char *name, double *pct, struct errmsg *err)
{
	uint64_t p;

	*pct = 0;
	if (!strncmp(name, "dirty:", 6)) {
		if (parse_uint(name + 6, 1, 1000, &p))
			return errmsg_set(err, -EINVAL, "%s: PCT must be 1-1000", name);
		*pct = (double)p;
		return 0;
	}
	if (strcmp(name, "full") && strcmp(name, "zero") && strcmp(name, "zero-resident") &&
	    strcmp(name, "zero-flagged"))
		return errmsg_set(err, -EINVAL, "unknown scenario '%s'", name);
	return 0;
}

/* @data: RAM with every page written (the source of the raw loop, full and dirty:PCT; made
 * zero for zero-resident and zero-flagged, and written again after). */
static int scenario(const struct opts *o, const char *name, struct guest_mem *data,
		    struct guest_mem *dst_reused, struct errmsg *err)
{
	struct result raw, r;
	struct dst draw, d;
	struct guest_mem untouched = { 0 }, *src = data;
	double pct = 0, link, gib = (double)o->size / GIB;
	bool zero_all = !strcmp(name, "zero-flagged");
	int ret;

	if ((ret = scenario_parse(name, &pct, err)))
		return ret;
	/* The link first, from the written RAM whatever the scenario sends. */
	ret = transfer(o, data, true, 0, false, dst_reused, &raw, &draw, err);
	if (ret)
		return errmsg_prefix(err, ret, "%s: raw loop", name);
	link = (double)o->size / raw.secs;
	if (!strcmp(name, "zero")) {
		if ((ret = gm_init(&untouched, o->size, false)))
			return errmsg_set(err, ret, "source RAM: %s", strerror(-ret));
		src = &untouched;
	} else if (!strcmp(name, "zero-resident")) {
		memset(data->base, 0, data->size);
	}
	ret = transfer(o, src, false, pct / 100 * o->link_ref / GM_PAGE_SIZE, zero_all, dst_reused,
		       &r, &d, err);
	if (untouched.base)
		gm_destroy(&untouched);
	else if (!strncmp(name, "zero", 4))
		fill_pattern(data, 1);
	if (ret)
		return errmsg_prefix(err, ret, "%s", name);
	printf("scenario=%s uri=%s dst=%s size=%llu ref_gbps=%.3f raw_secs=%.3f raw_gbps=%.3f "
	       "raw_src_cpu=%.3f raw_dst_cpu=%.3f secs=%.3f wire_bytes=%llu gbps=%.3f x_link=%.3f src_cpu=%.3f "
	       "dst_cpu=%.3f rounds=%u converged=%s expected_ms=%.1f remaining_mib=%.1f "
	       "final_mib=%.1f downtime_ms=%.1f dirty_target_mbps=%.0f dirty_mbps=%.0f verify=ok\n",
	       name, o->uri_text, dst_reused ? "reused" : "fresh", (unsigned long long)o->size,
	       o->link_ref / 1e9, raw.secs, link / 1e9, raw.cpu / gib, draw.cpu / gib, r.secs,
	       (unsigned long long)r.wire_bytes, (double)r.wire_bytes / r.secs / 1e9,
	       r.secs / raw.secs, r.cpu / gib, d.cpu / gib, r.rounds,
	       r.converged < 0 ? "-" : r.converged ? "yes" : "no", r.expected_ms,
	       (double)r.remaining / (1 << 20), (double)r.final_bytes / (1 << 20), r.downtime_ms,
	       pct / 100 * o->link_ref / 1e6, r.dirty_mbps);
	fflush(stdout);
	return 0;
}

static double median3(double a, double b, double c)
{
	return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

static int open_netns(const char *name, int *fd)
{
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .size = 1ULL << 30, .uri_text = NULL, .dst_ns = -1, .downtime_ms = 50 };
	struct guest_mem data, dst_reused, *reused = &dst_reused;
	struct result warm;
	struct dst warm_dst;
	double rates[3] = { 0 };
	struct errmsg err = { "" };
	char default_uri[64];
	int i, ret, src_ns = -1;
	double pct;
	uint64_t v;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			goto usage;
		if (!strcmp(a, "--size")) {
			if (parse_size(val, &o.size) || !o.size || o.size % GM_PAGE_SIZE)
				return fprintf(stderr, "mig_bench: --size %s: a multiple of 4 KiB\n", val), 2;
		} else if (!strcmp(a, "--dst-ram")) {
			if (strcmp(val, "fresh") && strcmp(val, "reused"))
				goto usage;
			reused = strcmp(val, "fresh") ? &dst_reused : NULL;
		} else if (!strcmp(a, "--uri")) {
			o.uri_text = val;
		} else if (!strcmp(a, "--downtime-ms")) {
			if (parse_uint(val, 1, 60000, &v))
				return fprintf(stderr, "mig_bench: --downtime-ms %s: 1-60000\n", val), 2;
			o.downtime_ms = (unsigned)v;
		} else if (!strcmp(a, "--src-netns") || !strcmp(a, "--dst-netns")) {
			int *fd = a[2] == 's' ? &src_ns : &o.dst_ns;

			if ((ret = open_netns(val, fd)))
				return fprintf(stderr, "mig_bench: %s %s: %s\n", a, val, strerror(-ret)), 1;
		} else {
			goto usage;
		}
	}
	if (i == argc)
		goto usage;
	if (!o.uri_text) {
		snprintf(default_uri, sizeof(default_uri), "unix:/tmp/mig_bench.%d.sock", (int)getpid());
		o.uri_text = default_uri;
	}
	for (int k = i; k < argc; k++)
		if (scenario_parse(argv[k], &pct, &err))
			return fprintf(stderr, "mig_bench: %s\n", err.text), 2;
	if (channel_uri_parse(o.uri_text, &o.uri, &err))
		return fprintf(stderr, "mig_bench: --uri: %s\n", err.text), 2;
	/* The source is this thread: it joins its namespace once; the destination threads join
	 * theirs each. */
	if (src_ns >= 0 && setns(src_ns, CLONE_NEWNET) < 0)
		return fprintf(stderr, "mig_bench: --src-netns: setns: %s\n", strerror(errno)), 1;
	/* A destination that fails closes its end: the source's write must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if ((ret = gm_init(&data, o.size, false)))
		return fprintf(stderr, "mig_bench: source RAM: %s\n", strerror(-ret)), 1;
	fill_pattern(&data, 1);
	/* Written through once: this host's first write to a page costs ~14 us (3.7 s per GiB,
	 * see docs/benchmarks.md), more than the copy; fresh measures that with the rest. */
	if (reused && (ret = gm_init(reused, o.size, false))) {
		gm_destroy(&data);
		return fprintf(stderr, "mig_bench: destination RAM: %s\n", strerror(-ret)), 1;
	}
	if (reused)
		memset(reused->base, 0xa5, reused->size);
	/* Not reported: the first transfer of a run moves its GiB at a tenth of the speed of
	 * the next ones here (~0.2 vs 2-3.7 GB/s on a unix socket, ~3 CPU-s per GiB on both
	 * sides instead of ~0.2), whichever scenario comes first; the pages the kernel takes
	 * for socket buffers are likely first touches too. */
	ret = transfer(&o, &data, true, 0, false, reused, &warm, &warm_dst, &err);
	if (ret)
		fprintf(stderr, "mig_bench: warm-up: %s\n", err.text);
	/* The dirtier's rates refer to the median of three loops: the loop before a row, which
	 * that row's "x link" uses, moves by up to 4x between rows here (other work on the
	 * machine), and the rows of one run should ask for the same rates. */
	for (int k = 0; k < 3 && !ret; k++) {
		ret = transfer(&o, &data, true, 0, false, reused, &warm, &warm_dst, &err);
		if (ret)
			fprintf(stderr, "mig_bench: measuring the link: %s\n", err.text);
		else
			rates[k] = (double)o.size / warm.secs;
	}
	if (!ret)
		o.link_ref = median3(rates[0], rates[1], rates[2]);
	for (; i < argc && !ret; i++)
		if ((ret = scenario(&o, argv[i], &data, reused, &err)))
			fprintf(stderr, "mig_bench: %s\n", err.text);
	gm_destroy(&data);
	if (reused)
		gm_destroy(reused);
	return ret ? 1 : 0;
usage:
	fprintf(stderr, "usage: mig_bench [--size SIZE] [--uri unix:PATH|tcp:ADDR:PORT] "
			"[--src-netns NAME] [--dst-netns NAME]\n"
			"                 [--downtime-ms N] [--dst-ram reused|fresh]\n"
			"                 full|zero|zero-resident|zero-flagged|dirty:PCT...\n");
	return 2;
}
