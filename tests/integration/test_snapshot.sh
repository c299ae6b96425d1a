# Snapshot and restore (issue #14) with the test guest's verifiable-state scenario (scenario=state:
# every CPU rewrites its pages round after round, checking each still holds the last round's
# pattern; the BSP writes and checks disk sectors and prints progress on COM1 and
# virtio-console). A VM is snapshotted through the control socket while the guest works, and a
# new process restores it; on 'q' the guest checks every page and sector and exits 0.

source "$ROOT/tests/integration/state_helpers.sh"

# st_snapshot FILE: snapshot {stop} through the socket; the VM then exits 0.
st_snapshot() {
	"$VMM" ctl "$TMP/$SNAME.sock" snapshot path="$1" stop=true >"$TMP/ctl.out" 2>&1 ||
		{ echo "    ctl snapshot failed:"; sed 's/^/    | /' "$TMP/ctl.out"; echo "    the VM's stderr:"
		  sleep 1; sed 's/^/    | /' "$TMP/$SNAME.err"; return 1; }
	st_end
	expect_rc 0
}

t_snapshot_restore() {
	local cpus=$1 before after
	truncate -s 1M "$TMP/st.img"
	st_start a $(st_flags "$cpus") --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 24 || return 1
	st_snapshot "$TMP/snap" || return 1
	before=$(st_last_round)
	[ -s "$TMP/snap" ] || { echo "    no snapshot file"; return 1; }
	echo "    note: snapshot of a 256 MiB guest with $cpus vCPUs: $(du -k "$TMP/snap" | cut -f1) KiB on disk"
	st_start b $(st_flags "$cpus") --restore "$TMP/snap"
	st_wait_round $((before + 16)) || return 1
	after=$(sed -n 's/^state: round \([0-9]*\)$/\1/p' "$TMP/b.out" | head -1)
	[ "$after" -gt "$before" ] || { echo "    restored guest started again at round $after (saved after $before)"; return 1; }
	st_finish || return 1
	grep -q "state-console: round $((after + 8))" "$TMP/console.out" ||
		{ echo "    virtio-console output did not continue after the restore"; return 1; }
}
t_run "snapshot while the guest works, restore in a new process, --cpus 1: pages, disk, serial and console continue" t_snapshot_restore 1
t_run "the same with --cpus 4 (every vCPU's pages)" t_snapshot_restore 4

t_ten_cycles() {
	local i r
	truncate -s 1M "$TMP/st.img"
	st_start c0 $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	for i in $(seq 1 10); do
		st_wait_round $((i * 16)) || return 1
		# Only now, once the restored VM runs, has it surely read the previous file.
		rm -f "$TMP/snap$((i - 1))"
		st_snapshot "$TMP/snap$i" || { echo "    cycle $i"; return 1; }
		st_start "c$i" $(st_flags 2) --restore "$TMP/snap$i"
	done
	r=$(st_last_round)
	st_wait_round $((r + 8)) && st_finish
}
t_run "10 snapshot/restore cycles of one VM" t_ten_cycles

t_restore_twice() {
	local first second
	truncate -s 1M "$TMP/st.img"
	cp "$TMP/st.img" "$TMP/st.orig"
	st_start d $(st_flags 1) --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 16 && st_snapshot "$TMP/snap" || return 1
	cp "$TMP/st.img" "$TMP/st.at-snapshot"
	st_start e1 $(st_flags 1) --restore "$TMP/snap"
	st_wait_round 1 && st_finish || return 1
	first=$(grep -m1 "^state: round" "$TMP/e1.out")
	# The disk must be as it was at the snapshot for the second restore: the guest's record
	# of its sectors comes from the snapshot.
	cp "$TMP/st.at-snapshot" "$TMP/st.img"
	st_start e2 $(st_flags 1) --restore "$TMP/snap"
	st_wait_round 1 && st_finish || return 1
	second=$(grep -m1 "^state: round" "$TMP/e2.out")
	[ "$first" = "$second" ] || { echo "    first restore went on with '$first', the second with '$second'"; return 1; }
}
t_run "a snapshot restored twice from one file continues the same way" t_restore_twice

t_restore_elsewhere() {
	truncate -s 1M "$TMP/st.img"
	st_start f $(st_flags 1) --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 16 && st_snapshot "$TMP/snap" || return 1
	# Offline migration: the snapshot and the disk copied to another directory ("host").
	mkdir -p "$TMP/other-host"
	cp "$TMP/snap" "$TMP/st.img" "$TMP/other-host/"
	rm -f "$TMP/snap"
	: >"$TMP/st.img"
	st_start g --memory 256M --cpus 1 --disk "path=$TMP/other-host/st.img" --console "file=$TMP/console.out" \
		--restore "$TMP/other-host/snap"
	st_wait_round 1 || return 1
	st_send q
	st_end
	expect_rc 0 && expect_out "state: verified" && $SNAP_EDIT check-disk "$TMP/other-host/st.img" >/dev/null
}
t_run "restore in another directory with the disk copied (offline migration)" t_restore_elsewhere

# A snapshot to break in every way: taken once, edited per case.
t_hostile_snapshots() {
	local name want n=0 bad=0
	truncate -s 1M "$TMP/st.img"
	st_start h $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 8 && st_snapshot "$TMP/good" || return 1
	while IFS=$'\t' read -r name want; do
		n=$((n + 1))
		$SNAP_EDIT corrupt "$TMP/good" "$TMP/bad" "$name" || { echo "    $name: could not make it"; bad=1; continue; }
		VMM_BIN=$VMM_ASAN vm $(st_flags 2) --restore "$TMP/bad"
		if [ "$RC" != 1 ] || ! grep -qF -- "$want" <<<"$ERR" || [ "$(wc -l <<<"$ERR")" != 1 ] ||
			grep -q "Sanitizer\|runtime error" <<<"$ERR"; then
			echo "    $name: status $RC, stderr: $(head -c 300 <<<"$ERR")"
			bad=1
		fi
	done < <($SNAP_EDIT cases)
	# Configuration mismatches from the flags.
	vm $(st_flags 1) --restore "$TMP/good"
	expect_rc 1 && expect_err "cpus (--cpus): the snapshot has 2, this VM 1" || bad=1
	vm --memory 128M --cpus 2 --disk "path=$TMP/st.img" --console "file=$TMP/console.out" --restore "$TMP/good"
	expect_rc 1 && expect_err "ram-size (--memory)" || bad=1
	truncate -s 2M "$TMP/st2.img"
	vm --memory 256M --cpus 2 --disk "path=$TMP/st2.img" --console "file=$TMP/console.out" --restore "$TMP/good"
	expect_rc 1 && expect_err "size: the snapshot has 1048576, this VM 2097152" || bad=1
	vm --memory 256M --cpus 2 --disk "path=$TMP/st.img" --restore "$TMP/good"
	expect_rc 1 && expect_err "the snapshot's VM has devices/virtio@d0001000" || bad=1
	echo "    note: $n hostile snapshot files and 4 configuration mismatches refused"
	[ $bad = 0 ]
}
t_run "hostile snapshot files (every section truncated, flipped, lengths, FDT types and sizes, queues, RAM runs) and config mismatches: one line, status 1, no sanitizer report" t_hostile_snapshots
