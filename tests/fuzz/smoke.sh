#!/usr/bin/env bash
# Every libFuzzer target for FUZZ_SECS seconds (default 8) from its committed seeds (copied: the
# seed corpus is not grown here), with a hang watchdog. A target passes when it ends with no
# crash, leak, hang or sanitizer report; a failing input is kept in build/fuzz-artifacts/.
# Prints executions and coverage per target: a longer FUZZ_SECS run gives the figures for the
# testing docs.   tests/fuzz/smoke.sh [TARGET...]   (make fuzz first; make fuzz-smoke does)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SECS=${FUZZ_SECS:-8}
ART=$ROOT/build/fuzz-artifacts
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ART"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=($(make -s -C "$ROOT" print-fuzz-targets))
passed=0 failed=0
for t in "${TARGETS[@]}"; do
	bin=build/fuzz/$t
	[ -x "$bin" ] || { echo "FAIL $t: $bin not built (make fuzz)"; failed=$((failed + 1)); continue; }
	mkdir -p "$WORK/$t"
	[ -d "tests/fuzz/corpus/$t" ] && cp tests/fuzz/corpus/"$t"/* "$WORK/$t/" 2>/dev/null
	opts=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$ART/$t-")
	[ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
	"$bin" "${opts[@]}" "$WORK/$t" >"$WORK/$t.log" 2>&1 &
	pid=$!
	wait $pid
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log")
	cov=$(grep -oE 'cov: [0-9]+' "$WORK/$t.log" | tail -1)
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $t: ${execs:-?} executions in ${SECS}s, ${cov:-cov: ?} edges"
	else
		failed=$((failed + 1))
		echo "FAIL $t (status $rc):"
		grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$WORK/$t.log" | head -5 | sed 's/^/    /'
		# the first report's stack: CI keeps only this output, not the artifact
		grep -m 12 -E '^ +#[0-9]+ ' "$WORK/$t.log" | sed 's/^ */    /'
	fi
	rm -f "/dev/shm/fuzz-virtio-blk-$pid" 2>/dev/null # its own: a campaign may run beside
done
echo "$passed passed, $failed failed, 0 skipped"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
