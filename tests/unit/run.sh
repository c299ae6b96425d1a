#!/usr/bin/env bash
# Unit tests (Check, tests/unit/): the plain build, then the ASan/UBSan build with leak checks.
# Prints the suite line "N passed, N failed, N skipped" from Check's own counts, plus one for
# the qcow2 layering check (tests/unit/layering.sh: no lower layer includes or calls a higher).
set -u
B=${BUILD:-build}
passed=0 failed=0
echo "== qcow2 layering"
if BUILD=$B "$(dirname "$0")/layering.sh"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
for variant in unit unit-asan; do
	echo "== $B/$variant"
	out=$(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=$([ $variant = unit ] && echo yes || echo no) \
		"$B/$variant" 2>&1)
	rc=$?
	echo "$out" | grep -v '^Running suite'
	read -r n f e < <(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' <<<"$out" | tail -1)
	if [ -z "${n:-}" ]; then
		echo "FAIL $variant: no Check summary (status $rc)"
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + n - f - e))
	failed=$((failed + f + e))
	[ "$rc" = 0 ] || [ $((f + e)) -gt 0 ] || { echo "FAIL $variant: status $rc"; failed=$((failed + 1)); }
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
