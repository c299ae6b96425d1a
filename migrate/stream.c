#include "migrate/stream.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define MAGIC "MVMSTATE"
#define HDR_LEN 16
#define SEC_HDR_LEN 24
#define RUN_HDR_LEN 16
#define NO_RUN SIZE_MAX
/* Run flag: the run's pages are zero and carry no data (a migration's page that was sent and
 * has since become zero; a fresh VM's RAM needs none). */
#define RUN_ZERO 1u

static int write_all(struct stream_writer *w, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len) {
		ssize_t n = write(w->fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		b += n;
		len -= (size_t)n;
		w->bytes += (uint64_t)n;
	}
	return 0;
}

int stream_writer_init(struct stream_writer *w, int fd)
{
	*w = (struct stream_writer){ .fd = fd, .crc = crc32c_pick(), .run_hdr = NO_RUN };
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

	memcpy(h, MAGIC, 8);
	stream_put32(h + 8, STREAM_VERSION);
	stream_put32(h + 12, 0);
	return write_all(w, h, sizeof(h));
}

int stream_write_section(struct stream_writer *w, uint32_t type, const void *p, size_t len)
{
	uint8_t h[SEC_HDR_LEN];
	int ret;

	stream_put32(h, type);
	stream_put32(h + 4, 0);
	stream_put64(h + 8, len);
	stream_put32(h + 16, w->crc(0, p, len));
	stream_put32(h + 20, w->crc(0, h, 20));
	ret = write_all(w, h, sizeof(h));
	ret = ret ? ret : write_all(w, p, len);
	if (!ret)
		w->sections++;
	return ret;
}

int stream_flush_ram(struct stream_writer *w)
{
	int ret;

	if (!w->ram_len)
		return 0;
	ret = stream_write_section(w, STREAM_SEC_RAM, w->ram, w->ram_len);
	w->ram_len = 0;
	w->run_hdr = NO_RUN;
	return ret;
}

/* Adds a page to the open run when it continues it (same kind, next address), else opens a
 * new run; a section is flushed once its pages reach a chunk, so with at most one run header
 * per page the buffer holds. */
static int add_page(struct stream_writer *w, uint64_t gpa, const void *page)
{
	uint32_t flags = page ? 0 : RUN_ZERO;
	int ret;

	if (w->ram_len + RUN_HDR_LEN + STREAM_PAGE > STREAM_MAX_RAM) {
		ret = stream_flush_ram(w);
		if (ret)
			return ret;
	}
	if (w->run_hdr == NO_RUN || gpa != w->run_next_gpa ||
	    stream_get32(w->ram + w->run_hdr + 12) != flags) {
		w->run_hdr = w->ram_len;
		stream_put64(w->ram + w->ram_len, gpa);
		stream_put32(w->ram + w->ram_len + 8, 0);
		stream_put32(w->ram + w->ram_len + 12, flags);
		w->ram_len += RUN_HDR_LEN;
	}
	if (page) {
		memcpy(w->ram + w->ram_len, page, STREAM_PAGE);
		w->ram_len += STREAM_PAGE;
	}
	stream_put32(w->ram + w->run_hdr + 8, stream_get32(w->ram + w->run_hdr + 8) + 1);
	w->run_next_gpa = gpa + STREAM_PAGE;
	/* A section holds at most a chunk of pages (zero runs: a chunk's worth of headers at
	 * most): start a new run in the next one. */
	if (w->ram_len >= STREAM_RAM_CHUNK)
		return stream_flush_ram(w);
	return 0;
}

int stream_write_page(struct stream_writer *w, uint64_t gpa, const void *page)
{
	return add_page(w, gpa, page);
}

int stream_write_zero_page(struct stream_writer *w, uint64_t gpa)
{
	return add_page(w, gpa, NULL);
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
	*r = (struct stream_reader){ .fd = fd, .crc = crc32c_pick(), .what = what };
}

static int read_all(struct stream_reader *r, void *p, size_t len, const char *part,
		    struct errmsg *err)
{
	uint8_t *b = p;
	uint64_t start = r->offset;

	while (len) {
		ssize_t n = read(r->fd, b, len);

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

int stream_read_section(struct stream_reader *r, uint32_t *type, uint8_t **payload,
			size_t *len, struct errmsg *err)
{
	uint8_t h[SEC_HDR_LEN];
	uint64_t at = r->offset, n, max;
	const char *name;
	uint8_t *p;
	int ret = read_all(r, h, sizeof(h), "a section header", err);

	*payload = NULL;
	if (ret)
		return ret;
	if (r->crc(0, h, 20) != stream_get32(h + 20))
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
	p = malloc(n ? n : 1);
	if (!p)
		return errmsg_set(err, -ENOMEM, "%s: out of memory for a %s section", r->what, name);
	ret = read_all(r, p, n, name, err);
	if (!ret && r->crc(0, p, n) != stream_get32(h + 16))
		ret = errmsg_set(err, -EINVAL, "%s: %s section at byte %llu is corrupt (checksum)",
				 r->what, name, (unsigned long long)at);
	if (!ret && *type == STREAM_SEC_END && stream_get32(p) != r->sections)
		ret = errmsg_set(err, -EINVAL, "%s: END says %u sections came before it, %u did",
				 r->what, stream_get32(p), r->sections);
	if (ret) {
		free(p);
		return ret;
	}
	r->sections++;
	*payload = p;
	*len = n;
	return 0;
}

int stream_apply_ram(const uint8_t *payload, size_t len, struct guest_mem *gm,
		     struct errmsg *err)
{
	size_t off = 0;

	while (off < len) {
		uint64_t gpa, bytes;
		uint32_t pages, flags;
		void *dst;

		if (len - off < RUN_HDR_LEN)
			return errmsg_set(err, -EINVAL, "RAM section: a run header cut short");
		gpa = stream_get64(payload + off);
		pages = stream_get32(payload + off + 8);
		flags = stream_get32(payload + off + 12);
		if (flags & ~RUN_ZERO)
			return errmsg_set(err, -EINVAL, "RAM section: run with unknown flags 0x%x", flags);
		off += RUN_HDR_LEN;
		bytes = (uint64_t)pages * STREAM_PAGE;
		if (!pages || gpa % STREAM_PAGE || (!(flags & RUN_ZERO) && bytes > len - off))
			return errmsg_set(err, -EINVAL,
					  "RAM section: run of %u pages at 0x%llx does not fit (%zu bytes left)",
					  pages, (unsigned long long)gpa, len - off);
		dst = gm_ptr(gm, gpa, bytes);
		if (!dst)
			return errmsg_set(err, -EINVAL,
					  "RAM section: %u pages at 0x%llx lie outside guest RAM", pages,
					  (unsigned long long)gpa);
		if (flags & RUN_ZERO) {
			memset(dst, 0, bytes);
			continue;
		}
		memcpy(dst, payload + off, bytes);
		off += bytes;
	}
	return 0;
}

int stream_write_ram(struct stream_writer *w, const struct guest_mem *gm, uint64_t *const *dirty,
		     bool skip_zero, stream_tick_fn tick, void *arg)
{
	uint64_t done = 0;
	int ret = 0;

	for (unsigned r = 0; r < gm->nr_regions && !ret; r++) {
		const struct gm_region *reg = &gm->regions[r];
		uint64_t pages = reg->size / STREAM_PAGE;

		for (uint64_t pg = 0; pg < pages && !ret; pg++) {
			const uint8_t *page;

			if (dirty && !(dirty[r][pg / 64] >> (pg % 64) & 1)) {
				/* Skip clean words whole: most of a late round's bitmap is zero. */
				if (!dirty[r][pg / 64])
					pg |= 63;
				continue;
			}
			page = gm_ptr(gm, reg->gpa + pg * STREAM_PAGE, STREAM_PAGE);
			if (!page)
				continue;
			if (!stream_page_is_zero(page))
				ret = stream_write_page(w, reg->gpa + pg * STREAM_PAGE, page);
			else if (!skip_zero)
				ret = stream_write_zero_page(w, reg->gpa + pg * STREAM_PAGE);
			if (!ret && tick && ++done % STREAM_TICK_PAGES == 0)
				ret = tick(arg, done);
		}
	}
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
