#!/usr/bin/env bash
# Oracle: the test guest's scenarios under QEMU's microvm with QEMU's own devices, so our guest
# drivers are checked against an independent implementation of the specs (not only against our
# devices). QEMU's isa-debug-exit at 0xf4 turns the guest's code v into status (v << 1) | 1.
# QEMU boots the guest's PVH ELF (its qboot firmware cannot run the bzImage's real-mode entry on
# this host, see README). Virtio devices are announced on the command line only with acpi=off.
set -u
source "$(dirname "$0")/../integration/lib.sh"

source "$ROOT/tests/kvmbox/guest_suite.sh"
QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
	echo "FAIL oracle: qemu-system-x86_64 not installed (make deps)"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
BLKPATTERN=$ROOT/build/blkpattern

# qemu [MACHINE-OPTS] -- EXTRA-ARGS...: runs the guest ELF; sets OUT, RC (decoded guest code).
qemu() {
	local mopts=$1
	shift
	timeout -s KILL 120 "$QEMU" -accel kvm -M "microvm$mopts" -global virtio-mmio.force-legacy=false \
		-m 512M -nodefaults -no-user-config -nographic -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$GUEST_ELF" "$@" \
		>"$TMP/out" 2>"$TMP/err" <"${VM_STDIN:-/dev/null}"
	local raw=$?
	OUT=$(cat "$TMP/out")
	ERR=$(grep -v "host doesn't support" "$TMP/err")
	RC=$(((raw - 1) / 2))
	[ $((raw % 2)) -eq 1 ] || RC=-1   # not an exit through the port
}

o_hello() { qemu "" -append "scenario=hello"; expect_rc 0 && expect_out "Hello from the minivmm test guest (entry pvh)"; }
o_exit() { qemu "" -append "scenario=exit code=42"; expect_rc 42; }
o_e820() { qemu "" -append "scenario=e820"; expect_out "e820: [mem 0x0000000000100000-0x000000001fffffff] usable"; }
o_memtest() { qemu "" -append "scenario=memtest memtest=4"; expect_rc 0 && expect_out "memtest: 4 MiB"; }
o_initrd() {
	head -c 50000 /dev/urandom >"$TMP/initrd"
	read -r sum size _ < <(cksum "$TMP/initrd")
	qemu "" -initrd "$TMP/initrd" -append "scenario=initrd"
	expect_rc 0 && expect_out "initrd: cksum $sum $size"
}
o_echo() {
	printf 'one\ntwo\n.\n' >"$TMP/in"
	VM_STDIN="$TMP/in" qemu "" -append "scenario=echo"
	expect_rc 0 && expect_out "echo: one" && expect_out "echo: two"
}
o_acpi() { qemu "" -smp 2 -append "scenario=acpi"; expect_rc 0 && expect_out "acpi: 2 cpus"; }
o_smp() { qemu "" -smp 4 -append "scenario=smp"; expect_rc 0 && expect_out "smp: 4 of 4 CPUs up"; }
o_blk_rw() {
	truncate -s 4M "$TMP/o.img"
	qemu ",acpi=off" -drive "id=d0,file=$TMP/o.img,format=raw,if=none" -device virtio-blk-device,drive=d0 \
		-append "scenario=blk-rw seed=21"
	expect_rc 0 && expect_out "verified 8192 sectors" && "$BLKPATTERN" verify "$TMP/o.img" 21
}
o_blk_ro() {
	"$BLKPATTERN" make "$TMP/ro.img" 2048 22
	qemu ",acpi=off" -drive "id=d0,file=$TMP/ro.img,format=raw,if=none,readonly=on" \
		-device virtio-blk-device,drive=d0 -append "scenario=blk-ro seed=22"
	expect_rc 0 && expect_out "writes refused with IOERR"
}
o_blk_bounds() {
	truncate -s 1M "$TMP/b.img"
	qemu ",acpi=off" -drive "id=d0,file=$TMP/b.img,format=raw,if=none" \
		-device virtio-blk-device,drive=d0,serial=oracle-7 -append "scenario=blk-bounds"
	expect_rc 0 && expect_out "blk-bounds: id 'oracle-7'"
}
o_blk_discard() {
	truncate -s 1M "$TMP/d.img"
	qemu ",acpi=off" -drive "id=d0,file=$TMP/d.img,format=raw,if=none,discard=unmap" \
		-device virtio-blk-device,drive=d0 -append "scenario=blk-discard"
	expect_rc 0 && expect_out "read back as zeroes"
}

o_console() {
	printf 'alpha\nbeta\n.\n' >"$TMP/cin"
	timeout -s KILL 60 "$QEMU" -accel kvm -M microvm,acpi=off -global virtio-mmio.force-legacy=false \
		-m 512M -nodefaults -no-user-config -display none -serial none \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$GUEST_ELF" \
		-chardev stdio,id=c0 -device virtio-serial-device -device virtconsole,chardev=c0 \
		-append "scenario=console" >"$TMP/out" 2>"$TMP/err" <"$TMP/cin"
	RC=$((($? - 1) / 2))
	OUT=$(cat "$TMP/out")
	expect_rc 0 && expect_out "virtio-console: hello" && expect_out "virtio-console: beta"
}

o_net_echo() {
	local ns=minivmm-oracle-$$ pid ok=1 i
	[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v ping >/dev/null ||
		skip "needs root, /dev/net/tun and ping for a tap in a network namespace"
	ip netns del $ns 2>/dev/null
	ip netns add $ns && ip netns exec $ns ip link set lo up || return 1
	ip netns exec $ns timeout -s KILL 120 "$QEMU" -accel kvm -M microvm,acpi=off \
		-global virtio-mmio.force-legacy=false -m 512M -nodefaults -no-user-config -nographic \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$GUEST_ELF" \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-device,netdev=n0 \
		-append "scenario=net-echo ip=10.0.2.15 port=7" >"$TMP/out" 2>"$TMP/err" </dev/null &
	pid=$!
	for i in $(seq 1 300); do grep -q ready "$TMP/out" && break; sleep 0.1; done
	if grep -q ready "$TMP/out" && ip netns exec $ns ip addr add 10.0.2.1/24 dev tap0 &&
		ip netns exec $ns ip link set tap0 up &&
		ip netns exec $ns ping -f -c 200 -w 30 10.0.2.15 | grep -q " 200 received" &&
		ip netns exec $ns python3 "$ROOT/tests/integration/net_helper.py" udp 10.0.2.15 7 1000 &&
		ip netns exec $ns python3 "$ROOT/tests/integration/net_helper.py" quit 10.0.2.15 7; then
		ok=0
	fi
	wait $pid
	RC=$((($? - 1) / 2))
	OUT=$(cat "$TMP/out")
	ip netns del $ns
	[ $ok = 0 ] && expect_rc 0 && expect_out "net-echo: quit after"
}

echo "== oracle: QEMU $("$QEMU" --version | head -1 | awk '{print $4}') -M microvm"
t_run "oracle: hello" o_hello
t_run "oracle: exit code" o_exit
t_run "oracle: e820" o_e820
t_run "oracle: memtest" o_memtest
t_run "oracle: initrd" o_initrd
t_run "oracle: echo" o_echo
t_run "oracle: acpi (QEMU's tables)" o_acpi
t_run "oracle: smp" o_smp
t_run "oracle: blk-rw" o_blk_rw
t_run "oracle: blk-ro" o_blk_ro
t_run "oracle: blk-bounds" o_blk_bounds
t_run "oracle: blk-discard" o_blk_discard
t_run "oracle: console (virtio-serial port 0)" o_console
t_run "oracle: net-echo (virtio-net-device on a tap)" o_net_echo
t_summary
