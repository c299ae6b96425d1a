/* Auto-converge's vCPU throttle: while a migration cannot keep up with a guest that dirties
 * memory faster than the link carries it, the vCPUs sleep a share of their time, raised step
 * by step (migrate/converge.h decides), so that fewer pages are dirtied per round and the
 * migration converges. A timerfd on the I/O thread's loop nudges every vCPU out of KVM_RUN
 * once per period (vcpu_nudge); each then sleeps pct / (100 - pct) of VCPU_THROTTLE_SLICE_NS,
 * so it runs about a slice between sleeps. At 0 the timer is off and nothing happens. */
#ifndef MINIVMM_THROTTLE_H
#define MINIVMM_THROTTLE_H

#include "vmm/errmsg.h"

struct vm;
struct vcpu_throttle;

/* Main thread at start-up (before the filters: it creates the timerfd). */
int throttle_create(struct vm *vm, struct vcpu_throttle **out, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Any thread: @pct from 0 (off) to THROTTLE_MAX_PCT. */
void throttle_set(struct vcpu_throttle *t, unsigned pct);
/* The I/O thread, with the loop still alive; NULL is fine. Leaves the vCPUs unthrottled. */
void throttle_destroy(struct vcpu_throttle *t);

#define THROTTLE_MAX_PCT 99

#endif
