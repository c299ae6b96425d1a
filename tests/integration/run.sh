#!/usr/bin/env bash
# Integration tests: boot the test guest through the real minivmm binary.
# Usage: tests/integration/run.sh [PATTERN]   (runs test files whose name matches PATTERN)
set -u
source "$(dirname "$0")/lib.sh"

source "$ROOT/tests/kvmbox/guest_suite.sh"
for f in "$ROOT"/tests/integration/test_*.sh; do
	# The file's name only: the checkout's own path may contain the pattern (/work/wt-api).
	case "$(basename "$f")" in *"${1:-}"*) ;; *) continue ;; esac
	echo "== $(basename "$f")"
	source "$f"
done
t_summary
