#!/usr/bin/env bash
# KVM's three dirty-logging interfaces measured side by side (bench/dirty_log.c): for live
# migration's choice between KVM_GET_DIRTY_LOG, manual protect (KVM_CLEAR_DIRTY_LOG in 2 MiB
# chunks) and the dirty ring. A guest writes one dword per page of its RAM as fast as it can;
# every 100 ms (a migration round on a fast link) the collector takes the dirty set. Printed per
# method: the guest's page writes per second (none: without dirty logging), the collector's time
# per round, the pages found per round. In the nested-KVM box where there is no /dev/kvm: compare
# the methods with each other, not the absolute figures.
#   bench/dirty_log.sh [MiB [SECONDS [ROUND_MS]]]    defaults 256 5 100; 1 and 2 vCPUs, each
#                                                     method REPEAT times (default 3), interleaved
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/box.sh"
bench_in_box build/dirty_log "" "$@"
MIB=${1:-256} SECS=${2:-5} ROUND=${3:-100}
B=$ROOT/build/dirty_log
for cpus in 1 2; do
	for r in $(seq "${REPEAT:-3}"); do
		for m in none get manual ring; do
			echo "run $r: $("$B" "$m" "$MIB" "$cpus" "$SECS" "$ROUND")"
		done
	done
done
