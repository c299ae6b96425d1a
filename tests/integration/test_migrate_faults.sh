# Live migration (issue #15) under faults at random points (tests/integration/fault_helpers.sh),
# rounds 1-5 of 10; test_migrate_faults_more.sh runs the other five in make test's other lane.
# Integration part 1, where the stock kernel's build on an empty cache does not add to it.

source "$ROOT/tests/integration/fault_helpers.sh"

t_run "faults of each kind at random points, first half of the rounds (killed, cut, cancelled, config, a bit flipped in each section kind): the source runs on" \
	t_faults_random $(fault_rounds 1)
