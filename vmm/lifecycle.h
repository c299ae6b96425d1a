/* A running VM's lifecycle: pause, resume, graceful shutdown, and work on parked vCPUs.
 *
 * The controlling side (vm_pause, vm_resume, vm_shutdown, vm_run_on_vcpus) runs on the I/O
 * thread, the one that runs the event loop. The vCPU side (vm_pause_pending, vm_lifecycle_park,
 * vm_lifecycle_vcpu_exited) is called by each vCPU thread between two KVM_RUNs.
 *
 * A paused vCPU is parked, not ended: its thread waits on a condition variable and re-enters
 * KVM_RUN on resume. Before it parks it has re-entered KVM_RUN once with immediate_exit set, so
 * any exit it was completing (a port or MMIO read) is finished and its state is consistent
 * (KVM's API documentation, KVM_RUN) by the time anyone reads it. */
#ifndef MINIVMM_LIFECYCLE_H
#define MINIVMM_LIFECYCLE_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "vmm/errmsg.h"
#include "vmm/evloop.h"

struct vm;
struct vcpu;

enum vm_state { VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_SHUTTING_DOWN, VM_STATE_STOPPING };

/* Runs on a parked vCPU's own thread; returns 0 or -errno. */
typedef int (*vcpu_work_fn)(struct vcpu *v, void *arg);
/* Told about state changes ("paused", "resumed", "shutting-down"), on the I/O thread. */
typedef void (*vm_event_fn)(void *opaque, const char *event);

/* How long vm_pause() waits for every vCPU to park. A vCPU thread is normally out of KVM_RUN
 * within microseconds of the kick; one that is not is stuck in a device handler (a blocking
 * write to a stalled serial reader, say), and the pause gives up instead of hanging the I/O
 * thread. */
#define VM_PAUSE_TIMEOUT_MS 5000

struct vm_lifecycle {
	pthread_mutex_t lock;
	pthread_cond_t vcpu_cond;     /* parked vCPUs: resume, stop, or work to do */
	pthread_cond_t ctl_cond;      /* the I/O thread: a vCPU parked, ended or did its work */
	bool initialized;
	atomic_bool pause_req;        /* vCPUs park while set */
	bool paused;                  /* all parked, devices paused (I/O thread only) */
	unsigned nr_parked;           /* under lock */
	unsigned nr_exited;           /* vCPU threads that ended (a stop), under lock */
	/* Work for every parked vCPU (vm_run_on_vcpus), under lock. */
	vcpu_work_fn work_fn;
	void *work_arg;
	unsigned work_seq;            /* bumped per request: each vCPU runs a request once */
	unsigned work_done;
	int work_ret;                 /* first failure */
	unsigned work_failed_vcpu;
	/* kvmclock as it was when the VM paused; set back on resume so guest time does not jump
	 * over the pause. */
	struct kvm_clock_data clock;
	bool clock_saved;
	bool has_adjust_clock, has_kvmclock_ctrl;
	/* Graceful shutdown: the power button was pressed; forced stop when the timer fires. */
	bool shutting_down;
	unsigned shutdown_timeout_s;
	struct ev_handler shutdown_timer;
	vm_event_fn notify;
	void *notify_opaque;
};

/* Sets up @vm->lc (mutex, condition variables, KVM capabilities). Needs vm->kvm_fd or -1. */
int vm_lifecycle_init(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));
void vm_lifecycle_destroy(struct vm *vm);
void vm_lifecycle_set_notify(struct vm *vm, vm_event_fn fn, void *opaque);

/* Stops every vCPU (parked after re-entering KVM_RUN with immediate_exit) and then the devices;
 * saves kvmclock. Idempotent: pausing a paused VM succeeds and changes nothing. Fails (and
 * leaves the VM running) if the VM is stopping or shutting down, or a vCPU does not stop
 * within VM_PAUSE_TIMEOUT_MS. I/O thread only. */
int vm_pause(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));

/* Devices first, then kvmclock as it was at the pause, KVM_KVMCLOCK_CTRL on each vCPU (so the
 * guest's watchdogs know it was stopped), then the vCPUs re-enter KVM_RUN. Idempotent. */
int vm_resume(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));

bool vm_paused(const struct vm *vm);
enum vm_state vm_state(const struct vm *vm);
const char *vm_state_name(enum vm_state s);

/* Runs @fn on the thread of each parked vCPU (all at once) and waits until all are done.
 * The VM must be paused (-EBUSY otherwise). Returns the first failure, with @err naming the
 * vCPU. For reading and writing vCPU state: KVM wants vCPU ioctls from the vCPU's thread. */
int vm_run_on_vcpus(struct vm *vm, vcpu_work_fn fn, void *arg, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Presses the ACPI power button; if the guest has not powered off after @timeout_s seconds,
 * stops it with VM_STOP_SHUTDOWN_TIMEOUT. A second call presses again and keeps the first
 * deadline. Refused while paused (the guest could not react) or without the GED (--acpi
 * off). */
int vm_shutdown(struct vm *vm, unsigned timeout_s, struct errmsg *err)
	__attribute__((warn_unused_result));

/* --paused: the vCPUs, not started yet, park before their first KVM_RUN; vm_pause() then
 * completes the pause. I/O thread, before vcpu_start(). */
void vm_lifecycle_hold(struct vm *vm);

/* Wakes parked vCPUs so they see the stop (called once the VM is stopping). */
void vm_lifecycle_on_stop(struct vm *vm);

/* vCPU side. True when the vCPU should park before its next KVM_RUN. */
static inline bool vm_lifecycle_pause_pending(struct vm_lifecycle *lc)
{
	return atomic_load_explicit(&lc->pause_req, memory_order_seq_cst);
}

/* Parks the calling vCPU thread until resume or stop, running work requests meanwhile. The
 * caller has already re-entered KVM_RUN with immediate_exit. */
void vm_lifecycle_park(struct vm *vm, struct vcpu *v);

/* The calling vCPU thread is ending (the VM stops): a pause must not wait for it. */
void vm_lifecycle_vcpu_exited(struct vm *vm);

/* Devices: quiesce every device that writes guest memory, and restart them. */
int vm_devices_pause(struct vm *vm, struct errmsg *err);
int vm_devices_resume(struct vm *vm, struct errmsg *err);

/* "poweroff", "reboot", "shutdown-forced", ... for an enum vm_stop_reason. */
const char *vm_stop_reason_name(int reason);

#endif
