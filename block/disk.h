/* A virtual disk: an image format (raw, qcow2) over an I/O engine.
 * Requests are in virtual-disk bytes; the format maps them to image I/O. */
#ifndef MINIVMM_BLOCK_DISK_H
#define MINIVMM_BLOCK_DISK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/engine.h"
#include "vmm/errmsg.h"
#include "vmm/evloop.h"

enum disk_format { DISK_FORMAT_AUTO, DISK_FORMAT_RAW, DISK_FORMAT_QCOW2 };

struct disk_config {
	const char *path;
	enum disk_format format;         /* AUTO: qcow2 if the file says so, else raw */
	bool readonly;
	bool direct;                     /* O_DIRECT */
	enum blk_engine_kind engine;
	bool engine_set;                 /* false: io_uring, falling back to sync */
	const char *id;                  /* serial reported by GET_ID */
	unsigned num_queues;
	/* A live migration's destination (--incoming): the source still uses the image, so no
	 * lock yet and no write until disk_activate() (QEMU's "inactive image"). Raw only: a
	 * qcow2 image's metadata read now could be stale by the hand-over. */
	bool inactive;
};

struct disk_req;
typedef void (*disk_done_fn)(struct disk_req *r, int err);

struct disk_req {
	enum blk_op op;
	uint64_t offset, len;            /* bytes; len is implied by iov for read/write */
	const struct iovec *iov;
	int iovcnt;
	disk_done_fn done;               /* err: 0 or -errno */
	void *opaque;
	uint64_t expect;                 /* bytes a read/write must move */
	struct blk_io io;                /* format-private */
	struct disk *disk;               /* format-private: set by disk_submit */
	void *bounce;                    /* format-private: host copy the engine writes from */
	unsigned fmt_epoch;              /* format-private: qcow2's data I/O epoch */
	disk_done_fn caller_done;        /* disk-private: done, while block/disk_copy.h tracks */
};

struct disk;

struct disk_format_ops {
	const char *name;
	/* Queues @r (bounds are already checked against the virtual size). */
	int (*submit)(struct disk *d, struct disk_req *r);
	/* Optional: work too slow for the I/O thread, done synchronously for @r with the format
	 * lock held, on the disk's worker thread (block/disk_worker.h): 0 or -errno, @r's
	 * result; or DISK_WORK_SUBMIT when it made r->io a data I/O for the engine instead. */
	int (*work)(struct disk *d, struct disk_req *r);
};

struct disk_worker;

struct qcow2;

struct disk {
	const struct disk_format_ops *fmt;
	struct blk_engine *engine;
	struct evloop *loop;             /* the I/O thread's, where completions run */
	int fd;                          /* data I/O through the engine */
	uint64_t size;                   /* virtual size in bytes */
	bool readonly;
	bool probed_raw;                 /* raw by probing: the guest must not write a format magic */
	struct qcow2 *qcow2;
	bool qcow2_pending;              /* a migration's destination: opened at disk_activate */
	bool direct;                     /* O_DIRECT: data I/O from aligned buffers */
	bool copy_target;                /* a migration's destination copies into it (disk_copy.h) */
	_Atomic(uint64_t *) track;       /* blocks changed while a migration copies (disk_copy.h) */
	pthread_mutex_t format_lock;     /* the format's state, when a worker shares it */
	struct disk_worker *worker;      /* NULL: slow work runs on the caller's thread */
	char note[256];                  /* something the user should know (e.g. forced read-only) */
	char path[256];
};

int disk_open(const struct disk_config *cfg, struct evloop *loop, struct disk **out,
	      struct errmsg *err) __attribute__((warn_unused_result));
void disk_close(struct disk *d);
/* Bounds-checks and queues @r; completion through r->done. */
int disk_submit(struct disk *d, struct disk_req *r);
void disk_kick(struct disk *d);
/* Waits for every request in flight, then makes everything written stable (qcow2's metadata in
 * its crash-consistency order, then the data): a paused disk's image is whole on disk. */
int disk_quiesce(struct disk *d) __attribute__((warn_unused_result));
/* Migration hand-over of a quiesced disk: the source gives its image locks up, the
 * destination takes them (-EAGAIN while another process holds them). */
int disk_activate(struct disk *d, struct errmsg *err) __attribute__((warn_unused_result));
void disk_inactivate(struct disk *d);

/* The raw format (block/raw.c) and qcow2 (block/qcow2_disk.c). */
extern const struct disk_format_ops disk_format_raw;
extern const struct disk_format_ops disk_format_qcow2;

#endif
