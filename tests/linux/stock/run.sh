#!/usr/bin/env bash
# Debian's stock kernel (linux-image-*-amd64, what users run; the nested-KVM box's own kernel
# package) as a test guest, with a busybox initramfs holding the package's own modules. Its
# virtio-mmio driver is a module without command-line devices, so it finds our devices only
# through the DSDT. The initramfs's /init (tests/linux/stock/init) does what the kernel command
# line asks and prints "STOCK: ..." lines; the host checks them and the disks afterwards.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../integration/lib.sh"
source "$ROOT/tests/kvmbox/lib.sh"

# button: the ACPI power button (PNP0C0C, notified by minivmm's GED); evdev: its input
# events reach acpid through /dev/input/event*.
STOCK_MODULES="virtio_mmio virtio_blk virtio_net virtio_console ext4 button evdev"
# The kernel and the initramfs are made on the host, before the suite moves into the box.
if [ -z "${STOCK_INITRD:-}" ]; then
	kvmbox_kernel
	key=$( (cat "$HERE/init" "$HERE/udhcpc.sh" "$ROOT/tests/kvmbox/lib.sh"; echo "$STOCK_MODULES") | sha256sum | cut -c1-12)
	STOCK_INITRD=$KROOT/stock-initrd-$key.gz
	if [ ! -s "$STOCK_INITRD" ]; then
		# shellcheck disable=SC2086
		kvmbox_initramfs "$STOCK_INITRD" "$HERE/init $HERE/udhcpc.sh" $STOCK_MODULES ||
			{ echo "FAIL building the stock initramfs"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
	fi
	export STOCK_KERNEL=$KROOT/boot/vmlinuz-$KVER STOCK_INITRD
fi
source "$ROOT/tests/kvmbox/guest_suite.sh"
echo "== stock kernel: $STOCK_KERNEL"
if [ "$KVM_FLAVOUR" = soft ]; then
	# Every ring-0 instruction of a distribution kernel would go through KVM's emulator here:
	# ~205 s to /init, and SSE/XSAVE code it cannot run (KVM-NOTES.md).
	echo "SKIP stock: this KVM emulates guest ring 0 (flavour soft); Debian's kernel needs VT-x/SVM"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

# stock_start [ip netns exec NS] -- ARGS...: minivmm boots the stock kernel in the background
# (output in $TMP/out and $TMP/err, which t_run shows when a test fails). STOCK_WRAP: commands
# that exec minivmm in turn (after the namespace's), whose own arguments may contain --.
STOCK_WRAP=()
stock_start() {
	local pre=()
	while [ "$1" != -- ]; do pre+=("$1"); shift; done
	shift
	# Emptied here, not by the background command's own redirection: stock_wait_line could
	# otherwise read the previous test's lines before the new process has truncated them.
	: >"$TMP/out"
	: >"$TMP/err"
	"${pre[@]}" "${STOCK_WRAP[@]}" "$VMM" run --kernel "$STOCK_KERNEL" --initrd "$STOCK_INITRD" --memory 512M "$@" \
		>"$TMP/out" 2>"$TMP/err" </dev/null &
	LPID=$!
	LSTART=$SECONDS
}

# stock_wait_line TEXT SECONDS: true once the guest printed TEXT.
stock_wait_line() {
	while [ $((SECONDS - LSTART)) -lt "$2" ]; do
		grep -qF -- "$1" "$TMP/out" && return 0
		kill -0 "$LPID" 2>/dev/null || break
		sleep 0.2
	done
	grep -qF -- "$1" "$TMP/out" && return 0
	echo "    no '$1' within $2 s"
	return 1
}

# stock_wait [SECONDS]: waits for minivmm to end by itself (killed after SECONDS); RC, OUT, ERR.
stock_wait() {
	local limit=${1:-180}
	while kill -0 "$LPID" 2>/dev/null && [ $((SECONDS - LSTART)) -lt "$limit" ]; do
		sleep 0.2
	done
	kill -0 "$LPID" 2>/dev/null && { echo "    still running after ${limit}s"; kill -KILL "$LPID"; }
	wait "$LPID"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
	echo "    note: $((SECONDS - LSTART)) s from start to exit"
}

# ext4_image FILE LABEL: a 64 MiB ext4 image whose origin.txt says which image it is.
ext4_image() {
	rm -rf "$TMP/fsroot"
	mkdir -p "$TMP/fsroot"
	echo "origin $2" >"$TMP/fsroot/origin.txt"
	mke2fs -q -t ext4 -d "$TMP/fsroot" -L "$2" "$1" 64M
}

# hello_in IMAGE LABEL: the file the guest wrote is in the image and the filesystem is clean.
hello_in() {
	local got
	got=$(debugfs -R "cat /hello.txt" "$1" 2>/dev/null)
	[ "$got" = "written by Debian's kernel on minivmm to $2" ] || { echo "    $2: hello.txt reads '$got'"; return 1; }
	e2fsck -fn "$1" >"$TMP/fsck" 2>&1 || { echo "    $2: e2fsck -fn:"; sed 's/^/    /' "$TMP/fsck"; return 1; }
}

s_serial_disks_smp() {
	ext4_image "$TMP/raw.img" rw-raw
	ext4_image "$TMP/base.img" rw-qcow2
	cp "$TMP/base.img" "$TMP/base.orig"
	"$VMM" img create -f qcow2 -b "$TMP/base.img" -F raw "$TMP/overlay.qcow2" >/dev/null || return 1
	ext4_image "$TMP/ro.img" ro-raw
	cp "$TMP/ro.img" "$TMP/ro.orig"
	stock_start -- --cpus 4 --disk "path=$TMP/raw.img" --disk "path=$TMP/overlay.qcow2" \
		--disk "path=$TMP/ro.img,readonly=on" \
		--cmdline "console=ttyS0 quiet stock=cpus,disks stock.devices=3 stock.end=poweroff"
	stock_wait 240
	grep "STOCK: dmesg:" <<<"$OUT" | cut -c15-75 | sed 's/^/    note: /'
	expect_rc 0 && expect_out "Linux version 6.1" && expect_out "virtio_blk virtio0: [vd" &&
		expect_out "Run /init as init process" &&
		expect_out "STOCK: init running on $KVER_GUEST, console ttyS0" &&
		expect_out "STOCK: nproc 4, /proc/cpuinfo processors 4" &&
		expect_out "STOCK: rw-raw: wrote hello.txt, synced, unmounted" &&
		expect_out "STOCK: rw-qcow2: wrote hello.txt, synced, unmounted" &&
		expect_out "STOCK: ro-raw: reads 'origin ro-raw'" &&
		expect_out "STOCK: ro-raw: writes refused" && expect_out "STOCK: end: poweroff" || return 1
	! grep -q "STOCK: insmod" <<<"$OUT" || { grep "STOCK: insmod" <<<"$OUT"; return 1; }
	hello_in "$TMP/raw.img" rw-raw || return 1
	qemu-img check -q "$TMP/overlay.qcow2" || { echo "    qemu-img check found problems"; return 1; }
	qemu-img convert -O raw "$TMP/overlay.qcow2" "$TMP/overlay.view" && hello_in "$TMP/overlay.view" rw-qcow2 || return 1
	cmp -s "$TMP/base.img" "$TMP/base.orig" || { echo "    the overlay's backing file changed"; return 1; }
	cmp -s "$TMP/ro.img" "$TMP/ro.orig" || { echo "    the read-only image changed"; return 1; }
}

# stock_net HOW: DHCP, 100 pings from the host and a wget with console=hvc0, from a tap in a
# network namespace. HOW "tap": minivmm opens tap0 itself (as root). HOW "unprivileged": a root
# helper opens tap0 and hands it over as fd 3 to minivmm started as uid 65534 with no
# capability at all (setpriv), /dev/kvm through a group; the guest also writes an ext4 disk
# that uid owns (issue 16: an unprivileged user runs Debian's kernel with disk and network).
stock_net() {
	local how=$1 ns=minivmm-stock-$$ ok=1 sum pre=() net=(--net tap=tap0) disk=() kvm_mode
	[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] || skip "needs root and /dev/net/tun for a tap in a network namespace"
	command -v dnsmasq >/dev/null && command -v ping >/dev/null || skip "needs dnsmasq and ping (make deps)"
	mkdir -p "$TMP/www"
	rm -f "$TMP/www/done" # an earlier test's signal would end this guest's wait at once
	head -c 1048576 /dev/urandom >"$TMP/www/blob"
	sum=$(md5sum <"$TMP/www/blob" | cut -d' ' -f1)
	if [ "$how" = unprivileged ]; then
		command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
		ext4_image "$TMP/user.img" rw-user
		chown 65534:65534 "$TMP/user.img" && chmod 711 "$TMP" || return 1
		kvm_mode=$(stat -c '%a %g' /dev/kvm)
		chgrp 7777 /dev/kvm && chmod 0660 /dev/kvm || return 1
		pre=(python3 "$ROOT/tests/integration/net_helper.py" tapfd tap0 --
			setpriv --reuid=65534 --regid=65534 --groups=7777 --inh-caps=-all --bounding-set=-all --)
		net=(--net fd=3)
		disk=(--disk "path=$TMP/user.img")
	fi
	ip netns del $ns 2>/dev/null
	# A lease from an earlier test holds the one address for another MAC (the default MAC
	# depends on the VM's devices).
	rm -f "$TMP/leases"
	ip netns add $ns && ip netns exec $ns ip link set lo up || return 1
	ip netns exec $ns ip tuntap add dev tap0 mode tap vnet_hdr &&
		ip netns exec $ns ip addr add 10.0.2.1/24 dev tap0 && ip netns exec $ns ip link set tap0 up || return 1
	ip netns exec $ns dnsmasq --no-daemon --conf-file=/dev/null --interface=tap0 --bind-interfaces \
		--dhcp-range=10.0.2.15,10.0.2.15,12h --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" \
		>"$TMP/dnsmasq.log" 2>&1 &
	local dpid=$!
	ip netns exec $ns python3 -m http.server --bind 10.0.2.1 --directory "$TMP/www" 8000 >"$TMP/http.log" 2>&1 &
	local hpid=$!
	STOCK_WRAP=("${pre[@]}")
	stock_start ip netns exec $ns -- "${net[@]}" "${disk[@]}" --console stdio --serial off \
		--cmdline "console=hvc0 quiet stock=${disk:+disks,}net stock.devices=$((2 + ${#disk[@]} / 2)) stock.server=10.0.2.1:8000 stock.end=poweroff"
	STOCK_WRAP=()
	if stock_wait_line "STOCK: net ready" 180; then
		if [ "$how" = unprivileged ]; then
			echo "    note: minivmm runs as uid $(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$LPID/status)," \
				"$(grep '^CapEff' /proc/$LPID/status | tr -s '\t ' ' ')"
			[ "$(sed -n 's/^Uid:[[:space:]]*//p' /proc/$LPID/status | cut -f1)" = 65534 ] &&
				grep -q "^CapEff:[[:space:]]*0000000000000000" /proc/$LPID/status ||
				{ echo "    not unprivileged"; touch "$TMP/www/done"; }
		fi
		ip netns exec $ns ping -c 100 -i 0.05 -W 5 10.0.2.15 >"$TMP/ping.log"
		echo "    note: $(grep 'packets transmitted' "$TMP/ping.log")"
		grep -q " 100 received, 0% packet loss" "$TMP/ping.log" && [ ! -e "$TMP/www/done" ] && ok=0
	fi
	touch "$TMP/www/done"
	stock_wait 120
	kill $dpid $hpid 2>/dev/null
	wait $dpid $hpid 2>/dev/null
	ip netns del $ns
	[ -n "${kvm_mode:-}" ] && chgrp "${kvm_mode#* }" /dev/kvm && chmod "${kvm_mode% *}" /dev/kvm
	[ $ok = 0 ] && expect_rc 0 && expect_out "STOCK: init running on $KVER_GUEST, console hvc0" &&
		expect_out "STOCK: dhcp address 10.0.2.15" && expect_out "STOCK: fetched blob, md5 $sum" &&
		expect_out "STOCK: net done" || { cat "$TMP/dnsmasq.log"; return 1; }
	[ "$how" = unprivileged ] || return 0
	expect_out "STOCK: rw-user: wrote hello.txt, synced, unmounted" && hello_in "$TMP/user.img" rw-user
}
s_hvc0_net() { stock_net tap; }
s_unprivileged() { stock_net unprivileged; }

s_reboot() {
	stock_start -- --cmdline "console=ttyS0 quiet stock.devices=0 stock.end=reboot"
	stock_wait 120
	expect_rc 0 && expect_out "STOCK: end: reboot" || return 1
	stock_start -- --on-reboot fail --cmdline "console=ttyS0 quiet stock.devices=0 stock.end=reboot"
	stock_wait 120
	expect_rc 1 && expect_out "STOCK: end: reboot"
}

# The control socket with a distribution kernel: pause stops it (its uptime ticks stop and
# do not jump when it resumes: kvmclock set back as it was), and `ctl shutdown` presses the
# ACPI power button, which Debian's kernel and busybox acpid answer with a poweroff.
s_ctl_pause_shutdown() {
	local sock=$TMP/api.sock before after gap n
	rm -f "$sock"
	stock_start -- --api-socket "$sock" --cmdline "console=ttyS0 quiet stock=ticker stock.devices=0 stock.end=button"
	stock_wait_line "STOCK: waiting for the power button" 180 || { kill -KILL "$LPID"; stock_wait 5; return 1; }
	stock_wait_line "STOCK: tick" 30 || { kill -KILL "$LPID"; stock_wait 5; return 1; }
	sleep 2
	"$VMM" ctl "$sock" pause >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; kill -KILL "$LPID"; stock_wait 5; return 1; }
	before=$(grep -c "STOCK: tick" "$TMP/out")
	sleep 5
	after=$(grep -c "STOCK: tick" "$TMP/out")
	"$VMM" ctl "$sock" resume >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; kill -KILL "$LPID"; stock_wait 5; return 1; }
	n=$after
	for _ in $(seq 1 40); do
		[ "$(grep -c "STOCK: tick" "$TMP/out")" -ge $((n + 4)) ] && break
		sleep 0.25
	done
	# The largest step of the guest's uptime between two ticks: a pause of 5 s must not show.
	gap=$(grep "STOCK: tick" "$TMP/out" | awk '{t=$3} NR>1 && t-p>m {m=t-p} {p=t} END {printf "%.2f", m}')
	echo "    note: $before ticks before the pause, $after after 5 s paused; largest uptime step $gap s"
	"$VMM" ctl "$sock" shutdown timeout_s=60 >"$TMP/ctl" 2>&1 || { cat "$TMP/ctl"; kill -KILL "$LPID"; stock_wait 5; return 1; }
	stock_wait 90
	[ "$before" -eq "$after" ] || [ "$after" -eq $((before + 1)) ] ||
		{ echo "    the guest ticked while paused ($before -> $after)"; return 1; }
	awk -v g="$gap" 'BEGIN { exit !(g < 2.5) }' || { echo "    guest uptime jumped by $gap s over the pause"; return 1; }
	expect_rc 0 && expect_out "STOCK: input devices: " && expect_out "Power Button" &&
		expect_out "STOCK: acpid: power button pressed, running poweroff" &&
		expect_out "STOCK: end: poweroff (init got SIGUSR2 from poweroff)" || return 1
	[ ! -e "$sock" ] || { echo "    the socket outlived minivmm"; return 1; }
}

# loop_went_on LAST BEFORE N IMAGE: the loop, stopped in one process after line LAST at guest
# time BEFORE, went on in the next one ($RC, $OUT) from line LAST+1 to N without its clock
# going back, and IMAGE holds lines 1..N once each on a clean filesystem.
loop_went_on() {
	local last=$1 before=$2 n=$3 img=$4 after
	expect_rc 0 && expect_out "STOCK: loop $((last + 1)) at" && expect_out "STOCK: loop: $n lines, unmounted" &&
		expect_out "STOCK: end: poweroff" || return 1
	after=$(tr -d '\r' <<<"$OUT" | sed -n 's/^STOCK: loop [0-9]* at \([0-9]*\)$/\1/p' | head -1)
	[ "$after" -ge "$before" ] || { echo "    the guest's clock went back: $before before, $after after"; return 1; }
	e2fsck -fn "$img" >"$TMP/fsck" 2>&1 || { echo "    e2fsck -fn:"; sed 's/^/    /' "$TMP/fsck"; return 1; }
	debugfs -R "cat /loop.txt" "$img" 2>/dev/null >"$TMP/loop.txt"
	seq 1 "$n" | sed 's/^/line /' | cmp -s - "$TMP/loop.txt" ||
		{ echo "    loop.txt is not lines 1..$n once each:"; head -c 600 "$TMP/loop.txt" | sed 's/^/    | /'; return 1; }
}

# The loop on the ext4 disk snapshotted midway (stop=true), restored by a new process: the loop
# goes on from the next line, the guest's clock does not go backwards, the file has every line
# once and the filesystem is clean.
s_snapshot_loop() {
	local last before n=60
	ext4_image "$TMP/loop.img" rw-loop
	local flags=(--disk "path=$TMP/loop.img" --api-socket "$TMP/api"
		--cmdline "console=ttyS0 quiet stock=loop stock.loops=$n stock.devices=1 stock.end=poweroff")
	stock_start -- "${flags[@]}"
	stock_wait_line "STOCK: loop 15 at" 180 || return 1
	"$VMM" ctl "$TMP/api" snapshot path="$TMP/snap" stop=true >"$TMP/ctl.out" 2>&1 ||
		{ echo "    ctl snapshot failed"; sed 's/^/    | /' "$TMP/ctl.out"; return 1; }
	stock_wait 60
	expect_rc 0 || return 1
	cp "$TMP/out" "$TMP/out.before"
	# The serial console ends lines with CR LF.
	last=$(tr -d '\r' <"$TMP/out.before" | sed -n 's/^STOCK: loop \([0-9]*\) at [0-9]*$/\1/p' | tail -1)
	before=$(tr -d '\r' <"$TMP/out.before" | sed -n 's/^STOCK: loop [0-9]* at \([0-9]*\)$/\1/p' | tail -1)
	echo "    note: snapshot after loop line $last: $(du -k "$TMP/snap" | cut -f1) KiB"
	stock_start -- --restore "$TMP/snap" "${flags[@]}"
	stock_wait 180
	! grep -q "STOCK: init running" <<<"$OUT" || { echo "    the restored guest booted again"; return 1; }
	loop_went_on "$last" "$before" "$n" "$TMP/loop.img"
}

# The loop on the ext4 disk live-migrated midway to a second process (issue 15): with the
# image shared, or copied into the destination's own new image (disks=copy). The guest has a
# DHCP address on a bridge in a network namespace, where the source's tap and the
# destination's are; the host pings it 10 times a second from before the migration to after
# it. The loop goes on on the destination from the next line, the guest answers pings there,
# the clock does not go back, the file has every line once and the filesystem is clean.
s_migrate_loop() {
	local mode=$1 last before n=100 img=$TMP/loop.img dimg bpid ns=minivmm-mig-$$ dpid ppid
	local mac=02:00:00:5a:4d:49 sent lost
	[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] || skip "needs root and /dev/net/tun for taps in a network namespace"
	command -v dnsmasq >/dev/null && command -v ping >/dev/null || skip "needs dnsmasq and ping (make deps)"
	ext4_image "$img" rw-loop
	dimg=$img
	if [ "$mode" = copy ]; then
		dimg=$TMP/loop-dst.img
		rm -f "$dimg"
		"$VMM" img create -f raw "$dimg" 64M >/dev/null || return 1
	fi
	ip netns del $ns 2>/dev/null
	rm -f "$TMP/leases"
	ip netns add $ns && ip netns exec $ns ip link set lo up &&
		ip -n $ns link add br0 type bridge && ip -n $ns addr add 10.0.2.1/24 dev br0 &&
		ip -n $ns link set br0 up || return 1
	for t in tap0 tap1; do
		ip netns exec $ns ip tuntap add dev $t mode tap vnet_hdr && ip -n $ns link set $t master br0 &&
			ip -n $ns link set $t up || { ip netns del $ns; return 1; }
	done
	ip netns exec $ns dnsmasq --no-daemon --conf-file=/dev/null --interface=br0 --bind-interfaces \
		--dhcp-range=10.0.2.15,10.0.2.15,12h --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" \
		>"$TMP/dnsmasq.log" 2>&1 &
	dpid=$!
	(
		local cmd="console=ttyS0 quiet stock=dhcp,loop stock.loops=$n stock.devices=2 stock.end=poweroff"
		stock_start ip netns exec $ns -- --disk "path=$img" --net tap=tap0,mac=$mac --api-socket "$TMP/api" \
			--cmdline "$cmd"
		stock_wait_line "STOCK: loop 15 at" 180 || exit 1
		grep -q "STOCK: dhcp address 10.0.2.15" "$TMP/out" || { echo "    no DHCP address"; kill -KILL $LPID; exit 1; }
		ip netns exec $ns ping -i 0.1 10.0.2.15 >"$TMP/ping.log" 2>&1 &
		ppid=$!
		sleep 2
		rm -f "$TMP/api-b" "$TMP/mig.sock"
		ip netns exec $ns "$VMM" run --memory 512M --disk "path=$dimg" --net tap=tap1,mac=$mac \
			--api-socket "$TMP/api-b" --incoming "unix:$TMP/mig.sock" >"$TMP/out.b" 2>"$TMP/err.b" </dev/null &
		bpid=$!
		for _ in $(seq 100); do grep -q "waiting for a migration" "$TMP/err.b" && break; sleep 0.1; done
		"$VMM" ctl "$TMP/api" migrate uri="unix:$TMP/mig.sock" disks="$([ "$mode" = copy ] && echo copy || echo shared)" \
			>"$TMP/ctl.out" 2>&1 || { echo "    ctl migrate failed"; sed 's/^/    | /' "$TMP/ctl.out"; kill -KILL $bpid; exit 1; }
		stock_wait 120
		expect_rc 0 && expect_err "migration: completed" || { kill -KILL $bpid; exit 1; }
		grep "migration: completed" "$TMP/err" | sed 's/^minivmm: migration: /    note: /'
		last=$(tr -d '\r' <"$TMP/out" | sed -n 's/^STOCK: loop \([0-9]*\) at [0-9]*$/\1/p' | tail -1)
		before=$(tr -d '\r' <"$TMP/out" | sed -n 's/^STOCK: loop [0-9]* at \([0-9]*\)$/\1/p' | tail -1)
		# The loop has ~85 lines (17 s or more) to go on the destination: it answers there.
		ip netns exec $ns ping -c 3 -W 5 10.0.2.15 >/dev/null ||
			{ echo "    the guest does not answer pings on the destination"; kill -INT $ppid; kill -KILL $bpid; exit 1; }
		kill -INT $ppid
		wait $ppid
		sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$TMP/ping.log")
		lost=$((${sent:-0} - $(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/ping.log")))
		echo "    note: pings through the migration: $(grep 'packets transmitted' "$TMP/ping.log")"
		# Pause, the destination's start, the bridge's flood to the new port: seconds at most.
		[ "${sent:-0}" -ge 20 ] && [ "$lost" -le 50 ] || { echo "    $lost of $sent pings lost"; kill -KILL $bpid; exit 1; }
		# The destination from here on is the VM: the stock_* helpers follow it.
		LPID=$bpid LSTART=$SECONDS
		while kill -0 "$LPID" 2>/dev/null && [ $((SECONDS - LSTART)) -lt 180 ]; do sleep 0.2; done
		kill -0 "$LPID" 2>/dev/null && { echo "    the destination still runs after 180 s"; kill -KILL "$LPID"; }
		wait "$LPID"
		RC=$?
		OUT=$(cat "$TMP/out.b")
		ERR=$(cat "$TMP/err.b")
		echo "    note: source stopped after loop line $last; destination: $(grep 'migration received' "$TMP/err.b" | sed 's/^minivmm: migration //')"
		loop_went_on "$last" "$before" "$n" "$dimg"
	)
	local ret=$?
	pkill -INT -f -- "ping -i 0.1 10.0.2.15" 2>/dev/null # a test that failed midway left it
	kill $dpid 2>/dev/null
	wait $dpid 2>/dev/null
	ip netns del $ns
	rm -f "$TMP/loop-dst.img"
	return $ret
}

KVER_GUEST=$(basename "$STOCK_KERNEL" | sed 's/^vmlinuz-//')
t_run "stock: ttyS0, --cpus 4, ext4 rw on raw and on a qcow2 overlay, a read-only disk, poweroff -f" s_serial_disks_smp
t_run "stock: console=hvc0, DHCP, 100 pings from the host, wget + md5" s_hvc0_net
t_run "stock: no privilege at all (uid 65534, kvm group, tap fd from a root helper): ext4 disk, DHCP, pings, wget" s_unprivileged
t_run "stock: reboot -f ends with 0, and with 1 under --on-reboot fail" s_reboot
t_run "stock: ctl pause/resume (no guest time jump), ctl shutdown -> power button -> acpid -> poweroff, exit 0" s_ctl_pause_shutdown
t_run "stock: snapshot a shell loop writing to ext4, restore: it continues, the clock does not go back, e2fsck clean" s_snapshot_loop
t_run "stock: live-migrate a shell loop writing to ext4 (shared image), pinged throughout: it continues on the destination and answers there, e2fsck clean" s_migrate_loop shared
t_run "stock: live-migrate it with disks=copy into the destination's own image, pinged throughout: it continues there, e2fsck clean" s_migrate_loop copy
t_summary
