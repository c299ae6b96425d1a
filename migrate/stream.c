#include "migrate/stream.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>


#define MAGIC "MVMSTATE"
#define HDR_LEN 16
#define SEC_HDR_LEN 24
#define RUN_HDR_LEN 16
/* Run flag: the run's pages are zero and carry no data (a migration's page that was sent and
 * has since become zero; a fresh VM's RAM needs none). */
#define RUN_ZERO 1u

/* Writes @n buffers whole (a socket may take part of them). */
static int write_all(struct stream_writer *w, struct iovec *iov, int n)
{
	while (n) {
		ssize_t done = writev(w->fd, iov, n);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return -errno;
		w->bytes += (uint64_t)done;
		for (; n && (size_t)done >= iov->iov_len; iov++, n--)
			done -= (ssize_t)iov->iov_len;
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

int stream_writer_init(struct stream_writer *w, int fd)
{
	*w = (struct stream_writer){ .fd = fd };
	crc32c_init(&w->crc);
	w->ram = malloc(STREAM_MAX_RAM);
	return w->ram ? 0 : -ENOMEM;
}

void stream_writer_free(struct stream_writer *w)
{
	free(w->ram);
	w->ram = NULL;
}

int stream_write_header(struct stream_writer *w)
{
	uint8_t h[HDR_LEN];
	struct iovec iov = { h, sizeof(h) };

	memcpy(h, MAGIC, 8);
	stream_put32(h + 8, STREAM_VERSION);
	stream_put32(h + 12, 0);
	return write_all(w, &iov, 1);
}

/* A section whose payload's checksum is known already: header and payload in one system
 * call. */
static int write_section_crc(struct stream_writer *w, uint32_t type, const void *p, size_t len,
			     uint32_t crc)
{
	uint8_t h[SEC_HDR_LEN];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)p, len } };
	int ret;

	stream_put32(h, type);
	stream_put32(h + 4, 0);
	stream_put64(h + 8, len);
	stream_put32(h + 16, crc);
	stream_put32(h + 20, crc32c(&w->crc, 0, h, 20));
	ret = write_all(w, iov, len ? 2 : 1);
	if (!ret)
		w->sections++;
	return ret;
}

int stream_write_section(struct stream_writer *w, uint32_t type, const void *p, size_t len)
{
	return write_section_crc(w, type, p, len, crc32c(&w->crc, 0, p, len));
}

size_t stream_writer_buffered(const struct stream_writer *w)
{
	return w->ram_len + (w->run.data ? (size_t)w->run.pages * STREAM_PAGE : 0);
}

int stream_flush_ram(struct stream_writer *w)
{
	int ret;

	if (!w->ram_len)
		return 0;
	ret = write_section_crc(w, STREAM_SEC_RAM, w->ram, w->ram_len, w->ram_crc);
	w->ram_len = 0;
	w->ram_crc = 0;
	return ret;
}

/* Data pages the current section still takes: a section ends after a chunk of page data, so
 * that with a run header per page at most it fits STREAM_MAX_RAM. */
static uint32_t data_room(const struct stream_writer *w)
{
	return w->ram_len >= STREAM_RAM_CHUNK ? 0 :
	       (uint32_t)((STREAM_RAM_CHUNK - w->ram_len) / STREAM_PAGE);
}

/* Appends @run to the section (the caller kept it within data_room()) and writes the section
 * out once it holds a chunk. */
static int put_run(struct stream_writer *w, struct stream_run *run)
{
	uint8_t *h = w->ram + w->ram_len;

	if (!run->pages)
		return 0;
	stream_put64(h, run->gpa);
	stream_put32(h + 8, run->pages);
	stream_put32(h + 12, run->data ? 0 : RUN_ZERO);
	w->ram_crc = crc32c(&w->crc, w->ram_crc, h, RUN_HDR_LEN);
	w->ram_len += RUN_HDR_LEN;
	if (run->data) {
		size_t n = (size_t)run->pages * STREAM_PAGE;

		/* The checksum is of the bytes copied: the guest may be writing the page. */
		w->ram_crc = crc32c_copy(&w->crc, w->ram_crc, w->ram + w->ram_len, run->data, n);
		w->ram_len += n;
	}
	run->pages = 0;
	return w->ram_len >= STREAM_RAM_CHUNK ? stream_flush_ram(w) : 0;
}

/* Adds one page (@data NULL: a zero page) to @run, ending the run first where the page does
 * not continue it. */
static int add_page(struct stream_writer *w, struct stream_run *run, uint64_t gpa,
		    const uint8_t *data)
{
	int ret = 0;

	if (run->pages && (!run->data != !data || gpa != run->gpa + run->pages * STREAM_PAGE ||
			   (data ? run->pages >= data_room(w) : run->pages == UINT32_MAX)))
		ret = put_run(w, run);
	if (!ret && data && !data_room(w))
		ret = stream_flush_ram(w);
	if (ret)
		return ret;
	if (!run->pages)
		*run = (struct stream_run){ .gpa = gpa, .data = data };
	run->pages++;
	return 0;
}

int stream_write_page(struct stream_writer *w, uint64_t gpa, const void *page)
{
	int ret = add_page(w, &w->run, gpa, page);

	return ret ? ret : put_run(w, &w->run);
}

int stream_write_zero_page(struct stream_writer *w, uint64_t gpa)
{
	return stream_write_page(w, gpa, NULL);
}

int stream_write_end(struct stream_writer *w)
{
	uint8_t p[4];
	int ret = stream_flush_ram(w);

	stream_put32(p, w->sections);
	return ret ? ret : stream_write_section(w, STREAM_SEC_END, p, sizeof(p));
}

void stream_reader_init(struct stream_reader *r, int fd, const char *what)
{
	*r = (struct stream_reader){ .fd = fd, .what = what, .stop_fd = -1 };
	crc32c_init(&r->crc);
}

void stream_reader_watch(struct stream_reader *r, int stop_fd, int idle_ms)
{
	r->stop_fd = stop_fd;
	r->idle_ms = idle_ms;
}

/* Waits until the stream has data (or its end), unless the stop fd or the idle time comes
 * first: see stream_reader_watch(). */
static int wait_readable(struct stream_reader *r, const char *part, struct errmsg *err)
{
	struct pollfd p[2] = { { .fd = r->fd, .events = POLLIN }, { .fd = r->stop_fd, .events = POLLIN } };
	int n;

	if (r->stop_fd < 0 && !r->idle_ms)
		return 0;
	do
		n = poll(p, r->stop_fd < 0 ? 1 : 2, r->idle_ms ? r->idle_ms : -1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errmsg_set(err, -errno, "%s: waiting for %s: %s", r->what, part, strerror(errno));
	if (r->stop_fd >= 0 && p[1].revents)
		return errmsg_set(err, -EINTR, "%s: stopped by a signal while waiting for %s at byte %llu",
				  r->what, part, (unsigned long long)r->offset);
	if (!n)
		return errmsg_set(err, -ETIMEDOUT, "%s: nothing received for %g s while waiting for %s at byte %llu",
				  r->what, r->idle_ms / 1000.0, part, (unsigned long long)r->offset);
	return 0;
}

static int read_all(struct stream_reader *r, void *p, size_t len, const char *part,
		    struct errmsg *err)
{
	uint8_t *b = p;
	uint64_t start = r->offset;

	while (len) {
		int ret = wait_readable(r, part, err);
		ssize_t n;

		if (ret)
			return ret;
		n = read(r->fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errmsg_set(err, -errno, "%s: reading %s at byte %llu: %s", r->what, part,
					  (unsigned long long)r->offset, strerror(errno));
		if (n == 0)
			return errmsg_set(err, -EPIPE, "%s: truncated in %s at byte %llu (started at %llu)",
					  r->what, part, (unsigned long long)r->offset,
					  (unsigned long long)start);
		b += n;
		len -= (size_t)n;
		r->offset += (uint64_t)n;
	}
	return 0;
}

int stream_read_header(struct stream_reader *r, struct errmsg *err)
{
	uint8_t h[HDR_LEN];
	int ret = read_all(r, h, sizeof(h), "the header", err);

	if (ret)
		return ret;
	if (memcmp(h, MAGIC, 8))
		return errmsg_set(err, -EINVAL, "%s: not a minivmm snapshot or migration stream",
				  r->what);
	if (stream_get32(h + 8) != STREAM_VERSION)
		return errmsg_set(err, -EINVAL, "%s: stream version %u, this minivmm reads version %u",
				  r->what, stream_get32(h + 8), STREAM_VERSION);
	if (stream_get32(h + 12))
		return errmsg_set(err, -EINVAL, "%s: unknown stream flags 0x%x", r->what,
				  stream_get32(h + 12));
	return 0;
}

static const char *section_name(uint32_t type)
{
	switch (type) {
	case STREAM_SEC_CONFIG: return "CONFIG";
	case STREAM_SEC_STATE: return "STATE";
	case STREAM_SEC_RAM: return "RAM";
	case STREAM_SEC_DISK: return "DISK";
	case STREAM_SEC_END: return "END";
	default: return NULL;
	}
}

int stream_read_section_header(struct stream_reader *r, uint32_t *type, size_t *len,
			       struct errmsg *err)
{
	uint8_t h[SEC_HDR_LEN];
	uint64_t at = r->offset, n, max;
	const char *name;
	int ret = read_all(r, h, sizeof(h), "a section header", err);

	if (ret)
		return ret;
	if (crc32c(&r->crc, 0, h, 20) != stream_get32(h + 20))
		return errmsg_set(err, -EINVAL, "%s: section header at byte %llu is corrupt (checksum)",
				  r->what, (unsigned long long)at);
	*type = stream_get32(h);
	name = section_name(*type);
	if (!name)
		return errmsg_set(err, -EINVAL, "%s: unknown section type 0x%x at byte %llu", r->what,
				  *type, (unsigned long long)at);
	if (stream_get32(h + 4))
		return errmsg_set(err, -EINVAL, "%s: %s section with unknown flags 0x%x", r->what,
				  name, stream_get32(h + 4));
	n = stream_get64(h + 8);
	max = *type == STREAM_SEC_RAM ? STREAM_MAX_RAM : *type == STREAM_SEC_DISK ? STREAM_MAX_DISK :
	      *type == STREAM_SEC_END ? 4 : STREAM_MAX_FDT;
	if (n > max || (*type == STREAM_SEC_END && n != 4))
		return errmsg_set(err, -EINVAL, "%s: %s section of %llu bytes (at most %llu)", r->what,
				  name, (unsigned long long)n, (unsigned long long)max);
	r->sec = (struct stream_section_hdr){ .type = *type, .len = n, .crc = stream_get32(h + 16),
					      .at = at, .name = name };
	*len = n;
	return 0;
}

static int check_payload(struct stream_reader *r, uint32_t crc, struct errmsg *err)
{
	if (crc != r->sec.crc)
		return errmsg_set(err, -EINVAL, "%s: %s section at byte %llu is corrupt (checksum)",
				  r->what, r->sec.name, (unsigned long long)r->sec.at);
	return 0;
}

int stream_read_payload(struct stream_reader *r, uint8_t **payload, struct errmsg *err)
{
	size_t n = r->sec.len;
	uint8_t *p = malloc(n ? n : 1);
	int ret;

	*payload = NULL;
	if (!p)
		return errmsg_set(err, -ENOMEM, "%s: out of memory for a %s section", r->what,
				  r->sec.name);
	ret = read_all(r, p, n, r->sec.name, err);
	ret = ret ? ret : check_payload(r, crc32c(&r->crc, 0, p, n), err);
	if (!ret && r->sec.type == STREAM_SEC_END && stream_get32(p) != r->sections)
		ret = errmsg_set(err, -EINVAL, "%s: END says %u sections came before it, %u did",
				 r->what, stream_get32(p), r->sections);
	if (ret) {
		free(p);
		return ret;
	}
	r->sections++;
	*payload = p;
	return 0;
}

int stream_read_section(struct stream_reader *r, uint32_t *type, uint8_t **payload,
			size_t *len, struct errmsg *err)
{
	int ret = stream_read_section_header(r, type, len, err);

	*payload = NULL;
	return ret ? ret : stream_read_payload(r, payload, err);
}

/* Checks the run header at @h with @left payload bytes after it: its flags, that its pages
 * fit the payload (data runs) and lie wholly in guest RAM; *@dst is where they go. */
static int check_run(const uint8_t *h, size_t left, struct guest_mem *gm, uint64_t *bytes,
		     bool *zero, uint8_t **dst, struct errmsg *err)
{
	uint64_t gpa = stream_get64(h);
	uint32_t pages = stream_get32(h + 8), flags = stream_get32(h + 12);

	if (flags & ~RUN_ZERO)
		return errmsg_set(err, -EINVAL, "RAM section: run with unknown flags 0x%x", flags);
	*zero = flags & RUN_ZERO;
	*bytes = (uint64_t)pages * STREAM_PAGE;
	if (!pages || gpa % STREAM_PAGE || (!*zero && *bytes > left))
		return errmsg_set(err, -EINVAL,
				  "RAM section: run of %u pages at 0x%llx does not fit (%zu bytes left)",
				  pages, (unsigned long long)gpa, left);
	*dst = gm_ptr(gm, gpa, *bytes);
	if (!*dst)
		return errmsg_set(err, -EINVAL, "RAM section: %u pages at 0x%llx lie outside guest RAM",
				  pages, (unsigned long long)gpa);
	return 0;
}

/* A RAM section's payload as it is read: small pieces (run headers, a late round's scattered
 * pages) come through a read-ahead buffer, many per system call; pages of a long run are read
 * straight into guest RAM, in pieces still in the cache when the checksum reads them. Nothing
 * past the section's payload is read. */
#define RECEIVE_BUF (64u << 10)
#define RECEIVE_PIECE (256u << 10)

struct ram_in {
	struct stream_reader *r;
	uint8_t *buf;
	size_t pos, have;          /* buf[pos..have) not taken yet */
	size_t unread;             /* payload bytes still in the stream */
	uint32_t crc;              /* of the payload taken so far */
};

/* The payload's next @n bytes (the caller checked they are in it) into @dst. */
static int ram_take(struct ram_in *in, uint8_t *dst, size_t n, struct errmsg *err)
{
	const struct crc32c *c = &in->r->crc;

	while (n) {
		size_t k;
		int ret;

		if (in->pos == in->have && n >= RECEIVE_BUF) {
			k = n < RECEIVE_PIECE ? n : RECEIVE_PIECE;
			ret = read_all(in->r, dst, k, "RAM", err);
			if (ret)
				return ret;
			in->unread -= k;
			in->crc = crc32c(c, in->crc, dst, k);
		} else {
			if (in->pos == in->have) {
				k = in->unread < RECEIVE_BUF ? in->unread : RECEIVE_BUF;
				ret = read_all(in->r, in->buf, k, "RAM", err);
				if (ret)
					return ret;
				in->unread -= k;
				in->pos = 0;
				in->have = k;
			}
			k = n < in->have - in->pos ? n : in->have - in->pos;
			in->crc = crc32c_copy(c, in->crc, dst, in->buf + in->pos, k);
			in->pos += k;
		}
		dst += k;
		n -= k;
	}
	return 0;
}

int stream_receive_ram(struct stream_reader *r, struct guest_mem *gm, struct errmsg *err)
{
	struct ram_in in = { .r = r, .unread = r->sec.len };
	size_t len = r->sec.len, off = 0;
	uint64_t covered = 0;
	int ret = 0;

	in.buf = malloc(RECEIVE_BUF);
	if (!in.buf)
		return errmsg_set(err, -ENOMEM, "%s: out of memory for a RAM section", r->what);
	while (off < len && !ret) {
		uint8_t h[RUN_HDR_LEN], *dst = NULL;
		uint64_t bytes = 0;
		bool zero = false;

		if (len - off < RUN_HDR_LEN) {
			ret = errmsg_set(err, -EINVAL, "RAM section: a run header cut short");
			break;
		}
		ret = ram_take(&in, h, sizeof(h), err);
		ret = ret ? ret : check_run(h, len - off - RUN_HDR_LEN, gm, &bytes, &zero, &dst, err);
		if (ret)
			break;
		/* A sender visits each page once per section, so its runs add up to the RAM at
		 * most. Without this bound a zero run's 16 bytes cost a memset of up to all of
		 * RAM, as many times as a section holds headers (half a million). */
		covered += bytes;
		if (covered > gm->size) {
			ret = errmsg_set(err, -EINVAL, "RAM section: its runs cover %llu bytes, more than the guest's %llu bytes of RAM",
					 (unsigned long long)covered, (unsigned long long)gm->size);
			break;
		}
		off += RUN_HDR_LEN;
		if (zero) {
			memset(dst, 0, bytes);
			continue;
		}
		off += bytes;
		ret = ram_take(&in, dst, bytes, err);
	}
	free(in.buf);
	ret = ret ? ret : check_payload(r, in.crc, err);
	if (!ret)
		r->sections++;
	return ret;
}

int stream_read_next(struct stream_reader *r, struct guest_mem *gm, uint32_t *type,
		     uint8_t **payload, size_t *len, struct errmsg *err)
{
	int ret = stream_read_section_header(r, type, len, err);

	*payload = NULL;
	if (ret)
		return ret;
	return *type == STREAM_SEC_RAM ? stream_receive_ram(r, gm, err) :
					 stream_read_payload(r, payload, err);
}

int stream_write_ram(struct stream_writer *w, const struct guest_mem *gm, uint64_t *const *dirty,
		     bool skip_zero, stream_tick_fn tick, void *arg)
{
	uint64_t done = 0, unpopulated[GM_PAGEMAP_BATCH / 64] = { 0 };
	bool known = false;
	int ret = 0;

	for (unsigned r = 0; r < gm->nr_regions && !ret; r++) {
		const struct gm_region *reg = &gm->regions[r];
		uint64_t pages = reg->size / STREAM_PAGE;

		for (uint64_t pg = 0; pg < pages && !ret; pg++) {
			uint64_t gpa = reg->gpa + pg * STREAM_PAGE, *word;
			const uint8_t *page;

			if (dirty && !(dirty[r][pg / 64] >> (pg % 64) & 1)) {
				/* Skip clean words whole: most of a late round's bitmap is zero. */
				if (!dirty[r][pg / 64])
					pg |= 63;
				continue;
			}
			/* A whole pass to fresh RAM skips pages the guest never touched without
			 * reading them: a read would fault in the zero page, most of an idle
			 * guest's time. A page populated after the look is in the dirty log. */
			if (!dirty && skip_zero && pg % GM_PAGEMAP_BATCH == 0)
				known = !gm_unpopulated(gm, gpa, (unsigned)(pages - pg < GM_PAGEMAP_BATCH ?
									  pages - pg : GM_PAGEMAP_BATCH),
							unpopulated);
			word = &unpopulated[pg % GM_PAGEMAP_BATCH / 64];
			if (known && *word >> (pg % 64) & 1) {
				if (*word == UINT64_MAX)
					pg |= 63;
				continue;
			}
			page = gm_ptr(gm, gpa, STREAM_PAGE);
			if (!page)
				continue;
			if (!stream_page_is_zero(page))
				ret = add_page(w, &w->run, gpa, page);
			else if (!skip_zero)
				ret = add_page(w, &w->run, gpa, NULL);
			if (!ret && tick && ++done % STREAM_TICK_PAGES == 0)
				ret = tick(arg, done);
		}
	}
	ret = ret ? ret : put_run(w, &w->run);
	return ret ? ret : stream_flush_ram(w);
}

bool stream_page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (unsigned i = 0; i < STREAM_PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}
