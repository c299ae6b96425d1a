/* When pre-copy stops iterating: a pure decision, unit-tested without KVM. */
#ifndef MINIVMM_CONVERGE_H
#define MINIVMM_CONVERGE_H

#include <stdint.h>

/* Rounds of dirty pages after the first full pass before a migration whose remainder still
 * does not fit the downtime budget gives up (the VM runs on where it is, and the status says
 * why): a guest that dirties faster than the link carries, without auto-converge. With it,
 * CONVERGE_MAX_THROTTLED_* decide instead. */
#define CONVERGE_MAX_ITERATIONS 30

struct converge_in {
	uint64_t remaining;   /* bytes dirty now */
	double bandwidth;     /* bytes/s measured over the last round; 0: none yet */
	unsigned downtime_ms; /* the budget */
	unsigned iteration;   /* rounds sent so far (1 after the full pass) */
	unsigned max_iterations;
};

/* The share of the downtime budget the last pages may take: the rest goes to pausing the
 * vCPUs and recording their state, the state's trip, the destination's load of it and its
 * confirmation (in the nested-KVM box 15-35 ms of a 50 ms budget with no page left at all;
 * with the whole budget for the pages, downtimes of 55-113 ms at a 50 ms budget on a 10 MB/s
 * link, bench/migrate.sh veth:10). */
#define CONVERGE_PAGES_SHARE 0.5

enum converge_step { CONVERGE_ITERATE, CONVERGE_STOP_COPY, CONVERGE_GIVE_UP };

/* STOP_COPY when the remainder can be sent within CONVERGE_PAGES_SHARE of the budget at the
 * measured bandwidth, or
 * at the iteration limit when no round was long enough to measure it; GIVE_UP when it cannot
 * and the limit is reached; *@expected_ms is the downtime that sending it would take (-1
 * while the bandwidth is unknown). */
enum converge_step converge_decide(const struct converge_in *in, double *expected_ms);

/* Auto-converge, as QEMU's cpu-throttle: the migration adds up what the guest dirtied and
 * what was sent over periods of at least THROTTLE_PERIOD_MS (so that a throttle has acted
 * before it is judged); when the guest dirtied more than half as much as was sent, two
 * periods in a row, the vCPU throttle goes up: first to THROTTLE_START_PCT, then by
 * THROTTLE_STEP_PCT, up to THROTTLE_MAX_PCT (migrate/throttle.h). */
#define THROTTLE_PERIOD_MS 1000
#define THROTTLE_START_PCT 20
#define THROTTLE_STEP_PCT 10

struct converge_throttle {
	unsigned pct;         /* now */
	unsigned high_rounds; /* rounds in a row the guest dirtied more than half of what was sent */
};

/* After a period in which @sent bytes were sent while the guest dirtied @dirtied: the
 * throttle to use from now on. */
unsigned converge_throttle_step(struct converge_throttle *t, uint64_t dirtied, uint64_t sent);

/* Rounds, and seconds, at the highest throttle after which a migration that still does not
 * fit its downtime budget gives up (the VM runs on where it is). */
#define CONVERGE_MAX_THROTTLED_ROUNDS 5
#define CONVERGE_MAX_THROTTLED_MS 5000

#endif
