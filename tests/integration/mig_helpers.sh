# Helpers of the live-migration tests (test_migrate.sh, test_migrate_faults.sh): a source and
# destinations running the test guest's scenario=state (state_helpers.sh), the control socket.

# mig_use NAME PID FD: makes a started VM the current one for the st_* helpers.
mig_use() { SNAME=$1 SPID=$2 ST_FD=$3; }

# mig_dest NAME URI ARGS...: a destination (stdin on fd ST_FD), waiting on URI (until it says
# so).
mig_dest() {
	local name=$1 uri=$2 i
	shift 2
	st_start "$name" "$@" --incoming "$uri"
	for i in $(seq 100); do
		grep -q "waiting for a migration" "$TMP/$name.err" 2>/dev/null && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "    destination $name is not listening:"; sed 's/^/    | /' "$TMP/$name.err"
	return 1
}

# mig_ctl SOCKNAME ARGS...: minivmm ctl on $TMP/SOCKNAME.sock; output in $TMP/ctl.out.
mig_ctl() {
	local sock=$1
	shift
	"$VMM" ctl "$TMP/$sock.sock" "$@" >"$TMP/ctl.out" 2>&1 && return 0
	echo "    ctl $*:"; sed 's/^/    | /' "$TMP/ctl.out"
	return 1
}

# mig_wait_phase SOCKNAME PHASE...: until migrate-status shows one of the phases (60 s).
mig_wait_phase() {
	local sock=$1 i p
	shift
	# Read with builtins: in the nested-KVM box every grep is a fork and exec of 50-100 ms.
	for ((i = 0; i < 600; i++)); do
		"$VMM" ctl "$TMP/$sock.sock" migrate-status >"$TMP/status.out" 2>&1 || true
		local line phase= gone=
		while IFS= read -r line; do
			[[ $line == "phase: "* ]] && phase=${line#phase: }
			# Once the VM has exited (a migration that completed between two polls).
			[[ $line == *"no such socket"* || $line == *"connection refused"* ]] && gone=1
		done <"$TMP/status.out"
		for p in "$@"; do [ "$phase" = "$p" ] && return 0; done
		# An end other than the one awaited: no use waiting (make test once waited 11 min).
		[[ $phase == @(completed|failed|cancelled|unknown) || -n $gone ]] && break
		sleep 0.1
	done
	echo "    migrate-status never showed $*:"; sed 's/^/    | /' "$TMP/status.out"
	[ -f "$TMP/$sock.err" ] && { echo "    $sock said:"; tail -n 8 "$TMP/$sock.err" | sed 's/^/    | /'; }
	return 1
}

# mig_hop FROM FROM_PID FROM_FD TO TO_FD URI CPUS [migrate args]: migrates the running VM FROM
# to a new destination TO (with MIG_DEST_ARGS too); on return TO is current and FROM has
# exited 0 ("migrated").
mig_hop() {
	local from=$1 fpid=$2 ffd=$3 to=$4 tfd=$5 uri=$6 cpus=$7 tpid
	shift 7
	ST_FD=$tfd
	mig_dest "$to" "$uri" $(st_flags "$cpus") ${MIG_DEST_ARGS:-} || return 1
	tpid=$SPID
	mig_ctl "$from" migrate uri="$uri" "$@" || {
		echo "    source $from said:"; tail -n 20 "$TMP/$from.err" | sed 's/^/    | /'
		echo "    destination $to said:"; tail -n 20 "$TMP/$to.err" | sed 's/^/    | /'
		return 1
	}
	mig_use "$from" "$fpid" "$ffd"
	st_end
	expect_rc 0 && expect_err "migration: completed" || return 1
	grep "migration: completed" "$TMP/$from.err" | sed 's/^minivmm: migration: /    note: /'
	mig_use "$to" "$tpid" "$tfd"
	grep "migration received" "$TMP/$to.err" | sed 's/^minivmm: migration /    note: destination /'
	grep -q "the VM runs here now" "$TMP/$to.err" ||
		{ echo "    destination $to did not say it runs the VM:"; sed 's/^/    | /' "$TMP/$to.err"; return 1; }
}

# The source must keep running after a failed migration, its guest's state intact.
mig_source_survives() {
	local r
	mig_use a "$APID" 9
	kill -0 "$SPID" 2>/dev/null || { echo "    the source exited"; return 1; }
	r=$(st_last_round)
	st_wait_round $((r + 16)) || { echo "    the source's guest does not go on"; return 1; }
	st_finish
}

