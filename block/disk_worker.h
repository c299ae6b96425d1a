/* A thread per disk for the work a format does synchronously: qcow2's cluster allocation,
 * copy-on-write, backing-file and compressed reads, metadata write-back. The I/O thread hands a
 * request over and goes on serving the other disks and devices; the result comes back through
 * the disk's engine on the I/O thread, like any completion. The format's metadata is shared
 * between the two threads under one lock, which the I/O thread only ever tries (a request that
 * finds it taken is handed over too), so the I/O thread never waits for the disk.
 *
 * Until a worker is started (unit tests, fuzzers, the image tools, a VM still being set up) the
 * work runs at once on the caller's thread and completes through the engine, as before. */
#ifndef MINIVMM_BLOCK_DISK_WORKER_H
#define MINIVMM_BLOCK_DISK_WORKER_H

#include <stdbool.h>

#include "block/disk.h"

/* fmt->work's result when it did the metadata part and prepared r->io as the data I/O: the
 * I/O thread sends it to the engine (the data moves as the steady state's does, through the
 * engine's descriptor; the worker holds the format no longer than the metadata takes). */
#define DISK_WORK_SUBMIT 1

/* Starts @d's worker thread if its format has slow work (fmt->work; else nothing to do). The
 * thread runs @thread_init(@arg) first (its seccomp filter; NULL: none) and serves requests
 * only if that returned 0. Returns 0, or -errno (@thread_init's result included) with no
 * thread left running. */
int disk_worker_start(struct disk *d, int (*thread_init)(void *arg), void *arg)
	__attribute__((warn_unused_result));
/* Hands @r over to fmt->work, run with the format lock held (on the worker's thread, or at
 * once here without one); @r completes through the engine with its result. */
void disk_worker_defer(struct disk *d, struct disk_req *r);
/* Waits until every request handed over has been served and passes their results to the
 * engine (a disk being quiesced: blk_engine_drain() then runs their completions). */
void disk_worker_drain(struct disk *d);
/* Serves what is queued, stops the thread (disk_close). Completions not yet run are dropped,
 * as the engine's are at close. */
void disk_worker_stop(struct disk *d);

/* The format lock: the I/O thread tries it (true: held), the worker takes it. */
bool disk_format_trylock(struct disk *d);
void disk_format_lock(struct disk *d);
void disk_format_unlock(struct disk *d);

#endif
