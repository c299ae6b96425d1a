/* Pre-copy's stop decision: see migrate/converge.h. */
#include "migrate/converge.h"

#include "migrate/throttle.h"

enum converge_step converge_decide(const struct converge_in *in, double *expected_ms)
{
	*expected_ms = in->bandwidth > 0 ? (double)in->remaining / in->bandwidth * 1e3 : -1;
	if (in->remaining == 0)
		return CONVERGE_STOP_COPY;
	if (*expected_ms >= 0 && *expected_ms <= (double)in->downtime_ms * CONVERGE_PAGES_SHARE)
		return CONVERGE_STOP_COPY;
	/* Rounds too short to measure the link (a few ms each) are a guest that converges. */
	if (in->iteration >= in->max_iterations)
		return *expected_ms < 0 ? CONVERGE_STOP_COPY : CONVERGE_GIVE_UP;
	/* Over the budget, or no measurement yet (nothing was sent): one more round. */
	return CONVERGE_ITERATE;
}

unsigned converge_throttle_step(struct converge_throttle *t, uint64_t dirtied, uint64_t sent)
{
	if (dirtied > sent / 2) {
		if (++t->high_rounds >= 2) {
			t->high_rounds = 0;
			t->pct = !t->pct ? THROTTLE_START_PCT : t->pct + THROTTLE_STEP_PCT;
			if (t->pct > THROTTLE_MAX_PCT)
				t->pct = THROTTLE_MAX_PCT;
		}
	} else {
		t->high_rounds = 0;
	}
	return t->pct;
}
