#!/usr/bin/env bash
# Live migration's data path driven host-side (bench/mig_bench.c: guest RAM -> the dirty set ->
# the stream writer -> a socket from migrate/channel.c -> the stream reader -> a second guest
# RAM, the project's own code on two threads, no KVM), next to a plain write()/read() loop of
# the same bytes, RAM to RAM, over a fresh connection of the same kind just before each row
# (the link's limit). Transports: a unix socket; TCP over loopback; as root, TCP over a veth
# pair between two network namespaces made here, as tests/integration/test_migrate.sh joins its
# two "hosts". iperf3 on the TCP links too when it is installed (apt-get install iperf3).
# Every row's destination memory is compared with the source's (mig_bench fails otherwise).
#
# "x link" is the row's time over RAM size / the loop's rate: issue 15's goal for a fully
# written guest is <= 1.1. CPU is per GiB of RAM, source / destination thread. dirty:PCT rows
# show the dirtier's rate achieved / asked (PCT% of the median of three loops at the start of
# the transport's run, printed below the table), the rounds sent before the stop (the full
# pass is round 1) and whether the remainder then fit the 50 ms budget (converge_decide();
# "gave up" at its 30-round limit: the row still stops, sends the rest and checks the copy);
# "down ms" is the pause to the destination's END, its backlog included.
#   bench/migrate_datapath.sh                 SIZE=1G, every transport, every scenario
#   bench/migrate_datapath.sh unix tcp        only those transports (unix, tcp, veth)
#   SCENARIOS="full dirty:50" SIZE=256M bench/migrate_datapath.sh
#   DST_RAM=fresh bench/migrate_datapath.sh   destination RAM mapped anew per transfer, as a
#                                             destination VMM's is (docs/benchmarks.md: this
#                                             host's first touch dominates then)
# 10-15 minutes for the three transports at 1 GiB here (a dirty row that does not converge runs
# its 30 rounds): not part of make bench.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-1G}
SCENARIOS=${SCENARIOS:-full zero zero-resident zero-flagged dirty:25 dirty:50 dirty:100}
DST_RAM=${DST_RAM:-reused}
PORT=${PORT:-47711}
B=$ROOT/build/mig_bench
make -s -C "$ROOT" build/mig_bench
TRANSPORTS=(unix tcp veth)
[ $# -gt 0 ] && TRANSPORTS=("$@")

T=$(mktemp -d)
NS=mvbench$$
cleanup() {
	if [ -e "/run/netns/${NS}a" ]; then ip netns del "${NS}a"; fi
	if [ -e "/run/netns/${NS}b" ]; then ip netns del "${NS}b"; fi
	rm -rf "$T"
}
trap cleanup EXIT

veth_up() {
	ip netns add "${NS}a" && ip netns add "${NS}b" &&
		ip link add "${NS}x" netns "${NS}a" type veth peer name "${NS}y" netns "${NS}b" &&
		ip -n "${NS}a" addr add 10.78.0.1/24 dev "${NS}x" &&
		ip -n "${NS}b" addr add 10.78.0.2/24 dev "${NS}y" &&
		ip -n "${NS}a" link set "${NS}x" up && ip -n "${NS}b" link set "${NS}y" up &&
		ip -n "${NS}a" link set lo up && ip -n "${NS}b" link set lo up
}

# iperf3 ADDR [SERVER_NS CLIENT_NS] -> GB/s received, or "-". The client starts once the server
# listens, and the server (one-off) is ended here if no test reached it: never a hang.
iperf() {
	command -v iperf3 >/dev/null || { echo -; return; }
	local srv=() cli=() pid
	[ $# -gt 1 ] && srv=(ip netns exec "$2") cli=(ip netns exec "$3")
	"${srv[@]}" iperf3 -s -1 -B "$1" -p "$PORT" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		"${srv[@]}" ss -Hltn "sport = :$PORT" | grep -q . && break
		sleep 0.1
	done
	timeout 300 "${cli[@]}" iperf3 -c "$1" -p "$PORT" -n "$SIZE" -J >"$T/iperf.json" 2>/dev/null || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	python3 -c 'import json, sys
try: print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 8e9))
except Exception: print("-")' "$T/iperf.json"
}

row() { # a mig_bench line -> a table row
	awk -v t="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		conv = v["converged"] == "-" ? "" : v["converged"] == "yes" ? ", fits" : ", gave up"
		dirty = v["dirty_target_mbps"] > 0 ? sprintf(" (%d/%d MB/s)", v["dirty_mbps"], v["dirty_target_mbps"]) : ""
		printf "%-5s %-30s %6.2f %8.2f %7.2f %7.2fx %13s %13s %14s %8.1f\n", t, v["scenario"] dirty,
			v["gbps"], v["raw_gbps"], v["secs"], v["x_link"],
			sprintf("%.2f/%.2f", v["src_cpu"], v["dst_cpu"]),
			sprintf("%.2f/%.2f", v["raw_src_cpu"], v["raw_dst_cpu"]),
			v["rounds"] conv, v["downtime_ms"] }'
}

echo "RAM $SIZE, destination RAM $DST_RAM; GB/s = 1e9 bytes/s on the wire; CPU s/GiB source/destination"
printf '%-5s %-30s %6s %8s %7s %8s %13s %13s %14s %8s\n' link scenario "GB/s" "loop" "secs" \
	"x link" "CPU ours" "CPU loop" rounds "down ms"
declare -A IPERF REF
for t in "${TRANSPORTS[@]}"; do
	args=(--size "$SIZE" --dst-ram "$DST_RAM")
	case $t in
	unix) args+=(--uri "unix:$T/mig.sock") ;;
	tcp)
		args+=(--uri "tcp:127.0.0.1:$PORT")
		IPERF[tcp]=$(iperf 127.0.0.1)
		;;
	veth)
		[ "$(id -u)" = 0 ] || { echo "veth: needs root (network namespaces), skipped"; continue; }
		veth_up || { echo "veth: cannot set up the namespaces, skipped"; continue; }
		args+=(--uri "tcp:10.78.0.2:$PORT" --src-netns "${NS}a" --dst-netns "${NS}b")
		IPERF[veth]=$(iperf 10.78.0.2 "${NS}b" "${NS}a")
		;;
	*) echo "unknown transport $t (unix, tcp, veth)"; exit 2 ;;
	esac
	# shellcheck disable=SC2086 # one word per scenario
	"$B" "${args[@]}" $SCENARIOS >"$T/out"
	while read -r line; do row "$t" <<<"$line"; done <"$T/out"
	REF[$t]=$(grep -o 'ref_gbps=[0-9.]*' "$T/out" | head -1 | cut -d= -f2)
done
for t in "${!REF[@]}"; do
	echo "$t: the loop's median of three at the start, the dirtier's reference: ${REF[$t]} GB/s"
done
for t in "${!IPERF[@]}"; do
	echo "iperf3 over $t, $SIZE: ${IPERF[$t]} GB/s"
done
