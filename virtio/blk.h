/* virtio-blk over a block/disk (raw now): VERSION_1, FLUSH, BLK_SIZE, SEG_MAX, SIZE_MAX, RO,
 * DISCARD, WRITE_ZEROES, GET_ID, MQ, EVENT_IDX, INDIRECT_DESC. */
#ifndef MINIVMM_VIRTIO_BLK_H
#define MINIVMM_VIRTIO_BLK_H

#include "block/disk.h"
#include "vmm/errmsg.h"

struct machine;
struct virtio_blk;

/* Opens the disk and creates the device in virtio-mmio slot @slot; the machine's device list
 * owns it from then on (its destroy frees it). */
int virtio_blk_create(struct machine *m, unsigned slot, const struct disk_config *cfg,
		      struct virtio_blk **out, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Only for a device the list does not own yet (a failed creation). */
void virtio_blk_destroy(struct virtio_blk *b);
/* A live migration's hand-over of a paused device's image (block/disk.h: disk_activate). */
int virtio_blk_activate(struct virtio_blk *b, struct errmsg *err) __attribute__((warn_unused_result));
void virtio_blk_inactivate(struct virtio_blk *b);
/* The disk behind the device (a migration copies it: migrate/disk_stream.h). */
struct disk *virtio_blk_disk(const struct virtio_blk *b);
/* What the user should know about the disk (e.g. "attached read-only"), or "". */
const char *virtio_blk_note(const struct virtio_blk *b);
/* Starts the disk's worker thread when its format has slow work (qcow2), running
 * @thread_init(@arg) on it first (block/disk_worker.h). 0 or -errno. */
int virtio_blk_start_worker(struct virtio_blk *b, int (*thread_init)(void *arg), void *arg)
	__attribute__((warn_unused_result));

#endif
