# Hardening (issue 16): after setup a running minivmm holds no capability, has no_new_privs and
# a seccomp filter on every thread; a forbidden call from each thread kind ends it with one line
# (the test hook of docs/hardening.md); --user and a fully unprivileged user (a root helper
# passes the tap descriptor) boot the test guest with a disk and a NIC; --chroot.

BLKPATTERN=${BLKPATTERN:-$ROOT/build/blkpattern}
HD_NS=minivmm-hd-$$
HD_IP=10.0.2.15
HD_HELPER=$ROOT/tests/integration/net_helper.py
HD_UID=65534
HD_KVM_GID=7777 # stands for the host's kvm group: /dev/kvm is given to it for the test

# hd_status PID FIELD: a field of /proc/PID/status ("" if gone).
hd_status() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null; }

# hd_check_locked_down PID [BND]: every thread of PID has no capability (and an empty bounding
# set unless BND=keep-bnd), no_new_privs and seccomp mode 2; every thread the VM starts is up
# (1 + vCPUs at least). Prints what it found.
hd_check_locked_down() {
	local pid=$1 bnd=${2:-} t n=0 f v bad=0
	for t in /proc/"$pid"/task/*; do
		n=$((n + 1))
		for f in CapInh CapPrm CapEff CapAmb CapBnd; do
			[ "$f" = CapBnd ] && [ "$bnd" = keep-bnd ] && continue
			v=$(sed -n "s/^$f:[[:space:]]*//p" "$t/status")
			[ "$v" = 0000000000000000 ] || { echo "    $t ($(cat "$t/comm")): $f $v"; bad=1; }
		done
		v=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' "$t/status")
		[ "$v" = 1 ] || { echo "    $t ($(cat "$t/comm")): NoNewPrivs $v"; bad=1; }
		v=$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")
		[ "$v" = 2 ] || { echo "    $t ($(cat "$t/comm")): Seccomp $v"; bad=1; }
	done
	[ $bad = 0 ] || return 1
	echo "    note: $n threads ($(cat /proc/"$pid"/task/*/comm | sort | uniq -c | awk '{printf "%s%s×%s", s, $2, $1; s=", "}')): all capability sets 0, NoNewPrivs 1, Seccomp 2"
}

# As root: after setup nothing is left, on every thread, with a disk busy on io_uring.
t_locked_down_after_setup() {
	local pid
	truncate -s 1M "$TMP/hd-state.img"
	"$VMM" run --kernel "$GUEST" --cpus 2 --disk "path=$TMP/hd-state.img" \
		--cmdline "scenario=state" --timeout 120 >"$TMP/hd-out" 2>"$TMP/hd-err" </dev/null &
	pid=$!
	wait_out "$TMP/hd-out" "state: round 16" 60 $pid || { kill -KILL $pid; return 1; }
	[ "$(ls /proc/$pid/task | wc -l)" -ge 3 ] || { echo "    fewer than 3 threads"; kill -KILL $pid; return 1; }
	hd_check_locked_down $pid
	local ok=$?
	grep '^Cap\|^NoNewPrivs\|^Seccomp' /proc/$pid/status | sed 's/^/    note: /'
	kill -TERM $pid
	wait $pid
	RC=$?
	ERR=$(cat "$TMP/hd-err")
	[ $ok = 0 ] && expect_rc 143 && expect_err "stopped by signal"
}

# The test hook: each thread kind makes a call its filter forbids; the VM ends at once with
# one line naming the call and the kind, status 128 + SIGSYS.
t_forbidden_call_per_thread_kind() {
	local kind name
	rm -f "$TMP/hd-q.qcow2"
	"$VMM" img create -f qcow2 "$TMP/hd-q.qcow2" 1M >/dev/null || return 1
	for kind in io vcpu cpuid migration disk; do
		local api=()
		case $kind in io) name="I/O" ;; vcpu) name=vCPU ;; cpuid) name="CPUID helper" ;;
		migration) name=migration; api=(--api-socket "$TMP/hd-api.sock") ;;
		disk) name="disk worker"; api=(--disk "path=$TMP/hd-q.qcow2") ;; esac
		MINIVMM_TEST_SECCOMP_VIOLATE=$kind vm --kernel "$GUEST" "${api[@]}" --cmdline "scenario=hello"
		expect_rc 159 || { echo "    ($kind)"; return 1; }
		[ "$ERR" = "minivmm: seccomp: the $name thread made a forbidden system call: getpriority (140); stopping" ] ||
			{ echo "    ($kind) stderr: $ERR"; return 1; }
		echo "    note: $kind: $ERR"
	done
	# --seccomp log lets it through (the kernel's audit log has it); off has no filter.
	MINIVMM_TEST_SECCOMP_VIOLATE=vcpu vm --kernel "$GUEST" --seccomp log --cmdline "scenario=hello"
	expect_rc 0 && expect_out "Hello from the minivmm test guest" && expect_no_err || return 1
	MINIVMM_TEST_SECCOMP_VIOLATE=io vm --kernel "$GUEST" --seccomp off --cmdline "scenario=hello"
	expect_rc 0 && expect_no_err || return 1
	# Under ASan too (the sanitizer runtime's own calls are allowed there, the hook's is not).
	if [ -x "$VMM_ASAN" ]; then
		MINIVMM_TEST_SECCOMP_VIOLATE=vcpu VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --cmdline "scenario=hello"
		expect_rc 159 && expect_err "the vCPU thread made a forbidden system call: getpriority (140)" || return 1
	fi
}

hd_ns_up() { ip netns del "$HD_NS" 2>/dev/null; ip netns add "$HD_NS" && ip netns exec "$HD_NS" ip link set lo up; }
hd_ns_down() { ip netns del "$HD_NS" 2>/dev/null; true; }
hd_nsx() { ip netns exec "$HD_NS" "$@"; }

# Lets HD_UID open /dev/kvm through a group, as a kvm group does on a host; undone by
# hd_kvm_restore.
hd_kvm_share() {
	HD_KVM_MODE=$(stat -c '%a %g' /dev/kvm)
	chgrp $HD_KVM_GID /dev/kvm && chmod 0660 /dev/kvm
}
hd_kvm_restore() {
	[ -n "${HD_KVM_MODE:-}" ] && chgrp "${HD_KVM_MODE#* }" /dev/kvm && chmod "${HD_KVM_MODE% *}" /dev/kvm
	HD_KVM_MODE=
}

# hd_guest_run HOW SCENARIO: boots SCENARIO with a disk and a NIC on a tap a root helper
# opened (fd 3), in a network namespace. HOW: "user" starts minivmm as root with --user (it
# opens the disk itself, then switches); "unprivileged" starts it as HD_UID with no
# capability at all (setpriv). For net-echo the host pings and sends datagrams. Sets RC, OUT.
hd_guest_run() {
	local how=$1 scn=$2 pid pre ok=0 bnd=
	local dir=$TMP/hd-$how img=$TMP/hd-$how/disk.img
	mkdir -p "$dir" && chmod 711 "$TMP" && truncate -s 4M "$img"
	if [ "$how" = user ]; then
		pre=(); set -- --user $HD_UID:$HD_UID
		chown root:root "$dir"
	else
		pre=(setpriv --reuid=$HD_UID --regid=$HD_UID --groups=$HD_KVM_GID --inh-caps=-all
		     --bounding-set=-all --)
		set --
		chown -R $HD_UID:$HD_UID "$dir"
	fi
	hd_ns_up || return 1
	# Not through hd_nsx: a function in the background is a subshell, and $! must be the
	# process that becomes minivmm (ip, the helper and setpriv each exec the next).
	ip netns exec "$HD_NS" python3 "$HD_HELPER" tapfd tap0 -- "${pre[@]}" "$VMM" run "$@" --kernel "$GUEST" \
		--disk "path=$img" --net fd=3 --cmdline "scenario=$scn ip=$HD_IP port=7 seed=21" \
		--timeout 200 >"$dir/out" 2>"$dir/err" </dev/null &
	pid=$!
	if [ "$scn" = net-echo ]; then
		wait_out "$dir/out" ready 60 $pid &&
			hd_nsx ip addr add 10.0.2.1/24 dev tap0 && hd_nsx ip link set tap0 up || ok=1
		if [ $ok = 0 ]; then
			[ "$(hd_status $pid Uid | cut -f1)" = $HD_UID ] || { echo "    not running as $HD_UID: $(hd_status $pid Uid)"; ok=1; }
			# /proc ends the list with a space
			[ "$(hd_status $pid Groups | xargs)" = "$([ "$how" = user ] || echo $HD_KVM_GID)" ] ||
				{ echo "    groups: '$(hd_status $pid Groups)'"; ok=1; }
			hd_check_locked_down $pid || ok=1
			hd_nsx ping -f -c 200 -w 60 $HD_IP | grep -q " 200 received" || { echo "    ping lost"; ok=1; }
			hd_nsx python3 "$HD_HELPER" udp $HD_IP 7 1000 || ok=1
			hd_nsx python3 "$HD_HELPER" quit $HD_IP 7 || ok=1
		fi
	fi
	wait $pid
	RC=$?
	hd_ns_down
	OUT=$(cat "$dir/out")
	ERR=$(cat "$dir/err")
	cp "$dir/out" "$TMP/out"; cp "$dir/err" "$TMP/err"
	[ $ok = 0 ] || return 1
	if [ "$scn" = blk-rw ]; then
		expect_rc 0 && expect_out "blk-rw: wrote, flushed, read back and verified" &&
			"$BLKPATTERN" verify "$img" 21 || { echo "    image bytes wrong"; return 1; }
	else
		expect_rc 0 && expect_out "net-echo: quit after"
	fi
}

hd_can_run_net() {
	[ "$(id -u)" = 0 ] || skip "needs root (a network namespace, a tap, setpriv)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v setpriv >/dev/null && command -v ping >/dev/null || skip "needs setpriv and ping"
}

t_user_flag_disk_and_net() {
	hd_can_run_net
	hd_guest_run user blk-rw && hd_guest_run user net-echo
}

t_unprivileged_disk_and_net() {
	hd_can_run_net
	hd_kvm_share || return 1
	hd_guest_run unprivileged blk-rw && hd_guest_run unprivileged net-echo
	local ok=$?
	hd_kvm_restore
	return $ok
}

# --chroot: the VM runs with an empty directory as its root (and as HD_UID); an unprivileged
# user can neither chroot nor switch users; bad values.
t_chroot() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	local jail=$TMP/hd-jail pid
	mkdir -p "$jail"
	"$VMM" run --kernel "$GUEST" --cmdline "scenario=idle" --chroot "$jail" --user $HD_UID \
		--timeout 30 >"$TMP/hd-out" 2>"$TMP/hd-err" </dev/null &
	pid=$!
	for _ in $(seq 1 100); do [ "$(readlink /proc/$pid/root)" = "$jail" ] && break; sleep 0.1; done
	[ "$(readlink /proc/$pid/root)" = "$jail" ] || { echo "    root: $(readlink /proc/$pid/root)"; kill -KILL $pid; return 1; }
	hd_check_locked_down $pid || { kill -KILL $pid; return 1; }
	kill -TERM $pid
	wait $pid
	RC=$?
	expect_rc 143 || return 1
	# Unprivileged (with /dev/kvm through its group): neither chroot nor a user switch.
	hd_kvm_share || return 1
	local pre=(setpriv --reuid=$HD_UID --regid=$HD_UID --groups=$HD_KVM_GID --inh-caps=-all --bounding-set=-all --)
	"${pre[@]}" "$VMM" run --kernel "$GUEST" --chroot "$jail" >"$TMP/out" 2>"$TMP/err" </dev/null
	RC=$? ERR=$(cat "$TMP/err")
	expect_rc 1 && expect_err "--chroot $jail: Operation not permitted" &&
		[ "$(wc -l <<<"$ERR")" = 1 ] || { hd_kvm_restore; return 1; }
	"${pre[@]}" "$VMM" run --kernel "$GUEST" --user 0 >"$TMP/out" 2>"$TMP/err" </dev/null
	RC=$? ERR=$(cat "$TMP/err")
	hd_kvm_restore
	expect_rc 1 && expect_err "--user 0:0: switching user needs root" || return 1
	vm --kernel "$GUEST" --chroot "$TMP/nonexistent"
	expect_rc 1 && expect_err "--chroot $TMP/nonexistent: No such file or directory" || return 1
	bad_case "--user 70000x: bad UID '70000x'" --kernel "$GUEST" --user 70000x &&
		bad_case "--seccomp: 'strict': expected on, log or off" --kernel "$GUEST" --seccomp strict
}

# Issue 16, item 4: a guest that tries to stall or bloat the VMM (scenario=storm net=1, 2 vCPUs):
# the console's ring full of output for a reader that never reads (a one-page pipe), the second
# vCPU notifying disk 1 without end, the NIC without a receive buffer while the host floods its
# tap with full-size frames, and disk 0 written and read back twice at 16 requests in flight,
# its image on the project's disk (the host's disk over 9p in the box: a slow backend); then the
# NIC gets buffers and must receive. The bound: the VMM's own peak RSS (guest RAM aside: the
# guest's pages vary by megabytes with THP and KSM) at most 2 MiB above the same VM running
# blk-rw with its console on a file (no storm); the disk must be served throughout.
# hd_storm_run SCENARIO CONSOLE: one run in the namespace, the tap fd from a helper; the
# sampler's line in $HD_LINE.
hd_storm_run() {
	local pid fpid=
	rm -f "$TMP/hd-serial" "$TMP/hd-flood-stop"
	ip netns exec "$HD_NS" python3 "$ROOT/tests/integration/stall_helper.py" "$TMP/hd-stalled" 180 -- \
		python3 "$HD_HELPER" tapfd tap0 -- "$VMM" run --kernel "$GUEST" "${HD_STORM_ARGS[@]}" \
		--net fd=3 --console "$2" --cmdline "scenario=$1" >"$TMP/hd-line" 2>"$TMP/err" &
	pid=$!
	if [ "$1" != "${1#storm}" ] && wait_out "$TMP/hd-serial" "storm: NIC up with no receive buffers" 120 $pid; then
		hd_nsx ip link set tap0 up
		hd_nsx python3 "$HD_HELPER" flood tap0 "$TMP/hd-flood-stop" >"$TMP/hd-flood" 2>&1 &
		fpid=$!
	fi
	wait $pid
	touch "$TMP/hd-flood-stop"
	[ -n "$fpid" ] && wait $fpid
	HD_LINE=$(cat "$TMP/hd-line")
}
t_hostile_storm_bounded() {
	local dir base peak hwm rc=0
	[ "$(id -u)" = 0 ] || skip "needs root (a network namespace and a tap)"
	dir=$(mktemp -d "$ROOT/build/it-storm.XXXXXX") || return 1
	truncate -s 4M "$dir/d0.img" "$dir/d1.img"
	HD_STORM_ARGS=(--cpus 2 --disk "path=$dir/d0.img" --disk "path=$dir/d1.img" --serial "file=$TMP/hd-serial")
	hd_ns_up || return 1
	hd_storm_run "blk-rw seed=9" "file=$TMP/hd-con"
	base=$(sed -n 's/.*vmm_rss_kib=\([0-9]*\).*/\1/p' <<<"$HD_LINE")
	[[ $HD_LINE == status=0\ * ]] || { echo "    baseline: $HD_LINE"; cat "$TMP/hd-serial" "$TMP/err"; rc=1; }
	if [ $rc = 0 ]; then
		hd_storm_run "storm net=1" stdio
		peak=$(sed -n 's/.*vmm_rss_kib=\([0-9]*\).*/\1/p' <<<"$HD_LINE")
		hwm=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$HD_LINE")
		[[ $HD_LINE == status=0\ * ]] && grep -q "storm: disk 0 written and verified twice" "$TMP/hd-serial" ||
			{ echo "    storm: $HD_LINE"; cat "$TMP/hd-serial" "$TMP/err" "$TMP/hd-flood"; rc=1; }
	fi
	hd_ns_down
	if [ $rc = 0 ]; then
		grep -qE "storm: .*; ([0-9]|1[0-9]) of 256 console chains written" "$TMP/hd-serial" ||
			{ echo "    the console's reader did not stall:"; grep storm: "$TMP/hd-serial"; rc=1; }
		grep -q "storm: net: [1-9][0-9]* frames received" "$TMP/hd-serial" ||
			{ echo "    no frame after the flood:"; grep storm: "$TMP/hd-serial"; rc=1; }
		[ "$peak" -le $((base + 2048)) ] || { echo "    the VMM's own peak RSS $peak KiB, baseline $base KiB: over the 2 MiB bound"; rc=1; }
		grep -o 'storm: .*' "$TMP/hd-serial" | tr -d '\r' | sed 's/^/    note: /'
		echo "    note: host: $(cat "$TMP/hd-flood")"
		echo "    note: the VMM's own peak RSS (guest RAM aside) $peak KiB during the storm, $base KiB running blk-rw alone (bound: +2048 KiB); $hwm KiB in all"
	fi
	rm -rf "$dir"
	return $rc
}

# A qcow2 image whose backing file is on slow storage (a device-mapper delay target: 200 ms a
# request), and a second, fast disk. The guest sends 16 writes to the qcow2 disk, each into a
# cluster of its own (allocation and a copy-on-write read from the slow backing file), then
# reads the fast disk 64 times and counts how many of the 16 completed meanwhile. Before the
# qcow2 worker thread, all 16 had: the I/O thread did each allocation itself and served the
# fast disk only after the last.
t_qcow2_slow_storage_other_disk_served() {
	[ "$(id -u)" = 0 ] || skip "a device-mapper target needs root"
	command -v dmsetup >/dev/null && command -v losetup >/dev/null ||
		skip "dmsetup and losetup (dmsetup, util-linux) are not installed"
	local dm=minivmm-slow-$$ loop sectors rc=0 seen
	truncate -s 0 "$TMP/slow.back" && truncate -s 17M "$TMP/slow.back" &&
		truncate -s 0 "$TMP/fast.img" && truncate -s 1M "$TMP/fast.img" || return 1
	modprobe dm-delay 2>/dev/null
	dmsetup targets 2>/dev/null | grep -q "^delay " ||
		skip "no device-mapper delay target (the dm-delay module) in this kernel"
	loop=$(losetup --find --show "$TMP/slow.back") || { echo "    losetup failed"; return 1; }
	sectors=$(blockdev --getsz "$loop")
	# --noudevsync and mknodes: the box has no udev to make /dev/mapper/NAME.
	if ! dmsetup create --noudevsync "$dm" --table "0 $sectors delay $loop 0 200" 2>"$TMP/dm.err" ||
		! dmsetup mknodes "$dm" 2>>"$TMP/dm.err" || [ ! -b "/dev/mapper/$dm" ]; then
		dmsetup remove --noudevsync "$dm" 2>/dev/null
		losetup -d "$loop"
		echo "    dmsetup create failed: $(cat "$TMP/dm.err")"
		return 1
	fi
	rm -f "$TMP/slow.qcow2"
	"$VMM" img create -f qcow2 -b "/dev/mapper/$dm" -F raw "$TMP/slow.qcow2" >/dev/null &&
		vm --kernel "$GUEST" --disk "path=$TMP/slow.qcow2" --disk "path=$TMP/fast.img" \
			--cmdline "scenario=blk-slow" --timeout 50 || rc=1
	dmsetup remove --noudevsync "$dm" 2>/dev/null || { sleep 1; dmsetup remove --noudevsync "$dm"; }
	losetup -d "$loop"
	[ $rc = 0 ] || return 1
	seen=$(sed -n 's/.*while \([0-9]*\) of 16 allocating writes.*/\1/p' <<<"$OUT")
	expect_rc 0 && expect_out "every write of disk 0 read back" || return 1
	[ -n "$seen" ] && [ "$seen" -lt 16 ] ||
		{ echo "    the fast disk was served only after the slow disk's allocations: $(grep 'blk-slow:' <<<"$OUT" | head -1)"; return 1; }
	echo "    note: $(grep -o '64 reads of disk 1 .*' <<<"$OUT")"
}

t_run "after setup: no capability, no_new_privs, a seccomp filter on every thread" t_locked_down_after_setup
t_run "a forbidden call from each thread kind (I/O, vCPU, CPUID helper, migration, disk worker) ends the VM with one line" t_forbidden_call_per_thread_kind
t_run "--user (root starts, tap fd from a helper): blk-rw and net-echo" t_user_flag_disk_and_net
t_run "no privilege at all (uid $HD_UID, kvm group, tap fd from a root helper): blk-rw and net-echo" t_unprivileged_disk_and_net
t_run "--chroot with --user; bad flags" t_chroot
t_run "a guest storming the VMM (stalled console, notify storm, frames and no receive buffer, disk at depth on a slow backend): disk served, RSS bounded" t_hostile_storm_bounded
t_run "a qcow2 disk allocating on slow storage (dm-delay, 200 ms) holds up no other disk" t_qcow2_slow_storage_other_disk_served
