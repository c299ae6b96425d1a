#!/usr/bin/env bash
# Block device-model throughput, driven host-side (bench/blk_bench.c: a synthetic virtqueue
# through the real virtio-mmio registers, virtio-blk, the engine and the event loop; no guest),
# next to fio with io_uring on the same file (the limit). O_DIRECT on both. Prints a table.
#   bench/blk.sh [FILE] (default: a 1 GiB file in /var/tmp, filled with data first)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-5}
FILE=${1:-/var/tmp/minivmm-blk-bench.img}
make -s -C "$ROOT" build/blk_bench
command -v fio >/dev/null || { echo "fio not installed (apt-get install fio)"; exit 1; }
if [ ! -s "$FILE" ]; then
	echo "filling $FILE (1 GiB of data: unwritten extents would not touch the disk)"
	dd if=/dev/urandom of="$FILE" bs=1M count=1024 status=none
	sync
fi

# fio's CPU figures (terse fields 88, 89: user and system %) turned into µs per request.
fio_rate() { # RW BS QD -> "IOPS MBps CPU-µs-per-request"
	fio --name=b --filename="$FILE" --rw="$1" --bs="$2" --iodepth="$3" --ioengine=io_uring \
		--direct=1 --runtime="$SECS" --time_based --output-format=terse --terse-version=3 2>/dev/null |
		awk -F';' -v rw="$1" '{ iops = rw ~ /read/ ? $8 : $49; mbs = (rw ~ /read/ ? $7 : $48) / 1000 * 1.024
			cpu = ($88 + $89) / 100; printf "%d %.1f %.2f\n", iops, mbs, iops ? cpu / iops * 1e6 : 0 }'
}

# CPU per request is what our code decides; IOPS on this virtual disk swing up to 2x between runs.
printf '%-24s %11s %9s %11s %9s %7s %14s\n' workload "minivmm IOPS" "MB/s" "fio IOPS" "MB/s" ratio "CPU µs/req us/fio"
for w in "randread 4096 32" "randwrite 4096 32" "read 1048576 8" "write 1048576 8"; do
	set -- $w
	read -r ours_iops ours_mbs ours_cpu < <("$ROOT/build/blk_bench" "$FILE" "$1" "$2" "$3" "$SECS" io_uring)
	read -r fio_iops fio_mbs fio_cpu < <(fio_rate "$1" "$2" "$3")
	printf '%-24s %11s %9s %11s %9.1f %7s %14s\n' "$1 bs=$2 qd=$3" "$ours_iops" "$ours_mbs" \
		"$fio_iops" "$fio_mbs" "$(awk -v a="$ours_iops" -v b="$fio_iops" 'BEGIN{printf "%.2fx", a/b}')" \
		"$ours_cpu / $fio_cpu"
done
read -r sync_iops _ _ < <("$ROOT/build/blk_bench" "$FILE" randread 4096 32 "$SECS" sync)
echo "sync engine, randread 4K QD32 (no concurrency by design): $sync_iops IOPS"
