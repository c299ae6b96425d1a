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

cc -O2 -Wall -o "$ROOT/build/probe" "$ROOT/bench/probe.c"
# Each prints "IOPS CPU-µs-per-request": CPU cost is what the code decides; IOPS on this virtual
# disk swing up to 2x between runs.
ours() { # FILE RW BS QD
	"$ROOT/build/blk_bench" "$1" "$2" "$3" "$4" "$SECS" io_uring | awk '{print $1, $3}'
}
qemu() { # FILE BS QD COUNT [-w]
	local t cpu
	t=$("$ROOT/build/probe" cpu qemu-img bench -f qcow2 -t none -i io_uring -d "$3" -s "$2" -S "$2" -c "$4" ${5:-} "$1" 2>"$DIR/qemu-cpu.$$" |
		sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
	cpu=$(tail -1 "$DIR/qemu-cpu.$$")
	rm -f "$DIR/qemu-cpu.$$"
	awk -v c="$4" -v t="$t" -v cpu="$cpu" 'BEGIN { split(cpu, u, " "); printf "%.0f %.2f", c / t, (u[1] + u[2]) / c * 1e6 }'
}
fresh() { rm -f "$FRESH"; qemu-img create -q -f qcow2 "$FRESH" "$SIZE"; }
row() { # NAME "OURS-IOPS OURS-CPU" "QEMU-IOPS QEMU-CPU" BS
	awk -v n="$1" -v o="$2" -v q="$3" -v bs="$4" 'BEGIN {
		split(o, A, " "); split(q, B, " "); a = A[1]; b = B[1]
		printf "%-34s %10d %9.1f %10s %9s %7s %8.2f %8s\n", n, a, a * bs / 1e6,
			b == "" ? "-" : b, b == "" ? "-" : sprintf("%.1f", b * bs / 1e6),
			b == "" ? "-" : sprintf("%.2fx", a / b), A[2], b == "" ? "-" : B[2] }'
}

printf '%-34s %10s %9s %10s %9s %7s %8s %8s\n' workload "ours IOPS" "MB/s" "qemu IOPS" "MB/s" ratio "ours µs" "qemu µs"
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
