#!/usr/bin/env bash
# Integration tests: boot the test guest through the real minivmm binary.
# Usage: tests/integration/run.sh [--part 1|2] [PATTERN]
#   PATTERN: only test files whose name contains it. --part: one of two halves of about equal
#   time (PART2 below), so that make test runs them side by side where it has two lanes.
set -u
source "$(dirname "$0")/lib.sh"

source "$ROOT/tests/kvmbox/guest_suite.sh"
# The second half: about 16 of the suite's 36 minutes in the box (the times make test prints
# for each test), because the second lane also runs unit, qcow2, fuzz, linux and stock. The
# migration fault rounds are split between the halves (tests/integration/fault_helpers.sh).
PART2=" test_api.sh test_hardening.sh test_storage.sh test_bad_input.sh test_sanitized.sh test_migrate_faults_more.sh "
part=
if [ "${1:-}" = --part ]; then
	part=$2
	shift 2
	[[ $part == [12] ]] || { echo "tests/integration/run.sh: --part 1 or 2, not '$part'"; exit 2; }
fi
for f in "$ROOT"/tests/integration/test_*.sh; do
	# The file's name only: the checkout's own path may contain the pattern (/work/wt-api).
	case "$(basename "$f")" in *"${1:-}"*) ;; *) continue ;; esac
	if [ -n "$part" ]; then
		[[ $PART2 == *" $(basename "$f") "* ]] && in2=2 || in2=1
		[ "$in2" = "$part" ] || continue
	fi
	echo "== $(basename "$f")"
	source "$f"
done
t_summary
