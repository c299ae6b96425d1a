#!/usr/bin/env bash
# Integration tests: boot the test guest through the real minivmm binary.
# Usage: tests/integration/run.sh [PATTERN]   (runs test files whose name matches PATTERN)
set -u
source "$(dirname "$0")/lib.sh"

if [ ! -c /dev/kvm ] || ! [ -r /dev/kvm -a -w /dev/kvm ]; then
	echo "SKIP all integration tests: /dev/kvm is missing or not accessible to $(id -un)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
for f in "$ROOT"/tests/integration/test_*.sh; do
	case "$f" in *"${1:-}"*) ;; *) continue ;; esac
	echo "== $(basename "$f")"
	source "$f"
done
t_summary
