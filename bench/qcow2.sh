#!/usr/bin/env bash
# qcow2 throughput: minivmm's device model (bench/blk_bench.c: synthetic virtqueue → virtio-blk →
# qcow2 → io_uring, no guest) next to `qemu-img bench` (QEMU's qcow2 driver, io_uring, O_DIRECT)
# on the same images: a preallocated one and a fresh one that every write allocates into.
# qemu-img bench only runs sequential offsets, so the 4 KiB comparison is sequential; the
# random figures are ours alone (random I/O is what the metadata cache is for).
#   bench/qcow2.sh            SIZE=1G SECS=5 DIR=/var/tmp
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-5}
SIZE=${SIZE:-1G}
DIR=${DIR:-/var/tmp}
PRE=$DIR/minivmm-qcow2-bench-pre.qcow2
FRESH=$DIR/minivmm-qcow2-bench-fresh.qcow2
make -s -C "$ROOT" build/blk_bench
command -v qemu-img >/dev/null || { echo "qemu-img not installed (apt-get install qemu-utils)"; exit 1; }
trap 'rm -f "$FRESH"' EXIT

if [ ! -s "$PRE" ]; then
	echo "making $PRE ($SIZE, every cluster allocated and written)"
	qemu-img create -q -f qcow2 -o preallocation=full "$PRE" "$SIZE"
fi

ours() { # FILE RW BS QD -> IOPS
	"$ROOT/build/blk_bench" "$1" "$2" "$3" "$4" "$SECS" io_uring | awk '{print $1}'
}
qemu() { # FILE BS QD COUNT [-w] -> IOPS
	local t
	t=$(qemu-img bench -f qcow2 -t none -i io_uring -d "$3" -s "$2" -S "$2" -c "$4" ${5:-} "$1" 2>&1 |
		sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
	awk -v c="$4" -v t="$t" 'BEGIN { printf "%.0f", c / t }'
}
fresh() { rm -f "$FRESH"; qemu-img create -q -f qcow2 "$FRESH" "$SIZE"; }
row() { # NAME OURS QEMU BS
	awk -v n="$1" -v a="$2" -v b="$3" -v bs="$4" 'BEGIN {
		printf "%-34s %10d %9.1f %10s %9s %7s\n", n, a, a * bs / 1e6,
			b == "" ? "-" : b, b == "" ? "-" : sprintf("%.1f", b * bs / 1e6),
			b == "" ? "-" : sprintf("%.2fx", a / b) }'
}

printf '%-34s %10s %9s %10s %9s %7s\n' workload "ours IOPS" "MB/s" "qemu IOPS" "MB/s" ratio
row "prealloc 4K seq read QD32" "$(ours "$PRE" read 4096 32)" "$(qemu "$PRE" 4096 32 200000)" 4096
row "prealloc 4K seq write QD32" "$(ours "$PRE" write 4096 32)" "$(qemu "$PRE" 4096 32 100000 -w)" 4096
row "prealloc 4K random read QD32" "$(ours "$PRE" randread 4096 32)" "" 4096
row "prealloc 4K random write QD32" "$(ours "$PRE" randwrite 4096 32)" "" 4096
row "prealloc 1M seq read QD8" "$(ours "$PRE" read 1048576 8)" "$(qemu "$PRE" 1048576 8 2000)" 1048576
row "prealloc 1M seq write QD8" "$(ours "$PRE" write 1048576 8)" "$(qemu "$PRE" 1048576 8 2000 -w)" 1048576
fresh; a=$(ours "$FRESH" write 4096 32); fresh; b=$(qemu "$FRESH" 4096 32 100000 -w)
row "fresh 4K seq write QD32 (allocating)" "$a" "$b" 4096
fresh; a=$(ours "$FRESH" randwrite 4096 32)
row "fresh 4K random write QD32 (alloc.)" "$a" "" 4096
fresh; a=$(ours "$FRESH" write 1048576 8); fresh; b=$(qemu "$FRESH" 1048576 8 1000 -w)
row "fresh 1M seq write QD8 (allocating)" "$a" "$b" 1048576
fresh; ours "$FRESH" randwrite 4096 32 >/dev/null
qemu-img check -q "$FRESH" && echo "qemu-img check after our random allocating writes: clean"
