#!/usr/bin/env bash
# make test: every suite, guests booted on every host. Where /dev/kvm is usable the guest suites
# run directly, one after another; where it is not, each runs inside the nested-KVM box
# (tests/kvmbox/run, one TCG CPU each) in two lanes side by side, so both host cores work:
#   lane 1: the box's self-test, half the integration suite (test guest), oracle (test guest
#           under QEMU)
#   lane 2: unit, qcow2 and fuzz (host only), the other half of the integration suite, the tiny
#           Linux kernel (built on the host first), Debian's stock kernel
# Output lines carry the suite's name; logs stay in build/test-logs/. At the end: one line per
# suite, every skip with its reason, and the verdict: a failure, or a suite that passed no
# test, fails make test.
#   tests/run.sh [SUITE...]     only these (unit qcow2 fuzz kvmbox integration oracle linux stock)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
LOGS=$ROOT/build/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
T0=$SECONDS

declare -A CMD=(
	[unit]=tests/unit/run.sh [qcow2]=tests/qcow2/run.sh [kvmbox]=tests/kvmbox/test.sh
	[integration]=tests/integration/run.sh [oracle]=tests/oracle/run.sh
	[linux]=tests/linux/run.sh [stock]=tests/linux/stock/run.sh [fuzz]=tests/fuzz/smoke.sh
	[integration-1]="tests/integration/run.sh --part 1"
	[integration-2]="tests/integration/run.sh --part 2"
)
ORDER=(unit qcow2 fuzz kvmbox integration oracle linux stock)
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=("${ORDER[@]}")
for s in "${WANT[@]}"; do
	[ -n "${CMD[$s]:-}" ] || { echo "tests/run.sh: unknown suite '$s' (${ORDER[*]})" >&2; exit 2; }
done
wanted() { [[ " ${WANT[*]} " == *" $1 "* ]]; }

# suite NAME [ASKED]: runs it if ASKED (default NAME) was asked for, output prefixed with [NAME]
# as it comes, status and time kept in $LOGS.
suite() {
	local name=$1 t0=$SECONDS
	wanted "${2:-$name}" || return 0
	# shellcheck disable=SC2086 # a command and its arguments, no spaces in them
	${CMD[$name]} 2>&1 | tee "$LOGS/$name.log" | sed -u "s/^/[$name] /"
	echo "${PIPESTATUS[0]}" >"$LOGS/$name.rc"
	echo $((SECONDS - t0)) >"$LOGS/$name.secs"
}

if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	echo "== /dev/kvm is usable here: guest suites run directly"
	echo "SKIP kvmbox: this host has /dev/kvm, so no suite needs the box" >"$LOGS/kvmbox.skip"
	for s in unit qcow2 fuzz integration oracle linux stock; do suite $s; done
else
	echo "== no usable /dev/kvm here: guest suites run in the nested-KVM box, two lanes"
	# The integration suite in two halves, one per lane (the host-only suites leave lane 2
	# room), so that neither lane waits long for the other.
	ORDER=(unit qcow2 fuzz kvmbox integration-1 integration-2 oracle linux stock)
	(suite kvmbox; suite integration-1 integration; suite oracle) &
	lane1=$!
	suite unit
	suite qcow2
	suite fuzz
	suite integration-2 integration
	suite linux
	suite stock
	wait $lane1
fi

echo
echo "== summary ($((SECONDS - T0)) s)"
bad=0 total_p=0 total_f=0 total_s=0
for s in "${ORDER[@]}"; do
	wanted "${s%-[12]}" || continue
	if [ -f "$LOGS/$s.skip" ]; then
		printf '%-14s skipped\n' "$s"
		continue
	fi
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$LOGS/$s.log" 2>/dev/null | tail -1)
	rc=$(cat "$LOGS/$s.rc" 2>/dev/null || echo "?")
	printf '%-14s %-40s %5s s  status %s\n' "$s" "${line:-no summary line}" "$(cat "$LOGS/$s.secs" 2>/dev/null)" "$rc"
	read -r p f k <<<"$(sed -E 's/^([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"${line:-x x x}")"
	if [ -z "$line" ] || [ "$rc" != 0 ] || [ "$f" != 0 ]; then
		bad=1
	elif [ "$p" = 0 ]; then
		echo "             ran no test: that fails make test"
		bad=1
	fi
	[[ $p =~ ^[0-9]+$ ]] && total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + k))
done
skips=$(cd "$LOGS" && grep -h '^SKIP ' ./*.log ./*.skip 2>/dev/null)
if [ -n "$skips" ]; then
	echo "skipped:"
	sed 's/^/  /' <<<"$skips"
fi
# What failed, at the end where a CI log's tail shows it: each FAIL line with the first lines the
# test printed (the whole output stays in build/test-logs/SUITE.log).
fails=$(cd "$LOGS" && for f in ./*.log; do
	awk -v s="$(basename "$f" .log)" '
		/^FAIL / { n = 12; print "  [" s "] " $0; next }
		/^(PASS|SKIP) / { n = 0 }
		n > 0 { print "  [" s "] " $0; n-- }' "$f"
done)
if [ -n "$fails" ]; then
	echo "failed (first lines of each; whole logs in build/test-logs/):"
	echo "$fails"
fi
echo "make test: $total_p passed, $total_f failed, $total_s skipped in $((SECONDS - T0)) s: $([ $bad = 0 ] && echo PASS || echo FAIL)"
exit $bad
