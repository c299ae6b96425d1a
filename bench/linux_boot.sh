#!/usr/bin/env bash
# Linux boot, minivmm next to QEMU microvm in the same run: host wall-clock from process start to
# /init (and, for minivmm, the kernel's own milestones), for the tiny kernel (tests/linux: vmlinux
# through PVH, 128 MiB, root on virtio-blk, --cpus 1 and 4) and Debian's stock kernel (the box's
# package: bzImage, busybox initramfs with its modules, 512 MiB). Medians of RUNS (default 3).
# Where there is no /dev/kvm it runs itself inside the nested-KVM box: absolute times there are
# an emulated CPU's, only the ratios count.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
if ! { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	[ -z "${KVMBOX_INSIDE:-}" ] || { echo "no /dev/kvm inside the box" >&2; exit 1; }
	make -s -C "$ROOT" minivmm
	export LINUX_DIR
	LINUX_DIR=$("$ROOT/tests/linux/build.sh")
	echo "no /dev/kvm here: running in the nested-KVM box (absolute times are an emulated CPU's; compare the ratios)"
	exec "$ROOT/tests/kvmbox/run" -- "$0" "$@"
fi
LINUX_DIR=${LINUX_DIR:-$("$ROOT/tests/linux/build.sh")}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
source "$ROOT/tests/kvmbox/lib.sh"
kvmbox_kernel
STOCK_KERNEL=$KROOT/boot/vmlinuz-$KVER
STOCK_INITRD=$(ls -t "$KROOT"/stock-initrd-*.gz 2>/dev/null | head -1)
[ -n "$STOCK_INITRD" ] || { echo "no stock initramfs: run tests/linux/stock/run.sh once" >&2; exit 1; }
KVM_FLAVOUR=$("$ROOT/minivmm" kvm-info | sed -n 's/^flavour: \([a-z]*\).*/\1/p')
source "$ROOT/tests/linux/lib.sh"
QEMU=$(command -v qemu-system-x86_64)
make -s -C "$ROOT" minivmm
rootfs "$TMP/root.img"

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) printf "%.2f", a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2}'; }

# boot_to TEXT CMD...: seconds from start until CMD printed TEXT (n/a after 300 s); the guest
# is then stopped. Its output stays in $TMP/out.
boot_to() {
	local text=$1 start pid t=n/a
	shift
	start=$(date +%s.%N)
	"$@" >"$TMP/out" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 6000); do
		if grep -qF -- "$text" "$TMP/out"; then
			t=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
			break
		fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	echo "$t"
}

ktime() { grep -F -- "$1" "$TMP/out" | head -1 | sed -n 's/.*\[ *\([0-9.]*\)\].*/\1/p'; }

# row NAME TEXT MINIVMM-CMD -- QEMU-CMD: RUNS interleaved boots of each.
row() {
	local name=$1 text=$2 ours=() qemu=() i a b
	shift 2
	while [ "$1" != -- ]; do ours+=("$1"); shift; done
	shift
	qemu=("$@")
	: >"$TMP/a"
	: >"$TMP/b"
	for i in $(seq "$RUNS"); do
		boot_to "$text" "${ours[@]}" >>"$TMP/a"
		cp "$TMP/out" "$TMP/ours.out"
		boot_to "$text" "${qemu[@]}" >>"$TMP/b"
	done
	a=$(grep -v n/a "$TMP/a" | median)
	b=$(grep -v n/a "$TMP/b" | median)
	printf '%-40s %10s %10s %8s\n' "$name" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "n/a" || b == "n/a" || a == 0) print "n/a"; else printf "%.2fx", b / a }')"
	cp "$TMP/ours.out" "$TMP/out"
	[ -n "$(ktime 'Run /init')" ] || return 0 # a quiet boot prints no milestones
	printf '  minivmm milestones (kernel s): Linux version %s, virtio_blk %s, Run /init %s\n' \
		"$(ktime 'Linux version')" "$(ktime 'virtio_blk virtio0')" "$(ktime 'Run /init')"
}

echo "Linux boot to /init, host wall-clock seconds, medians of $RUNS (KVM flavour: $KVM_FLAVOUR${KVMBOX_INSIDE:+, in the nested-KVM box})"
printf '%-40s %10s %10s %8s\n' "" "minivmm" "QEMU" "QEMU/ours"
for cpus in ${CPUS_LIST:-1 4}; do
	row "tiny kernel (PVH), --cpus $cpus" "Run /init" \
		"$ROOT/minivmm" run --kernel "$LINUX_DIR/vmlinux" --memory 128M --cpus "$cpus" $HOST_VMM_ARGS \
		--disk "path=$TMP/root.img,readonly=on" --cmdline "console=ttyS0 root=/dev/vda init=/init ro $HOST_ARGS" -- \
		"$QEMU" -accel kvm -M microvm,acpi=off -global virtio-mmio.force-legacy=false -m 128M -smp "$cpus" \
		-nodefaults -no-user-config -nographic -serial stdio -kernel "$LINUX_DIR/vmlinux" \
		-drive "id=d0,file=$TMP/root.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=d0 \
		-append "console=ttyS0 root=/dev/vda init=/init ro $HOST_ARGS"
done
if [ "$KVM_FLAVOUR" != soft ]; then
	row "Debian's stock kernel (bzImage), --cpus 1" "STOCK: init running" \
		"$ROOT/minivmm" run --kernel "$STOCK_KERNEL" --initrd "$STOCK_INITRD" --memory 512M \
		--cmdline "console=ttyS0 quiet stock.devices=0 stock.end=poweroff" -- \
		"$QEMU" -accel kvm -M microvm -m 512M -nodefaults -no-user-config -nographic -serial stdio \
		-kernel "$STOCK_KERNEL" -initrd "$STOCK_INITRD" \
		-append "console=ttyS0 quiet stock.devices=0 stock.end=poweroff"
fi
