# Live migration (issue #15) under faults at random points: the attempts and their checks,
# for test_migrate_faults.sh (rounds 1-5, integration part 1) and test_migrate_faults_more.sh
# (rounds 6-10, part 2).

source "$ROOT/tests/integration/state_helpers.sh"
source "$ROOT/tests/integration/mig_helpers.sh"

# Each fault at a random point, 10 times (the issue's count; MIG_FAULT_ROUNDS changes it),
# against one source VM per half that must survive them all: the destination killed, the
# connection cut after a random number of bytes (the stream truncated), one bit flipped in a
# section of each kind (build/mig_proxy, a man in the middle), a configuration that differs,
# a cancel. Every destination must exit 1 without running the guest; the source must report
# the failure, run on, and its guest's check pass at the end.
MIG_PROXY=$ROOT/build/mig_proxy

# flog WHAT: a timestamped line in $MIG_FAULT_LOG, if set (where an attempt's time goes).
flog() {
	[ -z "${MIG_FAULT_LOG:-}" ] || printf '%(%T)T.%s %s\n' -1 "${EPOCHREALTIME#*.}" "$*" >>"$MIG_FAULT_LOG"
}

mig_fault_once() {
	local i=$1 kind=$2 name=b$1 r=$RANDOM uri="unix:$TMP/mig.sock" bpid pxpid=
	local flags=$(st_flags 2) args=""
	case $kind in
	mismatch) flags=$(case $((i % 3)) in 0) echo --memory 128M --cpus 2 ;; 1) echo --memory 256M --cpus 1 ;;
		*) echo --memory 256M --cpus 3 ;; esac) flags="$flags --disk path=$TMP/st.img --console file=$TMP/console.out" ;;
	# The first pass sends only the pages the guest populated (under 1 MB): at 1 MB/s it
	# was over before a cancel 0.1-1.5 s later could land in pre-copy.
	kill | cancel) args="bandwidth=0.2" ;;
	esac
	ST_FD=8 mig_dest "$name" "unix:$TMP/mig.sock" $flags || return 1
	bpid=$SPID
	case $kind in
	cut | flip-*)
		uri="unix:$TMP/px.sock"
		rm -f "$TMP/px.out"
		if [ "$kind" = cut ]; then
			"$MIG_PROXY" "$TMP/px.sock" "$TMP/mig.sock" cut $((r * 45)) \
				>"$TMP/px.out" 2>"$TMP/px.err" &
			pxpid=$!
		else
			"$MIG_PROXY" "$TMP/px.sock" "$TMP/mig.sock" flip "${kind#flip-}" "$r" \
				>"$TMP/px.out" 2>"$TMP/px.err" &
			pxpid=$!
		fi
		for _ in $(seq 50); do grep -q listening "$TMP/px.out" 2>/dev/null && break; sleep 0.1; done ;;
	esac
	flog "  destination up"
	mig_ctl a migrate uri="$uri" $args || return 1
	case $kind in
	kill) sleep "0.$((r % 15 + 1))"; kill -KILL "$bpid" ;;
	cancel) sleep "0.$((r % 15 + 1))"; mig_ctl a migrate-cancel || return 1 ;;
	esac
	mig_wait_phase a failed cancelled || return 1
	flog "  source failed"
	# The proxy is done once the source gave up (a side it waits on may never close).
	[ -n "$pxpid" ] && { kill "$pxpid" 2>/dev/null; wait "$pxpid" 2>/dev/null; }
	mig_use "$name" "$bpid" 8
	st_end
	flog "  destination ended $RC"
	if [ "$kind" != kill ]; then
		[ "$RC" = 1 ] || { echo "    $kind: the destination exited $RC, not 1"; tail -3 "$TMP/$name.err" | sed 's/^/    | /'; return 1; }
	fi
	[ -z "$OUT" ] || { echo "    $kind: the destination's guest ran"; return 1; }
	case $kind in
	cut | flip-*) grep -q "^proxy: \(cut\|flipped\)" "$TMP/px.err" ||
		{ echo "    $kind: no fault happened:"; sed 's/^/    | /' "$TMP/px.err"; return 1; } ;;
	esac
	echo "$kind: $(tail -1 "$TMP/$name.err" | sed 's/^minivmm: //; s/--incoming unix:[^:]*: //' | cut -c1-100)" >>"$TMP/faults.log"
	rm -f "$TMP/$name".*
	mig_use a "$APID" 9
	kill -0 "$APID" 2>/dev/null || { echo "    $kind: the source exited"; tail -5 "$TMP/a.err" | sed 's/^/    | /'; return 1; }
}

# t_faults_random FIRST LAST: rounds FIRST..LAST (of MIG_FAULT_ROUNDS), one of each kind per
# round. The rounds are split between two test files, one in each of make test's lanes: an
# attempt costs about 10 s in the nested-KVM box, mostly process start-ups (a fork and exec
# there takes 50-100 ms), and 100 in one lane would add 13 minutes to make test.
t_faults_random() {
	local first=$1 last=$2 i k n=0 kinds="kill cut cancel mismatch flip-config flip-header flip-magic flip-ram flip-state flip-end"
	[ "$first" -le "$last" ] || { echo "    skipped: MIG_FAULT_ROUNDS=${MIG_FAULT_ROUNDS:-} leaves this half no round"; return 77; }
	truncate -s 1M "$TMP/st.img"
	: >"$TMP/faults.log"
	ST_FD=9 st_start a $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	APID=$SPID
	st_wait_round 16 || return 1
	[ -x "$MIG_PROXY" ] || { echo "    $MIG_PROXY is not built (make build/mig_proxy)"; return 1; }
	for i in $(seq "$first" "$last"); do
		for k in $kinds; do
			flog "$i $k"
			mig_fault_once "$i" "$k" || { echo "    attempt $i, $k"; return 1; }
			n=$((n + 1))
		done
	done
	echo "    note: $n faults, each destination refused or died and the source ran on; what the destinations said:"
	sed 's/[0-9][0-9]*/N/g' "$TMP/faults.log" | sort | uniq -c | sed 's/^/    note: /'
	mig_source_survives
}

# The first and last round of half H (1 or 2) of MIG_FAULT_ROUNDS (default 10).
fault_rounds() {
	local n=${MIG_FAULT_ROUNDS:-10} h=$1
	local mid=$(((n + 1) / 2))
	[ "$h" = 1 ] && echo "1 $mid" || echo "$((mid + 1)) $n"
}
