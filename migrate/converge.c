/* Pre-copy's stop decision: see migrate/converge.h. */
#include "migrate/converge.h"

enum converge_step converge_decide(const struct converge_in *in, double *expected_ms)
{
	*expected_ms = in->bandwidth > 0 ? (double)in->remaining / in->bandwidth * 1e3 : -1;
	if (in->remaining == 0)
		return CONVERGE_STOP_COPY;
	if (in->iteration >= in->max_iterations)
		return CONVERGE_STOP_COPY;
	/* No measurement yet (nothing was sent): one more round gives one. */
	if (*expected_ms < 0)
		return CONVERGE_ITERATE;
	return *expected_ms <= (double)in->downtime_ms ? CONVERGE_STOP_COPY : CONVERGE_ITERATE;
}
