# Helpers for integration tests: run the real minivmm binary, assert on its output and status.
# Each test is a shell function; `t_run NAME FUNC` runs it and counts the result.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VMM=${VMM:-$ROOT/minivmm}
VMM_ASAN=${VMM_ASAN:-$ROOT/build/minivmm-asan}
GUEST=$ROOT/tests/guest/guest.bzImage
GUEST_ELF=$ROOT/tests/guest/guest.elf
TMP=$(mktemp -d /tmp/minivmm-it.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()

# vm [ARGS...]: runs `minivmm run ARGS` with stdin from /dev/null (or $VM_STDIN), a 60 s guard;
# leaves stdout in $OUT, stderr in $ERR, status in $RC.
vm() {
	local stdin=${VM_STDIN:-/dev/null}
	timeout -s KILL 60 "${VMM_BIN:-$VMM}" run "$@" >"$TMP/out" 2>"$TMP/err" <"$stdin"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# Assertions: print what was wrong and return non-zero.
expect_rc() {
	[ "$RC" -eq "$1" ] && return 0
	echo "    expected exit status $1, got $RC"
	return 1
}
expect_out() {
	grep -qF -- "$1" <<<"$OUT" && return 0
	echo "    stdout lacks: $1"
	return 1
}
expect_err() {
	grep -qF -- "$1" <<<"$ERR" && return 0
	echo "    stderr lacks: $1"
	return 1
}
expect_no_err() {
	[ -z "$ERR" ] && return 0
	echo "    unexpected stderr: $ERR"
	return 1
}

# bad_case EXPECTED-SUBSTRING ARGS...: minivmm must refuse ARGS with one line naming the input,
# exit status 1, and no guest output.
bad_case() {
	local want=$1
	shift
	vm "$@"
	expect_rc 1 && expect_err "$want" || return 1
	[ "$(wc -l <<<"$ERR")" -eq 1 ] || { echo "    more than one line on stderr"; return 1; }
	[ -z "$OUT" ] || { echo "    guest output on a failed start"; return 1; }
}

# skip REASON: ends the current test as skipped (tests run in a subshell of t_run).
# wait_out FILE TEXT SECONDS PID: until TEXT appears in FILE, while PID lives; otherwise says
# so and shows FILE.
wait_out() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		grep -qF -- "$2" "$1" && return 0
		kill -0 "$4" 2>/dev/null || break
		sleep 0.1
	done
	grep -qF -- "$2" "$1" || { echo "    no '$2' in $1"; cat "$1"; return 1; }
}

skip() {
	echo "    skipped: $*"
	exit 77
}

# t_run NAME FUNC [ARGS]: runs FUNC (in a subshell) and counts the result; with T_FILTER set,
# only tests whose NAME contains it.
t_run() {
	local name=$1 fn=$2 rc t0=$SECONDS
	shift 2
	case "$name" in *"${T_FILTER:-}"*) ;; *) return 0 ;; esac
	if out=$("$fn" "$@" 2>&1); then
		rc=0
	else
		rc=$?
	fi
	if [ $rc -eq 0 ]; then
		PASSED=$((PASSED + 1))
		echo "PASS $name ($((SECONDS - t0)) s)" # the suite has a time budget: see where it goes
		grep '^    note:' <<<"$out" # figures a test reports even when it passes
	elif [ $rc -eq 77 ]; then
		SKIPPED=$((SKIPPED + 1))
		# One line with the reason: the final summary of make test lists every skip.
		echo "SKIP $name: $(sed -n 's/^    skipped: //p' <<<"$out" | tail -1)"
	else
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$name")
		echo "FAIL $name ($((SECONDS - t0)) s)"
		echo "$out"
		echo "    --- stdout:"; head -c 2000 "$TMP/out" | sed 's/^/    | /'
		echo "    --- stderr:"; head -c 2000 "$TMP/err" | sed 's/^/    | /'
		# What a failed test left running (a VM holding an image's lock, a socket) would
		# fail the tests after it: every process started with a path in this suite's
		# directory goes.
		pkill -KILL -f -- "$TMP/" 2>/dev/null && sleep 0.5
	fi
}

t_summary() {
	echo
	[ ${#FAILED_NAMES[@]} -gt 0 ] && printf 'failed: %s\n' "${FAILED_NAMES[@]}"
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	[ "$FAILED" -eq 0 ]
}
