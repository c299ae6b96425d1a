/* Disks copied with a live migration: see migrate/disk_stream.h. */
#include "migrate/disk_stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk_copy.h"
#include "virtio/blk.h"
#include "vmm/vm.h"

#define SEC_HDR 8u
#define RUN_HDR 16u
#define FLAG_BEGIN 1u
#define FLAG_TOP 2u
#define RUN_ZERO 1u
/* A zero run's length is a u32: whole blocks up to 1 GiB. */
#define MAX_ZERO_RUN (1u << 30)

struct copied_disk {
	struct disk *d;
	uint32_t index;             /* the n-th --disk */
	bool top_only;
	uint64_t *todo;             /* blocks still to send */
};

struct disk_stream {
	unsigned n;
	struct copied_disk disk[VM_MAX_DISKS];
	void *block;                /* one block read (aligned for O_DIRECT) */
	uint8_t *buf;               /* the DISK section being filled */
	size_t len;
	int cur;                    /* whose section buf is (-1: empty) */
	size_t run;                 /* the open run's header in buf, or SIZE_MAX */
	uint64_t run_end;           /* where on the disk the open run ends */
	bool run_zero;
};

void disk_stream_free(struct disk_stream *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		free(s->disk[i].todo);
	free(s->block);
	free(s->buf);
	free(s);
}

void disk_stream_stop(struct disk_stream *s)
{
	for (unsigned i = 0; s && i < s->n; i++)
		disk_track_stop(s->disk[i].d);
}

int disk_stream_start(struct vm *vm, enum disk_stream_mode mode, struct disk_stream **out,
		      struct errmsg *err)
{
	struct disk *disks[VM_MAX_DISKS];
	struct disk_stream *s;
	unsigned nr;

	*out = NULL;
	if (mode == DISK_STREAM_SHARED)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s || posix_memalign(&s->block, 4096, DISK_COPY_BLOCK) ||
	    !(s->buf = malloc(STREAM_MAX_DISK))) {
		disk_stream_free(s);
		return errmsg_set(err, -ENOMEM, "out of memory for the disks' copy");
	}
	s->cur = -1;
	s->run = SIZE_MAX;
	nr = disk_stream_vm_disks(vm, disks);
	for (unsigned i = 0; i < nr; i++) {
		struct disk *d = disks[i];
		struct copied_disk *c = &s->disk[s->n];

		if (!d || d->readonly)
			continue;
		c->d = d;
		c->index = i;
		c->top_only = mode == DISK_STREAM_COPY_TOP && disk_has_backing(d);
		c->todo = malloc(disk_track_words(d) * sizeof(uint64_t) + sizeof(uint64_t));
		if (!c->todo) {
			disk_stream_free(s);
			return errmsg_set(err, -ENOMEM, "out of memory for the disks' copy");
		}
		/* Every block, then those the guest changes meanwhile. */
		memset(c->todo, 0xff, disk_track_words(d) * sizeof(uint64_t));
		if (disk_copy_blocks(d) % 64)
			c->todo[disk_track_words(d) - 1] = (1ULL << (disk_copy_blocks(d) % 64)) - 1;
		s->n++;
		/* On failure the bitmaps already on stay on: the VM runs, and the I/O thread may
		 * be marking them (a later migration takes them as they are). */
		if (disk_track_start(d)) {
			disk_stream_free(s);
			return errmsg_set(err, -ENOMEM, "out of memory for the disks' copy");
		}
	}
	if (!s->n) {
		disk_stream_free(s);
		return 0;
	}
	*out = s;
	return 0;
}

int disk_stream_begin(struct disk_stream *s, struct stream_writer *w, struct errmsg *err)
{
	for (unsigned i = 0; i < s->n; i++) {
		uint8_t p[SEC_HDR];
		int ret;

		stream_put32(p, s->disk[i].index);
		stream_put32(p + 4, FLAG_BEGIN | (s->disk[i].top_only ? FLAG_TOP : 0));
		ret = stream_write_section(w, STREAM_SEC_DISK, p, sizeof(p));
		if (ret)
			return errmsg_set(err, ret, "sending the disks' list: %s", strerror(-ret));
	}
	return 0;
}

uint64_t disk_stream_collect(struct disk_stream *s)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; s && i < s->n; i++) {
		struct copied_disk *c = &s->disk[i];
		uint64_t n = 0;

		disk_track_collect(c->d, c->todo);
		for (uint64_t j = 0; j < disk_track_words(c->d); j++)
			n += (uint64_t)__builtin_popcountll(c->todo[j]);
		bytes += n * DISK_COPY_BLOCK;
	}
	return bytes;
}

size_t disk_stream_buffered(const struct disk_stream *s)
{
	return s ? s->len : 0;
}

static int flush_section(struct disk_stream *s, struct stream_writer *w)
{
	int ret = 0;

	if (s->cur >= 0 && s->len > SEC_HDR)
		ret = stream_write_section(w, STREAM_SEC_DISK, s->buf, s->len);
	s->cur = -1;
	s->len = 0;
	s->run = SIZE_MAX;
	return ret;
}

/* Appends a block to the section (a zero block carries no bytes), extending the open run
 * when it continues it. */
static int add_block(struct disk_stream *s, struct stream_writer *w, const struct copied_disk *c,
		     uint64_t off, uint32_t len, bool zero, const void *data)
{
	size_t need = zero ? 0 : len;
	int ret;

	if (s->cur >= 0 && (uint32_t)s->cur != c->index && (ret = flush_section(s, w)))
		return ret;
	if (s->run != SIZE_MAX && s->run_end == off && s->run_zero == zero &&
	    s->len + need <= STREAM_MAX_DISK &&
	    (!zero || stream_get32(s->buf + s->run + 8) + (uint64_t)len <= MAX_ZERO_RUN)) {
		stream_put32(s->buf + s->run + 8, stream_get32(s->buf + s->run + 8) + len);
	} else {
		if (s->len + RUN_HDR + need > STREAM_MAX_DISK && (ret = flush_section(s, w)))
			return ret;
		if (s->cur < 0) {
			stream_put32(s->buf, c->index);
			stream_put32(s->buf + 4, 0);
			s->len = SEC_HDR;
			s->cur = (int)c->index;
		}
		s->run = s->len;
		stream_put64(s->buf + s->len, off);
		stream_put32(s->buf + s->len + 8, len);
		stream_put32(s->buf + s->len + 12, zero ? RUN_ZERO : 0);
		s->len += RUN_HDR;
		s->run_zero = zero;
	}
	if (!zero)
		memcpy(s->buf + s->len, data, len);
	s->len += need;
	s->run_end = off + len;
	return 0;
}

static int send_disk(struct disk_stream *s, struct stream_writer *w, struct copied_disk *c,
		     stream_tick_fn tick, void *arg, struct errmsg *err)
{
	struct disk *d = c->d;

	for (uint64_t j = 0; j < disk_track_words(d); j++) {
		while (c->todo[j]) {
			uint64_t b = j * 64 + (uint64_t)__builtin_ctzll(c->todo[j]);
			uint64_t off = b << DISK_COPY_BLOCK_BITS;
			uint32_t len = (uint32_t)(d->size - off < DISK_COPY_BLOCK ? d->size - off : DISK_COPY_BLOCK);
			enum disk_extent kind;
			int ret;

			/* Cleared before the read: a write landing after it marks the block again. */
			c->todo[j] &= c->todo[j] - 1;
			ret = disk_copy_read(d, off, len, c->top_only, s->block, &kind);
			if (ret)
				return errmsg_set(err, ret, "reading disk %u (%s) at byte %llu: %s",
						  c->index, d->path, (unsigned long long)off, strerror(-ret));
			if (kind != DISK_EXTENT_BACKING &&
			    (ret = add_block(s, w, c, off, len, kind == DISK_EXTENT_ZERO, s->block)))
				return errmsg_set(err, ret, "sending disk %u: %s", c->index, strerror(-ret));
			if (tick && (ret = tick(arg, 0)))
				return errmsg_set(err, ret, "%s", ret == -ECANCELED ? "cancelled" : strerror(-ret));
		}
	}
	return 0;
}

int disk_stream_send(struct disk_stream *s, struct stream_writer *w, stream_tick_fn tick,
		     void *arg, struct errmsg *err)
{
	int ret = 0;

	for (unsigned i = 0; s && i < s->n && !ret; i++)
		ret = send_disk(s, w, &s->disk[i], tick, arg, err);
	if (!ret && s && (ret = flush_section(s, w)))
		errmsg_set(err, ret, "sending a disk: %s", strerror(-ret));
	return ret;
}

/* ---- the destination ---- */

unsigned disk_stream_vm_disks(struct vm *vm, struct disk **disks)
{
	for (unsigned i = 0; i < vm->cfg->nr_disks; i++)
		disks[i] = vm->blk[i] ? virtio_blk_disk(vm->blk[i]) : NULL;
	return vm->cfg->nr_disks;
}

int disk_stream_apply(struct disk *const *disks, unsigned n, const uint8_t *p, size_t len,
		      struct errmsg *err)
{
	uint32_t idx, flags;
	struct disk *d;
	size_t pos = SEC_HDR;
	uint64_t zeroed = 0;

	if (len < SEC_HDR)
		return errmsg_set(err, -EINVAL, "DISK section of %zu bytes", len);
	idx = stream_get32(p);
	flags = stream_get32(p + 4);
	if (idx >= n || !(d = disks[idx]))
		return errmsg_set(err, -EINVAL, "DISK section for disk %u; this VM has %u", idx, n);
	if (flags & ~(FLAG_BEGIN | FLAG_TOP) || (flags & FLAG_TOP && !(flags & FLAG_BEGIN)))
		return errmsg_set(err, -EINVAL, "DISK section for disk %u with unknown flags 0x%x", idx, flags);
	if (flags & FLAG_BEGIN) {
		if (len != SEC_HDR)
			return errmsg_set(err, -EINVAL, "DISK section: disk %u's BEGIN carries %zu bytes",
					  idx, len - SEC_HDR);
		return disk_copy_target(d, flags & FLAG_TOP, err);
	}
	if (!d->copy_target)
		return errmsg_set(err, -EINVAL, "DISK section: data for disk %u before its BEGIN", idx);
	while (pos < len) {
		uint64_t off;
		uint32_t rl, rf;
		int ret;

		if (len - pos < RUN_HDR)
			return errmsg_set(err, -EINVAL, "DISK section for disk %u: a run header cut short", idx);
		off = stream_get64(p + pos);
		rl = stream_get32(p + pos + 8);
		rf = stream_get32(p + pos + 12);
		pos += RUN_HDR;
		if (rf & ~RUN_ZERO)
			return errmsg_set(err, -EINVAL, "DISK section for disk %u: a run with unknown flags 0x%x",
					  idx, rf);
		if (!rl || (off | rl) & 511 || off > d->size || rl > d->size - off)
			return errmsg_set(err, -EINVAL, "DISK section for disk %u: run of %u bytes at byte %llu is not whole sectors inside its %llu bytes",
					  idx, rl, (unsigned long long)off, (unsigned long long)d->size);
		if (!(rf & RUN_ZERO) && rl > len - pos)
			return errmsg_set(err, -EINVAL, "DISK section for disk %u: a run of %u bytes with %zu left",
					  idx, rl, len - pos);
		/* As the sender makes them: a zero run of 1 GiB at most, and each block once per
		 * section. Otherwise 16 bytes of stream could ask for 4 GiB of zeros (written out
		 * where the storage cannot punch holes), half a million times a section. */
		zeroed += rf & RUN_ZERO ? rl : 0;
		if (rf & RUN_ZERO && (rl > MAX_ZERO_RUN || zeroed > d->size))
			return errmsg_set(err, -EINVAL, "DISK section for disk %u: a zero run of %u bytes at byte %llu (at most %u each, and the disk's %llu bytes a section)",
					  idx, rl, (unsigned long long)off, MAX_ZERO_RUN,
					  (unsigned long long)d->size);
		ret = rf & RUN_ZERO ? disk_copy_zero(d, off, rl) : disk_copy_write(d, off, p + pos, rl);
		if (ret == -EPERM)
			return errmsg_set(err, ret, "--disk path=%s: the source's disk starts with a qcow2 header, refused on a raw image whose format is probed (give it format=raw, here and on the source)",
					  d->path);
		if (ret)
			return errmsg_set(err, ret, "--disk path=%s: writing %u bytes at byte %llu: %s",
					  d->path, rl, (unsigned long long)off, strerror(-ret));
		if (!(rf & RUN_ZERO))
			pos += rl;
	}
	return 0;
}

int disk_stream_finish(struct vm *vm, struct errmsg *err)
{
	struct disk *disks[VM_MAX_DISKS];
	unsigned n = disk_stream_vm_disks(vm, disks);

	for (unsigned i = 0; i < n; i++) {
		struct disk *d = disks[i];
		int ret;

		if (d && d->copy_target && (ret = disk_copy_flush(d)))
			return errmsg_set(err, ret, "--disk path=%s: flushing the copy: %s", d->path,
					  strerror(-ret));
	}
	return 0;
}
