/* Disks that travel with a live migration when the two hosts share no storage
 * (`migrate disks=copy` or `disks=copy-top`): the source sends every writable disk's
 * contents during pre-copy while its block layer marks the blocks the guest changes
 * (block/disk_copy.h), sends those again each round, and the last ones while the VM is
 * paused; the destination writes them into its own images before the VM runs there.
 *
 * DISK section payload (little-endian):
 *   disk index (u32: the n-th --disk), flags (u32)
 *   flags BEGIN: no more; the disk is copied in this stream (the destination takes its image
 *     now: its lock, refused if another process holds it); with TOP, only what the source's
 *     qcow2 image holds above its backing file comes (the destination's image must be a new
 *     one over the same backing file)
 *   else runs until the end: offset (u64), length (u32), flags (u32: ZERO), then the bytes
 *     unless ZERO; offsets and lengths in whole 512-byte sectors, inside the disk.
 * Read-only disks are not copied: the same image must be on both hosts. */
#ifndef MINIVMM_DISK_STREAM_H
#define MINIVMM_DISK_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "migrate/stream.h"
#include "vmm/errmsg.h"

struct disk;
struct vm;
struct disk_stream;

enum disk_stream_mode {
	DISK_STREAM_SHARED,    /* both hosts see the same images: nothing to send */
	DISK_STREAM_COPY,      /* the whole guest-visible disk */
	DISK_STREAM_COPY_TOP,  /* qcow2 over a backing file: the top image only */
};

/* Source, migration thread: starts tracking every writable disk's changes, with every block
 * still to send. NULL in *@out when there is no writable disk. */
int disk_stream_start(struct vm *vm, enum disk_stream_mode mode, struct disk_stream **out,
		      struct errmsg *err) __attribute__((warn_unused_result));
/* The BEGIN sections. */
int disk_stream_begin(struct disk_stream *s, struct stream_writer *w, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Adds the blocks changed since the last call to those still to send; returns the bytes to
 * send. */
uint64_t disk_stream_collect(struct disk_stream *s);
/* Sends the blocks still to send (@tick every block, as stream_write_ram's). */
int disk_stream_send(struct disk_stream *s, struct stream_writer *w, stream_tick_fn tick,
		     void *arg, struct errmsg *err) __attribute__((warn_unused_result));
/* Bytes collected for the DISK section being filled, not written yet (NULL: 0). */
size_t disk_stream_buffered(const struct disk_stream *s);
/* Stops the tracking: only while the VM is paused (no request in flight). */
void disk_stream_stop(struct disk_stream *s);
void disk_stream_free(struct disk_stream *s);

/* The VM's disks in --disk order (NULL where a disk has no device), for the calls below;
 * returns how many. @disks holds VM_MAX_DISKS. */
unsigned disk_stream_vm_disks(struct vm *vm, struct disk **disks);
/* Destination: one DISK section, checked (every byte is hostile), applied to @disks[0..n). */
int disk_stream_apply(struct disk *const *disks, unsigned n, const uint8_t *p, size_t len,
		      struct errmsg *err) __attribute__((warn_unused_result));
/* After END: what was written is made stable before the source is told. */
int disk_stream_finish(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));

#endif
