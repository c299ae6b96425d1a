/* The minivmm state stream: what a snapshot file holds and what live migration sends.
 *
 *   stream header   "MVMSTATE", version (u32), flags (u32)                          16 bytes
 *   section         type, flags (u32 each), payload length (u64), payload CRC-32C,
 *                   CRC-32C of these first 20 header bytes (u32), then the payload   24 + n
 *   ...
 *   END section     payload: the number of sections before it (u32)
 *
 * All integers little-endian. Sections: CONFIG (an FDT: what the VM is, checked against the
 * restoring VM before any RAM), STATE (an FDT: VM, vCPUs, devices), RAM (runs of pages: gpa
 * (u64), page count (u32), flags (u32), then the pages; flag 1: the run's pages are zero and
 * carry no data; pages not sent are zero on a fresh VM and unchanged on a migration
 * destination), DISK (a migration's disk contents without shared storage: the layout is in
 * migrate/disk_stream.h). A reader treats every byte as
 * hostile: the header's own CRC is checked before its length is believed, lengths are bounded
 * per section type, payloads are checked before use, RAM runs must lie in guest RAM. */
#ifndef MINIVMM_STREAM_H
#define MINIVMM_STREAM_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "migrate/crc32c.h"
#include "vmm/errmsg.h"
#include "vmm/memory.h"

#define STREAM_VERSION 1
#define STREAM_PAGE 4096u

enum stream_section {
	STREAM_SEC_CONFIG = 1,
	STREAM_SEC_STATE = 2,
	STREAM_SEC_RAM = 3,
	STREAM_SEC_DISK = 4,      /* a disk's contents (migrate/disk_stream.h) */
	STREAM_SEC_END = 0x454e44, /* "END" */
};

/* Largest payloads a reader accepts (a hostile length allocates no more). */
#define STREAM_MAX_FDT (16u << 20)
#define STREAM_RAM_CHUNK (8u << 20)  /* page data per RAM section */
#define STREAM_MAX_RAM (STREAM_RAM_CHUNK + STREAM_RAM_CHUNK / STREAM_PAGE * 16)
#define STREAM_MAX_DISK (STREAM_RAM_CHUNK + (64u << 10))

/* Little-endian fields of payloads (memcpy: payloads are not aligned). */
static inline void stream_put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void stream_put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline uint32_t stream_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t stream_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* A run of pages on its way into a RAM section: consecutive guest pages of one kind, held as a
 * pointer to the first until the run ends, then copied in one pass that also checksums them. */
struct stream_run {
	uint64_t gpa;
	const uint8_t *data;           /* NULL: a zero run */
	uint32_t pages;
};

struct stream_writer {
	int fd;
	struct crc32c crc;
	uint32_t sections;
	uint64_t bytes;                /* written so far, for progress */
	/* RAM section being filled */
	uint8_t *ram;
	size_t ram_len;
	uint32_t ram_crc;              /* of ram[0..ram_len) */
	struct stream_run run;         /* pages that go into it next */
};

int stream_writer_init(struct stream_writer *w, int fd) __attribute__((warn_unused_result));
void stream_writer_free(struct stream_writer *w);
/* The stream header. */
int stream_write_header(struct stream_writer *w) __attribute__((warn_unused_result));
int stream_write_section(struct stream_writer *w, uint32_t type, const void *p, size_t len)
	__attribute__((warn_unused_result));
/* Adds one page to the current RAM section, as a run of its own; a full section is written
 * out. All-zero pages are the caller's to skip. */
int stream_write_page(struct stream_writer *w, uint64_t gpa, const void *page)
	__attribute__((warn_unused_result));
/* A page that is zero, as a run flag without data (a migration resends a page that became
 * zero; a snapshot skips them). */
int stream_write_zero_page(struct stream_writer *w, uint64_t gpa) __attribute__((warn_unused_result));
/* Bytes of RAM section not written yet (the bandwidth limit counts them as sent). */
size_t stream_writer_buffered(const struct stream_writer *w);
/* Writes what stream_write_page() collected (no-op when nothing). */
int stream_flush_ram(struct stream_writer *w) __attribute__((warn_unused_result));
/* Flushes RAM and writes END. */
int stream_write_end(struct stream_writer *w) __attribute__((warn_unused_result));

/* The section whose payload a reader reads next. */
struct stream_section_hdr {
	uint32_t type;
	uint32_t crc;                  /* its payload's */
	size_t len;
	uint64_t at;                   /* the header's offset, for errors */
	const char *name;
};

struct stream_reader {
	int fd;
	struct crc32c crc;
	struct stream_section_hdr sec;
	uint64_t offset;
	uint32_t sections;
	const char *what;              /* names the source in errors: a file name, "stream" */
	int stop_fd;                   /* see stream_reader_watch(); -1: none */
	int idle_ms;                   /* 0: wait for data for ever */
};

void stream_reader_init(struct stream_reader *r, int fd, const char *what);
/* While the reader waits for data: @stop_fd (the VM's signalfd: the signals that stop a VM
 * are blocked and arrive only there) becoming readable ends the read with -EINTR, and
 * @idle_ms (0: none) without a byte with -ETIMEDOUT. Without it a peer that stops sending
 * holds the reader until SIGKILL. Nothing is read from @stop_fd. */
void stream_reader_watch(struct stream_reader *r, int stop_fd, int idle_ms);
int stream_read_header(struct stream_reader *r, struct errmsg *err)
	__attribute__((warn_unused_result));
/* The next section, checked: *payload is malloc'd (the caller frees it), *type one of the
 * known ones. END is returned after its count was checked. */
int stream_read_section(struct stream_reader *r, uint32_t *type, uint8_t **payload,
			size_t *len, struct errmsg *err) __attribute__((warn_unused_result));
/* The same in two steps, so that a RAM section's pages can go straight into guest RAM: the
 * header (type known, length within the type's bound), then stream_read_payload() or, for
 * RAM, stream_receive_ram(). */
int stream_read_section_header(struct stream_reader *r, uint32_t *type, size_t *len,
			       struct errmsg *err) __attribute__((warn_unused_result));
int stream_read_payload(struct stream_reader *r, uint8_t **payload, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Reads a RAM section's runs into @gm without a copy: each run header is checked before its
 * pages are read, and every run must lie in guest RAM, but the section's checksum can only be
 * checked at its end. A section refused for its checksum has written guest RAM: the caller
 * must not run that VM (a destination or a restore that fails never does). */
int stream_receive_ram(struct stream_reader *r, struct guest_mem *gm, struct errmsg *err)
	__attribute__((warn_unused_result));
/* The next section as a destination or a restore reads it: RAM straight into @gm (*payload
 * NULL: see stream_receive_ram()), any other type's payload malloc'd in *payload. */
int stream_read_next(struct stream_reader *r, struct guest_mem *gm, uint32_t *type,
		     uint8_t **payload, size_t *len, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Called every STREAM_TICK_PAGES pages by stream_write_ram() with the pages looked at so far;
 * a non-zero return stops it and is returned (progress lines, cancel, bandwidth limit). */
#define STREAM_TICK_PAGES 256
typedef int (*stream_tick_fn)(void *arg, uint64_t pages_done);

/* Writes the pages of @gm whose bit is set in @dirty[r] (a bit per page of region r, from its
 * start), or every page when @dirty is NULL (pages never populated are skipped unread then,
 * with @skip_zero: gm_unpopulated()). A zero page is skipped with @skip_zero (the
 * receiver's RAM is fresh and zero), else sent as a zero run (it may hold older data there).
 * RAM is read while the guest may write it: a torn page is resent by the caller's next
 * round, which its dirty log shows. */
int stream_write_ram(struct stream_writer *w, const struct guest_mem *gm, uint64_t *const *dirty,
		     bool skip_zero, stream_tick_fn tick, void *arg) __attribute__((warn_unused_result));

/* True when the page holds only zeros. */
bool stream_page_is_zero(const void *page);

#endif
