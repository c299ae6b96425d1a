/* When pre-copy stops iterating: a pure decision, unit-tested without KVM. */
#ifndef MINIVMM_CONVERGE_H
#define MINIVMM_CONVERGE_H

#include <stdint.h>

/* Rounds of dirty pages after the first full pass before the VM is stopped whatever the
 * remainder (the downtime is then longer than asked, and the status says by how much). */
#define CONVERGE_MAX_ITERATIONS 30

struct converge_in {
	uint64_t remaining;   /* bytes dirty now */
	double bandwidth;     /* bytes/s measured over the last round; 0: none yet */
	unsigned downtime_ms; /* the budget */
	unsigned iteration;   /* rounds sent so far (1 after the full pass) */
	unsigned max_iterations;
};

enum converge_step { CONVERGE_ITERATE, CONVERGE_STOP_COPY };

/* STOP_COPY when the remainder can be sent within the budget at the measured bandwidth, or
 * the iteration limit is reached; *@expected_ms is the downtime that sending it would take
 * (-1 while the bandwidth is unknown). */
enum converge_step converge_decide(const struct converge_in *in, double *expected_ms);

#endif
