/* What a live migration without shared storage needs from a disk (migrate/disk_stream.h):
 * on the source, a bitmap of the blocks the guest changed and reads of the guest-visible
 * contents that say which blocks are zero or still the backing file's; on the destination,
 * synchronous writes into its own image before the VM runs there.
 *
 * Blocks are DISK_COPY_BLOCK bytes of the virtual disk. A block is marked when a request
 * that changes it (write, write-zeroes, discard) completes, successful or not: a read of the
 * block that raced the request then sees it marked again and the block is sent once more. */
#ifndef MINIVMM_BLOCK_DISK_COPY_H
#define MINIVMM_BLOCK_DISK_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "block/disk.h"
#include "vmm/errmsg.h"

#define DISK_COPY_BLOCK_BITS 16
#define DISK_COPY_BLOCK (1u << DISK_COPY_BLOCK_BITS)

/* disk_submit's: a request that changes blocks marks them when it completes (while tracking). */
void disk_track_request(struct disk_req *r);

/* Blocks of @d (the last may be short), and the 64-bit words of a bitmap of them. */
uint64_t disk_copy_blocks(const struct disk *d);
uint64_t disk_track_words(const struct disk *d);

/* Starts marking changed blocks (-ENOMEM); already on: kept as it is. */
int disk_track_start(struct disk *d) __attribute__((warn_unused_result));
/* Stops it; only while no request is in flight (the disk is quiesced). */
void disk_track_stop(struct disk *d);
/* ORs the blocks marked since the last call into @bits (disk_copy_blocks bits) and clears
 * them; returns how many were marked. Any thread. */
uint64_t disk_track_collect(struct disk *d, uint64_t *bits);

enum disk_extent {
	DISK_EXTENT_DATA,     /* read into the buffer */
	DISK_EXTENT_ZERO,     /* reads as zeros (the buffer is not filled) */
	DISK_EXTENT_BACKING,  /* @top_only: left to the backing file (not read) */
};
/* Reads the guest-visible bytes [off, off+len) (len <= DISK_COPY_BLOCK, @buf 4 KiB-aligned
 * and DISK_COPY_BLOCK long) while the VM may be writing: a torn read is marked for the next
 * round. With @top_only, a qcow2 range that its image leaves wholly to the backing file is
 * reported as such instead of read. */
int disk_copy_read(struct disk *d, uint64_t off, uint64_t len, bool top_only, void *buf,
		   enum disk_extent *kind) __attribute__((warn_unused_result));
/* True for a qcow2 image with a backing file. */
bool disk_has_backing(const struct disk *d);

/* The destination: takes @d (its lock; a qcow2 image opened for real) to receive the
 * source's contents. With @top_only the image must be a qcow2 with a backing file and nothing
 * allocated yet (what is not sent stays the backing file's). */
int disk_copy_target(struct disk *d, bool top_only, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Writes, before the VM runs: nothing else uses the image. -EPERM for a qcow2 magic at the
 * start of a raw image whose format is probed (as block/raw.c refuses the guest). */
int disk_copy_write(struct disk *d, uint64_t off, const void *buf, uint64_t len)
	__attribute__((warn_unused_result));
int disk_copy_zero(struct disk *d, uint64_t off, uint64_t len) __attribute__((warn_unused_result));
/* Makes what was written stable (qcow2 metadata in its order, then the data). */
int disk_copy_flush(struct disk *d) __attribute__((warn_unused_result));

#endif
