/* Live migration, the source side: pre-copy on its own thread (never a vCPU thread, never
 * the event loop), driven from the control socket.
 *
 *   migrate_start   connect, turn dirty logging on, send CONFIG and all of RAM, then rounds of
 *                   dirty pages until the rest fits the downtime budget at the measured
 *                   bandwidth (migrate/converge.h); then the I/O thread pauses the VM and
 *                   records its state, the thread sends the last pages, STATE and END and
 *                   waits for the destination's confirmation: the VM then stops ("migrated",
 *                   status 0) and is never resumed.
 *   failure         anything before the confirmation (connection reset, destination gone or
 *                   refusing, cancel): dirty logging off, the VM resumed if it was paused
 *                   here, the reason in migrate-status and on stderr; the VM runs on.
 *   unknown         the whole stream sent, then neither the confirmation nor a refusal (the
 *                   connection reset, or silence for 30 s): the destination may run the VM
 *                   by now, so this side never resumes on its own (no split brain). The VM
 *                   stays paused with its images given up; `resume` takes them back (refused
 *                   while the destination holds them) and runs it here again.
 *
 * The thread asks the I/O thread for the pause and the resume through an eventfd on the
 * event loop (vm_pause and vm_resume are the I/O thread's), and waits for the answer. */
#ifndef MINIVMM_MIGRATE_H
#define MINIVMM_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "migrate/disk_stream.h"
#include "vmm/errmsg.h"

struct vm;

#define MIGRATE_DEFAULT_DOWNTIME_MS 50
#define MIGRATE_MAX_DOWNTIME_MS 600000
/* The byte the destination sends once it has the whole stream checked and applied. */
#define MIGRATE_CONFIRM 'K'
/* The byte a destination sends when it refuses the stream (before closing): the source may
 * resume. A close without it (end of file) says the same; a reset or silence does not. */
#define MIGRATE_REFUSED 'N'

enum migrate_phase {
	MIGRATE_NONE,        /* never started */
	MIGRATE_SETUP,       /* connecting, dirty logging on */
	MIGRATE_PRECOPY,     /* rounds of RAM while the VM runs */
	MIGRATE_STOP_COPY,   /* paused: the rest, the state, waiting for the confirmation */
	MIGRATE_COMPLETED,   /* confirmed: the VM stops here */
	MIGRATE_FAILED,      /* the VM runs on; error says why */
	MIGRATE_CANCELLED,
	MIGRATE_UNKNOWN,     /* no confirmation nor refusal after END: paused here, see above */
};

struct migrate_params {
	const char *uri;        /* tcp:HOST:PORT or unix:PATH */
	unsigned downtime_ms;
	double bandwidth;       /* MB/s (10^6 bytes) to use at most; 0: as fast as it goes */
	bool auto_converge;     /* throttle the vCPUs of a guest that dirties too fast */
	enum disk_stream_mode disks; /* shared storage, or the disks travel too */
};

struct migrate_status {
	enum migrate_phase phase;
	char uri[128];
	unsigned iteration;        /* rounds sent: 1 = the full pass */
	uint64_t bytes_sent;       /* on the wire */
	uint64_t remaining;        /* bytes dirty after the last round */
	double dirty_rate;         /* bytes/s the guest dirtied during the last round */
	double bandwidth;          /* bytes/s measured over the last round */
	double expected_downtime_ms; /* -1 while unknown */
	unsigned throttle_pct;     /* auto-converge: the share of time the vCPUs sleep now */
	double downtime_ms;        /* the vCPUs asked to stop to the confirmation (completed), else 0 */
	double total_ms;           /* since start */
	char error[512];
};

/* vm_run (with --api-socket), after the privilege drop, before the main thread's filter:
 * starts the migration thread, which installs its own filter and waits for migrate_start(). */
int migrate_worker_start(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));
/* I/O thread. Starts a migration on the migration thread; refused while one runs, while the
 * VM is paused or stopping, and without a migration thread. The outcome is in
 * migrate_get_status(). */
int migrate_start(struct vm *vm, const struct migrate_params *p, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Any thread. Phase MIGRATE_NONE when no migration was ever started. */
void migrate_get_status(struct vm *vm, struct migrate_status *st);
/* I/O thread. Stops a running migration (the VM runs on); refused once the final state is
 * on its way (the destination may already run the VM). */
int migrate_cancel(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));
/* I/O thread, before `resume`: after an unknown outcome, takes the images the migration gave
 * up back (-EAGAIN-class errors while the destination holds them); 0 with nothing to do. */
int migrate_before_resume(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));
/* True while a migration's thread runs (other commands that pause the VM wait). */
bool migrate_running(struct vm *vm);
/* The VM is going away: stops a running migration and the thread, frees everything
 * (vm_destroy). */
void migrate_destroy(struct vm *vm);

const char *migrate_phase_name(enum migrate_phase p);

#endif
