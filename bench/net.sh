#!/usr/bin/env bash
# virtio-net device-model throughput driven host-side (bench/net_bench.c: synthetic virtqueues
# through the real virtio-mmio registers, the event loop and the tap backend; no guest) next to a
# plain read()/write() loop on the same tap from the same number of buffers (the limit).
# Transmit frames go to a MAC nobody has, so the kernel drops them early; receive frames come
# from an AF_PACKET sender on the tap. Runs in a network namespace it creates (needs root).
#
# The figures move a lot from run to run on a small shared machine, so each row runs RUNS times,
# device and loop interleaved, and prints medians (with the range). The measured process and the
# sender are pinned to different CPUs when there are two: unpinned, where the scheduler puts them
# decided the result more than the code did. Receive is bistable: a reader that keeps up with the
# sender copies from skbs still hot in cache and stays fast; one that falls behind reads skbs a
# full tap queue old and stays slow. So receive frames of 1500 B come from GSO sends, which the
# kernel segments faster than either reader reads, and "ns/frame" (CPU time of the measured
# process per frame) shows what each side spends per frame. Runs still fall into a fast (~1.3 us
# a frame) and a slow (~1.9 us) group on this machine, for both sides; medians over RUNS.
#   bench/net.sh                        SECS=3 RUNS=5, every row
#   bench/net.sh "rx 64" "tx 1500 tso"   only those rows
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-3}
RUNS=${RUNS:-5}
NS=minivmm-bench-$$
B=$ROOT/build/net_bench
make -s -C "$ROOT" build/net_bench
[ "$(id -u)" = 0 ] || { echo "bench/net.sh needs root (network namespace, tap)"; exit 1; }
ip netns add $NS
trap 'ip netns del $NS' EXIT
nsx() { ip netns exec $NS "$@"; }
nsx ip link set lo up
nsx ip tuntap add tapb mode tap vnet_hdr
nsx ip link set tapb up
PIN_SEND="" PIN_RUN=""
if [ "$(nproc)" -ge 2 ]; then
	PIN_SEND="taskset -c 0" PIN_RUN="taskset -c 1"
fi

run() { # MODE DIR SIZE [tso] -> "pps Gbps ns/frame"
	if [ "$2" = rx ]; then
		# 1500 B frames come from 64 KiB GSO sends the kernel cuts up: the plain
		# sender is only about as fast as a reader (see above)
		nsx $PIN_SEND "$B" send tapb "$3" $((SECS + 1)) $([ "$3" -ge 128 ] && echo gso) &
		local s=$!
		sleep 0.2
		nsx $PIN_RUN "$B" "$1" tapb rx "$3" "$SECS"
		wait $s
	else
		nsx $PIN_RUN "$B" "$1" tapb tx "$3" "$SECS" ${4:-}
	fi
}
# median of the numbers on stdin, then "(min-max)" when SPREAD is set
median() { sort -g | awk -v sp="${SPREAD:-}" '{ a[NR] = $1 } END {
	m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
	if (sp) printf "%g (%g-%g)", m, a[1], a[NR]; else printf "%g", m }'; }
col() { awk -v c="$1" '{ print $c }' "$2"; }

echo "medians of $RUNS runs of ${SECS} s (range in brackets); ratio = device Gb/s / loop Gb/s"
printf '%-16s %10s %22s %9s %10s %22s %9s %6s\n' workload "dev pps" "dev Gb/s" "ns/frame" \
	"loop pps" "loop Gb/s" "ns/frame" ratio
T=$(mktemp -d)
trap 'ip netns del $NS; rm -rf $T' EXIT
ROWS=("tx 64" "tx 1500" "tx 1500 tso" "rx 64" "rx 1500")
[ $# -gt 0 ] && ROWS=("$@")
for w in "${ROWS[@]}"; do
	set -- $w
	: >"$T/dev"
	: >"$T/plain"
	for _ in $(seq "$RUNS"); do
		run dev "$@" >>"$T/dev"
		run plain "$@" >>"$T/plain"
	done
	label="$1 $2 B"
	[ "${3:-}" = tso ] && label="$1 TSO 64 KiB"
	dg=$(col 2 "$T/dev" | median)
	pg=$(col 2 "$T/plain" | median)
	printf '%-16s %10s %22s %9s %10s %22s %9s %6s\n' "$label" \
		"$(col 1 "$T/dev" | median)" "$(col 2 "$T/dev" | SPREAD=1 median)" "$(col 3 "$T/dev" | median)" \
		"$(col 1 "$T/plain" | median)" "$(col 2 "$T/plain" | SPREAD=1 median)" "$(col 3 "$T/plain" | median)" \
		"$(awk -v a="$dg" -v b="$pg" 'BEGIN { printf "%.2fx", a / b }')"
done
