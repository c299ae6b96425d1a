/* The vCPU throttle: see migrate/throttle.h. */
#include "migrate/throttle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vmm/vcpu.h"
#include "vmm/vm.h"

struct vcpu_throttle {
	struct vm *vm;
	struct ev_handler tick;     /* timerfd: one nudge of every vCPU per period */
};

static void on_tick(struct ev_handler *h, uint32_t events)
{
	struct vcpu_throttle *t = h->opaque;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0)
		return; /* spurious wakeup: the timerfd is non-blocking */
	if (!atomic_load(&t->vm->vcpu_throttle_pct))
		return;
	/* A vCPU that is not in KVM_RUN when its nudge comes (a guest busy with port or MMIO
	 * exits) sees the new tick before it enters again. */
	atomic_fetch_add(&t->vm->vcpu_throttle_tick, 1);
	for (unsigned i = 0; i < t->vm->nr_vcpus; i++)
		vcpu_nudge(&t->vm->vcpus[i]);
}

int throttle_create(struct vm *vm, struct vcpu_throttle **out, struct errmsg *err)
{
	struct vcpu_throttle *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return errmsg_set(err, -ENOMEM, "vCPU throttle: out of memory");
	t->vm = vm;
	t->tick = (struct ev_handler){ timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				       on_tick, t };
	if (t->tick.fd < 0) {
		ret = -errno;
		free(t);
		return errmsg_set(err, ret, "vCPU throttle: timerfd: %s", strerror(-ret));
	}
	ret = evloop_add(&vm->loop, &t->tick, EPOLLIN);
	if (ret) {
		close(t->tick.fd);
		free(t);
		return errmsg_set(err, ret, "vCPU throttle: event loop: %s", strerror(-ret));
	}
	*out = t;
	return 0;
}

void throttle_set(struct vcpu_throttle *t, unsigned pct)
{
	struct itimerspec its = { 0 };

	if (pct > THROTTLE_MAX_PCT)
		pct = THROTTLE_MAX_PCT;
	atomic_store(&t->vm->vcpu_throttle_pct, pct);
	if (pct) {
		/* A period of a slice of running plus the sleep that follows it. */
		uint64_t ns = VCPU_THROTTLE_SLICE_NS * 100 / (100 - pct);

		its.it_interval.tv_sec = (time_t)(ns / 1000000000);
		its.it_interval.tv_nsec = (long)(ns % 1000000000);
		/* The new share applies now, not a whole period (1 s at 99%) from now. */
		its.it_value.tv_nsec = 1000000;
	}
	/* Cannot fail on a valid timerfd with a valid time; without a timer the vCPUs just
	 * are not throttled. */
	(void)timerfd_settime(t->tick.fd, 0, &its, NULL);
}

void throttle_destroy(struct vcpu_throttle *t)
{
	if (!t)
		return;
	atomic_store(&t->vm->vcpu_throttle_pct, 0);
	evloop_del(&t->vm->loop, &t->tick);
	close(t->tick.fd);
	free(t);
}
