/* The source side of a live migration, shared by its three files (not for use outside
 * migrate/; the public interface is migrate/migrate.h):
 *   migrate/migrate.c    the control side (start, status, cancel) and the migration thread's
 *                        life (started with the VM, waits for a migration, runs it)
 *   migrate/source_io.c  what the migration thread asks of the I/O thread: the pause and the
 *                        state's capture, the resume after a failure
 *   migrate/precopy.c    the migration thread's work: rounds, the stop decision, the final
 *                        state, the confirmation */
#ifndef MINIVMM_MIGRATE_SOURCE_H
#define MINIVMM_MIGRATE_SOURCE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "migrate/channel.h"
#include "migrate/converge.h"
#include "migrate/dirty.h"
#include "migrate/disk_stream.h"
#include "migrate/migrate.h"
#include "migrate/stream.h"
#include "vmm/config.h"
#include "vmm/evloop.h"

/* REQ_HOLD: an unknown outcome: logging off, the VM left paused and its images given up. */
enum io_req { REQ_NONE, REQ_PAUSE, REQ_ABORT, REQ_HOLD };

/* The migration thread: started with the VM when it has a control socket, after the privilege
 * drop and before the main thread's filter, so that it runs under a filter of its own
 * (SECCOMP_THREAD_MIGRATION) and the I/O thread's list needs neither thread creation nor
 * sockets. It waits for migrate_start() to hand it a migration, runs it, and waits again. */
struct migrate_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* a job, or quit; and the job's end (busy cleared) */
	struct migration *job;      /* handed over, not taken yet */
	bool busy;                  /* from the hand-over until the migration's end */
	bool quit;
	int req_fd;                 /* eventfd: the running migration's requests to the I/O thread */
	struct vcpu_throttle *throttle; /* auto-converge */
};

struct migration {
	struct vm *vm;
	atomic_bool running;        /* the thread has not finished */
	atomic_bool cancel;
	atomic_bool final;          /* the final state is on its way: no more cancel */
	atomic_int fd;              /* the connection; -1 (read by cancel on the I/O thread) */
	struct channel_uri uri;
	unsigned downtime_ms;
	double bw_limit;            /* bytes/s, 0: none */
	bool auto_converge;
	enum disk_stream_mode disks;
	struct disk_stream *ds;     /* the disks being copied (disks=copy), or NULL */
	struct converge_throttle thr;
	double thr_period_start;    /* the throttle's current period (THROTTLE_PERIOD_MS) */
	uint64_t thr_dirtied, thr_sent;
	/* Auto-converge samples the dirty log during a round (once a THROTTLE_PERIOD_MS): on a
	 * slow link a round lasts tens of seconds, and a throttle judged once a round took
	 * minutes to rise. The pages sampled are the next round's. */
	struct dirty_set next;
	bool sampling;              /* pre-copy rounds: the dirty log is on, no pause yet */
	double t_sample;
	uint64_t sampled_bytes;     /* of this round's dirty pages, those counted by samples */
	uint64_t acct_sent;         /* the stream's position when the throttle last counted */
	struct errmsg sample_err;
	unsigned max_throttle_rounds; /* rounds sent at THROTTLE_MAX_PCT */
	double t_max_throttle;      /* when it got there */

	/* Requests to the I/O thread (pause + state capture, resume), under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ev_handler req_ev;   /* eventfd the thread writes */
	enum io_req req;
	bool req_done;
	bool io_gone;               /* the VM is being destroyed: no more answers */
	bool disks_released;        /* REQ_PAUSE gave the image locks up (I/O thread only) */
	struct stat released[VM_MAX_DISKS]; /* each image as given up (mtime, size, inode) */
	int req_ret;
	struct errmsg req_err;
	void *state;                /* REQ_PAUSE's STATE section */
	size_t state_len;

	/* Reported by migrate-status, under lock. */
	struct migrate_status st;
	double t_start, t_pause, t_captured, t_end_sent, t_confirm;
	uint64_t final_bytes;       /* sent after the pause: the last pages, STATE and END */
	bool outcome_unknown;       /* END sent, then a reset or silence: see MIGRATE_UNKNOWN */

	/* The thread's own. */
	struct stream_writer w;
	double round_start, last_line;
	uint64_t round_bytes0;
};

static inline double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Any thread: the phase and a copy of the status, under the migration's lock. */
void migrate_set_phase(struct migration *m, enum migrate_phase p);
void migrate_status_copy(struct migration *m, struct migrate_status *st);

/* I/O thread, before taking back images given up at the pause once the outcome was unknown:
 * 0 if none changed meanwhile, else -ESTALE naming the first that did (the destination ran
 * the VM and wrote it: this side's view of it, the guest's cache and qcow2's tables, is
 * stale). */
int migrate_images_unchanged(struct migration *m, struct errmsg *err);

/* I/O thread: the handler of the worker's request eventfd. */
void migrate_on_request(struct ev_handler *h, uint32_t events);
/* Migration thread: asks the I/O thread for @req and waits for its answer (-ESHUTDOWN when
 * the VM goes away meanwhile). */
int migrate_io_request(struct migration *m, enum io_req req, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Migration thread: runs @m to its end (completed: the VM stops; failed or cancelled: it runs
 * on) and clears m->running. */
void migrate_run(struct migration *m);

#endif
