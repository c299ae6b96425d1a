#!/usr/bin/env bash
# virtio-net device-model throughput driven host-side (bench/net_bench.c: synthetic virtqueues
# through the real virtio-mmio registers, the event loop and the tap backend; no guest) next to a
# plain read()/write() loop on the same tap from the same number of buffers (the limit).
# Transmit frames go to a MAC nobody has, so the kernel drops them early; receive frames come
# from an AF_PACKET sender on the tap. Runs in a network namespace it creates (needs root).
#   bench/net.sh            SECS=3
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-3}
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

run() { # MODE DIR SIZE [tso] -> "pps Gbps"
	if [ "$2" = rx ]; then
		nsx "$B" send tapb "$3" $((SECS + 1)) &
		local s=$!
		sleep 0.2
		nsx "$B" "$1" tapb rx "$3" "$SECS"
		wait $s
	else
		nsx "$B" "$1" tapb tx "$3" "$SECS" ${4:-}
	fi
}
printf '%-22s %12s %9s %12s %9s %7s\n' workload "device pps" "Gb/s" "tap loop pps" "Gb/s" ratio
for w in "tx 64" "tx 1500" "tx 1500 tso" "rx 64" "rx 1500"; do
	set -- $w
	read -r dp dg < <(run dev "$@")
	read -r pp pg < <(run plain "$@")
	label="$1 $2 B"
	[ "${3:-}" = tso ] && label="$1 TSO 64 KiB"
	printf '%-22s %12s %9s %12s %9s %7s\n' "$label" "$dp" "$dg" "$pp" "$pg" \
		"$(awk -v a="$dg" -v b="$pg" 'BEGIN { printf "%.2fx", a / b }')"
done
