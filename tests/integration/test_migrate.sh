# Live migration (issue #15) with the test guest's verifiable-state scenario: a source VM works
# (every CPU rewriting its pages round after round, the BSP writing disk sectors), a
# destination `minivmm run --incoming URI` with the same flags waits, `minivmm ctl migrate`
# moves the VM while it runs; the destination's guest then checks every page and sector ('q'
# → "state: verified") and the host checks the disk. Faults (destination killed, cancel, a
# configuration that differs) must leave the source running, its guest's check passing later.

source "$ROOT/tests/integration/state_helpers.sh"
source "$ROOT/tests/integration/mig_helpers.sh"

t_migrate() {
	local cpus=$1 uri=$2 pages=${3:-64} before after
	truncate -s 1M "$TMP/st.img"
	ST_FD=9 st_start a $(st_flags "$cpus") --kernel "$GUEST" --cmdline "scenario=state pages=$pages"
	st_wait_round 24 || return 1
	mig_hop a "$SPID" 9 b 8 "$uri" "$cpus" || return 1
	before=$(sed -n 's/^state: round \([0-9]*\)$/\1/p' "$TMP/a.out" | tail -1)
	st_wait_round $((before + 16)) || return 1
	after=$(sed -n 's/^state: round \([0-9]*\)$/\1/p' "$TMP/b.out" | head -1)
	[ "$after" -gt "$before" ] || { echo "    destination started at round $after, source was at $before"; return 1; }
	st_finish
}
t_run "migrate over a unix socket, --cpus 1: pages and disk check out on the destination" t_migrate 1 "unix:$TMP/mig.sock"
t_run "migrate over tcp 127.0.0.1, --cpus 4" t_migrate 4 "tcp:127.0.0.1:47615"
# Faster than the link (the box's ~20 MB/s): without auto-converge this took 31 rounds, 1 GB
# and a 1084 ms downtime; the vCPU throttle must have been raised to converge.
t_fast_dirtier() {
	t_migrate 2 "unix:$TMP/mig.sock" 4096 || return 1
	grep -q "vCPU throttle up to [1-9]" "$TMP/a.err" ||
		{ echo "    auto-converge never throttled the vCPUs:"; grep "migration:" "$TMP/a.err" | tail -5 | sed 's/^/    | /'; return 1; }
}
t_run "migrate a guest dirtying 16 MiB per vCPU continuously, --cpus 2: auto-converge throttles it" t_fast_dirtier

# Two "hosts": network namespaces joined by a veth pair (10.77.0.1 and 10.77.0.2), the source
# in one, the destination in the other; created and deleted here.
t_migrate_netns() {
	local ns=mvmm$$ ret
	ip netns add "${ns}a" && ip netns add "${ns}b" || skip "cannot create network namespaces"
	ip link add "${ns}x" netns "${ns}a" type veth peer name "${ns}y" netns "${ns}b" &&
		ip -n "${ns}a" addr add 10.77.0.1/24 dev "${ns}x" &&
		ip -n "${ns}b" addr add 10.77.0.2/24 dev "${ns}y" &&
		ip -n "${ns}a" link set "${ns}x" up && ip -n "${ns}b" link set "${ns}y" up &&
		ip -n "${ns}a" link set lo up && ip -n "${ns}b" link set lo up || {
		ip netns del "${ns}a"; ip netns del "${ns}b"
		echo "    cannot set up the veth pair"
		return 1
	}
	printf '#!/bin/sh\nexec ip netns exec %s "%s" "$@"\n' "${ns}a" "$VMM" >"$TMP/host-a"
	printf '#!/bin/sh\nexec ip netns exec %s "%s" "$@"\n' "${ns}b" "$VMM" >"$TMP/host-b"
	chmod +x "$TMP/host-a" "$TMP/host-b"
	(
		truncate -s 1M "$TMP/st.img"
		VMM_BIN=$TMP/host-a ST_FD=9 st_start a $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
		st_wait_round 16 || exit 1
		VMM_BIN=$TMP/host-b mig_hop a "$SPID" 9 b 8 "tcp:10.77.0.2:47616" 2 || exit 1
		r=$(st_last_round)
		st_wait_round $((${r:-0} + 16)) && st_finish
	)
	ret=$?
	ip netns del "${ns}a"
	ip netns del "${ns}b"
	return $ret
}
t_run "migrate over tcp between two network namespaces joined by a veth pair, --cpus 2" t_migrate_netns

t_back_and_forth() {
	local i from=a fpid ffd=9 to tfd r
	truncate -s 1M "$TMP/st.img"
	ST_FD=9 st_start a $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	fpid=$SPID
	st_wait_round 16 || return 1
	for i in $(seq 1 10); do
		to=h$i
		tfd=$((ffd == 9 ? 8 : 9))
		mig_hop "$from" "$fpid" "$ffd" "$to" "$tfd" "unix:$TMP/mig.sock" 2 >/dev/null ||
			{ echo "    hop $i"; return 1; }
		from=$to fpid=$SPID ffd=$tfd
		r=$(st_last_round)
		st_wait_round $((${r:-0} + 8)) || { echo "    hop $i: the guest does not go on"; return 1; }
	done
	st_finish
}
t_run "10 migrations back and forth of one VM" t_back_and_forth

# mig_pair CPUS: a source 'a' (APID) whose guest rewrites 16 MiB per vCPU continuously, and a
# destination 'b' (its pid in SPID and BPID) waiting on unix:$TMP/mig.sock. mig_pair_cmd CPUS
# CMDLINE: the same with the source's guest command line.
mig_pair_cmd() {
	truncate -s 1M "$TMP/st.img"
	ST_FD=9 st_start a $(st_flags "$1") --kernel "$GUEST" --cmdline "$2"
	APID=$SPID
	st_wait_round 16 || return 1
	ST_FD=8 mig_dest b "unix:$TMP/mig.sock" $(st_flags "$1") || return 1
	BPID=$SPID
}
mig_pair() { mig_pair_cmd "$1" "scenario=state pages=4096"; }

t_dest_killed() {
	mig_pair 1 || return 1
	# A low bandwidth keeps the migration running long enough to kill the destination.
	mig_ctl a migrate uri="unix:$TMP/mig.sock" bandwidth=4 || return 1
	mig_wait_phase a pre-copy || return 1
	sleep 0.5
	kill -KILL "$SPID"
	wait "$SPID" 2>/dev/null
	mig_wait_phase a failed || return 1
	grep -q "^error: " "$TMP/status.out" || { echo "    no error in migrate-status"; return 1; }
	mig_source_survives
}
t_run "destination killed mid-stream: the source runs on, its guest's state intact" t_dest_killed

# A destination that stops reading (SIGSTOP: hung, or a peer that takes nothing): the source's
# send gives up after 30 s without progress, and the guest, throttled meanwhile by
# auto-converge, runs on at full speed.
t_dest_stopped() {
	mig_pair 2 || return 1
	BPID=$SPID
	mig_ctl a migrate uri="unix:$TMP/mig.sock" || return 1
	mig_wait_phase a pre-copy || return 1
	sleep 0.5
	kill -STOP "$BPID"
	mig_wait_phase a failed || { kill -KILL "$BPID"; return 1; }
	kill -KILL "$BPID"
	wait "$BPID" 2>/dev/null
	grep -q "^error: .*the destination took no data for 30 s" "$TMP/status.out" ||
		{ echo "    not the error expected:"; sed 's/^/    | /' "$TMP/status.out"; return 1; }
	grep -q "^throttle_pct: 0$" "$TMP/status.out" ||
		{ echo "    the throttle is still on:"; sed 's/^/    | /' "$TMP/status.out"; return 1; }
	mig_source_survives
}
t_run "destination stops reading (SIGSTOP): the source gives up after 30 s and runs on" t_dest_stopped

t_cancel() {
	mig_pair 2 || return 1
	BPID=$SPID
	mig_ctl a migrate uri="unix:$TMP/mig.sock" bandwidth=4 || return 1
	mig_wait_phase a pre-copy || return 1
	mig_ctl a migrate-cancel || return 1
	mig_wait_phase a cancelled || return 1
	# The destination saw the stream end early: exits 1 and never ran the VM.
	mig_use b "$BPID" 8
	st_end
	expect_rc 1 && expect_err "truncated" || return 1
	[ -z "$OUT" ] || { echo "    the destination's guest ran"; return 1; }
	mig_source_survives
}
t_run "migrate-cancel: the source runs on; the destination exits 1 without running" t_cancel

# A peer that connects, sends a few bytes and then nothing: SIGTERM still stops the
# destination (before, only SIGKILL did: its signals arrive only through the signalfd, which
# nothing watched while the stream was read).
t_dest_silent_peer() {
	local peer i
	truncate -s 1M "$TMP/st.img"
	ST_FD=8 mig_dest b "unix:$TMP/mig.sock" $(st_flags 1) || return 1
	BPID=$SPID
	rm -f "$TMP/peer.sent"
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"MINI")
open(sys.argv[2], "w").close()
time.sleep(120)' "$TMP/mig.sock" "$TMP/peer.sent" &
	peer=$!
	for ((i = 0; i < 300; i++)); do [ -e "$TMP/peer.sent" ] && break; sleep 0.1; done
	sleep 0.5
	kill -TERM "$BPID"
	mig_use b "$BPID" 8
	st_end
	kill "$peer" 2>/dev/null
	wait "$peer" 2>/dev/null
	expect_rc 1 && expect_err "stopped by a signal while waiting for the header" || return 1
	[ -z "$OUT" ] || { echo "    the destination's guest ran"; return 1; }
}
t_run "a peer that connects and then sends nothing: SIGTERM stops the destination (exit 1)" t_dest_silent_peer

t_config_mismatch() {
	truncate -s 1M "$TMP/st.img"
	ST_FD=9 st_start a $(st_flags 1) --kernel "$GUEST" --cmdline "scenario=state"
	APID=$SPID
	st_wait_round 16 || return 1
	ST_FD=8 mig_dest b "unix:$TMP/mig.sock" --memory 128M --cpus 1 --disk "path=$TMP/st.img" \
		--console "file=$TMP/console.out" || return 1
	BPID=$SPID
	mig_ctl a migrate uri="unix:$TMP/mig.sock" || return 1
	mig_use b "$BPID" 8
	st_end
	expect_rc 1 && expect_err "ram-size (--memory): the source has 268435456, this VM 134217728" || return 1
	mig_use a "$APID" 9
	mig_wait_phase a failed || return 1
	mig_source_survives
}
t_run "a destination with another --memory refuses, naming it; the source runs on" t_config_mismatch

# A qcow2 image on shared storage: the destination opens it only at the hand-over (its
# tables as the source left them); the source gives its lock up only then. The guest's disk
# rule holds on the image read back through qemu-img, which finds it clean.
t_migrate_qcow2_run() {
	local before
	rm -f "$TMP/st.img"
	"$VMM" img create -f qcow2 "$TMP/st.img" 1M >/dev/null || return 1
	ST_FD=9 st_start a $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 24 || return 1
	mig_hop a "$SPID" 9 b 8 "unix:$TMP/mig.sock" 2 || return 1
	before=$(sed -n 's/^state: round \([0-9]*\)$/\1/p' "$TMP/a.out" | tail -1)
	st_wait_round $((before + 16)) || return 1
	st_send q
	st_end
	expect_rc 0 && expect_out "state: verified" || return 1
	qemu-img check "$TMP/st.img" >"$TMP/check.out" 2>&1 ||
		{ echo "    qemu-img check:"; sed 's/^/    | /' "$TMP/check.out"; return 1; }
	qemu-img convert -O raw "$TMP/st.img" "$TMP/st.raw" || return 1
	$SNAP_EDIT check-disk "$TMP/st.raw" >/dev/null || { echo "    the disk breaks the scenario's rule"; return 1; }
}
# The other tests `truncate` st.img: a qcow2 header left in it would stay.
t_migrate_qcow2() {
	t_migrate_qcow2_run
	local rc=$?
	rm -f "$TMP/st.img" "$TMP/st.raw"
	return $rc
}
t_run "migrate a VM on a qcow2 image (shared storage), --cpus 2: qemu-img check clean, disk checks out" t_migrate_qcow2

# Shared storage keeps one writer (QEMU's "inactive image" model): while the destination waits
# with the image open, the source holds its QEMU-compatible write lock, so QEMU cannot write
# it; after the hand-over the destination holds it; once that has exited, QEMU can (the
# control: the refusals were the VMMs' locks).
qemu_write_refused() {
	qemu-io -f raw -c "write 0 512" "$TMP/st.img" >"$TMP/qio.out" 2>&1
	grep -q 'Failed to get "write" lock' "$TMP/qio.out" && return 0
	echo "    QEMU was not refused $1:"; sed 's/^/    | /' "$TMP/qio.out"
	return 1
}
t_migrate_lock_moves() {
	mig_pair_cmd 1 "scenario=state" || return 1
	qemu_write_refused "with the destination waiting" || return 1
	mig_ctl a migrate uri="unix:$TMP/mig.sock" || return 1
	mig_use a "$APID" 9
	st_end
	expect_rc 0 && expect_err "migration: completed" || return 1
	mig_use b "$BPID" 8
	st_wait_round $(($(st_last_round) + 8)) || return 1
	qemu_write_refused "after the hand-over" || return 1
	st_finish || return 1
	qemu-io -f raw -c "read 0 512" "$TMP/st.img" >"$TMP/qio.out" 2>&1 ||
		{ echo "    QEMU could not read the image after both VMMs exited:"; sed 's/^/    | /' "$TMP/qio.out"; return 1; }
}
t_run "shared storage: QEMU cannot write the image while the destination waits (the source's lock) nor after the hand-over (the destination's)" t_migrate_lock_moves

# An unknown outcome (docs/migration.md): the whole stream sent, then neither a confirmation
# nor a refusal, here 30 s of silence through build/mig_proxy. The source must not resume on
# its own (the destination may run the VM: no split brain): phase "unknown", its guest paused.
# unknown_start MODE: source a (APID), destination b (BPID), the proxy (PXPID) in MODE, the
# migration started through it.
unknown_start() {
	rm -f "$TMP/px.out" "$TMP/px.err"
	mig_pair_cmd 1 "scenario=state" || return 1
	"$ROOT/build/mig_proxy" "$TMP/px.sock" "$TMP/mig.sock" "$1" >"$TMP/px.out" 2>"$TMP/px.err" &
	PXPID=$!
	for _ in $(seq 50); do grep -q listening "$TMP/px.out" 2>/dev/null && break; sleep 0.1; done
	mig_use a "$APID" 9
	mig_ctl a migrate uri="unix:$TMP/px.sock"
}
# unknown_paused: a reached phase unknown and its guest does not run.
unknown_paused() {
	local r
	mig_use a "$APID" 9
	mig_wait_phase a unknown || return 1
	grep -q "^error: the destination did not confirm within 30 s (the VM stays paused here" "$TMP/status.out" ||
		{ echo "    not the error expected:"; sed 's/^/    | /' "$TMP/status.out"; return 1; }
	r=$(st_last_round)
	sleep 1
	[ "$(st_last_round)" = "$r" ] || { echo "    the source's guest runs on (round $r, then $(st_last_round))"; return 1; }
}
unknown_dump() {
	local f
	for f in px.err a.err b.err; do echo "    $f:"; tail -n 5 "$TMP/$f" 2>/dev/null | sed 's/^/    | /'; done
	kill "$PXPID" 2>/dev/null
	return 1
}

# The confirmation lost (mig_proxy hold): the destination runs the VM. `resume` on the source
# is refused while the destination holds the image, and still once it has exited: it wrote
# the image meanwhile. The destination's guest checks out.
t_confirm_lost() {
	unknown_start hold || { unknown_dump; return 1; }
	mig_use b "$BPID" 8
	st_wait_round 8 || { unknown_dump; return 1; }
	unknown_paused || { unknown_dump; return 1; }
	"$VMM" ctl "$TMP/a.sock" resume >"$TMP/ctl.out" 2>&1 &&
		{ echo "    resume was not refused while the destination holds the image"; unknown_dump; return 1; }
	grep -q "taking the images back" "$TMP/ctl.out" ||
		{ echo "    resume refused, but not for the image:"; sed 's/^/    | /' "$TMP/ctl.out"; unknown_dump; return 1; }
	kill "$PXPID"
	wait "$PXPID" 2>/dev/null
	mig_use b "$BPID" 8
	st_finish || return 1
	"$VMM" ctl "$TMP/a.sock" resume >"$TMP/ctl.out" 2>&1 &&
		{ echo "    resume was not refused on an image the destination wrote"; return 1; }
	grep -q "the image was written since this VM paused" "$TMP/ctl.out" ||
		{ echo "    resume refused, but not for the written image:"; sed 's/^/    | /' "$TMP/ctl.out"; return 1; }
	mig_use a "$APID" 9
	mig_ctl a quit || return 1
	st_end
}
t_run "the confirmation lost on its way: the source stays paused (phase unknown); resume refused while the destination holds the image and after it wrote it" t_confirm_lost

# The destination never completes (mig_proxy hold-end keeps END from it), but the source cannot
# know: unknown, paused. Once the destination is gone without having run, `resume` takes the
# unchanged image back and the VM runs on here, its guest's check passing.
t_unknown_resume() {
	unknown_start hold-end || { unknown_dump; return 1; }
	unknown_paused || { unknown_dump; return 1; }
	kill -KILL "$BPID"
	wait "$BPID" 2>/dev/null
	grep -q "the VM runs here now" "$TMP/b.err" && { echo "    the destination ran the VM"; unknown_dump; return 1; }
	kill "$PXPID"
	wait "$PXPID" 2>/dev/null
	mig_use a "$APID" 9
	mig_ctl a resume || return 1
	mig_ctl a migrate-status || return 1
	grep -q "^phase: failed" "$TMP/ctl.out" || { echo "    after resume:"; sed 's/^/    | /' "$TMP/ctl.out"; return 1; }
	mig_source_survives
}
t_run "no answer after the whole stream, the destination gone without running: resume takes the image back, the source's guest checks out" t_unknown_resume

# Without shared storage (disks=copy): the destination has its own new image of the same
# size; the source's holds data the guest never touches (random, 12 MiB in two places, so
# the copy has more to do than the guest's sectors) besides the sectors the guest keeps
# writing throughout. The destination starts --paused, so that its image can be compared
# with the source's (final at the hand-over) before its guest writes again; then it resumes
# and its guest checks every page and sector.
mig_copy_source() {
	local fmt=$1
	rm -f "$TMP/st.img" "$TMP/dst.img" "$TMP/src.raw"
	truncate -s 64M "$TMP/src.raw"
	head -c 8M /dev/urandom | dd of="$TMP/src.raw" bs=1M seek=1 conv=notrunc status=none
	head -c 4M /dev/urandom | dd of="$TMP/src.raw" bs=1M seek=40 conv=notrunc status=none
	if [ "$fmt" = raw ]; then
		mv "$TMP/src.raw" "$TMP/st.img"
	else
		qemu-img convert -f raw -O qcow2 "$TMP/src.raw" "$TMP/st.img" || return 1
		rm -f "$TMP/src.raw"
	fi
}

# mig_copy_check FMT: the paused destination's image against the source's, then the
# destination's guest resumed and checked.
mig_copy_check() {
	local fmt=$1 before
	qemu-img compare -U -f "$fmt" -F "$fmt" "$TMP/st.img" "$TMP/dst.img" >"$TMP/cmp.out" 2>&1 ||
		{ echo "    qemu-img compare:"; sed 's/^/    | /' "$TMP/cmp.out"; return 1; }
	echo "    note: $(cat "$TMP/cmp.out")"
	if [ "$fmt" = qcow2 ]; then
		qemu-img check -U "$TMP/dst.img" >"$TMP/check.out" 2>&1 ||
			{ echo "    qemu-img check:"; sed 's/^/    | /' "$TMP/check.out"; return 1; }
	fi
	# Sparse: the destination holds about what the source does, not the whole 64 MiB.
	local src_kb dst_kb
	src_kb=$(du -k "$TMP/st.img" | cut -f1) dst_kb=$(du -k "$TMP/dst.img" | cut -f1)
	echo "    note: allocated: source $src_kb KiB, destination $dst_kb KiB"
	[ "$dst_kb" -le $((src_kb + 2048)) ] ||
		{ echo "    the destination's image is not sparse"; return 1; }
	mig_ctl b resume || return 1
	before=$(sed -n 's/^state: round \([0-9]*\)$/\1/p' "$TMP/a.out" | tail -1)
	st_wait_round $((before + 16)) || return 1
	st_send q
	st_end
	expect_rc 0 && expect_out "state: verified" || return 1
	if [ "$fmt" = qcow2 ]; then
		qemu-img convert -O raw "$TMP/dst.img" "$TMP/dst.raw" || return 1
		$SNAP_EDIT check-disk "$TMP/dst.raw" >/dev/null
	else
		$SNAP_EDIT check-disk "$TMP/dst.img" >/dev/null
	fi || { echo "    the destination's disk breaks the scenario's rule"; return 1; }
}

t_migrate_copy_run() {
	local fmt=$1
	mig_copy_source "$fmt" || return 1
	"$VMM" img create -f "$fmt" "$TMP/dst.img" 64M >/dev/null || return 1
	ST_FD=9 st_start a $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 24 || return 1
	ST_DISK=$TMP/dst.img MIG_DEST_ARGS=--paused mig_hop a "$SPID" 9 b 8 "unix:$TMP/mig.sock" 2 disks=copy ||
		return 1
	grep -q "the VM runs here now" "$TMP/b.err" || return 1
	mig_copy_check "$fmt"
}
t_migrate_copy() {
	t_migrate_copy_run "$1"
	local rc=$?
	rm -f "$TMP/st.img" "$TMP/dst.img" "$TMP/dst.raw" "$TMP/src.raw"
	return $rc
}
t_run "disks=copy, raw, the guest writing throughout: the destination's image compares equal, stays sparse" t_migrate_copy raw
t_run "disks=copy, qcow2, the guest writing throughout: compares equal, qemu-img check clean, sparse" t_migrate_copy qcow2

# disks=copy-top: both hosts have the base image; only the source's top image travels.
t_migrate_copy_top_run() {
	mig_copy_source qcow2 || return 1
	mv "$TMP/st.img" "$TMP/base.img"
	"$VMM" img create -f qcow2 -b "$TMP/base.img" -F qcow2 "$TMP/st.img" >/dev/null &&
		"$VMM" img create -f qcow2 -b "$TMP/base.img" -F qcow2 "$TMP/dst.img" >/dev/null || return 1
	ST_FD=9 st_start a $(st_flags 2) --kernel "$GUEST" --cmdline "scenario=state"
	st_wait_round 24 || return 1
	ST_DISK=$TMP/dst.img MIG_DEST_ARGS=--paused mig_hop a "$SPID" 9 b 8 "unix:$TMP/mig.sock" 2 disks=copy-top ||
		return 1
	mig_copy_check qcow2
}
t_migrate_copy_top() {
	t_migrate_copy_top_run
	local rc=$?
	rm -f "$TMP/st.img" "$TMP/dst.img" "$TMP/dst.raw" "$TMP/base.img"
	return $rc
}
t_run "disks=copy-top: only the top image over a base both sides have travels; compares equal" t_migrate_copy_top

# disks=copy on shared storage by mistake: the destination cannot take the image the source
# still holds, says so and exits 1 before anything is written; the source runs on.
t_copy_onto_shared() {
	mig_pair_cmd 1 "scenario=state" || return 1
	mig_ctl a migrate uri="unix:$TMP/mig.sock" disks=copy || return 1
	mig_use b "$BPID" 8
	st_end
	expect_rc 1 && expect_err "--disk path=$TMP/st.img: locking" || return 1
	mig_use a "$APID" 9
	mig_wait_phase a failed || return 1
	mig_source_survives
}
t_run "disks=copy onto the source's own image (shared storage): the destination refuses it; the source runs on" t_copy_onto_shared


# auto_converge=false and a guest that dirties faster than the link (16 MiB per vCPU rewritten
# continuously; a guest that rests between its rounds, as the default scenario does, leaves a
# round with nothing dirty now and then and completes): the migration gives up after its
# round limit (about a minute in the box), the source's guest runs on at full speed (the
# throttle is off again) and checks out; the destination never runs it.
t_no_converge() {
	mig_pair 2 || return 1
	BPID=$SPID
	mig_ctl a migrate uri="unix:$TMP/mig.sock" auto_converge=false || return 1
	mig_wait_phase a failed || return 1
	grep -q "^error: did not converge in 30 rounds: .* over the 25 ms of the 50 ms downtime budget the pages may take" "$TMP/status.out" ||
		{ echo "    not the error expected:"; sed 's/^/    | /' "$TMP/status.out"; return 1; }
	grep -q "^throttle_pct: 0$" "$TMP/status.out" ||
		{ echo "    the throttle is still on:"; sed 's/^/    | /' "$TMP/status.out"; return 1; }
	mig_use b "$BPID" 8
	st_end
	expect_rc 1 || return 1
	[ -z "$OUT" ] || { echo "    the destination's guest ran"; return 1; }
	mig_source_survives
}
t_run "a guest the link cannot keep up with, auto_converge=false: gives up after 30 rounds; the source runs on" t_no_converge

t_migrate_asan() { VMM_BIN=$VMM_ASAN t_migrate 2 "unix:$TMP/mig.sock"; }
t_run "migrate with both sides under ASan/UBSan, --cpus 2" t_migrate_asan
