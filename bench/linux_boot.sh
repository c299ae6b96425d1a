#!/usr/bin/env bash
# Boot milestones of the tiny Linux guest (tests/linux): minivmm's --boot-trace up to the first
# KVM_RUN, then the kernel's own timestamps (printk time) for Linux version → virtio probe →
# vda → VFS: Mounted root → Run /init, and the host wall-clock to "Run /init"; for --cpus 1 and 4.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LINUX_DIR=$("$ROOT/tests/linux/build.sh")
source "$ROOT/tests/linux/lib.sh"
make -s -C "$ROOT" minivmm

rootfs "$TMP/root.img"
ktime() { grep -F -- "$1" "$TMP/out" | head -1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'; }

for cpus in ${CPUS_LIST:-1 4}; do
	start=$(date +%s.%N)
	"$ROOT/minivmm" run --kernel "${LINUX_KERNEL:-$LINUX_DIR/vmlinux}" --memory 128M --cpus $cpus --boot-trace $HOST_VMM_ARGS \
		--disk "path=$TMP/root.img" --cmdline "console=ttyS0 root=/dev/vda init=/init ro $HOST_ARGS" \
		>"$TMP/out" 2>"$TMP/err" </dev/null &
	pid=$!
	for _ in $(seq 900); do
		grep -q "Run /init" "$TMP/out" 2>/dev/null && break
		sleep 0.1
	done
	wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
	kill -TERM $pid 2>/dev/null
	wait $pid 2>/dev/null || true
	first=$(grep "first KVM_RUN" "$TMP/err" | head -1 | awk '{print $3}')
	echo "--cpus $cpus"
	printf '  %-34s %10s\n' "first KVM_RUN (ms after start)" "$first"
	printf '  %-34s %10s\n' "Linux version (kernel s)" "$(ktime 'Linux version')"
	printf '  %-34s %10s\n' "smp: Brought up (kernel s)" "$(ktime 'smp: Brought up')"
	printf '  %-34s %10s\n' "virtio probe (kernel s)" "$(ktime 'default/read/poll queues')"
	printf '  %-34s %10s\n' "vda (kernel s)" "$(ktime 'virtio_blk virtio0')"
	printf '  %-34s %10s\n' "VFS: Mounted root (kernel s)" "$(ktime 'VFS: Mounted root')"
	printf '  %-34s %10s\n' "Run /init (kernel s)" "$(ktime 'Run /init')"
	printf '  %-34s %10s\n' "Run /init (host wall-clock s)" "$wall"
	printf '  %-34s %10s\n' "CPUs brought up" "$(grep -o 'Brought up 1 node, [0-9]* CPU' "$TMP/out" | grep -o '[0-9]* CPU' || echo '?')"
done
