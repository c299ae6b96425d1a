# Live migration (issue #15) under faults at random points (tests/integration/fault_helpers.sh),
# rounds 6-10 of 10, in integration part 2 (test_migrate_faults.sh runs rounds 1-5 in part 1).

source "$ROOT/tests/integration/fault_helpers.sh"

t_run "faults of each kind at random points, second half of the rounds (killed, cut, cancelled, config, a bit flipped in each section kind): the source runs on" \
	t_faults_random $(fault_rounds 2)
