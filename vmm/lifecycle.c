#include "vmm/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/ged.h"
#include "firmware/acpi.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* How often a waiting I/O thread looks at the stop flag: a stop requested from another thread
 * (stdin's Ctrl-A x) does not signal the lifecycle's condition variables. */
#define LC_POLL_MS 100

static void lc_notify(struct vm *vm, const char *event)
{
	if (vm->lc.notify)
		vm->lc.notify(vm->lc.notify_opaque, event);
}

static void timespec_after_ms(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool timespec_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int vm_lifecycle_init(struct vm *vm, struct errmsg *err)
{
	struct vm_lifecycle *lc = &vm->lc;
	pthread_condattr_t attr;
	int ret;

	memset(lc, 0, sizeof(*lc));
	lc->shutdown_timer.fd = -1;
	atomic_init(&lc->pause_req, false);
	pthread_condattr_init(&attr);
	/* Waits have deadlines; the wall clock may be set backwards meanwhile. */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	ret = pthread_mutex_init(&lc->lock, NULL);
	ret = ret ? ret : pthread_cond_init(&lc->vcpu_cond, &attr);
	ret = ret ? ret : pthread_cond_init(&lc->ctl_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (ret)
		return errmsg_set(err, -ret, "lifecycle: %s", strerror(ret));
	lc->initialized = true;
	if (vm->kvm_fd >= 0) {
		lc->has_adjust_clock = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) > 0;
		lc->has_kvmclock_ctrl = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
					      KVM_CAP_KVMCLOCK_CTRL) > 0;
	}
	return 0;
}

void vm_lifecycle_destroy(struct vm *vm)
{
	struct vm_lifecycle *lc = &vm->lc;

	if (!lc->initialized)
		return;
	if (lc->shutdown_timer.fd >= 0) {
		close(lc->shutdown_timer.fd);
		lc->shutdown_timer.fd = -1;
	}
	pthread_cond_destroy(&lc->vcpu_cond);
	pthread_cond_destroy(&lc->ctl_cond);
	pthread_mutex_destroy(&lc->lock);
	lc->initialized = false;
}

void vm_lifecycle_set_notify(struct vm *vm, vm_event_fn fn, void *opaque)
{
	vm->lc.notify = fn;
	vm->lc.notify_opaque = opaque;
}

bool vm_paused(const struct vm *vm)
{
	return vm->lc.paused;
}

enum vm_state vm_state(const struct vm *vm)
{
	if (vm_stopping(vm))
		return VM_STATE_STOPPING;
	if (vm->lc.paused)
		return VM_STATE_PAUSED;
	if (vm->lc.shutting_down)
		return VM_STATE_SHUTTING_DOWN;
	return VM_STATE_RUNNING;
}

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_STATE_RUNNING: return "running";
	case VM_STATE_PAUSED: return "paused";
	case VM_STATE_SHUTTING_DOWN: return "shutting-down";
	case VM_STATE_STOPPING: return "stopping";
	}
	return "unknown";
}

const char *vm_stop_reason_name(int reason)
{
	switch (reason) {
	case VM_RUNNING: return "none";
	case VM_STOP_EXIT_PORT: return "exit-port";
	case VM_STOP_POWEROFF: return "poweroff";
	case VM_STOP_REBOOT: return "reboot";
	case VM_STOP_SIGNAL: return "signal";
	case VM_STOP_TIMEOUT: return "timeout";
	case VM_STOP_QUIT: return "quit";
	case VM_STOP_ERROR: return "error";
	case VM_STOP_SHUTDOWN_TIMEOUT: return "shutdown-forced";
	case VM_STOP_SNAPSHOT: return "snapshot";
	case VM_STOP_MIGRATED: return "migrated";
	}
	return "unknown";
}

/* Devices: every one on the VM's list quiesces (no more guest-memory writes or interrupts,
 * requests in flight completed: vmm/device.h). */
int vm_devices_pause(struct vm *vm, struct errmsg *err)
{
	int ret = dev_list_pause(&vm->devices);

	return ret ? errmsg_set(err, ret, "cannot pause the devices: %s", strerror(-ret)) : 0;
}

int vm_devices_resume(struct vm *vm, struct errmsg *err)
{
	(void)err;
	dev_list_resume(&vm->devices);
	return 0;
}

static unsigned lc_started_vcpus(const struct vm *vm)
{
	unsigned n = 0;

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

/* Lets parked vCPUs go back to KVM_RUN. */
static void lc_release(struct vm *vm)
{
	struct vm_lifecycle *lc = &vm->lc;

	pthread_mutex_lock(&lc->lock);
	atomic_store(&lc->pause_req, false);
	pthread_cond_broadcast(&lc->vcpu_cond);
	pthread_mutex_unlock(&lc->lock);
}

/* Waits until every started vCPU is parked: -ETIMEDOUT with the number still running in
 * *@late, -ESHUTDOWN if the VM started stopping. */
static int lc_wait_parked(struct vm *vm, unsigned want, unsigned *late)
{
	struct vm_lifecycle *lc = &vm->lc;
	struct timespec deadline, step;
	int ret = 0;

	timespec_after_ms(&deadline, VM_PAUSE_TIMEOUT_MS);
	pthread_mutex_lock(&lc->lock);
	while (lc->nr_parked < want) {
		if (vm_stopping(vm) || lc->nr_exited) {
			ret = -ESHUTDOWN;
			break;
		}
		if (timespec_passed(&deadline)) {
			ret = -ETIMEDOUT;
			break;
		}
		timespec_after_ms(&step, LC_POLL_MS);
		pthread_cond_timedwait(&lc->ctl_cond, &lc->lock, &step);
	}
	*late = want - lc->nr_parked;
	pthread_mutex_unlock(&lc->lock);
	return ret;
}

int vm_pause(struct vm *vm, struct errmsg *err)
{
	struct vm_lifecycle *lc = &vm->lc;
	unsigned late, want = lc_started_vcpus(vm);
	int ret;

	if (vm_stopping(vm))
		return errmsg_set(err, -ESHUTDOWN, "the VM is stopping");
	if (lc->paused)
		return 0;
	if (lc->shutting_down)
		return errmsg_set(err, -EBUSY,
				  "the VM is shutting down (the guest was asked to power off)");
	atomic_store(&lc->pause_req, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	ret = lc_wait_parked(vm, want, &late);
	if (ret) {
		lc_release(vm);
		if (ret == -ESHUTDOWN)
			return errmsg_set(err, ret, "the VM is stopping");
		return errmsg_set(err, ret, "%u of %u vCPUs did not stop within %d ms (busy in a device?); the VM keeps running",
				  late, want, VM_PAUSE_TIMEOUT_MS);
	}
	/* Guest time stops with the vCPUs, before the devices drain (a disk's flush can take a
	 * while, and the guest should not see it). */
	lc->clock_saved = false;
	if (lc->has_adjust_clock && vm->vm_fd >= 0) {
		memset(&lc->clock, 0, sizeof(lc->clock));
		if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &lc->clock) == 0)
			lc->clock_saved = true;
		else
			fprintf(stderr, "minivmm: pause: KVM_GET_CLOCK: %s (guest time will jump over the pause)\n",
				strerror(errno));
	}
	/* vCPUs first: once they are parked no new queue notification arrives, so the devices
	 * can drain what is in flight. */
	ret = vm_devices_pause(vm, err);
	if (ret) {
		lc->clock_saved = false;
		lc_release(vm);
		return ret;
	}
	lc->paused = true;
	lc_notify(vm, "paused");
	return 0;
}

/* KVM_KVMCLOCK_CTRL: sets PVCLOCK_GUEST_STOPPED in the vCPU's kvmclock page, so the guest's
 * soft-lockup and RCU-stall watchdogs do not count the pause. -EINVAL means the guest has not
 * enabled kvmclock on this vCPU (not yet booted that far, or another clocksource): nothing to
 * tell it. */
static int lc_kvmclock_ctrl(struct vcpu *v, void *arg)
{
	(void)arg;
	if (ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int vm_resume(struct vm *vm, struct errmsg *err)
{
	struct vm_lifecycle *lc = &vm->lc;
	int ret;

	if (vm_stopping(vm))
		return errmsg_set(err, -ESHUTDOWN, "the VM is stopping");
	if (!lc->paused)
		return 0;
	ret = vm_devices_resume(vm, err);
	if (ret)
		return ret;
	if (lc->clock_saved) {
		/* Back to the value read at the pause; KVM_CLOCK_REALTIME would instead advance it
		 * by the time spent paused, which is the jump a pause must not cause. Other flags
		 * are informational on GET and refused on SET by older kernels. */
		struct kvm_clock_data c = { .clock = lc->clock.clock };

		if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0)
			fprintf(stderr, "minivmm: resume: KVM_SET_CLOCK: %s (guest time jumps over the pause)\n",
				strerror(errno));
		lc->clock_saved = false;
	}
	if (lc->has_kvmclock_ctrl) {
		struct errmsg e;

		if (vm_run_on_vcpus(vm, lc_kvmclock_ctrl, NULL, &e))
			fprintf(stderr, "minivmm: resume: KVM_KVMCLOCK_CTRL: %s\n", e.text);
	}
	lc->paused = false;
	lc_release(vm);
	lc_notify(vm, "resumed");
	return 0;
}

int vm_run_on_vcpus(struct vm *vm, vcpu_work_fn fn, void *arg, struct errmsg *err)
{
	struct vm_lifecycle *lc = &vm->lc;
	struct timespec step;
	unsigned want;
	int ret;

	if (!lc->paused)
		return errmsg_set(err, -EBUSY, "the VM is not paused");
	pthread_mutex_lock(&lc->lock);
	want = lc->nr_parked;
	lc->work_fn = fn;
	lc->work_arg = arg;
	lc->work_done = 0;
	lc->work_ret = 0;
	lc->work_seq++;
	pthread_cond_broadcast(&lc->vcpu_cond);
	while (lc->work_done < want && !vm_stopping(vm)) {
		timespec_after_ms(&step, LC_POLL_MS);
		pthread_cond_timedwait(&lc->ctl_cond, &lc->lock, &step);
	}
	ret = lc->work_ret;
	if (!ret && lc->work_done < want)
		ret = -ESHUTDOWN;
	lc->work_fn = NULL;
	lc->work_arg = NULL;
	pthread_mutex_unlock(&lc->lock);
	if (ret == -ESHUTDOWN)
		return errmsg_set(err, ret, "the VM is stopping");
	if (ret)
		return errmsg_set(err, ret, "vcpu %u: %s", lc->work_failed_vcpu, strerror(-ret));
	return 0;
}

void vm_lifecycle_hold(struct vm *vm)
{
	atomic_store(&vm->lc.pause_req, true);
}

void vm_lifecycle_park(struct vm *vm, struct vcpu *v)
{
	struct vm_lifecycle *lc = &vm->lc;
	unsigned seen;

	pthread_mutex_lock(&lc->lock);
	lc->nr_parked++;
	pthread_cond_broadcast(&lc->ctl_cond);
	seen = lc->work_seq;
	while (vm_lifecycle_pause_pending(lc) && !vm_stopping(vm)) {
		if (lc->work_fn && lc->work_seq != seen) {
			vcpu_work_fn fn = lc->work_fn;
			void *arg = lc->work_arg;
			int r;

			seen = lc->work_seq;
			pthread_mutex_unlock(&lc->lock);
			r = fn(v, arg);
			pthread_mutex_lock(&lc->lock);
			if (r && !lc->work_ret) {
				lc->work_ret = r;
				lc->work_failed_vcpu = v->id;
			}
			lc->work_done++;
			pthread_cond_broadcast(&lc->ctl_cond);
			continue;
		}
		pthread_cond_wait(&lc->vcpu_cond, &lc->lock);
	}
	lc->nr_parked--;
	pthread_mutex_unlock(&lc->lock);
}

void vm_lifecycle_vcpu_exited(struct vm *vm)
{
	struct vm_lifecycle *lc = &vm->lc;

	if (!lc->initialized)
		return;
	pthread_mutex_lock(&lc->lock);
	lc->nr_exited++;
	pthread_cond_broadcast(&lc->ctl_cond);
	pthread_mutex_unlock(&lc->lock);
}

void vm_lifecycle_on_stop(struct vm *vm)
{
	struct vm_lifecycle *lc = &vm->lc;

	if (!lc->initialized)
		return;
	/* Under the lock, after the stop reason was set: a vCPU that checked vm_stopping()
	 * under the lock before this is already waiting and gets the broadcast. */
	pthread_mutex_lock(&lc->lock);
	pthread_cond_broadcast(&lc->vcpu_cond);
	pthread_cond_broadcast(&lc->ctl_cond);
	pthread_mutex_unlock(&lc->lock);
}

static void lc_on_shutdown_timer(struct ev_handler *h, uint32_t events)
{
	struct vm *vm = h->opaque;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) != sizeof(n))
		return;
	vm_request_stop(vm, VM_STOP_SHUTDOWN_TIMEOUT, VM_EXIT_SHUTDOWN_FORCED,
			"shutdown: the guest did not power off within %u s of the power button; stopped it",
			vm->lc.shutdown_timeout_s);
}

int vm_shutdown(struct vm *vm, unsigned timeout_s, struct errmsg *err)
{
	struct vm_lifecycle *lc = &vm->lc;
	struct itimerspec its = { .it_value = { .tv_sec = timeout_s } };
	int ret;

	if (vm_stopping(vm))
		return errmsg_set(err, -ESHUTDOWN, "the VM is stopping");
	if (lc->paused)
		return errmsg_set(err, -EBUSY,
				  "the VM is paused, so the guest cannot react: resume it first, or use quit");
	if (!vm->ged)
		return errmsg_set(err, -ENOTSUP,
				  "this VM has no ACPI power button (--acpi off): use quit");
	if (timeout_s == 0)
		return errmsg_set(err, -EINVAL, "timeout_s must be at least 1");
	if (!lc->shutting_down) {
		if (lc->shutdown_timer.fd < 0) {
			lc->shutdown_timer = (struct ev_handler){
				timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
				lc_on_shutdown_timer, vm
			};
			if (lc->shutdown_timer.fd < 0)
				return errmsg_set(err, -errno, "timerfd: %s", strerror(errno));
			ret = evloop_add(&vm->loop, &lc->shutdown_timer, EPOLLIN);
			if (ret) {
				close(lc->shutdown_timer.fd);
				lc->shutdown_timer.fd = -1;
				return errmsg_set(err, ret, "epoll: %s", strerror(-ret));
			}
		}
		if (timerfd_settime(lc->shutdown_timer.fd, 0, &its, NULL) < 0)
			return errmsg_set(err, -errno, "timerfd: %s", strerror(errno));
		lc->shutdown_timeout_s = timeout_s;
	}
	/* Pressed again on a second request: a guest that missed the first press (still
	 * booting, its button driver not loaded yet) gets another chance. */
	ret = ged_raise(vm->ged, ACPI_GED_EVT_POWER_BUTTON);
	if (ret)
		return errmsg_set(err, ret, "cannot raise the GED interrupt: %s", strerror(-ret));
	if (!lc->shutting_down) {
		lc->shutting_down = true;
		lc_notify(vm, "shutting-down");
	}
	return 0;
}
