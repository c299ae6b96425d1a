# The test guest's verifiable-state scenario (scenario=state), driven from the host: shared by
# test_snapshot.sh and test_migrate.sh. One VM at a time is "current": SNAME (its files
# $TMP/SNAME.*), SPID, and ST_FD (the fd holding its stdin FIFO open, default 9).

SNAP_EDIT="/usr/bin/python3 $ROOT/tests/integration/snapshot_edit.py"

# st_start NAME ARGS...: minivmm run ARGS in the background, stdin from a FIFO kept open on fd ST_FD
# (st_send writes to it), output in $TMP/NAME.out/.err, control socket $TMP/NAME.sock.
st_start() {
	local name=$1
	shift
	rm -f "$TMP/$name.in" "$TMP/$name.sock"
	mkfifo "$TMP/$name.in"
	eval "exec ${ST_FD:-9}<>\"\$TMP/\$name.in\""
	"${VMM_BIN:-$VMM}" run --api-socket "$TMP/$name.sock" "$@" <"$TMP/$name.in" \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	SPID=$!
	SNAME=$name
}

st_send() { printf '%s' "$1" >&"${ST_FD:-9}"; }

# st_wait_round N [SECONDS]: until the guest printed a round >= N (rounds are multiples of 8).
st_wait_round() {
	local want=$1 limit=${2:-120} t0=$SECONDS r
	while [ $((SECONDS - t0)) -lt "$limit" ]; do
		r=$(st_last_round)
		[ -n "$r" ] && [ "$r" -ge "$want" ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.2
	done
	echo "    no round >= $want within ${limit}s (last: ${r:-none})"
	tail -n 3 "$TMP/$SNAME.out" "$TMP/$SNAME.err" | sed 's/^/    | /'
	return 1
}

st_last_round() { sed -n 's/^state: round \([0-9]*\)$/\1/p' "$TMP/$SNAME.out" | tail -1; }

# st_end: waits for the VM's exit (60 s); RC, OUT, ERR.
st_end() {
	local i
	for i in $(seq 600); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$SPID" 2>/dev/null && { echo "    still running: killed"; kill -KILL "$SPID"; }
	wait "$SPID"
	RC=$?
	eval "exec ${ST_FD:-9}>&-"
	OUT=$(cat "$TMP/$SNAME.out")
	ERR=$(cat "$TMP/$SNAME.err")
	cp "$TMP/$SNAME.out" "$TMP/out"
	cp "$TMP/$SNAME.err" "$TMP/err"
}

# st_finish: 'q', then the guest's own verification.
st_finish() {
	st_send q
	st_end
	expect_rc 0 && expect_out "state: verified" || return 1
	$SNAP_EDIT check-disk "$TMP/st.img" >/dev/null || { echo "    the disk breaks the scenario's rule"; return 1; }
}

# ST_DISK: another image (a migration's destination with disks=copy has its own).
st_flags() { echo --memory 256M --cpus "$1" --disk "path=${ST_DISK:-$TMP/st.img}" --console "file=$TMP/console.out"; }

